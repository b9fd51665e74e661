"""UTC time for records, in Unix seconds, whatever epoch the port counts from.

The protocol counts from 1970; some MicroPython ports count from 2000. A clock that reads
before 2020 has not been set (by NTP) since boot, and its time must not be published::

    from kit import clock
    clock.unix_time()       # 1764324000
    clock.iso_utc(1764324000)   # '2025-11-28T10:00:00Z'
"""

import time

_EPOCH_OFFSET = 0 if time.gmtime(0)[0] == 1970 else 946684800
_SYNCED_AFTER = 1577836800  # 2020-01-01


def unix_time():
    return int(time.time()) + _EPOCH_OFFSET


def unix_ms():
    # time_ns on every port we support (MicroPython 1.23+); the RTC NTP sets is whole seconds
    # anyway, so milliseconds here only keep a sync from adding a rounding of its own.
    return time.time_ns() // 1000000 + _EPOCH_OFFSET * 1000


def synced():
    return unix_time() > _SYNCED_AFTER


def iso_utc(unix_seconds):
    t = time.gmtime(unix_seconds - _EPOCH_OFFSET)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (t[0], t[1], t[2], t[3], t[4], t[5])
