"""Ctrl-C while rows are sent sets the run's stop; it never raises inside the collector.

Raised as KeyboardInterrupt where the main thread happened to be, a signal landing just as a
row's answer was taken off the workers' queue lost that answer: the created row was reported
``not sent`` without its ID (5 of 24 tries, issue 22). Here the signal is delivered from inside
the transport at the moment a create's answer is returned, which puts it exactly there.
"""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from importer.api import resolve_settings, run_import, validate
from importer.core import signals as entry_signals
from importer.jobs.journaling import JournalOptions
from importer.results.write import write_report
from importer.sandbox import Sandbox, SandboxServer
from importer.store.journal import Journal
from importer.vendors import sandbox_parts
from tests.conftest import write_csv

V1 = ["Path ID", "Session name", "Start date", "Owner group ID"]
PATH, GROUP = "6853f6de567dc5f80528f80d", "624c5526204fc7207e603ea6"


class SignalOnAnswer(httpx.BaseTransport):
    """The real HTTP transport; as the first create's answer comes back, SIGINT is raised in
    the sending thread (a test hook: the signal lands as that answer is being returned)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport(retries=0)
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.inner.handle_request(request)
        if request.method == "POST":
            self.sent += 1
            if self.sent == 1:
                answer.read()
                signal.raise_signal(signal.SIGINT)
        return answer

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def restored() -> Iterator[None]:
    """SIGINT's and SIGTERM's handlers as they were before the test."""
    before = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


@pytest.mark.usefixtures("restored")
@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_as_an_answer_arrives_keeps_the_created_row(tmp_path: Path, attempt: int) -> None:
    """The row whose answer was arriving is 'created' with its ID, in the report, the result
    sheet and the journal; the rows after it are 'not sent'; the run says interrupted."""
    sheet = write_csv(
        tmp_path / "v1.csv", [V1, *[[PATH, f"S{i}", "2025-07-01 10:00", GROUP] for i in range(4)]]
    )
    journal = Journal(tmp_path / "job.journal.sqlite", "360learning-v1")
    transport = SignalOnAnswer()
    sandbox = Sandbox(sandbox_parts())
    with SandboxServer(sandbox.app) as server, httpx.Client(transport=transport) as client:
        info = sandbox.describe(server.url)["360learning-v1"]
        settings = resolve_settings(
            "360learning-v1", flags={"base_url": info["base_url"], "concurrency": 1},
            env=info["env"],
        )  # fmt: skip
        report = validate(sheet, "360learning-v1")
        run = run_import(report, settings, client=client, journal=JournalOptions(journal),
                         notify=[].append)  # fmt: skip
    journal.close()
    created = [c.id for c in sandbox.state.created if c.vendor == "360learning-v1"]
    assert transport.sent == 1 and len(created) == 1
    assert run.stopped == "interrupted" and run.exit_code == 130
    assert run.results[2].status == "created" and run.results[2].created_id == created[0]
    assert [run.status(row) for row in (3, 4, 5)] == ["not sent"] * 3
    lines = write_report(report, tmp_path / "out.csv", run).read_text("utf-8-sig").splitlines()
    assert lines[1].split(",")[1:3] == ["created", created[0]]
    with sqlite3.connect(tmp_path / "job.journal.sqlite") as db:
        rows = list(db.execute("SELECT state, created_id FROM rows WHERE state = 'created'"))
    assert rows == [("created", created[0])]


@pytest.mark.usefixtures("restored")
def test_the_run_gives_back_the_signal_handlers_it_found() -> None:
    """Without a signal, the handlers before the run are the handlers after it; after a
    signal under the command's own handler, the next one is ignored while the sheet is
    written (as before); a signal in the handler's place sets the reason only once."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with entry_signals.RunSignals():
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    woken: list[str] = []
    entry_signals.install_handlers()
    with entry_signals.RunSignals(wake=lambda: woken.append("woken")) as signals:
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
    assert signals.reason == "terminated" and woken == ["woken", "woken"]
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
