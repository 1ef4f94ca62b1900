"""run_import's stop event (the web page's Stop button) and progress hook, on a fake clock."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

import pytest

from importer.api import resolve_settings, run_import, validate
from importer.core.clock import FakeClock
from importer.results.report import RunReport
from importer.sandbox import Sandbox, SandboxServer, SandboxState
from importer.vendors import sandbox_parts
from tests.conftest import zoho_row, zoho_sheet


def zoho_run(tmp_path: Path, rows: int, stop_after: int | None) -> tuple[RunReport, list, Sandbox]:
    """Import ``rows`` Zoho rows into an in-process sandbox sharing a fake clock; set the stop
    event from the progress hook once ``stop_after`` rows are done."""
    clock = FakeClock()
    sandbox = Sandbox(sandbox_parts(), SandboxState.fresh(clock=clock))
    stop = threading.Event()
    calls: list[tuple[int, int, dict[str, int], float]] = []

    def hook(done: int, total: int, counts: Mapping[str, int], left: float) -> None:
        calls.append((done, total, dict(counts), left))
        if stop_after is not None and done >= stop_after:
            stop.set()

    sheet = zoho_sheet(tmp_path / "z.csv", [zoho_row(f"S{i}") for i in range(rows)])
    with SandboxServer(sandbox.app) as server:
        info = sandbox.describe(server.url)["zoho-people"]
        flags = {"base_url": info["base_url"], "auth_url": info["auth_url"]}
        settings = resolve_settings("zoho-people", flags=flags, env=info["env"])
        run = run_import(
            validate(sheet, "zoho-people"),
            settings,
            clock=clock,
            notify=lambda _: None,
            stop=stop,
            on_progress=hook,
        )
    return run, calls, sandbox


def test_progress_hook_counts_every_row_with_the_vendors_eta(tmp_path: Path) -> None:
    """The hook hears 0 of 4 first (4 rows at our Zoho pace of 60.5/27 s a call), then each row."""
    run, calls, _ = zoho_run(tmp_path, 4, stop_after=None)
    assert run.counts() == {"created": 4}
    assert [c[0] for c in calls] == [0, 1, 2, 3, 4]
    assert all(c[1] == 4 for c in calls)
    pace = 60.5 / 27
    assert [c[3] for c in calls] == pytest.approx([4 * pace, 3 * pace, 2 * pace, pace, 0.0])
    assert calls[-1][2] == {"created": 4} and calls[-1][3] == 0.0


def test_stop_event_stops_like_ctrl_c(tmp_path: Path) -> None:
    """Stop after 2 rows: those are created, the other 4 'not sent', exit code 130."""
    run, _, sandbox = zoho_run(tmp_path, 6, stop_after=2)
    assert run.stopped == "interrupted" and run.exit_code == 130
    assert run.counts() == {"created": 2, "not sent": 4}
    assert (
        len([r for r in sandbox.state.requests if r["method"] == "POST" and "/api/" in r["path"]])
        == 2
    )
