"""The gateway's pipeline, top to bottom.

    MQTT (QoS 1, persistent session) ─┐
    HTTP (/v1/records, airRohr)      ─┴─> validate + quality flags ─> spool (durable commit)
                                           ─> acknowledge
    spool ─> one writer per store (batches, back-off) ─> store(s)

The kits' retained statuses (and Last Wills) update the node directory (gateway/kit_facts.py)
in the same order, as do the sensor models of spooled readings; a status of a kit offered a
firmware release is judged by the rollout's health gate (gateway/fleet_gate.py).

An MQTT message is acknowledged, and an HTTP request answered 2xx, only after its readings
(or its refusal) are committed to the spool. A reading leaves the spool only after every store
accepted it. So a crash or a kill at any point loses nothing: what is not in the spool is
still with the broker (or the kit), and what is in the spool is written again; stores ignore
repeats by a reading's identity::

    gateway = Gateway(GatewaySettings(broker="mqtt://127.0.0.1:1883"))
    gateway.run()          # until stop() or SIGTERM

Stopping never hangs: :meth:`Gateway.stop` only requests it (safe in a signal handler), every
wait in the gateway wakes on that request or has a short timeout, and the way out gives the
network thread, the writers and the HTTP ingest a few seconds in all (``STOP_BUDGET_S``). What
is cut short loses nothing: a message is acknowledged only after its spool commit, and a
reading leaves the spool only after its store took it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from lokaalmeten.gateway.alert_book import AlertBook, AlertBookError
from lokaalmeten.gateway.alert_delivery import (
    MqttAlertSender,
    WebhookSender,
    alerts_topic,
    webhook_origin,
)
from lokaalmeten.gateway.alerts import AlertEngine, AlertRules
from lokaalmeten.gateway.directory import Directory, DirectoryError, relay_claims
from lokaalmeten.gateway.fleet import RolloutFile
from lokaalmeten.gateway.fleet_gate import RolloutWatch
from lokaalmeten.gateway.kit_facts import KitFacts
from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.gateway.mqtt_ingest import Message, MqttIngest
from lokaalmeten.gateway.mqtt_process import MqttProcess
from lokaalmeten.gateway.outputs import open_output
from lokaalmeten.gateway.quality import quality_stage
from lokaalmeten.gateway.registry import Registry
from lokaalmeten.gateway.spool import Spool, SpoolFull
from lokaalmeten.gateway.ttn_backfill import Backfill, Cursors
from lokaalmeten.gateway.validate import Checked, RecordValidator
from lokaalmeten.gateway.writer import Output, StoreWriter
from lokaalmeten.gateway.writer_process import SpoolOptions, WriterProcess
from lokaalmeten.protocol.topics import is_status
from lokaalmeten.readings import Reading
from lokaalmeten.settings import GatewaySettings
from lokaalmeten.shutdown import Shutdown
from lokaalmeten.store import Store, StoreError

log = logging.getLogger("lokaalmeten.gateway")

_SPOOL_FULL_RETRY = 1.0
STOP_BUDGET_S = 3.5  # the most the way out waits for threads, all of them together
_HTTP_GRACE_S = 1  # a request being answered at stop gets this long to finish


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        stores: list[Output] | None = None,
        shutdown: Shutdown | None = None,
    ) -> None:
        self.settings = settings
        # Made first, so that a stop requested while the rest is opened is not lost.
        self.shutdown = shutdown or Shutdown()
        self.metrics = GatewayMetrics()
        opened = stores is None
        configured = (settings.store, *settings.extra_stores)
        if stores is None:
            stores = [open_output(url, Path(settings.registry)) for url in configured]
        self.stores = stores
        self.spool = Spool(
            Path(settings.spool),
            [store.url for store in stores],
            max_readings=settings.spool_max_readings,
            full_policy=settings.spool_full_policy,
            synchronous=settings.spool_synchronous,
        )
        self.registry = Registry(Path(settings.registry)) if settings.require_registration else None
        self.directory = Directory(Path(settings.registry))
        self.validator = RecordValidator(
            self.metrics,
            settings.topic_prefix,
            known=self.registry.known if self.registry is not None else None,
            quality=quality_stage(settings, self.directory),
            claim=relay_claims(self.directory, self.registry),
            device_node=self.directory.device_node,
        )
        # The firmware rollout (docs/fleet.md): its gate judged as statuses arrive, its
        # release served to the kits it admits (gateway/http_fleet.py).
        self.rollout = RolloutWatch(RolloutFile(Path(settings.rollout)), self.directory.entries)
        self.kit_facts = KitFacts(
            self.directory,
            self.metrics,
            settings.topic_prefix,
            known=self.registry.known if self.registry is not None else None,
            rollout=self.rollout,
        )
        self._adopt_legacy_meta()
        self._open_alerts()
        # The broker's messages arrive in a process of their own (mqtt_process.py), unless
        # turned off: then paho's network thread shares this process's interpreter lock.
        self.ingest: MqttIngest | MqttProcess = (
            MqttProcess(settings, self.metrics)
            if settings.mqtt_process
            else MqttIngest(settings, self.metrics)
        )
        self.writers: list[StoreWriter | WriterProcess] = []
        if opened and settings.writer_processes:
            # Each store's writer on a core of its own (writer_process.py); stores handed in
            # as objects (tests) are written from threads of this process.
            options = SpoolOptions.of(self.spool, settings.spool_synchronous)
            for store, url in zip(stores, configured, strict=True):
                writer = WriterProcess(
                    store.url,
                    options,
                    self.metrics,
                    settings.write_batch,
                    settings.log_format,
                    settings.write_wait,
                    # The configured URL: a store's name leaves out its password.
                    opens=url,
                    registry=Path(settings.registry),
                )
                self.spool.listeners.append(writer.wake)
                self.writers.append(writer)
        else:
            self.writers = [
                StoreWriter(
                    store, self.spool, self.metrics, settings.write_batch, settings.write_wait
                )
                for store in stores
            ]
        self._threads: list[threading.Thread] = []
        self.ingest_port: int | None = None
        self._http_server: Any = None

    def _adopt_legacy_meta(self) -> None:
        """Node metadata an older version kept in a store moves into the directory, once."""
        for store in self.stores:
            if not isinstance(store, Store):
                continue  # a forwarder: it never kept any
            try:
                metas = store.legacy_node_meta()
                if not metas:
                    continue
                taken = self.directory.adopt(metas.values())
                store.forget_legacy_node_meta()
            except (StoreError, DirectoryError) as exc:
                log.warning(
                    "node metadata in %s not moved yet (again at the next start): %s",
                    store.url,
                    exc,
                )
                continue
            log.info(
                "moved the node metadata of %d kits from %s into the node directory in %s%s",
                len(taken),
                store.url,
                self.directory.path,
                ""
                if len(taken) == len(metas)
                else f" ({len(metas) - len(taken)} already described there kept theirs)",
            )

    def _open_alerts(self) -> None:
        """Kit-health alerts (gateway/alerts.py), kept in the registry file beside the
        directory; each configured sink gets every event."""
        settings = self.settings
        sinks = ["webhook"] if settings.alert_webhook else []
        sinks += ["mqtt"] if settings.alert_mqtt else []
        now = time.time()
        self.alert_book = AlertBook(Path(settings.registry), sinks, now=now)
        self.alerts = AlertEngine(
            self.alert_book,
            AlertRules.of(settings),
            self.directory.entries,
            now,
            known=self.registry.known if self.registry is not None else None,
        )
        self._alerts_due = threading.Event()
        self._check_acl()

    def _check_acl(self) -> None:
        """Mosquitto drops a publish its ACL forbids without a word: an ACL written before
        the alerts (or Home Assistant's discovery) would swallow every message of theirs
        the broker acknowledges."""
        settings = self.settings
        needed = []
        if settings.alert_mqtt:
            needed.append((f"topic write {alerts_topic('+', settings.topic_prefix)}", "alerts"))
        if any(url.startswith("homeassistant+") for url in settings.extra_stores):
            needed.append(("topic readwrite homeassistant/#", "Home Assistant's discovery"))
        if not (needed and settings.mosquitto_dir):
            return
        acl = Path(settings.mosquitto_dir) / "acl"
        try:
            text = acl.read_text()
        except OSError:
            return  # not written by us (or not readable here): nothing to say
        for line, what in needed:
            if "user " in text and line not in text:
                log.warning(
                    "the broker's ACL %s does not let the gateway publish its %s (%s): "
                    "Mosquitto drops them. Write it again: lokaalmeten nodes acl, then "
                    "systemctl reload mosquitto",
                    acl,
                    what,
                    line,
                )

    def _watch_alerts(self) -> None:
        """Judge the alert rules every LM_ALERT_CHECK_INTERVAL s, and soon after readings
        that may change one (at most every 0.2 s)."""
        next_check = time.monotonic()
        while not self.shutdown.wait(0.2):
            if not self._alerts_due.is_set() and time.monotonic() < next_check:
                continue
            self._alerts_due.clear()
            next_check = time.monotonic() + self.settings.alert_check_interval
            try:
                self.alerts.evaluate(time.time())
            except (AlertBookError, DirectoryError, sqlite3.Error) as exc:
                log.error("alert rules not judged this time (again in a moment): %s", exc)

    def _start_alert_delivery(self) -> None:
        settings = self.settings
        self.alert_senders: list[WebhookSender | MqttAlertSender] = []
        if settings.alert_webhook:
            self.alert_senders.append(
                WebhookSender(
                    self.alert_book, settings.alert_webhook, self.shutdown, settings.alert_retry_max
                )
            )
        if settings.alert_mqtt:
            self.alert_senders.append(MqttAlertSender(self.alert_book, settings, self.shutdown))
        for sender in self.alert_senders:
            self._start_thread(sender.run, f"alerts {sender.sink}")
        self._start_thread(self._watch_alerts, "alert rules")

    # -- lifecycle -----------------------------------------------------------------------

    def run(self) -> None:
        try:
            if not self.shutdown.is_set():
                self._start()
            self._receive()
        finally:
            self._finish()

    def _start(self) -> None:
        if self.settings.ingest_port:
            self._start_http()
            if self.shutdown.is_set():
                return
        log.info("gateway serves: %s", self.serves())
        for writer in self.writers:
            self._start_thread(writer.run, f"writer {writer.consumer}", self.shutdown)
        self._start_alert_delivery()
        self._start_backfill()
        self.ingest.start()

    def _start_backfill(self) -> None:
        """The LoRaWAN webhook's gaps, filled from the Storage Integration (ttn_backfill)."""
        settings = self.settings
        if not settings.lorawan_storage:
            return
        backfill = Backfill(
            settings.lorawan_storage_url,
            settings.lorawan_storage,
            self.validator,
            self.commit_checked,
            Cursors(Path(settings.spool).with_name("lorawan-backfill.json")),
            settings.lorawan_backfill_window,
        )
        self._start_thread(
            backfill.run, "lorawan back-fill", settings.lorawan_backfill_interval, self.shutdown
        )

    def serves(self) -> str:
        """One line: broker, stores, spool, registry, HTTP ingest and where alerts go."""
        registry = (
            f"registry {self.registry.path.absolute()}"
            if self.registry is not None
            else "no registry: readings of any node are accepted (--open)"
        )
        if self.ingest_port is not None:
            where = f"{self.settings.ingest_host}:{self.ingest_port}"
            http = f"HTTP ingest, /health and /metrics on {where}"
            lorawan = sorted(self.settings.lorawan_applications)
            if lorawan:
                http += f"; LoRaWAN webhook /lorawan/ttn for {', '.join(lorawan)}"
            if self.settings.lorawan_storage:
                http += f", back-fill from {self.settings.lorawan_storage_url}"
        else:
            http = "HTTP ingest off"
        stores = ", ".join(store.url for store in self.stores)
        sinks = [f"webhook {webhook_origin(s)}" for s in [self.settings.alert_webhook] if s]
        if self.settings.alert_mqtt:
            sinks.append(f"MQTT {alerts_topic('+', self.settings.topic_prefix)}")
        alerts = (
            f"alerts to {' and '.join(sinks)}"
            if sinks
            else "alerts kept in the registry only (no LM_ALERT_WEBHOOK, LM_ALERT_MQTT off)"
        )
        return (
            f"broker {self.settings.broker} -> spool {Path(self.settings.spool).absolute()} "
            f"-> stores {stores}; {registry}; {alerts}; {http}"
        )

    def _receive(self) -> None:
        next_stats = time.monotonic() + self.settings.stats_interval
        while not self.shutdown.is_set():
            batch = self.ingest.take(
                self.settings.batch_size, self.settings.batch_wait, self.shutdown
            )
            if batch:
                self._spool_then_ack(batch)
            if time.monotonic() >= next_stats:
                log.info(
                    "gateway counters: %s; spool depth %d",
                    self.metrics.summary(),
                    self.spool.depth(),
                )
                next_stats = time.monotonic() + self.settings.stats_interval

    def _finish(self) -> None:
        """The way out, within STOP_BUDGET_S: what is left undone is still with the broker,
        the kit or the spool."""
        deadline = time.monotonic() + STOP_BUDGET_S
        self.shutdown.request()
        self.spool.wake()
        if self._http_server is not None:
            self._http_server.should_exit = True
        self.ingest.stop(timeout=max(0.5, deadline - time.monotonic()))
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        busy = [thread.name for thread in self._threads if thread.is_alive()]
        if busy:
            log.warning("stopping without waiting longer for: %s", ", ".join(busy))
        for store, writer in zip(self.stores, self.writers, strict=True):
            if f"writer {writer.consumer}" not in busy:  # a store still in a write stays open
                with suppress(Exception):
                    store.close()
        depth = self.spool.depth()
        self.spool.close()
        if not any(name.startswith("alert") for name in busy):
            with suppress(AlertBookError):  # at worst a kit's silence counts from the start
                self.alerts.save()
            self.alert_book.close()
        self.directory.close()
        log.info(
            "gateway stopped; counters: %s; %d readings left in the spool",
            self.metrics.summary(),
            depth,
        )

    def stop(self) -> None:
        """Ask the gateway to stop; returns at once. Safe in a signal handler."""
        self.shutdown.request()

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
            timeout_graceful_shutdown=_HTTP_GRACE_S,
        )
        server = uvicorn.Server(config)
        self._http_server = server
        self._start_thread(server.run, "http")
        thread = self._threads[-1]
        deadline = time.monotonic() + 10
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            if self.shutdown.wait(0.02):
                return
        if not server.started:
            raise RuntimeError(
                f"the HTTP ingest could not listen on {self.settings.ingest_host}:"
                f"{self.settings.ingest_port}; is the port in use? (LM_INGEST_PORT=0 turns it off)"
            )
        self.ingest_port = server.servers[0].sockets[0].getsockname()[1]

    # -- ingest --------------------------------------------------------------------------

    def _spool_then_ack(self, batch: list[Message]) -> None:
        prefix = self.settings.topic_prefix
        statuses = {i for i, m in enumerate(batch) if is_status(m.topic, prefix)}
        checks = [
            Checked()
            if i in statuses
            else self.validator.mqtt(message.topic, message.payload, message.received_at)
            for i, message in enumerate(batch)
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
                if self.shutdown.wait(_SPOOL_FULL_RETRY):
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
            self.spooled(readings)
            for message, checked in taken:
                if is_status(message.topic, prefix):
                    self.kit_facts.status(message)
                elif checked.kits:
                    self.kit_facts.relayed(checked.kits)
            self.ingest.ack([message for message, _ in taken])

    def commit_checked(self, checked: Checked) -> None:
        """Readings and refusals of one request (HTTP, a LoRaWAN back-fill) durable in the
        spool, then noted; raises SpoolFull when there is no room."""
        self.spool.put(checked.readings, checked.refusals)
        self.metrics.add("readings_spooled", len(checked.readings))
        self.spooled(checked.readings)

    def spooled(self, readings: list[Reading]) -> None:
        """Readings committed to the spool (MQTT or HTTP): their sensor models are noted,
        and the alert rules count them."""
        self.kit_facts.readings(readings)
        if self.alerts.readings(readings, time.time()):
            self._alerts_due.set()

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
            "alerts_open": self.alerts.open_counts(),
            "alert_outbox": self.alert_book.outbox_depth(),
        }

    def health(self) -> dict[str, Any]:
        problems = []
        if not self.ingest.connected:
            outage = self.ingest.outage
            problems.append(
                outage.describe()
                if outage.going_on
                else f"not connected to the broker {self.settings.broker}"
            )
        problems += [w.outage.describe() for w in self.writers if w.outage.going_on]
        return {
            "status": "ok" if not problems else "degraded",
            "problems": problems,
            "spool_depth": self.spool.depth(),
        }
