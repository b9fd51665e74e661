"""Legend bands the map colours the kits by: one scale per quantity, each with its source.

PM2.5 and PM10 follow the European Air Quality Index, 2024 revision (hourly concentrations);
noise follows the reporting bands of the EU noise maps (Directive 2002/49/EC, Annex VI).
Bands are half-open, ``lower <= value < upper``; the last has no upper bound::

    >>> band_of(SCALES["pm25"], 12.0).key
    'band_fair'

Every band has one plain sentence for a resident (its ``says`` text), relating it to the WHO
2021 air-quality guidelines and the EEA's health advice, or for noise to the WHO guidelines;
the map's legend and the kit page's latest values show it.
"""

from __future__ import annotations

from dataclasses import dataclass

from lokaalmeten.protocol.quantities import QUANTITIES


@dataclass(frozen=True)
class Band:
    key: str  # text key of the band's name in the page's texts (i18n)
    lower: float
    upper: float | None
    colour: str  # fill of the marker and the legend swatch
    ink: str  # text colour on that fill (contrast at least 4.5:1)
    says: str  # text key of one plain sentence on what the band means, with its source


@dataclass(frozen=True)
class Scale:
    quantity: str
    source: str  # text key of the source note
    guideline: str | None  # text key of the guideline note, when one is stated
    bands: tuple[Band, ...]


# One ramp for every scale, light to dark and cool to warm: the EEA's own colours put "good"
# and "fair" in two near-identical cyans, and its red and purple merge for a red-blind eye.
# These six stay apart at a glance under protanopia, deuteranopia and tritanopia as well
# (tests/web/test_band_colours.py simulates each); from "moderate" on, each is darker.
_STEPS = (
    ("#b7e4f9", "#000000"),
    ("#4fae9a", "#000000"),
    ("#f5d742", "#000000"),
    ("#e36f25", "#000000"),
    ("#a81e3c", "#ffffff"),
    ("#4e1758", "#ffffff"),
)


def _bands(keys: tuple[str, ...], lower_edges: tuple[float, ...], says: str) -> tuple[Band, ...]:
    edges = (0.0, *lower_edges, None)
    return tuple(
        Band(key, float(edges[i] or 0.0), edges[i + 1], colour, ink, f"{says}_{i}")
        for i, (key, (colour, ink)) in enumerate(zip(keys, _STEPS, strict=True))
    )


_EAQI = (
    "band_good",
    "band_fair",
    "band_moderate",
    "band_poor",
    "band_very_poor",
    "band_extremely_poor",
)
_NOISE = (
    "band_noise_quiet",
    "band_noise_55",
    "band_noise_60",
    "band_noise_65",
    "band_noise_70",
    "band_noise_75",
)

SCALES: dict[str, Scale] = {
    "pm25": Scale(
        "pm25",
        "source_eaqi",
        "guideline_who_pm25",
        _bands(_EAQI, (5, 15, 50, 90, 140), "says_pm25"),
    ),
    "pm10": Scale(
        "pm10",
        "source_eaqi",
        "guideline_who_pm10",
        _bands(_EAQI, (15, 45, 120, 195, 270), "says_pm10"),
    ),
    "noise_laeq": Scale(
        "noise_laeq",
        "source_noise",
        "guideline_who_noise",
        _bands(_NOISE, (55, 60, 65, 70, 75), "says_noise"),
    ),
}


def band_of(scale: Scale, value: float) -> Band:
    """The band a value falls in (values below the first band count as the first)."""
    for band in scale.bands:
        if band.upper is None or value < band.upper:
            return band
    return scale.bands[-1]


def scale_keys(scale: Scale) -> list[str]:
    """The text keys a scale's legend shows: its notes, and each band's name and sentence."""
    notes = [scale.source, *([scale.guideline] if scale.guideline else [])]
    return notes + [key for band in scale.bands for key in (band.key, band.says)]


def scales_json() -> list[dict[str, object]]:
    """The scales as the page's script reads them, each with its quantity's unit from the
    quantity table (the script writes no unit of its own)."""
    return [
        {
            "quantity": s.quantity,
            "unit": QUANTITIES[s.quantity].unit,
            "source": s.source,
            "guideline": s.guideline,
            "bands": [
                {
                    "key": b.key,
                    "lower": b.lower,
                    "upper": b.upper,
                    "colour": b.colour,
                    "ink": b.ink,
                    "says": b.says,
                }
                for b in s.bands
            ],
        }
        for s in SCALES.values()
    ]
