"""The gateway's waits end when it is asked to stop, whenever the signal lands."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.gateway.mqtt_ingest import MqttIngest
from lokaalmeten.settings import GatewaySettings
from lokaalmeten.shutdown import Shutdown

# A handler that runs past the time take() had left: CPython 3.11's SimpleQueue.get(timeout)
# then waited without a timeout, until the next message (a gateway stayed up 3 minutes
# after its SIGTERM). In a child process, so that a hang is a failure and not a stuck run.
_SLOW_HANDLER_DURING_TAKE = """
import signal, time
from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.gateway.mqtt_ingest import MqttIngest
from lokaalmeten.settings import GatewaySettings
ingest = MqttIngest(GatewaySettings(broker="mqtt://127.0.0.1:1"), GatewayMetrics())
signal.signal(signal.SIGALRM, lambda signum, frame: time.sleep(0.1))
signal.setitimer(signal.ITIMER_REAL, 0.02)
started = time.monotonic()
ingest.take(10, 0.05)
print(time.monotonic() - started)
"""


def test_take_keeps_its_timeout_when_a_signal_handler_outlasts_it() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SLOW_HANDLER_DURING_TAKE],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 1


def test_a_stop_request_ends_a_long_take_at_once() -> None:
    ingest = MqttIngest(GatewaySettings(broker="mqtt://127.0.0.1:1"), GatewayMetrics())
    shutdown = Shutdown()
    threading.Timer(0.1, shutdown.request).start()
    started = time.monotonic()
    assert ingest.take(10, 30, shutdown) == []
    assert time.monotonic() - started < 1
