"""A MARC 21 bibliographic record per item, for the library system (Koha, ALISA, IRBIS).

Written twice from one pymarc record: binary ISO 2709 (``.mrc``, UTF-8, so
leader position 9 is ``a``) and MARCXML. The record describes the digital
reproduction: 007/008 say "online", 533 says it is an electronic
reproduction made by the organisation, 856 links to the e-book in the
e-library (``settings.web.base_url``).

Transcription is in the printed script (245, 100); the Latin form made by
our transliteration goes into 246 (and 700 $a for names), so that both
can be searched.
"""

from __future__ import annotations

from pathlib import Path

import pymarc
from pymarc import Field, Indicators, Record, Subfield

from digitize.archive.records import ISO639_2, ItemRecord
from digitize.files import atomic_output, atomic_write_bytes

__all__ = ["marc_record", "write_marc", "personal_name"]

# MARC country code of the place of reproduction (Azerbaijan).
_COUNTRY = "aj "
_LEADER_TYPE = {"text": "a", "score": "c", "art": "k"}
_CONTENT = {"text": ("text", "txt"), "score": ("notated music", "ntm"), "art": ("still image", "sti")}


def personal_name(name: str) -> tuple[str, str]:
    """(first indicator, heading) for 100/700: "Һ. Әлизадә" -> ("1", "Әлизадә, Һ.").

    A name already given as "Surname, Forenames" is kept; a single word is a
    forename-style name (indicator 0).
    """
    name = " ".join(name.split())
    if "," in name:
        return "1", name
    parts = name.split(" ")
    if len(parts) == 1:
        return "0", name
    return "1", f"{parts[-1]}, {' '.join(parts[:-1])}"


def _f008(record: ItemRecord, entered: str, kind: str) -> str:
    """The 40 fixed-length positions (books/music/visual share 00-17 and 35-39)."""
    year = record.year
    date_type, date1 = ("s", f"{year:04d}") if year else ("n", "uuuu")
    language = ISO639_2.get(record.language or "", record.language or "und")[:3].ljust(3)
    head = f"{entered}{date_type}{date1}    {_COUNTRY}"
    # Positions 18-34 by type of material; "|" = not coded, " " = undefined/blank.
    if kind == "art":  # visual materials: 29 form of item o (online), 33 k graphic, 34 n technique n/a
        positions: dict[int, str] = {18: "nnn", 21: " ", 22: "|", 23: "     ", 28: "|", 29: "o", 30: "   ",
                                     33: "k", 34: "n"}
    elif kind == "score":  # music: 23 form of item o (online)
        positions = {18: "||", 20: "|", 21: "|", 22: "|", 23: "o", 24: "||||||", 30: "||", 32: " ", 33: "|", 34: " "}
    else:  # books: 23 form of item o (online)
        positions = {18: "||||", 22: "|", 23: "o", 24: "||||", 28: "|", 29: "|", 30: "|", 31: "|", 32: " ",
                     33: "|", 34: "|"}
    middle = "".join(positions[k] for k in sorted(positions))
    assert len(middle) == 17, middle
    field = f"{head}{middle}{language} d"
    assert len(field) == 40, (len(field), field)
    return field


def marc_record(
    record: ItemRecord,
    page_count: int,
    entered: str,
    organization: str,
    organization_code: str | None = None,
    cataloging_language: str = "aze",
    item_url: str | None = None,
    file_urls: tuple[tuple[str, str, str], ...] = (),
    reproduction_year: str | None = None,
) -> Record:
    """The item's MARC record. ``entered`` is YYMMDD (008/00-05); ``file_urls`` are
    (url, media type, label) of the stored e-book files."""
    kind = record.kind
    rec = Record(force_utf8=True, leader=f"00000n{_LEADER_TYPE.get(kind, 'a')}m a22000007c 4500")
    fields: list[Field] = []
    add = fields.append  # pymarc's Record.add_field is unannotated; the fields join the record at the end
    add(Field(tag="001", data=record.identifier))
    if organization_code:
        add(Field(tag="003", data=organization_code))
    add(Field(tag="007", data="cr |||||||||||"))
    add(Field(tag="008", data=_f008(record, entered, kind)))
    if record.isbn:
        add(Field(tag="020", indicators=Indicators(" ", " "), subfields=[Subfield("a", record.isbn)]))
    system_number = f"({organization_code}){record.identifier}" if organization_code else record.identifier
    add(Field(tag="035", indicators=Indicators(" ", " "), subfields=[Subfield("a", system_number)]))
    cataloging = [Subfield("a", organization_code)] if organization_code else []
    cataloging.append(Subfield("b", cataloging_language))
    if organization_code:
        cataloging.append(Subfield("c", organization_code))
    add(Field(tag="040", indicators=Indicators(" ", " "), subfields=cataloging))
    language = ISO639_2.get(record.language or "", record.language or "und")
    add(Field(tag="041", indicators=Indicators("0", " "), subfields=[Subfield("a", language)]))

    authors = record.authors
    authors_latin: tuple[str | None, ...] = record.authors_latin or (None,) * len(authors)
    for index, (author, latin) in enumerate(zip(authors, authors_latin, strict=False)):
        ind1, heading = personal_name(author)
        tag = "100" if index == 0 else "700"
        add(Field(tag=tag, indicators=Indicators(ind1, " "),
                            subfields=[Subfield("a", heading), Subfield("e", "author"), Subfield("4", "aut")]))
        if latin and latin != author:
            ind1, heading = personal_name(latin)
            add(Field(tag="700", indicators=Indicators(ind1, " "),
                                subfields=[Subfield("a", heading), Subfield("e", "author"), Subfield("4", "aut"),
                                           Subfield("g", "Latin transliteration")]))

    title_ind1 = "1" if authors else "0"
    add(Field(tag="245", indicators=Indicators(title_ind1, "0"), subfields=[Subfield("a", record.title)]))
    latin_title = record.title_latin
    if latin_title and latin_title != record.title:
        add(Field(tag="246", indicators=Indicators("1", " "),
                            subfields=[Subfield("i", "Latin transliteration:"), Subfield("a", latin_title)]))
    for parallel in record.parallel_titles:  # 246 second indicator 1: parallel title
        add(Field(tag="246", indicators=Indicators("1", "1"), subfields=[Subfield("a", parallel)]))
    if record.edition:
        add(Field(tag="250", indicators=Indicators(" ", " "), subfields=[Subfield("a", record.edition)]))
    publication = [Subfield("a", record.place)] if record.place else []
    if record.publisher:
        publication.append(Subfield("b", record.publisher))
    if record.year:
        publication.append(Subfield("c", str(record.year)))
    if publication:
        add(Field(tag="264", indicators=Indicators(" ", "1"), subfields=publication))
    unit = "pages" if kind == "text" else "images"
    add(Field(tag="300", indicators=Indicators(" ", " "),
                        subfields=[Subfield("a", f"1 online resource ({page_count} {unit})")]))
    content, code = _CONTENT.get(kind, _CONTENT["text"])
    add(Field(tag="336", indicators=Indicators(" ", " "),
                        subfields=[Subfield("a", content), Subfield("b", code), Subfield("2", "rdacontent")]))
    add(Field(tag="337", indicators=Indicators(" ", " "),
                        subfields=[Subfield("a", "computer"), Subfield("b", "c"), Subfield("2", "rdamedia")]))
    add(Field(tag="338", indicators=Indicators(" ", " "),
                        subfields=[Subfield("a", "online resource"), Subfield("b", "cr"), Subfield("2", "rdacarrier")]))
    if record.collection:
        add(Field(tag="490", indicators=Indicators("0", " "), subfields=[Subfield("a", record.collection)]))
    if record.series:
        series = [Subfield("a", record.series)]
        if record.volume:
            series.append(Subfield("v", record.volume))
        add(Field(tag="490", indicators=Indicators("0", " "), subfields=series))
    if record.inventory_number:
        add(Field(tag="500", indicators=Indicators(" ", " "),
                            subfields=[Subfield("a", f"Inventory number of the original: {record.inventory_number}")]))
    for note in record.notes:
        add(Field(tag="500", indicators=Indicators(" ", " "), subfields=[Subfield("a", note)]))
    access_note = record.access_note()
    if access_note:  # 506 first indicator 1: restrictions apply; $g: the date they end
        restriction = [Subfield("a", access_note)]
        if record.embargo_until is not None:
            restriction.append(Subfield("g", record.embargo_until.isoformat()))
        add(Field(tag="506", indicators=Indicators("1", " "), subfields=restriction))
    reproduction = [Subfield("a", "Electronic reproduction."), Subfield("c", organization)]
    if reproduction_year:
        reproduction.append(Subfield("d", reproduction_year))
    add(Field(tag="533", indicators=Indicators(" ", " "), subfields=reproduction))
    if record.rights:  # a URI in $u (with its words in $a when known), the library's words in $a
        uri = record.rights.startswith(("http://", "https://"))
        terms = [Subfield("a", "Rights statement: see URI."), Subfield("u", record.rights)] if uri else [
            Subfield("a", record.rights)]
        add(Field(tag="540", indicators=Indicators(" ", " "), subfields=terms))
    for topic in record.subjects:  # second indicator 4: source not specified
        add(Field(tag="650", indicators=Indicators(" ", "4"), subfields=[Subfield("a", topic)]))
    if item_url:
        add(Field(tag="856", indicators=Indicators("4", "0"),
                            subfields=[Subfield("u", item_url), Subfield("z", "Read online")]))
    # A restricted item (access level, embargo) is described, not linked: its files are refused to most readers.
    for url, media_type, label in () if record.restricted else file_urls:
        add(Field(tag="856", indicators=Indicators("4", "0"),
                            subfields=[Subfield("3", label), Subfield("u", url), Subfield("q", media_type)]))
    rec.fields.extend(fields)
    return rec


def write_marc(rec: Record, mrc: Path, xml: Path) -> None:
    """Binary ISO 2709 and MARCXML (a one-record collection), each written atomically."""
    for dest in (mrc, xml):
        dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(mrc, rec.as_marc())
    with atomic_output(xml) as handle:
        writer = pymarc.XMLWriter(handle)
        writer.write(rec)
        writer.close(close_fh=False)
