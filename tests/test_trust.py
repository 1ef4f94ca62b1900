"""Trust for coordinators (issue 17): what needs no vendor, through the real command line."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import ROOT, V2_HEADERS, V2_ROW, ZOHO_HEADERS, run_cli, write_csv, write_xlsx

V2_VALID = ROOT / "sample_data" / "360learning-v2-valid.csv"


def test_columns_named_like_ours_round_trip_into_the_result(tmp_path: Path) -> None:
    """Status, Notes, Messages, Created ID, Sheet row of the user are kept, in place, renamed."""
    theirs = ["Sheet row", "Status", "Created ID", "Messages", "Notes"]
    headers = [*V2_HEADERS[:2], *theirs, *V2_HEADERS[2:], "Cost centre"]
    rows = [
        [*V2_ROW[:2], "r1", "to do", "OLD-1", "call Anna", "room 4", *V2_ROW[2:], "CC-7"],
        [V2_ROW[0], "Day two", "r2", "done", "OLD-2", "", "=1+1", *V2_ROW[2:], "CC-8"],
    ]
    sheet = write_csv(tmp_path / "mine.csv", [headers, *rows])
    result = tmp_path / "out.xlsx"
    done = run_cli("validate", sheet, "--vendor", "360learning-v2", "--result", result)
    assert done.returncode == 0, done.stderr
    book = openpyxl.load_workbook(result)
    got = list(book["Result"].iter_rows(values_only=True))
    renamed = [f"{name} (your sheet)" for name in theirs]
    assert list(got[0]) == [*theirs, *V2_HEADERS[:2], *renamed, *V2_HEADERS[2:], "Cost centre"]
    for written, typed in zip(got[1:], rows, strict=True):
        assert [c or "" for c in written[5:]] == typed  # every cell, "=1+1" as text
    summary = [str(c.value) for r in book["Summary"].iter_rows() for c in r if c.value]
    assert any("'Status' is shown as 'Status (your sheet)'" in text for text in summary)


def test_json_line_on_every_error(tmp_path: Path) -> None:
    """--json prints one JSON line even when the command cannot run (exit 2)."""
    done = run_cli("validate", tmp_path / "missing.csv", "--vendor", "coursepath", "--json")
    assert done.returncode == 2
    said = json.loads(done.stdout)
    assert said["exit_code"] == 2 and "missing.csv" in said["error"]
    bad = run_cli("run", tmp_path / "x.csv", "--vendor", "coursepath", "--limit", "-1", "--json")
    assert bad.returncode == 2 and json.loads(bad.stdout)["exit_code"] == 2


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--concurrency", "0", "--concurrency: 0 is too small"),
        ("--rate", "0", "--rate: 0 calls a second"),
        ("--limit", "-1", "--limit: -1 is too small"),
        ("--base-url", "not-a-url", "--base-url: 'not-a-url' is not a web address"),
    ],
)
def test_option_ranges(tmp_path: Path, option: str, value: str, said: str) -> None:
    """Out-of-range options are refused by name before anything is read."""
    done = run_cli("run", V2_VALID, "--vendor", "360learning-v2", "--sandbox", option, value)
    assert done.returncode == 2 and said in done.stderr


def test_result_equal_to_the_input_is_refused(tmp_path: Path) -> None:
    """--result naming the input sheet never overwrites it."""
    sheet = write_csv(tmp_path / "s.csv", [V2_HEADERS, V2_ROW])
    before = sheet.read_bytes()
    for command in (["validate"], ["run", "--sandbox"]):
        done = run_cli(*command, sheet, "--vendor", "360learning-v2", "--result", sheet)
        assert done.returncode == 2 and "would overwrite the input sheet" in done.stderr
    assert sheet.read_bytes() == before


def test_dates_coordinators_type(tmp_path: Path) -> None:
    """Midnight date-time cells, 10.00 times are read; 12/31/2025 hints at --date-order MDY."""
    sheet = write_xlsx(
        tmp_path / "v2.xlsx",
        [
            V2_HEADERS,
            [*V2_ROW[:3], dt.datetime(2025, 7, 1, 0, 0), "", "disabled"],
            [*V2_ROW[:3], dt.datetime(2025, 7, 1, 10, 0), "", "disabled"],
            [*V2_ROW[:3], "12/31/2025 10:00", "", "disabled"],
        ],
    )
    done = run_cli("validate", sheet, "--vendor", "360learning-v2", "--json")
    assert json.loads(done.stdout)["counts"] == {"valid": 2, "invalid": 1}, done.stderr
    shown = run_cli("validate", sheet, "--vendor", "360learning-v2")
    assert "row 4, column 'Start date'" in shown.stdout and "--date-order MDY" in shown.stdout
    zoho = write_csv(
        tmp_path / "z.csv",
        [ZOHO_HEADERS, ["478346000019479103", "478346000019479115", "478346000019479119",
                        "S", "478346000008251001", "0", "04-01-2022", "10.00", "11.30"]],
    )  # fmt: skip
    assert run_cli("validate", zoho, "--vendor", "zoho-people").returncode == 0


def test_summary_in_plain_words_and_sheets_that_fit(tmp_path: Path) -> None:
    """Summary numbers are numbers, no internal codes; IDs fit; messages wrap in tall rows."""
    rows = [ZOHO_HEADERS, ["478346000019479103", "478346000019479115", "478346000019479119",
                           "S", "4.78346E+17", "0", "31-02-2022", "10:00", "11:00"]]  # fmt: skip
    result = tmp_path / "out.xlsx"
    run_cli(
        "validate",
        write_csv(tmp_path / "z.csv", rows),
        "--vendor",
        "zoho-people",
        "--result",
        result,
    )
    book = openpyxl.load_workbook(result)
    summary = {r[0]: r[1:] for r in book["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["Rows"][0] == 1 and summary["Rows invalid"][0] == 1
    everything = " ".join(str(v) for values in summary.values() for v in values if v)
    assert "excel_rounded" not in everything and "(1 rows)" not in everything
    assert "Excel stored this ID as a number" in everything
    data = book["Result"]
    headers = [c.value for c in data[1]]
    course = openpyxl.utils.get_column_letter(headers.index("Course ID") + 1)
    assert data.column_dimensions[course].width >= 18
    assert data["D2"].alignment.wrap_text and data.row_dimensions[2].height >= 30
    template = tmp_path / "t.xlsx"
    assert run_cli("template", "zoho-people", "-o", template).returncode == 0
    instructions = openpyxl.load_workbook(template)["Instructions"]
    heights = [d.height or 0 for d in instructions.row_dimensions.values()]
    assert instructions.merged_cells.ranges and max(heights) >= 30


def test_template_all_needs_a_folder(tmp_path: Path) -> None:
    """'template all -o x.xlsx' is refused instead of making a folder named x.xlsx."""
    done = run_cli("template", "all", "-o", tmp_path / "x.xlsx")
    assert done.returncode == 2 and "give a folder" in done.stderr
    assert not (tmp_path / "x.xlsx").exists()


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has installed a SIGTERM handler (Linux: /proc/PID/status)."""
    for text in Path(f"/proc/{pid}/status").read_text().splitlines():
        if text.startswith("SigCgt:"):
            return bool(int(text.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


@pytest.mark.parametrize(("number", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_start_up_gives_no_traceback(number: int, code: int) -> None:
    """Ctrl-C or SIGTERM while the program is still loading: one line, the JSON line, 130/143."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "importer", "run", str(V2_VALID), "--vendor", "360learning-v2",
         "--sandbox", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not _catches_sigterm(process.pid) and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(number)
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "Traceback" not in err
    assert json.loads(out)["exit_code"] == code


def test_no_coverage_data_in_git() -> None:
    """.coverage is ignored, not committed."""
    tracked = subprocess.run(
        ["git", "ls-files", ".coverage"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    assert tracked.stdout.strip() == ""
    assert ".coverage" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (PermissionError(13, "Permission denied", "/srv/out.xlsx"), "cannot be written or read"),
        (OSError(28, "No space left on device", "/srv/out.xlsx"), "the disk is full"),
        (FileNotFoundError(2, "No such file", "/var/log/x/run.log"), "does not exist"),
    ],
)
def test_os_errors_in_plain_words(error: OSError, said: str) -> None:
    """Errors a root test run cannot provoke (permissions, a full disk) still read as words."""
    from importer.core.errors import describe_os_error

    text = describe_os_error(error)
    assert text.startswith(str(error.filename)) and said in text and "\n" not in text
