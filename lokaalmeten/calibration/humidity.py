"""The κ-Köhler humidity correction of optical PM readings, from the kit's own humidity.

Optical sensors (SDS011, SPS30, PMS5003) count particles as they are in the air; in humid air
hygroscopic particles carry water and read too heavy. Crilley et al. (2018, Atmos. Meas. Tech.
11, 709–720, doi:10.5194/amt-11-709-2018) correct the mass with κ-Köhler theory (Petters and
Kreidenweis 2007, Atmos. Chem. Phys. 7, 1961–1971), for water activity a_w = RH/100::

    PM_corrected = PM_raw / C,   C = 1 + (κ / 1.65) / (−1 + 1 / a_w)

(1.65 g/cm³ is the dry particle density of their derivation.) κ is the bulk hygroscopicity of
the aerosol; Petters and Kreidenweis report 0.1 < κ < 0.9 for atmospheric particulate matter,
and 0.4 is taken here as a middle value for mixed urban aerosol. It depends on composition and
season (Crilley et al. 2020, AMT 13, 1181: sulfate and nitrate raise it; Nurowska and Markowicz
2024, Atmosphere 15, 61, measured 0.04–0.13 in Warsaw), so it is a setting, and the
co-location fit (:mod:`.fit`) takes up what a wrong κ leaves::

    >>> round(corrected(20.0, 80.0, 0.4), 3)
    10.154
    >>> corrected(20.0, 96.0, 0.4) is None  # fog: mostly water, not correctable
    True

C grows without bound as RH approaches 100 %: at 95 % RH and above the reading is mostly
water and no κ recovers the dry mass, so the value is *not correctable* (None), never a guess.
"""

from __future__ import annotations

import math

METHOD = "kappa-koehler"
METHOD_VERSION = 1  # part of every fit's version: a changed formula makes new fits
REFERENCE = "Crilley et al. 2018, Atmos. Meas. Tech. 11, 709-720, doi:10.5194/amt-11-709-2018"
KAPPA_URBAN = 0.4
DRY_DENSITY = 1.65  # g/cm³, in the formula as Crilley et al. give it
MAX_HUMIDITY = 95.0  # % RH: at and above it the correction diverges; not correctable


def growth_factor(humidity: float, kappa: float = KAPPA_URBAN) -> float | None:
    """C at ``humidity`` % RH; None when RH is at or above :data:`MAX_HUMIDITY` or not a
    number. Dry air (RH <= 0) carries no water: C = 1."""
    if not math.isfinite(humidity) or humidity >= MAX_HUMIDITY:
        return None
    if humidity <= 0:
        return 1.0
    water_activity = humidity / 100
    return 1 + (kappa / DRY_DENSITY) / (-1 + 1 / water_activity)


def corrected(pm: float, humidity: float, kappa: float = KAPPA_URBAN) -> float | None:
    """The dry PM mass of a reading ``pm`` made at ``humidity`` % RH; None: not correctable."""
    factor = growth_factor(humidity, kappa)
    return None if factor is None else pm / factor
