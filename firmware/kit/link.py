"""The kit's way out: Wi-Fi, NTP time, the MQTT session, sending the outbox, the portal.

``Kit`` calls ``step(now_ms)`` every turn of its loop; nothing here waits long, so the loop
(and the watchdog) keep turning while the network is down::

    link = Link(conf, node, fw, outbox, tb, kit, send_ms, safe_mode)
    link.step(tb.now_ms())         # connect, sync the clock, send up to 20 records
    link.rssi()                    # dBm, or None when not connected

The link is given what it uses: the settings, the node id and firmware version, the outbox
it sends, the timebase (``synced``, ``unix()``), the longest a turn may spend sending and
whether the kit is in safe mode. What it tells or asks of the runtime goes through ``host``,
a small protocol that ``kit.runtime.Kit`` implements (and a test may too):

- ``host.event(kind, info)``: something happened (``wifi_up``, ``published``, ...);
- ``host.clock_synced()``: NTP answered;
- ``host.backdate(payload)``: an undated record with its time, as far as it is known;
- ``host.status_record()``: the retained online status (bytes);
- ``host.open_portal(address, port, dns_port)``: the set-up portal on the access point.
- ``host.update_offered(version)``: a firmware release offered is to be fetched (taken by
  kit/updates.py, loaded only with a release key configured), which needs a restart;
  ``host.trial``: the release that runs is on trial (an offer waits until it is judged).

So this module imports neither the runtime nor the portal: it counts what it published
(``published``) and leaves the rest to ``host``.

Wi-Fi: with no network configured, or none reached within ``wifi_timeout_s``, the kit
opens its access point ``lokaalmeten-<id>`` with the set-up portal for ``portal_minutes``
(for good when nothing is configured, or in safe mode), then tries the network again.
MQTT: connect with the node id as client id, clean session off and the offline status as
Last Will; on connect publish the retained online status with counters; then send records
oldest first with QoS 1, removing each from the outbox only after its PUBACK. A failure
closes the connection; the next attempt waits 1 s, doubling to 5 minutes, with jitter.
"""

import os
import time

import network
from micropython import const

from kit import record, topics
from kit.errors import KitError
from kit.mqtt import MQTTClient

# For the type check only (tools/typecheck-firmware sets it true): MicroPython's compiler
# drops the block, so the portal's code is loaded only when the host opens one.
_TYPES = const(0)
if _TYPES:
    from kit.portal import Portal

_IDLE = const(0)
_CONNECTING = const(1)
_PORTAL = const(2)
_UP = const(3)
_BACKOFF_MIN_MS = const(1000)
_BACKOFF_MAX_MS = const(300000)
_NTP_RETRY_MS = const(60000)
_NTP_REFRESH_MS = const(21600000)  # resync every 6 h: the RTC drifts seconds a day
_STATUS_MS = const(600000)
_KEEPALIVE_S = const(60)
_BATCH = const(20)  # records per loop turn, so the loop keeps turning while draining
_PORTAL_POLL_MS = const(50)
_PORTAL_BUSY_MS = const(120000)  # keep the portal while someone is using it
_PORTAL_RETRY_MS = const(60000)
_UNDATED_HOLD_MS = const(600000)  # records wait this long for NTP, then go undated


def _iface(name):
    # IF_STA/IF_AP since MicroPython 1.25; STA_IF/AP_IF before.
    if hasattr(network.WLAN, "IF_" + name):
        return getattr(network.WLAN, "IF_" + name)
    return getattr(network, name + "_IF")


class Link:
    client: MQTTClient  # made on the first connect; used only from then on
    portal: Portal | None

    def __init__(self, conf, node, fw, outbox, tb, host, send_ms, safe_mode):
        self.conf = conf
        self.node = node
        self.fw = fw
        self.outbox = outbox
        self.tb = tb
        self.host = host
        self.send_ms = send_ms
        self.safe_mode = safe_mode
        self.published = 0
        self.sta = network.WLAN(_iface("STA"))
        self.state = _IDLE
        self.since = 0
        self.portal = None
        self.portal_until = 0  # 0: open for good
        self.portal_retry = 0  # after a portal that could not open
        self.client = None  # type: ignore[assignment]
        self.mqtt_up = False
        self.next_mqtt = 0
        self.backoff = _BACKOFF_MIN_MS
        self.next_ntp = 0
        self.next_status = 0
        self.status_dropped = -1
        self.last_activity = 0
        self.up_since = 0  # when Wi-Fi last came up
        self.holding = False  # an undated record waits for NTP (next_due must not spin)
        self.reconnects = 0
        self.connects = 0
        self.last_error = None
        self.last_publish = None  # UTC seconds of the last PUBACK
        self._readings_topic = topics.readings(node, conf["topic_prefix"])
        self._status_topic = topics.status(node, conf["topic_prefix"])
        self.updates = None  # firmware offers: only a kit that can check them (docs/fleet.md)
        if conf["release_key"]:
            from kit.updates import Updates

            self.updates = Updates(self)

    # -- Wi-Fi and the portal ----------------------------------------------------------

    def step(self, now):
        if self.portal:
            self.portal.step(now)
            if self.portal_until and now > self.portal_until and not self.portal.busy(now):
                self._close_portal()
                self.state = _IDLE
        conf = self.conf
        if not conf["wifi_ssid"] or self.safe_mode:
            if not self.portal and now >= self.portal_retry:
                self._open_portal(now, 0)
            if not conf["wifi_ssid"]:
                return
        if not self.sta.isconnected():
            if self.mqtt_up:
                self._lost("Wi-Fi connection lost")
            if self.state == _UP or self.state == _IDLE:
                try:
                    self.sta.active(True)
                    self.sta.connect(conf["wifi_ssid"], conf["wifi_password"])
                except OSError as exc:
                    self.last_error = "Wi-Fi: %s" % exc
                self.state = _CONNECTING
                self.since = now
            elif self.state == _CONNECTING and now - self.since > conf["wifi_timeout_s"] * 1000:
                self.last_error = "Wi-Fi: no connection to %r" % conf["wifi_ssid"]
                self.host.event("wifi_failed", {"ssid": conf["wifi_ssid"]})
                self.state = _PORTAL
                if not self.portal:
                    self._open_portal(now, now + conf["portal_minutes"] * 60000)
            return
        if self.state != _UP:
            self.state = _UP
            self.up_since = now
            self.host.event("wifi_up", {"rssi": self.rssi()})
            if self.portal and self.portal_until:
                self._close_portal()
        if now >= self.next_ntp:
            self._sync_clock(now)
        if conf["gateway_host"]:
            self._mqtt(now)

    def _open_portal(self, now, until):
        ap = network.WLAN(_iface("AP"))
        ap.active(True)
        ssid = "lokaalmeten-" + self.node[-6:]
        if self.conf["portal_password"]:
            ap.config(ssid=ssid, key=self.conf["portal_password"], security=3)  # WPA2-PSK
        else:
            ap.config(ssid=ssid)
        address = ap.ifconfig()[0]
        self.ap = ap
        dns_port = 53 if self.conf["portal_dns"] else 0
        try:
            self.portal = self.host.open_portal(address, self.conf["portal_port"], dns_port)
        except OSError as exc:
            # Measuring and sending go on without it (in safe mode too); try again later.
            ap.active(False)
            self.portal_retry = now + _PORTAL_RETRY_MS
            self.last_error = "portal: %s" % exc
            self.host.event("portal_failed", {"error": str(exc)})
            return
        self.portal_until = until
        self.host.event("portal_open", {"ssid": ssid, "address": address, "port": self.portal.port})

    def _close_portal(self):
        if self.portal is None:
            return
        self.portal.close()  # and unloads the portal's modules
        self.portal = None
        self.ap.active(False)
        self.host.event("portal_closed", None)

    def rssi(self):
        if not self.sta.isconnected():
            return None
        try:
            return self.sta.status("rssi")
        except (OSError, ValueError):
            return None

    def _sync_clock(self, now):
        import ntptime

        ntptime.host = self.conf["ntp_host"]
        try:
            ntptime.settime()
        except (OSError, OverflowError, IndexError) as exc:
            # Records keep "time": null until this works, never an invented time; once it
            # does, they are dated from the uptime clock (host.clock_synced).
            self.next_ntp = now + _NTP_RETRY_MS
            self.last_error = "NTP: %s" % exc
            self.host.event("ntp_failed", {"error": str(exc)})
            return
        self.next_ntp = now + _NTP_REFRESH_MS
        self.host.clock_synced()

    # -- MQTT --------------------------------------------------------------------------

    def _mqtt(self, now):
        host = self.host
        if not self.mqtt_up:
            if now < self.next_mqtt:
                return
            self._connect(now)
            if not self.mqtt_up:
                return
        box = self.outbox
        client = self.client
        self.holding = False
        started = time.ticks_ms()
        for _ in range(_BATCH):
            # Each publish waits for its PUBACK; a kit with a microphone must get back to
            # the I2S buffer (128 ms of audio) before it overflows, whatever Wi-Fi's pace.
            if time.ticks_diff(time.ticks_ms(), started) >= self.send_ms:
                break
            item = box.peek()
            if item is None:
                break
            payload = item[1]
            if box.find(record.UNDATED) >= 0:
                if not self.tb.synced and now - self.up_since < _UNDATED_HOLD_MS:
                    self.holding = True  # NTP may answer soon: then it goes with its real time
                    break
                payload = host.backdate(payload)
            try:
                client.publish(self._readings_topic, payload, False, 1)
            except (KitError, OSError) as exc:
                self._lost("publish: %s" % exc)
                host.event("publish_failed", {"seq": item[0], "error": str(exc)})
                return
            box.ack()
            self.published += 1
            self.last_activity = now
            self.last_publish = self.tb.unix()
            host.event("published", {"seq": item[0], "payload": payload})
        try:
            if self.updates:
                self.updates.poll(client, now)
            if now >= self.next_status or box.dropped != self.status_dropped:
                self._publish_status(now)
            elif now - self.last_activity > _KEEPALIVE_S * 500:
                client.ping()
                self.last_activity = now
        except (KitError, OSError) as exc:
            self._lost("status: %s" % exc)

    def _connect(self, now):
        conf = self.conf
        if self.client is None:
            self.client = (self.updates.client if self.updates else MQTTClient)(
                self.node,
                conf["gateway_host"],
                conf["gateway_port"],
                user=conf["mqtt_user"] or self.node,
                password=conf["mqtt_password"] or None,
                keepalive=_KEEPALIVE_S,
            )
            self.client.set_last_will(
                self._status_topic, record.status("offline", self.fw), retain=True, qos=1
            )
        try:
            self.client.connect()
            self.mqtt_up = True
            self._publish_status(now)
            if self.updates:
                self.updates.connected(self.client)
        except (KitError, OSError) as exc:
            self.client.close()
            self.mqtt_up = False
            wait = self.backoff + (self.backoff * os.urandom(1)[0] >> 10)  # up to +25 %
            self.next_mqtt = now + wait
            self.backoff = min(self.backoff * 2, _BACKOFF_MAX_MS)
            self.last_error = "MQTT: %s" % exc
            self.host.event("broker_unreachable", {"error": str(exc), "retry_in": wait / 1000})
            return
        self.backoff = _BACKOFF_MIN_MS
        self.last_activity = now
        if self.connects:
            self.reconnects += 1
        self.connects += 1
        self.host.event("connected", {"reconnects": self.reconnects})

    def _publish_status(self, now):
        self.client.publish(self._status_topic, self.host.status_record(), True, 1)
        self.status_dropped = self.outbox.dropped
        self.next_status = now + _STATUS_MS
        self.last_activity = now

    def _lost(self, why):
        self.last_error = why
        self.mqtt_up = False
        if self.client:
            self.client.close()
        self.next_mqtt = 0  # try again at once; the back-off starts if that fails

    def next_due(self, now):
        if self.portal:
            return now + _PORTAL_POLL_MS
        if self.state != _UP:
            return now + 200
        if self.mqtt_up:
            if self.holding:  # nothing to send before NTP's next try or the hold's end
                return min(self.next_ntp, self.up_since + _UNDATED_HOLD_MS, now + _STATUS_MS)
            return now if self.outbox.count else now + _STATUS_MS
        return self.next_mqtt if self.conf["gateway_host"] else now + _STATUS_MS

    def close(self):
        """Leave cleanly: the retained status says offline, as the Last Will would."""
        if self.mqtt_up:
            try:
                self.client.publish(self._status_topic, record.status("offline", self.fw), True, 1)
                self.client.disconnect()
            except (KitError, OSError):
                pass
            self.mqtt_up = False
        if self.portal:
            self._close_portal()
