"""MODS 3.6 descriptive metadata of an item (goes into the METS dmdSec).

The title and names are kept in the printed script; the Latin forms made by
our transliteration are added as transliterated titles and alternative
names, marked with ``script``/``transliteration`` as MODS provides.
"""

from __future__ import annotations

from lxml import etree

from digitize.archive.records import ISO639_2, ItemRecord

__all__ = ["MODS_NS", "MODS_VERSION", "mods_element", "kind_resource_type"]

MODS_NS = "http://www.loc.gov/mods/v3"
MODS_VERSION = "3.6"
_XLINK = "http://www.w3.org/1999/xlink"

_TRANSLITERATION = "digitize Azerbaijani Cyrillic-Latin transliteration"
_TYPE_OF_RESOURCE = {"text": "text", "score": "notated music", "art": "still image"}


def kind_resource_type(kind: str) -> str:
    return _TYPE_OF_RESOURCE.get(kind, "text")


def _m(parent: etree._Element, tag: str, text: object = None, **attrs: str | None) -> etree._Element:
    el: etree._Element = etree.SubElement(parent, f"{{{MODS_NS}}}{tag}", {k: v for k, v in attrs.items() if v})
    if text is not None:
        el.text = str(text)
    return el


def mods_element(
    record: ItemRecord,
    page_count: int,
    url: str | None = None,
    cataloging_language: str = "aze",
    organization: str | None = None,
) -> etree._Element:
    """The item's <mods:mods> element (from the item record of archive/records.py)."""
    language = record.language or ""
    lang3 = ISO639_2.get(language, language) or None
    script = record.script
    mods = etree.Element(f"{{{MODS_NS}}}mods", {"version": MODS_VERSION}, nsmap={"mods": MODS_NS, "xlink": _XLINK})

    # The Latin forms are parallel representations of the same title/name:
    # MODS links them with altRepGroup and marks the script and the scheme.
    latin = record.title_latin
    has_latin = bool(latin and latin != record.title)
    title = _m(mods, "titleInfo", lang=lang3, script=script, altRepGroup="t1" if has_latin else None)
    _m(title, "title", record.title)
    if has_latin:
        alt = _m(mods, "titleInfo", lang=lang3, script="Latn", transliteration=_TRANSLITERATION, altRepGroup="t1")
        _m(alt, "title", latin)
    for parallel in record.parallel_titles:  # the title as printed in another language
        parallel_info = _m(mods, "titleInfo", type="translated")
        _m(parallel_info, "title", parallel)

    authors = record.authors
    authors_latin: tuple[str | None, ...] = record.authors_latin or (None,) * len(authors)
    for number, (author, author_latin) in enumerate(zip(authors, authors_latin, strict=False), 1):
        forms: list[tuple[str, str | None, str | None]] = [(author, script, None)]
        if author_latin and author_latin != author:
            forms.append((author_latin, "Latn", _TRANSLITERATION))
        for text, name_script, scheme in forms:
            name = _m(mods, "name", type="personal", usage="primary" if number == 1 and scheme is None else None,
                      lang=lang3, script=name_script, transliteration=scheme,
                      altRepGroup=f"n{number}" if len(forms) > 1 else None)
            _m(name, "namePart", text)
            role = _m(name, "role")
            _m(role, "roleTerm", "aut", type="code", authority="marcrelator")
            _m(role, "roleTerm", "author", type="text", authority="marcrelator")

    _m(mods, "typeOfResource", kind_resource_type(record.kind))
    if record.kind == "art":
        _m(mods, "genre", "print", authority="local")
    elif record.kind == "score":
        _m(mods, "genre", "score", authority="local")
    else:
        _m(mods, "genre", "book", authority="local")

    origin = _m(mods, "originInfo", eventType="publication")
    if record.place:
        place = _m(origin, "place")
        _m(place, "placeTerm", record.place, type="text")
    if record.publisher:
        _m(origin, "publisher", record.publisher)
    if record.year:
        _m(origin, "dateIssued", record.year, encoding="w3cdtf", keyDate="yes")
    if record.edition:
        _m(origin, "edition", record.edition)
    _m(origin, "issuance", "monographic")

    if lang3:
        lang_el = _m(mods, "language")
        _m(lang_el, "languageTerm", lang3, type="code", authority="iso639-2b")
        if script:
            _m(lang_el, "scriptTerm", script, type="code", authority="iso15924")

    physical = _m(mods, "physicalDescription")
    _m(physical, "form", "electronic", authority="marcform")
    _m(physical, "reformattingQuality", "preservation")
    _m(physical, "internetMediaType", "application/pdf")
    unit = "pages" if record.kind == "text" else "images"
    _m(physical, "extent", f"1 online resource ({page_count} {unit})")
    _m(physical, "digitalOrigin", "reformatted digital")

    _m(mods, "identifier", record.identifier, type="local")
    if record.inventory_number:
        _m(mods, "identifier", record.inventory_number, type="inventory number")
    if record.isbn:
        _m(mods, "identifier", record.isbn, type="isbn")

    if record.collection:
        host = _m(mods, "relatedItem", type="host")
        host_title = _m(host, "titleInfo")
        _m(host_title, "title", record.collection)
    if record.series:
        series = _m(mods, "relatedItem", type="series")
        series_title = _m(series, "titleInfo")
        _m(series_title, "title", record.series)
        if record.volume:
            _m(series_title, "partNumber", record.volume)

    for topic in record.subjects:
        subject = _m(mods, "subject")
        _m(subject, "topic", topic)
    for note in record.notes:
        _m(mods, "note", note)
    if record.rights:
        use = _m(mods, "accessCondition", record.rights, type="use and reproduction")
        if record.rights.startswith(("http://", "https://")):
            use.set(f"{{{_XLINK}}}href", record.rights)
    access_note = record.access_note()
    if access_note:
        _m(mods, "accessCondition", access_note, type="restriction on access")

    if url:
        location = _m(mods, "location")
        _m(location, "url", url, usage="primary display", access="object in context")

    info = _m(mods, "recordInfo")
    if organization:
        _m(info, "recordContentSource", organization)
    _m(info, "recordIdentifier", record.identifier)
    cataloging = _m(info, "languageOfCataloging")
    _m(cataloging, "languageTerm", cataloging_language, type="code", authority="iso639-2b")
    return mods
