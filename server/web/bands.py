"""Legend bands the map colours the kits by: one scale per quantity, each with its source.

PM2.5 and PM10 follow the European Air Quality Index, 2024 revision (hourly concentrations);
noise follows the reporting bands of the EU noise maps (Directive 2002/49/EC, Annex VI).
Bands are half-open, ``lower <= value < upper``; the last has no upper bound::

    >>> band_of(SCALES["pm25"], 12.0).key
    'fair'
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


@dataclass(frozen=True)
class Scale:
    quantity: str
    source: str  # text key of the source note
    guideline: str | None  # text key of the guideline note, when one is stated
    bands: tuple[Band, ...]


def _eaqi(limits: tuple[float, float, float, float, float]) -> tuple[Band, ...]:
    # Colours of the EEA's index viewer; the ink is chosen per fill for contrast.
    styles = (
        ("good", "#50f0e6", "#000000"),
        ("fair", "#50ccaa", "#000000"),
        ("moderate", "#f0e641", "#000000"),
        ("poor", "#ff5050", "#000000"),
        ("very_poor", "#960032", "#ffffff"),
        ("extremely_poor", "#7d2181", "#ffffff"),
    )
    edges = (0.0, *limits, None)
    return tuple(
        Band(f"band_{key}", float(edges[i] or 0.0), edges[i + 1], colour, ink)
        for i, (key, colour, ink) in enumerate(styles)
    )


_NOISE = (
    Band("band_noise_quiet", 0.0, 55.0, "#2e7d32", "#ffffff"),
    Band("band_noise_55", 55.0, 60.0, "#9ccc65", "#000000"),
    Band("band_noise_60", 60.0, 65.0, "#fdd835", "#000000"),
    Band("band_noise_65", 65.0, 70.0, "#fb8c00", "#000000"),
    Band("band_noise_70", 70.0, 75.0, "#e53935", "#000000"),
    Band("band_noise_75", 75.0, None, "#6a1b9a", "#ffffff"),
)

SCALES: dict[str, Scale] = {
    "pm25": Scale("pm25", "source_eaqi", "guideline_who_pm25", _eaqi((5, 15, 50, 90, 140))),
    "pm10": Scale("pm10", "source_eaqi", "guideline_who_pm10", _eaqi((15, 45, 120, 195, 270))),
    "noise_laeq": Scale("noise_laeq", "source_noise", "guideline_who_noise", _NOISE),
}


def band_of(scale: Scale, value: float) -> Band:
    """The band a value falls in (values below the first band count as the first)."""
    for band in scale.bands:
        if band.upper is None or value < band.upper:
            return band
    return scale.bands[-1]


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
                {"key": b.key, "lower": b.lower, "upper": b.upper, "colour": b.colour, "ink": b.ink}
                for b in s.bands
            ],
        }
        for s in SCALES.values()
    ]
