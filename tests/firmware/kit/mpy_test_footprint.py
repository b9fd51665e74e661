# MicroPython tests of what a kit loads: only what its configuration uses (docs/kit.md,
# "Memory budget"), and the receiving MQTT client that lives apart for kits with commands.
import sys

import loopback
import network

sys.modules["socket"] = loopback  # the MQTT peer in this process: no broker needed
from mpy_test_support import drop_flash, fresh_flash  # noqa: E402

from kit import config, runtime  # noqa: E402
from kit.timebase import FastTime  # noqa: E402

network.NETWORKS["home"] = "password1"
START = 1795820400
OPTIONAL = (
    "kit.portal",
    "kit.captive",
    "kit.config",
    "kit.mqtt_inbound",
    "noise.meter",
    "noise.dsp",
    "drivers.sds011",
    "drivers.pms5003",
    "drivers.bme280",
    "drivers.sps30",
    "drivers.scd4x",
    "drivers.dnms",
)


def _kit(sensors):
    import fake_uart

    from sim import devices_bus

    fake_uart.reset()
    devices_bus.prepare(sensors)
    config.save(
        {
            "node": "kit-fp",
            "wifi_ssid": "home",
            "wifi_password": "password1",
            "gateway_host": "127.0.0.1",
            "interval_s": 10,
            "sample_s": 5,
            "portal_dns": False,
            "sensors": sensors,
        }
    )
    for name in OPTIONAL:
        runtime.forget(name)
    return runtime.Kit(FastTime(START), None, None)


def test_a_kit_loads_its_configured_drivers_and_nothing_it_does_not_use():
    flash = fresh_flash()
    try:
        kit = _kit(
            [
                {"type": "sds011", "uart": 2, "rx": 16, "tx": 17},
                {"type": "bme280", "i2c": 0, "address": 0x76},
            ]
        )
        assert kit.run(cycles=3) == "done"
        assert kit.published >= 3, kit.published  # through the loopback peer
        loaded = [name for name in OPTIONAL if name in sys.modules]
        assert loaded == ["drivers.sds011", "drivers.bme280"], loaded
    finally:
        drop_flash(flash)


def test_the_noise_kit_loads_the_meter_and_an_i2s_buffer_of_128_ms():
    from noise.meter import i2s_buffer_bytes

    assert i2s_buffer_bytes(16000) == 8192  # was 20,000 bytes
    assert i2s_buffer_bytes(48000) == 24576
    flash = fresh_flash()
    try:
        kit = _kit([{"type": "noise", "i2s": 0}])
        assert kit.run(cycles=2) == "done"
        loaded = [name for name in OPTIONAL if name in sys.modules]
        assert loaded == ["noise.meter", "noise.dsp"], loaded
    finally:
        drop_flash(flash)


def test_the_inbound_client_subscribes_and_polls_without_blocking():
    from kit.mqtt_inbound import InboundClient

    got = []
    client = InboundClient("kit-in", "127.0.0.1")
    client.on_message = lambda topic, payload: got.append((topic, payload))
    client.connect()
    client.subscribe("lokaalmeten/kit-in/command", qos=1)
    client.check_msg()  # nothing waiting: returns at once
    client.publish("lokaalmeten/kit-in/readings", b"{}", qos=1)  # PUBACK still tracked
    client.disconnect()
    assert got == []
