"""One journal suite, run against both stores: the SQLite file and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from importer.core.clock import FakeClock
from importer.core.errors import ConfigurationError
from importer.store import JournalLike, open_store
from importer.store.base import Claim, JobLockedError
from importer.store.journal import Journal
from tests.conftest import ROOT

Opener = Callable[..., JournalLike]


@pytest.fixture(params=["sqlite", "postgresql"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def where(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The SQLite journal's file, or the PostgreSQL store's URL (a fresh schema)."""
    if kind == "sqlite":
        return str(tmp_path / "job.journal.sqlite")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def opener(kind: str, where: str) -> Iterator[Opener]:
    """Opens handles on one journal (each as another process would: its own connection)."""
    stores, handles = [], []

    def open_(vendor: str = "360learning-v2", clock: FakeClock | None = None) -> JournalLike:
        if kind == "sqlite":
            handle: JournalLike = Journal(Path(where), vendor, clock)
        else:
            store = open_store(where)
            stores.append(store)
            handle = store.journal("acme 360learning-v2", vendor, clock)
        handles.append(handle)
        return handle

    yield open_
    for handle in handles:
        handle.close()
    for store in stores:
        store.close()


def test_a_new_row_is_pending_and_keeps_its_state_when_seen_again(opener: Opener) -> None:
    """remember() records a row once: seen again, only its sheet row changes."""
    clock = FakeClock(start=1000.0)
    journal = opener(clock=clock)
    first = journal.remember("k1", "fp1", 2, {"name": "A"})
    assert (first.state, first.attempts, first.payload, first.first_seen) == (
        "pending",
        0,
        {"name": "A"},
        clock.time(),
    )
    journal.sending("k1", "fp1", {"name": "A"})
    again = journal.remember("k1", "fp1", 7, {"name": "other"})
    assert (again.state, again.sheet_row, again.payload, again.attempts) == (
        "sending",
        7,
        {"name": "A"},
        1,
    )


def test_sending_then_outcome_is_what_get_returns(opener: Opener) -> None:
    """sending() counts an attempt and keeps what left; outcome() records the ID or error."""
    journal = opener()
    journal.remember("k1", "fp1", 2, {"name": "A"})
    journal.sending("k1", "fp2", {"name": "A2"})
    journal.sending("k1", "fp2", {"name": "A2"})
    journal.outcome("k1", "created", "ID-9", "made")
    entry = journal.get("k1")
    assert entry is not None
    assert (entry.state, entry.created_id, entry.message, entry.attempts) == (
        "created",
        "ID-9",
        "made",
        2,
    )
    assert (entry.fingerprint, entry.payload) == ("fp2", {"name": "A2"})
    assert journal.get("nope") is None


def test_an_update_rewrites_the_values_and_keeps_the_id(opener: Opener) -> None:
    """rewrite() (issue 16) records a row's new values, fingerprint and state after an
    update; its created ID and attempts stay, and every handle sees it at once."""
    journal = opener()
    journal.remember("k1", "fp1", 2, {"name": "A"})
    journal.sending("k1", "fp1", {"name": "A", "_run": 3})
    journal.outcome("k1", "created", "ID-9")
    journal.outcome("k1", "updating", "ID-9", "in doubt")
    journal.rewrite("k1", "fp2", {"name": "B", "_run": 3}, "created", "updated: name: A → B")
    entry = opener().get("k1")
    assert entry is not None
    assert (entry.state, entry.created_id, entry.fingerprint, entry.attempts) == (
        "created",
        "ID-9",
        "fp2",
        1,
    )
    assert entry.payload == {"name": "B", "_run": 3} and entry.message == "updated: name: A → B"


def test_entries_in_sheet_order_and_counts_per_state(opener: Opener) -> None:
    """entries() follows the sheet rows; counts() tells rows per state."""
    journal = opener()
    for key, row in (("c", 4), ("a", 9), ("b", 2)):
        journal.remember(key, "fp", row, {})
    journal.outcome("a", "rejected", "", "no")
    assert [e.key for e in journal.entries()] == ["b", "c", "a"]
    assert journal.counts() == {"pending": 2, "rejected": 1}


def test_runs_and_meta(opener: Opener) -> None:
    """Runs are listed oldest first with their summary; meta is a key-value upsert."""
    journal = opener()
    first = journal.start_run("/data/a.csv", {"timezone": "Europe/Paris"})
    journal.finish_run(first, {"counts": {"created": 3}})
    second = journal.start_run("/data/b.csv", {"timezone": "UTC"})
    runs = journal.runs()
    assert [r["source"] for r in runs] == ["/data/a.csv", "/data/b.csv"]
    assert runs[0]["summary"] == {
        "settings": {"timezone": "Europe/Paris"},
        "counts": {"created": 3},
    }
    assert runs[0]["finished"] is not None
    assert runs[1]["id"] == second and runs[1]["finished"] is None
    assert journal.run_settings(Path("/data/a.csv")) == {"timezone": "Europe/Paris"}  # type: ignore[attr-defined]
    assert journal.run_settings() == {"timezone": "UTC"}  # type: ignore[attr-defined]
    assert journal.meta("vendor") == "360learning-v2"
    journal.set_meta("target", "https://one")
    journal.set_meta("target", "https://two")
    assert journal.meta("target") == "https://two" and journal.meta("missing") is None


def test_a_journal_of_another_vendor_is_refused(opener: Opener) -> None:
    """Opening a journal for another vendor than it records is a configuration error."""
    opener()
    with pytest.raises(ConfigurationError, match="360learning-v2"):
        opener(vendor="zoho-people")


def test_the_whole_lock_is_shared_by_runs_and_exclusive_for_the_rest(opener: Opener) -> None:
    """Runs take the journal's whole lock shared (two at once); what needs the journal to
    itself takes it exclusive: refused while runs hold it, and it holds them back."""
    first, second, whole = opener(), opener(), opener()
    first.lock_job(shared=True)
    second.lock_job(shared=True)
    with pytest.raises(JobLockedError, match=r"runs are importing.*--wait"):
        whole.lock_job()
    first.unlock_job()
    second.close()
    whole.lock_job()
    with pytest.raises(JobLockedError, match=r"holds this journal whole.*--wait"):
        first.lock_job(shared=True)
    whole.unlock_job()
    first.lock_job(shared=True)


def test_wait_takes_the_lock_once_it_is_released(opener: Opener) -> None:
    """lock_job(wait=True) waits for the holder to let go."""
    first, second = opener(), opener()
    first.lock_job()
    threading.Timer(1.0, first.unlock_job).start()
    started = time.monotonic()
    second.lock_job(wait=True)
    assert time.monotonic() - started >= 0.9


_HOLDER = """
import sys, time
from pathlib import Path
from importer.store.journal import Journal
from importer.store import open_store
kind, where = sys.argv[1], sys.argv[2]
if kind == "sqlite":
    journal = Journal(Path(where), "360learning-v2")
else:
    journal = open_store(where).journal("acme 360learning-v2", "360learning-v2")
journal.lock_job(shared=True)
journal.hold("run 7", "ana", 7)
journal.remember("k", "fp", 2, {"name": "A"})
assert journal.claim("k", "pending", "sending", "fp", {"name": "A", "_run": 7}).held
print("held", flush=True)
time.sleep(120)
"""


def test_a_killed_holder_lets_go_of_its_rows_and_the_lock(
    kind: str, where: str, opener: Opener
) -> None:
    """kill -9 of a run holding a row in flight (and the whole lock, shared): while it lives,
    the row is busy for others, named after it; once it is dead, another run claims the row
    (as it was left: what was sent, to look up before anything is resent), and the whole
    lock can be taken exclusive."""
    opener()  # the journal exists before the holder starts
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, kind, where],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "held"
        journal = opener()
        journal.hold("run 8")
        with pytest.raises(JobLockedError):
            journal.lock_job()
        busy = journal.claim("k", "sending", "sending")
        assert not busy.held and busy.busy is not None
        assert busy.busy.label == "run 7 (started by ana)" and busy.busy.run == 7
        assert journal.busy("k") == busy.busy
        holder.kill()
        holder.wait(10)
        deadline = time.monotonic() + 10
        while journal.busy("k") is not None:  # the server notices the closed connection soon
            assert time.monotonic() < deadline, "the dead holder was never taken for dead"
            time.sleep(0.1)
        taken = journal.claim("k", "sending", "sending")
        assert taken.held and taken.entry is not None
        assert taken.entry.payload == {"name": "A", "_run": 7} and taken.entry.attempts == 1
        journal.lock_job()  # exclusive: the dead run's shared lock went with it
    finally:
        holder.kill()
        holder.wait(10)
        holder.stdout.close()
    if kind == "sqlite":  # its lock file is left behind, removed by the next run that holds
        folder = Path(where).parent
        assert len(list(folder.glob("*.holder-*.lock"))) == 2
        opener().hold("run 9")
        assert len(list(folder.glob("*.holder-*.lock"))) == 2  # run 8's and run 9's


def test_a_claim_takes_a_row_only_as_it_was_seen(opener: Opener) -> None:
    """claim() is a compare-and-take: the state expected, and no live holder but this one.
    A row that moved on is refused with the row as it is now (no holder to blame); one in
    flight for a live run is refused naming that run; this holder may claim its own again;
    the send mark is made with the claim (values, fingerprint, one attempt more)."""
    clock = FakeClock(start=1000.0)
    first, second = opener(clock=clock), opener(clock=clock)
    one = first.hold("run 1", None, 1)
    second.hold("run 2", "ana", 2)
    assert one.run == 1 and one.label.startswith("run 1 (pid ")
    first.remember_many([("a", "fp0", 2, {"n": "0"}), ("b", "fp0", 3, {"n": "0"})])
    clock.advance(5)
    got = first.claim("a", "pending", "sending", "fp1", {"n": "1"})
    assert got.held and got.entry is not None and got.entry.state == "pending"
    after = first.get("a")
    assert after is not None
    assert (after.state, after.fingerprint, after.payload, after.attempts, after.updated) == (
        "sending",
        "fp1",
        {"n": "1"},
        1,
        1005.0,
    )
    late = second.claim("a", "pending", "sending", "fp2", {"n": "2"})  # decided on a stale read
    assert not late.held and late.busy == one and late.entry == after
    assert second.busy("a") == one and first.busy("a") is None
    assert first.claim("a", "sending", "sending").held  # its own: taken again
    first.outcome("a", "created", "ID-A")
    moved = second.claim("a", "sending", "sending")
    assert not moved.held and moved.busy is None
    assert moved.entry is not None and moved.entry.state == "created"
    assert second.busy("a") is None  # done: nobody's
    change = second.claim("a", "created", "updating", message="updating: in doubt")
    assert change.held
    updating = second.get("a")
    assert updating is not None and (updating.state, updating.created_id) == ("updating", "ID-A")
    assert updating.message == "updating: in doubt" and updating.payload == {"n": "1"}
    undo = first.claim("a", "updating", "deleting")
    assert not undo.held and undo.busy is not None and undo.busy.label == "run 2 (started by ana)"
    assert first.claim("missing", "pending", "sending") == Claim(None, False)
    second.close()  # gone: what it held is anyone's
    assert first.claim("a", "updating", "deleting").held


def test_threads_share_one_handle(opener: Opener) -> None:
    """Send threads use one handle at once: every row's outcome is kept."""
    journal = opener()

    def work(base: int) -> None:
        for i in range(25):
            key = f"k{base}-{i}"
            journal.remember(key, "fp", base * 100 + i, {"i": i})
            journal.sending(key, "fp", {"i": i})
            journal.outcome(key, "created", f"ID{base}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert journal.counts() == {"created": 150}
    assert {e.created_id for e in journal.entries()} == {
        f"ID{b}-{i}" for b in range(6) for i in range(25)
    }
