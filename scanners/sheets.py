"""item.toml files from a sheet (CSV or XLSX): metadata without hand-typing.

``digitize metadata import SHEET BATCH_DIR``. One row per item; the first
non-empty row names the columns. A row finds its item folder by a
``folder`` column (the folder's name), else by its inventory number (a
folder named by it, or whose existing item.toml holds it). Column names are
item.toml keys, or the names library sheets use in Azerbaijani, Russian or
English (:data:`COLUMN_ALIASES`: ``Başlıq``, ``Заглавие``, ``Title``); a
column that is neither is refused, as item.toml refuses an unknown key.
Cells that hold several values (authors, subjects, notes) separate them
with ``;``.

Every row is validated with intake's own model
(:class:`~digitize.scanners.metadata.ItemMetadata`) before anything is
written, and what is written is read back and compared, so intake reads
exactly what the sheet said. One bad row is refused with its row number
and the field; the other rows are still written. An existing item.toml
(typed by hand, or imported before) is kept unless ``overwrite``. TOML is
written by ``tomli-w`` (quotes, backslashes and ``#`` escaped correctly),
through the one atomic writer.

MARC 21 and MARCXML exports go through the same path
(:mod:`digitize.scanners.marc_import`).
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import re
import tomllib
import typing
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from pydantic import ValidationError

from digitize.errors import MetadataError
from digitize.files import atomic_write_text
from digitize.scanners.metadata import METADATA_FILENAME, ItemMetadata
from digitize.scanners.text import shown

__all__ = [
    "COLUMN_ALIASES",
    "FOLDER_COLUMN",
    "ImportStatus",
    "ImportOutcome",
    "SheetRow",
    "read_sheet",
    "import_rows",
    "import_sheet",
]

FOLDER_COLUMN = "folder"

# Column names library sheets use, normalised (lower case, '_' '.' '-' as
# spaces). A target that ItemMetadata does not have is not offered.
COLUMN_ALIASES: dict[str, str] = {
    **dict.fromkeys(["folder name", "qovluq", "qovluğun adı", "папка"], FOLDER_COLUMN),
    **dict.fromkeys(["başlıq", "ad", "kitabın adı", "sərlövhə", "название", "заглавие", "заголовок"], "title"),
    **dict.fromkeys(["author", "müəllif", "müəlliflər", "автор", "авторы"], "authors"),
    **dict.fromkeys(["il", "nəşr ili", "год", "год издания"], "year"),
    **dict.fromkeys(["dil", "язык"], "language"),
    **dict.fromkeys(["əlifba", "qrafika", "алфавит", "графика"], "script"),
    **dict.fromkeys(["növ", "тип", "вид"], "kind"),
    **dict.fromkeys(
        [
            "inventory",
            "inventory no",
            "inv no",
            "inv",
            "inventar",
            "inventar no",
            "inventar nömrəsi",
            "инвентарный номер",
            "инв номер",
            "инв",
        ],
        "inventory_number",
    ),
    **dict.fromkeys(["kolleksiya", "fond", "коллекция", "фонд"], "collection"),
    **dict.fromkeys(["id", "identifikator", "идентификатор"], "identifier"),
    **dict.fromkeys(["nəşriyyat", "издательство", "издатель"], "publisher"),
    **dict.fromkeys(["place of publication", "nəşr yeri", "место издания", "город"], "place"),
    **dict.fromkeys(["nəşr", "издание"], "edition"),
    **dict.fromkeys(["seriya", "серия"], "series"),
    **dict.fromkeys(["cild", "том"], "volume"),
    **dict.fromkeys(["subject", "mövzu", "mövzular", "рубрики", "предметные рубрики"], "subjects"),
    **dict.fromkeys(["note", "qeyd", "qeydlər", "примечание", "примечания"], "notes"),
}

_MULTI_SEPARATOR = ";"
_TRUE = {"true", "yes", "1", "bəli", "hə", "да"}
_FALSE = {"false", "no", "0", "xeyr", "yox", "нет"}
_HEADER_SPACES = re.compile(r"[\s_.\-]+")


class ImportStatus(enum.StrEnum):
    WRITTEN = "written"
    WOULD_WRITE = "would write"  # a dry run
    KEPT = "kept"  # an item.toml was there already
    REFUSED = "refused"


@dataclass(frozen=True)
class SheetRow:
    """One row of a sheet (or one MARC record): where it is, what it matches, its item.toml values."""

    number: int  # the row number a spreadsheet shows (the header is row 1), or the record's
    where: str  # "row 3", "record 2": how messages name it
    folder: str | None  # the item folder it names, if it names one
    keys: tuple[str, ...]  # else: inventory numbers, matched with folder names and existing item.toml files
    values: tuple[tuple[str, object], ...]  # item.toml keys and the cells' values, in the sheet's order
    problem: str | None = None  # why the row cannot be used as it is, whatever its values


@dataclass(frozen=True)
class ImportOutcome:
    """What became of one row."""

    row: int
    folder: Path | None
    status: ImportStatus
    message: str
    toml: str = ""  # what was (or would be) written


def import_sheet(
    sheet: Path, batch_dir: Path, *, overwrite: bool = False, dry_run: bool = False
) -> list[ImportOutcome]:
    """Write an item.toml into each item folder of ``batch_dir`` that a row of ``sheet`` names."""
    return import_rows(read_sheet(sheet), batch_dir, overwrite=overwrite, dry_run=dry_run)


def read_sheet(sheet: Path) -> list[SheetRow]:
    """The rows of a CSV or XLSX file; a sheet that cannot be read, or an unknown column, raises MetadataError."""
    sheet = Path(sheet)
    suffix = sheet.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        table = list(_xlsx_rows(sheet))
    elif suffix in (".csv", ".tsv", ".txt"):
        table = list(_csv_rows(sheet))
    else:
        raise MetadataError(f"{shown(sheet)}: not a sheet this import reads (.csv or .xlsx; save it as one)")
    header_at = next((i for i, (_, cells) in enumerate(table) if any(_blank(c) is not None for c in cells)), None)
    if header_at is None:
        raise MetadataError(f"{shown(sheet)}: the sheet is empty")
    columns = _columns(sheet, table[header_at][1])
    if FOLDER_COLUMN not in columns and "inventory_number" not in columns:
        raise MetadataError(
            f"{shown(sheet)}: no column names the item folder; add a column 'folder' (the folder's name) "
            "or 'inventory_number'"
        )
    rows: list[SheetRow] = []
    for number, cells in table[header_at + 1 :]:
        values = [(key, _blank(cells[i] if i < len(cells) else None)) for i, key in enumerate(columns)]
        present = [(key, value) for key, value in values if key and value is not None]
        if not present:
            continue
        folder = next((str(v).strip() for k, v in present if k == FOLDER_COLUMN), None)
        extra = [c for c in cells[len(columns) :] if _blank(c) is not None]
        problem = (
            f"{len(columns) + len(extra)} cells but the header names {len(columns)} columns "
            f"(extra: {', '.join(repr(shown(c)) for c in extra)}; a ';' or ',' inside a cell that is not quoted?)"
            if extra
            else None
        )
        inventory = next((str(v).strip() for k, v in present if k == "inventory_number"), None)
        rows.append(
            SheetRow(
                number,
                f"row {number}",
                folder,
                (inventory,) if inventory else (),
                tuple((k, v) for k, v in present if k != FOLDER_COLUMN),
                problem,
            )
        )
    return rows


def import_rows(
    rows: Iterable[SheetRow], batch_dir: Path, *, overwrite: bool = False, dry_run: bool = False
) -> list[ImportOutcome]:
    """Validate each row, match it to its item folder and write (or, dry, show) its item.toml."""
    batch_dir = Path(batch_dir)
    if not batch_dir.is_dir():
        raise MetadataError(f"{shown(batch_dir)}: batch folder does not exist or is not a folder")
    folders = sorted(p for p in batch_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    by_name = {_nfc(p.name): p for p in folders}
    # A folder's own name wins over an inventory number found in another folder's item.toml.
    by_key = {_nfc(sub.name).casefold(): sub for sub in reversed(folders)}
    for sub in folders:
        existing = _existing_inventory(sub / METADATA_FILENAME)
        if existing:
            by_key.setdefault(_nfc(existing).casefold(), sub)
    claimed: dict[Path, str] = {}
    outcomes: list[ImportOutcome] = []
    for row in rows:
        folder, refusal = _match(row, by_name, by_key)
        if folder is None:
            outcomes.append(ImportOutcome(row.number, None, ImportStatus.REFUSED, refusal))
            continue
        if folder in claimed:
            outcomes.append(
                ImportOutcome(
                    row.number,
                    folder,
                    ImportStatus.REFUSED,
                    f"{row.where}: folder {shown(folder.name)!r} was already given its metadata by "
                    f"{claimed[folder]}; nothing written for this row (one row per item)",
                )
            )
            continue
        claimed[folder] = row.where
        outcomes.append(_write_row(row, folder, overwrite=overwrite, dry_run=dry_run))
    return outcomes


def _write_row(row: SheetRow, folder: Path, *, overwrite: bool, dry_run: bool) -> ImportOutcome:
    target = folder / METADATA_FILENAME
    if row.problem is not None:
        return ImportOutcome(
            row.number,
            folder,
            ImportStatus.REFUSED,
            f"{row.where} (folder {shown(folder.name)!r}): {row.problem}; nothing written for this row",
        )
    try:
        data = _typed_values(row.values)
        metadata = ItemMetadata.model_validate(data)
    except (ValueError, ValidationError) as exc:
        return ImportOutcome(
            row.number,
            folder,
            ImportStatus.REFUSED,
            f"{row.where} (folder {shown(folder.name)!r}): {_describe(exc)}; nothing written for this row",
        )
    text = _toml(metadata, [key for key, _ in row.values], row.where)
    # What intake will read must be what the sheet said: checked, not hoped.
    if ItemMetadata.model_validate(tomllib.loads(text)) != metadata:
        return ImportOutcome(
            row.number, folder, ImportStatus.REFUSED, f"{row.where}: the TOML written would not read back the same"
        )
    if target.exists() and not overwrite:
        return ImportOutcome(
            row.number,
            folder,
            ImportStatus.KEPT,
            f"{row.where}: {shown(target)} exists and is kept (--overwrite to replace it)",
            text,
        )
    if dry_run:
        return ImportOutcome(
            row.number, folder, ImportStatus.WOULD_WRITE, f"{row.where}: would write {shown(target)}", text
        )
    atomic_write_text(target, text)
    return ImportOutcome(row.number, folder, ImportStatus.WRITTEN, f"{row.where}: wrote {shown(target)}", text)


def _match(row: SheetRow, by_name: dict[str, Path], by_key: dict[str, Path]) -> tuple[Path | None, str]:
    if row.folder is not None:
        folder = by_name.get(_nfc(row.folder))
        if folder is None:
            return None, f"{row.where}: no item folder {shown(row.folder)!r} in the batch; nothing written"
        return folder, ""
    for key in row.keys:
        keyed = by_key.get(_nfc(key).casefold())
        if keyed is not None:
            return keyed, ""
    wanted = " or ".join(repr(shown(key)) for key in row.keys) or "(no inventory number)"
    return None, (
        f"{row.where}: no item folder named {wanted}, nor one whose {METADATA_FILENAME} has that inventory "
        "number; nothing written"
    )


def _typed_values(values: tuple[tuple[str, object], ...]) -> dict[str, object]:
    """The cells as item.toml values: lists split on ';', booleans and numbers from text."""
    data: dict[str, object] = {}
    for key, value in values:
        annotation = ItemMetadata.model_fields[key].annotation
        if _is_multi(annotation):
            if isinstance(value, (list, tuple)):
                parts: list[object] = list(value)
            elif isinstance(value, str):
                parts = list(value.split(_MULTI_SEPARATOR))
            else:
                parts = [value]
            data[key] = [_text(part).strip() for part in parts if _text(part).strip()]
        elif _allows(annotation, bool) and isinstance(value, str) and value.strip().casefold() in _TRUE | _FALSE:
            data[key] = value.strip().casefold() in _TRUE
        elif isinstance(value, float) and value.is_integer() and _allows(annotation, int):
            data[key] = int(value)
        elif isinstance(value, dt.datetime):
            data[key] = value.date()
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and _allows(annotation, str):
            data[key] = _text(value)
        elif isinstance(value, str):
            data[key] = value.strip()
        else:
            data[key] = value
    return data


def _toml(metadata: ItemMetadata, keys: list[str], where: str) -> str:
    """The item.toml: the sheet's keys in the model's order, as TOML types (enums as text, tuples as arrays)."""
    data: dict[str, object] = {}
    for name in ItemMetadata.model_fields:
        if name not in keys:
            continue
        value = getattr(metadata, name)
        if value is None:
            continue
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        data[name] = value
    return f"# Written by digitize metadata import ({where}).\n" + tomli_w.dumps(data)


def _describe(exc: ValueError | ValidationError) -> str:
    if not isinstance(exc, ValidationError):
        return str(exc)
    parts = []
    for err in exc.errors():
        field = " ".join(f"#{p + 1}" if isinstance(p, int) else str(p) for p in err["loc"]) or "row"
        problem = str(err["ctx"]["error"]) if err["type"] == "value_error" and "ctx" in err else err["msg"]
        value = err.get("input")
        shown_value = f" {shown(value)!r}" if isinstance(value, (str, int, float)) else ""
        parts.append(f"{field}{shown_value}: {problem}")
    return "; ".join(parts)


def _columns(sheet: Path, header: list[object]) -> list[str]:
    """Each column's item.toml key ('' for a column without a name); an unknown name raises."""
    known = set(ItemMetadata.model_fields) | {FOLDER_COLUMN}
    columns: list[str] = []
    for number, cell in enumerate(header, 1):
        name = _blank(cell)
        if name is None:
            columns.append("")
            continue
        plain = _header_key(str(name))
        key = plain.replace(" ", "_") if plain.replace(" ", "_") in known else _ALIASES.get(plain, "")
        if key not in known:
            raise MetadataError(
                f"{shown(sheet)}: column {number} {shown(name)!r} is not an item.toml key nor a known column "
                f"name; rename it to one of: {', '.join(sorted(known))} (or remove the column); nothing written"
            )
        if key in columns:
            raise MetadataError(
                f"{shown(sheet)}: column {number} {shown(name)!r} is a second '{key}' column; nothing written"
            )
        columns.append(key)
    return columns


def _csv_rows(sheet: Path) -> Iterator[tuple[int, list[object]]]:
    try:
        text = sheet.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MetadataError(f"{shown(sheet)}: not UTF-8 text ({exc}); save the sheet as 'CSV UTF-8'") from exc
    first = next((line for line in text.splitlines() if line.strip()), "")
    # Excel writes ';' in Azerbaijani and Russian locales, ',' in English ones.
    delimiter = max(",;\t", key=first.count)
    for number, cells in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), 1):
        yield number, list(cells)


def _xlsx_rows(sheet: Path) -> Iterator[tuple[int, list[object]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(sheet, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError, ValueError … for a damaged file
        raise MetadataError(f"{shown(sheet)}: cannot be read as an XLSX workbook ({exc})") from exc
    try:
        worksheet = book.worksheets[0]
        for number, cells in enumerate(worksheet.iter_rows(min_row=1, values_only=True), 1):
            yield number, list(cells)
    finally:
        book.close()


def _existing_inventory(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            value = tomllib.load(handle).get("inventory_number")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) else None


def _header_key(name: str) -> str:
    """A column name compared without case, spacing or '_' '.' '-' (Azerbaijani İ folds to i, not i + dot)."""
    folded = _nfc(name).replace("\u0130", "i").casefold().replace("\u0307", "")
    return _HEADER_SPACES.sub(" ", folded).strip()


def _blank(cell: object) -> object | None:
    """None for an empty cell (or one of spaces)."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    return cell


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _nfc(text: str) -> str:
    # macOS writes file names decomposed (NFD); sheets hold them composed.
    return unicodedata.normalize("NFC", text.strip())


def _is_multi(annotation: object) -> bool:
    return typing.get_origin(annotation) is tuple


def _allows(annotation: object, kind: type) -> bool:
    if annotation is kind:
        return True
    return kind in typing.get_args(annotation)


# Column names as compared (after the helpers they need are defined).
_ALIASES = {_header_key(alias): key for alias, key in COLUMN_ALIASES.items()}
