"""One row, one run (issue 25): what an import does with a row another live run holds, on a
fake clock over the in-process sandbox (importer.jobs.claims)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from importer.core.clock import FakeClock
from importer.core.outcomes import RowResult, Status
from importer.jobs.claims import ROW_WAIT, settle
from importer.jobs.import_sheet import Imported, SheetSpec, import_sheet, read_sheet
from importer.sending.throttle import PacerStopped
from importer.store.base import Claim, Entry, Holder
from importer.store.journal import Journal
from importer.vendors import plugin
from tests.run.conftest import Rig
from tests.run.test_jobs import _made, _settings, _sheet, _spec

VENDOR = "360learning-v2"


class Scripted(FakeClock):
    """A fake clock that does ``then`` once, the first time a sleep takes it past ``at``."""

    def __init__(self, at: float, then: Callable[[], None]) -> None:
        super().__init__()
        self.at, self.then, self.done = self.time() + at, then, False

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if not self.done and self.time() >= self.at:
            self.done = True
            self.then()


def _import(rig: Rig, tmp_path: Path, clock: FakeClock, **options: object) -> Imported:
    chosen = plugin(VENDOR)
    sheet = SheetSpec(_sheet(tmp_path, ["A", "B"]), timezone="UTC")
    spec = _spec(tmp_path, sheet, **options)
    return import_sheet(read_sheet(sheet, chosen), spec, chosen, _settings(rig), clock=clock)


@pytest.fixture
def other(rig: Rig, tmp_path: Path) -> Journal:
    """Another run on the account, alive, with row B (created by a first import) on the wire
    again: a run holding the row in flight."""
    _import(rig, tmp_path, rig.clock)
    journal = Journal(tmp_path / "account.journal.sqlite", VENDOR)
    journal.lock_job(shared=True)
    run = journal.start_run("other.csv", {"who": "ana"})
    journal.hold(f"run {run}", "ana", run)
    b = next(e for e in journal.entries() if e.sheet_row == 3)
    assert journal.claim(b.key, "created", "sending").held
    return journal


def _b(imported: Imported) -> RowResult:
    return imported.run.results[3]


def test_a_row_another_run_holds_is_skipped_saying_which(
    rig: Rig, tmp_path: Path, other: Journal
) -> None:
    """Without --wait, a row another live run has in flight is not sent: skipped, "being
    created by run 2 (started by ana)"; the other rows go on."""
    done = _import(rig, tmp_path, rig.clock)
    other.close()
    assert done.run.counts() == {"skipped": 2} and len(_made(rig)) == 2
    assert _b(done).message.startswith("being created by run 2 (started by ana): not sent")


def test_wait_reports_the_outcome_the_other_run_records(
    rig: Rig, tmp_path: Path, other: Journal
) -> None:
    """With --wait, the row is polled until the other run records its outcome (30 s later on
    the fake clock): then it is skipped as created, with its ID, saying whom it waited for."""
    b = next(e for e in other.entries() if e.sheet_row == 3)
    clock = Scripted(30, lambda: other.outcome(b.key, "created", b.created_id))
    done = _import(rig, tmp_path, clock, wait=True)
    other.close()
    assert done.run.counts() == {"skipped": 2} and len(_made(rig)) == 2
    assert _b(done).created_id == b.created_id
    assert "already created" in _b(done).message
    assert _b(done).message.endswith("(after waiting for run 2 (started by ana))")
    assert 30 <= clock.time() - (clock.at - 30) < 31


def test_wait_gives_up_after_its_deadline(rig: Rig, tmp_path: Path, other: Journal) -> None:
    """A row whose holder never lets go is waited for ROW_WAIT seconds at most, then skipped
    saying so (its outcome will be in the journal); nothing is sent for it."""
    clock = FakeClock()
    started = clock.time()
    done = _import(rig, tmp_path, clock, wait=True)
    other.close()
    assert _b(done).status == Status.SKIPPED
    assert f"still being created by run 2 (started by ana) after {ROW_WAIT:.0f} s" in (
        _b(done).message
    )
    assert ROW_WAIT <= clock.time() - started < ROW_WAIT + 5
    assert len(_made(rig)) == 2


def test_a_holder_that_dies_while_waited_for_leaves_the_row_to_look_up(
    rig: Rig, tmp_path: Path, other: Journal
) -> None:
    """The other run dies with the row on the wire: the waiting run takes it over as a lost
    answer, looks it up at the vendor (there: created), and does not send it again."""
    clock = Scripted(10, other.close)
    done = _import(rig, tmp_path, clock, wait=True)
    assert _b(done).status == Status.CREATED
    assert "found at the vendor after an earlier lost answer" in _b(done).message
    assert len(_made(rig)) == 2


def test_settle_decides_again_on_the_row_as_it_is_now() -> None:
    """A claim refused because the row moved on is decided again on the fresh row (no wait,
    no sleep); a stop during a wait gives up (PacerStopped)."""
    row = Entry("k", "fp", 2, "pending", "", "", 0, {}, 0.0, 0.0)
    moved = Entry("k", "fp", 2, "created", "ID", "", 1, {}, 0.0, 0.0)
    seen: list[str] = []

    def attempt(entry: Entry) -> RowResult | Claim:
        seen.append(entry.state)
        if entry.state == "pending":
            return Claim(moved, False)
        return RowResult(Status.SKIPPED, entry.created_id, "already created")

    clock = FakeClock()
    busy = Holder(3, 3, "run 3 (pid 1 on h)")

    def never(entry: Entry, holder: Holder, waited: float | None) -> RowResult:
        return RowResult(Status.NOT_SENT)

    done = settle(row, attempt, wait=True, clock=clock, stopped=lambda: False, busy=never)
    assert (done.status, done.created_id, seen) == (Status.SKIPPED, "ID", ["pending", "created"])
    assert clock.time() == FakeClock().time()
    with pytest.raises(PacerStopped):
        settle(
            row,
            lambda entry: Claim(entry, False, busy),
            wait=True,
            clock=clock,
            stopped=lambda: True,
            busy=never,
        )
