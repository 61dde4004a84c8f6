"""digitize metadata import / import-marc, and identifiers for Cyrillic folder names.

Staff fill a sheet (CSV, XLSX) or export MARC 21 from the library system
instead of typing item.toml by hand; intake must read back exactly what the
sheet said. Every input here is generated in the test (csv, openpyxl,
pymarc), and every written item.toml is read back by intake itself.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import Workbook
from PIL import Image
from pymarc import Field, Indicators, Record, Subfield, XMLWriter
from typer.testing import CliRunner

from digitize.cli import app
from digitize.errors import ExitCode, MetadataError
from digitize.scanners.batch import read_batch
from digitize.scanners.marc_import import import_marc
from digitize.scanners.metadata import read_metadata
from digitize.scanners.sheets import ImportStatus, import_sheet
from digitize.transliteration.identifier import identifier_from_name

from helpers.flows import art_batch, env_for, run_cli


def _folder(batch: Path, name: str) -> Path:
    folder = batch / name
    folder.mkdir(parents=True)
    Image.new("L", (40, 60), 255).save(folder / "p1.png")
    return folder


def _csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


TRICKY_TITLE = 'Şeirlər "seçilmiş" \\ cild 1 # [2]'


def test_csv_sheet_of_three_books_gives_three_items_intake_reads_back(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    for name in ("нағыл-2", "INV-0042", "seirler"):
        _folder(batch, name)
    # Azerbaijani column names, as staff would head them; ';' separates authors.
    sheet = _csv(
        tmp_path / "books.csv",
        [
            ["Qovluq", "Başlıq", "Müəlliflər", "İl", "Dil", "Inventar nömrəsi"],
            ["нағыл-2", "Азәрбајҹан халг нағыллары", "Һ. Әлизадә; Ә. Ахундов", "1968", "az", "INV-1968-1"],
            ["INV-0042", "Сечилмиш әсәрләри", "М. Ф. Ахундов", "1951", "az", "INV-0042"],
            ["seirler", TRICKY_TITLE, "", "2001", "az", ""],
        ],
    )
    outcomes = import_sheet(sheet, batch)
    assert [o.status for o in outcomes] == [ImportStatus.WRITTEN] * 3, [o.message for o in outcomes]

    read = read_batch(batch, identifier_from_name=identifier_from_name)
    assert read.problems == ()
    by_id = {item.item_id: item.metadata for item in read.items}
    assert set(by_id) == {"nagil-2", "INV-0042", "seirler"}
    assert by_id["nagil-2"].title == "Азәрбајҹан халг нағыллары"
    assert by_id["nagil-2"].authors == ("Һ. Әлизадә", "Ә. Ахундов")
    assert by_id["nagil-2"].year == 1968
    assert by_id["nagil-2"].inventory_number == "INV-1968-1"
    assert by_id["INV-0042"].authors == ("М. Ф. Ахундов",)
    # Quotes, a backslash, '#' and brackets survive TOML exactly.
    assert by_id["seirler"].title == TRICKY_TITLE
    assert by_id["seirler"].authors == ()
    assert by_id["seirler"].inventory_number is None


def test_xlsx_sheet_keyed_by_inventory_number(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    _folder(batch, "INV-7")
    _folder(batch, "INV-8")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    # Russian column names; the year as a number cell, as Excel keeps it.
    sheet.append(["Инвентарный номер", "Заглавие", "Авторы", "Год издания", "Коллекция"])
    sheet.append(["INV-8", "Китаб 8", "Б. Бағыров", 1958, "Fond A"])
    sheet.append(["INV-7", "Китаб 7", "А. Әлиев;Ҹ. Ҹаббарлы", 1937.0, None])
    book.save(tmp_path / "books.xlsx")

    outcomes = import_sheet(tmp_path / "books.xlsx", batch)
    assert [(o.row, o.folder, o.status) for o in outcomes] == [
        (2, batch / "INV-8", ImportStatus.WRITTEN),
        (3, batch / "INV-7", ImportStatus.WRITTEN),
    ]
    eight = read_metadata(batch / "INV-8" / "item.toml")
    seven = read_metadata(batch / "INV-7" / "item.toml")
    assert (eight.title, eight.year, eight.collection, eight.inventory_number) == ("Китаб 8", 1958, "Fond A", "INV-8")
    assert (seven.year, seven.authors, seven.collection) == (1937, ("А. Әлиев", "Ҹ. Ҹаббарлы"), None)


def test_bad_row_is_named_with_its_field_and_the_other_rows_are_written(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    for name in ("a", "b", "c"):
        _folder(batch, name)
    sheet = _csv(
        tmp_path / "books.csv",
        [
            ["folder", "title", "year", "kind"],
            ["a", "Book A", "1960", "text"],
            ["b", "Book B", "19x8", "text"],
            ["c", "Book C", "1970", "score"],
        ],
        delimiter=";",  # what Excel writes in an Azerbaijani or Russian locale
    )
    outcomes = import_sheet(sheet, batch)
    assert [o.status for o in outcomes] == [ImportStatus.WRITTEN, ImportStatus.REFUSED, ImportStatus.WRITTEN]
    bad = outcomes[1]
    assert "row 3" in bad.message and "year" in bad.message and "19x8" in bad.message
    assert not (batch / "b" / "item.toml").exists()
    assert read_metadata(batch / "a" / "item.toml").year == 1960
    assert read_metadata(batch / "c" / "item.toml").kind.value == "score"


def test_row_naming_no_folder_and_a_second_row_for_one_folder_are_refused(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    _folder(batch, "a")
    sheet = _csv(
        tmp_path / "books.csv",
        [["folder", "title"], ["a", "First"], ["missing", "Nowhere"], ["a", "Second"]],
    )
    outcomes = import_sheet(sheet, batch)
    assert [o.status for o in outcomes] == [ImportStatus.WRITTEN, ImportStatus.REFUSED, ImportStatus.REFUSED]
    assert "row 3" in outcomes[1].message and "'missing'" in outcomes[1].message
    assert "row 4" in outcomes[2].message and "row 2" in outcomes[2].message
    assert read_metadata(batch / "a" / "item.toml").title == "First"


def test_unknown_column_refuses_the_sheet_naming_it(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    _folder(batch, "a")
    sheet = _csv(tmp_path / "books.csv", [["folder", "title", "Titel"], ["a", "A", "B"]])
    with pytest.raises(MetadataError, match="Titel"):
        import_sheet(sheet, batch)
    assert not (batch / "a" / "item.toml").exists()


def test_existing_item_toml_is_kept_unless_overwrite(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    folder = _folder(batch, "a")
    typed = 'title = "Typed by hand"\nyear = 1901\n'
    (folder / "item.toml").write_text(typed, encoding="utf-8")
    sheet = _csv(tmp_path / "books.csv", [["folder", "title"], ["a", "From the sheet"]])

    kept = import_sheet(sheet, batch)
    assert kept[0].status is ImportStatus.KEPT and "--overwrite" in kept[0].message
    assert (folder / "item.toml").read_text(encoding="utf-8") == typed

    replaced = import_sheet(sheet, batch, overwrite=True)
    assert replaced[0].status is ImportStatus.WRITTEN
    assert read_metadata(folder / "item.toml").title == "From the sheet"


def test_cli_dry_run_prints_and_writes_nothing(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    _folder(batch, "a")
    _folder(batch, "b")
    sheet = _csv(tmp_path / "books.csv", [["folder", "title", "year"], ["a", "Book A", "1960"], ["b", "B", "abc"]])
    result = CliRunner().invoke(app, ["metadata", "import", str(sheet), str(batch), "--dry-run"])
    assert result.exit_code == ExitCode.INTAKE, result.output
    assert 'title = "Book A"' in result.stdout
    assert "row 3" in result.output and "year" in result.output
    assert not any(batch.rglob("item.toml"))

    result = CliRunner().invoke(app, ["metadata", "import", str(sheet), str(batch)])
    assert result.exit_code == ExitCode.INTAKE
    assert read_metadata(batch / "a" / "item.toml").year == 1960
    assert not (batch / "b" / "item.toml").exists()


def _marc_record(control: str, title: str, subtitle: str | None, authors: list[str], year: str) -> Record:
    record = Record(force_utf8=True)
    record.add_field(Field(tag="001", data=control))
    record.add_field(Field(tag="008", data="680101s1968    aj            000 0 aze d"))
    main, *others = authors
    record.add_field(Field(tag="100", indicators=Indicators("1", " "), subfields=[Subfield("a", main + ",")]))
    title_subfields = [Subfield("a", title + (" :" if subtitle else " /"))]
    if subtitle:
        title_subfields.append(Subfield("b", subtitle + " /"))
    title_subfields.append(Subfield("c", main + "."))
    record.add_field(Field(tag="245", indicators=Indicators("1", "0"), subfields=title_subfields))
    record.add_field(
        Field(
            tag="264",
            indicators=Indicators(" ", "1"),
            subfields=[Subfield("a", "Bakı :"), Subfield("b", "Azərnəşr,"), Subfield("c", f"[{year}]")],
        )
    )
    for name in others:
        record.add_field(Field(tag="700", indicators=Indicators("1", " "), subfields=[Subfield("a", name + ".")]))
    record.add_field(Field(tag="852", indicators=Indicators(" ", " "), subfields=[Subfield("p", f"INV-{control}")]))
    return record


def test_marc_binary_and_marcxml_import_into_items_intake_reads(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    _folder(batch, "INV-101")
    _folder(batch, "INV-102")
    records = [
        _marc_record("101", "Азәрбајҹан нағыллары", "сечилмиш", ["Әлизадә, Һ.", "Ахундов, Ә."], "1968"),
        _marc_record("102", "Шеирләр", None, ["Вурғун, С."], "1950"),
        _marc_record("999", "Китаб", None, ["Х."], "1960"),  # no folder in this batch
    ]
    mrc = tmp_path / "export.mrc"
    mrc.write_bytes(b"".join(record.as_marc() for record in records))

    outcomes = import_marc(mrc, batch, dry_run=True)
    assert [o.status for o in outcomes] == [ImportStatus.WOULD_WRITE, ImportStatus.WOULD_WRITE, ImportStatus.REFUSED]
    assert "record 3" in outcomes[2].message and "INV-999" in outcomes[2].message
    assert not any(batch.rglob("item.toml"))

    outcomes = import_marc(mrc, batch)
    assert [o.status for o in outcomes[:2]] == [ImportStatus.WRITTEN] * 2
    read = read_batch(batch)
    assert read.problems == ()
    first = read_metadata(batch / "INV-101" / "item.toml")
    assert first.title == "Азәрбајҹан нағыллары : сечилмиш"
    assert first.authors == ("Әлизадә, Һ.", "Ахундов, Ә.")
    assert (first.year, first.language, first.inventory_number) == (1968, "az", "INV-101")

    # The same records as MARCXML give the same files.
    before = {p: p.read_bytes() for p in batch.rglob("item.toml")}
    xml = tmp_path / "export.xml"
    writer = XMLWriter(xml.open("wb"))
    for record in records:
        writer.write(record)
    writer.close()
    outcomes = import_marc(xml, batch, overwrite=True)
    assert [o.status for o in outcomes[:2]] == [ImportStatus.WRITTEN] * 2
    assert {p: p.read_bytes() for p in batch.rglob("item.toml")} == before


def test_marc_match_rule_001_and_a_bad_record_named(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    _folder(batch, "101")
    _folder(batch, "102")
    good = _marc_record("101", "Kitab", None, ["A."], "1968")
    bad = _marc_record("102", "Kitab", None, ["B."], "1968")
    bad.remove_fields("264")
    bad.add_field(Field(tag="264", indicators=Indicators(" ", "1"), subfields=[Subfield("c", "0968")]))
    bad.remove_fields("008")
    mrc = tmp_path / "export.mrc"
    mrc.write_bytes(good.as_marc() + bad.as_marc())
    outcomes = import_marc(mrc, batch, match="001")
    assert outcomes[0].status is ImportStatus.WRITTEN and outcomes[0].folder == batch / "101"
    assert outcomes[1].status is ImportStatus.REFUSED
    assert "record 2" in outcomes[1].message and "year" in outcomes[1].message
    assert not (batch / "102" / "item.toml").exists()


@pytest.mark.parametrize(
    ("name", "identifier"),
    [
        ("нағыл-2", "nagil-2"),
        ("Азәрбајҹан халг нағыллары", "azerbaycan-xalq-nagillari"),
        ("Шеирләр Ҹилд 1", "seirler-cild-1"),
        ("ЧЕХОВ 1950", "cexov-1950"),
        ("Ёлка, №3", "yolka-3"),
        ("Nağıl 2", "nagil-2"),
        ("İlk  öğüt", "ilk-ogut"),
        ("«»", None),
    ],
)
def test_folding_rule(name: str, identifier: str | None) -> None:
    assert identifier_from_name(name) == identifier


def test_cyrillic_folder_name_gets_a_transliterated_identifier(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    folder = _folder(batch, "нағыл-2")
    (folder / "item.toml").write_text('title = "Нағыллар"\n', encoding="utf-8")
    read = read_batch(batch, identifier_from_name=identifier_from_name)
    assert read.problems == ()
    assert [(item.item_id, item.folder) for item in read.items] == [("nagil-2", folder)]
    # A folder name that already is an identifier is kept as it is (case too).
    _folder(batch, "INV-1").joinpath("item.toml").write_text('title = "X"\n', encoding="utf-8")
    assert {item.item_id for item in read_batch(batch, identifier_from_name=identifier_from_name).items} == {
        "nagil-2",
        "INV-1",
    }


def test_two_folders_folding_to_one_identifier_are_refused_naming_both(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    for name in ("нағыл-2", "Nağıl 2", "other"):
        _folder(batch, name).joinpath("item.toml").write_text('title = "T"\n', encoding="utf-8")
    read = read_batch(batch, identifier_from_name=identifier_from_name)
    assert [item.item_id for item in read.items] == ["other"]
    assert len(read.problems) == 2
    for problem in read.problems:
        assert "nagil-2" in problem.message
        assert "нағыл-2" in problem.message and "Nağıl 2" in problem.message


@pytest.mark.needs_prefect
@pytest.mark.slow
def test_a_batch_run_publishes_a_cyrillic_folder_under_its_derived_identifier(tmp_path: Path) -> None:
    """The flow is where intake runs for real: it must pass the rule down."""
    batch = art_batch(tmp_path / "batch", {"нағыл-2": 1})
    result = run_cli(["run", str(batch)], env_for(tmp_path))
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    summary = json.loads((tmp_path / "out" / "batch-batch.json").read_text())
    assert [(i["identifier"], i["status"]) for i in summary["items"]] == [("nagil-2", "done")]


def test_row_with_more_cells_than_columns_is_refused_not_cut(tmp_path: Path) -> None:
    """With ';' between columns, an unquoted 'A; B' in the authors cell spills into a cell of its own."""
    batch = tmp_path / "batch"
    _folder(batch, "a")
    _folder(batch, "b")
    sheet = tmp_path / "books.csv"
    sheet.write_text('folder;title;authors\na;Book A;X; Y\nb;Book B;"X; Y"\n', encoding="utf-8")
    outcomes = import_sheet(sheet, batch)
    assert outcomes[0].status is ImportStatus.REFUSED
    assert "row 2" in outcomes[0].message and "4 cells" in outcomes[0].message and "' Y'" in outcomes[0].message
    assert not (batch / "a" / "item.toml").exists()
    assert read_metadata(batch / "b" / "item.toml").authors == ("X", "Y")
