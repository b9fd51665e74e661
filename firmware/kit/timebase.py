"""The runtime's sense of time: a monotonic millisecond count and the UTC clock.

``RealTime`` is the device: ``time.ticks_ms`` unwrapped into a count that keeps rising (the
ESP32's ticks wrap after about 12 days), UTC from the RTC that NTP sets. ``FastTime``
compresses time for simulation: sleeping advances a simulated clock instead of waiting, so
a kit runs many measurement intervals per second, each record exactly one interval after the
last (never two in one second). It starts in the past and never runs ahead of the real
clock, because a gateway refuses records from the future::

    tb = RealTime()
    start = tb.now_ms(); tb.sleep_ms(100)
    tb.unix()        # seconds since 1970, UTC; tb.synced says whether to trust it
    tb.unix_ms()     # the same in milliseconds (for dating records made before NTP)
"""

import time

from kit import clock


class RealTime:
    def __init__(self):
        self._last = time.ticks_ms()
        self._now = 0
        self.synced = False  # set by the runtime once NTP answered

    def now_ms(self):
        tick = time.ticks_ms()
        self._now += time.ticks_diff(tick, self._last)
        self._last = tick
        return self._now

    def sleep_ms(self, ms):
        if ms > 0:
            time.sleep_ms(ms)

    def unix(self):
        return clock.unix_time()

    def unix_ms(self):
        return clock.unix_ms()


class FastTime:
    def __init__(self, start_unix):
        self.start = start_unix
        self._now = 0
        self.synced = False  # as on a kit: set once (the fake) NTP answered

    def now_ms(self):
        return self._now

    def sleep_ms(self, ms):
        if ms > 0:
            self._now += ms
        ahead = self.unix() - clock.unix_time()
        if ahead > 0:
            time.sleep(ahead)  # caught up with real time: from here on, run at its pace

    def unix(self):
        return self.start + self._now // 1000

    def unix_ms(self):
        return self.start * 1000 + self._now
