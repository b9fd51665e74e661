"""A fake `ntptime` for the unix port: the host clock is already UTC, so "syncing" only checks
whether the simulation lets NTP answer. Set ``FAIL`` to an error message to make every
``settime()`` fail as it does on a kit without Internet (records then carry ``"time": null``);
``FAILURES = N`` makes only the next N fail (an NTP server that answers late).
No packet leaves the machine: tests talk to nothing outside 127.0.0.0/8.
"""

host = "pool.ntp.org"
timeout = 1
FAIL = None
FAILURES = 0


def settime():
    global FAILURES
    if FAILURES > 0:
        FAILURES -= 1
        raise OSError("no answer from the NTP server (simulated)")
    if FAIL:
        raise OSError(FAIL)
