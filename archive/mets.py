"""METS per item: MODS description, PREMIS provenance, every file with its checksum, pages in order.

Layout of the document::

    metsHdr          who made it (the organisation, this software)
    dmdSec DMD_MODS  MODS 3.6 (archive/mods.py)
    amdSec AMD       digiprovMD PREMIS_1: PREMIS 3 objects (masters, with the
                     intake SHA-256), events (intake digest, fixity check,
                     per page deskew / OCR / transliteration, creation of the
                     PDF and other whole-item files) and agents
    fileSec          one fileGrp per use: MASTER, ACCESS, THUMBS, ALTO, HOCR,
                     TEXT, PDF, EPUB, METADATA (then anything else by role);
                     every file has SIZE, CHECKSUM and CHECKSUMTYPE="SHA-256",
                     and a relative FLocat (its key inside the item)
    structMap        PHYSICAL: the item, then one div per page in page order
                     pointing at that page's master, access, ALTO, hOCR and
                     text files

Fixity: the masters are hashed once, by the fixity check of item assembly
(``pipeline.masters.verify_masters``), which compares them with their
intake digests; each master's ``OutputFile.sha256`` is that checked digest.
The METS uses it and refuses a master that has none or whose digest is
not its intake digest, so it never lists a master that was not checked.

The run's date (``run_day``) is given by item assembly, which computes it
once per item (``assembly.item.run_day``).

Written with lxml's incremental writer: a file's checksum is computed,
written and forgotten, and only small per-page records stay in memory, so
memory does not grow with the size of the book beyond the page list.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from digitize.archive.mods import MODS_NS, mods_element
from digitize.archive.premis import (
    PREMIS_NS,
    PREMIS_VERSION,
    Agent,
    Event,
    agent_element,
    event_element,
    file_object_element,
)
from digitize.archive.records import ItemRecord
from digitize.checksums import sha256_file
from digitize.errors import OutputError
from digitize.files import atomic_path
from digitize.pipeline.model import OutputFile, PageResult, ProcessingStep
from digitize.scanners.batch import Item

if TYPE_CHECKING:
    from lxml.etree._serializer import _IncrementalFileWriter as XmlWriter

__all__ = ["METS_NS", "append_premis_event", "file_group", "page_of_key", "write_mets", "iso_day", "LOSSY_ACCESS_USE"]

log = logging.getLogger(__name__)

METS_NS = "http://www.loc.gov/METS/"
_XLINK = "http://www.w3.org/1999/xlink"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_SCHEMA_LOCATIONS = " ".join([
    METS_NS, "http://www.loc.gov/standards/mets/mets.xsd",
    MODS_NS, "http://www.loc.gov/standards/mods/v3/mods-3-6.xsd",
    PREMIS_NS, "http://www.loc.gov/standards/premis/v3/premis.xsd",
])
_NSMAP = {"mets": METS_NS, "mods": MODS_NS, "premis": PREMIS_NS, "xlink": _XLINK, "xsi": _XSI}

# fileGrp USE per output role, in the order the groups are written.
_GROUPS = ("MASTER", "ACCESS", "THUMBS", "ALTO", "HOCR", "TEXT", "PDF", "EPUB", "METADATA")
_ROLE_GROUP = {
    "master": "MASTER",
    "alto": "ALTO",
    "hocr": "HOCR",
    "pdf": "PDF",
    "pdfa": "PDF",
    "epub": "EPUB",
    "record": "METADATA",
    "dublin-core": "METADATA",
    "report": "METADATA",
    "marc": "METADATA",
    "marcxml": "METADATA",
}
# Lossy image formats: an access file in one of them is labelled as a lossy copy.
_LOSSY_TYPES = {"image/jpeg", "image/jp2", "image/jpx", "image/webp"}
LOSSY_ACCESS_USE = "ACCESS-LOSSY"
_PAGE_KEY = re.compile(r"(?:^|/)(\d{4,6})(?:\.[A-Za-z0-9]+)+$")


def file_group(role: str) -> str:
    """The fileGrp USE for an output role."""
    if role in _ROLE_GROUP:
        return _ROLE_GROUP[role]
    if role.startswith("access"):
        return "ACCESS"
    if role.startswith("thumbnail"):
        return "THUMBS"
    if role.startswith("text"):
        return "TEXT"
    return re.sub(r"[^A-Z0-9]+", "-", role.upper()).strip("-") or "OTHER"


def page_of_key(key: str) -> int | None:
    """The page a per-page file belongs to, from its key (``ocr/0001.hocr`` -> 1)."""
    match = _PAGE_KEY.search(key)
    return int(match.group(1)) if match else None


def iso_day(timestamp: float) -> str:
    """The UTC day of a time stamp (ISO 8601 date).

    Provenance dates are kept to the day: a run that is interrupted and
    resumed, and a run made straight through, then give the same package
    byte for byte (tests/test_resume.py), which a time of day would not.
    """
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d")


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime if path is not None else None
    except OSError:
        return None


@dataclass(frozen=True)
class _Master:
    key: str
    file_id: str
    sha256: str
    size: int
    mime: str
    name: str
    at_intake: bool  # the digest was taken when the batch was read (else: first taken now)


def _software_version() -> str:
    try:
        from importlib.metadata import version

        return version("digitize")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "unknown"


def _step(page: PageResult, name: str) -> ProcessingStep | None:
    return next((s for s in page.steps if s.name == name), None)


def write_mets(
    dest: Path,
    item: Item,
    pages: Sequence[PageResult],
    files: Sequence[OutputFile],
    record: ItemRecord,
    organization: str,
    *,
    run_day: datetime,
    url: str | None = None,
    cataloging_language: str = "aze",
) -> None:
    """Write the item's METS document to ``dest`` (atomically).

    ``run_day``: the run's date (a day, UTC) as item assembly computed it.
    Every master in ``files`` must carry the digest the fixity check
    recorded (``OutputFile.sha256``).
    """
    pages = sorted(pages, key=lambda p: p.seq)
    ids = {f.key: f"FILE_{index:06d}" for index, f in enumerate(files, 1)}
    intake = {source.path: source for source in item.files}
    software = f"digitize {_software_version()}"
    first_time = min((t for p in pages if (t := _mtime(p.pdf)) is not None), default=None)
    run_date = run_day.strftime("%Y-%m-%d")

    # The masters as the fixity check found them (no second hashing here).
    masters: list[_Master] = []
    for f in files:
        if f.role != "master":
            continue
        known = intake.get(f.path)
        if f.sha256 is None:
            raise OutputError(
                f"{f.path}: master without a checked digest; run the fixity check "
                "(pipeline.masters.verify_masters) before writing the METS"
            )
        if known is not None and known.sha256 != f.sha256:
            raise OutputError(
                f"{f.path}: master changed since intake (SHA-256 {f.sha256}, at intake {known.sha256}); "
                "re-scan or restore the file, then run the item again"
            )
        masters.append(_Master(f.key, ids[f.key], f.sha256, f.path.stat().st_size, f.content_type, f.path.name,
                               known is not None))

    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        _write_document(tmp, item, pages, files, record, organization, url, cataloging_language,
                        ids, masters, software, first_time, run_date)


def _write_document(
    tmp: Path, item: Item, pages: Sequence[PageResult], files: Sequence[OutputFile], record: ItemRecord,
    organization: str, url: str | None, cataloging_language: str, ids: dict[str, str], masters: list[_Master],
    software: str, first_time: float | None, run_date: str,
) -> None:
    with etree.xmlfile(str(tmp), encoding="UTF-8") as xf:
        xf.write_declaration()
        root_attrs = {
            "OBJID": item.item_id,
            "LABEL": record.title,
            "TYPE": {"text": "monograph", "score": "score", "art": "art print"}.get(item.kind, item.kind),
            f"{{{_XSI}}}schemaLocation": _SCHEMA_LOCATIONS,
        }
        with xf.element(f"{{{METS_NS}}}mets", root_attrs, nsmap=_NSMAP):
            _header(xf, organization, software)
            with _el(xf, "dmdSec", ID="DMD_MODS"):
                with _el(xf, "mdWrap", MDTYPE="MODS", MIMETYPE="text/xml", LABEL="MODS 3.6"):
                    with _el(xf, "xmlData"):
                        xf.write(mods_element(record, len(pages), url, cataloging_language, organization))
            with _el(xf, "amdSec", ID="AMD"):
                with _el(xf, "digiprovMD", ID="PREMIS_1"):
                    with _el(xf, "mdWrap", MDTYPE="PREMIS", MIMETYPE="text/xml", LABEL="PREMIS 3.0"):
                        with _el(xf, "xmlData"):
                            with xf.element(f"{{{PREMIS_NS}}}premis", {"version": PREMIS_VERSION}):
                                _premis(xf, item, pages, files, masters, organization, software,
                                        first_time, run_date)
            seq_files = _file_sec(xf, pages, files, ids, {m.key: m for m in masters})
            _struct_map(xf, record, pages, files, ids, seq_files)


def _el(xf: XmlWriter, tag: str, **attrs: str | None) -> AbstractContextManager[None]:
    return xf.element(f"{{{METS_NS}}}{tag}", {k: v for k, v in attrs.items() if v is not None})


def _leaf(xf: XmlWriter, ns: str, tag: str, text: str | None = None, **attrs: str | None) -> None:
    with xf.element(f"{{{ns}}}{tag}", {k: v for k, v in attrs.items() if v is not None}):
        if text is not None:
            xf.write(text)


def _header(xf: XmlWriter, organization: str, software: str) -> None:
    with _el(xf, "metsHdr", RECORDSTATUS="complete"):
        with _el(xf, "agent", ROLE="CREATOR", TYPE="ORGANIZATION"):
            _leaf(xf, METS_NS, "name", organization)
        with _el(xf, "agent", ROLE="CREATOR", TYPE="OTHER", OTHERTYPE="SOFTWARE"):
            _leaf(xf, METS_NS, "name", software)


def _premis(
    xf: XmlWriter, item: Item, pages: Sequence[PageResult], files: Sequence[OutputFile], masters: list[_Master],
    organization: str, software: str, first_time: float | None, run_date: str,
) -> None:
    ocr_versions = sorted({s.settings.get("engine", "") for p in pages if (s := _step(p, "ocr"))} - {""})
    agents = [
        Agent("digitize", software.split(" ", 1)[0], "software", software.split(" ", 1)[1]),
        Agent("organization", organization, "organization"),
    ]
    for engine in ocr_versions:
        name, _, version = engine.partition(" ")
        agents.append(Agent(engine.replace(" ", "-"), name, "software", version or None))

    intake_date = iso_day(first_time) if first_time else run_date or "unknown"
    for m in masters:
        events = (f"intake-digest-{m.file_id}", f"fixity-{m.file_id}") if m.at_intake else (
            f"packaging-digest-{m.file_id}",)
        xf.write(file_object_element(m.key, m.sha256, m.size, m.mime, m.name,
                                     "digitize intake" if m.at_intake else "digitize packaging", events))
    for m in masters:
        if not m.at_intake:
            xf.write(event_element(Event(
                f"packaging-digest-{m.file_id}", "message digest calculation", run_date or intake_date,
                "SHA-256 of the master computed at packaging (no digest from intake for this file)",
                outcome_note=f"SHA-256 {m.sha256}", agents=(("digitize", "executing program"),),
                objects=((m.key, "source"),),
            )))
            continue
        xf.write(event_element(Event(
            f"intake-digest-{m.file_id}", "message digest calculation", intake_date,
            "SHA-256 of the scanned file computed when its batch was read (intake), before any processing",
            outcome_note=f"SHA-256 {m.sha256}",
            agents=(("digitize", "executing program"), ("organization", "implementer")),
            objects=((m.key, "source"),),
        )))
        xf.write(event_element(Event(
            f"fixity-{m.file_id}", "fixity check", run_date or intake_date,
            "SHA-256 of the master recomputed at packaging and compared with the intake digest",
            outcome="pass", outcome_note=f"SHA-256 {m.sha256} matches the intake digest",
            agents=(("digitize", "executing program"),),
            objects=((m.key, "source"),),
        )))

    keys_by_seq: dict[int, dict[str, str]] = defaultdict(dict)
    for f in files:
        seq = page_of_key(f.key)
        if seq is not None:
            keys_by_seq[seq].setdefault(f.role, f.key)
    master_key = {f.path: f.key for f in files if f.role == "master"}
    for page in pages:
        when = iso_day(t) if (t := _mtime(page.hocr) or _mtime(page.pdf)) else run_date or intake_date
        source = ((master_key[page.source], "source"),) if page.source in master_key else ()
        outputs = keys_by_seq.get(page.seq, {})
        label = f"page {page.seq}" + (f" (frame {page.frame + 1})" if page.frame else "")
        deskew = _step(page, "deskew")
        if deskew is not None:
            angle = deskew.settings.get("angle_degrees", page.skew_degrees)
            corrected = deskew.settings.get("corrected", True)
            xf.write(event_element(Event(
                f"deskew-{page.seq:06d}", "deskewing", when,
                f"{label}: {deskew.description}; measured angle {angle} degrees; "
                + ("rotated by that angle" if corrected else "below the correction threshold, not rotated"),
                outcome_note=f"angle_degrees={angle}",
                agents=(("digitize", "executing program"),), objects=source,
            )))
        warp = _step(page, "dewarp")
        if warp is not None and warp.settings.get("corrected"):
            xf.write(event_element(Event(
                f"dewarp-{page.seq:06d}", "dewarping", when,
                f"{label}: {warp.description}; {warp.settings.get('lines')} text lines measured; "
                f"largest shift {warp.settings.get('max_displacement_px')} px",
                outcome_note=f"max_displacement_px={warp.settings.get('max_displacement_px')}",
                agents=(("digitize", "executing program"),), objects=source,
            )))
        ocr = _step(page, "ocr")
        if ocr is not None:
            engine = ocr.settings.get("engine", "")
            results = tuple((outputs[r], "outcome") for r in ("hocr", "alto") if r in outputs)
            xf.write(event_element(Event(
                f"ocr-{page.seq:06d}", "optical character recognition", when,
                f"{label}: {ocr.description}; engine {engine}; model {ocr.settings.get('model')}; "
                f"page segmentation mode {ocr.settings.get('psm')}",
                outcome_note=f"{page.word_count} words, mean word confidence {page.mean_confidence}",
                agents=((engine.replace(" ", "-"), "executing program"),) if engine else (),
                objects=source + results,
            )))
        fix = _step(page, "postcorrect")
        if fix is not None:
            results = tuple((outputs[r], "outcome") for r in ("hocr", "alto") if r in outputs)
            changed = fix.settings.get("words_changed", 0)
            rules = ", ".join(f"{rule} {count}" for rule, count in sorted(fix.settings.get("rules", {}).items()))
            xf.write(event_element(Event(
                f"postcorrection-{page.seq:06d}", "modification", when,
                f"{label}: OCR post-correction: {fix.description}; profile {fix.settings.get('profile')}; "
                f"lexicon {fix.settings.get('lexicon') or 'none'}; words below confidence "
                f"{fix.settings.get('min_confidence')} never changed; each change (OCR reading, new text, rule) "
                "is listed in the page's processing record (report.json)",
                outcome_note=f"{changed} of {fix.settings.get('words_checked', 0)} words changed"
                + (f" ({rules})" if rules else ""),
                agents=(("digitize", "executing program"),), objects=results,
            )))
        translit = _step(page, "transliterate")
        if translit is not None:
            results = tuple((outputs[r], "outcome") for r in ("text-latin-page",) if r in outputs)
            xf.write(event_element(Event(
                f"transliteration-{page.seq:06d}", "transliteration", when,
                f"{label}: {translit.description}; rules version {translit.settings.get('rules_version')}; "
                f"alphabet era from publication year {translit.settings.get('year')}",
                outcome_note=f"rules_version={translit.settings.get('rules_version')}",
                agents=(("digitize", "executing program"),), objects=results,
            )))

    pdf_step = next((s for p in pages if (s := _step(p, "pdf"))), None)
    for f in files:
        if file_group(f.role) not in ("PDF", "EPUB"):
            continue
        detail = f"{f.key}: {f.content_type} built from the {len(pages)} processed pages"
        if file_group(f.role) == "PDF" and pdf_step is not None:
            settings = ", ".join(f"{k} {v}" for k, v in pdf_step.settings.items() if k != "dpi")
            detail += f" ({pdf_step.description}; {settings})"
        xf.write(event_element(Event(
            # The run's date, not the file's time: re-assembling the same pages
            # rewrites the file and must give the same METS.
            f"creation-{f.key}".replace("/", "-"), "creation", run_date or intake_date,
            detail, agents=(("digitize", "executing program"),), objects=((f.key, "outcome"),),
        )))

    for agent in agents:
        xf.write(agent_element(agent))


def _file_sec(
    xf: XmlWriter, pages: Sequence[PageResult], files: Sequence[OutputFile], ids: dict[str, str],
    masters: dict[str, _Master],
) -> dict[int, list[str]]:
    """Write the fileSec; returns page -> file IDs (for the structMap).

    A master belongs to every page cut from it (the frames of a multi-page
    TIFF, the halves of a two-page spread)."""
    groups: dict[str, list[OutputFile]] = defaultdict(list)
    for f in files:
        groups[file_group(f.role)].append(f)
    order = [g for g in _GROUPS if g in groups] + sorted(g for g in groups if g not in _GROUPS)
    seqs_of_source: dict[Path, list[int]] = defaultdict(list)
    for page in pages:
        seqs_of_source[page.source].append(page.seq)
    by_seq: dict[int, list[str]] = defaultdict(list)
    with _el(xf, "fileSec"):
        for group in order:
            with _el(xf, "fileGrp", ID=f"GRP_{group.replace('-', '_')}", USE=group):
                for f in groups[group]:
                    file_id = ids[f.key]
                    master = masters.get(f.key)
                    digest = master.sha256 if master else sha256_file(f.path)
                    size = master.size if master else f.path.stat().st_size
                    use = None
                    if group == "ACCESS" and f.content_type.split(";")[0].strip() in _LOSSY_TYPES:
                        use = LOSSY_ACCESS_USE  # a lossy access copy; the master is the preservation copy
                    attrs = {"ID": file_id, "MIMETYPE": f.content_type.split(";")[0].strip(), "SIZE": str(size),
                             "CHECKSUM": digest, "CHECKSUMTYPE": "SHA-256", "USE": use,
                             "ADMID": "PREMIS_1" if master else None}
                    with _el(xf, "file", **attrs):
                        _leaf(xf, METS_NS, "FLocat", LOCTYPE="URL", **{f"{{{_XLINK}}}href": f.key,
                                                                      f"{{{_XLINK}}}type": "simple"})
                    if f.role == "master":
                        for seq in seqs_of_source.get(f.path, ()):
                            by_seq[seq].append(file_id)
                    elif (page_seq := page_of_key(f.key)) is not None:
                        by_seq[page_seq].append(file_id)
    return by_seq


def _struct_map(
    xf: XmlWriter, record: ItemRecord, pages: Sequence[PageResult], files: Sequence[OutputFile],
    ids: dict[str, str], seq_files: dict[int, list[str]],
) -> None:
    per_page = {fid for fids in seq_files.values() for fid in fids}
    with _el(xf, "structMap", TYPE="PHYSICAL", ID="STRUCT_PHYSICAL"):
        with _el(xf, "div", ID="PHYS_0000", TYPE="physSequence", LABEL=record.title,
                 DMDID="DMD_MODS", ADMID="PREMIS_1"):
            for f in files:
                if ids[f.key] not in per_page and f.role != "master":
                    _leaf(xf, METS_NS, "fptr", FILEID=ids[f.key])
            for page in pages:
                with _el(xf, "div", ID=f"PHYS_{page.seq:04d}", TYPE="page", ORDER=str(page.seq),
                         ORDERLABEL=str(page.seq)):
                    for file_id in seq_files.get(page.seq, ()):
                        _leaf(xf, METS_NS, "fptr", FILEID=file_id)


def append_premis_event(document: bytes, event: Event, agents: Sequence[Agent], modified: str) -> bytes:
    """The METS ``document`` with one more PREMIS event (and its agents), everything else kept as it was.

    For decisions taken after the METS was written (a person approving or
    rejecting the item): the event goes after the last event, an agent not
    yet listed after the last agent (PREMIS order: objects, events, agents,
    rights), and ``metsHdr/@LASTMODDATE`` says when. Raises OutputError for
    a document without the PREMIS section this module writes.
    """
    parser = etree.XMLParser(no_network=True, resolve_entities=False, huge_tree=True, remove_blank_text=False)
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as exc:
        raise OutputError(f"the METS cannot be read, so the event {event.type!r} cannot be added: {exc}") from exc
    premis = root.find(f"{{{METS_NS}}}amdSec/{{{METS_NS}}}digiprovMD/{{{METS_NS}}}mdWrap/{{{METS_NS}}}xmlData"
                       f"/{{{PREMIS_NS}}}premis")
    if premis is None:
        raise OutputError(f"the METS has no PREMIS section (amdSec/digiprovMD): cannot add the event {event.type!r}")
    children = list(premis)

    def after(*tags: str) -> int:
        wanted = {f"{{{PREMIS_NS}}}{t}" for t in tags}
        return max((i + 1 for i, child in enumerate(children) if child.tag in wanted), default=0)

    premis.insert(after("object", "event"), event_element(event))
    children = list(premis)
    known = {el.text for el in premis.iterfind(f"{{{PREMIS_NS}}}agent/{{{PREMIS_NS}}}agentIdentifier/"
                                               f"{{{PREMIS_NS}}}agentIdentifierValue")}
    position = after("object", "event", "agent")
    for agent in agents:
        if agent.identifier not in known:
            premis.insert(position, agent_element(agent))
            known.add(agent.identifier)
            position += 1
    header = root.find(f"{{{METS_NS}}}metsHdr")
    if header is not None:
        header.set("LASTMODDATE", modified)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
