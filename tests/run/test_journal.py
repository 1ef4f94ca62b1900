"""Exactly once: re-runs skip what exists, lost answers are reconciled, one run per job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from importer.store.base import JobLockedError
from importer.store.journal import Journal
from tests.conftest import run_cli, write_csv, zoho_row, zoho_sheet
from tests.run.conftest import SandboxProcess

PATH, JANE = "6853f6de567dc5f80528f80d", "647098a731a809ed36889ed1"
V2 = [
    "Path ID",
    "Session name",
    "Main instructor ID",
    "Start date",
    "Registration validation",
    "Additional information",
    "Ref",
]


def v2_sheet(tmp_path: Path, names: list[str], info: str = "") -> Path:
    rows = [
        [PATH, name, JANE, "2025-07-01 10:00", "disabled", info, f"R{i}"]
        for i, name in enumerate(names)
    ]
    return write_csv(tmp_path / "v2.csv", [V2, *rows])


def creates(sandbox: SandboxProcess, vendor: str) -> int:
    return sum(
        1 for r in sandbox.requests(vendor) if r["method"] == "POST" and "sessions" in r["path"]
    )


def summary(done: object) -> dict[str, object]:
    return json.loads(done.stdout)  # type: ignore[attr-defined, no-any-return]


def test_rerun_of_an_unchanged_sheet_sends_nothing(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """The second run of the same sheet sends zero creates; its rows are 'skipped' with their IDs."""
    sheet = v2_sheet(tmp_path, ["A", "B", "C"])
    first = summary(sandbox.run(sheet, "360learning-v2", "--json"))
    assert first["counts"] == {"created": 3}
    before = creates(sandbox, "360learning-v2")
    second = sandbox.run(sheet, "360learning-v2", "--json")
    assert summary(second)["counts"] == {"skipped": 3} and second.returncode == 0
    assert creates(sandbox, "360learning-v2") == before == 3
    # The account's journal is in the state folder; nothing but the result beside the sheet.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state", "v2.csv", "v2.result.csv"]
    assert Path(str(summary(second)["journal"])).parent == sandbox.state_dir / "journals"


def test_changed_row_with_a_key_is_reported_not_duplicated(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """With --key, a row edited after its creation is 'changed'; new rows are sent."""
    sandbox.run(v2_sheet(tmp_path, ["A", "B"]), "360learning-v2", "--key", "Ref", "--json")
    again = sandbox.run(
        v2_sheet(tmp_path, ["A", "B renamed", "C"]), "360learning-v2", "--key", "Ref", "--json"
    )
    assert summary(again)["counts"] == {"created": 1, "skipped": 1, "changed": 1}
    assert again.returncode == 1
    assert sorted(c["data"]["name"] for c in sandbox.created("360learning-v2")) == ["A", "B", "C"]


def test_rejected_rows_wait_for_a_change_or_retry(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """A rejected row is not resent unchanged; --retry-rejected resends it."""
    rows = [
        V2,
        ["6853f6de567dc5f80528f80f", "Archived", JANE, "2025-07-01 10:00", "disabled", "", "R1"],
    ]
    sheet = write_csv(tmp_path / "v2.csv", rows)
    assert summary(sandbox.run(sheet, "360learning-v2", "--json"))["counts"] == {"rejected": 1}
    assert summary(sandbox.run(sheet, "360learning-v2", "--json"))["counts"] == {"rejected": 1}
    assert creates(sandbox, "360learning-v2") == 1
    sandbox.run(sheet, "360learning-v2", "--json", "--retry-rejected")
    assert creates(sandbox, "360learning-v2") == 2


@pytest.mark.parametrize("vendor", ["360learning-v2", "zoho-people"])
def test_lost_answers_are_found_again_not_resent(
    tmp_path: Path, sandbox: SandboxProcess, vendor: str
) -> None:
    """Answers dropped after creation: the next run finds the sessions and sends nothing twice."""
    if vendor == "360learning-v2":
        sheet = v2_sheet(tmp_path, ["A", "B"], info="Cohort 7")
    else:
        rows = [zoho_row("A"), zoho_row("B", "02:00 PM", "03:00 PM")]
        sheet = zoho_sheet(tmp_path / "z.csv", rows)
    sandbox.faults(f"{vendor}:drop=1")
    first = sandbox.run(sheet, vendor, "--json")
    assert summary(first)["counts"] == {"unknown": 2}
    sandbox.faults("")
    second = sandbox.run(sheet, vendor, "--json")
    assert summary(second)["counts"] == {"created": 2}, second.stderr
    assert len(sandbox.created(vendor)) == 2 and creates(sandbox, vendor) == 2
    third = sandbox.run(sheet, vendor, "--json")
    assert summary(third)["counts"] == {"skipped": 2}


def test_v1_lost_answers_stay_unknown_until_told(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """v1 cannot be checked: a lost answer stays unknown; --resend-unknown sends it again."""
    rows = [
        ["Path ID", "Session name", "Start date", "Owner group ID"],
        [PATH, "A", "2025-07-01 10:00", "624c5526204fc7207e603ea6"],
    ]
    sheet = write_csv(tmp_path / "v1.csv", rows)
    sandbox.faults("360learning-v1:drop=1")
    assert summary(sandbox.run(sheet, "360learning-v1", "--json"))["counts"] == {"unknown": 1}
    sandbox.faults("")
    again = sandbox.run(sheet, "360learning-v1", "--json")
    assert summary(again)["counts"] == {"unknown": 1}
    assert len(sandbox.created("360learning-v1")) == 1
    resent = sandbox.run(sheet, "360learning-v1", "--json", "--resend-unknown")
    assert summary(resent)["counts"] == {"created": 1}


def test_a_second_run_goes_on_while_another_imports(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """While another run imports into the account's journal (its lock shared, one row of the
    sheet in flight), a second run goes on: that row is reported skipped, "being created by
    run N (...)", and not sent; once the other run is gone, the row is looked up, not resent.
    Only a process holding the journal whole (a store copy, an earlier version's run) makes a
    run exit 2, saying so."""
    sheet = v2_sheet(tmp_path, ["A", "B"])
    first = summary(sandbox.run(sheet, "360learning-v2", "--dry-run", "--json"))
    assert first["journal"] is None  # a dry run creates no journal
    path = Path(str(summary(sandbox.run(sheet, "360learning-v2", "--json"))["journal"]))
    other = Journal(path, "360learning-v2")  # a run importing now, row B on the wire
    other.lock_job(shared=True)
    run = other.start_run("other.csv", {"who": "ana"})
    other.hold(f"run {run}", "ana", run)
    b = next(e for e in other.entries() if e.sheet_row == 3)
    assert other.claim(b.key, "created", "sending").held
    try:
        with pytest.raises(JobLockedError, match="runs are importing"):
            Journal(path, "360learning-v2").lock_job()  # exclusive: refused while it runs
        done = sandbox.run(sheet, "360learning-v2", "--json")
        assert done.returncode == 0, done.stderr
        assert summary(done)["counts"] == {"skipped": 2}
        said = (tmp_path / "v2.result.csv").read_text(encoding="utf-8-sig")
        assert f"being created by run {run} (started by ana)" in said
    finally:
        other.close()
    whole = Journal(path, "360learning-v2")
    whole.lock_job()  # the whole journal (as `store copy` takes it): imports wait for it
    try:
        refused = sandbox.run(sheet, "360learning-v2")
        assert refused.returncode == 2 and "holds this journal whole" in refused.stderr
    finally:
        whole.close()
    assert creates(sandbox, "360learning-v2") == 2
    again = sandbox.run(sheet, "360learning-v2", "--json")
    assert summary(again)["counts"] == {"created": 1, "skipped": 1}  # B found, not resent
    assert creates(sandbox, "360learning-v2") == 2


def test_status_and_report_from_the_journal(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """status shows the journal; report rewrites the result sheet without sending."""
    sheet = v2_sheet(tmp_path, ["A", "B"])
    journal = Path(str(summary(sandbox.run(sheet, "360learning-v2", "--json"))["journal"]))
    status = run_cli("status", journal, "--json")
    assert json.loads(status.stdout)["counts"] == {"created": 2}
    before = len(sandbox.requests("360learning-v2"))
    out = tmp_path / "again.csv"
    done = run_cli("report", journal, "--result", out)
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8-sig").count(",created,") == 2
    assert len(sandbox.requests("360learning-v2")) == before


# real clock: two processes' writes counted per second as the vendor sees them
@pytest.mark.slow
def test_two_processes_share_one_account_budget(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """Two runs at 8 writes/s each on one account: together they stay under 10/s, no 429."""
    import subprocess
    import sys

    info = sandbox.info["360learning-v2"]
    processes = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        sheet = v2_sheet(folder, [f"{name} {i}" for i in range(24)])
        command = [
            sys.executable,
            "-m",
            "importer",
            "run",
            str(sheet),
            "--vendor",
            "360learning-v2",
            "--base-url",
            info["base_url"],
            "--auth-url",
            info["auth_url"],
            "--rate",
            "8",
            "--json",
            # Two jobs, each with its own journal (one account's journal takes one run at a time).
            "--journal",
            str(folder / "job.sqlite"),
        ]
        processes.append(
            subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=sandbox.env("360learning-v2"),
            )
        )
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert json.loads(out)["counts"] == {"created": 24}, err
    writes = [
        r
        for r in sandbox.requests("360learning-v2")
        if r["method"] == "POST" and "sessions" in r["path"]
    ]
    assert len(writes) == 48
    assert [r for r in writes if r["status"] == 429] == []
    moments = sorted(r["at"] for r in writes)
    busiest = max(sum(1 for m in moments if start <= m < start + 1.0) for start in moments)
    assert busiest <= 9


def test_nightly_inbox_job(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """A job file with an inbox: new sheets are imported, then moved to done/ or failed/."""
    inbox, output = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    v2_sheet(inbox, ["Night A", "Night B"]).rename(inbox / "monday.csv")
    (inbox / "broken.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    (inbox / "notes.txt.bak").write_text("ignored", encoding="utf-8")
    info = sandbox.info["360learning-v2"]
    job = tmp_path / "nightly.toml"
    job.write_text(
        f'[job]\nvendor = "360learning-v2"\ninput = "{inbox}"\noutput = "{output}"\n'
        f'timezone = "Europe/Paris"\nbase_url = "{info["base_url"]}"\nauth_url = "{info["auth_url"]}"\n'
        f'log = "{tmp_path / "nightly.log"}"\nsettle = 0\n',  # sheets written just now
        encoding="utf-8",
    )
    command = ["run", "--config", str(job), "--json"]
    done = run_cli(*command, env=sandbox.env("360learning-v2"))
    assert done.returncode == 2, done.stderr  # the broken file could not run
    line = json.loads(done.stdout)
    by_file = {Path(f["file"]).name: f for f in line["files"]}
    assert by_file["monday.csv"]["counts"] == {"created": 2}
    assert (inbox / "done" / "monday.csv").exists() and (inbox / "failed" / "broken.xlsx").exists()
    assert (output / "monday.result.csv").exists()
    log = (tmp_path / "nightly.log").read_text(encoding="utf-8")
    assert "monday.csv: 2 created" in log and "broken.xlsx: could not run" in log
    assert sandbox.info["360learning-v2"]["env"]["IMPORTER_360L_CLIENT_SECRET"] not in log
    again = run_cli(*command, env=sandbox.env("360learning-v2"))
    assert again.returncode == 0 and json.loads(again.stdout)["files"] == []
