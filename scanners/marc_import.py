"""item.toml files from MARC 21 (``.mrc``) or MARCXML exported by the library system.

``digitize metadata import-marc FILE BATCH_DIR``. Each record becomes one
row of :mod:`digitize.scanners.sheets` (validated, matched, written the
same way). What is read:

* title: 245 $a $b $n $p, ISBD punctuation at the end removed;
* authors: 100 $a, then every 700 $a;
* year: 264 $c, else 260 $c (the first four digits), else 008/07-10;
* publisher and place: 264 (or 260) $b and $a; edition 250 $a; series
  490 $a; subjects 650 and 651 $a; notes 500 $a (each only if item.toml
  has the key);
* language: 041 $a, else 008/35-37, as a BCP 47 tag (``aze`` → ``az``);
* inventory number: 852 $p, else 852 $j, else 090 $a, else 001.

A record finds its item folder by inventory number: a folder named by one
of the numbers above (``match="any"``), or only by 001, 090 $a or 852
(``match``), or a folder whose existing item.toml holds it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pymarc import MARCReader, Record, parse_xml_to_array

from digitize.errors import MetadataError
from digitize.scanners.metadata import ItemMetadata
from digitize.scanners.sheets import ImportOutcome, ImportStatus, SheetRow, import_rows
from digitize.scanners.text import shown

__all__ = ["MarcMatch", "MARC_LANGUAGES", "read_marc", "import_marc"]

MarcMatch = Literal["any", "001", "090", "852"]

# MARC language codes (ISO 639-2/B) to the BCP 47 tags item.toml uses; an
# unlisted code is kept as it is (a valid ISO 639-2 tag).
MARC_LANGUAGES: dict[str, str] = {
    "aze": "az", "rus": "ru", "eng": "en", "tur": "tr", "per": "fa", "ara": "ar", "ger": "de", "fre": "fr",
    "geo": "ka", "arm": "hy", "uzb": "uz", "kaz": "kk", "tat": "tt", "tuk": "tk", "ukr": "uk", "kir": "ky",
}  # fmt: skip

_TRAILING = re.compile(r"[\s/:;,=]+$")
_INITIAL = re.compile(r"(?:^|\W)\w\.$")  # "Һ." ends in a period that belongs to it
_YEAR = re.compile(r"\d{4}")


def import_marc(
    path: Path, batch_dir: Path, *, match: MarcMatch = "any", overwrite: bool = False, dry_run: bool = False
) -> list[ImportOutcome]:
    """Write an item.toml into each item folder of ``batch_dir`` that a record of ``path`` matches."""
    rows, unreadable = read_marc(path, match=match)
    outcomes = import_rows(rows, batch_dir, overwrite=overwrite, dry_run=dry_run)
    outcomes.extend(unreadable)
    return sorted(outcomes, key=lambda outcome: outcome.row)


def read_marc(path: Path, *, match: MarcMatch = "any") -> tuple[list[SheetRow], list[ImportOutcome]]:
    """The records of a MARC 21 or MARCXML file as rows, and the records that could not be read."""
    path = Path(path)
    try:
        head = path.read_bytes()[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError as exc:
        raise MetadataError(f"{shown(path)}: cannot be read ({exc.strerror or exc})") from exc
    rows: list[SheetRow] = []
    unreadable: list[ImportOutcome] = []
    if head.startswith(b"<"):
        try:
            records: list[Record | None] = list(parse_xml_to_array(str(path)))  # type: ignore[no-untyped-call]
        except Exception as exc:  # SAX parse errors and pymarc's own
            raise MetadataError(f"{shown(path)}: not MARCXML that can be read ({exc})") from exc
        problems: list[str] = ["" for _ in records]
    else:
        records, problems = [], []
        with path.open("rb") as handle:
            reader = MARCReader(handle, to_unicode=True, force_utf8=True)
            for record in reader:
                records.append(record)
                problems.append("" if record is not None else str(reader.current_exception))
    if not records:
        raise MetadataError(f"{shown(path)}: holds no MARC records")
    for number, (record, problem) in enumerate(zip(records, problems, strict=True), 1):
        if record is None:
            unreadable.append(
                ImportOutcome(
                    number, None, ImportStatus.REFUSED, f"record {number}: cannot be read ({problem}); nothing written"
                )
            )
            continue
        rows.append(_row(record, number, match))
    return rows, unreadable


def _row(record: Record, number: int, match: MarcMatch) -> SheetRow:
    fields = ItemMetadata.model_fields
    values: list[tuple[str, object]] = []

    def put(key: str, value: object) -> None:
        if key in fields and value not in (None, "", []):
            values.append((key, value))

    title = " ".join(v for f in record.get_fields("245") for v in f.get_subfields("a", "b", "n", "p"))
    put("title", _clean(title))
    authors = [_clean(v) for tag in ("100", "700") for f in record.get_fields(tag) for v in f.get_subfields("a")]
    put("authors", [a for a in authors if a])
    imprint = record.get_fields("264", "260")
    dates = [v for f in imprint for v in f.get_subfields("c")]
    year = next((m.group() for m in map(_YEAR.search, dates) if m), None)
    fixed = _control(record, "008")
    if year is None and fixed[7:11].isdigit():
        year = fixed[7:11]
    put("year", year)
    put("publisher", next((_clean(v) for f in imprint for v in f.get_subfields("b")), None))
    put("place", next((_clean(v) for f in imprint for v in f.get_subfields("a")), None))
    put("edition", next((_clean(v) for f in record.get_fields("250") for v in f.get_subfields("a")), None))
    put("series", next((_clean(v) for f in record.get_fields("490") for v in f.get_subfields("a")), None))
    put("subjects", [_clean(v) for f in record.get_fields("650", "651") for v in f.get_subfields("a")])
    put("notes", [_clean(v) for f in record.get_fields("500") for v in f.get_subfields("a")])
    code = next((v for f in record.get_fields("041") for v in f.get_subfields("a")), None) or fixed[35:38]
    code = code.strip().lower()
    if code and code not in ("|||", "und", "zxx"):
        put("language", MARC_LANGUAGES.get(code, code))

    holdings = record.get_fields("852")
    numbers = {
        "852": [v.strip() for f in holdings for v in f.get_subfields("p")]
        + [v.strip() for f in holdings for v in f.get_subfields("j")],
        "090": [v.strip() for f in record.get_fields("090") for v in f.get_subfields("a")],
        "001": [_control(record, "001").strip()],
    }
    found = [n for tag in ("852", "090", "001") for n in numbers[tag] if n]
    put("inventory_number", found[0] if found else None)
    keys = found if match == "any" else [n for n in numbers[match] if n]
    return SheetRow(number, f"record {number}", None, tuple(dict.fromkeys(keys)), tuple(values))


def _control(record: Record, tag: str) -> str:
    field = record.get(tag)
    data = getattr(field, "data", None) if field is not None else None
    return data if isinstance(data, str) else ""


def _clean(value: str) -> str:
    """A MARC value without its ISBD punctuation at the end (" /", " :", ","), initials' periods kept."""
    value = _TRAILING.sub("", value.strip())
    if value.endswith(".") and not _INITIAL.search(value):
        value = value[:-1].rstrip()
    return value
