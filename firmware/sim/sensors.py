"""Simulated sensors that follow the driver contract, for kits run without sensor fakes.

They take a bus like every driver (and ignore it), and their values wander like real ones
(a bounded random walk). Their models carry a '-sim' suffix so that simulated data is never
mistaken for measurements. ``register()`` adds them to the kit's sensor registry as types
``sim-pm`` and ``sim-climate``::

    from sim import sensors
    sensors.register()
    # config: "sensors": [{"type": "sim-pm"}, {"type": "sim-climate"}]

Kits run with ``sensors=drivers`` use the real drivers against simulated devices instead.
"""

import random

from kit import sensors as registry

# (quantity, start, step, low, high)
_PM = (
    ("pm1", 4.0, 0.6, 0.5, 80.0),
    ("pm25", 7.0, 1.0, 0.5, 150.0),
    ("pm10", 12.0, 1.5, 1.0, 250.0),
)
_CLIMATE = (
    ("temperature", 9.0, 0.2, -15.0, 38.0),
    ("humidity", 82.0, 0.8, 20.0, 100.0),
    ("pressure", 1013.0, 0.3, 960.0, 1050.0),
)


class _Walk:
    WARMUP_MS = 0
    WALKS = ()

    def __init__(self, bus=None, address=None):
        self.values = {}
        for name, start, step, _low, _high in self.WALKS:
            self.values[name] = start + (random.random() - 0.5) * 4 * step

    def start(self):
        pass

    def stop(self):
        pass

    def read(self):
        values = self.values
        for name, _start, step, low, high in self.WALKS:
            values[name] = min(high, max(low, values[name] + (random.random() - 0.5) * 2 * step))
        return values


class SimulatedPM(_Walk):
    MODEL = "SDS011-sim"
    QUANTITIES = ("pm1", "pm25", "pm10")
    WALKS = _PM

    def read(self):
        v = _Walk.read(self)
        # PM10 includes PM2.5, which includes PM1: keep the simulation physical.
        v["pm25"] = max(v["pm25"], v["pm1"])
        v["pm10"] = max(v["pm10"], v["pm25"])
        return v


class SimulatedClimate(_Walk):
    MODEL = "BME280-sim"
    QUANTITIES = ("temperature", "humidity", "pressure")
    WALKS = _CLIMATE


def register():
    registry.REGISTRY["sim-pm"] = ("sim.sensors", "SimulatedPM", "i2c", 0)
    registry.REGISTRY["sim-climate"] = ("sim.sensors", "SimulatedClimate", "i2c", 0)
