# MicroPython tests of the kit runtime (firmware/kit/runtime.py) without a broker: the cycle
# into the outbox, time stamps, the crash-loop guard and the watchdog.
import json
import os

import network
import ntptime
from kit import config, runtime, sensors
from kit.outbox import Outbox
from kit.timebase import FastTime
from mpy_test_support import drop_flash, fresh_flash

sensors.REGISTRY["test"] = ("mpy_test_support", "ScriptedSensor", "i2c", 0)
sensors.REGISTRY["broken"] = ("mpy_test_support", "BrokenSensor", "i2c", 0)
network.NETWORKS["home"] = "password1"
START = 1795820400  # 2026-11-27T23:00:00Z


def _portal_port():
    return 20000 + (os.urandom(1)[0] << 5) + os.urandom(1)[0] % 32


def _setup(**overrides):
    doc = {
        "node": "kit-test",
        "wifi_ssid": "home",
        "wifi_password": "password1",
        "interval_s": 60,
        "sample_s": 5,
        "sensors": [{"type": "test"}],
        "portal_port": _portal_port(),
    }
    doc.update(overrides)
    config.save(doc)


def _records():
    box = Outbox("outbox")
    docs = []
    while True:
        item = box.peek()
        if item is None:
            return docs
        docs.append(json.loads(bytes(item[1])))
        box.ack()


def test_each_cycle_appends_one_numbered_timestamped_record():
    flash = fresh_flash()
    try:
        _setup()
        events = []
        kit = runtime.Kit(FastTime(START), None, lambda kind, info: events.append(kind))
        assert kit.run(cycles=5) == "done"
        docs = _records()
        assert [d["seq"] for d in docs] == [1, 2, 3, 4, 5]
        assert [d["time"][11:19] for d in docs] == [
            "23:01:00",
            "23:02:00",
            "23:03:00",
            "23:04:00",
            "23:05:00",
        ]
        assert docs[0]["values"] == {"pm25": 5.0, "temperature": 20.0}, docs[0]
        assert docs[0]["sensors"] == {"pm25": "TEST1", "temperature": "TEST1"}
        assert docs[0]["fw"] == runtime.FIRMWARE_VERSION and docs[0]["rssi"] == -61
        assert "ntp_synced" in events and "watchdog_expired" not in events
        assert kit.wdt.feeds > 5
        # The next boot continues the numbering.
        runtime.Kit(FastTime(START + 3600), None, None).run(cycles=2)
        assert [d["seq"] for d in _records()] == [6, 7]
    finally:
        drop_flash(flash)


def test_without_ntp_the_time_is_null_never_invented():
    flash = fresh_flash()
    ntptime.FAIL = "timed out"
    try:
        _setup()
        runtime.Kit(FastTime(START), None, None).run(cycles=2)
        assert [d["time"] for d in _records()] == [None, None]
    finally:
        ntptime.FAIL = None
        drop_flash(flash)


def test_a_sensor_that_fails_does_not_stop_the_others_or_the_records():
    flash = fresh_flash()
    try:
        _setup(sensors=[{"type": "broken"}, {"type": "test"}])
        kit = runtime.Kit(FastTime(START), None, None)
        kit.run(cycles=2)
        assert [d["seq"] for d in _records()] == [1, 2]
        assert kit.sampler.errors > 0 and "no answer" in kit.sampler.last_error
    finally:
        drop_flash(flash)


def test_three_failed_boots_bring_safe_mode_without_drivers():
    flash = fresh_flash()
    try:
        _setup()
        for _ in range(3):
            kit = runtime.Kit(FastTime(START), None, None)  # each boot "crashes" right away
            assert not kit.safe_mode
        kit = runtime.Kit(FastTime(START), None, None)
        assert kit.safe_mode and kit.sampler.entries == []
        assert kit.counters()["safe_mode"] is True
        kit.link.step(kit.tb.now_ms())
        assert kit.link.portal is not None  # the portal opens so a citizen can fix things
        kit.link.close()
    finally:
        drop_flash(flash)


def test_a_healthy_run_clears_the_boot_counter():
    flash = fresh_flash()
    try:
        _setup()
        with open(runtime.BOOT_FILE, "w") as f:
            f.write("2\n")
        kit = runtime.Kit(FastTime(START), None, None)
        assert not kit.safe_mode
        kit.run(cycles=3)
        assert runtime._read_int(runtime.BOOT_FILE) == 0
    finally:
        drop_flash(flash)


def test_an_invalid_configuration_opens_the_portal_instead_of_bricking():
    flash = fresh_flash()
    try:
        with open(config.PATH, "w") as f:
            f.write('{"interval_s": "never"}')
        events = []
        kit = runtime.Kit(FastTime(START), None, lambda kind, info: events.append((kind, info)))
        assert (
            "config_invalid",
            {"error": "config.json: 'interval_s' must be a number, got 'never'"},
        ) in events, events
        kit.link.step(kit.tb.now_ms())
        assert kit.link.portal is not None
        kit.link.close()
    finally:
        drop_flash(flash)


def test_the_watchdog_is_not_fed_when_records_stop_coming():
    flash = fresh_flash()
    try:
        _setup(interval_s=10)
        kit = runtime.Kit(FastTime(START), None, None)
        assert kit.stall_ms == 90000
        kit.interval_ms = 10**9  # a fault: the loop turns, but no record ever falls due
        feeds = {}

        class Stop(Exception):
            pass

        def sleep_and_watch(ms, real=kit.tb.sleep_ms):
            real(ms)
            now = kit.tb.now_ms()
            feeds[now // 10000] = kit.wdt.feeds
            if now > 200000:
                raise Stop()

        kit.tb.sleep_ms = sleep_and_watch
        try:  # noqa: SIM105 - MicroPython has no contextlib
            kit.run()
        except Stop:
            pass
        assert feeds[5] > feeds[1]  # fed while records could still come
        assert feeds[19] == feeds[10]  # then left to starve: the ESP32 resets
    finally:
        drop_flash(flash)


def test_broker_reconnects_back_off_from_one_second_doubling_with_jitter():
    flash = fresh_flash()
    try:
        _setup(gateway_host="127.0.0.1", gateway_port=1)  # nothing listens on port 1
        waits = []
        kit = runtime.Kit(
            FastTime(START),
            None,
            lambda kind, info: (
                waits.append(info["retry_in"]) if kind == "broker_unreachable" else None
            ),
        )
        now = 0
        while len(waits) < 6:
            kit.link.step(now)
            now += 100
        for attempt, wait in enumerate(waits):
            base = 2**attempt
            assert base <= wait <= base * 1.25, (attempt, wait)
        assert kit.link.mqtt_up is False and kit.outbox.count == 0
    finally:
        drop_flash(flash)


def test_a_lost_network_opens_the_portal_after_the_timeout_and_closes_it_on_return():
    flash = fresh_flash()
    try:
        _setup(wifi_timeout_s=20, portal_minutes=1)
        events = []
        kit = runtime.Kit(FastTime(START), None, lambda kind, info: events.append(kind))
        link = kit.link
        link.step(0)  # starts connecting
        link.step(100)  # connected
        assert events[-2:] == ["wifi_up", "ntp_synced"] and link.portal is None, events
        del network.NETWORKS["home"]  # the router goes away
        now = 0
        while "portal_open" not in events and now < 60000:
            now += 500
            link.step(now)
        assert 20000 < now <= 21000, now  # after wifi_timeout_s, not before
        assert events[-2:] == ["wifi_failed", "portal_open"] and link.portal is not None
        assert "no connection" in link.last_error
        network.NETWORKS["home"] = "password1"  # back; tried again when the portal times out
        while "wifi_up" not in events[3:] and now < 200000:
            now += 500
            link.step(now)
        assert events.count("wifi_up") == 2 and link.portal is None
        assert "portal_closed" in events
    finally:
        network.NETWORKS["home"] = "password1"
        drop_flash(flash)
