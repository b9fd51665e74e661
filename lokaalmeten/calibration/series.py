"""Raw, humidity-corrected and calibrated hourly PM of one kit, side by side, as served::

    hours = corrected_series(store, "kit-1", "pm25", start, end, threshold=19, kappa=0.4, fit=fit)

Computed from the store's hourly aggregates on every request; nothing is written anywhere.
With a fit, the correction uses the fit's κ, so that every hour's ``calibrated`` is
``slope · corrected + offset`` as the response states it.
"""

from __future__ import annotations

from dataclasses import dataclass

from lokaalmeten.calibration.book import Fit
from lokaalmeten.calibration.humidity import corrected
from lokaalmeten.store import AggregateQuery, Store


@dataclass(frozen=True, slots=True)
class CorrectedHour:
    start: int
    raw: float  # the kit's hourly mean as measured
    count: int
    valid: bool  # the hour has >= 75 % of its expected readings
    humidity: float | None  # the kit's hourly mean RH; None: no valid humidity hour
    corrected: float | None  # None: no humidity, or >= 95 % RH (not correctable)
    calibrated: float | None  # None: no fit, or not corrected

    @property
    def correctable(self) -> bool:
        return self.corrected is not None


def corrected_series(
    store: Store,
    node: str,
    quantity: str,
    start: int,
    end: int,
    threshold: int,
    kappa: float,
    fit: Fit | None,
) -> list[CorrectedHour]:
    windows = store.aggregates(
        AggregateQuery(start, end, 3600, (node,), (quantity, "humidity"), threshold)
    )
    humidity = {
        w.start: w.value
        for w in windows
        if w.quantity == "humidity" and w.valid_hours and w.value is not None
    }
    used_kappa = kappa if fit is None else fit.kappa
    hours = []
    for window in windows:
        # An hour whose readings were all left out for their flags has no mean to correct.
        if window.quantity != quantity or window.value is None:
            continue
        rh = humidity.get(window.start)
        dry = None if rh is None else corrected(window.value, rh, used_kappa)
        hours.append(
            CorrectedHour(
                window.start,
                window.value,
                window.readings,
                window.valid_hours >= 1,
                rh,
                dry,
                None if dry is None or fit is None else fit.apply(dry),
            )
        )
    return hours
