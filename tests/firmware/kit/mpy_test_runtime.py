# MicroPython tests of the kit runtime (firmware/kit/runtime.py) without a broker: the cycle
# into the outbox, time stamps, the crash-loop guard and the watchdog.
import json
import os

import network
import ntptime
from mpy_test_support import SlowClient, drop_flash, fresh_flash

from kit import config, runtime, sensors, status
from kit.outbox import Outbox
from kit.timebase import FastTime

sensors.REGISTRY["test"] = ("mpy_test_support", "ScriptedSensor", "i2c", 0)
sensors.REGISTRY["broken"] = ("mpy_test_support", "BrokenSensor", "i2c", 0)
sensors.REGISTRY["listening"] = ("mpy_test_support", "ListeningSensor", "i2c", sensors.INTERVAL)
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
        # Every record says how long after the start it was made (the gateway's warm-up rule).
        assert [d["uptime"] for d in docs] == [[1, 60000 * i] for i in range(1, 6)], docs
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


def test_records_made_before_ntp_answered_are_dated_from_the_uptime_clock():
    flash = fresh_flash()
    ntptime.FAIL = "timed out"
    try:
        _setup()
        kit = runtime.Kit(FastTime(START), None, None)
        kit.run(cycles=3)  # NTP never answers during these three records
        box = Outbox("outbox")
        undated = []
        while box.peek():
            assert box.find(b'"time": null') > 0
            undated.append(bytes(box.peek()[1]))
            box.ack()
        docs = [json.loads(p) for p in undated]
        assert [d["time"] for d in docs] == [None, None, None]
        assert [d["uptime"] for d in docs] == [[1, 60000], [1, 120000], [1, 180000]]
        assert all(d["flags"] == ["clock_unsynced"] for d in docs)
        # Not datable yet: each goes with its age, for the gateway to date it.
        aged = [json.loads(kit.backdate(p)) for p in undated]
        assert [d["time"] for d in aged] == [None, None, None]
        now = kit.tb.now_ms()
        assert [d["age_ms"] for d in aged] == [now - 60000, now - 120000, now - 180000]
        ntptime.FAIL = None
        kit.link.step(kit.link.next_ntp)  # NTP answers at its next try
        assert kit.tb.synced
        dated = [json.loads(kit.backdate(p)) for p in undated]
        assert [d["time"] for d in dated] == [
            "2026-11-27T23:01:00Z",
            "2026-11-27T23:02:00Z",
            "2026-11-27T23:03:00Z",
        ], dated
        assert all(d["flags"] == ["clock_unsynced"] for d in dated)  # the flag is kept
        # The next boot dates what this one left in the outbox (clock.txt), not what a boot
        # that never reached NTP made.
        later = runtime.Kit(FastTime(START + 3600), None, None)
        assert json.loads(later.backdate(undated[0]))["time"] == "2026-11-27T23:01:00Z"
        stranger = undated[0].replace(b'"uptime": [1,', b'"uptime": [99,')
        assert json.loads(later.backdate(stranger))["time"] is None
        assert "age_ms" not in json.loads(later.backdate(stranger))  # not of this boot
    finally:
        ntptime.FAIL = None
        drop_flash(flash)


def _backlog_sent_in_one_turn(sensor, publish_ms):
    _setup(sensors=[{"type": sensor}])
    kit = runtime.Kit(FastTime(START), None, None)
    kit.run(cycles=30)  # no gateway yet: thirty records wait in the outbox
    kit.conf["gateway_host"] = "gateway.local"
    kit.link.client = SlowClient(publish_ms)
    kit.link.mqtt_up = True
    kit.link.step(kit.tb.now_ms())
    return len(kit.link.client.sent)


def test_a_kit_with_a_microphone_sends_a_backlog_in_short_turns():
    flash = fresh_flash()
    try:
        # PUBACKs 25 ms away: a turn of 20 records would hold the loop 0.5 s, four times the
        # I2S buffer. A kit with a microphone stops sending after 60 ms and polls it.
        sent = _backlog_sent_in_one_turn("listening", 25)
        assert 1 <= sent <= 3, sent
        drop_flash(flash)
        flash = fresh_flash()
        sent = _backlog_sent_in_one_turn("test", 25)
        assert sent == 20, sent  # no audio: the whole batch
    finally:
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
            kit = runtime.Kit(FastTime(START), None, None)  # each boot crashes right away
            assert not kit.safe_mode
            runtime.record_crash(ValueError("bad sensor table"))
        kit = runtime.Kit(FastTime(START), None, None)
        assert kit.safe_mode and kit.sampler.entries == []
        assert status.counters(kit)["safe_mode"] is True
        assert "ValueError: bad sensor table" in status.problems(kit)[-1]
        kit.link.step(kit.tb.now_ms())
        assert kit.link.portal is not None  # the portal opens so a citizen can fix things
        kit.link.close()
    finally:
        drop_flash(flash)


def test_stops_by_a_person_never_count_towards_safe_mode():
    import machine

    flash = fresh_flash()
    try:
        _setup()
        # Unplugged (power-on next), stopped at the REPL with Ctrl-C, or a deliberate
        # restart, ten times in a row and each before the kit was healthy: no fault.
        for boot in range(10):
            kit = runtime.Kit(FastTime(START), None, None)
            assert not kit.safe_mode and kit.crashes == 0, (boot, kit.crashes)
            if boot % 2 == 0:
                runtime.note_stop()  # main.py on KeyboardInterrupt ...
                machine._reset_cause = machine.HARD_RESET  # ... then mpremote reset
            else:
                machine._reset_cause = machine.PWRON_RESET  # unplugged
        assert kit.boot == 10
    finally:
        machine._reset_cause = machine.PWRON_RESET
        drop_flash(flash)


def test_watchdog_resets_and_silent_resets_before_healthy_are_faults():
    import machine

    flash = fresh_flash()
    try:
        _setup()
        for cause in (machine.WDT_RESET, machine.HARD_RESET, machine.WDT_RESET):
            runtime.Kit(FastTime(START), None, None)  # hangs or panics: no word left
            machine._reset_cause = cause
        kit = runtime.Kit(FastTime(START), None, None)
        assert kit.safe_mode and kit.crashes == 3
        # A person unplugging it now neither adds nor forgets a fault.
        machine._reset_cause = machine.PWRON_RESET
        assert runtime.Kit(FastTime(START), None, None).crashes == 3
    finally:
        machine._reset_cause = machine.PWRON_RESET
        drop_flash(flash)


def test_a_crash_after_the_kit_was_healthy_does_not_count():
    flash = fresh_flash()
    try:
        _setup()
        runtime.Kit(FastTime(START), None, None).run(cycles=3)
        runtime.record_crash(OSError("later"))
        assert runtime.Kit(FastTime(START), None, None).crashes == 0
    finally:
        drop_flash(flash)


def test_a_healthy_run_clears_the_boot_counter():
    flash = fresh_flash()
    try:
        _setup()
        with open(runtime.BOOT_FILE, "w") as f:
            f.write("1 crash 7\n")
        kit = runtime.Kit(FastTime(START), None, None)
        assert not kit.safe_mode and kit.crashes == 2 and kit.boot == 8
        kit.run(cycles=3)
        with open(runtime.BOOT_FILE) as f:
            assert f.read().split()[:2] == ["0", "ok"]
        # Older firmware's counter (boots not yet healthy, the last included): the last
        # one's end is told by the reset cause, here power-on.
        with open(runtime.BOOT_FILE, "w") as f:
            f.write("2\n")
        assert runtime.Kit(FastTime(START), None, None).crashes == 1
    finally:
        drop_flash(flash)


def test_safe_mode_survives_a_portal_that_cannot_open():
    flash = fresh_flash()
    try:
        _setup()
        for _ in range(3):
            runtime.Kit(FastTime(START), None, None)
            runtime.record_crash(ValueError("x"))
        import socket

        taken = socket.socket()
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(20):  # a random port may be someone else's: take another
            port = _portal_port()
            try:
                taken.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
                break
            except OSError:
                pass
        taken.listen(1)
        config.save(dict(config.load()[0], portal_port=port))
        events = []
        kit = runtime.Kit(FastTime(START), None, lambda kind, info: events.append(kind))
        assert kit.safe_mode
        for now in range(0, 3000, 100):
            kit.link.step(now)  # must not raise: the outbox is still sent in safe mode
        assert "portal_failed" in events and kit.link.portal is None
        assert "portal" in kit.link.last_error
        taken.close()
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
