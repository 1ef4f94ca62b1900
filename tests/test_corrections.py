"""Columns chosen by a person and cells they corrected (issue 26), in the sheet layer and the
use case: what is checked is the corrected sheet, the file on disk stays as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.core.errors import MissingColumnsError
from importer.jobs.import_sheet import SheetSpec, check_table, read_sheet
from importer.sheet.corrections import Correction, corrected, latest, raw_prints
from importer.sheet.headers import field_named, header_guesses, match_headers
from importer.sheet.reading.table import read_table
from importer.vendors import plugin
from tests.conftest import ZOHO_HEADERS, ZOHO_ROW, write_csv

ZOHO = plugin("zoho-people")
ROW = [*ZOHO_ROW[:3], "Intro", ZOHO_ROW[4], "0", "12-05-2027", "09:00 AM", "10:00 AM"]


def _sheet(tmp_path: Path, headers: list[str], *rows: list[str]) -> Path:
    return write_csv(tmp_path / "s.csv", [headers, *rows])


def test_a_chosen_column_holds_its_field_and_wins_over_names() -> None:
    headers = ["Course ID", "Batch ID", "Module ID", "Session name", "Formateur (ID)", "Type",
               "Jour", "Start time", "End time"]  # fmt: skip
    with pytest.raises(MissingColumnsError, match="'Date'"):
        match_headers(headers, ZOHO.schema, "s.csv")
    trainer, date = field_named(ZOHO.schema, "Trainer erecno"), field_named(ZOHO.schema, "date")
    assert trainer is not None and date is not None
    plain = match_headers(headers, ZOHO.schema, "s.csv", chosen={date: "Jour"})
    assert plain.fields[date] == "Jour" and "Formateur (ID)" in plain.extra
    chosen = {date: "Jour", trainer: "Formateur (ID)"}
    columns = match_headers(headers, ZOHO.schema, "s.csv", chosen=chosen)
    assert columns.fields[trainer] == "Formateur (ID)" and "Formateur (ID)" not in columns.extra
    # Chosen for another field, "Session name" no longer holds the session's name.
    name = field_named(ZOHO.schema, "Session name")
    assert name is not None
    with pytest.raises(MissingColumnsError, match="no column 'Nope'"):
        match_headers(headers, ZOHO.schema, "s.csv", chosen={trainer: "Nope"})
    with pytest.raises(MissingColumnsError, match="chosen for two fields"):
        match_headers(headers, ZOHO.schema, "s.csv", chosen={trainer: "Type", name: "Type"})


def test_guesses_put_the_likeliest_header_first() -> None:
    guesses = header_guesses(["Notes", "Trainer (erecno)", "Date"], ZOHO.schema)
    trainer = field_named(ZOHO.schema, "Trainer erecno")
    assert trainer is not None and guesses[trainer][0] == "Trainer (erecno)"
    assert sorted(guesses[trainer]) == ["Date", "Notes", "Trainer (erecno)"]


def test_corrections_apply_to_a_copy_the_latest_of_a_cell_winning(tmp_path: Path) -> None:
    sheet = _sheet(tmp_path, ZOHO_HEADERS, ROW, [*ROW[:3], "Second", *ROW[4:]])
    table = read_table(sheet, lambda cells: 9)
    first = Correction(2, "Type", "0", "1", "ana", 1.0)
    again = Correction(2, "Type", "1", "2", "ben", 2.0)
    back = Correction(3, "Type", "0", "0", "ana", 3.0)  # no change: none
    kept = latest([first, again, back])
    assert list(kept) == [(2, "Type")] and kept[(2, "Type")].old == "0"
    fixed = corrected(table, [first, again, back])
    assert fixed.frame.at[2, "Type"] == "2" and table.frame.at[2, "Type"] == "0"
    with pytest.raises(KeyError):
        corrected(table, [Correction(99, "Type", "", "x")])
    prints = raw_prints(table.frame)
    assert prints[2] != prints[3] and raw_prints(fixed.frame)[2] != prints[2]
    assert (
        raw_prints(table.frame, ignore=["Session name"])[2]
        == raw_prints(table.frame, ignore=["Session name"])[3]
    )


def test_a_bad_cell_corrected_makes_its_row_valid_without_reading_the_file(
    tmp_path: Path,
) -> None:
    sheet = _sheet(tmp_path, ZOHO_HEADERS, ROW, [*ROW[:6], "31-02-2027", *ROW[7:]])
    spec = SheetSpec(sheet, timezone="Europe/Paris")
    report = read_sheet(spec, ZOHO)
    assert list(report.errors) == [3] and report.errors[3][0].column == "Date"
    fix = Correction(3, "Date", "31-02-2027", "28-02-2027", "ana")
    sheet.unlink()  # the page checks again from the table it read, not the file
    again = check_table(report.table, SheetSpec(sheet, timezone="Europe/Paris",
                                                corrections=(fix,)), ZOHO)  # fmt: skip
    assert again.ok and again.table.frame.at[3, "Date"] == "28-02-2027"
    assert report.table.frame.at[3, "Date"] == "31-02-2027"


def test_a_correction_that_makes_a_repeat_is_caught_across_rows(tmp_path: Path) -> None:
    other = [*ROW[:3], "Other", *ROW[4:]]
    sheet = _sheet(tmp_path, ZOHO_HEADERS, ROW, other)
    report = read_sheet(SheetSpec(sheet, timezone="UTC"), ZOHO)
    assert report.ok
    same = Correction(3, "Session name", "Other", "Intro")
    again = check_table(report.table, SheetSpec(sheet, timezone="UTC", corrections=(same,)), ZOHO)
    assert list(again.errors) == [3] and "same session as row 2" in again.errors[3][0].message
