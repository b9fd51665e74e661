# No tests here: helpers shared by the kit runtime's MicroPython tests (a fresh "flash" folder
# per test, a tiny sensor class that follows the driver contract). Named mpy_test_* so that
# CPython tools (mypy) leave this MicroPython code alone.
import os
import time

from drivers.errors import SensorError


def _rmtree(path):
    for entry in os.ilistdir(path):
        name = path + "/" + entry[0]
        if entry[1] == 0x4000:
            _rmtree(name)
        else:
            os.remove(name)
    os.rmdir(path)


_home = os.getcwd()


def fresh_flash():
    """chdir into a new empty folder under /tmp, as the kit's flash; returns its path."""
    os.chdir(_home)
    path = "/tmp/lm-kit-" + "".join(f"{b:02x}" for b in os.urandom(6))
    os.mkdir(path)
    os.chdir(path)
    return path


def drop_flash(path):
    os.chdir(_home)
    _rmtree(path)


class ScriptedSensor:
    """Answers read() from a script: a dict, None (no data yet), or an exception to raise."""

    MODEL = "TEST1"
    QUANTITIES = ("pm25", "temperature")
    WARMUP_MS = 0

    def __init__(self, bus=None, address=None, script=None):
        self.script = list(script or [])
        self.started = 0
        self.stopped = 0
        self.reads = 0

    def start(self):
        self.started += 1

    def stop(self):
        self.stopped += 1

    def read(self):
        self.reads += 1
        item = self.script.pop(0) if self.script else {"pm25": 5.0, "temperature": 20.0}
        if isinstance(item, Exception):
            raise item
        return item


class BrokenSensor(ScriptedSensor):
    MODEL = "BROKEN"
    QUANTITIES = ("co2",)

    def read(self):
        raise SensorError("TEST1: no answer (simulated)")


class ListeningSensor(ScriptedSensor):
    """An interval sensor that must be polled often, as the noise meter's I2S buffer is."""

    MODEL = "TESTMIC"
    QUANTITIES = ("noise_laeq",)

    def poll(self):
        pass

    def read(self):
        return {"noise_laeq": 45.0}


class SlowClient:
    """An MQTT client on a slow Wi-Fi link: each QoS 1 publish waits ``ms`` for its PUBACK."""

    def __init__(self, ms):
        self.ms = ms
        self.sent = []

    def publish(self, topic, payload, retain=False, qos=0):
        time.sleep_ms(self.ms)
        if not retain:  # a record (the retained status is not counted)
            self.sent.append(payload)

    def ping(self):
        pass
