"""Many hosts, one account (issue 14): importer processes with their own working and state
folders share one PostgreSQL store, and a real sandbox process plays the vendor.

360Learning v2 (10 writes a second per company, 5-10 calls a second per run) keeps these
tests to seconds; Zoho's pace (2.24 s a call) would make each one minutes long.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from importer.store.migrations import MIGRATIONS
from importer.store.pg_claims import live_holders
from importer.store.postgres import PostgresStore
from importer.vendors import plugin
from tests.conftest import ROOT, run_cli, write_csv, zoho_row, zoho_sheet
from tests.run.conftest import SandboxProcess
from tests.run.test_journal import JANE, PATH, V2

VENDOR = "360learning-v2"


def sheet(folder: Path, names: list[str]) -> Path:
    """A v2 sheet of sessions called ``names`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [[PATH, name, JANE, "2025-07-01 10:00", "disabled", "", name] for name in names]
    return write_csv(folder / "sessions.csv", [V2, *rows])


def host_env(sandbox: SandboxProcess, home: Path, store: str | None) -> dict[str, str]:
    """A host's environment: its own state folder and home, the account's credentials."""
    env = sandbox.env(VENDOR)
    (home / "state").mkdir(parents=True, exist_ok=True)
    env.update(IMPORTER_STATE_DIR=str(home / "state"), HOME=str(home))
    if store:
        env["IMPORTER_STORE"] = store
    return env


def start(sandbox: SandboxProcess, path: Path, env: dict[str, str], *extra: str) -> Any:
    """`session-importer run` as a host starts it (its working folder is the sheet's)."""
    info = sandbox.info[VENDOR]
    args = ["run", str(path), "--vendor", VENDOR, "--base-url", info["base_url"]]
    args += ["--auth-url", info["auth_url"], "--json", *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "importer", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=path.parent,
    )


def finish(process: Any, timeout: float = 120) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return dict(json.loads(out.strip().splitlines()[-1]))


def created_names(sandbox: SandboxProcess) -> Counter[str]:
    return Counter(str(c["data"]["name"]) for c in sandbox.created(VENDOR))


def refused(sandbox: SandboxProcess) -> int:
    return sum(1 for r in sandbox.requests(VENDOR) if r["status"] == 429)


def names(first: int, last: int) -> list[str]:
    return [f"S{i:02d}" for i in range(first, last)]


@pytest.mark.slow
@pytest.mark.parametrize("wait", [False, True], ids=["skip rows held", "--wait"])
def test_three_hosts_overlapping_sheets_every_session_once(
    tmp_path: Path, sandbox: SandboxProcess, pg_url: str, wait: bool
) -> None:
    """Three hosts started at once with overlapping sheets on the account's journal in the
    store, all running at the same time (issue 25: each row claimed, not the account): each
    session is created exactly once, and the vendor answers no 429. A row another host has in
    flight is skipped, or with --wait waited for and reported as it ended."""
    sheets = [names(0, 14), names(7, 21), [*names(14, 24), *names(0, 4)]]
    extra = ["--wait"] if wait else []
    hosts = [
        start(
            sandbox,
            sheet(tmp_path / f"host{n}", rows),
            host_env(sandbox, tmp_path / f"h{n}", pg_url),
            *extra,
        )
        for n, rows in enumerate(sheets)
    ]
    summaries = [finish(host) for host in hosts]
    assert created_names(sandbox) == Counter(names(0, 24))
    assert refused(sandbox) == 0
    for summary, rows in zip(summaries, sheets, strict=True):
        counts = summary["counts"]
        assert counts.get("created", 0) + counts.get("skipped", 0) == len(rows)
    assert sum(s["counts"].get("created", 0) for s in summaries) == 24
    store = PostgresStore(pg_url)
    try:
        with store.connection() as conn:
            runs = conn.execute("SELECT started, finished FROM importer_runs").fetchall()
    finally:
        store.close()
    assert len(runs) == 3 and max(s for s, _ in runs) < min(f for _, f in runs)  # at once


@pytest.mark.slow
@pytest.mark.parametrize("shared", [True, False], ids=["one store", "separate machines"])
def test_three_hosts_at_once_share_the_rate_budget(
    tmp_path: Path, sandbox: SandboxProcess, pg_url: str, shared: bool
) -> None:
    """Three hosts send at the same time (three jobs, three journals, one account): through one
    store they stay under the vendor's 10 writes a second (0 answers 429); each with its own
    state folder, as on separate machines, they exceed it (the control that shows the test
    can fail). --rate 8 leaves room for a loaded test machine's jitter."""
    hosts = []
    for n in range(3):
        home = tmp_path / f"h{n}"
        env = host_env(sandbox, home, pg_url if shared else None)
        path = sheet(tmp_path / f"host{n}", names(n * 25, n * 25 + 25))
        journal = f"job-{n}" if shared else str(home / "job.journal.sqlite")
        hosts.append(start(sandbox, path, env, "--journal", journal, "--rate", "8"))
    for host in hosts:
        finish(host)
    assert created_names(sandbox) == Counter(names(0, 75))
    if shared:
        assert refused(sandbox) == 0
        posts = sorted(
            r["at"]
            for r in sandbox.requests(VENDOR)
            if r["method"] == "POST" and "sessions" in r["path"]
        )
        busiest = max(sum(1 for t in posts if s <= t < s + 1.0) for s in posts)
        assert busiest <= 10
    else:
        assert refused(sandbox) > 0


def live_runs(pg_url: str) -> int:
    """How many runs hold rows of the store's journals now (their sessions hold their locks)."""
    store = PostgresStore(pg_url)
    try:
        with store.connection() as conn:
            journals = [int(r[0]) for r in conn.execute("SELECT id FROM importer_journals")]
        return sum(len(live_holders(store, journal)) for journal in journals)
    finally:
        store.close()


def created_in_store(pg_url: str) -> int:
    """Rows the store's journals record created."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        found = conn.execute("SELECT COUNT(*) FROM importer_rows WHERE state = 'created'")
        row = found.fetchone()
    return int(row[0]) if row else 0


@pytest.mark.slow
def test_a_host_killed_mid_run_the_others_and_a_rerun_lose_nothing(
    tmp_path: Path, sandbox: SandboxProcess, pg_url: str
) -> None:
    """Three hosts importing into the account at once, one killed with SIGKILL mid-run (rows
    of it on the wire): its session and its hold go with it, the two others finish, and a
    re-run looks up what it left in flight before sending anything: every session exactly
    once (0 duplicates, 0 lost), no 429."""
    # The first host sends 2 rows a second: still running when the others have started.
    first = start(
        sandbox,
        sheet(tmp_path / "host0", names(0, 40)),
        host_env(sandbox, tmp_path / "h0", pg_url),
        "--rate",
        "2",
    )
    deadline = time.monotonic() + 60
    while sum(created_names(sandbox).values()) < 4:
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    others = [
        start(
            sandbox,
            sheet(tmp_path / f"host{n}", rows),
            host_env(sandbox, tmp_path / f"h{n}", pg_url),
            "--rate",
            "6",
        )
        for n, rows in ((1, names(10, 40)), (2, names(20, 50)))
    ]
    deadline = time.monotonic() + 60
    while live_runs(pg_url) < 3 or created_in_store(pg_url) < 12:
        assert time.monotonic() < deadline, "the three hosts were never running at once"
        assert all(host.poll() is None for host in (first, *others)), "a host ended early"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)
    assert first.returncode == -signal.SIGKILL
    for other in others:
        finish(other)
    rerun = finish(
        start(
            sandbox,
            sheet(tmp_path / "host3", names(0, 50)),
            host_env(sandbox, tmp_path / "h3", pg_url),
        )
    )
    counts = rerun["counts"]
    assert counts.get("created", 0) + counts.get("skipped", 0) == 50, counts
    assert created_names(sandbox) == Counter(names(0, 50))
    assert created_in_store(pg_url) == 50
    assert refused(sandbox) == 0


def test_a_sqlite_journal_copied_into_the_store_is_what_other_hosts_see(
    tmp_path: Path, sandbox: SandboxProcess, pg_url: str
) -> None:
    """store init, a run on one machine (SQLite), store copy into PostgreSQL, then a run of the
    same sheet on another host through the store: nothing sent again; status shows the rows."""
    init = run_cli("store", "init", pg_url)
    assert init.returncode == 0 and f"schema version {MIGRATIONS[-1][0]}" in init.stdout
    laptop = host_env(sandbox, tmp_path / "laptop", None)
    path = sheet(tmp_path / "laptop-work", names(0, 5))
    first = finish(start(sandbox, path, laptop))
    assert first["counts"] == {"created": 5}
    journal = Path(first["journal"])  # the account's journal in the laptop's state folder
    assert journal.is_relative_to(tmp_path / "laptop" / "state")
    copy = run_cli("store", "copy", journal, pg_url, env=laptop, cwd=ROOT)
    assert copy.returncode == 0, copy.stderr
    assert "5 row(s) added" in copy.stdout
    server = host_env(sandbox, tmp_path / "server", None)
    other = shutil.copy(path, tmp_path / "server-sheet.csv")
    again = finish(start(sandbox, Path(other), server, "--store", pg_url))
    assert again["counts"] == {"skipped": 5}
    assert created_names(sandbox) == Counter(names(0, 5))
    status = run_cli("store", "status", pg_url, "--json")
    assert status.returncode == 0, status.stderr
    (entry,) = json.loads(status.stdout)["journals"]
    assert entry["vendor"] == VENDOR and entry["rows"] == {"created": 5}
    assert entry["running"] is None and pg_url.split("?")[0] in json.loads(status.stdout)["store"]


@pytest.mark.slow
def test_three_hosts_share_zohos_window(
    tmp_path: Path, sandbox: SandboxProcess, pg_url: str
) -> None:
    """Zoho through one store: three hosts sending at once take turns on the account's one
    schedule (separately, each would call at once), Zoho never locks the account, and no
    minute it sees holds more than its 30 calls."""
    zoho = "zoho-people"
    hosts = []
    for n in range(3):
        env = sandbox.env(zoho)
        home = tmp_path / f"h{n}"
        (home / "state").mkdir(parents=True)
        env.update(IMPORTER_STATE_DIR=str(home / "state"), HOME=str(home), IMPORTER_STORE=pg_url)
        (tmp_path / f"host{n}").mkdir()
        path = zoho_sheet(
            tmp_path / f"host{n}" / "zoho.csv", [zoho_row(f"Z{n}-{i}") for i in range(3)]
        )
        info = sandbox.info[zoho]
        args = ["run", str(path), "--vendor", zoho, "--base-url", info["base_url"]]
        args += ["--auth-url", info["auth_url"], "--json", "--journal", f"zoho-job-{n}"]
        hosts.append(
            subprocess.Popen(
                [sys.executable, "-m", "importer", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                cwd=path.parent,
            )
        )
    for host in hosts:
        assert finish(host)["counts"] == {"created": 3}
    assert sandbox.http.get("/_sandbox/status").json()["zoho_locks"] == 0
    calls = sorted(
        r["at"] for r in sandbox.requests(zoho) if "/token" not in r["path"] and r["status"]
    )
    assert len(calls) >= 9
    # Zoho's rule itself: 30 calls in any 60 s.
    assert max(sum(1 for t in calls if s <= t < s + 60.0) for s in calls) <= 30
    # One schedule for the three: its calls start 2.24 s apart, so the arrivals span at least
    # (n - 1) x 2.24 s, less what a busy machine may delay the first arrival by (a slow send
    # only widens the span). Three separate schedules would span 2 x 2.24 s, all three at once.
    spacing = 1 / plugin(zoho).wire.rate.rate  # 60.5 s / 27 = 2.24 s
    assert calls[-1] - calls[0] >= (len(calls) - 1) * spacing - 3.0


@pytest.mark.slow
def test_the_web_page_and_a_host_share_the_accounts_journal(
    tmp_path: Path, sandbox: SandboxProcess, pg_url: str
) -> None:
    """The coordinators' page (its workspace, as `serve` runs it) imports a sheet through the
    store; a nightly host then runs an overlapping sheet: it creates only the new rows, and the
    page shows both runs and what the host created."""
    from importer.web.accounts import Account
    from importer.web.workspace import Workspace

    info = sandbox.info[VENDOR]
    env = {**info["env"], "IMPORTER_STORE": pg_url}
    account = Account(
        "Acme", VENDOR, "UTC", base_url=info["base_url"], auth_url=info["auth_url"], env=env
    )
    workspace = Workspace([account], tmp_path / "web-data", max_rows=100, max_bytes=100_000)
    upload = workspace.check(sheet(tmp_path / "coordinator", names(0, 4)), account, "ana")
    run = workspace.start(upload, "import", "ana")
    assert run.thread is not None
    run.thread.join(60)
    assert run.counts == {"created": 4}, run.stopped
    assert not (tmp_path / "web-data" / "journals").exists() or not any(
        (tmp_path / "web-data" / "journals").iterdir()
    )
    host = host_env(sandbox, tmp_path / "nightly", pg_url)
    done = finish(start(sandbox, sheet(tmp_path / "nightly-work", names(2, 7)), host))
    assert done["counts"] == {"created": 3, "skipped": 2}
    assert created_names(sandbox) == Counter(names(0, 7))
    assert len(list(workspace.history())) == 2
    again = workspace.check(sheet(tmp_path / "coordinator2", names(4, 7)), account, "ana")
    known = workspace.known(account, again.report)
    assert known is not None
    assert {known.status(row) for row in (2, 3, 4)} == {"created"}
