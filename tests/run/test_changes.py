"""Change and undo end to end (issue 16): the real CLI (in this process, or in a subprocess
where it is killed), real files, the sandbox process."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.conftest import ROOT, CliResult, run_cli, write_csv
from tests.run.conftest import SandboxProcess

VENDOR = "360learning-v2"
PATH, JANE, JOHN = (
    "6853f6de567dc5f80528f80d",
    "647098a731a809ed36889ed1",
    "67769f32553f1e9171a186c0",
)
HEADER = ["Ref", "Path ID", "Session name", "Main instructor ID", "Start date", "End date",
          "User limit", "Registration validation"]  # fmt: skip


def row(
    n: int, *, start: str = "2027-03-01 09:00", who: str = JANE, limit: str = "20"
) -> list[str]:
    """A v2 row whose key (Ref) is R<n>; dates in the future (a session never "ended")."""
    return [f"R{n}", PATH, f"Session {n}", who, start, "2027-03-31 17:00", limit, "disabled"]


def sheet(path: Path, rows: list[list[str]]) -> Path:
    return write_csv(path, [HEADER, *rows])


def statuses(result: Path) -> dict[str, tuple[str, str, str]]:
    """Ref -> (status, created ID, messages) from a result workbook."""
    book = openpyxl.load_workbook(result)["Result"]
    lines = list(book.iter_rows(values_only=True))
    at = lines[0].index("Ref")
    return {str(r[at]): (str(r[1]), str(r[2] or ""), str(r[3] or "")) for r in lines[1:]}


def sessions(sandbox: SandboxProcess) -> dict[str, dict[str, Any]]:
    """Session ID -> the session as the sandbox holds it."""
    return {c["id"]: c["data"] for c in sandbox.created(VENDOR, "session")}


def calls(sandbox: SandboxProcess, method: str) -> Counter[str]:
    """Session ID -> how many ``method`` requests reached it (the sandbox's request log)."""
    return Counter(
        r["path"].rsplit("/", 1)[-1]
        for r in sandbox.requests(VENDOR)
        if r["method"] == method and "/sessions/" in r["path"]
    )


def cli(sandbox: SandboxProcess, *args: str) -> CliResult:
    """Any command of the real CLI against the sandbox (its hosts and credentials), in this
    process (tests.conftest.run_cli)."""
    info = sandbox.info[VENDOR]
    hosts = ["--base-url", info["base_url"], "--auth-url", info["auth_url"]]
    return run_cli(*args, "--vendor", VENDOR, *hosts, env=sandbox.env(VENDOR), cwd=ROOT)


def last_run(sandbox: SandboxProcess, journal: Path) -> int:
    done = run_cli("status", str(journal), "--json", env=sandbox.env(VENDOR), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)["last_run"]["id"])


def created(sandbox: SandboxProcess, tmp_path: Path, count: int, name: str = "first") -> Path:
    """Import ``count`` rows keyed by Ref; the result sheet."""
    result = tmp_path / f"{name}.result.xlsx"
    done = sandbox.run(
        sheet(tmp_path / f"{name}.csv", [row(n) for n in range(count)]),
        VENDOR, "--key", "Ref", "--result", str(result), "--journal", str(tmp_path / "j.sqlite"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return result


def test_a_date_and_an_instructor_changed_are_updated_and_read_back_equal(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """run --update: the edited row is PATCHed with only what changed; the result sheet says
    old → new; export --from-result reads the vendor's session back equal to the sheet."""
    first = statuses(created(sandbox, tmp_path, 10))
    ident = first["R3"][1]
    rows = [row(n) for n in range(10)]
    rows[3] = row(3, start="2027-03-02 10:30", who=JOHN)
    edited = sheet(tmp_path / "first.csv", rows)
    journal = str(tmp_path / "j.sqlite")
    plain = sandbox.run(edited, VENDOR, "--key", "Ref", "--journal", journal)
    assert plain.returncode == 1 and "--update" in plain.stdout  # changed, not sent
    assert calls(sandbox, "PATCH") == Counter()
    result = tmp_path / "update.result.xlsx"
    done = sandbox.run(
        edited, VENDOR, "--key", "Ref", "--journal", journal, "--update", "--result", str(result)
    )
    assert done.returncode == 0, done.stderr + done.stdout
    said = done.stdout + done.stderr
    assert "1 to update; sending 0" in said and "updated: updated" not in said, said
    got = statuses(result)
    assert got["R3"][0] == "updated" and got["R3"][1] == ident
    assert "startDate: 2027-03-01T09:00:00.000Z → 2027-03-02T10:30:00.000Z" in got["R3"][2]
    assert f"mainInstructorId: {JANE} → {JOHN}" in got["R3"][2]
    assert {got[f"R{n}"][0] for n in range(10) if n != 3} == {"skipped"}
    patches = [r for r in sandbox.requests(VENDOR) if r["method"] == "PATCH"]
    assert len(patches) == 1 and patches[0]["path"].endswith(ident)
    assert patches[0]["body"] == {"mainInstructorId": JOHN, "startDate": "2027-03-02T10:30:00.000Z"}
    held = sessions(sandbox)[ident]
    assert (held["startDate"], held["mainInstructorId"]) == ("2027-03-02T10:30:00.000Z", JOHN)
    back = tmp_path / "back.xlsx"
    export = cli(sandbox, "export", "--from-result", str(result), "-o", str(back))
    assert export.returncode == 0, export.stderr + export.stdout
    checks = [r[1] for r in openpyxl.load_workbook(back)["Result"].iter_rows(min_row=2, values_only=True)]  # fmt: skip
    assert checks == ["same"] * 10
    again = sandbox.run(edited, VENDOR, "--key", "Ref", "--journal", journal, "--update")
    assert again.returncode == 0 and len(calls(sandbox, "PATCH")) == 1  # nothing sent twice


def test_the_guard_stops_a_60_percent_change_until_the_exact_count_is_confirmed(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """6 of 10 rows edited: exit 4 and no request at all; a wrong --confirm is refused; the
    exact count goes through."""
    created(sandbox, tmp_path, 10)
    before = len(sandbox.requests(VENDOR))
    edited = sheet(
        tmp_path / "first.csv", [row(n, limit="25" if n < 6 else "20") for n in range(10)]
    )
    journal = str(tmp_path / "j.sqlite")
    base = (edited, VENDOR, "--key", "Ref", "--journal", journal, "--update")
    listed = sandbox.run(*base, "--dry-run", "--result", str(tmp_path / "dry.xlsx"))
    assert listed.returncode == 0, listed.stderr  # a dry run lists; the guard is for sending
    planned = statuses(tmp_path / "dry.xlsx")
    assert [planned[f"R{n}"][0] for n in range(10)] == ["changed"] * 6 + ["skipped"] * 4
    assert "would be updated: userLimit: 20 → 25" in planned["R0"][2]
    stopped = sandbox.run(*base)
    assert stopped.returncode == 4, stopped.stderr
    assert "6 row(s)" in stopped.stderr and "--confirm 6" in stopped.stderr
    assert len(sandbox.requests(VENDOR)) == before  # sent nothing, not even a token request
    wrong = sandbox.run(*base, "--confirm", "5")
    assert wrong.returncode == 4 and "--confirm 5 does not match" in wrong.stderr
    assert len(sandbox.requests(VENDOR)) == before
    done = sandbox.run(*base, "--confirm", "6")
    assert done.returncode == 0, done.stderr
    assert sorted(calls(sandbox, "PATCH").values()) == [1] * 6
    assert sorted(s["userLimit"] for s in sessions(sandbox).values()) == [20] * 4 + [25] * 6


def test_undo_leaves_the_sandbox_as_it_was_before_the_run(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Run A, then run B; undo B (dry run first, by its ID; then by its result sheet, a no-op):
    the sandbox holds exactly what it held after A; B's sessions are gone from reads too."""
    created(sandbox, tmp_path, 3, "a")
    journal = tmp_path / "j.sqlite"
    before = sessions(sandbox)
    second = tmp_path / "b.result.xlsx"
    done = sandbox.run(
        sheet(tmp_path / "b.csv", [row(n) for n in range(10, 14)]),
        VENDOR, "--key", "Ref", "--journal", str(journal), "--result", str(second),
    )  # fmt: skip
    assert done.returncode == 0 and len(sessions(sandbox)) == 7
    run_b = last_run(sandbox, journal)
    dry = cli(sandbox, "undo", str(run_b), "--journal", str(journal), "--dry-run")
    assert dry.returncode == 0 and "4 would be deleted" in dry.stdout, dry.stderr
    assert calls(sandbox, "DELETE") == Counter()
    undone = cli(sandbox, "undo", str(run_b), "--journal", str(journal), "--guard-share", "100")
    assert undone.returncode == 0, undone.stderr + undone.stdout
    assert sessions(sandbox) == before
    assert sorted(calls(sandbox, "DELETE").values()) == [1] * 4
    sheet_of_undo = tmp_path / f"b.run-{run_b}.undo.xlsx"
    assert str(sheet_of_undo) in undone.stdout
    assert {r[1] for r in openpyxl.load_workbook(sheet_of_undo)["Result"].iter_rows(min_row=2, values_only=True)} == {"deleted"}  # fmt: skip
    again = cli(sandbox, "undo", str(second), "--journal", str(journal))
    assert again.returncode == 0 and "already deleted" in _messages(tmp_path / "b.undo.xlsx")
    assert "already deleted" not in _messages(sheet_of_undo)  # the first undo's sheet is kept
    third = cli(sandbox, "undo", str(run_b), "--journal", str(journal))
    assert third.returncode == 0 and "already deleted" in _messages(
        tmp_path / f"b.run-{run_b}.undo-2.xlsx"
    )
    assert sorted(calls(sandbox, "DELETE").values()) == [1] * 4  # exactly once
    back = tmp_path / "back.xlsx"
    cli(sandbox, "export", "--from-result", str(second), "-o", str(back))
    found = [r[2] for r in openpyxl.load_workbook(back)["Result"].iter_rows(min_row=2, values_only=True)]  # fmt: skip
    assert found == ["not found at the vendor"] * 4


def _messages(result: Path) -> str:
    return " ".join(str(r[3]) for r in openpyxl.load_workbook(result)["Result"].iter_rows(values_only=True))  # fmt: skip


def _kill_when(
    process: subprocess.Popen[str], sandbox: SandboxProcess, method: str, n: int
) -> None:
    deadline = time.monotonic() + 60
    while sum(calls(sandbox, method).values()) < n:
        assert time.monotonic() < deadline and process.poll() is None, process.poll()
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL


def _start(sandbox: SandboxProcess, *args: str) -> subprocess.Popen[str]:
    info = sandbox.info[VENDOR]
    hosts = ["--vendor", VENDOR, "--base-url", info["base_url"], "--auth-url", info["auth_url"]]
    return subprocess.Popen(
        [sys.executable, "-m", "importer", *args, *hosts],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=sandbox.env(VENDOR),
        cwd=ROOT,
    )  # fmt: skip


# real clock: updates and deletes paced at 3 a second, so that the kills land mid-run
@pytest.mark.slow
def test_kill_9_mid_update_and_mid_undo_then_rerun_repeat_no_call(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """SIGKILL of the CLI in the middle of an update, then of an undo; each re-run finishes:
    every session PATCHed exactly once and holding the new values, then DELETEd exactly once
    and gone (an in-doubt row is read back, never resent blindly)."""
    count = 30
    first = created(sandbox, tmp_path, count)
    journal = str(tmp_path / "j.sqlite")
    edited = sheet(tmp_path / "first.csv", [row(n, limit="40") for n in range(count)])
    loose = ("--guard-share", "100", "--guard-rows", "1000")
    update = ("run", str(edited), "--key", "Ref", "--journal", journal, "--update", "--rate", "3")
    _kill_when(_start(sandbox, *update, *loose), sandbox, "PATCH", 5)
    assert sum(calls(sandbox, "PATCH").values()) < count, "finished before the kill: slow it"
    rerun = sandbox.run(edited, VENDOR, "--key", "Ref", "--journal", journal, "--update", *loose)
    assert rerun.returncode == 0, rerun.stderr + rerun.stdout
    assert sorted(calls(sandbox, "PATCH").values()) == [1] * count
    assert {s["userLimit"] for s in sessions(sandbox).values()} == {40}
    run_id = 1
    _kill_when(
        _start(sandbox, "undo", str(run_id), "--journal", journal, *loose), sandbox, "DELETE", 5
    )
    assert sessions(sandbox), "the undo finished before the kill"
    again = cli(sandbox, "undo", str(first), "--journal", journal, *loose)
    assert again.returncode == 0, again.stderr + again.stdout
    assert sessions(sandbox) == {}
    assert sorted(calls(sandbox, "DELETE").values()) == [1] * count


# real clock: 30 creates and 30 deletes at the vendor's pace, a kill mid-undo
@pytest.mark.slow
def test_an_interrupted_confirmed_undo_finishes_with_the_same_command(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """`undo RESULT --confirm 30` killed after 5 deletes: the very same command finishes the
    other 25 (what is left was confirmed), then runs again as a no-op. Once, the resumed run
    was refused ("--confirm 30 does not match: 25"), so a scheduled resume could never end."""
    first = created(sandbox, tmp_path, 30)
    undo = ("undo", str(first), "--journal", str(tmp_path / "j.sqlite"), "--confirm", "30")
    _kill_when(_start(sandbox, *undo), sandbox, "DELETE", 5)
    assert sessions(sandbox), "the undo finished before the kill"
    again = cli(sandbox, *undo)
    assert again.returncode == 0, again.stderr + again.stdout
    assert sessions(sandbox) == {}
    assert sorted(calls(sandbox, "DELETE").values()) == [1] * 30
    done = cli(sandbox, *undo)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "30 already deleted" in done.stdout + done.stderr, done.stdout + done.stderr
    assert sum(calls(sandbox, "DELETE").values()) == 30


def test_coursepath_member_update_enrolment_move_and_undo(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Coursepath: a renamed learner moved to another course is updated (POST member), enrolled
    in the new course and removed from the old; the undo warns that results go with it, removes
    the enrolments it made and leaves the member."""
    header = ["Email", "Name", "Course ID"]
    rows = [["jane.doe@example.com", "Jane Doe", "12345"], ["ann@example.com", "Ann", "12345"]]
    journal, result = str(tmp_path / "j.sqlite"), tmp_path / "cp.result.xlsx"
    first = sandbox.run(
        write_csv(tmp_path / "cp.csv", [header, *rows]), "coursepath", "--key", "Email",
        "--journal", journal,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr + first.stdout
    rows[0] = ["jane.doe@example.com", "Jane D.", "12346"]
    edited = write_csv(tmp_path / "cp.csv", [header, *rows])
    dry = tmp_path / "dry.result.xlsx"
    listed = sandbox.run(
        edited, "coursepath", "--key", "Email", "--journal", journal, "--update", "--dry-run",
        "--result", str(dry),
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr + listed.stdout
    book = openpyxl.load_workbook(dry)["Result"]
    planned = {r[5]: r[3] for r in book.iter_rows(min_row=2, values_only=True)}
    # Said before it happens: the move removes the old enrolment, and the results with it.
    assert "would remove from course 12345" in planned["jane.doe@example.com"]
    assert "deletes the learner's results" in planned["jane.doe@example.com"]
    done = sandbox.run(
        edited, "coursepath", "--key", "Email", "--journal", journal, "--update",
        "--result", str(result),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    book = openpyxl.load_workbook(result)["Result"]
    got = {r[5]: (r[1], r[3]) for r in book.iter_rows(min_row=2, values_only=True)}
    assert got["jane.doe@example.com"][0] == "updated"
    assert "name: Jane Doe → Jane D." in got["jane.doe@example.com"][1]
    assert "courseId: 12345 → 12346" in got["jane.doe@example.com"][1]
    enrolled = {c["id"] for c in sandbox.created("coursepath", "coursemember")}
    members = sandbox.created("coursepath", "member")
    jane = next(m["id"] for m in members if m["data"]["email"] == "jane.doe@example.com")
    assert f"12346:{jane}" in enrolled and f"12345:{jane}" not in enrolled
    info = sandbox.info["coursepath"]
    undo = run_cli(
        "undo", "1", "--vendor", "coursepath", "--journal", journal, "--base-url",
        info["base_url"], "--guard-share", "100", env=sandbox.env("coursepath"), cwd=ROOT,
    )  # fmt: skip
    assert undo.returncode == 0, undo.stderr + undo.stdout
    assert "deletes all learning results" in undo.stderr
    assert sandbox.created("coursepath", "coursemember") == []
    assert {m["data"]["email"] for m in sandbox.created("coursepath", "member")} >= {
        "jane.doe@example.com",
        "ann@example.com",
    }


def test_undo_where_the_vendor_documents_no_delete_says_so(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Zoho People documents no delete: undo exits 2 saying nothing can be deleted through
    its API, before reading any journal or sending anything."""
    info = sandbox.info["zoho-people"]
    before = len(sandbox.requests("zoho-people"))
    done = run_cli(
        "undo", "1", "--vendor", "zoho-people", "--base-url", info["base_url"], "--auth-url",
        info["auth_url"], env=sandbox.env("zoho-people"), cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2
    assert "offers no delete through its API: nothing can be deleted through it" in done.stderr
    assert len(sandbox.requests("zoho-people")) == before


def test_a_job_file_in_sync_mode_updates_with_its_own_guard(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """mode = "sync" in the job file acts as --update, and its guard_share lets 6 of 10
    changes through without --confirm; the JSON line names the run, which undo takes back."""
    created(sandbox, tmp_path, 10)
    edited = sheet(
        tmp_path / "first.csv", [row(n, limit="30" if n < 6 else "20") for n in range(10)]
    )
    job = tmp_path / "job.toml"
    job.write_text(
        f'[job]\nvendor = "{VENDOR}"\nkey = "Ref"\nmode = "sync"\nguard_share = 100\n'
        f'journal = "j.sqlite"\n',
        encoding="utf-8",
    )
    info = sandbox.info[VENDOR]
    done = run_cli(
        "run", str(edited), "--config", str(job), "--json", "--base-url", info["base_url"],
        "--auth-url", info["auth_url"], env=sandbox.env(VENDOR), cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["counts"] == {"updated": 6, "skipped": 4} and summary["run_id"] == 2
    assert sorted(calls(sandbox, "PATCH").values()) == [1] * 6
    first_run = cli(sandbox, "undo", "1", "--config", str(job), "--json")
    assert first_run.returncode == 0, first_run.stderr
    undone = json.loads(first_run.stdout)
    assert undone["counts"] == {"deleted": 10} and undone["requests"] == 10  # one DELETE each
    assert sessions(sandbox) == {}


def test_lost_answers_to_updates_and_deletes_are_checked_never_resent(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Every answer to a PATCH, then to a DELETE, is lost (done at the vendor, never answered):
    the rows are unknown; the re-run reads them back (the new values held; 404) and records
    them updated and deleted without sending either a second time."""
    created(sandbox, tmp_path, 3)
    journal = str(tmp_path / "j.sqlite")
    edited = sheet(tmp_path / "first.csv", [row(n, limit="33") for n in range(3)])
    update = (edited, VENDOR, "--key", "Ref", "--journal", journal, "--update", "--result")
    sandbox.faults(f"{VENDOR}:drop=1")
    lost = sandbox.run(*update, str(tmp_path / "lost.xlsx"))
    assert lost.returncode == 1
    assert {s[0] for s in statuses(tmp_path / "lost.xlsx").values()} == {"unknown"}
    sandbox.faults("")
    plain = sandbox.run(edited, VENDOR, "--key", "Ref", "--journal", journal)
    assert plain.returncode == 1 and "interrupted" in plain.stdout  # never created again
    again = sandbox.run(*update, str(tmp_path / "again.xlsx"))
    assert again.returncode == 0, again.stderr + again.stdout
    got = statuses(tmp_path / "again.xlsx")
    assert all(s == "updated" and "not resent" in m for s, _, m in got.values()), got
    assert sorted(calls(sandbox, "PATCH").values()) == [1, 1, 1]
    sandbox.faults(f"{VENDOR}:drop=1")
    undo = ("undo", "1", "--journal", journal)
    assert cli(sandbox, *undo).returncode == 1 and sessions(sandbox) == {}
    sandbox.faults("")
    assert cli(sandbox, *undo).returncode == 0
    assert "found deleted after an interrupted undo" in _messages(
        tmp_path / "first.run-1.undo-2.xlsx"
    )
    assert sorted(calls(sandbox, "DELETE").values()) == [1, 1, 1]


def test_undo_of_one_row_of_a_csv_run_after_its_path_was_changed(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """A row moved to another path cannot be updated: its message names the command that
    deletes that one session (undo RUN --row N), which leaves the run's other rows alone and
    writes its sheet as CSV beside the run's CSV result; a row the run did not create is
    refused with nothing deleted."""
    journal = str(tmp_path / "j.sqlite")
    result = tmp_path / "first.result.csv"
    rows = [row(n) for n in range(5)]
    done = sandbox.run(
        sheet(tmp_path / "first.csv", rows), VENDOR, "--key", "Ref", "--journal", journal,
        "--result", str(result),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = last_run(sandbox, journal)
    moved = [*rows]
    moved[2] = [*row(2)[:1], "6853f6de567dc5f80528f80e", *row(2)[2:]]  # sheet row 4
    update = sandbox.run(
        sheet(tmp_path / "moved.csv", moved), VENDOR, "--key", "Ref", "--journal", journal,
        "--update", "--result", str(tmp_path / "moved.result.xlsx"),
    )  # fmt: skip
    said = statuses(tmp_path / "moved.result.xlsx")["R2"][2]
    assert update.returncode == 1, update.stderr
    assert f"(session-importer undo {run} --row 4 --vendor {VENDOR})" in said, said
    wrong = cli(sandbox, "undo", str(run), "--journal", journal, "--row", "4,40")
    assert wrong.returncode == 2 and "row(s) 40" in wrong.stderr and "2, 3, 4, 5, 6" in wrong.stderr
    assert calls(sandbox, "DELETE") == Counter()
    ident = statuses_csv(result)["R2"]
    one = cli(sandbox, "undo", str(run), "--journal", journal, "--row", "4")
    assert one.returncode == 0, one.stderr + one.stdout
    assert calls(sandbox, "DELETE") == Counter({ident: 1}) and len(sessions(sandbox)) == 4
    undo_sheet = tmp_path / f"first.run-{run}.undo.csv"
    with undo_sheet.open(encoding="utf-8-sig", newline="") as lines:
        undone = [(line["Sheet row"], line["Status"]) for line in csv.DictReader(lines)]
    assert undone == [("4", "deleted")]


def statuses_csv(result: Path) -> dict[str, str]:
    """Ref -> created ID, from a CSV result sheet."""
    with result.open(encoding="utf-8-sig", newline="") as lines:
        return {line["Ref"]: line["Created ID"] for line in csv.DictReader(lines)}


def test_undo_of_a_sheet_that_created_nothing_says_why(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """The result sheet of `validate` names no created row: the undo deletes nothing and says
    so in words, instead of a bare "nothing created by it"."""
    created(sandbox, tmp_path, 2)
    checked = tmp_path / "checked.result.csv"
    done = run_cli(
        "validate", str(tmp_path / "first.csv"), "--vendor", VENDOR, "--result", str(checked),
        cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    undo = cli(sandbox, "undo", str(checked), "--journal", str(tmp_path / "j.sqlite"))
    assert undo.returncode == 0, undo.stderr
    assert "names no row created by a run" in undo.stderr, undo.stderr
    assert sum(calls(sandbox, "DELETE").values()) == 0 and len(sessions(sandbox)) == 2


def test_a_vendor_refusing_null_leaves_the_row_rejected_and_unchanged(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """The OpenAPI file marks userLimit nullable with a 3.0 keyword its 3.1 dialect ignores:
    we send null to clear an emptied cell. A vendor that refuses it (v2_patch_nulls=refuse):
    the row is rejected with the vendor's words, its session keeps the old limit, and the
    journal does not take the change as made (the next run tries it again)."""
    sandbox.options(v2_patch_nulls="refuse")  # (an option resets the sandbox: set it first)
    created(sandbox, tmp_path, 2)
    journal = str(tmp_path / "j.sqlite")
    edited = sheet(tmp_path / "first.csv", [row(0), row(1, limit="")])
    result = tmp_path / "nulls.result.xlsx"
    update = (edited, VENDOR, "--key", "Ref", "--journal", journal, "--update")
    for _ in range(2):
        refused = sandbox.run(*update, "--result", str(result))
        assert refused.returncode == 1, refused.stderr + refused.stdout
        got = statuses(result)
        assert got["R1"][0] == "rejected" and "cannot be null" in got["R1"][2], got["R1"]
        assert got["R0"][0] == "skipped"
    assert sorted(str(s.get("userLimit")) for s in sessions(sandbox).values()) == ["20", "20"]
    refusals = [
        r for r in sandbox.requests(VENDOR) if r["method"] == "PATCH" and r["status"] == 400
    ]
    assert len(refusals) == 2  # one refused PATCH a run, never taken as done


def test_a_row_with_an_empty_key_is_refused_never_created_twice(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """With --key, a row whose key cell is empty is refused before sending: created by its
    content, it would be created again by --update once edited (found by a coordinator's
    trial: two sessions for one row)."""
    rows = [row(n) for n in range(3)]
    rows[1][0] = ""
    journal = str(tmp_path / "j.sqlite")
    first = tmp_path / "first.result.xlsx"
    done = sandbox.run(
        sheet(tmp_path / "first.csv", rows), VENDOR, "--key", "Ref", "--journal", journal,
        "--result", str(first),
    )  # fmt: skip
    assert done.returncode == 1
    got = statuses(first)
    assert got["R0"][0] == got["R2"][0] == "created"
    assert got["None"][0] == "invalid" and "key column 'Ref' is empty" in got["None"][2]
    rows[1][4] = "2027-03-02 10:30"  # edited: still refused, nothing created
    again = sandbox.run(
        sheet(tmp_path / "first.csv", rows), VENDOR, "--key", "Ref", "--journal", journal,
        "--update",
    )  # fmt: skip
    assert again.returncode == 1
    assert sorted(d["name"] for d in sessions(sandbox).values()) == ["Session 0", "Session 2"]
