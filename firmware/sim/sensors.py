"""Simulated air-quality readings for kits run under the unix port (demo, load tests).

Values wander like real ones (a bounded random walk), so charts look plausible; the sensor
models carry a '-sim' suffix so that simulated data is never mistaken for measurements.
"""

import random

# (quantity, start, step, low, high, sensor model)
_WALKS = (
    ("pm1", 4.0, 0.6, 0.5, 80.0, "SPS30-sim"),
    ("pm25", 7.0, 1.0, 0.5, 150.0, "SDS011-sim"),
    ("pm10", 12.0, 1.5, 1.0, 250.0, "SDS011-sim"),
    ("temperature", 9.0, 0.2, -15.0, 38.0, "BME280-sim"),
    ("humidity", 82.0, 0.8, 20.0, 100.0, "BME280-sim"),
    ("pressure", 1013.0, 0.3, 960.0, 1050.0, "BME280-sim"),
)


class SimulatedAirKit:
    def __init__(self, seed):
        random.seed(seed)
        self.values = {}
        self.sensors = {}
        for name, start, step, low, high, model in _WALKS:
            self.values[name] = start + (random.random() - 0.5) * 4 * step
            self.sensors[name] = model

    def read(self):
        for name, _start, step, low, high, _model in _WALKS:
            value = self.values[name] + (random.random() - 0.5) * 2 * step
            self.values[name] = min(high, max(low, value))
        # PM10 includes PM2.5, which includes PM1: keep the simulation physical.
        v = self.values
        v["pm25"] = max(v["pm25"], v["pm1"])
        v["pm10"] = max(v["pm10"], v["pm25"])
        return v
