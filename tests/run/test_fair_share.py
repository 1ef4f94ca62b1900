"""Runs on one account at once take turns (issue 25): how a run says its class, an ETA that
knows the run's share, and real processes through the real CLI against the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from importer.core.clock import FakeClock
from importer.core.errors import ConfigurationError
from importer.core.secret import Secret
from importer.core.settings import RunSettings
from importer.jobs.config import load_job, resolve_settings
from importer.jobs.pacing import paced, run_share
from importer.sending.ports import Share, Sharer
from importer.sending.progress import Progress
from importer.sending.throttle import Pacer, RatePolicy, Window
from importer.vendors import REGISTRY, plugin
from tests.conftest import spawn_cli, write_csv, zoho_row, zoho_sheet
from tests.run.conftest import SandboxProcess
from tests.run.test_journal import JANE, PATH, V2

#: Zoho's pace as the importer keeps it (27 calls per 60.5 s).
TURN = 60.5 / 27


_PLUGINS = {name: plugin(name) for name in REGISTRY}


def _settings(**given: Any) -> RunSettings:
    return RunSettings("360learning-v2", "http://127.0.0.1:9", "http://127.0.0.1:9", {}, **given)


def test_a_run_is_interactive_by_its_size_unless_told() -> None:
    """At most 50 rows to send (or interactive_rows): interactive; more: batch; --priority
    says otherwise either way."""
    assert run_share(_settings(), 50, "a").interactive
    assert not run_share(_settings(), 51, "a").interactive
    assert not run_share(_settings(interactive_rows=3), 5, "a").interactive
    assert run_share(_settings(priority="interactive"), 3000, "a").interactive
    assert not run_share(_settings(priority="batch"), 1, "a").interactive
    assert run_share(_settings(), 1, "run 7: s.csv") == Share("run 7: s.csv", interactive=True)


def test_priority_comes_from_the_flag_the_job_file_or_the_environment(tmp_path: Path) -> None:
    """--priority beats the job file's priority; IMPORTER_INTERACTIVE_ROWS beats its
    interactive_rows; a value that is neither class is refused with the choices."""
    job_file = tmp_path / "job.toml"
    job_file.write_text(
        '[job]\nvendor = "360learning-v2"\npriority = "batch"\ninteractive_rows = 7\n'
    )
    job = load_job(job_file, _PLUGINS)
    chosen = plugin("360learning-v2")
    env = {"IMPORTER_360L_CLIENT_ID": "i", "IMPORTER_360L_CLIENT_SECRET": "s"}
    from_file = resolve_settings(chosen, flags={}, env=env, job=job)
    assert (from_file.priority, from_file.interactive_rows) == ("batch", 7)
    flagged = resolve_settings(
        chosen,
        flags={"priority": "interactive"},
        env={**env, "IMPORTER_INTERACTIVE_ROWS": "2"},
        job=job,
    )
    assert (flagged.priority, flagged.interactive_rows) == ("interactive", 2)
    assert resolve_settings(chosen, flags={}, env=env).interactive_rows == 50
    with pytest.raises(ConfigurationError, match="interactive or batch"):
        resolve_settings(chosen, flags={"priority": "urgent"}, env=env)
    job_file.write_text('[job]\nvendor = "360learning-v2"\npriority = "now"\n')
    with pytest.raises(ConfigurationError, match='priority must be "interactive" or "batch"'):
        load_job(job_file, _PLUGINS)


class _Sharing:
    """A schedule that says this run gets ``share`` of the account (and counts the asks)."""

    def __init__(self, share: float) -> None:
        self.share, self.asked = share, 0

    def sharing(self) -> list[Sharer]:
        self.asked += 1
        return [Sharer("me", False, True, self.share, mine=True), Sharer("other", True, True, 0.7)]

    def take(self, interval: float, window: Window | None) -> tuple[int | None, float]:
        return 1, 0.0

    def ended(self, call: int) -> None: ...
    def pause_for(self, seconds: float, reason: str = "") -> None: ...
    def pause(self) -> tuple[float, str]:
        return 0.0, ""

    def join(self, share: Share) -> None: ...
    def publish(self, done: int, left: int, seconds: float | None) -> None: ...
    def close(self) -> None: ...


def test_the_eta_counts_the_runs_share_of_the_account() -> None:
    """A run getting 1 slot in 4 is told 4 times the vendor's pace a row; alone (or with no
    shared schedule), the vendor's pace; the share is read at most once a second."""
    clock = FakeClock()
    policy = RatePolicy(rate=2.0)
    schedule = _Sharing(0.25)
    seen: list[float] = []
    shared = Progress(40, Pacer(policy, clock, schedule), lambda *args: seen.append(args[3]), clock)
    shared({})
    assert seen[-1] == pytest.approx(40 * 0.5 * 4)
    shared({"created": 20})
    assert seen[-1] == pytest.approx(20 * 0.5 * 4) and schedule.asked == 1
    clock.advance(1.0)
    schedule.share = 1.0  # the other run is done
    shared({"created": 20})
    assert seen[-1] == pytest.approx(20 * 0.5) and schedule.asked == 2
    alone = Progress(40, Pacer(policy, clock), lambda *args: seen.append(args[3]), clock)
    alone({"created": 20})
    assert seen[-1] == pytest.approx(20 * 0.5)


def test_paced_joins_the_accounts_turns_with_the_runs_share(tmp_path: Path) -> None:
    """paced(share=...) joins the account's schedule: once a slot is taken, sharing() shows
    the run with its class; closing the schedule takes it out."""
    settings = RunSettings(
        "360learning-v2",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        {"IMPORTER_360L_CLIENT_ID": Secret("i"), "IMPORTER_360L_CLIENT_SECRET": Secret("s")},
        store=f"sqlite:{tmp_path}",
    )
    clock = FakeClock()
    share = Share("run 3: sessions.csv", interactive=True)
    with paced(plugin("360learning-v2"), settings, clock, share=share) as sending:
        assert sending.shared is not None
        sending.pacer.release(sending.pacer.acquire())
        (seen,) = sending.shared.sharing()
        assert (seen.run, seen.interactive, seen.mine, seen.share) == (share.run, True, True, 1)
        assert sending.pacer.share() == 1.0
    from importer.store.slots import SharedSlots

    schedule = SharedSlots(tmp_path, _schedule(settings), clock)
    assert schedule.sharing() == []
    schedule.close()


def _schedule(settings: RunSettings) -> str:
    from importer.jobs.pacing import schedule_name

    return schedule_name(plugin(settings.vendor), settings)


def test_the_pages_runs_are_interactive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An import started from the page takes its turns as interactive, whatever its size."""
    from importer.web import workspace as module
    from importer.web.accounts import Account

    given: list[RunSettings] = []

    def import_sheet(report: Any, spec: Any, chosen: Any, settings: RunSettings, hooks: Any) -> Any:
        given.append(settings)
        raise ConfigurationError("stopped here: the settings are what this test looks at")

    monkeypatch.setattr(module, "import_sheet", import_sheet)
    account = Account(
        "Sandbox",
        "360learning-v2",
        timezone="UTC",
        base_url="http://127.0.0.1:9",
        env={"IMPORTER_360L_CLIENT_ID": "i", "IMPORTER_360L_CLIENT_SECRET": "s"},
        sandbox=True,
    )
    space = module.Workspace([account], tmp_path / "data", max_rows=1000, max_bytes=10**6)
    rows = [[PATH, f"S{i}", JANE, "2025-07-01 10:00", "disabled", "", ""] for i in range(60)]
    with write_csv(tmp_path / "big.csv", [V2, *rows]).open("rb") as sheet:
        path = space.save("big.csv", sheet)
    run = space.start(space.check(path, account, "ana"), "import", "ana")
    assert run.thread is not None
    run.thread.join(30)
    assert [s.priority for s in given] == ["interactive"]


# --- Real processes, the real CLI, the sandbox's real limits (real clock) ---------------------


def _start(
    sandbox: SandboxProcess, sheet: Path, vendor: str, env: Mapping[str, str], *extra: str
) -> Any:
    """`session-importer run` in a process of its own (a backfill), with its own journal."""
    args = [*sandbox.args(sheet, vendor), "--json", "--journal", str(sheet.with_suffix(".j"))]
    return subprocess.Popen(
        [sys.executable, "-m", "importer", *args, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env),
        cwd=sheet.parent,
    )


def _calls(sandbox: SandboxProcess, vendor: str) -> list[dict[str, Any]]:
    return [
        r for r in sandbox.requests(vendor) if r["method"] == "POST" and "token" not in r["path"]
    ]


def _sending(sandbox: SandboxProcess, vendor: str, process: Any, calls: int) -> None:
    """Wait until the sandbox has seen ``calls`` calls (the backfill is sending)."""
    deadline = time.monotonic() + 60
    while len(_calls(sandbox, vendor)) < calls:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the backfill never started sending"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_small_zoho_sheet_during_a_backfill_is_done_within_its_rows_and_one_turn(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Two processes on one Zoho account (one state folder: one schedule; their own
    journals), the sandbox's real 30-a-minute rule: a 3-row sheet started while a 12-row
    backfill sends is done within its 3 rows' time plus one turn (2.24 s a call), long before
    the backfill; 0 locks, 0 answers 429, every session created once."""
    env = sandbox.env("zoho-people")
    big = zoho_sheet(tmp_path / "backfill.csv", [zoho_row(f"B{i}") for i in range(12)])
    backfill = _start(sandbox, big, "zoho-people", env, "--priority", "batch")
    try:
        _sending(sandbox, "zoho-people", backfill, 2)
        small = zoho_sheet(tmp_path / "small.csv", [zoho_row(f"S{i}") for i in range(3)])
        journal = str(small.with_suffix(".j"))
        got = spawn_cli(*sandbox.args(small, "zoho-people"), "--json", "--journal", journal,
                        env=env, cwd=tmp_path)  # fmt: skip
        ended = time.time()
        assert got.returncode == 0, got.stderr
        summary = json.loads(got.stdout.strip().splitlines()[-1])
        assert summary["counts"] == {"created": 3}
        spent = ended - summary["validated_at"]  # its journal, its 3 calls, its result sheet
        assert spent <= 4 * TURN + 1.5, f"{spent:.1f} s: more than 3 rows and a turn"
        assert backfill.poll() is None, "the backfill was still sending"
        out, err = backfill.communicate(timeout=120)
    finally:
        backfill.kill()
        backfill.communicate()
    assert backfill.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["counts"] == {"created": 12}
    assert sandbox.http.get("/_sandbox/status").json()["zoho_locks"] == 0
    assert not [r for r in sandbox.requests("zoho-people") if r["status"] == 429]
    assert len(sandbox.created("zoho-people")) == 15  # each row once


@pytest.mark.slow
def test_hosts_sharing_a_postgresql_store_take_turns(
    tmp_path: Path, sandbox: SandboxProcess, pg_url: str
) -> None:
    """360Learning v2 through one PostgreSQL store (10 writes a second per company): a
    10-row sheet started during a 150-row backfill goes through in a row (at most one of the
    backfill's writes among its ten), and the vendor answers no 429."""
    env = {**sandbox.env("360learning-v2"), "IMPORTER_STORE": pg_url}
    rows = [[PATH, f"B{i}", JANE, "2025-07-01 10:00", "disabled", "", ""] for i in range(150)]
    big = write_csv(tmp_path / "backfill.csv", [V2, *rows])
    args = ["--rate", "10"]
    backfill = subprocess.Popen(
        [sys.executable, "-m", "importer", *sandbox.args(big, "360learning-v2"), "--json",
         "--journal", "backfill", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        _sending(sandbox, "360learning-v2", backfill, 20)
        rows = [[PATH, f"S{i}", JANE, "2025-07-01 10:00", "disabled", "", ""] for i in range(10)]
        small = write_csv(tmp_path / "small.csv", [V2, *rows])
        got = spawn_cli(*sandbox.args(small, "360learning-v2"), "--json", "--journal", "small",
                        *args, env=env, cwd=tmp_path)  # fmt: skip
        assert got.returncode == 0, got.stderr
        assert backfill.poll() is None, "the backfill was still sending"
        backfill.communicate(timeout=120)
    finally:
        backfill.kill()
        backfill.communicate()
    assert backfill.returncode == 0
    names = [str((c.get("body") or {}).get("name", "")) for c in _calls(sandbox, "360learning-v2")]
    mine = [i for i, name in enumerate(names) if name.startswith("S")]
    assert len(mine) == 10
    assert mine[-1] - mine[0] <= 10, f"the backfill's writes among the small sheet's: {names}"
    assert not [r for r in sandbox.requests("360learning-v2") if r["status"] == 429]
