"""The workbook guard refuses files built to exhaust memory, and lets real files through."""

from __future__ import annotations

import struct
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from importer.core.errors import UnreadableFileError, UnsafeFileError
from importer.sheet.guard.check import Limits, check_workbook
from tests.conftest import ROOT, ZOHO_HEADERS, ZOHO_ROW, write_xlsx


def test_real_workbook_passes(tmp: Path) -> None:
    """An ordinary workbook is not refused."""
    check_workbook(write_xlsx(tmp / "ok.xlsx", [ZOHO_HEADERS, ZOHO_ROW] * 50))


def test_zip_bomb_is_refused_by_ratio(tmp: Path) -> None:
    """An entry that unpacks thousands of times its packed size is refused before reading."""
    path = tmp / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", b"<sst>" + b"A" * 20_000_000 + b"</sst>")
    with pytest.raises(UnsafeFileError, match=r"compressed \d+ times"):
        check_workbook(path)


def test_lying_entry_size_is_refused(tmp: Path) -> None:
    """A zip whose entry data does not match its declared CRC is refused as damaged."""
    path = write_xlsx(tmp / "ok.xlsx", [ZOHO_HEADERS, ZOHO_ROW])
    data = bytearray(path.read_bytes())
    marker = data.find(b"xl/worksheets/sheet1.xml") + len("xl/worksheets/sheet1.xml")
    data[marker + 5] ^= 0xFF  # corrupt the compressed sheet data just after its local header
    path.write_bytes(bytes(data))
    with pytest.raises(UnsafeFileError, match="damaged"):
        check_workbook(path)


def test_damaged_compound_file_is_refused(tmp: Path) -> None:
    """A legacy .xls whose compound-file header is garbage is refused as damaged, not read."""
    path = tmp / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 100)
    with pytest.raises(UnsafeFileError, match="damaged"):
        check_workbook(path)


def test_text_files_are_left_to_the_reader(tmp: Path) -> None:
    """Bytes that are neither a zip nor a compound file are not judged here."""
    path = tmp / "notes.xlsx"
    path.write_bytes(b"Session name\nOnboarding\n")
    check_workbook(path)


def _corpus() -> Any:
    sys.path.insert(0, str(ROOT / "tests" / "corpus"))
    try:
        import make_corpus
    finally:
        sys.path.pop(0)
    return make_corpus


def test_empty_styled_cells_far_away_pass(tmp: Path) -> None:
    """A formatted but empty cell at XFD1048576 costs the reader nothing, so it is accepted."""
    corpus = _corpus()
    rows = '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576" s="1"/></row>'
    path = tmp / "styled.xlsx"
    path.write_bytes(corpus.xlsx(corpus.sheet(rows)))
    assert check_workbook(path) < 1024


def test_libreoffice_trailing_empty_rows_pass(tmp: Path) -> None:
    """LibreOffice's million trailing empty repeated rows are not counted as cells."""
    corpus = _corpus()
    rows = ("<table:table-row>" + corpus.cell("Session name") +
            '<table:table-cell table:number-columns-repeated="1023"/></table:table-row>'
            '<table:table-row table:number-rows-repeated="1048575">'
            '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>')  # fmt: skip
    path = tmp / "lo.ods"
    path.write_bytes(corpus.ods(rows))
    assert check_workbook(path) < 1024


def test_lowercase_and_implicit_references_are_counted(tmp: Path) -> None:
    """calamine reads r="k5" as column K (11) and places cells without r= next: so do we."""
    corpus = _corpus()
    rows = '<row r="5"><c r="k5"><v>1</v></c>' + "<c><v>1</v></c>" * 1014 + "</row>"
    path = tmp / "lower.xlsx"
    path.write_bytes(corpus.xlsx(corpus.sheet(rows)))
    with pytest.raises(UnsafeFileError, match="reaches column 1,025"):
        check_workbook(path)


def test_scan_stops_at_its_deadline(tmp: Path) -> None:
    """A scan that runs past its time budget is refused (the clock is injected)."""
    corpus = _corpus()
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>1</v></c></row>' for r in range(1, 70_000))
    path = tmp / "slow.xlsx"
    path.write_bytes(corpus.xlsx(corpus.sheet(rows)))
    ticks = iter(range(0, 10_000, 50))  # every reading of the clock: 50 s later
    with pytest.raises(UnsafeFileError, match="took over 60 s"):
        check_workbook(path, clock=lambda: float(next(ticks)))


def test_element_flood_is_refused(tmp: Path) -> None:
    """Millions of empty elements (stored, so no ratio gives them away) are refused."""
    sheet = _corpus().sheet('<row r="1"><c r="A1"><v>1</v>' + "<x/>" * 1_100_000 + "</c></row>")
    path = tmp / "flood.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    with pytest.raises(UnsafeFileError, match="XML elements"):
        check_workbook(path, limits=Limits(memory_bytes=200_000))


def test_budget_comes_from_the_environment(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """IMPORTER_READ_BUDGET_MB sets the memory budget; the message says how to raise it."""
    path = write_xlsx(tmp / "ok.xlsx", [ZOHO_HEADERS, *[ZOHO_ROW] * 600])
    check_workbook(path)
    monkeypatch.setenv("IMPORTER_READ_BUDGET_MB", "1")
    with pytest.raises(UnsafeFileError, match=r"over the budget of 1 MB.*IMPORTER_READ_BUDGET_MB"):
        check_workbook(path)


def test_xls_shared_strings_are_measured_across_continue_records() -> None:
    """SST lengths: 8-bit, 16-bit run on into a CONTINUE (new flags byte), rich text runs."""
    from importer.sheet.guard.xls import _sst_lengths

    first = struct.pack("<II", 3, 3) + struct.pack("<HB", 3, 0) + b"abc"
    first += struct.pack("<HB", 5, 1) + "hé".encode("utf-16-le")  # 2 of 5 wide characters
    second = b"\x00" + b"xyz"  # the rest, now 8-bit
    second += struct.pack("<HBH", 2, 0x08, 1) + b"ok" + b"\x00" * 4  # one rich-text run
    assert list(_sst_lengths([first, second])) == [3, 5, 2]


def test_xls_shared_string_fanout_is_refused(tmp: Path) -> None:
    """One long shared string in many cells is counted once per cell, as calamine copies it."""
    corpus = _corpus()
    path = tmp / "fan.xls"
    path.write_bytes(corpus.ole_file(corpus.biff_shared_string_workbook(20_000, 300, 10)))
    assert check_workbook(path) > 300 * 10 * 20_000  # the text, times its factor
    with pytest.raises(UnsafeFileError, match="57 MB of text"):
        check_workbook(path, limits=Limits(memory_bytes=50 * 2**20))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("xlsx-sheet-not-named-xml.xlsx", r"xl/worksheets/data\.dat\) reaches column 16,384"),
        ("xlsx-unique-count.xlsx", "declares 2,147,483,647 shared strings"),
        ("xls-dimensions-huge.xls", "rows 0 to 4,294,967,295, columns 0 to 256"),
        ("xls-dimensions-huge-renamed.csv", "rows 0 to 4,294,967,295, columns 0 to 256"),
        ("xls-dimensions-inverted.xls", "rows 10 to 5, columns 0 to 3"),
        ("xls-dimensions-hidden-sheet.xls", "rows 0 to 4,294,967,295, columns 0 to 256"),
        ("found/xls-dimensions-past-the-grid.xls", "rows 65,535 to 5, columns 65,535 to 65,535"),
    ],
)
def test_what_the_reader_allocates_on_is_modelled(name: str, message: str) -> None:
    """Each of these aborted the process (exit 134) once past the guard: now refused by it."""
    with pytest.raises(UnsafeFileError, match=message):
        check_workbook(ROOT / "tests" / "corpus" / name)


def test_sheet_typed_only_by_content_types_is_scanned(tmp: Path) -> None:
    """A part that [Content_Types].xml types as a worksheet (by extension) is scanned as one."""
    corpus = _corpus()
    types = (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="DAT" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.worksheet+xml"/></Types>'
    )
    path = tmp / "typed.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("XL\\Cells\\part.dat", corpus.sheet('<row><c r="XFD9"><v>1</v></c></row>'))
    with pytest.raises(UnsafeFileError, match="reaches column 16,384"):
        check_workbook(path)


def test_sane_dimensions_are_charged_as_the_reader_reserves(tmp: Path) -> None:
    """The whole .xls grid (65,536 x 256 cells, 40 bytes each) is within the default budget
    but not within 500 MB."""
    corpus = _corpus()
    xls = tmp / "grid.xls"
    xls.write_bytes(corpus.ole_file(corpus.biff_workbook([(0, 0, 1.0)], (0, 65536, 0, 256))))
    assert check_workbook(xls) == 65536 * 256 * 40
    with pytest.raises(UnsafeFileError, match="claiming 65,536 rows by 256 columns"):
        check_workbook(xls, limits=Limits(memory_bytes=500 * 2**20))


def test_ordinary_declared_sizes_pass(tmp: Path) -> None:
    """A DIMENSIONS record and a uniqueCount that say what the file holds are accepted."""
    corpus = _corpus()
    xls = tmp / "ok.xls"
    xls.write_bytes(
        corpus.ole_file(corpus.biff_workbook([(0, 0, 1.0), (99, 8, 2.0)], (0, 100, 0, 9)))
    )
    assert 100 * 9 * 40 <= check_workbook(xls) < 2**20
    xlsx = tmp / "ok.xlsx"
    strings = f'<sst xmlns="{corpus._MAIN}" uniqueCount="1"><si><t>Session name</t></si></sst>'
    xlsx.write_bytes(corpus.xlsx(corpus.sheet('<row><c t="s"><v>0</v></c></row>'), strings))
    assert check_workbook(xlsx) < 2**20


@pytest.mark.parametrize("name", ["xls-encrypted.xls", "xlsx-encrypted.xlsx"])
def test_password_protected_workbook_is_named_as_such(name: str) -> None:
    """FILEPASS (.xls) or EncryptedPackage (.xlsx saved with a password): say it is encrypted."""
    with pytest.raises(UnreadableFileError, match=r"encrypted .*save it and try again"):
        check_workbook(ROOT / "tests" / "corpus" / name)
