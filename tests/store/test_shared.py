"""The rate schedule and the tokens, against both stores; schema migrations; opening errors."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from importer.core.clock import FakeClock, SystemClock
from importer.core.errors import ConfigurationError
from importer.sending.throttle import Window
from importer.store import Store, open_store
from importer.store.faults import JournalFullError
from importer.store.migrations import MIGRATIONS
from importer.store.postgres import PostgresStore
from importer.store.slots import SharedSlots
from tests.conftest import ROOT


def test_a_slot_then_the_interval(store: Store) -> None:
    """A slot is taken at once; the next one only after the interval."""
    slots = store.slots("acct", SystemClock())
    call, wait = slots.take(0.5, None)
    assert call is not None and wait == 0
    again, wait = slots.take(0.5, None)
    assert again is None and 0.3 < wait <= 0.5
    slots.close()


def test_a_pause_holds_every_slot_and_keeps_the_longest_reason(store: Store) -> None:
    """pause_for stops every taker; a shorter pause does not cut a longer one short."""
    slots = store.slots("acct", SystemClock())
    slots.pause_for(30, "locked by the vendor")
    slots.pause_for(5, "backoff")
    left, reason = slots.pause()
    assert 29 < left <= 30 and reason == "locked by the vendor"
    call, wait = slots.take(0.0, None)
    assert call is None and wait > 29


def test_the_window_counts_from_the_end_of_calls(store: Store) -> None:
    """With 2 calls per window, a third waits for the first call's end plus the period; a call
    with no end (in flight, or its host died) holds the window."""
    slots = store.slots("acct", SystemClock())
    window = Window(limit=2, seconds=1.0, use=2, margin=0.0)
    first, _ = slots.take(0.0, window)
    second, _ = slots.take(0.0, window)
    assert first is not None and second is not None
    blocked, wait = slots.take(0.0, window)
    assert blocked is None and wait == float("inf")
    slots.ended(first)
    slots.ended(second)
    blocked, wait = slots.take(0.0, window)
    assert blocked is None and 0.8 < wait <= 1.0


def test_no_slot_before_a_period_after_the_machine_started(tmp_path: Path) -> None:
    """Calls a power cut erased from the SQLite schedule were made before the machine started
    again: none is given before the window's period (else the interval) after that."""
    clock = FakeClock()
    zoho = Window(limit=30, seconds=60.0, use=27, margin=0.5)
    slots = SharedSlots(tmp_path, "zoho", clock, booted=clock.time() - 10.0)
    call, wait = slots.take(60.5 / 27, zoho)
    assert call is None and wait == pytest.approx(50.5)
    clock.advance(wait)
    assert slots.take(60.5 / 27, zoho)[0] is not None
    plain = SharedSlots(tmp_path, "v1", clock, booted=clock.time() - 0.25)
    call, wait = plain.take(1.0, None)
    assert call is None and wait == pytest.approx(0.75)
    # On this machine, its real start: long enough ago for an interval of a millisecond.
    assert SharedSlots(tmp_path, "now", SystemClock()).take(0.001, None)[0] is not None


def test_an_answer_is_written_with_the_next_slot_never_before_other_processes_need_it(
    tmp_path: Path,
) -> None:
    """ended() is written with the process's next slot (or a read of the schedule, or its
    close): meanwhile another process sees the call still on the wire (held back, never let
    through early); once written, the window counts from the answer's own time."""
    clock = FakeClock()
    window = Window(limit=1, seconds=1.0, use=1, margin=0.0)
    ours, theirs = SharedSlots(tmp_path, "acct", clock), SharedSlots(tmp_path, "acct", clock)
    call, _ = ours.take(0.0, window)
    assert call is not None
    ours.ended(call)
    clock.advance(5.0)
    assert theirs.take(0.0, window) == (None, float("inf"))  # not written yet: still open
    second, _ = ours.take(0.0, window)  # our own next slot sees it (and writes it)
    assert second is not None
    ours.ended(second)
    clock.advance(5.0)
    assert theirs.take(0.0, window) == (None, float("inf"))  # the second: not written yet
    ours.close()
    assert theirs.take(0.0, window)[0] is not None  # written at close, as of 5 s ago
    # An answer long after the process's latest slot (a paced vendor) is written at once.
    paced, watching = SharedSlots(tmp_path, "paced", clock), SharedSlots(tmp_path, "paced", clock)
    call, _ = paced.take(0.0, window)
    assert call is not None
    clock.advance(SharedSlots.ENDS_WAIT + 0.5)
    paced.ended(call)
    clock.advance(1.0)
    assert watching.take(0.0, window)[0] is not None


_HOLDER = """
import sys, time
from importer.core.clock import FakeClock, SystemClock
from importer.store import open_store
slots = open_store(sys.argv[1]).slots(sys.argv[2], SystemClock())
print(slots.take(0.0, None)[0], flush=True)
time.sleep(60)
"""


def test_a_call_left_open_by_a_killed_process_holds_no_one_back(url: str) -> None:
    """kill -9 with a request in flight leaves its call open in the shared schedule: the next
    process finds its caller dead and counts the window from now (a second for 360Learning
    v2), not from STALE (120 s) later. Once, a re-run after kill -9 waited two minutes."""
    account = "360learning-v2|http://127.0.0.1:9|test"
    window = Window(limit=1, seconds=1.0, use=1, margin=0.05)
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url, account], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    store = open_store(url)
    try:
        assert child.stdout is not None and child.stdout.readline().strip().isdigit()
        slots = store.slots(account, SystemClock())
        _, wait = slots.take(0.0, window)
        assert wait > 100, "an open call of a live process holds the window (the control)"
        child.kill()
        child.wait(10)
        deadline = time.monotonic() + 10  # the server sees the dead connection at once
        while (wait := slots.take(0.0, window)[1]) > window.period:
            assert time.monotonic() < deadline, f"still waiting {wait:.0f} s for a dead caller"
            time.sleep(0.1)
        slots.close()
    finally:
        child.kill()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
        store.close()


_TAKER = """
import json, sys, time
from importer.core.clock import FakeClock, SystemClock
from importer.store import open_store
from importer.sending.throttle import Window
# A window that never binds here (50 calls) but makes both stores keep the 45 calls' starts.
window = Window(limit=50, seconds=0.001, use=50, margin=0.0)
store = open_store(sys.argv[1])
slots = store.slots("shared", SystemClock())
print("ready", flush=True)
sys.stdin.readline()
taken = []
while len(taken) < 15:
    call, wait = slots.take(0.04, window)
    if call is None:
        time.sleep(min(wait, 0.01))
        continue
    slots.ended(call)
    taken.append(call)
print(json.dumps(taken), flush=True)
store.close()
"""


def _call_starts(url: str) -> list[float]:
    """When each slot was taken, as the store recorded it."""
    if url.startswith("sqlite:"):
        import sqlite3

        (path,) = Path(url[len("sqlite:") :]).glob("rate-*.sqlite")
        with sqlite3.connect(path) as db:
            return [float(r[0]) for r in db.execute("SELECT start FROM calls ORDER BY start")]
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT start FROM importer_calls ORDER BY start").fetchall()
    return [float(r[0]) for r in rows]


def test_three_processes_never_share_a_slot(url: str) -> None:
    """Three processes taking slots of one account at once: 45 distinct calls, each at least
    the interval after the one before (as each store's own clock recorded them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    takers = [
        subprocess.Popen(
            [sys.executable, "-c", _TAKER, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        for _ in range(3)
    ]
    taken: list[int] = []
    try:
        for taker in takers:
            assert taker.stdout is not None and taker.stdout.readline().strip() == "ready"
        for taker in takers:
            assert taker.stdin is not None
            taker.stdin.write("go\n")
            taker.stdin.flush()
        for taker in takers:
            assert taker.stdout is not None
            taken += json.loads(taker.stdout.readline())
    finally:
        for taker in takers:
            taker.kill()
            taker.wait(10)
            for pipe in (taker.stdin, taker.stdout):
                if pipe is not None:
                    pipe.close()
    assert len(taken) == len(set(taken)) == 45
    starts = _call_starts(url)
    assert len(starts) == 45
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.04 - 1e-6


def test_tokens_are_kept_forgotten_and_their_requests_counted(store: Store) -> None:
    """put/get; forget only the token refused; token requests listed since a moment."""
    tokens = store.tokens(SystemClock())
    assert tokens.get("acct") is None
    tokens.put("acct", "tok-1", 2000.0)
    tokens.put("acct", "tok-2", 3000.0)
    assert tokens.get("acct") == ("tok-2", 3000.0)
    tokens.forget("acct", "tok-1")  # already replaced: kept
    assert tokens.get("acct") == ("tok-2", 3000.0)
    tokens.forget("acct", "tok-2")
    assert tokens.get("acct") is None
    for at in (100.0, 200.0, 300.0):
        tokens.requested("acct", at)
    tokens.requested("other", 250.0)
    assert tokens.requests_since("acct", 150.0) == [200.0, 300.0]
    tokens.close()


def test_migrations_run_once_when_hosts_start_together(pg_url: str) -> None:
    """Four stores opened at the same moment on an empty schema: each step applied once."""
    applied: list[int] = []
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            store = PostgresStore(pg_url)
            applied.extend(store.applied)
            store.close()
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(applied) == [v for v, _, _ in MIGRATIONS]
    with psycopg.connect(pg_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM importer_migrations")]
    assert sorted(versions) == [v for v, _, _ in MIGRATIONS]
    again = PostgresStore(pg_url)
    assert again.applied == [] and again.version == MIGRATIONS[-1][0]
    again.close()


def test_a_store_newer_than_the_tool_is_refused(pg_url: str) -> None:
    """A schema migrated by a newer version of the tool: this one says to upgrade."""
    PostgresStore(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO importer_migrations VALUES (999, 'future', 0)")
    with pytest.raises(ConfigurationError, match="upgrade session-importer"):
        PostgresStore(pg_url)


def test_an_unreachable_store_is_one_clear_error_without_its_password() -> None:
    """No server: a configuration error naming the store, with the password hidden."""
    with pytest.raises(ConfigurationError) as caught:
        open_store("postgresql://importer:hunter2secret@127.0.0.1:1/db")
    assert "cannot use it" in str(caught.value) and "127.0.0.1:1" in str(caught.value)
    assert "hunter2secret" not in str(caught.value)


def test_a_store_url_of_another_kind_is_refused() -> None:
    """Only postgresql:// and sqlite: name stores."""
    with pytest.raises(ConfigurationError, match="postgresql://"):
        open_store("mysql://db/importer")


def test_a_search_path_without_a_schema_is_refused(pg_server: str) -> None:
    """A search path naming no existing schema is explained, not a traceback."""
    from tests.conftest import pg_schema_url

    with pytest.raises(ConfigurationError, match="CREATE SCHEMA"):
        open_store(pg_schema_url(pg_server, "no_such_schema_here"))


def test_a_full_disk_under_the_schedule_is_said_with_its_file(tmp_path: Path) -> None:
    """The schedule's write fails on a full disk (SQLite ends the transaction itself): the
    error names the schedule's file and says "free some space", not SQLite's bare words nor
    "cannot rollback"; the slot is not given (nothing leaves)."""
    clock = FakeClock()
    slots = SharedSlots(tmp_path, "full", clock, booted=clock.time() - 10.0)
    real = slots.db

    class _FullDisk:
        """The connection, whose INSERT of a call fails as a full disk fails."""

        in_transaction = property(lambda self: real.in_transaction)

        def execute(self, sql: str, *args: object) -> object:
            if sql.startswith("INSERT INTO calls"):
                real.execute("ROLLBACK")  # as SQLite does on SQLITE_FULL
                error = sqlite3.OperationalError("database or disk is full")
                error.sqlite_errorcode = 13
                raise error
            return real.execute(sql, *args)

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    slots.db = _FullDisk()  # type: ignore[assignment]
    with pytest.raises(JournalFullError) as said:
        slots.take(0.1, None)
    assert str(slots.path) in str(said.value) and "account's rate schedule" in str(said.value)
    assert "free some space" in str(said.value) and "rollback" not in str(said.value)
    slots.db = real
    assert real.execute("SELECT COUNT(*) FROM calls").fetchone() == (0,)
