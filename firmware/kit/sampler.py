"""The measurement cycle's sampler: warm-up, sampling, dropping bad samples, averaging.

The runtime calls ``step(now_ms, end_ms)`` from its main loop and ``finish(now_ms)`` at the
end of each interval::

    sampler = Sampler([(spec, driver, flags)], interval_ms=145000)   # from kit.sensors
    sampler.begin(now)
    sampler.step(now, end)            # often; reads sensors when due
    values, models, flags = sampler.finish(now)   # one record's worth, then a new interval

Fan-and-laser sensors (PM) run only for their warm-up plus a sampling window before each
record and sleep otherwise; when the interval is too short for that they run all the time.
Other sensors are read every ``sample_ms``. A sample is dropped when the driver has no valid
data yet (``None``), raises ``SensorError``, or gives a value that is not a number or lies
outside the quantity's plausible range; the rest are averaged (with more than two samples
the lowest and highest are left out, as airRohr does, to shed single-frame spikes).
Interval sensors (noise) average themselves and are read once, at ``finish``.
"""

from array import array

from micropython import const

from drivers.errors import SensorError
from kit.quantities import QUANTITIES
from kit.sensors import DUTY, INTERVAL

_PM_READ_MS = const(1000)  # PM sensors send a frame a second while sampling
_RETRY_MS = const(10000)  # after a failed start()


class Sampler:
    def __init__(
        self,
        entries,
        interval_ms,
        sample_ms=5000,
        pm_warmup_ms=30000,
        pm_sample_ms=10000,
        calibration=None,
    ):
        self.entries = entries  # (spec, driver, flags)
        self.calibration = calibration or {}
        self.sample_ms = sample_ms
        self.pm_lead_ms = pm_warmup_ms + pm_sample_ms
        self.pm_warmup_ms = pm_warmup_ms
        # Duty-cycle only when the sensor would be asleep for a good part of the interval.
        self.duty_cycling = interval_ms >= 2 * self.pm_lead_ms
        self.errors = 0  # SensorError raised by a driver
        self.invalid = 0  # samples dropped as implausible
        self.last_error = None
        self.latest = {}  # the last record's values, for the portal
        count = len(entries)
        self.on = [False] * count
        self.on_at = [0] * count
        self.next_read = [0] * count
        self.warmup = [0] * count
        # One slot per quantity, owned by the first sensor in the table that delivers it.
        self.slots = []  # (quantity, entry index)
        owned = {}
        for index, (_spec, driver, flags) in enumerate(entries):
            warmup = driver.WARMUP_MS
            if flags & DUTY and warmup < pm_warmup_ms:
                warmup = pm_warmup_ms
            self.warmup[index] = warmup
            for quantity in driver.QUANTITIES:
                if quantity not in owned:
                    owned[quantity] = index
                    self.slots.append((quantity, index))
        self.owner = owned
        slots = len(self.slots)
        # Accumulators made once; filling an array does not allocate per sample.
        self.sums = array("d", bytes(8 * slots))
        self.lows = array("d", bytes(8 * slots))
        self.highs = array("d", bytes(8 * slots))
        self.counts = array("I", bytes(4 * slots))
        self.slot_of = {}
        for slot, (quantity, _index) in enumerate(self.slots):
            self.slot_of[quantity] = slot

    def begin(self, now):
        for index, (_spec, _driver, flags) in enumerate(self.entries):
            if not (flags & DUTY and self.duty_cycling):
                self._start(index, now)

    def _start(self, index, now):
        driver = self.entries[index][1]
        try:
            driver.start()
        except SensorError as exc:
            self._error(exc)
            self.next_read[index] = now + _RETRY_MS
            return
        self.on[index] = True
        self.on_at[index] = now
        self.next_read[index] = now

    def _error(self, exc):
        self.errors += 1
        self.last_error = str(exc)

    def poll(self):
        """Let interval sensors process what arrived (audio); call it as often as possible."""
        for _spec, driver, flags in self.entries:
            if flags & INTERVAL and hasattr(driver, "poll"):
                try:
                    driver.poll()
                except SensorError as exc:
                    self._error(exc)

    def step(self, now, end):
        """Start PM sensors in time for the record at ``end``; read sensors that are due."""
        for index in range(len(self.entries)):
            flags = self.entries[index][2]
            if flags & INTERVAL:
                continue
            if not self.on[index]:
                duty = flags & DUTY and self.duty_cycling
                if now >= self.next_read[index] and (not duty or now >= end - self.pm_lead_ms):
                    self._start(index, now)
                continue
            if now < self.next_read[index] or now - self.on_at[index] < self.warmup[index]:
                continue
            # Phase-locked to the schedule, so that a late turn of the loop does not push
            # every later sample (and one day a whole interval's samples) back.
            due = self.next_read[index] + (_PM_READ_MS if flags & DUTY else self.sample_ms)
            self.next_read[index] = due if due > now else now + 1
            self._read(index)

    def next_due(self, end):
        """The earliest time ``step`` has something to do (for the main loop's sleep)."""
        due = end
        for index in range(len(self.entries)):
            flags = self.entries[index][2]
            if flags & INTERVAL:
                continue
            if self.on[index]:
                at = max(self.next_read[index], self.on_at[index] + self.warmup[index])
            elif flags & DUTY and self.duty_cycling:
                at = max(end - self.pm_lead_ms, self.next_read[index])
            else:
                at = self.next_read[index]
            if at < due:
                due = at
        return due

    def _read(self, index):
        driver = self.entries[index][1]
        try:
            sample = driver.read()
        except SensorError as exc:
            self._error(exc)
            return
        if not sample:
            return
        owned = self.owner
        for quantity, value in sample.items():
            if owned.get(quantity) != index:
                continue  # another sensor in the table delivers this quantity
            if not self._plausible(quantity, value):
                continue
            slot = self.slot_of[quantity]
            n = self.counts[slot]
            if n == 0 or value < self.lows[slot]:
                self.lows[slot] = value
            if n == 0 or value > self.highs[slot]:
                self.highs[slot] = value
            self.sums[slot] += value
            self.counts[slot] = n + 1

    def _plausible(self, quantity, value):
        limits = QUANTITIES.get(quantity)
        # value != value is NaN; the range test also catches the infinities.
        if limits is None or value != value or not limits[0] <= value <= limits[1]:
            self.invalid += 1
            return False
        return True

    def finish(self, now):
        """Close the interval: ``(values, models, flags)`` and reset for the next one."""
        values = {}
        models = {}
        flags = None
        for slot, (quantity, index) in enumerate(self.slots):
            if self.entries[index][2] & INTERVAL:
                continue
            n = self.counts[slot]
            if n:
                total = self.sums[slot]
                if n > 2:
                    total -= self.lows[slot] + self.highs[slot]
                    n -= 2
                values[quantity] = total / n
                models[quantity] = self.entries[index][1].MODEL
            self.sums[slot] = 0.0
            self.counts[slot] = 0
        for index, (_spec, driver, kind) in enumerate(self.entries):
            if kind & INTERVAL:
                try:
                    sample = driver.read()
                except SensorError as exc:
                    self._error(exc)
                    sample = None
                if sample:
                    for quantity, value in sample.items():
                        if self.owner.get(quantity) == index and self._plausible(quantity, value):
                            values[quantity] = value
                            models[quantity] = driver.MODEL
                if getattr(driver, "clipped", False):
                    flags = ["clipped"]
            elif kind & DUTY and self.duty_cycling and self.on[index]:
                try:
                    driver.stop()  # fan and laser off until the next warm-up
                except SensorError as exc:
                    self._error(exc)
                self.on[index] = False
        for quantity, offset in self.calibration.items():
            if quantity in values:
                corrected = values[quantity] + offset
                if self._plausible(quantity, corrected):
                    values[quantity] = corrected
                else:
                    del values[quantity]
                    del models[quantity]
        self.latest = values
        return values, models, flags
