"""Two-page spreads: the gutter is found; item.toml's spreads = true gives two jobs per frame."""

from __future__ import annotations

import numpy as np
import pytest

from digitize.assembly.item import plan_pages
from digitize.pipeline.spread import find_gutter, half, looks_like_spread
from digitize.samples.batch import toml_document
from digitize.samples.degrade import degrade, spread
from digitize.scanners.batch import read_item
from digitize.settings import Settings


@pytest.fixture(scope="module")
def opening():
    left = degrade("clean", seed=1, dpi=100).image
    right = degrade("clean", seed=2, dpi=100).image
    return np.asarray(spread(left, right, gutter=40)), left.size[0]


def test_gutter_is_found_between_the_pages(opening):
    grey, page_width = opening
    x = find_gutter(grey)
    assert page_width <= x <= page_width + 40
    assert half(grey, x, 0).shape[1] == x and half(grey, x, 1).shape[1] == grey.shape[1] - x


def test_spread_is_told_from_a_single_page(opening):
    grey, _ = opening
    assert looks_like_spread(grey)
    single = np.asarray(degrade("clean", seed=1, dpi=100).image)
    assert not looks_like_spread(single)
    assert not looks_like_spread(np.ascontiguousarray(single.T))  # wide, but no gutter with text both sides


def _item(tmp_path, spreads: bool):
    folder = tmp_path / ("spreads" if spreads else "plain")
    folder.mkdir()
    meta = {"title": "Т", "kind": "text", "spreads": spreads}
    (folder / "item.toml").write_text(toml_document(meta), encoding="utf-8")
    for n in (1, 2):
        degrade("clean", seed=n, dpi=50).image.save(folder / f"{n}.png")
    return read_item(folder)


def test_plan_pages_splits_frames_when_the_item_says_so(tmp_path):
    settings = Settings(work_dir=tmp_path / "w")
    plain = plan_pages(_item(tmp_path, False), settings)
    assert [(j.seq, j.part) for j in plain] == [(1, None), (2, None)]
    split = plan_pages(_item(tmp_path, True), settings)
    assert [(j.seq, j.frame, j.part) for j in split] == [(1, 0, 0), (2, 0, 1), (3, 0, 0), (4, 0, 1)]
    assert split[0].source == split[1].source and len({j.work_dir for j in split}) == 4


@pytest.mark.needs_tesseract
def test_each_half_of_a_spread_is_read_as_its_own_page(tmp_path):
    import hashlib

    from digitize.pipeline.model import PageJob
    from digitize.pipeline.page import process_page
    from digitize.samples.metrics import cer

    left, right = degrade("clean", seed=1, dpi=150), degrade("clean", seed=2, dpi=150)
    path = tmp_path / "opening.png"
    spread(left.image, right.image, gutter=60).save(path, dpi=(150, 150))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    settings = Settings(work_dir=tmp_path, output_dir=tmp_path / "o")
    for part, page in ((0, left), (1, right)):
        job = PageJob("item", "text", part + 1, path, 0, 1, digest, tmp_path / f"p{part}", "Cyrillic", part=part)
        result = process_page(job, settings)
        assert result.part == part
        assert cer(page.text, result.text.read_text()) < 0.03
