"""Runs on one account at once, on one machine (issue 25): the real command line in
subprocesses, one SQLite journal (the account's, in one state folder), overlapping sheets,
against the sandbox process with its limits (360Learning v2: 10 writes a second per company).

Exactly once holds row by row: each session shared by the sheets is created once at the
sandbox, whichever run sends it; a run killed with SIGKILL mid-way leaves its rows in flight
to the others and to a re-run, which look them up before anything is resent.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from importer.store.liveness import alive
from tests.run.conftest import SandboxProcess
from tests.run.test_many_hosts import VENDOR, created_names, finish, names, refused, sheet, start


def journal_of(sandbox: SandboxProcess) -> Path | None:
    """The account's journal in the runs' state folder, once a run has made it."""
    found = sorted((sandbox.state_dir / "journals").glob("*.sqlite"))
    return found[0] if found else None


def states(journal: Path) -> Counter[str]:
    """Rows per state, as another process reads the journal file."""
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        return Counter(dict(db.execute("SELECT state, COUNT(*) FROM rows GROUP BY state")))


def live_holders(journal: Path) -> int:
    """How many runs hold rows of ``journal`` now (their lock files are locked)."""
    return sum(alive(path) for path in journal.parent.glob(f"{journal.name}.holder-*.lock"))


def wait_for(what: str, ready: Any, *watched: subprocess.Popen[str], timeout: float = 60) -> None:
    """Poll ``ready()`` until true; fail if ``timeout`` passes or a watched run ends first."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"never happened: {what}"
        ended = [p.args for p in watched if p.poll() is not None]
        assert not ended, f"a run ended before {what}: {ended}"
        time.sleep(0.05)


def overlapped(journal: Path) -> bool:
    """Whether every run recorded in ``journal`` was running at one same moment."""
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        runs = db.execute("SELECT started, finished FROM runs").fetchall()
    return max(started for started, _ in runs) < min(finished for _, finished in runs)


SHEETS = [names(0, 16), names(8, 24), [*names(16, 28), *names(0, 4)]]


@pytest.mark.slow
@pytest.mark.parametrize("runs", [2, 3])
def test_runs_at_once_with_overlapping_sheets_create_each_row_once(
    tmp_path: Path, sandbox: SandboxProcess, runs: int
) -> None:
    """Two, then three runs started at once on one account and one machine, their sheets
    sharing rows: all of them run (none is refused or queued), together they stay under the
    vendor's limit (no 429), and each session is created exactly once at the sandbox; each
    run reports each of its rows created or skipped."""
    env = sandbox.env(VENDOR)
    sheets = SHEETS[:runs]
    started = [
        start(sandbox, sheet(tmp_path / f"run{n}", rows), env, "--rate", "8")
        for n, rows in enumerate(sheets)
    ]
    summaries = [finish(run) for run in started]
    every = sorted({name for rows in sheets for name in rows})
    assert created_names(sandbox) == Counter(every)
    assert refused(sandbox) == 0
    for summary, rows in zip(summaries, sheets, strict=True):
        counts = summary["counts"]
        assert counts.get("created", 0) + counts.get("skipped", 0) == len(rows), counts
    assert sum(s["counts"].get("created", 0) for s in summaries) == len(every)
    journal = journal_of(sandbox)
    assert journal is not None and overlapped(journal)
    assert states(journal) == Counter({"created": len(every)})


@pytest.mark.slow
def test_a_run_killed_mid_way_the_others_and_a_rerun_lose_nothing(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Three runs at once on one account, one killed with SIGKILL mid-way (some of its rows
    on the wire): the two others finish (exit 0), and a re-run of every row finishes what
    is left; every session exists exactly once at the sandbox (0 duplicates, 0 lost)."""
    env = sandbox.env(VENDOR)
    # The victim sends 2 rows a second: it is still running when the others have started.
    victim = start(sandbox, sheet(tmp_path / "victim", names(0, 40)), env, "--rate", "2")
    wait_for("the victim's journal", lambda: journal_of(sandbox) is not None, victim)
    journal = journal_of(sandbox)
    assert journal is not None
    wait_for("4 rows created", lambda: states(journal)["created"] >= 4, victim)
    others = [
        start(sandbox, sheet(tmp_path / f"other{n}", rows), env, "--rate", "6")
        for n, rows in enumerate([names(10, 40), names(20, 50)])
    ]
    wait_for("three runs holding rows", lambda: live_holders(journal) == 3, victim, *others)
    wait_for("12 rows created", lambda: states(journal)["created"] >= 12, victim, *others)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=10)
    assert victim.returncode == -signal.SIGKILL
    for other in others:
        finish(other)
    again = finish(start(sandbox, sheet(tmp_path / "rerun", names(0, 50)), env))
    counts = again["counts"]
    assert counts.get("created", 0) + counts.get("skipped", 0) == 50, counts
    assert created_names(sandbox) == Counter(names(0, 50))
    assert refused(sandbox) == 0
    assert states(journal) == Counter({"created": 50})
