"""The degraded-page generator: every kind, deterministic, with its ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from digitize.samples.degrade import KINDS, degrade


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_deterministic_and_keeps_the_text(kind):
    first, second = degrade(kind, seed=3, dpi=100), degrade(kind, seed=3, dpi=100)
    assert np.array_equal(np.asarray(first.image), np.asarray(second.image))
    assert first.text == second.text and len(first.text) > 200
    assert first.kind == kind


def test_kinds_change_the_page_as_described():
    clean = degrade("clean", seed=1, dpi=100)
    w, h = clean.image.size
    rotated = degrade("rotation", seed=1, dpi=100)
    assert rotated.params["degrees"] in (90, 180, 270)
    assert rotated.image.size == ((h, w) if rotated.params["degrees"] in (90, 270) else (w, h))
    bed = degrade("dark_border", seed=1, dpi=100)
    assert bed.image.size[0] > w and bed.image.size[1] > h
    assert np.asarray(bed.image)[0].mean() < 60  # the top edge is the dark bed
    small = degrade("low_resolution", seed=1, dpi=300)
    assert small.dpi == 150 and small.image.size[0] == round(degrade("clean", seed=1).image.size[0] / 2)
    skewed = degrade("skew", seed=1, dpi=100)
    assert 4.0 <= abs(skewed.params["degrees"]) <= 15.0
    light = np.asarray(degrade("uneven_light", seed=1, dpi=100).image.convert("L")).astype(float)
    corners = [light[:20, :20].mean(), light[:20, -20:].mean(), light[-20:, :20].mean(), light[-20:, -20:].mean()]
    assert max(corners) - min(corners) > 40  # light falls off towards one corner


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade("coffee_stain")
