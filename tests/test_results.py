"""Result sheets: every row, statuses, highlighting, summary, and no formula ever runs."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import importer
from importer.results.sheet import ResultSheet, neutralise, write_result
from tests.conftest import ZOHO_HEADERS, ZOHO_ROW, write_csv

HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def _sheet(tmp: Path) -> Path:
    headers = [*ZOHO_HEADERS, "Comment"]
    rows = [headers]
    for value in HOSTILE:
        rows.append([*ZOHO_ROW, value])
    bad = list(ZOHO_ROW)
    bad[3] = "=1+1"  # an invalid row too: empty-looking names are fine, but dates are not
    bad[6] = "31-02-2022"
    rows.append([*bad, "-5"])
    return write_csv(tmp / "s.csv", rows)


def test_xlsx_result_has_every_row_and_no_formula(tmp: Path) -> None:
    """Every input row is in the .xlsx, in order; hostile cells are quote-prefixed strings."""
    report = importer.validate(_sheet(tmp), "zoho-people")
    path = importer.write_report(report, tmp / "out.xlsx")
    book = openpyxl.load_workbook(path)
    sheet = book["Result"]
    header = [c.value for c in sheet[1]]
    assert header[:5] == ["Sheet row", "Status", "Created ID", "Messages", "Notes"]
    assert header[5:] == [*ZOHO_HEADERS, "Comment"]
    body = list(sheet.iter_rows(min_row=2))
    assert [r[0].value for r in body] == [str(n) for n in range(2, 2 + len(HOSTILE) + 1)]
    comments = [r[header.index("Comment")] for r in body]
    # OOXML escapes a carriage return as _x000D_ (Excel shows it as CR; openpyxl leaves it).
    values = [c.value.replace("_x000D_", "\r") for c in comments[: len(HOSTILE)]]
    assert values == HOSTILE
    for cell in comments:
        assert cell.data_type == "s"  # a string, never a formula
    assert all(c.quotePrefix for c in comments[: len(HOSTILE)])
    invalid = body[-1]
    assert invalid[1].value == "invalid"
    assert "Date" in invalid[3].value and "31-02-2022" in invalid[3].value
    assert invalid[1].fill.fgColor.rgb.endswith("FFC7CE")
    assert body[0][1].fill.fgColor.rgb in (None, "00000000")
    assert sheet.freeze_panes == "C2"
    assert sheet.auto_filter.ref
    summary = {r[0].value: r[1].value for r in book["Summary"].iter_rows(min_row=2)}
    assert summary["Rows invalid"] == 1  # a number, not text
    assert summary["Vendor"].startswith("zoho-people")


def test_csv_result_neutralises_formulas(tmp: Path) -> None:
    """In a .csv result, cells Excel would run get a leading apostrophe; plain numbers do not."""
    report = importer.validate(_sheet(tmp), "zoho-people")
    path = importer.write_report(report, tmp / "out.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+1+1" in text and "'@SUM(A1)" in text
    assert ",-5\r\n" in text or text.rstrip().endswith(",-5")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=1+1", "'=1+1"), ("-5", "-5"), ("+33 6 12", "'+33 6 12"), ("plain", "plain"), ("", "")],
)
def test_neutralise(value: str, expected: str) -> None:
    """Only values Excel would evaluate are changed."""
    assert neutralise(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a,=2+5", "a,'=2+5"),
        ("x;+1+cmd", "x;'+1+cmd"),
        ("t\t-cmd", "t\t'-cmd"),
        ("a\n@SUM(A1)", "a\n'@SUM(A1)"),
        ('a,"=1+1"', 'a,\'"=1+1"'),
        ("=1,=2", "'=1,'=2"),
        ("lat;-5,2", "lat;-5,2"),  # a plain number is left as the first-character rule leaves it
        ("Paris, -ish; +/- 5", "Paris, -ish; +/- 5"),  # a space before: no field starts with it
        ("done: create; link", "done: create; link"),
    ],
)
def test_neutralise_field_starts_inside_a_cell(value: str, expected: str) -> None:
    """A field start after any locale's separator or a line break gets the apostrophe too."""
    assert neutralise(value) == expected


INNER = ["a,=2+5", "x;+1+cmd", "t\t-cmd", "a\n@SUM(A1)", 'q,"=1+1"', "y;=1;=2", "n,-5", "ok"]


def _fields(text: str, separator: str) -> list[str]:
    """Every field of ``text`` as a spreadsheet splitting on ``separator`` would see it."""
    return [field for row in csv.reader(io.StringIO(text), delimiter=separator) for field in row]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_result_runs_no_formula_whatever_separator_opens_it(tmp: Path, delimiter: str) -> None:
    """A result read with ``,``, ``;`` or tab (not only its own) has no field Excel would run."""
    frame = pd.DataFrame({"Status": ["valid"] * len(INNER), "Comment": INNER}, dtype="str")
    text = write_result(ResultSheet(frame, [], delimiter), tmp / "out.csv").read_text("utf-8-sig")
    for separator in (",", ";", "\t"):
        for field in _fields(text, separator):
            # a field may begin with the quote a cell was wrapped in when read unquoted
            bare = field.lstrip('"')
            formula = bare[:1] in "=+-@" and not re.fullmatch(r"[+-]?[0-9]+([.,][0-9]+)?", bare)
            assert bare == "" or not formula, (separator, field)
    # with its own separator, each cell reads back as the one-cell rule made it
    assert [row[1] for row in csv.reader(io.StringIO(text), delimiter=delimiter)][1:] == [
        neutralise(value) for value in INNER
    ]


def test_csv_result_with_field_starts_is_byte_for_byte_what_csv_writes(tmp: Path) -> None:
    """The vectorised writer gives the scalar rule's bytes for cells with inner field starts."""
    cells = [*INNER, "=1,=2", "plain", "-5", "a, -b"] * 3
    frame = pd.DataFrame({"Status": ["valid"] * len(cells), "c": cells}, dtype="str")
    for delimiter in (",", ";"):
        path = write_result(ResultSheet(frame, [], delimiter), tmp / "out.csv")
        expected = io.StringIO(newline="")
        writer = csv.writer(expected, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(["Status", "c"])
        writer.writerows([["valid", neutralise(value)] for value in cells])
        assert path.read_bytes() == b"\xef\xbb\xbf" + expected.getvalue().encode("utf-8")


def test_result_of_a_result_sheet_replaces_old_outcome_columns(tmp: Path) -> None:
    """Validating a result sheet again does not pile up Status columns."""
    report = importer.validate(_sheet(tmp), "zoho-people")
    first = importer.write_report(report, tmp / "first.xlsx")
    again = importer.validate(first, "zoho-people")
    columns = list(importer.result_sheet(again).frame.columns)
    assert columns.count("Status") == 1
    assert again.row_count == report.row_count


def test_default_result_path_follows_input(tmp: Path) -> None:
    """CSV in gives CSV out; a workbook gives .xlsx; both next to the input."""
    report = importer.validate(_sheet(tmp), "zoho-people")
    assert importer.write_report(report) == tmp / "s.result.csv"


def _sheet_with_formula_header(tmp: Path) -> Path:
    evil = '=HYPERLINK("http://evil.example","click")'
    return write_csv(tmp / "h.csv", [[*ZOHO_HEADERS, evil, "@cmd"], [*ZOHO_ROW, "a", "b"]])


def test_formula_header_is_neutralised_in_xlsx(tmp: Path) -> None:
    """An extra column named like a formula is a quote-prefixed string in the .xlsx header."""
    report = importer.validate(_sheet_with_formula_header(tmp), "zoho-people")
    path = importer.write_report(report, tmp / "out.xlsx")
    header = list(openpyxl.load_workbook(path)["Result"][1])
    names = [c.value for c in header]
    hostile = [header[names.index('=HYPERLINK("http://evil.example","click")')],
               header[names.index("@cmd")]]  # fmt: skip
    assert all(c.data_type == "s" and c.quotePrefix for c in hostile)
    assert not header[names.index("Status")].quotePrefix


def test_formula_header_is_neutralised_in_csv(tmp: Path) -> None:
    """In a .csv result the header cell gets the same leading apostrophe as data cells."""
    report = importer.validate(_sheet_with_formula_header(tmp), "zoho-people")
    path = importer.write_report(report, tmp / "out.csv")
    header = path.read_text(encoding="utf-8-sig").splitlines()[0]
    assert ',"\'=HYPERLINK(""http://evil.example"",""click"")",' in header
    assert header.endswith(",'@cmd")
    assert ",=HYPERLINK" not in header and ',"=HYPERLINK' not in header
