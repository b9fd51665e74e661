# MicroPython tests of the measurement cycle's sampler (firmware/kit/sampler.py).
from mpy_test_support import ScriptedSensor

from drivers.errors import SensorError
from kit.sampler import Sampler
from kit.sensors import DUTY, INTERVAL

MPY_HEAP = "64k"


def _run(sampler, start, end, step_ms=1000):
    now = start
    while now < end:
        sampler.step(now, end)
        now += step_ms
    return sampler.finish(end)


def test_bad_samples_are_dropped_and_the_rest_averaged_without_extremes():
    sensor = ScriptedSensor(
        script=[
            {"pm25": 4.0, "temperature": 20.0},
            None,  # no valid data yet
            SensorError("TEST1: checksum"),
            {"pm25": float("nan"), "temperature": 21.0},
            {"pm25": 5000.0, "temperature": 22.0},  # out of the plausible range
            {"pm25": 6.0, "temperature": 150.0},
            {"pm25": 30.0, "temperature": 23.0},  # a spike: highest, left out
        ]
    )
    sampler = Sampler([({}, sensor, 0)], interval_ms=7000, sample_ms=1000)
    sampler.begin(0)
    values, models, flags = _run(sampler, 0, 7000)
    # pm25 samples 4, 6, 30 -> without lowest and highest: 6; temperature 20..23 -> 21.5
    assert values == {"pm25": 6.0, "temperature": 21.5}, values
    assert models == {"pm25": "TEST1", "temperature": "TEST1"}
    assert flags is None and sampler.errors == 1 and sampler.invalid == 3


def test_pm_sensor_runs_only_for_warm_up_and_sampling_before_each_record():
    pm = ScriptedSensor()
    sampler = Sampler(
        [({}, pm, DUTY)], interval_ms=145000, sample_ms=5000, pm_warmup_ms=30000, pm_sample_ms=10000
    )
    sampler.begin(0)
    assert pm.started == 0  # asleep at the start of a long interval
    now = 0
    while now < 145000:
        sampler.step(now, 145000)
        if now < 145000 - 40000:
            assert pm.started == 0, now
        now += 500
    assert pm.started == 1
    values, _models, _flags = sampler.finish(145000)
    assert pm.stopped == 1 and "pm25" in values
    # Read once a second, only in the 10 s after the 30 s warm-up.
    assert 9 <= pm.reads <= 11, pm.reads


def test_short_intervals_keep_the_pm_sensor_running():
    pm = ScriptedSensor()
    sampler = Sampler([({}, pm, DUTY)], interval_ms=10000, pm_warmup_ms=30000)
    sampler.begin(0)
    assert pm.started == 1
    sampler.finish(10000)
    assert pm.stopped == 0


def test_calibration_offsets_apply_to_the_average():
    sensor = ScriptedSensor(script=[{"pm25": 5.0, "temperature": 20.0}] * 3)
    sampler = Sampler(
        [({}, sensor, 0)], interval_ms=3000, sample_ms=1000, calibration={"temperature": -1.5}
    )
    sampler.begin(0)
    values, _m, _f = _run(sampler, 0, 3000)
    assert values == {"pm25": 5.0, "temperature": 18.5}, values


class Meter:
    MODEL = "TESTMIC"
    QUANTITIES = ("noise_laeq", "noise_lamax")
    WARMUP_MS = 0

    def __init__(self):
        self.polls = 0
        self.reads = 0
        self.clipped = False

    def start(self):
        pass

    def stop(self):
        pass

    def poll(self):
        self.polls += 1

    def read(self):
        self.reads += 1
        self.clipped = self.reads == 2
        return {"noise_laeq": 50.0 + self.reads, "noise_lamax": 70.0}


def test_interval_sensors_are_read_once_per_record_and_flag_clipping():
    meter = Meter()
    other = ScriptedSensor()
    sampler = Sampler([({}, other, 0), ({}, meter, INTERVAL)], interval_ms=5000, sample_ms=1000)
    sampler.begin(0)
    for _ in range(10):
        sampler.poll()
    values, models, flags = _run(sampler, 0, 5000)
    assert meter.reads == 1 and meter.polls == 10
    assert values["noise_laeq"] == 51.0 and models["noise_laeq"] == "TESTMIC" and flags is None
    _values, _models, flags = _run(sampler, 5000, 10000)
    assert flags == ["clipped"]


def test_the_first_sensor_in_the_table_owns_a_quantity():
    first = ScriptedSensor(script=[{"pm25": 1.0, "temperature": 10.0}])
    second = ScriptedSensor(script=[{"pm25": 9.0, "temperature": 30.0}])
    second.MODEL = "TEST2"
    sampler = Sampler([({}, first, 0), ({}, second, 0)], interval_ms=1000, sample_ms=1000)
    sampler.begin(0)
    values, models, _f = _run(sampler, 0, 1000)
    assert values == {"pm25": 1.0, "temperature": 10.0} and models["pm25"] == "TEST1"
