"""Reading CSV and Excel files: encodings, delimiters, title rows, row numbers, typed cells."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from importer.core.errors import SheetNotFoundError, UnreadableFileError, UnsafeFileError
from importer.sheet.headers import header_scorer
from importer.sheet.reading.table import column_letter, read_table
from importer.vendors import get_vendor
from tests.conftest import ZOHO_HEADERS, ZOHO_ROW, write_csv, write_xlsx

SCORE = header_scorer(get_vendor("zoho-people"))


@pytest.mark.parametrize(
    ("encoding", "sep"),
    [("utf-8", ","), ("utf-8-sig", ";"), ("utf-16", "\t"), ("cp1252", ";"), ("utf-16-le", ",")],
)
def test_csv_encodings_and_delimiters(tmp: Path, encoding: str, sep: str) -> None:
    """Every encoding Excel writes and every delimiter it uses reads back to the same cells."""
    row = [*ZOHO_ROW[:3], "Café crème – été", *ZOHO_ROW[4:]]
    path = write_csv(tmp / "s.csv", [ZOHO_HEADERS, row], sep=sep, encoding=encoding)
    table = read_table(path, SCORE)
    assert list(table.frame.columns) == ZOHO_HEADERS
    assert table.frame.loc[2, "Session name"] == "Café crème – été"
    assert table.delimiter == sep


def test_csv_title_row_blank_rows_and_row_numbers(tmp: Path) -> None:
    """A title row above the header is skipped; blank rows vanish but keep later numbers."""
    rows = [["Sessions for Q1"], [], ZOHO_HEADERS, ZOHO_ROW, [""] * 9, ZOHO_ROW]
    table = read_table(write_csv(tmp / "s.csv", rows), SCORE)
    assert table.header_row == 3
    assert list(table.frame.index) == [4, 6]


def test_csv_quoted_newlines_keep_row_numbers(tmp: Path) -> None:
    """A cell with a line break is one cell, and the next record keeps Excel's row number."""
    first = [*ZOHO_ROW[:3], "Two\nlines", *ZOHO_ROW[4:]]
    table = read_table(write_csv(tmp / "s.csv", [ZOHO_HEADERS, first, ZOHO_ROW]), SCORE)
    assert table.frame.loc[2, "Session name"] == "Two\nlines"
    assert list(table.frame.index) == [2, 3]


def test_csv_ids_stay_text_with_leading_zeros(tmp: Path) -> None:
    """IDs are never turned into numbers: leading zeros and 18 digits survive."""
    row = ["007", *ZOHO_ROW[1:]]
    table = read_table(write_csv(tmp / "s.csv", [ZOHO_HEADERS, row]), SCORE)
    assert table.frame.loc[2, "Course ID"] == "007"
    assert table.frame.loc[2, "Trainer erecno"] == "478346000008251001"


def test_csv_ragged_rows_keep_every_cell(tmp: Path) -> None:
    """Rows shorter or longer than the header are read; extra cells get their own column."""
    rows = [ZOHO_HEADERS, ZOHO_ROW[:4], [*ZOHO_ROW, "extra"]]
    table = read_table(write_csv(tmp / "s.csv", rows), SCORE)
    assert table.frame.loc[2, "Type"] == ""
    assert table.frame.loc[3, "Column J"] == "extra"


def test_xlsx_typed_cells_become_unambiguous_text(tmp: Path) -> None:
    """Excel date, time, number and big-number cells are rendered as ISO text or flagged digits."""
    rows = [
        ["A title"],
        [],
        ZOHO_HEADERS,
        [*ZOHO_ROW[:4], 478346000008251001, 1, dt.date(2022, 1, 4), dt.time(10, 0),
         dt.datetime(1899, 12, 31, 11, 30)],
    ]  # fmt: skip
    table = read_table(write_xlsx(tmp / "s.xlsx", rows), SCORE)
    assert table.header_row == 3
    got = table.frame.loc[4]
    assert got["Trainer erecno"] == "4.78346000008251E+17"
    assert got["Type"] == "1"
    assert got["Date"] == "2022-01-04"
    assert got["Start time"] == "10:00:00"


def test_xlsx_sheet_choice_and_missing_sheet(tmp: Path) -> None:
    """--sheet picks a sheet by name in any case; an unknown name lists the sheets."""
    path = write_xlsx(tmp / "s.xlsx", [ZOHO_HEADERS, ZOHO_ROW], sheet="Data")
    assert read_table(path, SCORE, sheet="data").sheet == "Data"
    with pytest.raises(SheetNotFoundError, match="'Data'"):
        read_table(path, SCORE, sheet="Other")


def test_workbook_renamed_to_csv_is_read_as_workbook(tmp: Path) -> None:
    """The content decides the format, not the file name."""
    path = write_xlsx(tmp / "s.xlsx", [ZOHO_HEADERS, ZOHO_ROW])
    renamed = path.rename(tmp / "s.csv")
    assert read_table(renamed, SCORE).sheet == "Sheet1"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (None, "no such file"), (b"PK\x03\x04garbage", "cannot be read")],
)
def test_unreadable_files_say_why(tmp: Path, content: bytes | None, message: str) -> None:
    """Missing, empty and broken files raise an input error naming the file."""
    path = tmp / "s.xlsx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UnreadableFileError, match=message) as caught:
        read_table(path, SCORE)
    assert str(path) in str(caught.value)


def test_column_letters() -> None:
    """Column indexes map to Excel letters."""
    assert [column_letter(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]


def test_cp1252_bytes_undefined_fall_back_to_latin1(tmp: Path) -> None:
    """A byte cp1252 leaves undefined (0x81) still decodes instead of failing the file."""
    path = tmp / "s.csv"
    body = ",".join(ZOHO_HEADERS) + "\r\n" + ",".join(ZOHO_ROW[:3]) + ",Caf\xe9\x81,"
    path.write_bytes((body + ",".join(ZOHO_ROW[4:]) + "\r\n").encode("latin-1"))
    table = read_table(path, SCORE)
    assert table.encoding == "latin-1"
    assert table.frame.loc[2, "Session name"].startswith("Café")


@pytest.mark.parametrize(
    ("make", "message"),
    [("folder", "is a folder"), ("binary", "not a text CSV"), ("blank", "no rows")],
)
def test_odd_inputs_give_clear_errors(tmp: Path, make: str, message: str) -> None:
    """A folder, a binary file or a file of blanks is named and explained."""
    path = tmp / "s.csv"
    if make == "folder":
        path.mkdir()
    elif make == "binary":
        path.write_bytes(b"abc\x00\x01\x02" * 10 + b"\xff\xfe")
    else:
        path.write_bytes(b"\r\n   \r\n")
    with pytest.raises(UnreadableFileError, match=message):
        read_table(path, SCORE)


def test_header_only_file_below_a_title(tmp: Path) -> None:
    """A sheet with a title and headers but no rows yet reads as an empty table."""
    table = read_table(write_csv(tmp / "s.csv", [["Title"], ZOHO_HEADERS]), SCORE)
    assert table.header_row == 2
    assert list(table.frame.columns) == ZOHO_HEADERS
    assert table.frame.empty


# --- hostile and awkward CSV (issue 12) ------------------------------------------------------


def test_unclosed_quote_names_the_row_where_it_opened(tmp: Path) -> None:
    """A quote that never closes is an error naming its row and column, not vanished rows."""
    rows = [ZOHO_HEADERS] + [[*ZOHO_ROW[:3], f"S{n}", *ZOHO_ROW[4:]] for n in range(1, 11)]
    text = "\r\n".join(",".join(r) for r in rows) + "\r\n"
    text = text.replace("S4,", 'S4,"', 1)  # row 5 (the 4th data row), column E opens a quote
    path = tmp / "open.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UnreadableFileError, match=r"row 5, column E: a quoted cell opens here"):
        read_table(path, SCORE)


def test_quotes_inside_cells_are_not_taken_for_an_open_quote(tmp: Path) -> None:
    """A literal quote inside an unquoted cell, "" escapes and quoted line breaks all read."""
    path = tmp / "quotes.csv"
    path.write_text(
        'Session name,Notes\r\n5" screen,a\r\n"say ""hi""","two\r\nlines"\r\nlast,"x"\r\n',
        encoding="utf-8",
    )
    frame = read_table(path, SCORE).frame
    assert frame["Session name"].tolist() == ['5" screen', 'say "hi"', "last"]
    assert frame["Notes"].tolist() == ["a", "two\r\nlines", "x"]


def test_cr_only_line_ends_read(tmp: Path) -> None:
    """Excel's "CSV (Macintosh)" ends lines with CR alone; every row is read."""
    path = tmp / "mac.csv"
    path.write_bytes(b"Session name,Notes\rOne,a\rTwo,b\r")
    assert read_table(path, SCORE).frame["Session name"].tolist() == ["One", "Two"]


def test_cell_over_the_limit_names_its_row(tmp: Path) -> None:
    """A cell over 128 KiB is one clear error naming the row (it was an internal error)."""
    path = tmp / "long.csv"
    path.write_text(f"Session name,Notes\r\nOne,a\r\nTwo,{'x' * 140_000}\r\n", encoding="utf-8")
    with pytest.raises(UnreadableFileError, match="row 3 has a cell over 131,072 characters"):
        read_table(path, SCORE)


@pytest.mark.parametrize(("chars", "refused"), [(100_000, False), (140_000, True)])
def test_a_big_files_cell_is_measured_in_characters_not_bytes(
    tmp: Path, chars: int, refused: bool
) -> None:
    """In a file read by pyarrow (over 256 KB), a cell of 100,000 two-byte characters (200 KB)
    is within the limit of 131,072 characters; one of 140,000 is refused, naming its row."""
    path = tmp / "long.csv"
    rows = "".join(f"S{n},a\r\n" for n in range(40_000))
    path.write_text(f"Session name,Notes\r\n{rows}Two,{'é' * chars}\r\n", encoding="utf-8")
    assert path.stat().st_size > 256 * 1024
    if refused:
        with pytest.raises(UnreadableFileError, match="row 40002 has a cell over 131,072"):
            read_table(path, SCORE)
    else:
        assert read_table(path, SCORE).frame["Notes"].iloc[-1] == "é" * chars


def test_too_many_lines_are_refused_before_parsing(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line count is bounded (a file of line breaks alone is tiny and huge to read)."""
    import importer.sheet.reading.csv_checks

    monkeypatch.setattr(importer.sheet.reading.csv_checks, "MAX_CSV_LINES", 100)
    path = tmp / "lines.csv"
    path.write_text("Session name\r\n" + "x\r\n" * 101, encoding="utf-8")
    with pytest.raises(UnsafeFileError, match="102 lines, over the 100 we read"):
        read_table(path, SCORE)


@pytest.mark.parametrize(
    ("ending", "lines"), [("\r\n", 102), ("\n", 102), ("\r", 102), ("\n\r\n", 204)]
)
def test_lines_are_counted_by_either_line_break(
    tmp: Path, ending: str, lines: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file's lines are its line feeds or its carriage returns, whichever are more, counted
    over chunks (a Mac's CR-only file too); one line under the bound passes."""
    from importer.sheet.reading import csv_checks

    monkeypatch.setattr(csv_checks, "_QUOTE_CHUNK", 7)  # lines cut between chunks
    path = tmp / "lines.csv"
    path.write_bytes(("Session name" + ending + ("x" + ending) * 101).encode())
    with pytest.raises(UnsafeFileError, match=f" {lines} lines, over the {lines - 1} we read"):
        csv_checks.check_file(path, ",", lines - 1, binary=False)
    csv_checks.check_file(path, ",", lines, binary=False)


def test_csv_over_the_memory_budget_is_refused_unread(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CSV too big for the read budget is refused from its size alone."""
    monkeypatch.setenv("IMPORTER_READ_BUDGET_MB", "1")
    path = tmp / "big.csv"
    path.write_text("Session name\r\n" + "x" * 300_000 + "\r\n", encoding="utf-8")
    with pytest.raises(UnsafeFileError, match="over the budget of 1 MB"):
        read_table(path, SCORE)
