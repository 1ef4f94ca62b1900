"""Columns chosen by a person and cells they corrected (issue 26), in the sheet layer and the
use case: what is checked is the corrected sheet, the file on disk stays as it was."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from importer.core.errors import MissingColumnsError
from importer.jobs.import_sheet import SheetSpec, check_table, read_sheet
from importer.jobs.memory import remember_columns
from importer.sheet.corrections import Correction, corrected, latest, raw_prints
from importer.sheet.headers import field_named, header_guesses, match_headers
from importer.sheet.reading.table import read_table
from importer.store.journal import Journal
from importer.vendors import plugin
from tests.conftest import V2_ROW, ZOHO_HEADERS, ZOHO_ROW, run_cli, write_csv

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


# --- the command line: --map, the job file's [columns], the journal's memory --------------------

FR_HEADERS = ["Path ID", "Session name", "Formateur (ID)", "Début", "End date",
              "Registration validation"]  # fmt: skip


def _fr_sheet(tmp_path: Path, *names: str) -> Path:
    rows = [[V2_ROW[0], name, V2_ROW[2], "2027-07-01 15:00", "2027-07-31 15:00", "disabled"]
            for name in names]  # fmt: skip
    return write_csv(tmp_path / "fr.csv", [FR_HEADERS, *rows])


def _env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "IMPORTER_STATE_DIR": str(tmp_path / "state")}


def test_validate_and_run_take_columns_by_hand(tmp_path: Path) -> None:
    sheet = _fr_sheet(tmp_path, "Map 1", "Map 2")
    plain = run_cli("validate", sheet, "--vendor", "360learning-v2", env=_env(tmp_path))
    assert plain.returncode != 0 and "missing required column" in plain.stderr
    maps = ["--map", "Formateur (ID)=Main instructor ID", "--map", "Début=startDate"]
    done = run_cli("validate", sheet, "--vendor", "360learning-v2", *maps, env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "2 valid, 0 invalid" in done.stdout
    ran = run_cli("run", sheet, "--vendor", "360learning-v2", "--sandbox", "--timezone", "UTC",
                  "--json", *maps, env=_env(tmp_path))  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["counts"] == {"created": 2}


def test_the_job_files_columns_table(tmp_path: Path) -> None:
    sheet = _fr_sheet(tmp_path, "Job 1")
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nvendor = "360learning-v2"\ntimezone = "UTC"\n'
        '[columns]\n"Formateur (ID)" = "Main instructor ID"\n"Début" = "Start date"\n'
    )
    ran = run_cli("run", sheet, "--config", job, "--sandbox", "--json", env=_env(tmp_path))
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["counts"] == {"created": 1}


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (["--map", "Formateur (ID)"], "write it HEADER=FIELD"),
        (["--map", "=Start date"], "write it HEADER=FIELD"),
        (["--map", "Début=When"], "'When' is not a column of 360Learning"),
        (["--map", "Début=Start date", "--map", "Formateur (ID)=startDate"], "both given for"),
        (["--map", "Nope=Start date", "--map", "Formateur (ID)=Main instructor ID"],
         "no column 'Nope' for 'Start date'"),
    ],
)  # fmt: skip
def test_a_wrong_map_is_refused_before_anything_is_sent(
    tmp_path: Path, given: list[str], said: str
) -> None:
    sheet = _fr_sheet(tmp_path, "Wrong 1")
    ran = run_cli("run", sheet, "--vendor", "360learning-v2", "--sandbox", "--timezone", "UTC",
                  *given, env=_env(tmp_path))  # fmt: skip
    assert ran.returncode == 2, (ran.returncode, ran.stderr)
    assert said in ran.stderr and "Traceback" not in ran.stderr


def test_run_takes_the_columns_the_page_chose_for_these_headers(tmp_path: Path) -> None:
    """Columns chosen on the page are kept in the account's journal: `run` with that journal
    reads a sheet with the same headers (in another order) the same way, with no --map."""
    journal = Journal(tmp_path / "acct.journal.sqlite", "360learning-v2")
    remember_columns(journal, FR_HEADERS, {"mainInstructorId": "Formateur (ID)",
                                           "startDate": "Début"})  # fmt: skip
    journal.close()
    reordered = [FR_HEADERS[3], *FR_HEADERS[:3], *FR_HEADERS[4:]]
    row = ["2027-07-01 15:00", V2_ROW[0], "Memory 1", V2_ROW[2], "2027-07-31 15:00", "disabled"]
    sheet = write_csv(tmp_path / "again.csv", [reordered, row])
    ran = run_cli("run", sheet, "--vendor", "360learning-v2", "--sandbox", "--timezone", "UTC",
                  "--journal", tmp_path / "acct.journal.sqlite", "--json", env=_env(tmp_path))  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["counts"] == {"created": 1}
