"""`status` shows the runs in progress on an account (issue 25): who, rows left, share, ETA,
"waiting for its turn"; a killed run's row not shown. Real processes, the real CLI, the
sandbox's real limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from importer.core.clock import SystemClock
from importer.sending.ports import Share
from importer.store.slots import SharedSlots
from tests.conftest import run_cli, write_csv
from tests.run.conftest import SandboxProcess
from tests.run.test_journal import JANE, PATH, V2


def _status(env: dict[str, str], *args: str) -> dict[str, Any]:
    got = run_cli("status", *args, "--json", env=env)
    assert got.returncode == 0, got.stderr
    return dict(json.loads(got.stdout))


def test_status_lists_the_runs_on_each_account(tmp_path: Path) -> None:
    """A run in progress in the state folder (this process: alive) is listed by `status`,
    text and JSON, with who started it, rows left, share, ETA and "waiting for its turn";
    `status JOURNAL` lists it with its journal's, and nothing for a journal no run uses."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    env["IMPORTER_STATE_DIR"] = str(tmp_path)
    clock = SystemClock()
    journal = tmp_path / "big.j"
    first = SharedSlots(tmp_path, "zoho-people|http://h|x", clock)
    first.join(Share("run 4: big.csv", who="nightly:acme", journal=str(journal), run_id=4,
                     account="zoho-people at h"))  # fmt: skip
    second = SharedSlots(tmp_path, "zoho-people|http://h|x", clock)
    second.join(Share("run 1: small.csv", True, who="ana", journal="/elsewhere.j", run_id=1))
    try:
        assert first.take(60.0, None)[0] is not None
        first.publish(2, 120, 7300.0)
        assert second.take(60.0, None)[0] is None
        assert first.take(60.0, None)[0] is None  # the next slot is the interactive run's
        text = run_cli("status", env=env).stdout
        assert "runs in progress on zoho-people at h (2 at once):" in text
        assert (
            "  run 4: big.csv by nightly:acme: 120 rows left (2 done), 100% of the account's "
            "budget, about 2:01:3" in text
        )
        assert text.splitlines()[-2].endswith("; waiting for its turn")
        assert "run 1: small.csv by ana: rows left not said yet (0 done), 91%" in text
        listed = _status(env)["in_progress"]
        assert {r["who"] for r in listed} == {"nightly:acme", "ana"}
        big = next(r for r in listed if r["who"] == "nightly:acme")
        assert big["rows_left"] == 120 and big["rows_done"] == 2 and big["waiting_for_turn"]
        assert big["journal"] == str(journal) and big["run_id"] == 4 and big["share"] == 1.0
        assert 7200 < big["eta_seconds"] <= 7300
        # A journal's status: the runs on the accounts its runs send to.
        from importer.store.journal import Journal

        Journal(journal, "zoho-people").close()
        assert len(_status(env, str(journal))["in_progress"]) == 2
        other = tmp_path / "other.j"
        Journal(other, "zoho-people").close()
        assert _status(env, str(other))["in_progress"] == []
        assert "runs in progress" not in run_cli("status", str(other), env=env).stdout
    finally:
        first.close()
        second.close()
    assert _status(env)["in_progress"] == []


def _run(sandbox: SandboxProcess, sheet: Path, who: str, *extra: str) -> Any:
    """`session-importer run` in a process of its own, started by ``who``."""
    env = {**sandbox.env("360learning-v2"), "IMPORTER_USER": who}
    args = [*sandbox.args(sheet, "360learning-v2"), "--json", "--rate", "2", *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "importer", *args, "--journal", str(sheet.with_suffix(".j"))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=sheet.parent,
    )


@pytest.mark.slow
def test_two_runs_at_once_are_seen_by_status_and_a_killed_one_leaves(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """A backfill (batch) and a small sheet (interactive) on one 360Learning account at 2
    calls a second: `status --json` during them lists both, with who started them and rows
    left; the backfill says it waits for its turn. Killed with kill -9, the backfill is no
    longer listed."""
    env = sandbox.env("360learning-v2")
    rows = [[PATH, f"B{i}", JANE, "2025-07-01 10:00", "disabled", "", ""] for i in range(60)]
    backfill = _run(sandbox, write_csv(tmp_path / "big.csv", [V2, *rows]), "nightly:acme",
                    "--priority", "batch")  # fmt: skip
    small: Any = None
    try:
        rows = [[PATH, f"S{i}", JANE, "2025-07-01 10:00", "disabled", "", ""] for i in range(30)]
        small = _run(sandbox, write_csv(tmp_path / "small.csv", [V2, *rows]), "ana",
                     "--priority", "interactive")  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            listed = {r["who"]: r for r in _status(env)["in_progress"]}
            both = {"nightly:acme", "ana"} <= set(listed)
            said = both and all(r["rows_left"] is not None for r in listed.values())
            # the shares count the latest calls: just after the small sheet starts, the
            # backfill's calls fill them; the turns then give the interactive run the most
            ahead = said and listed["ana"]["share"] > listed["nightly:acme"]["share"]
            if ahead and listed["nightly:acme"]["waiting_for_turn"]:
                break
            assert backfill.poll() is None and small.poll() is None, "a run ended first"
            assert time.monotonic() < deadline, (
                f"never both, the backfill waiting and the small sheet ahead: {listed}"
            )
            time.sleep(0.1)
        assert listed["ana"]["interactive"] and not listed["nightly:acme"]["interactive"]
        assert listed["nightly:acme"]["rows_left"] <= 60 and listed["ana"]["rows_left"] <= 30
        assert listed["nightly:acme"]["journal"] == str((tmp_path / "big.j").resolve())
        backfill.kill()
        backfill.wait(10)
        assert "nightly:acme" not in {r["who"] for r in _status(env)["in_progress"]}
        out, err = small.communicate(timeout=120)
        assert small.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["counts"] == {"created": 30}
        assert _status(env)["in_progress"] == []
    finally:
        for process in (backfill, small):
            if process is not None:
                process.kill()
                process.communicate()


def test_status_of_a_store_journal_lists_the_runs_on_its_account(pg_url: str) -> None:
    """PostgreSQL: `status NAME --store URL --json` lists the runs in progress on the account
    a run of that journal sends to, another journal's run on the same account included, and
    one on another account left out."""
    from importer.store import open_store

    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    store = open_store(pg_url)
    store.journal("nightly", "zoho-people").close()
    callers = []
    try:
        for account, share in (
            ("zoho|h|x", Share("run 5: big.csv", who="nightly:acme", journal="nightly", run_id=5)),
            ("zoho|h|x", Share("run 2: s.csv", True, who="ana", journal="page", run_id=2)),
            ("zoho|h|y", Share("run 1: o.csv", who="ben", journal="other", run_id=1)),
        ):
            slots = store.slots(account, SystemClock())
            slots.join(share)
            assert slots.take(0.0, None)[0] is not None
            slots.publish(1, 9, 60.0)
            callers.append(slots)
        got = run_cli("status", "nightly", "--store", pg_url, "--json", env=env)
        assert got.returncode == 0, got.stderr
        listed = json.loads(got.stdout)["in_progress"]
        assert sorted(r["who"] for r in listed) == ["ana", "nightly:acme"]
        assert all(r["rows_left"] == 9 and r["rows_done"] == 1 for r in listed)
        text = run_cli("status", "nightly", "--store", pg_url, env=env).stdout
        assert "(2 at once):" in text and "run 5: big.csv by nightly:acme: 9 rows left" in text
    finally:
        for slots in callers:
            slots.close()
        store.close()
