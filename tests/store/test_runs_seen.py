"""The runs in progress on an account, as its schedule publishes them (issue 25): who each
is, how far, its share, its ETA, whether it waits for its turn; a dead run's row left out;
on this machine's SQLite files and in PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from importer.core.clock import SystemClock
from importer.sending.ports import Share, Sharer, schedule_id
from importer.store import Store, open_store
from importer.store.slots import SharedSlots
from tests.conftest import ROOT, until

ACCOUNT = "zoho-people|http://127.0.0.1:9|abc"


def _by_who(found: list[Sharer]) -> dict[str | None, Sharer]:
    return {s.who: s for s in found}


def test_each_run_says_who_it_is_how_far_and_whether_it_waits_for_its_turn(
    store: Store,
) -> None:
    """A backfill takes a slot; an interactive run asks for the next one (not free yet), then
    the backfill asks too: the slot will be the interactive run's, so the backfill waits for
    its turn and says so; the other waits for the pace only. Both are listed with who
    started them, their journal and run, rows done and left, share and ETA."""
    clock = SystemClock()
    backfill = store.slots(ACCOUNT, clock)
    backfill.join(Share("run 7: big.csv", False, who="nightly:acme", journal="/j/a", run_id=7,
                        account="zoho-people at 127.0.0.1:9"))  # fmt: skip
    page = store.slots(ACCOUNT, clock)
    page.join(Share("run 3: small.csv", True, who="ana", journal="/j/b", run_id=3))
    try:
        call, _ = backfill.take(30.0, None)
        assert call is not None
        backfill.ended(call)
        backfill.publish(1, 99, 3000.0)
        assert page.take(30.0, None)[0] is None  # the next slot is 30 s away
        page.publish(0, 5, 150.0)
        assert backfill.take(30.0, None)[0] is None
        seen = _by_who(store.in_progress())
        assert set(seen) == {"nightly:acme", "ana"}
        big, small = seen["nightly:acme"], seen["ana"]
        assert (big.run, big.journal, big.run_id, big.interactive) == (
            "run 7: big.csv", "/j/a", 7, False,
        )  # fmt: skip
        assert big.account == "zoho-people at 127.0.0.1:9"
        assert (big.done, big.left, small.done, small.left) == (1, 99, 0, 5)
        assert big.eta == pytest.approx(3000, abs=5) and small.eta == pytest.approx(150, abs=5)
        assert big.behind and big.waiting, "the next slot is the interactive run's"
        assert small.waiting and not small.behind, "it waits for the pace, not for a turn"
        assert small.share == pytest.approx(10 / 11)  # promised by its weight: no call yet
        assert big.schedule == small.schedule == schedule_id(ACCOUNT)
        # Only the accounts asked for.
        assert store.in_progress({schedule_id("another")}) == []
        assert len(store.in_progress({schedule_id(ACCOUNT)})) == 2
        # A run that ends leaves the list.
        page.close()
        assert set(_by_who(store.in_progress())) == {"nightly:acme"}
    finally:
        backfill.close()
        page.close()


_PUBLISHING = """
import sys, time
from importer.core.clock import SystemClock
from importer.sending.ports import Share
from importer.store import open_store
slots = open_store(sys.argv[1]).slots(sys.argv[2], SystemClock())
slots.join(Share("doomed", who="ghost", run_id=9))
print(slots.take(0.01, None)[0], flush=True)
slots.publish(3, 40, 80.0)
print("published", flush=True)
time.sleep(60)
"""


def test_a_killed_runs_row_is_not_shown_in_progress(url: str) -> None:
    """kill -9 leaves the run's row behind; its process gone (its pid on this machine, its
    mark in PostgreSQL), it is not listed as in progress, with no wait."""
    child = subprocess.Popen(
        [sys.executable, "-c", _PUBLISHING, url, ACCOUNT],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    store = open_store(url)
    try:
        assert child.stdout is not None and child.stdout.readline().strip().isdigit()
        assert child.stdout.readline().strip() == "published"
        (seen,) = store.in_progress()
        assert (seen.who, seen.run_id, seen.done, seen.left) == ("ghost", 9, 3, 40)
        child.kill()
        child.wait(10)
        # PostgreSQL frees the run's lock when its server process sees the connection
        # closed (a moment after the kill): waited for, not assumed.
        until("the killed run is no longer listed", lambda: store.in_progress() == [], 10)
    finally:
        child.kill()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
        store.close()


def test_a_schedule_file_of_an_earlier_version_gains_the_columns(tmp_path: Path) -> None:
    """A file written before runs published their progress is read (nothing in progress)
    and, once a run opens it, gains the columns; opening it again changes nothing."""
    path = tmp_path / f"rate-{schedule_id(ACCOUNT)}.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE waiters (token TEXT PRIMARY KEY, run TEXT NOT NULL,"
            " interactive INTEGER NOT NULL, weight REAL NOT NULL, spent REAL NOT NULL,"
            " polled REAL NOT NULL, served REAL NOT NULL, wants INTEGER NOT NULL,"
            " pid INTEGER, host TEXT)"
        )
    db.close()
    clock = SystemClock()
    assert SharedSlots.in_progress(tmp_path, clock) == []
    for _ in range(2):
        slots = SharedSlots(tmp_path, ACCOUNT, clock)
        slots.join(Share("again", who="ana"))
        slots.publish(0, 2, None)
        assert slots.take(0.0, None)[0] is not None
        (seen,) = SharedSlots.in_progress(tmp_path, clock)
        assert (seen.who, seen.left, seen.eta) == ("ana", 2, None)
        slots.close()


def test_a_failed_publish_costs_a_figure_not_the_run(tmp_path: Path) -> None:
    """A schedule file that cannot be written when the run says how far it is (read-only,
    busy): publish says nothing and raises nothing; the figures go with the next write."""
    clock = SystemClock()
    slots = SharedSlots(tmp_path, ACCOUNT, clock)
    slots.join(Share("run 1: a.csv", who="ana"))
    assert slots.take(0.0, None)[0] is not None
    writable = slots.db
    slots.db = sqlite3.connect(f"file:{slots.path}?mode=ro", uri=True, isolation_level=None)
    slots.publish(4, 6, 12.0)  # refused by the file: no error
    slots.db.close()
    slots.db = writable
    (seen,) = SharedSlots.in_progress(tmp_path, clock)
    assert (seen.done, seen.left) == (0, None)
    assert slots.take(0.0, None)[0] is not None  # the next write carries them
    (seen,) = SharedSlots.in_progress(tmp_path, clock)
    assert (seen.done, seen.left) == (4, 6)
    slots.close()
