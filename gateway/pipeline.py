"""The gateway's pipeline, top to bottom: take a batch, validate, store, acknowledge.

A batch is acknowledged to the broker only after the store committed it. If the store fails,
the same batch is retried with exponential back-off and jitter; nothing is acknowledged in the
meantime, so a crash at any point leaves the messages with the broker, which sends them again.
Repeats are harmless: a reading's identity makes the store ignore it::

    gateway = Gateway(GatewaySettings(broker="mqtt://127.0.0.1:1883"))
    gateway.run()          # until stop() or SIGTERM
"""

from __future__ import annotations

import logging
import random
import threading
import time

from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.gateway.mqtt_ingest import Message, MqttIngest
from lokaalmeten.gateway.validate import RecordValidator

from lokaalmeten.readings import Reading
from lokaalmeten.settings import GatewaySettings
from lokaalmeten.store import Store, StoreError, open_store

log = logging.getLogger("lokaalmeten.gateway")

_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 30.0


class Gateway:
    def __init__(self, settings: GatewaySettings, store: Store | None = None) -> None:
        self.settings = settings
        self.metrics = GatewayMetrics()
        self.store = store if store is not None else open_store(settings.store)
        self.ingest = MqttIngest(settings, self.metrics)
        self.validator = RecordValidator(self.metrics, settings.topic_prefix)
        self._stopping = threading.Event()

    def run(self) -> None:
        log.info("gateway: %s -> %s", self.settings.broker, self.store.url)
        self.ingest.start()
        next_stats = time.monotonic() + self.settings.stats_interval
        try:
            while not self._stopping.is_set():
                batch = self.ingest.take(self.settings.batch_size, self.settings.batch_wait)
                if batch:
                    self._store_batch(batch)
                    self.ingest.ack(batch)
                if time.monotonic() >= next_stats:
                    log.info("gateway counters: %s", self.metrics.summary())
                    next_stats = time.monotonic() + self.settings.stats_interval
        finally:
            self.ingest.stop()
            self.store.close()
            log.info("gateway stopped; counters: %s", self.metrics.summary())

    def stop(self) -> None:
        self._stopping.set()

    def _store_batch(self, batch: list[Message]) -> None:
        readings: list[Reading] = []
        for message in batch:
            readings.extend(
                self.validator.readings(message.topic, message.payload, message.received_at)
            )
        delay = _BACKOFF_FIRST
        while True:
            try:
                result = self.store.write(readings)
                break
            except StoreError as exc:
                # Keep the batch: the broker holds the unacknowledged messages, and so do we.
                self.metrics.add("store_errors")
                wait = delay * random.uniform(0.5, 1.0)
                log.error("store write failed, retrying in %.1f s: %s", wait, exc)
                if self._stopping.wait(wait):
                    raise
                delay = min(delay * 2, _BACKOFF_MAX)
        self.metrics.add("readings_stored", result.stored)
        self.metrics.add("readings_repeated", result.received - result.stored)
