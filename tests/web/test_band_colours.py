"""The map's band colours tell apart at a glance, for common colour-vision deficiencies too.

Each vision is simulated with Machado, Oliveira & Fernandes (2009) at full severity, as
colorspacious implements it, and colours are compared by their distance in CAM02-UCS (a
perceptually uniform space: 1 is about the smallest difference seen side by side). 20 is
"different at a glance": the EEA's own pair of cyans for "good" and "fair" is 12-16 apart.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from colorspacious import cspace_convert, deltaE

from lokaalmeten.server.web.bands import SCALES

AT_A_GLANCE = 20.0
VISIONS = (None, "protanomaly", "deuteranomaly", "tritanomaly")


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])


def _seen(colour: str, vision: str | None) -> np.ndarray:
    if vision is None:
        return _rgb(colour)
    space = {"name": "sRGB1+CVD", "cvd_type": vision, "severity": 100}
    seen: np.ndarray = np.clip(cspace_convert(_rgb(colour), space, "sRGB1"), 0, 1)
    return seen


def _closest(colours: list[str], vision: str | None) -> tuple[float, tuple[str, str]]:
    return min(
        (float(deltaE(_seen(a, vision), _seen(b, vision), input_space="sRGB1")), (a, b))
        for a, b in itertools.combinations(colours, 2)
    )


@pytest.mark.parametrize("vision", VISIONS, ids=lambda v: v or "normal")
@pytest.mark.parametrize("quantity", sorted(SCALES))
def test_every_two_bands_differ_at_a_glance(quantity: str, vision: str | None) -> None:
    distance, pair = _closest([band.colour for band in SCALES[quantity].bands], vision)
    assert distance >= AT_A_GLANCE, (quantity, vision, pair, round(distance, 1))


def test_the_simulation_tells_the_old_near_identical_cyans_apart_from_these() -> None:
    # The EEA viewer's colours, which the map used before: its check must fail them.
    eea = ["#50f0e6", "#50ccaa", "#f0e641", "#ff5050", "#960032", "#7d2181"]
    assert all(_closest(eea, vision)[0] < AT_A_GLANCE for vision in VISIONS)


def test_bands_grow_darker_as_they_grow_worse() -> None:
    # Lightness alone orders the bands, so a print in grey or a full colour-blind eye still
    # reads the order.
    for scale in SCALES.values():
        light = [cspace_convert(_rgb(b.colour), "sRGB1", "CAM02-UCS")[0] for b in scale.bands]
        assert light[0] == max(light) and light[-1] == min(light), scale.quantity
        assert light[2] > light[3] > light[4] > light[5], scale.quantity
