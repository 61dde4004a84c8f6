"""Fault suite, intake: what would break an item after OCR is refused when the batch is read.

Issue 14, cases 3 and 4. Before: an identifier ``"x\\n"`` passed the
``$``-anchored pattern (a work folder named ``x\\n`` was made, its page was
OCR'd, the store refused the key at the end); a control character in the
title passed intake, was OCR'd, and failed at the end as "(internal)
ValueError: All strings must be XML compatible" with a traceback; a 5 MB
title went on to PDF/A; a page symlinked to a file outside the batch was
read and archived; Pillow's own 89-million-pixel limit refused an A2 scan at
600 dpi that ``image.max_image_pixels`` (250 million) allows. After: each is
an intake problem naming the field (or file) and ``item.toml``, and the
other items of the batch are read as before.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image

from digitize.errors import PageReadError
from digitize.scanners.batch import Batch, read_batch, read_item
from digitize.scanners.images import DEFAULT_MAX_PIXELS, count_frames, load_page, pixel_limit
from digitize.scanners.metadata import FIELD_LIMITS, MAX_AUTHORS, ItemMetadata
from digitize.scanners.text import refused_character, shown
from digitize.settings import Settings

GOOD = 'title = "Китаб"\nauthors = ["Һ. Әлизадә"]\n'


def _toml_str(value: str) -> str:
    """A TOML basic string holding ``value`` exactly (every character escaped as \\uXXXX/\\UXXXXXXXX)."""
    out = []
    for char in value:
        code = ord(char)
        if 0x20 <= code < 0x7F and char not in '"\\':
            out.append(char)
        else:
            out.append(f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}")
    return '"' + "".join(out) + '"'


def _item(batch: Path, name: str, toml: str = GOOD, page: str = "p1.png") -> Path:
    folder = batch / name
    folder.mkdir(parents=True)
    (folder / "item.toml").write_text(toml, encoding="utf-8")
    if page:
        Image.new("L", (40, 30), 200).save(folder / page, dpi=(300, 300))
    return folder


def _batch_with(tmp_path: Path, toml: str) -> tuple[Batch, Path]:
    """A batch of one good item and one item with ``toml``: returns the batch and the bad item.toml."""
    batch = tmp_path / "batch"
    _item(batch, "good")
    bad = _item(batch, "bad", toml)
    return read_batch(batch), bad / "item.toml"


def _refused(result: Batch, toml_path: Path, *fragments: str) -> str:
    """The one problem: the bad item, refused at intake, naming its item.toml and every fragment."""
    assert [item.item_id for item in result.items] == ["good"], "the good item must still be read"
    assert len(result.problems) == 1, result.problems
    problem = result.problems[0]
    assert problem.stage == "intake"
    assert str(toml_path) in problem.message
    for fragment in fragments:
        assert fragment in problem.message, problem.message
    assert refused_character(problem.message, one_line=False) is None, "the message itself must be keepable"
    return problem.message


# --- identifiers: matched whole ---------------------------------------------


@pytest.mark.parametrize("identifier", ["x\n", "x ", "x\u2028", "x\r", "x\t", "\nx", "x\x00"])
def test_identifier_with_trailing_or_inner_break_is_refused(tmp_path, identifier):
    # Before: "x\n" passed r"^...$" (``$`` matches before a final newline).
    result, toml = _batch_with(tmp_path, f"title = \"Kitab\"\nidentifier = {_toml_str(identifier)}\n")
    _refused(result, toml, "identifier")


def test_identifier_pattern_is_a_full_match():
    for value in ("x\n", "x\r\n", "abc\n"):
        with pytest.raises(ValueError, match="identifier"):
            ItemMetadata(title="t", identifier=value)
    assert ItemMetadata(title="t", identifier="score-9.v2_a").identifier == "score-9.v2_a"


@pytest.mark.parametrize("folder_name", ["x\n", "kitab\x01", "kitab\u2028"])
def test_folder_name_used_as_identifier_is_matched_whole(tmp_path, folder_name):
    batch = tmp_path / "batch"
    _item(batch, "good")
    _item(batch, folder_name, 'title = "Kitab"\n')
    result = read_batch(batch)
    assert [item.item_id for item in result.items] == ["good"]
    (problem,) = result.problems
    assert problem.stage == "intake"
    assert "name" in problem.message
    # Neither the identifier shown in the report nor the message holds the raw character.
    assert refused_character(problem.item_id) is None and refused_character(problem.message) is None


def test_folder_with_a_line_break_is_fine_with_an_identifier_in_item_toml(tmp_path):
    # The folder name is not the identifier then, but it is still a path in METS and in messages.
    batch = tmp_path / "batch"
    _item(batch, "kitab\n", 'title = "Kitab"\nidentifier = "kitab-1"\n')
    (problem,) = read_batch(batch).problems
    assert "item folder" in problem.message and "U+000A" in problem.message


# --- control characters and noncharacters, per field -------------------------

BAD_CHARACTERS = [
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f",  # C0 and DEL
    "\x80", "\x85", "\x9f",  # C1
    "\ufffe", "\uffff", "\ufdd0", "\ufdef", "\U0001fffe", "\U0010ffff",  # noncharacters
]


@pytest.mark.parametrize("char", BAD_CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
def test_control_character_in_title_is_refused_naming_field_and_file(tmp_path, char):
    # Before: read without complaint; the item failed after OCR with
    # "(internal) ValueError: All strings must be XML compatible".
    result, toml = _batch_with(tmp_path, f"title = {_toml_str('Kitab ' + char + ' adı')}\n")
    _refused(result, toml, "title", f"U+{ord(char):04X}", "character 7")


@pytest.mark.parametrize("field", ["collection", "inventory_number", "language", "script", "ocr_model"])
@pytest.mark.parametrize("char", ["\x00", "\x01", "\ufffe", "\n"], ids=lambda c: f"U+{ord(c):04X}")
def test_control_character_in_any_text_field_is_refused(tmp_path, field, char):
    result, toml = _batch_with(tmp_path, f"title = \"Kitab\"\n{field} = {_toml_str('ab' + char)}\n")
    _refused(result, toml, field, f"U+{ord(char):04X}")


def test_nul_in_authors_list_names_the_author(tmp_path):
    result, toml = _batch_with(tmp_path, 'title = "Kitab"\nauthors = ["Əliyev", "Məm\\u0000mədov"]\n')
    _refused(result, toml, "authors", "author 2", "U+0000")


def test_single_author_string_with_control_character(tmp_path):
    result, toml = _batch_with(tmp_path, 'title = "Kitab"\nauthors = "A\\u0001"\n')
    _refused(result, toml, "authors", "author 1", "U+0001")


def test_empty_author_is_refused(tmp_path):
    result, toml = _batch_with(tmp_path, 'title = "Kitab"\nauthors = ["Əliyev", "  "]\n')
    _refused(result, toml, "authors", "author 2 is empty")


def test_line_break_inside_title_is_refused_at_its_ends_stripped(tmp_path):
    result, toml = _batch_with(tmp_path, 'title = "Birinci\\nikinci"\n')
    _refused(result, toml, "title", "U+000A", "one line")
    batch = tmp_path / "b2"
    _item(batch, "ok", 'title = "  Kitab\\n"\n')
    (item,) = read_batch(batch).items
    assert item.metadata.title == "Kitab"  # surrounding whitespace is stripped, as before


def test_unknown_key_with_a_control_character_is_shown_escaped(tmp_path):
    result, toml = _batch_with(tmp_path, 'title = "Kitab"\n"ti\\u0001tle" = "x"\n')
    message = _refused(result, toml, "ti\\x01tle")
    assert "\x01" not in message


def test_legitimate_text_is_kept(tmp_path):
    # Azerbaijani in three scripts, right-to-left mark, joiners, astral characters.
    title = "Azərbaycan nağılları — Азәрбајҹан — آذربایجان\u200f \u200d𝄞"
    batch = tmp_path / "batch"
    _item(batch, "ok", f"title = {_toml_str(title)}\nauthors = [\"Һ. Әлизадә\"]\ncollection = \"Kollec\"\n")
    (item,) = read_batch(batch).items
    assert item.metadata.title == title


def test_every_character_lxml_refuses_is_refused_at_intake():
    """The rule covers lxml's (ALTO, METS, MODS, Dublin Core, MARCXML are written with it):
    every character lxml cannot write, intake refuses; we refuse a few more
    (C1 controls, DEL, noncharacters), which XML discourages."""
    element = etree.Element("t")
    planes = [range(0, 0x10000)] + [range(p * 0x10000 + 0xFFF0, p * 0x10000 + 0x10000) for p in range(1, 17)]
    lxml_refused = 0
    for plane in planes:
        for code in plane:
            char = chr(code)
            try:
                element.text = f"a{char}b"
            except ValueError:
                lxml_refused += 1
                assert refused_character(char, one_line=False) is not None, f"U+{code:04X}"
    assert lxml_refused > 2000  # C0 controls, surrogates, U+FFFE/U+FFFF


# --- over-long values --------------------------------------------------------


def test_five_megabyte_title_is_refused(tmp_path):
    # Before: accepted; failed at PDF/A after OCR.
    result, toml = _batch_with(tmp_path, f"title = \"{'ə' * 5_000_000}\"\n")
    message = _refused(result, toml, "title", "5,000,000 characters", f"at most {FIELD_LIMITS['title']:,}")
    assert len(message) < 1000  # the value is never echoed


def test_hundred_kilobyte_author_is_refused(tmp_path):
    result, toml = _batch_with(tmp_path, f"title = \"Kitab\"\nauthors = [\"A\", \"{'Ə' * 100_000}\"]\n")
    _refused(result, toml, "authors", "author 2", "100,000 characters")


def test_too_many_authors(tmp_path):
    names = ", ".join(f'"Author {n}"' for n in range(MAX_AUTHORS + 1))
    result, toml = _batch_with(tmp_path, f'title = "Kitab"\nauthors = [{names}]\n')
    _refused(result, toml, "authors", f"{MAX_AUTHORS + 1} authors")


@pytest.mark.parametrize("field", sorted(FIELD_LIMITS))
def test_each_field_at_its_limit_is_accepted_one_over_is_refused(tmp_path, field):
    def toml(length: int) -> str:
        value = ("a" * length) if field != "identifier" else ("a" * length)
        if field == "title":
            return f'title = "{value}"\n'
        if field == "authors":
            return f'title = "t"\nauthors = ["{value}"]\n'
        if field == "volume":  # a volume belongs to a series
            return f'title = "t"\nseries = "s"\nvolume = "{value}"\n'
        return f'title = "t"\n{field} = "{value}"\n'

    limit = FIELD_LIMITS[field]
    batch = tmp_path / "at"
    _item(batch, "ok", toml(limit))
    assert len(read_batch(batch).items) == 1
    result, path = _batch_with(tmp_path / "over", toml(limit + 1))
    _refused(result, path, field)


def test_first_page_number_beyond_any_book_is_refused(tmp_path):
    result, toml = _batch_with(tmp_path, 'title = "Kitab"\nfirst_page_number = 9223372036854775807\n')
    _refused(result, toml, "first_page_number")


# --- file names and symbolic links ---------------------------------------------


@pytest.mark.parametrize("name", ["p\x01.png", "p\n1.png", "p\u2028.png"])
def test_page_file_name_with_control_character_is_refused(tmp_path, name):
    batch = tmp_path / "batch"
    _item(batch, "good")
    _item(batch, "bad", page=name)
    result = read_batch(batch)
    assert [item.item_id for item in result.items] == ["good"]
    (problem,) = result.problems
    assert "page file" in problem.message and f"U+{ord(name[1]):04X}" in problem.message
    assert refused_character(problem.message) is None


def test_page_name_not_utf8_is_refused(tmp_path):
    batch = tmp_path / "batch"
    _item(batch, "good")
    folder = _item(batch, "bad", page="")
    raw = os.fsencode(folder) + b"/p\xff.png"
    Image.new("L", (40, 30)).save(os.fsdecode(raw), format="PNG")
    result = read_batch(batch)
    (problem,) = result.problems
    assert "not UTF-8" in problem.message and [i.item_id for i in result.items] == ["good"]


def test_page_symlinked_outside_the_batch_is_refused(tmp_path):
    # Before: followed; the outside file was hashed, OCR'd and archived as a master.
    outside = tmp_path / "elsewhere" / "secret.png"
    outside.parent.mkdir()
    Image.new("L", (40, 30), 10).save(outside)
    batch = tmp_path / "batch"
    _item(batch, "good")
    folder = _item(batch, "bad", page="")
    (folder / "p1.png").symlink_to(outside)
    result = read_batch(batch)
    assert [item.item_id for item in result.items] == ["good"]
    (problem,) = result.problems
    assert problem.stage == "intake"
    assert str(folder / "p1.png") in problem.message
    assert "outside the batch folder" in problem.message and str(outside) in problem.message


def test_relative_symlink_that_climbs_out_is_refused(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    batch = tmp_path / "batch"
    folder = _item(batch, "bad", page="")
    Image.new("L", (40, 30)).save(tmp_path / "x.png")
    (folder / "p1.png").symlink_to(Path("..") / ".." / "x.png")
    with pytest.raises(Exception, match="outside the batch folder"):
        read_item(folder, batch_folder=batch)


def test_page_symlinked_inside_the_batch_is_accepted(tmp_path):
    """A link to another item's page stays inside what the operator delivered
    (and travels with the batch: relative links survive the hot folder's
    moves); the master kept is the content, read at intake."""
    batch = tmp_path / "batch"
    first = _item(batch, "a")
    second = _item(batch, "b", page="")
    (second / "p1.png").symlink_to(Path("..") / "a" / "p1.png")
    result = read_batch(batch)
    assert not result.problems
    a, b = result.items
    assert a.files[0].sha256 == b.files[0].sha256
    assert b.files[0].path == second / "p1.png"  # the link's own name is the master's name
    assert (first / "p1.png").exists()


def test_dangling_page_symlink_is_refused(tmp_path):
    batch = tmp_path / "batch"
    _item(batch, "good")
    folder = _item(batch, "bad", page="")
    (folder / "p1.png").symlink_to(tmp_path / "gone.png")
    result = read_batch(batch)
    (problem,) = result.problems
    assert "leads nowhere" in problem.message and [i.item_id for i in result.items] == ["good"]


def test_item_folder_symlinked_outside_the_batch_is_refused(tmp_path):
    outside = _item(tmp_path / "elsewhere", "book")
    batch = tmp_path / "batch"
    _item(batch, "good")
    (batch / "book").symlink_to(outside)
    result = read_batch(batch)
    (problem,) = result.problems
    assert "item folder" in problem.message and "outside the batch folder" in problem.message
    assert [i.item_id for i in result.items] == ["good"]


def test_item_toml_symlinked_outside_the_batch_is_refused(tmp_path):
    outside = tmp_path / "shared.toml"
    outside.write_text(GOOD, encoding="utf-8")
    batch = tmp_path / "batch"
    _item(batch, "good")
    folder = _item(batch, "bad")
    (folder / "item.toml").unlink()
    (folder / "item.toml").symlink_to(outside)
    result = read_batch(batch)
    (problem,) = result.problems
    assert "item.toml" in problem.message and "outside the batch folder" in problem.message


# --- the pixel limit from the settings ---------------------------------------

A2_600DPI = (9921, 14031)  # 420 × 594 mm at 600 dpi: 139,201,551 pixels


def _bilevel_png(path: Path, size: tuple[int, int], dpi: int = 600) -> Path:
    """A white 1-bit PNG written directly (17 KB for 139 MP): cheap to make, real to decode."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    width, height = size
    row = b"\0" + b"\xff" * ((width + 7) // 8)
    ppm = round(dpi / 0.0254)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1))
        + chunk(b"IDAT", zlib.compress(row * height, 6))
        + chunk(b"IEND", b"")
    )
    return path


def test_a2_scan_at_600_dpi_passes_intake_under_the_setting(tmp_path):
    # Before: "declared image size is too large to decode safely (Image size
    # (139201551 pixels) exceeds limit of 89478485 pixels ...)": Pillow's own
    # limit, not ours.
    assert A2_600DPI[0] * A2_600DPI[1] < Settings().image.max_image_pixels
    batch = tmp_path / "batch"
    folder = _item(batch, "atlas", page="")
    _bilevel_png(folder / "p1.png", A2_600DPI)
    pillow_before = Image.MAX_IMAGE_PIXELS
    result = read_batch(batch, Settings().image.max_image_pixels)
    assert not result.problems and len(result.items[0].pages) == 1
    assert Image.MAX_IMAGE_PIXELS == pillow_before  # no lasting change to Pillow's global


def test_a2_scan_at_600_dpi_decodes(tmp_path):
    path = _bilevel_png(tmp_path / "p1.png", A2_600DPI)
    pillow_before = Image.MAX_IMAGE_PIXELS
    loaded = load_page(path, 0, Settings().image.max_image_pixels)
    assert loaded.image.size == A2_600DPI
    assert loaded.dpi == pytest.approx(600, abs=0.1)
    assert loaded.image.getextrema() == (255, 255)
    assert Image.MAX_IMAGE_PIXELS == pillow_before


def test_a_lower_setting_still_refuses_it(tmp_path):
    path = _bilevel_png(tmp_path / "p1.png", A2_600DPI)
    for call in (lambda: count_frames(path, 100_000_000), lambda: load_page(path, 0, 100_000_000)):
        with pytest.raises(PageReadError, match=r"exceeds the limit of 100,000,000 pixels \(image.max_image_pixels\)"):
            call()


def test_above_the_default_is_refused_without_decoding(tmp_path):
    path = _bilevel_png(tmp_path / "p1.png", (20_000, 20_000))  # 400 MP, over 250 MP but under 2×
    with pytest.raises(PageReadError, match="exceeds the limit of 250,000,000"):
        count_frames(path)


def test_pixel_limit_is_restored_after_an_error(tmp_path):
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(RuntimeError), pixel_limit(123):
        assert Image.MAX_IMAGE_PIXELS == 123
        raise RuntimeError
    assert Image.MAX_IMAGE_PIXELS == before
    with pixel_limit(None) as limit:
        assert limit == DEFAULT_MAX_PIXELS


def test_import_has_no_effect_on_pillow_and_a_fresh_process_applies_the_setting(tmp_path):
    """A worker process (spawned, nothing inherited) reads the limit from the job, not from a global."""
    path = _bilevel_png(tmp_path / "p1.png", A2_600DPI)
    code = (
        "import sys\nfrom PIL import Image\ndefault = Image.MAX_IMAGE_PIXELS\n"
        "import digitize.scanners.images as images, digitize.scanners.batch\n"
        "assert Image.MAX_IMAGE_PIXELS == default, 'import changed Pillow'\n"
        f"assert images.count_frames(images.Path({str(path)!r}), 250_000_000) == 1\n"
        "assert Image.MAX_IMAGE_PIXELS == default\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()


# --- shown() -------------------------------------------------------------------


def test_shown_escapes_only_what_cannot_be_kept():
    assert shown("Azərbaycan/kitab-1") == "Azərbaycan/kitab-1"
    assert shown("x\n\x01\ufffe") == "x\\n\\x01\\ufffe"


# --- the real command: refused at intake, nothing OCR'd, the rest processed -----


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DIGITIZE_WORK_DIR=str(tmp_path / "work"),
        DIGITIZE_OUTPUT_DIR=str(tmp_path / "out"),
        DIGITIZE_STORAGE__URL=f"file://{tmp_path / 'store'}",
        DIGITIZE_CATALOG__URL=f"sqlite:///{tmp_path / 'catalog.sqlite3'}",
    )
    return env


@pytest.mark.slow
@pytest.mark.needs_tesseract
def test_cli_refuses_bad_items_before_ocr_and_processes_the_rest(tmp_path):
    """Before (recorded on commit 90882d5): exit 1 after OCR of all 3 pages;
    ``ctl`` failed "(internal) ValueError: All strings must be XML
    compatible" with a traceback on stderr; ``x\\n`` got a work folder named
    ``x\\n`` and failed at the store ("invalid object key")."""
    from digitize.samples.corpus import paragraphs
    from digitize.samples.render import render_page

    page = render_page(paragraphs(1, 2), dpi=300, width_in=3.0, height_in=2.2).image
    batch = tmp_path / "batch"
    for name, toml in {
        "good": 'title = "Yaxşı kitab"\n',
        "nl": 'title = "Newline id"\nidentifier = "x\\n"\n',
        "ctl": 'title = "Bad \\u0001 title"\n',
        "nul": 'title = "Kitab"\nauthors = ["Əliyev", "\\u0000"]\n',
    }.items():
        (batch / name).mkdir(parents=True)
        (batch / name / "item.toml").write_text(toml, encoding="utf-8")
        page.save(batch / name / "p1.png", dpi=(300, 300))

    result = subprocess.run(
        [sys.executable, "-m", "digitize.cli", "run", str(batch)],
        capture_output=True, timeout=300, env=_env(tmp_path),
    )
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr  # some item failed
    assert "Traceback" not in stderr and "(internal)" not in result.stdout.decode()
    report = json.loads((tmp_path / "out" / "batch-batch.json").read_text(encoding="utf-8"))
    by_id = {entry["identifier"]: entry for entry in report["items"]}
    assert by_id["good"]["status"] == "done"
    for name, field in (("nl", "identifier"), ("ctl", "title"), ("nul", "authors")):
        entry = by_id[name]
        assert entry["status"] == "failed" and entry["stage"] == "intake", entry
        assert str(batch / name / "item.toml") in entry["message"] and field in entry["message"], entry
    # Nothing was OCR'd for the refused items: only the good item's page ran.
    assert [(p["item"], p["status"]) for p in report["pages"]] == [("good", "done")]
    work_folders = [p.name for p in (tmp_path / "work").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert work_folders == ["good"]
    # Nothing lost: the batch folder is untouched.
    assert sorted(p.name for p in batch.iterdir()) == ["ctl", "good", "nl", "nul"]
