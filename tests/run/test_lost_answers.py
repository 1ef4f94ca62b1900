"""A row whose earlier create answer was lost stays ``unknown`` until a run checks it (issue 22).

It showed ``not sent`` ("safe to send") whenever the next run did not check it: a dry run,
``--limit 0``, a lookup the vendor refused, or a resend (``--resend-unknown``) that never left;
the last even wrote it back to the journal as never sent, and the run after sent it again
without asking.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from importer.api import resolve_settings, run_import, validate
from importer.core.clock import FakeClock
from importer.jobs.journaling import JournalOptions
from importer.results.report import RunReport
from importer.store.journal import Journal
from tests.conftest import write_csv
from tests.run.conftest import SandboxProcess

PATH, JANE, GROUP = (
    "6853f6de567dc5f80528f80d",
    "647098a731a809ed36889ed1",
    "624c5526204fc7207e603ea6",
)
V2 = ["Path ID", "Session name", "Main instructor ID", "Start date", "Registration validation"]
V1 = ["Path ID", "Session name", "Start date", "Owner group ID"]
ENV = {
    "360learning-v2": {
        "IMPORTER_360L_CLIENT_ID": "i" * 12,
        "IMPORTER_360L_CLIENT_SECRET": "s" * 24,
    },
    "360learning-v1": {"IMPORTER_360L_COMPANY": "c" * 12, "IMPORTER_360L_API_KEY": "k" * 24},
}
Handler = Callable[[httpx.Request], httpx.Response]


def _sheet(tmp_path: Path, vendor: str) -> Path:
    if vendor == "360learning-v2":
        return write_csv(
            tmp_path / "v2.csv", [V2, [PATH, "A", JANE, "2025-07-01 10:00", "disabled"]]
        )
    return write_csv(tmp_path / "v1.csv", [V1, [PATH, "A", "2025-07-01 10:00", GROUP]])


def _run(tmp_path: Path, vendor: str, handler: Handler, **options: object) -> RunReport:
    """One in-process run of the one-row sheet through the job's journal in ``tmp_path``."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("token"):
            return httpx.Response(200, json={"access_token": "t" * 20, "expires_in": 3600})
        return handler(request)

    journal = Journal(tmp_path / "job.journal.sqlite", vendor)
    resend = bool(options.pop("resend_unknown", False))
    settings = resolve_settings(vendor, flags={"base_url": "http://127.0.0.1:9"}, env=ENV[vendor])
    try:
        return run_import(
            validate(_sheet(tmp_path, vendor), vendor, timezone="UTC"),
            settings,
            client=httpx.Client(transport=httpx.MockTransport(answer)),
            clock=FakeClock(),
            journal=JournalOptions(journal, resend_unknown=resend),
            notify=[].append,
            **options,  # type: ignore[arg-type]
        )
    finally:
        journal.close()


def _states(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "job.journal.sqlite") as db:
        return [state for (state,) in db.execute("SELECT state FROM rows")]


def _lose(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError("the connection dropped after the request was sent")


def _never(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing may be sent: {request.method} {request.url}")


def _refuse_lookup(request: httpx.Request) -> httpx.Response:
    assert request.method == "GET", "a lookup refused: nothing may be created"
    return httpx.Response(403, json={"error": {"code": "forbidden"}})


@pytest.mark.parametrize(
    ("vendor", "handler", "options", "why"),
    [
        pytest.param("360learning-v2", _never, {"dry_run": True}, "a dry run", id="dry-run"),
        pytest.param("360learning-v2", _never, {"limit": 0}, "beyond --limit", id="limit-0"),
        pytest.param("360learning-v2", _refuse_lookup, {}, "refused", id="lookup-refused"),
        pytest.param("360learning-v1", _never, {"limit": 0}, "beyond --limit", id="v1-limit-0"),
    ],
)
def test_a_lost_answer_not_checked_stays_unknown(
    tmp_path: Path, vendor: str, handler: Handler, options: dict[str, object], why: str
) -> None:
    """After a run whose create answer was lost, a run that does not check the row says
    unknown (with why it did not check), never "not sent"; the journal keeps it unknown."""
    first = _run(tmp_path, vendor, _lose)
    assert first.results[2].status == "unknown"
    again = _run(tmp_path, vendor, handler, **options)
    assert again.status(2) == "unknown", again.results.get(2)
    assert "earlier answer was lost" in again.results[2].message
    assert why in again.results[2].message
    assert _states(tmp_path) == ["unknown"]


def test_a_resend_that_never_left_keeps_the_row_unknown(tmp_path: Path) -> None:
    """--resend-unknown on a vendor that cannot be checked, and the resend cannot connect: the
    row stays unknown, in the sheet and the journal; the next run without the flag sends
    nothing (the journal said "pending", and the row went out again unasked)."""
    assert _run(tmp_path, "360learning-v1", _lose).results[2].status == "unknown"

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    resent = _run(tmp_path, "360learning-v1", down, resend_unknown=True)
    assert resent.results[2].status == "unknown"
    assert "could not connect" in resent.results[2].message
    assert _states(tmp_path) == ["unknown"]
    after = _run(tmp_path, "360learning-v1", _never)
    assert after.results[2].status == "unknown"


def test_dry_run_and_limit_through_the_cli(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """End to end: an answer dropped by the sandbox, then `--dry-run` and `--limit 0` both say
    unknown in their result sheets (they said "not sent"), and create nothing."""
    sheet = write_csv(tmp_path / "v2.csv", [V2, [PATH, "A", JANE, "2025-07-01 10:00", "disabled"]])
    sandbox.faults("360learning-v2:drop=1")
    assert sandbox.run(sheet, "360learning-v2", "--timezone", "UTC").returncode == 1
    sandbox.faults("")
    for flag in ("--dry-run", "--limit=0"):
        result = tmp_path / f"{flag.strip('-').split('=')[0]}.csv"
        done = sandbox.run(
            sheet, "360learning-v2", flag, "--timezone", "UTC", "--result", str(result)
        )
        row = result.read_text(encoding="utf-8-sig").splitlines()[1]
        assert row.split(",")[1] == "unknown", (flag, row, done.stderr)
    assert len(sandbox.created("360learning-v2")) == 1
