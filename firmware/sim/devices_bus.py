"""Simulated devices behind the fake buses, for kits run with ``sensors=drivers``.

``prepare(table)`` puts one simulated device per configured sensor on its fake bus (UART,
I2C at the sensor's address, I2S): they answer the real drivers with real frames. Their
readings wander a little each time ``wander()`` is called (once per record), so charts of
a simulated kit look alive. The kit then opens its buses as on the ESP32, through
``machine`` (the fake one)::

    from sim import devices_bus
    devices_bus.prepare(conf["sensors"])
    kit = Kit(make_bus=sensors.machine_bus)
"""

import random

import fake_i2c
import fake_uart

_devices = []


def _walk(value, step, low, high):
    return min(high, max(low, value + (random.random() - 0.5) * 2 * step))


class _Wandering:
    """Current values of one device and how to push them into it."""

    def __init__(self, device, kind):
        self.device = device
        self.kind = kind
        self.pm = 7.0
        self.t = 12.0
        self.rh = 70.0
        self.co2 = 620.0
        self.laeq = 48.0

    def wander(self):
        self.pm = _walk(self.pm, 0.8, 1.0, 120.0)
        self.t = _walk(self.t, 0.2, -10.0, 35.0)
        self.rh = _walk(self.rh, 0.8, 20.0, 99.0)
        self.co2 = _walk(self.co2, 8.0, 400.0, 2000.0)
        self.laeq = _walk(self.laeq, 1.0, 35.0, 80.0)
        d = self.device
        kind = self.kind
        pm = self.pm
        if kind == "sds011":
            d.set(pm, pm * 1.6)
        elif kind == "pms5003":
            d.set(int(pm * 0.6), int(pm), int(pm * 1.6))
        elif kind == "sps30":
            d.set(pm * 0.6, pm, pm * 1.3, pm * 1.6)
        elif kind in ("sht3x", "sht4x"):
            d.set(self.t, self.rh)
        elif kind in ("scd30", "scd4x"):
            d.set(int(self.co2), self.t, self.rh)
        elif kind == "dnms":
            d.set(self.laeq, self.laeq - 6.0, self.laeq + 12.0)
        elif kind == "bme280":
            # Raw ADC counts around the datasheet's example (about 25 °C, 1006 hPa).
            d.set_raw(
                int(_walk(d.adc_t, 300, 500000, 540000)),
                int(_walk(d.adc_p, 300, 400000, 430000)),
                int(_walk(d.adc_h, 100, 25000, 35000)),
            )


def prepare(table):
    import fake_sensirion
    from fake_bme280 import FakeBME280
    from fake_pm_uart import FakePMS5003, FakeSDS011

    makers = {
        "sds011": FakeSDS011,
        "pms5003": FakePMS5003,
        "sps30": fake_sensirion.FakeSPS30,
        "sht3x": fake_sensirion.FakeSHT3x,
        "sht4x": fake_sensirion.FakeSHT4x,
        "scd30": fake_sensirion.FakeSCD30,
        "scd4x": fake_sensirion.FakeSCD4x,
        "dnms": fake_sensirion.FakeDNMS,
    }
    for spec in table:
        kind = spec["type"]
        if kind == "noise":
            # Quiet street noise, loaded now rather than at the first read, so that the
            # sound generator is counted with the fakes and not with the kit.
            import fake_audio
            import fake_i2s

            rate = spec.get("rate", 16000)
            fake_i2s.attach(spec.get("i2s", 0), fake_audio.Signal(rate).noise(None, -75.0))
            continue
        if kind == "bme280":
            device = FakeBME280(address=spec.get("address", 0x76))
        elif "address" in spec:
            device = makers[kind](address=spec["address"])
        else:
            device = makers[kind]()
        if hasattr(device, "log_commands"):
            device.log_commands = False  # the command log would grow for ever
        if "uart" in spec:
            fake_uart.connect(spec["uart"], device)
        else:
            fake_i2c.connect(spec["i2c"], device)
        wandering = _Wandering(device, kind)
        wandering.wander()
        _devices.append(wandering)


def wander():
    for wandering in _devices:
        wandering.wander()
