"""The real command line on real files: exit codes, messages, no tracebacks.

In this process (tests.conftest.run_cli); the entry point's own process, its exit status
included, in test_the_entry_point_exits_with_the_commands_code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, ZOHO_HEADERS, ZOHO_ROW, run_cli, spawn_cli, write_csv, write_xlsx

SAMPLES = ROOT / "sample_data"


def test_valid_sheet_exits_0_and_writes_result(tmp: Path) -> None:
    """All rows valid: exit 0, a summary line, and the result sheet where we asked."""
    result = tmp / "out.xlsx"
    done = run_cli("validate", SAMPLES / "zoho-people-valid.xlsx", "--vendor", "zoho-people",
                   "--result", result)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 rows: 2 valid, 0 invalid" in done.stdout
    assert f"Result sheet: {result}" in done.stdout
    assert result.exists()


def test_invalid_rows_exit_1_and_name_row_and_column(tmp: Path) -> None:
    """Invalid rows: exit 1, and each problem names the file, row, column and value."""
    source = tmp / "mistakes.csv"
    source.write_bytes((SAMPLES / "zoho-people-mistakes.csv").read_bytes())
    done = run_cli("validate", source, "--vendor", "zoho-people")
    assert done.returncode == 1
    assert f"{source}: row 4, column 'Date': '31-02-2022' is not a real date" in done.stdout
    assert (tmp / "mistakes.result.csv").exists()


def test_json_summary_for_machines(tmp: Path) -> None:
    """--json prints one JSON object with counts and the result path."""
    done = run_cli("validate", SAMPLES / "coursepath-mistakes.csv", "--vendor", "coursepath",
                   "--result", tmp / "r.csv", "--json")  # fmt: skip
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert summary["counts"] == {"valid": 0, "invalid": 3}
    assert summary["result"] == str(tmp / "r.csv")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", "missing.csv", "--vendor", "zoho-people"], "no such file"),
        (["validate", "{bad}", "--vendor", "zoho-people"], "cannot be read"),
        (["validate", "{zoho}", "--vendor", "moodle"], "unknown vendor 'moodle'"),
        (["validate", "{nocol}", "--vendor", "zoho-people"], "missing required column"),
        (["validate", "{zoho}", "--vendor", "zoho-people", "--timezone", "Mars/Base"],
         "unknown time zone"),
        (["validate", "{zoho}", "--vendor", "zoho-people", "--sheet", "X"], "only applies"),
        (["validate", "{zoho}"], "--vendor"),
        (["frobnicate"], "invalid choice"),
    ],
)  # fmt: skip
def test_cannot_run_exits_2_with_one_line_and_no_traceback(
    tmp: Path, args: list[str], message: str
) -> None:
    """A command that cannot run says why in one line on stderr, exits 2, shows no traceback."""
    files = {
        "{bad}": tmp / "bad.xlsx",
        "{zoho}": write_csv(tmp / "z.csv", [ZOHO_HEADERS, ZOHO_ROW]),
        "{nocol}": write_csv(tmp / "n.csv", [ZOHO_HEADERS[:-1], ZOHO_ROW[:-1]]),
    }
    files["{bad}"].write_bytes(b"PK\x03\x04 this is not really a workbook")
    done = run_cli(*[str(files.get(a, a)) for a in args], cwd=tmp)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1


def test_guarded_workbook_is_refused_cleanly(tmp: Path) -> None:
    """A workbook spanning to XFD1048576 is refused before the reader could crash."""
    path = write_xlsx(tmp / "huge.xlsx", [ZOHO_HEADERS, ZOHO_ROW])
    import zipfile

    with zipfile.ZipFile(path) as src:
        parts = {name: src.read(name) for name in src.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    sheet = sheet.replace(
        "</sheetData>",
        '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>',
    )
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w") as out:
        for name, data in parts.items():
            out.writestr(name, data)
    done = run_cli("validate", path, "--vendor", "zoho-people")
    assert done.returncode == 2
    assert "reaches column 16,384; we read at most 1,024 columns" in done.stderr


def test_template_command_writes_every_vendor(tmp: Path) -> None:
    """'template all' writes one workbook per vendor; one vendor writes one file."""
    done = run_cli("template", "all", "-o", tmp / "t")
    assert done.returncode == 0
    assert len(list((tmp / "t").glob("*-template.xlsx"))) == 4
    one = run_cli("template", "coursepath", "-o", tmp / "cp.xlsx")
    assert one.returncode == 0 and (tmp / "cp.xlsx").exists()


def test_vendors_lists_columns_and_limits() -> None:
    """'vendors' lists every vendor, its columns and limits; --json is machine-readable."""
    text = run_cli("vendors").stdout
    assert "zoho-people" in text and "30 requests a minute" in text
    assert "Trainer erecno (trainerErecno, required (or Trainer email))" in text
    data = json.loads(run_cli("vendors", "--json").stdout)
    assert set(data) == {"360learning-v1", "360learning-v2", "zoho-people", "coursepath"}
    kinds = {c["name"]: c for c in data["360learning-v2"]["columns"]}
    assert kinds["registrationRequestValidation"]["choices"][0] == "disabled"


def test_console_script_and_help() -> None:
    """Every subcommand has help text."""
    for command in ("validate", "template", "vendors"):
        done = run_cli(command, "--help")
        assert done.returncode == 0
        assert "usage: session-importer" in done.stdout


def test_the_entry_point_exits_with_the_commands_code(tmp: Path) -> None:
    """`python -m importer` (the console script's entry point) is a process whose exit status
    is the command's code: 1 for invalid rows, 2 for a command that cannot run, 0 for help."""
    source = tmp / "mistakes.csv"
    source.write_bytes((SAMPLES / "zoho-people-mistakes.csv").read_bytes())
    invalid = spawn_cli("validate", source, "--vendor", "zoho-people")
    assert invalid.returncode == 1, invalid.stderr
    assert "row 4, column 'Date'" in invalid.stdout
    refused = spawn_cli("validate", tmp / "missing.csv", "--vendor", "zoho-people")
    assert refused.returncode == 2 and "no such file" in refused.stderr
    assert "Traceback" not in refused.stderr
    helped = spawn_cli("validate", "--help")
    assert helped.returncode == 0 and "usage: session-importer" in helped.stdout


def test_status_lists_every_run_on_demand(tmp_path: Path) -> None:
    """Seven runs: `status` shows the latest 5 and says how to see the rest (a run to undo
    must not scroll out of sight); `--runs 0` lists all; --json names every run's ID."""
    from importer.store.journal import Journal

    path = tmp_path / "j.sqlite"
    journal = Journal(path, "360learning-v2")
    journal.set_meta("vendor", "360learning-v2")
    for n in range(7):
        journal.finish_run(journal.start_run(f"sheet{n}.csv"), {"counts": {"created": n}})
    journal.close()
    short = run_cli("status", str(path))
    assert short.returncode == 0, short.stderr
    assert "2 earlier run(s) not shown: --runs 0 lists them all" in short.stdout
    assert "run 1 at" not in short.stdout and "run 7 at" in short.stdout
    every = run_cli("status", str(path), "--runs", "0")
    assert all(f"run {n} at" in every.stdout for n in range(1, 8)), every.stdout
    assert json.loads(run_cli("status", str(path), "--json").stdout)["run_ids"] == [*range(1, 8)]
