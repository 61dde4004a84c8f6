"""spreads = "auto": frames found to be two-page spreads are split, others kept whole.

The detector (pipeline.spread.examine) on generated frames (tests/helpers/spreads.py
makes them): spreads plain, skewed, under uneven light, on a dark scanner
bed, curling, with tight inner margins or a short page say yes; a page
lying sideways, a landscape page with one wide text block, a landscape page
in two columns (narrow gap, wider gap, column rule), text beside a
photograph, a blank landscape page and a landscape score say no. Planning
decodes only the wide frames, numbers pages on in reading order and gives
the same plan every time (from the decisions kept in the item's work
folder); a spread with a blank page follows the item's other spreads. A
small item goes through the whole pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitize.assembly.item import assemble_item, item_work_dir, plan_pages
from digitize.errors import MetadataError
from digitize.pipeline import spread
from digitize.pipeline.spread import examine, looks_like_spread
from digitize.samples.batch import make_image_pdf, toml_document
from digitize.samples.corpus import paragraphs
from digitize.samples.render import render_page
from digitize.scanners.batch import read_item
from digitize.scanners.metadata import ItemMetadata, read_metadata
from digitize.settings import Settings

from helpers.spreads import SINGLE_KINDS, SPREAD_KINDS, make_frame

DPI = 120


@pytest.mark.parametrize("kind", SPREAD_KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_a_spread_is_found(kind, seed):
    evidence = examine(np.asarray(make_frame(kind, seed, DPI).convert("L")))
    assert evidence.spread, evidence
    # Both inner margins: 7-11 line pitches; tight margins 3.3-3.6, with the spine's shadow.
    assert evidence.gap_pitches >= 3.5 or (evidence.gap_pitches >= 2.5 and evidence.shadow < 0.85), evidence


@pytest.mark.parametrize("kind", SINGLE_KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_a_single_wide_page_is_not_a_spread(kind, seed):
    grey = np.asarray(make_frame(kind, seed, DPI).convert("L"))
    assert grey.shape[1] >= grey.shape[0] * spread.MIN_ASPECT  # wide: the shape alone does not decide
    evidence = examine(grey)
    assert not evidence.spread, evidence
    if kind == "two_columns":  # the hard case: a band exists, but it is a column gap
        assert 0.5 < evidence.gap_pitches < 3.0, evidence


def test_what_the_detector_tells_apart():
    sideways = examine(np.asarray(make_frame("sideways", 0, DPI)))
    assert "sideways" in sideways.reason
    assert examine(np.asarray(make_frame("blank", 0, DPI))).reason == "no text"
    beside_a_photo = examine(np.asarray(make_frame("text_and_picture", 0, DPI)))
    assert beside_a_photo.reason == "no text lines on one side of the middle"  # its band alone would pass
    columns = examine(np.asarray(make_frame("two_columns_rule", 0, DPI)))
    assert "narrow" in columns.reason and columns.shadow > 0.85  # a column rule is not the spine's shadow
    portrait = np.asarray(render_page(paragraphs(seed=1, n=3), dpi=DPI, seed=1).image)
    assert not looks_like_spread(portrait) and examine(portrait).reason == "not wider than tall"


def test_spreads_setting_in_item_toml(tmp_path):
    assert ItemMetadata(title="T").spreads == "auto"
    for value in (True, False, "auto"):
        assert ItemMetadata(title="T", spreads=value).spreads == value
    path = tmp_path / "item.toml"
    for bad in ('"yes"', "1", '"true"'):
        path.write_text(f'title = "T"\nspreads = {bad}\n', encoding="utf-8")
        with pytest.raises(MetadataError, match="spreads"):
            read_metadata(path)


# --------------------------------------------------------------------------
# Planning


def _portrait(seed: int, dpi: int = 60) -> Image.Image:
    return render_page(paragraphs(seed=seed, n=3), dpi=dpi, seed=seed).image


def _mixed_item(tmp_path: Path, spreads: object = "auto", kind: str = "text"):
    """Eight pages in six frames: portraits, a spread as JPEG, a multi-frame
    TIFF with a spread in the middle, an image-only PDF with a spread."""
    folder = tmp_path / f"item-{spreads}-{kind}"
    folder.mkdir()
    (folder / "item.toml").write_text(toml_document({"title": "Т", "kind": kind, "spreads": spreads}),
                                      encoding="utf-8")
    _portrait(1).save(folder / "01.png", dpi=(60, 60))
    make_frame("spread", 1, 100).convert("RGB").save(folder / "02.jpg", quality=90, dpi=(100, 100))
    frames = [_portrait(3), make_frame("spread_bed", 2, 100).resize((1200, 800)), _portrait(4)]
    frames = [f.convert("L") for f in frames]
    frames[0].save(folder / "03.tif", save_all=True, append_images=frames[1:], compression="tiff_lzw")
    _portrait(5).save(folder / "04.png")
    make_frame("spread_skew", 3, 100).save(tmp_path / "spread.png", dpi=(100, 100))
    make_image_pdf([tmp_path / "spread.png"], folder / "05.pdf")
    return read_item(folder)


def _plan(jobs):
    return [(j.seq, j.source.name, j.frame, j.part, j.split_by) for j in jobs]


EXPECTED_AUTO = [
    (1, "01.png", 0, None, None),
    (2, "02.jpg", 0, 0, "detected"),
    (3, "02.jpg", 0, 1, "detected"),
    (4, "03.tif", 0, None, None),
    (5, "03.tif", 1, 0, "detected"),
    (6, "03.tif", 1, 1, "detected"),
    (7, "03.tif", 2, None, None),
    (8, "04.png", 0, None, None),
    (9, "05.pdf", 0, 0, "detected"),
    (10, "05.pdf", 0, 1, "detected"),
]


def test_auto_splits_only_the_spreads_in_reading_order(tmp_path, monkeypatch):
    item = _mixed_item(tmp_path)
    settings = Settings(work_dir=tmp_path / "work")
    decoded = []
    reduced = spread._reduced_grey
    monkeypatch.setattr(spread, "_reduced_grey", lambda path, frame, limit: decoded.append((path.name, frame))
                        or reduced(path, frame, limit))
    jobs = plan_pages(item, settings)
    assert _plan(jobs) == EXPECTED_AUTO
    assert len({j.work_dir for j in jobs}) == len(jobs)
    # Only the wide frames were decoded; portraits cost a header read.
    assert decoded == [("02.jpg", 0), ("03.tif", 1), ("05.pdf", 0)]

    # Planning again (assembly, a resumed run) reads the kept decisions: no decoding, same plan.
    cache = item_work_dir(settings, item.item_id) / "spreads.json"
    kept = json.loads(cache.read_text(encoding="utf-8"))
    assert kept["detector"] == spread.DETECTOR_VERSION and len(kept["frames"]) == 7
    monkeypatch.setattr(spread, "examine", lambda grey: pytest.fail("decided again"))
    assert _plan(plan_pages(item, settings)) == EXPECTED_AUTO
    monkeypatch.undo()

    # A lost or damaged record is made again, with the same answer.
    cache.write_text("{not json", encoding="utf-8")
    assert _plan(plan_pages(item, settings)) == EXPECTED_AUTO


def test_true_false_and_other_kinds(tmp_path):
    settings = Settings(work_dir=tmp_path / "work")
    never = plan_pages(_mixed_item(tmp_path, False), settings)
    assert [(j.seq, j.part) for j in never] == [(n, None) for n in range(1, 8)]
    every = plan_pages(_mixed_item(tmp_path, True), settings)
    assert [j.seq for j in every] == list(range(1, 15)) and {j.split_by for j in every} == {"item.toml"}
    assert [j.part for j in every[:4]] == [0, 1, 0, 1]
    art = plan_pages(_mixed_item(tmp_path, "auto", "art"), settings)  # auto is for text items only
    assert [j.part for j in art] == [None] * 7
    off = Settings(work_dir=tmp_path / "off", image={"detect_spreads": False})
    (tmp_path / "off-item").mkdir()
    assert [j.part for j in plan_pages(_mixed_item(tmp_path / "off-item"), off)] == [None] * 7


def test_an_unreadable_wide_frame_is_planned_as_one_page(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "item.toml").write_text('title = "T"\n', encoding="utf-8")
    _portrait(1).save(folder / "01.png")
    data = _image_bytes(make_frame("spread", 0, 80).convert("RGB"))
    (folder / "02.jpg").write_bytes(data[: len(data) // 2])  # header fine, data cut off
    item = read_item(folder)
    jobs = plan_pages(item, Settings(work_dir=tmp_path / "work"))
    assert [(j.seq, j.part) for j in jobs] == [(1, None), (2, None)]  # the page stage reports the damage


def _image_bytes(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


# --------------------------------------------------------------------------
# Whole pipeline


@pytest.mark.needs_tesseract
def test_an_item_with_a_spread_becomes_pages_in_reading_order(tmp_path):
    from digitize.pipeline.page import process_page
    from digitize.samples.degrade import spread as make_spread
    from digitize.samples.metrics import cer
    from digitize.samples.render import skew

    dpi = 150
    folder = tmp_path / "batch" / "book"
    folder.mkdir(parents=True)
    (folder / "item.toml").write_text('title = "Т"\nyear = 1968\n', encoding="utf-8")  # spreads: "auto"
    printed = [render_page(paragraphs(seed=40 + n, n=2), dpi=dpi, seed=n) for n in range(3)]
    printed[0].image.save(folder / "1.png", dpi=(dpi, dpi))
    opening = skew(make_spread(printed[1].image, printed[2].image, gutter=30), 2.0, expand=True)
    opening.save(folder / "2.png", dpi=(dpi, dpi))
    settings = Settings(work_dir=tmp_path / "work", output_dir=tmp_path / "out")
    item = read_item(folder)

    jobs = plan_pages(item, settings)
    assert [(j.seq, j.part) for j in jobs] == [(1, None), (2, 0), (3, 1)]
    pages = [process_page(job, settings) for job in jobs]
    step = next(s for s in pages[1].steps if s.name == "spread")
    assert step.settings["split_by"] == "detected" and "auto" in step.description
    assert not any(s.name == "spread" for s in pages[0].steps)
    assert not any("spread" in reason for p in pages for reason in (p.quality.reasons if p.quality else ()))
    saved = json.loads((jobs[2].work_dir / "page.json").read_text(encoding="utf-8"))
    assert saved["part"] == 1 and any(s["settings"].get("split_by") == "detected" for s in saved["steps"])

    outputs = assemble_item(item, pages, settings)
    assert outputs.page_count == 3
    texts = (outputs.folder / f"{item.item_id}.original.txt").read_text(encoding="utf-8").split("\f")
    assert len(texts) == 3
    for page, text in zip(printed, texts, strict=True):  # left half before right half
        assert cer(page.text, text) < 0.03


def test_a_spread_with_a_blank_page_is_split_like_the_items_other_spreads(tmp_path):
    from digitize.samples.degrade import spread as make_spread

    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "item.toml").write_text('title = "T"\n', encoding="utf-8")
    size = (1000, 690)
    frames = {
        "1-blank-left": make_spread(Image.new("L", _portrait(9, 80).size, 248), _portrait(10, 80), gutter=20),
        "2": make_frame("spread", 1, 80),
        "3": make_frame("spread_light", 2, 80),
        "4": make_frame("spread", 3, 80),
        "5-columns": make_frame("two_columns", 0, 80),  # evidence against: never split for its size
        "6-blank-right": make_spread(_portrait(11, 80), Image.new("L", _portrait(9, 80).size, 248), gutter=20),
    }
    for name, image in frames.items():
        image.convert("L").resize(size).save(folder / f"{name}.png")
    work = tmp_path / "work"
    decisions = spread.split_decisions(read_item(folder), work)
    assert decisions == [True, True, True, True, False, True]
    kept = json.loads((work / "spreads.json").read_text(encoding="utf-8"))["frames"]
    adopted = [r for r in kept.values() if r.get("adopted")]
    assert len(adopted) == 2 and all("3 spreads of the same size" in r["reason"] for r in adopted)
    assert spread.split_decisions(read_item(folder), work) == decisions  # from the kept record

    # One found spread is not enough to speak for the item.
    for name in ("3", "4"):
        (folder / f"{name}.png").unlink()
    assert spread.split_decisions(read_item(folder), tmp_path / "work2") == [False, True, False, False]
