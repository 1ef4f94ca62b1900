"""Reading typed dates and times: formats, ambiguity, nonexistent days, time zones."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.core.dates import (
    read_date,
    read_datetime,
    read_time,
    reads_two_ways,
    to_utc,
    two_ways,
)
from tests.conftest import V2_HEADERS, V2_ROW, write_csv


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-07-01T13:00:00", dt.datetime(2025, 7, 1, 13, 0)),
        ("2025-07-01 13:00", dt.datetime(2025, 7, 1, 13, 0)),
        ("01/07/2025 2:30 pm", dt.datetime(2025, 7, 1, 14, 30)),
        ("01.07.2025 14h30", dt.datetime(2025, 7, 1, 14, 30)),
        ("1 Jul 2025 9:15", dt.datetime(2025, 7, 1, 9, 15)),
        ("2025-07-01T13:00:00.812Z", dt.datetime(2025, 7, 1, 13, 0, 0, 812000, tzinfo=dt.UTC)),
    ],
)
def test_datetimes_coordinators_type(text: str, expected: dt.datetime) -> None:
    """Each common way of typing a date and time reads to the same instant."""
    assert read_datetime(text).value == expected


def test_ambiguous_date_follows_order_and_says_so() -> None:
    """04-01-2022 is 4 January day first, 1 April month first, and the note says which."""
    day_first = read_date("04-01-2022", "DMY")
    month_first = read_date("04-01-2022", "MDY")
    assert day_first.value == dt.date(2022, 1, 4)
    assert month_first.value == dt.date(2022, 4, 1)
    assert "4 January 2022" in (day_first.note or "")
    assert "1 April 2022" in (month_first.note or "")
    assert read_date("25-01-2022").note is None  # not ambiguous


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("31-02-2025", "date_nonexistent"),
        ("2025-13-01", "date_nonexistent"),
        ("04-01-22", "year_two_digits"),
        ("tomorrow", "date_format"),
        ("2025-07-01 25:00", "time_invalid"),
        ("2025-07-01 13:00", "date_has_time"),
    ],
)
def test_bad_dates_are_problems_never_shifted(text: str, problem: str) -> None:
    """A date that does not exist is an error, not the next valid day."""
    reading = read_date(text)
    assert reading.value is None
    assert reading.problem == problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [("14:00", dt.time(14)), ("2:00 pm", dt.time(14)), ("2 PM", dt.time(14)),
     ("12:00 AM", dt.time(0)), ("12:30 PM", dt.time(12, 30)), ("14:00:00", dt.time(14)),
     ("1899-12-31T11:30:00", dt.time(11, 30))],
)  # fmt: skip
def test_times(text: str, expected: dt.time) -> None:
    """12- and 24-hour times, and Excel time cells, are read."""
    assert read_time(text).value == expected


@pytest.mark.parametrize("text", ["13:00 PM", "14", "noon", "2025-07-01T10:00:00"])
def test_bad_times(text: str) -> None:
    """Impossible or dated times are problems."""
    assert read_time(text).problem is not None


def test_local_time_converted_to_utc() -> None:
    """Wall-clock time in Paris in July is UTC+2."""
    utc, problem, note = to_utc(dt.datetime(2025, 7, 1, 15, 0), ZoneInfo("Europe/Paris"))
    assert utc == dt.datetime(2025, 7, 1, 13, 0, tzinfo=dt.UTC)
    assert problem is None and note is None


def test_time_skipped_by_dst_is_an_error() -> None:
    """02:30 on the night clocks go forward does not exist in Paris."""
    utc, problem, _ = to_utc(dt.datetime(2025, 3, 30, 2, 30), ZoneInfo("Europe/Paris"))
    assert utc is None
    assert problem == "time_skipped_dst"


def test_time_repeated_by_dst_is_noted() -> None:
    """02:30 on the night clocks go back happens twice: the first is used, with a note."""
    utc, problem, note = to_utc(dt.datetime(2025, 10, 26, 2, 30), ZoneInfo("Europe/Paris"))
    assert utc == dt.datetime(2025, 10, 26, 0, 30, tzinfo=dt.UTC)
    assert problem is None
    assert note and "twice" in note


def _two_way_sheet(path: Path) -> Path:
    """Three v2 rows whose dates read two ways (03/04, 03/05, 03/06/2027), one that does not."""
    rows = [[*V2_ROW[:3], f"03/0{n}/2027 10:00", "", V2_ROW[5]] for n in (4, 5, 6)]
    return write_csv(path, [V2_HEADERS, *rows, [*V2_ROW[:3], "13/04/2027 10:00", "", "no"]])


def test_validate_says_how_many_dates_read_two_ways_and_how_to_read_them_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """validate prints how many dates read two ways, the reading used and the flag for the
    other; without a zone it warns (it sends nothing), and its JSON line counts both."""
    from importer.cli.main import main

    monkeypatch.delenv("IMPORTER_TIMEZONE", raising=False)
    sheet = _two_way_sheet(tmp_path / "twice.csv")
    assert main(["validate", str(sheet), "--vendor", "360learning-v2"]) == 0
    out = capsys.readouterr().out
    assert (
        f"{sheet}: 3 dates could be read two ways (03/04/2027): read day-first (3 April 2027); "
        "add --date-order MDY to read them month-first." in out
    ), out
    assert f"{sheet}: warning: 4 rows have times without a time zone" in out
    base = ["validate", str(sheet), "--vendor", "360learning-v2", "--timezone", "UTC"]
    assert main([*base, "--date-order", "MDY"]) == 1  # 13/04 has no month 13
    out = capsys.readouterr().out
    assert "read month-first (4 March 2027); add --date-order DMY to read them day-first" in out
    assert "warning" not in out
    assert main([*base, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["dates_read_two_ways"], summary["times_without_zone"]) == (3, 0)


def test_a_sheet_of_unambiguous_dates_says_nothing_of_date_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ISO dates, 13/04 and 04/04 read one way only: no sentence about reading them."""
    from importer.cli.main import main

    rows = [[*V2_ROW[:3], day, "", "no"] for day in ("2027-03-04 10:00", "04/04/2027 10:00")]
    sheet = write_csv(tmp_path / "plain.csv", [V2_HEADERS, *rows])
    assert main(["validate", str(sheet), "--vendor", "360learning-v2", "--timezone", "UTC"]) == 0
    assert "two ways" not in capsys.readouterr().out


def test_ids_and_numbers_in_other_digits_are_refused_in_plain_words(tmp_path: Path) -> None:
    """Arabic-Indic and full-width digits (Python's \\d takes them) are refused, saying why:
    sent as typed, such an ID is no ID of the vendor's."""
    import importer
    from tests.conftest import ZOHO_HEADERS, ZOHO_ROW

    arabic, wide = "٤٧٨٣٤٦٠٠٠٠٠٨٢٥١٠٠١", "４７８３４６０００００８２５１００１"
    trainer = ZOHO_HEADERS.index("Trainer erecno")
    rows = [[*ZOHO_ROW[:trainer], who, *ZOHO_ROW[trainer + 1 :]] for who in (arabic, wide)]
    sheet = write_csv(tmp_path / "zoho.csv", [ZOHO_HEADERS, *rows, ZOHO_ROW])
    report = importer.validate(sheet, "zoho-people")
    assert sorted(report.errors) == [2, 3]
    for row, typed in ((2, arabic), (3, wide)):
        (error,) = report.errors[row]
        assert (error.column, error.code) == ("Trainer erecno", "digits")
        assert error.message == (
            f"{typed!r} has digits other than 0-9 (full-width or Arabic-Indic digits, as "
            "another keyboard types them): retype it with the digits 0-9."
        )
    limit = [*V2_HEADERS, "User limit", "Co-instructor IDs"]
    rows = [
        [*V2_ROW, "٣٠", ""],
        [*V2_ROW, "30", f"{V2_ROW[2][:-1]}٥"],
        [*V2_ROW, "30", ""],
    ]
    report = importer.validate(write_csv(tmp_path / "v2.csv", [limit, *rows]), "360learning-v2")
    assert {row: [e.code for e in errs] for row, errs in report.errors.items()} == {
        2: ["digits"],
        3: ["digits"],
    }


def test_excel_dates_before_march_1900_are_refused(tmp_path: Path) -> None:
    """Excel's serial 60 is 29 February 1900, a day that never was; the reader gives it as
    28 February, as it gives serial 59: both refused in plain words, 1 March 1900 read."""
    import xlsxwriter

    import importer

    path = tmp_path / "early.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for col, header in enumerate(V2_HEADERS):
        sheet.write_string(0, col, header)
    start = V2_HEADERS.index("Start date")
    for row, serial in enumerate((59.5, 60.5, 61.5), 1):
        for col, value in enumerate(V2_ROW):
            if col == start:
                sheet.write_number(row, col, serial, stamp)
            elif V2_HEADERS[col] != "End date":
                sheet.write_string(row, col, value)
    book.close()
    report = importer.validate(path, "360learning-v2", timezone="UTC")
    assert sorted(report.errors) == [2, 3]
    for row in (2, 3):
        (error,) = report.errors[row]
        assert (error.column, error.code) == ("Start date", "date_excel_1900")
        assert "Excel's calendar has a 29 February 1900 that never existed" in error.message
    assert report.values.loc[4, "startDate"] == "1900-03-01T12:00:00.000Z"
    for typed in ("28/02/1900", "1900-02-28", "28 Feb 1900"):
        assert read_date(typed).problem == "date_excel_1900"
    assert read_date("1900-03-01").value == dt.date(1900, 3, 1)
    assert read_time("1899-12-30T11:30:00").value == dt.time(11, 30)  # Excel's time cells


_NUMBER = st.sampled_from(["0", "1", "3", "01", "09", "10", "12", "13", "00", "7", "11"])
_DATE = st.tuples(
    st.sampled_from(["", " ", "\t"]),
    _NUMBER,
    st.sampled_from(["/", "-", ".", " ", ""]),
    _NUMBER,
    st.sampled_from(["/", "-", "."]),
    st.sampled_from(["2027", "207", "20271"]),
    st.sampled_from(["", " 10:00", "T09:00", "\t", "x", " ", "\n5"]),
).map("".join)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(_DATE, st.none(), st.text(max_size=12)), max_size=60))
def test_a_column_is_read_two_ways_cell_for_cell_as_one_cell_is(texts: list[str | None]) -> None:
    """The whole-column reading (RE2) says what the one-cell reading says of every cell."""
    column = pd.Series(texts, dtype="str", index=range(7, 7 + len(texts)))
    expected = [text is not None and "\v" not in text and reads_two_ways(text) for text in texts]
    found = two_ways(column)
    assert found.index.tolist() == column.index.tolist()
    assert found.tolist() == expected
