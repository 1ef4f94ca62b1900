"""Trust for coordinators and operators (issue 17), through the real CLI and the sandbox."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.conftest import ROOT, CliResult, run_cli, write_csv, zoho_row, zoho_sheet
from tests.run.conftest import SandboxProcess

PATH, JANE = "6853f6de567dc5f80528f80d", "647098a731a809ed36889ed1"
V2 = ["Path ID", "Session name", "Main instructor ID", "Start date", "Registration validation"]


def v2_sheet(path: Path, names: list[str], start: str = "2025-07-01 10:00") -> Path:
    return write_csv(path, [V2, *([PATH, n, JANE, start, "disabled"] for n in names)])


def line(done: CliResult | subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The one JSON line of --json: stdout holds nothing else."""
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    return json.loads(lines[0])  # type: ignore[no-any-return]


def creates(sandbox: SandboxProcess, vendor: str = "360learning-v2") -> int:
    return sum(
        1 for r in sandbox.requests(vendor) if r["method"] == "POST" and "sessions" in r["path"]
    )


def cli(*args: str | Path, env: dict[str, str], cwd: Path | None = None) -> CliResult:
    """The real command line, in this process (tests.conftest.run_cli)."""
    return run_cli(*args, env=env, cwd=cwd or ROOT)


def job_file(path: Path, sandbox: SandboxProcess, vendor: str, **keys: object) -> Path:
    info = sandbox.info[vendor]
    hosts = {
        "base_url": info["base_url"],
        **({"auth_url": info["auth_url"]} if info["auth_url"] else {}),
    }
    body = "\n".join(
        f"{k} = {json.dumps(v)}" for k, v in {"vendor": vendor, **hosts, **keys}.items()
    )
    path.write_text(f"[job]\n{body}\n", encoding="utf-8")
    return path


# --- 1. exactly once, whatever the file is called ------------------------------------------


def test_renamed_copy_of_an_imported_sheet_creates_nothing(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """'sessions (fixed).csv', a copy in another folder, sends nothing: rows are known by content."""
    sheet = v2_sheet(tmp_path / "sessions.csv", ["A", "B"])
    assert line(sandbox.run(sheet, "360learning-v2", "--json"))["counts"] == {"created": 2}
    (tmp_path / "fixed").mkdir()
    copy = Path(shutil.copy(sheet, tmp_path / "fixed" / "sessions (fixed).csv"))
    again = sandbox.run(copy, "360learning-v2", "--json")
    assert line(again)["counts"] == {"skipped": 2} and again.returncode == 0
    merged = v2_sheet(tmp_path / "merged.csv", ["C", "B"])
    assert line(sandbox.run(merged, "360learning-v2", "--json"))["counts"] == {
        "created": 1,
        "skipped": 1,
    }
    assert creates(sandbox) == 3
    beside = [p.name for p in tmp_path.rglob("*") if "state" not in p.relative_to(tmp_path).parts]
    assert not [n for n in beside if n.endswith((".sqlite", ".lock"))], beside


def test_duplicate_row_within_a_sheet_is_refused_before_sending(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Two identical rows: the second is invalid ('the same session as row 2'), one create."""
    sheet = v2_sheet(tmp_path / "twice.csv", ["A", "A"])
    done = sandbox.run(sheet, "360learning-v2", "--json")
    assert line(done)["counts"] == {"created": 1, "invalid": 1} and done.returncode == 1
    assert "the same session as row 2" in (tmp_path / "twice.result.csv").read_text("utf-8-sig")
    assert creates(sandbox) == 1


def test_an_older_per_file_journal_is_taken_in(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """Rows recorded in NAME.journal.sqlite by an earlier version are not sent again."""
    sheet = v2_sheet(tmp_path / "v2.csv", ["A", "B"])
    old = tmp_path / "v2.journal.sqlite"
    sandbox.run(sheet, "360learning-v2", "--journal", str(old))
    with sqlite3.connect(old) as db:  # the earlier version's keys: "#1" after the fingerprint
        db.execute("UPDATE rows SET key = key || '#1'")
        db.execute("DELETE FROM meta WHERE key = 'keys'")
    done = sandbox.run(sheet, "360learning-v2", "--json")
    assert line(done)["counts"] == {"skipped": 2}, done.stderr
    assert "took 2 row(s) of the older journal" in done.stderr
    assert creates(sandbox) == 2


# --- 3. inbox rules ---------------------------------------------------------------------


def inbox_job(tmp_path: Path, sandbox: SandboxProcess, **keys: object) -> tuple[Path, Path]:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    job = job_file(
        tmp_path / "nightly.toml",
        sandbox,
        "360learning-v2",
        input="inbox",
        output="out",
        timezone="Europe/Paris",
        log="logs/nightly.log",
        # the sheets were written just now: take them at once (settle=None: the default)
        **{k: v for k, v in ({"settle": 0} | keys).items() if v is not None},
    )
    return inbox, job


def test_run_wide_problems_leave_the_sheets_in_the_inbox(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Missing or refused credentials: every sheet stays in the inbox, the JSON line says so."""
    inbox, job = inbox_job(tmp_path, sandbox)
    v2_sheet(inbox / "monday.csv", ["A"])
    v2_sheet(inbox / "tuesday.csv", ["B"])
    bare = {
        k: v for k, v in sandbox.env("360learning-v2").items() if not k.startswith("IMPORTER_3")
    }
    wrong = sandbox.env("360learning-v2") | {"IMPORTER_360L_CLIENT_SECRET": "not-the-secret-1"}
    for env, code in ((bare, 2), (wrong, 3)):
        done = cli("run", "--config", job, "--json", env=env)
        assert done.returncode == code, done.stderr
        said = line(done)
        assert [Path(p).name for p in said["left_in_inbox"]] == ["monday.csv", "tuesday.csv"]
        assert sorted(p.name for p in inbox.iterdir()) == ["monday.csv", "tuesday.csv"]
    assert creates(sandbox) == 0
    assert "not-the-secret-1" not in (tmp_path / "logs" / "nightly.log").read_text("utf-8")


def test_own_problems_go_to_failed_and_nothing_is_overwritten(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """An all-invalid sheet goes to failed/; a second monday.csv gets its own result and name."""
    inbox, job = inbox_job(tmp_path, sandbox)
    env = sandbox.env("360learning-v2")
    v2_sheet(inbox / "monday.csv", ["A"])
    v2_sheet(inbox / "allbad.csv", ["X"], start="31-02-2025 10:00")
    done = cli("run", "--config", job, "--json", env=env, cwd=tmp_path / "inbox")
    assert done.returncode == 1, done.stderr
    assert (inbox / "done" / "monday.csv").exists() and (inbox / "failed" / "allbad.csv").exists()
    first_result = (tmp_path / "out" / "monday.result.csv").read_text("utf-8-sig")
    v2_sheet(inbox / "monday.csv", ["B"])
    done = cli("run", "--config", job, "--json", env=env)
    assert line(done)["files"][0]["result"].endswith("monday.result-2.csv")
    assert (inbox / "done" / "monday-2.csv").exists() and (inbox / "done" / "monday.csv").exists()
    assert (tmp_path / "out" / "monday.result.csv").read_text("utf-8-sig") == first_result


def test_inbox_takes_only_regular_files_and_log_lines_cannot_be_forged(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """A symbolic link is left alone; a newline in a file name is escaped in the log."""
    inbox, job = inbox_job(tmp_path, sandbox)
    elsewhere = v2_sheet(tmp_path / "private.csv", ["Secret session"])
    (inbox / "link.csv").symlink_to(elsewhere)
    v2_sheet(inbox / "a\n2026-01-01 00:00:00 forged.csv", ["N"])
    if os.getuid() == 0:  # as root, a sheet that belongs to another user can be made
        os.chown(v2_sheet(inbox / "theirs.csv", ["Theirs"]), 54321, -1)
    done = cli("run", "--config", job, "--json", env=sandbox.env("360learning-v2"))
    assert done.returncode == 0, done.stderr
    assert (inbox / "link.csv").is_symlink()
    assert (inbox / "theirs.csv").exists() == (os.getuid() == 0)
    assert [c["data"]["name"] for c in sandbox.created("360learning-v2")] == ["N"]
    log = (tmp_path / "logs" / "nightly.log").read_text("utf-8")
    assert not [x for x in log.splitlines() if x.startswith("2026-01-01 00:00:00 forged")]
    assert "a\\n2026-01-01 00:00:00 forged.csv" in log and "link.csv: left alone" in log


# --- signals -----------------------------------------------------------------------------


def test_sigterm_mid_run_writes_the_sheet_and_the_json_line(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """systemctl stop: requests in flight finish, every row in the result, JSON line, exit 143."""
    import signal
    import time

    sheet = zoho_sheet(tmp_path / "z.csv", [zoho_row(f"S{i}") for i in range(8)])
    result = tmp_path / "out.csv"
    info = sandbox.info["zoho-people"]
    hosts = ["--base-url", info["base_url"], "--auth-url", info["auth_url"]]
    process = subprocess.Popen(
        [sys.executable, "-m", "importer", "run", str(sheet), "--vendor", "zoho-people", *hosts,
         "--result", str(result), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=sandbox.env("zoho-people"),
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while len(sandbox.created("zoho-people")) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 143, err
    said = json.loads(out)
    assert said["stopped"] == "terminated" and said["exit_code"] == 143
    states = [x.split(",")[1] for x in result.read_text("utf-8-sig").splitlines()[1:]]
    assert len(states) == 8 and states.count("created") == len(sandbox.created("zoho-people"))
    assert "Traceback" not in err


# --- job files ---------------------------------------------------------------------------


def test_check_validates_the_job_with_a_token_request_and_imports_nothing(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """run --check: job, paths and a granted token (exit 0); a refused secret exits 3."""
    inbox, job = inbox_job(tmp_path, sandbox)
    v2_sheet(inbox / "monday.csv", ["A"])
    env = sandbox.env("360learning-v2")
    done = cli("run", "--config", job, "--check", env=env)
    assert done.returncode == 0, done.stderr
    assert "a token was granted" in done.stdout and "nothing was imported" in done.stdout
    assert [r["path"] for r in sandbox.requests("360learning-v2")] == ["/api/v2/oauth2/token"]
    wrong = env | {"IMPORTER_360L_CLIENT_SECRET": "nope-nope-1234"}
    refused = cli("run", "--config", job, "--check", "--json", env=wrong)
    assert refused.returncode == 3 and line(refused)["exit_code"] == 3
    assert (inbox / "monday.csv").exists() and creates(sandbox) == 0


def test_check_refuses_a_job_without_a_time_zone_where_the_vendor_needs_one(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """run --check on a 360Learning job with no time zone anywhere: exit 2 naming timezone,
    before any token request (the night's run would refuse every sheet of local times)."""
    _inbox, job = inbox_job(tmp_path, sandbox)
    text = job.read_text("utf-8")
    job.write_text(re.sub(r"(?m)^timezone = .*\n", "", text), "utf-8")
    env = {k: v for k, v in sandbox.env("360learning-v2").items() if k != "IMPORTER_TIMEZONE"}
    done = cli("run", "--config", job, "--check", env=env)
    assert done.returncode == 2 and "no time zone" in done.stderr, done.stderr
    assert "timezone" in done.stderr and not sandbox.requests("360learning-v2")
    with_zone = cli("run", "--config", job, "--check", "--timezone", "Europe/Paris", env=env)
    assert with_zone.returncode == 0 and "time zone: Europe/Paris" in with_zone.stdout


def test_job_file_typos_are_refused_and_paths_are_the_job_files(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """'time_zone' is refused with the right name; input/output are relative to the job file."""
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    v2_sheet(jobs / "sheet.csv", ["A"])
    env = sandbox.env("360learning-v2")
    typo = job_file(
        jobs / "typo.toml", sandbox, "360learning-v2", input="sheet.csv", time_zone="Europe/Paris"
    )
    done = cli("run", "--config", typo, env=env, cwd=tmp_path)
    assert (
        done.returncode == 2
        and "unknown key 'time_zone' in [job]; did you mean 'timezone'?" in done.stderr
    )
    assert creates(sandbox) == 0
    good = job_file(
        jobs / "good.toml",
        sandbox,
        "360learning-v2",
        input="sheet.csv",
        output="out",
        timezone="Europe/Paris",
    )
    done = cli("run", "--config", good, "--json", env=env, cwd=tmp_path)
    assert line(done)["counts"] == {"created": 1}, done.stderr
    assert (jobs / "out" / "sheet.result.csv").exists()


def test_sandbox_rehearses_a_job_file_that_maps_credentials(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """--sandbox ignores the job's hosts and [credentials], and leaves no folder in the temp dir."""
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nvendor = "zoho-people"\nbase_url = "https://people.zoho.eu"\n'
        '[credentials]\nIMPORTER_ZOHO_REFRESH_TOKEN = "ACME_ZOHO_TOKEN"\n',
        encoding="utf-8",
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in sandbox.env("zoho-people").items() if not k.startswith("IMPORTER_Z")}
    sheet = zoho_sheet(tmp_path / "z.csv", [zoho_row("S")])
    done = cli(
        "run", sheet, "--config", job, "--sandbox", "--json", env=env | {"TMPDIR": str(scratch)}
    )
    assert line(done)["counts"] == {"created": 1}, done.stderr
    assert list(scratch.iterdir()) == []


# --- dry runs, plans, per-row problems, warnings ---------------------------------------------


def test_plan_dry_run_and_warnings(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """The plan counts rows already created; --dry-run needs no credentials; no zone refuses."""
    sheet = v2_sheet(tmp_path / "v2.csv", ["A", "B"])
    zoneless = {k: v for k, v in sandbox.env("360learning-v2").items() if k != "IMPORTER_TIMEZONE"}
    refused = sandbox.run(sheet, "360learning-v2", "--limit", "1", env=zoneless)
    assert refused.returncode == 2 and "no time zone was given" in refused.stderr
    assert creates(sandbox) == 0
    sandbox.run(sheet, "360learning-v2", "--limit", "1")
    dry = sandbox.run(sheet, "360learning-v2", "--dry-run", "--json", "--timezone", "UTC")
    assert line(dry)["counts"] == {"skipped": 1, "not sent": 1} and dry.returncode == 0
    env = {k: v for k, v in sandbox.env("360learning-v2").items() if not k.startswith("IMPORTER_3")}
    blind = sandbox.run(sheet, "360learning-v2", "--dry-run", "--json", env=env)
    assert blind.returncode == 0 and line(blind)["counts"] == {"not sent": 2}, blind.stderr
    sandbox.run(sheet, "360learning-v2")
    again = sandbox.run(sheet, "360learning-v2", "--timezone", "UTC")
    assert "2 already created (not sent again); sending 0." in again.stdout
    assert creates(sandbox) == 2


def test_run_prints_each_rows_problem(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """Like validate, run names each invalid row's column; rejected rows are printed too."""
    sheet = write_csv(
        tmp_path / "v2.csv",
        [V2, [PATH, "Bad", JANE, "31-02-2025 10:00", "disabled"],
         ["6853f6de567dc5f80528f80f", "Archived", JANE, "2025-07-01 10:00", "disabled"]],
    )  # fmt: skip
    done = sandbox.run(sheet, "360learning-v2", "--timezone", "UTC")
    assert "row 2, column 'Start date'" in done.stdout and "row 3: rejected:" in done.stdout


# --- 5. the user's file mistakes: one plain line, checked before any call --------------------


def test_output_path_mistakes_are_one_plain_line_before_any_call(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """--result under a file: exit 2 naming it, no request; a missing log folder is created."""
    sheet = v2_sheet(tmp_path / "v2.csv", ["A"])
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    done = sandbox.run(sheet, "360learning-v2", "--result", str(tmp_path / "file.txt" / "out.csv"))
    assert done.returncode == 2 and "internal error" not in done.stderr
    assert f"{tmp_path / 'file.txt'} is a file, not a folder" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert sandbox.requests("360learning-v2") == []
    log = tmp_path / "var" / "log" / "session-importer" / "run.log"
    done = sandbox.run(sheet, "360learning-v2", "--log", str(log), "--timezone", "UTC")
    assert done.returncode == 0, done.stderr
    assert "1 created" in log.read_text("utf-8")
    env = {k: v for k, v in sandbox.env("360learning-v2").items() if not k.startswith("IMPORTER_3")}
    done = sandbox.run(sheet, "360learning-v2", "--log", str(log), env=env)
    assert done.returncode == 2 and "could not run: missing credentials" in log.read_text("utf-8")


# --- status, report ----------------------------------------------------------------------


def test_status_in_words_and_report_never_overwrites_another_result(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """status prints no Python reprs; report --file OTHER refuses to replace OTHER's result."""
    a = v2_sheet(tmp_path / "a.csv", ["A"])
    b = v2_sheet(tmp_path / "b.csv", ["B"])
    journal = line(sandbox.run(a, "360learning-v2", "--json"))["journal"]
    sandbox.run(b, "360learning-v2")
    env = sandbox.env("360learning-v2")
    status = cli("status", journal, env=env)
    assert status.returncode == 0 and "{" not in status.stdout and "1 created" in status.stdout
    listed = cli("status", env=env)
    assert journal in listed.stdout
    before = (tmp_path / "b.result.csv").read_bytes()
    done = cli("report", journal, "--file", b, env=env)
    assert done.returncode == 2 and "exists already" in done.stderr
    assert (tmp_path / "b.result.csv").read_bytes() == before
    done = cli("report", journal, "--file", b, "--result", tmp_path / "b.again.csv", env=env)
    assert done.returncode == 0 and ",created," in (tmp_path / "b.again.csv").read_text("utf-8-sig")


# --- 7. export --from-result --------------------------------------------------------------


def export(sandbox: SandboxProcess, vendor: str, *args: str | Path) -> CliResult:
    info = sandbox.info[vendor]
    hosts = ["--base-url", info["base_url"]] + (
        ["--auth-url", info["auth_url"]] if info["auth_url"] else []
    )
    return cli("export", "--vendor", vendor, *hosts, *args, env=sandbox.env(vendor))


def test_export_from_result_reads_the_runs_time_zone(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """A Europe/Paris run read back without --timezone: no false difference (xlsx and csv)."""
    for suffix in (".xlsx", ".csv"):
        sheet = v2_sheet(tmp_path / f"v2{suffix}.csv", [f"A{suffix}"], start="2025-07-01 10:00")
        result = tmp_path / f"v2{suffix}.result{suffix}"
        sandbox.run(sheet, "360learning-v2", "--timezone", "Europe/Paris", "--result", str(result))
        done = export(
            sandbox, "360learning-v2", "--from-result", result, "-o", tmp_path / f"back{suffix}"
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 differ" in done.stdout


def test_export_finds_a_coursepath_member_enrolled_only_in_a_program(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Program-only and course members are both found again by ID."""
    sheet = write_csv(
        tmp_path / "c.csv",
        [
            ["Email", "Course ID", "Program ID"],
            ["p@example.com", "", "678"],
            ["c@example.com", "12345", ""],
        ],
    )
    result = tmp_path / "c.result.xlsx"
    assert sandbox.run(sheet, "coursepath", "--result", str(result)).returncode == 0
    back = tmp_path / "back.xlsx"
    done = export(sandbox, "coursepath", "--from-result", result, "-o", back)
    assert done.returncode == 0, done.stdout + done.stderr
    checks = [
        r[1] for r in openpyxl.load_workbook(back)["Result"].iter_rows(min_row=2, values_only=True)
    ]
    assert checks == ["same", "same"]


def test_vendor_down_leaves_the_sheets_in_the_inbox(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """No answer from the vendor's host at all: a run-wide problem, the sheet stays for tomorrow."""
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_csv(inbox / "members.csv", [["Email", "Course ID"], ["a@example.com", "12345"]])
    job = tmp_path / "job.toml"
    job.write_text(
        f'[job]\nvendor = "coursepath"\ninput = "inbox"\nbase_url = "http://127.0.0.1:{port}"\n'
        "max_tries = 1\nsettle = 0\n",  # the sheet was written just now
        encoding="utf-8",
    )
    done = cli("run", "--config", job, "--json", env=sandbox.env("coursepath"))
    said = line(done)
    assert said["stopped"] == "the vendor could not be reached", done.stderr
    assert (inbox / "members.csv").exists() and not (inbox / "failed").exists()


def test_the_docs_cron_line_runs_the_nightly_job(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """The nightly page's cron line, paths swapped for test ones, exports secrets.env and
    imports."""

    nightly = (ROOT / "docs" / "nightly.md").read_text(encoding="utf-8")
    cron = re.search(r"```cron\n30 2 \* \* \* (.+)\n```", nightly)
    assert cron is not None
    inbox, job = inbox_job(tmp_path, sandbox)
    v2_sheet(inbox / "monday.csv", ["Cron"])
    secrets = tmp_path / "secrets.env"  # systemd's format: VAR=value, no export
    env = sandbox.env("360learning-v2")
    secrets.write_text(
        "".join(f"{k}={v}\n" for k, v in env.items() if k.startswith("IMPORTER_360L")), "utf-8"
    )
    command = (
        cron.group(1)
        .replace("/etc/session-importer/secrets.env", str(secrets))
        .replace(
            "/opt/session-importer/.venv/bin/session-importer", f"{sys.executable} -m importer"
        )
        .replace("/etc/session-importer/nightly.toml", str(job))
        .replace("/var/log/session-importer", str(tmp_path / "logs"))
    )
    (tmp_path / "logs").mkdir(exist_ok=True)
    bare = {k: v for k, v in env.items() if not k.startswith("IMPORTER_3")}
    subprocess.run(["sh", "-c", command], env=bare, cwd=ROOT, timeout=120, check=False)
    said = json.loads((tmp_path / "logs" / "runs.jsonl").read_text("utf-8"))
    assert said["files"][0]["counts"] == {"created": 1}, said


def test_an_inbox_that_cannot_be_filed_into_is_one_line_and_a_json_line(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """done/ is a file: the sheet is imported, stays in the inbox, one plain line, exit 2."""
    inbox, job = inbox_job(tmp_path, sandbox)
    v2_sheet(inbox / "monday.csv", ["A"])
    (inbox / "done").write_text("not a folder", encoding="utf-8")
    done = cli("run", "--config", job, "--json", env=sandbox.env("360learning-v2"))
    said = line(done)
    assert done.returncode == 2 and said["files"][0]["counts"] == {"created": 1}
    assert f"{inbox / 'done'}: " in said["stopped"] and "internal error" not in done.stderr
    assert (inbox / "monday.csv").exists()
    again = cli("run", "--config", job, "--json", env=sandbox.env("360learning-v2"))
    assert line(again)["files"][0]["counts"] == {"skipped": 1}  # filed next time, not resent


# real clock: the first run sends 25 rows at 2 a second while the second starts
@pytest.mark.slow
def test_overlapping_nightly_runs_on_one_inbox(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """A second run of the job while the first imports: it touches no sheet and says why in its
    JSON line (exit 2); the first finishes, files its sheet in done/ and prints its line.
    (Once, the second moved the sheet being imported to failed/ and the first crashed.)"""
    # 2 rows a second: the first is still sending for 12 s, however long the second takes to
    # start on a loaded machine (at 10 a second, the first was once done before it).
    inbox, job = inbox_job(tmp_path, sandbox, rate=2)
    v2_sheet(inbox / "monday.csv", [f"S{i}" for i in range(25)])
    env = sandbox.env("360learning-v2")
    command = [sys.executable, "-m", "importer", "run", "--config", str(job), "--json"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, cwd=ROOT)  # fmt: skip
    try:
        deadline = 60.0
        while creates(sandbox) == 0 and deadline > 0:  # the first is sending
            import time

            time.sleep(0.1)
            deadline -= 0.1
        second = cli("run", "--config", job, "--json", env=env)
        assert second.returncode == 2, second.stderr
        said = line(second)
        assert "in progress" in json.dumps(said), said
        assert (inbox / "monday.csv").exists() and not (inbox / "failed").exists()
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["exit_code"] == 0
    assert (inbox / "done" / "monday.csv").exists() and creates(sandbox) == 25


# --- issue 22: a forgotten --timezone never duplicates ----------------------------------------


def four_times(path: Path) -> Path:
    """Four v2 rows whose times carry no zone (local times, typed as coordinators do)."""
    rows = [[PATH, f"T{n}", JANE, f"2025-07-0{n + 1} 10:00", "disabled"] for n in range(4)]
    return write_csv(path, [V2, *rows])


def starts(sandbox: SandboxProcess) -> list[str]:
    """The start of every session the sandbox holds, sorted."""
    return sorted(c["data"]["startDate"] for c in sandbox.created("360learning-v2", "session"))


def test_a_run_without_a_time_zone_stops_before_sending(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Times without a zone and no zone from the flag or the job file: exit 2, one line,
    nothing sent, no journal; times that carry their zone, or a Zoho sheet, need none."""
    sheet = four_times(tmp_path / "four.csv")
    zoneless = {k: v for k, v in sandbox.env("360learning-v2").items() if k != "IMPORTER_TIMEZONE"}
    job = job_file(tmp_path / "job.toml", sandbox, "360learning-v2")
    for how in ((), ("--config", str(job))):
        done = sandbox.run(sheet, "360learning-v2", *how, env=zoneless)
        assert done.returncode == 2 and done.stdout == "", done.stdout
        assert done.stderr.count("\n") == 1 and "4 rows have times without a time zone" in (
            done.stderr
        ), done.stderr
        assert "--timezone" in done.stderr and "Traceback" not in done.stderr
    assert creates(sandbox) == 0 and not (tmp_path / "state" / "journals").exists()
    zoned = write_csv(tmp_path / "zoned.csv", [V2, [PATH, "Z", JANE, "2025-07-01T10:00Z", "no"]])
    done = sandbox.run(zoned, "360learning-v2", "--json", env=zoneless)
    assert line(done)["counts"] == {"created": 1}, done.stderr
    in_job = job_file(tmp_path / "paris.toml", sandbox, "360learning-v2", timezone="Europe/Paris")
    done = sandbox.run(sheet, "360learning-v2", "--config", str(in_job), "--json", env=zoneless)
    assert line(done)["counts"] == {"created": 4}, done.stderr
    zoho = zoho_sheet(tmp_path / "zoho.csv", [zoho_row("Local times")])
    zoho_env = {k: v for k, v in sandbox.env("zoho-people").items() if k != "IMPORTER_TIMEZONE"}
    done = sandbox.run(zoho, "zoho-people", "--json", env=zoho_env)
    assert line(done)["counts"] == {"created": 1}, done.stderr


def test_a_row_run_again_in_another_time_zone_is_changed_never_created_twice(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """4 rows read in UTC, then in Europe/Paris: 4 sessions, not 8; the rows are changed,
    and --update moves the sessions to the Paris times."""
    sheet = four_times(tmp_path / "four.csv")
    first = sandbox.run(sheet, "360learning-v2", "--timezone", "UTC", "--json")
    assert line(first)["counts"] == {"created": 4}
    again = sandbox.run(sheet, "360learning-v2", "--timezone", "Europe/Paris", "--json")
    assert line(again)["counts"] == {"changed": 4} and creates(sandbox) == 4
    assert starts(sandbox) == [f"2025-07-0{n}T10:00:00.000Z" for n in range(1, 5)]
    update = ("--timezone", "Europe/Paris", "--update", "--json")
    done = sandbox.run(sheet, "360learning-v2", *update)
    assert line(done)["counts"] == {"updated": 4}, done.stderr
    assert creates(sandbox) == 4 and len(sandbox.created("360learning-v2", "session")) == 4
    assert starts(sandbox) == [f"2025-07-0{n}T08:00:00.000Z" for n in range(1, 5)]
    done = sandbox.run(sheet, "360learning-v2", "--timezone", "Europe/Paris", "--json")
    assert line(done)["counts"] == {"skipped": 4}


def test_a_journal_of_an_earlier_version_is_not_duplicated_in_another_zone(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Rows an earlier version keyed by their UTC times (read in Europe/Paris) are found
    again under those keys: changed in New York, skipped in Paris, never created twice."""
    sheet = four_times(tmp_path / "four.csv")
    journal = tmp_path / "j.sqlite"
    paris = ("--journal", str(journal), "--timezone", "Europe/Paris", "--json")
    assert line(sandbox.run(sheet, "360learning-v2", *paris))["counts"] == {"created": 4}
    with sqlite3.connect(journal) as db:  # what earlier versions wrote: key = fingerprint
        db.execute("UPDATE rows SET key = '360learning-v2:fp:' || fingerprint")
        db.execute("DELETE FROM meta WHERE key = 'row_identity'")
        keys = {k for (k,) in db.execute("SELECT key FROM rows")}
    assert len(keys) == 4
    york = ("--journal", str(journal), "--timezone", "America/New_York", "--json")
    done = sandbox.run(sheet, "360learning-v2", *york)
    assert line(done)["counts"] == {"changed": 4} and creates(sandbox) == 4, done.stderr
    assert line(sandbox.run(sheet, "360learning-v2", *paris))["counts"] == {"skipped": 4}
    with sqlite3.connect(journal) as db:
        assert {k for (k,) in db.execute("SELECT key FROM rows")} == keys  # none added


def test_rows_read_in_utc_keep_the_keys_earlier_versions_gave_them(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """A run in UTC (the forgotten flag of earlier versions) keys its rows as they did: a
    journal of that time is read as it is, and its rows are changed in Europe/Paris."""
    sheet = four_times(tmp_path / "four.csv")
    journal = tmp_path / "j.sqlite"
    utc = ("--journal", str(journal), "--timezone", "UTC", "--json")
    assert line(sandbox.run(sheet, "360learning-v2", *utc))["counts"] == {"created": 4}
    with sqlite3.connect(journal) as db:
        rows = list(db.execute("SELECT key, fingerprint FROM rows"))
        db.execute("DELETE FROM meta WHERE key = 'row_identity'")  # an earlier version's file
    assert all(key == f"360learning-v2:fp:{print_}" for key, print_ in rows)
    paris = ("--journal", str(journal), "--timezone", "Europe/Paris", "--json")
    assert line(sandbox.run(sheet, "360learning-v2", *paris))["counts"] == {"changed": 4}
    assert creates(sandbox) == 4


def test_a_row_read_again_in_the_other_date_order_is_changed_never_created_twice(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Dates that read two ways, imported day-first, then read month-first as the run's
    sentence offers: the rows are changed (--update moves them), never created again; Zoho's
    dates too."""
    rows = [[PATH, f"O{n}", JANE, f"03/0{n}/2027 10:00", "disabled"] for n in (4, 5)]
    rows.append([PATH, "Plain", JANE, "2027-03-09 10:00", "disabled"])
    sheet = write_csv(tmp_path / "order.csv", [V2, *rows])
    assert line(sandbox.run(sheet, "360learning-v2", "--json"))["counts"] == {"created": 3}
    month_first = ("--date-order", "MDY", "--json")
    again = sandbox.run(sheet, "360learning-v2", *month_first)
    assert line(again)["counts"] == {"changed": 2, "skipped": 1} and creates(sandbox) == 3
    done = sandbox.run(sheet, "360learning-v2", *month_first, "--update")
    assert line(done)["counts"] == {"updated": 2, "skipped": 1}, done.stderr
    assert starts(sandbox) == [f"2027-03-0{d}T10:00:00.000Z" for d in (4, 5, 9)]
    assert creates(sandbox) == 3
    zoho = zoho_sheet(tmp_path / "zoho.csv", [[*zoho_row("Twice")[:6], "03-04-2027", *ZOHO_TIMES]])
    assert line(sandbox.run(zoho, "zoho-people", "--json"))["counts"] == {"created": 1}
    again = sandbox.run(zoho, "zoho-people", *month_first)
    assert line(again)["counts"] == {"changed": 1}, again.stderr
    assert creates(sandbox, "zoho-people") == 1


ZOHO_TIMES = ["10:00 AM", "11:00 AM"]


def test_an_older_per_file_journal_keyed_in_paris_is_taken_in_without_duplicates(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """An older NAME.journal.sqlite whose rows were keyed by their Paris times, taken into an
    account journal this version started: its rows are found, changed in New York."""
    started = v2_sheet(tmp_path / "other.csv", ["Other"])
    assert line(sandbox.run(started, "360learning-v2", "--json"))["counts"] == {"created": 1}
    sheet = four_times(tmp_path / "four.csv")
    old = tmp_path / "four.journal.sqlite"
    paris = ("--timezone", "Europe/Paris", "--json")
    assert line(sandbox.run(sheet, "360learning-v2", "--journal", str(old), *paris))["counts"] == {
        "created": 4
    }
    with sqlite3.connect(old) as db:  # that version's keys: the fingerprint of the Paris times
        db.execute("UPDATE rows SET key = '360learning-v2:fp:' || fingerprint")
        db.execute("DELETE FROM meta WHERE key = 'row_identity'")
    done = sandbox.run(sheet, "360learning-v2", "--timezone", "America/New_York", "--json")
    assert line(done)["counts"] == {"changed": 4}, done.stderr
    assert "took 4 row(s) of the older journal" in done.stderr and creates(sandbox) == 5
