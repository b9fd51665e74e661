"""The gateway's pipeline, top to bottom.

    MQTT (QoS 1, persistent session) ─┐
    HTTP (/v1/records, airRohr)      ─┴─> validate ─> spool (durable commit) ─> acknowledge
    spool ─> one writer per store (batches, back-off) ─> store(s)

An MQTT message is acknowledged, and an HTTP request answered 2xx, only after its readings
(or its refusal) are committed to the spool. A reading leaves the spool only after every store
accepted it. So a crash or a kill at any point loses nothing: what is not in the spool is
still with the broker (or the kit), and what is in the spool is written again; stores ignore
repeats by a reading's identity::

    gateway = Gateway(GatewaySettings(broker="mqtt://127.0.0.1:1883"))
    gateway.run()          # until stop() or SIGTERM
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.gateway.mqtt_ingest import Message, MqttIngest
from lokaalmeten.gateway.registry import Registry
from lokaalmeten.gateway.sensor_community import open_output
from lokaalmeten.gateway.spool import Spool, SpoolFull
from lokaalmeten.gateway.validate import Checked, RecordValidator
from lokaalmeten.gateway.writer import Output, StoreWriter
from lokaalmeten.settings import GatewaySettings

log = logging.getLogger("lokaalmeten.gateway")

_SPOOL_FULL_RETRY = 1.0


class Gateway:
    def __init__(self, settings: GatewaySettings, stores: list[Output] | None = None) -> None:
        self.settings = settings
        self.metrics = GatewayMetrics()
        if stores is None:
            stores = [open_output(url) for url in (settings.store, *settings.extra_stores)]
        self.stores = stores
        self.spool = Spool(
            Path(settings.spool),
            [store.url for store in stores],
            max_readings=settings.spool_max_readings,
            full_policy=settings.spool_full_policy,
            synchronous=settings.spool_synchronous,
        )
        self.registry = Registry(Path(settings.registry)) if settings.require_registration else None
        self.validator = RecordValidator(
            self.metrics,
            settings.topic_prefix,
            known=self.registry.known if self.registry is not None else None,
        )
        self.ingest = MqttIngest(settings, self.metrics)
        self.writers = [
            StoreWriter(store, self.spool, self.metrics, settings.write_batch) for store in stores
        ]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.ingest_port: int | None = None
        self._http_server: Any = None

    # -- lifecycle -----------------------------------------------------------------------

    def run(self) -> None:
        stores = ", ".join(store.url for store in self.stores)
        log.info("gateway: %s -> spool %s -> %s", self.settings.broker, self.settings.spool, stores)
        for writer in self.writers:
            self._start_thread(writer.run, f"writer {writer.consumer}", self._stopping)
        if self.settings.ingest_port:
            self._start_http()
        self.ingest.start()
        next_stats = time.monotonic() + self.settings.stats_interval
        try:
            while not self._stopping.is_set():
                batch = self.ingest.take(self.settings.batch_size, self.settings.batch_wait)
                if batch:
                    self._spool_then_ack(batch)
                if time.monotonic() >= next_stats:
                    log.info(
                        "gateway counters: %s; spool depth %d",
                        self.metrics.summary(),
                        self.spool.depth(),
                    )
                    next_stats = time.monotonic() + self.settings.stats_interval
        finally:
            self.ingest.stop()
            self._stopping.set()
            if self._http_server is not None:
                self._http_server.should_exit = True
            for thread in self._threads:
                thread.join(10)
            for store in self.stores:
                store.close()
            self.spool.close()
            log.info(
                "gateway stopped; counters: %s; %d readings left in the spool",
                self.metrics.summary(),
                self.spool.depth(),
            )

    def stop(self) -> None:
        self._stopping.set()

    def _start_thread(self, target: Any, name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_http(self) -> None:
        import uvicorn

        from lokaalmeten.gateway.http_ingest import create_ingest_app

        config = uvicorn.Config(
            create_ingest_app(self),
            host=self.settings.ingest_host,
            port=self.settings.ingest_port,
            log_level="warning",
            access_log=False,
        )
        server = uvicorn.Server(config)
        self._http_server = server
        self._start_thread(server.run, "http")
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        if not server.started:
            raise RuntimeError(
                f"the HTTP ingest could not listen on {self.settings.ingest_host}:"
                f"{self.settings.ingest_port}; is the port in use? (LM_INGEST_PORT=0 turns it off)"
            )
        self.ingest_port = server.servers[0].sockets[0].getsockname()[1]
        log.info(
            "HTTP ingest, /health and /metrics on %s:%d",
            self.settings.ingest_host,
            self.ingest_port,
        )

    # -- ingest --------------------------------------------------------------------------

    def _spool_then_ack(self, batch: list[Message]) -> None:
        checks = [
            self.validator.mqtt(message.topic, message.payload, message.received_at)
            for message in batch
        ]
        pending = list(zip(batch, checks, strict=True))
        while pending:
            fits = self._prefix_that_fits(pending)
            if not fits:
                # Not acknowledging is the back-pressure: the broker keeps the messages.
                self.metrics.add("spool_full_waits")
                log.error(
                    "SPOOL FULL (%d readings): not acknowledging %d messages until "
                    "the stores drain it",
                    self.spool.max_readings,
                    len(pending),
                )
                if self._stopping.wait(_SPOOL_FULL_RETRY):
                    return
                continue
            taken, pending = pending[:fits], pending[fits:]
            readings = [r for _, checked in taken for r in checked.readings]
            refusals = [r for _, checked in taken for r in checked.refusals]
            try:
                self.spool.put(readings, refusals)
            except SpoolFull:
                pending = taken + pending  # the room shrank meanwhile (HTTP ingest)
                continue
            self.metrics.add("readings_spooled", len(readings))
            self.ingest.ack([message for message, _ in taken])

    def _prefix_that_fits(self, pending: list[tuple[Message, Checked]]) -> int:
        """How many of the first messages fit in the spool together (policy block)."""
        if self.spool.full_policy != "block":
            return len(pending)
        room = self.spool.room()
        count = used = 0
        for _, checked in pending:
            used += len(checked.readings)
            if used > room:
                break
            count += 1
        return count

    # -- state ---------------------------------------------------------------------------

    def gauges(self) -> dict[str, Any]:
        return {
            "spool_depth": self.spool.depth(),
            "spool_readings_dropped": self.spool.dropped(),
            "mqtt_connected": int(self.ingest.connected),
            "store_healthy": {w.consumer: int(w.healthy) for w in self.writers},
            "store_backlog": {w.consumer: self.spool.depth(w.consumer) for w in self.writers},
        }

    def health(self) -> dict[str, Any]:
        problems = []
        if not self.ingest.connected:
            problems.append(f"not connected to the broker {self.settings.broker}")
        for writer in self.writers:
            if not writer.healthy:
                problems.append(f"{writer.consumer}: {writer.last_error}")
        return {
            "status": "ok" if not problems else "degraded",
            "problems": problems,
            "spool_depth": self.spool.depth(),
        }
