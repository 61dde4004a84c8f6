"""METS with MODS and PREMIS for an assembled item, checked with the official XSDs."""

from __future__ import annotations

import contextlib
import copy
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image

from digitize.archive.bag import stored_key_of, unpack_bag, validate_bag
from digitize.archive.mets import LOSSY_ACCESS_USE, file_group, page_of_key, write_mets
from digitize.archive.records import ItemRecord
from digitize.archive.schemas import validation_errors
from digitize.assembly.item import assemble_item, plan_pages
from digitize.checksums import sha256_file
from digitize.pipeline.masters import verify_masters
from digitize.pipeline.model import OutputFile
from digitize.pipeline.page import process_page
from digitize.samples.corpus import paragraphs
from digitize.samples.render import render_page, scan_like
from digitize.scanners.batch import read_item
from digitize.settings import Settings
from digitize.transliteration import RULES_VERSION

ROOT = Path(__file__).resolve().parents[1]
M = "{http://www.loc.gov/METS/}"
MODS = "{http://www.loc.gov/mods/v3}"
P = "{http://www.loc.gov/premis/v3}"
XLINK = "{http://www.w3.org/1999/xlink}"

# XML-special, right-to-left (Arabic script) and combining characters.
TITLE = 'Нағыллар <&> "ики" \'үч\' — كتاب الحكايات — e\u0301 a\u0308'


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = tmp_path_factory.mktemp("mets")
    folder = root / "batch" / "book-9"
    folder.mkdir(parents=True)
    toml_title = TITLE.replace("\\", "\\\\").replace('"', '\\"')
    (folder / "item.toml").write_text(
        f'title = "{toml_title}"\nauthors = ["Һ. Әлизадә"]\nyear = 1968\ninventory_number = "INV-9"\n'
        'collection = "Kollec <&> kitabxanası"\n',
        encoding="utf-8",
    )
    for number in (1, 2):
        rendered = render_page(paragraphs(seed=number, n=2), dpi=200, seed=number)
        scan_like(rendered, skew_degrees=1.0 * number, seed=number).save(folder / f"p{number}.png", dpi=(200, 200))
    # A blank page: Tesseract finds no word on it (an empty OCR page).
    Image.new("L", (1160, 1660), 250).save(folder / "p3.png", dpi=(200, 200))
    settings = Settings(
        work_dir=root / "work",
        output_dir=root / "out",
        web={"base_url": "https://elib.example.az/"},
        archive={"organization": "Test Library <&>", "marc_organization_code": "AzBaTL"},
    )
    item = read_item(folder)
    pages = [process_page(job, settings) for job in plan_pages(item, settings)]
    outputs = assemble_item(item, pages, settings)
    mets = next(f.path for f in outputs.files if f.role == "mets")
    return settings, item, pages, outputs, mets


pytestmark = pytest.mark.needs_tesseract


def test_mets_with_mods_and_premis_is_schema_valid(book):
    *_, mets = book
    assert validation_errors(mets, "mets", "mods", "premis") == []
    root = etree.parse(str(mets)).getroot()
    # Each embedded section also on its own, against its own schema.
    mods = root.find(f".//{M}dmdSec//{MODS}mods")
    premis = root.find(f".//{M}digiprovMD//{P}premis")
    assert validation_errors(etree.ElementTree(copy.deepcopy(mods)), "mods") == []
    assert validation_errors(etree.ElementTree(copy.deepcopy(premis)), "premis") == []
    assert mods.get("version") == "3.6" and premis.get("version") == "3.0"


def test_combined_validation_sees_inside_the_wrapped_sections(book):
    """METS wraps MODS laxly: a broken MODS element must still fail the combined check."""
    *_, mets = book
    tree = etree.parse(str(mets))
    mods = tree.getroot().find(f".//{MODS}mods")
    etree.SubElement(mods, f"{MODS}notAModsElement").text = "x"
    assert any("notAModsElement" in e for e in validation_errors(tree, "mets", "mods", "premis"))


def test_title_and_description_survive_exactly(book):
    _, item, pages, _, mets = book
    root = etree.parse(str(mets)).getroot()
    assert item.metadata.title == TITLE
    assert root.get("LABEL") == TITLE
    titles = [t.findtext(f"{MODS}title") for t in root.iter(f"{MODS}titleInfo")]
    assert titles[0] == TITLE
    assert root.findtext(f".//{MODS}languageTerm") == "aze"
    assert root.findtext(f".//{MODS}dateIssued") == "1968"
    assert root.findtext(f".//{MODS}namePart") == "Һ. Әлизадә"
    identifiers = {i.get("type"): i.text for i in root.iter(f"{MODS}identifier")}
    assert identifiers == {"local": "book-9", "inventory number": "INV-9"}
    assert root.findtext(f".//{MODS}extent") == f"1 online resource ({len(pages)} pages)"
    assert root.findtext(f".//{MODS}url") == "https://elib.example.az/items/book-9"


def test_files_have_sha256_checksums_and_groups(book):
    _, _, _, outputs, mets = book
    root = etree.parse(str(mets)).getroot()
    by_key = {f.key: f for f in outputs.files}
    uses = [g.get("USE") for g in root.iter(f"{M}fileGrp")]
    for required in ("MASTER", "ALTO", "HOCR", "TEXT", "PDF", "METADATA"):
        assert required in uses
    listed = set()
    for el in root.iter(f"{M}file"):
        key = el.find(f"{M}FLocat").get(f"{XLINK}href")
        listed.add(key)
        assert el.get("CHECKSUMTYPE") == "SHA-256"
        assert el.get("CHECKSUM") == sha256_file(by_key[key].path), key
        assert int(el.get("SIZE")) == by_key[key].path.stat().st_size
    # Every output except the METS itself and the bag that contains it.
    assert listed == {f.key for f in outputs.files if f.role not in ("mets", "bag")}


def test_physical_structure_lists_each_pages_files_in_order(book):
    _, item, pages, outputs, mets = book
    root = etree.parse(str(mets)).getroot()
    ids = {el.get("ID"): el.find(f"{M}FLocat").get(f"{XLINK}href") for el in root.iter(f"{M}file")}
    struct = root.find(f"{M}structMap[@TYPE='PHYSICAL']")
    page_divs = struct.findall(f"{M}div/{M}div[@TYPE='page']")
    assert [int(d.get("ORDER")) for d in page_divs] == [p.seq for p in pages] == [1, 2, 3]
    for div, page in zip(page_divs, pages, strict=True):
        keys = [ids[f.get("FILEID")] for f in div.findall(f"{M}fptr")]
        assert f"masters/{page.source.name}" in keys
        assert f"alto/{page.seq:04d}.xml" in keys
        assert f"ocr/{page.seq:04d}.hocr" in keys
        assert f"text/latin/{page.seq:04d}.txt" in keys
    # The blank page has an ALTO file too, valid and without words.
    blank = next(f.path for f in outputs.files if f.key == "alto/0003.xml")
    assert pages[2].word_count == 0
    assert validation_errors(blank, "alto") == []
    assert etree.parse(str(blank)).getroot().findall(".//{http://www.loc.gov/standards/alto/ns-v4#}String") == []
    top = [ids[f.get("FILEID")] for f in struct.findall(f"{M}div/{M}fptr")]
    assert outputs.pdf.name in top


def test_premis_records_what_was_done(book):
    _, item, pages, _, mets = book
    root = etree.parse(str(mets)).getroot()
    events = {
        e.findtext(f"{P}eventIdentifier/{P}eventIdentifierValue"): e for e in root.iter(f"{P}event")
    }
    for source in item.files:
        objects = [o for o in root.iter(f"{P}object") if o.findtext(f".//{P}originalName") == source.path.name]
        assert objects and objects[0].findtext(f".//{P}messageDigest") == source.sha256
        assert objects[0].findtext(f".//{P}messageDigestAlgorithm") == "SHA-256"
    types = [e.findtext(f"{P}eventType") for e in events.values()]
    assert types.count("message digest calculation") == len(item.files)
    assert types.count("fixity check") == len(item.files)
    for page in pages:
        deskew = events[f"deskew-{page.seq:06d}"]
        assert f"angle {page.skew_degrees} degrees" in deskew.findtext(f".//{P}eventDetail")
        ocr = events[f"ocr-{page.seq:06d}"].findtext(f".//{P}eventDetail")
        step = next(s for s in page.steps if s.name == "ocr")
        assert step.settings["engine"] in ocr and f"model {step.settings['model']}" in ocr
        translit = events[f"transliteration-{page.seq:06d}"].findtext(f".//{P}eventDetail")
        assert f"rules version {RULES_VERSION}" in translit
        fix = next(s for s in page.steps if s.name == "postcorrect")
        correction = events[f"postcorrection-{page.seq:06d}"]
        assert correction.findtext(f"{P}eventType") == "modification"
        assert correction.findtext(f".//{P}eventOutcomeDetailNote").startswith(
            f"{fix.settings['words_changed']} of {fix.settings['words_checked']} words changed")
    creations = [e for e in events.values() if e.findtext(f"{P}eventType") == "creation"]
    assert any("application/pdf" in e.findtext(f".//{P}eventDetail") for e in creations)
    agents = [a.findtext(f"{P}agentName") for a in root.iter(f"{P}agent")]
    assert "tesseract" in agents and "Test Library <&>" in agents


def test_bag_of_the_item_validates_and_holds_the_mets(book, tmp_path):
    _, item, _, outputs, mets = book
    bag_zip = next(f.path for f in outputs.files if f.role == "bag")
    # the bag carries the METS and names the other files where the store keeps them (fetch.txt)
    stored = {f"items/{item.item_id}/{f.key}": f.path for f in outputs.files}

    @contextlib.contextmanager
    def fetch(url, path):
        with stored[stored_key_of(url)].open("rb") as stream:
            yield stream

    unpack_bag(bag_zip, tmp_path, fetch)
    bag = validate_bag(tmp_path / "book-9.bag")
    assert set(bag.algorithms) == {"sha256", "sha512"}
    assert (tmp_path / "book-9.bag" / "data" / mets.name).read_bytes() == mets.read_bytes()
    assert bag.info["External-Identifier"] == "book-9"
    assert bag.info["Source-Organization"] == "Test Library <&>"


def test_dublin_core_record_is_valid_oai_dc(book):
    _, _, _, outputs, _ = book
    dc = next(f.path for f in outputs.files if f.role == "dublin-core")
    assert validation_errors(dc, "oai_dc") == []
    assert etree.parse(str(dc)).getroot().findtext("{http://purl.org/dc/elements/1.1/}title") == TITLE


def test_reassembly_gives_identical_archive_files(book):
    settings, item, pages, outputs, _ = book
    before = {f.key: sha256_file(f.path) for f in outputs.files if f.role in ("mets", "alto", "marc", "marcxml", "bag")}
    time.sleep(1.1)  # rewritten files get a later modification time; the package must not show it
    again = assemble_item(item, pages, settings)
    after = {f.key: sha256_file(f.path) for f in again.files if f.role in ("mets", "alto", "marc", "marcxml", "bag")}
    assert after == before


def test_lossy_access_copy_is_labelled(book, tmp_path):
    """A JPEG access copy beside the master is marked as lossy; the master is not."""
    _, item, pages, outputs, _ = book
    jpeg = tmp_path / "0001.jpg"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(jpeg, quality=80)
    files = [f for f in outputs.files if f.role == "master"]
    files.append(OutputFile(jpeg, "access/0001.jpg", "access-copy", "image/jpeg"))
    dest = tmp_path / "m.xml"
    write_mets(dest, item, pages, files, ItemRecord(item.item_id, TITLE, kind="art"), "Org",
               run_day=datetime(2026, 1, 1, tzinfo=UTC))
    assert validation_errors(dest, "mets", "mods", "premis") == []
    root = etree.parse(str(dest)).getroot()
    access = root.find(f".//{M}fileGrp[@USE='ACCESS']/{M}file")
    assert access.get("USE") == LOSSY_ACCESS_USE
    assert root.find(f".//{M}fileGrp[@USE='MASTER']/{M}file").get("USE") is None
    page1 = root.find(f".//{M}div[@ORDER='1']")
    assert access.get("ID") in [f.get("FILEID") for f in page1.findall(f"{M}fptr")]


def test_changed_master_is_refused(book, tmp_path):
    """Fixity: a master that differs from its intake digest is stopped by the one fixity check
    (item assembly runs it before the METS), and the METS lists no master whose digest that
    check did not record, nor one whose recorded digest is not the intake digest."""
    from dataclasses import replace

    from digitize.errors import OutputError, VerificationError

    _, item, pages, outputs, _ = book
    master = next(f for f in outputs.files if f.role == "master")
    assert master.sha256 == sha256_file(master.path)  # the checked digest travels with the master
    copy_path = tmp_path / master.path.name
    data = bytearray(master.path.read_bytes())
    data[-1] ^= 1
    copy_path.write_bytes(bytes(data))
    # The intake digest is looked up by path: pretend this copy is the scanned file.
    files = tuple(replace(s, path=copy_path) if s.path == master.path else s for s in item.files)
    changed_item = replace(item, files=files)
    with pytest.raises(VerificationError, match="changed since intake"):
        verify_masters({s.path: s.sha256 for s in changed_item.files})
    dest = tmp_path / "m.xml"
    record = ItemRecord(item.item_id, "x")
    day = datetime(2026, 1, 1, tzinfo=UTC)
    unchecked = [OutputFile(copy_path, master.key, "master", master.content_type)]
    with pytest.raises(OutputError, match="without a checked digest"):
        write_mets(dest, changed_item, pages, unchecked, record, "Org", run_day=day)
    wrong = [OutputFile(copy_path, master.key, "master", master.content_type, sha256_file(copy_path))]
    with pytest.raises(OutputError, match="changed since intake"):
        write_mets(dest, changed_item, pages, wrong, record, "Org", run_day=day)
    assert not dest.exists()


def test_roles_map_to_groups_and_pages():
    assert file_group("master") == "MASTER"
    assert file_group("access-copy") == "ACCESS"
    assert file_group("thumbnail") == "THUMBS"
    assert file_group("text-latin-page") == "TEXT"
    assert file_group("epub") == "EPUB"
    assert page_of_key("ocr/0012.hocr") == 12
    assert page_of_key("text/latin/0003.txt") == 3
    assert page_of_key("book-9.pdf") is None


@pytest.mark.slow
def test_mets_memory_stays_flat_from_100_to_1000_pages():
    """Peak RSS growth while writing ALTO + METS (bench/archive_memory.py, fresh process each)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "archive_memory.py"), "--pages", "100", "1000"],
        check=True, capture_output=True, text=True, timeout=300,
    )
    small, large = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert (small["pages"], large["pages"]) == (100, 1000)
    assert large["mets_bytes"] > 9 * small["mets_bytes"]  # ten times the content ...
    assert large["growth_mb"] < small["growth_mb"] + 8  # ... but not ten times the memory
