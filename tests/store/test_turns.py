"""Runs on one account take turns on its schedule (issue 25), on a fake clock: weighted fair
turns, round robin among equals, a dead waiter forgotten within a bounded grace, and the
vendor's limit kept over a simulated hour, on both stores."""

from __future__ import annotations

import heapq
import itertools
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from importer.core.clock import FakeClock
from importer.sending.ports import Share, Slots
from importer.sending.throttle import POLL_EVERY, Window
from importer.store.pg_shared import PgSlots
from importer.store.postgres import PostgresStore
from importer.store.slots import SharedSlots
from importer.store.turns import GRACE, LIVE, Waiter, grace, shares, take_turn
from tests.conftest import ROOT, until

#: Zoho's rule as the importer keeps it: 27 calls in any 60.5 s, 2.24 s apart.
ZOHO = Window(limit=30, seconds=60.0, use=27, margin=0.5)
TURN = 1 / ZOHO.rate


# --- The rule alone ---------------------------------------------------------------------------


def test_one_waiter_alone_takes_every_free_slot_at_once() -> None:
    """Alone, a caller is always chosen: no grace, no wait beyond the schedule's."""
    me = None
    for step in range(5):
        turn = take_turn(me, "a", 1, [], now=10.0 + step, ready=10.0 + step, interval=1)
        assert turn.take and turn.wait == 0
        me = turn.me
    early = take_turn(me, "a", 1, [], now=14.5, ready=15.0, interval=1)
    assert not early.take and early.wait == pytest.approx(0.5)


def test_a_waiter_not_chosen_waits_for_the_grace_then_takes_the_slot() -> None:
    """The slot goes to the waiter whose turn it is; another asking waits half an interval
    (at most 50 ms) for it, and takes it if the chosen one has not come."""
    chosen = Waiter("b", 10, spent=0, polled=99.9, wants=True)  # interactive, waiting
    turn = take_turn(None, "a", 1, [chosen], now=100.0, ready=100.0, interval=2)
    assert not turn.take and turn.wait == pytest.approx(GRACE)
    late = take_turn(turn.me, "a", 1, [chosen], now=100.06, ready=100.0, interval=2)
    assert late.take
    assert grace(0.05) == pytest.approx(0.025)  # 360Learning v2's pace: half an interval
    silent = Waiter("b", 10, spent=0, polled=100.0 - LIVE - 0.1, wants=True)
    assert take_turn(None, "a", 1, [silent], now=100.0, ready=100.0, interval=2).take


def test_time_away_earns_no_credit() -> None:
    """A run back from a long request (or new) starts level with the live run that has spent
    least: it gets the next slot, then the two alternate; it does not take back the twenty
    slots the other took meanwhile."""
    other = Waiter("b", 1, spent=20, polled=99.9, served=99.0, wants=True)
    back = Waiter("a", 1, spent=0, polled=50.0, served=50.0, wants=False)
    turn = take_turn(back, "a", 1, [other], now=100.0, ready=100.0, interval=1)
    assert turn.take and turn.me.spent == 21
    again = take_turn(turn.me, "a", 1, [other], now=101.0, ready=101.0, interval=1)
    assert not again.take, "then it is the other's turn"
    frozen = Waiter("a", 1, spent=0, polled=100.0 - LIVE - 1, served=50.0, wants=True)
    thawed = take_turn(frozen, "a", 1, [other], now=100.0, ready=100.0, interval=1)
    assert thawed.me.spent == 21, "a waiter silent for LIVE seconds starts level too"


def test_shares_count_from_each_runs_first_recent_call() -> None:
    """A run's share is its part of the calls since its first among the latest; one with none
    yet gets what its weight promises among the waiting runs."""
    calls = [(1, "b"), (2, "b"), (3, "a"), (4, "b"), (5, "a"), (6, "a")]
    found = shares([("a", 10, True), ("b", 1, True), ("c", 10, True), ("d", 1, False)], calls)
    assert found["a"] == pytest.approx(3 / 4)
    assert found["b"] == pytest.approx(3 / 6)
    assert found["c"] == pytest.approx(10 / 21)
    assert found["d"] == 0


# --- Simulated runs on a real schedule --------------------------------------------------------


@dataclass
class Run:
    """One simulated run: its rows, when it starts, how long an answer takes, its calls."""

    slots: Slots
    rows: int
    start: float = 0.0
    latency: float = 0.3
    dies: float | None = None  # killed at its first wait from then on (kill -9)
    starts: list[float] = field(default_factory=list)
    done: float | None = None


def simulate(
    clock: FakeClock,
    runs: list[Run],
    window: Window | None,
    interval: float,
    until: float,
) -> list[tuple[float, float, int]]:
    """Drive ``runs`` as the pacer would (one request in flight each; a waiting run asks
    again at least every ``POLL_EVERY``) on ``clock`` for ``until`` seconds; every call as
    (start, end, run)."""
    origin = clock.time()
    events: list[tuple[float, int, str, int, int]] = []
    order = itertools.count()
    for n, run in enumerate(runs):
        heapq.heappush(events, (origin + run.start, next(order), "poll", n, 0))
    calls: list[tuple[float, float, int]] = []
    while events:
        at, _, kind, n, call = heapq.heappop(events)
        if at > origin + until:
            break
        clock.advance(at - clock.time())
        run = runs[n]
        if kind == "end":
            run.slots.ended(call)
            calls.append((run.starts[-1], at - origin, n))
            if len(run.starts) == run.rows:
                run.done = at - origin
                continue
            heapq.heappush(events, (at, next(order), "poll", n, 0))
            continue
        ticket, wait = run.slots.take(interval, window)
        if ticket is not None:
            run.starts.append(at - origin)
            heapq.heappush(events, (at + run.latency, next(order), "end", n, ticket))
        elif run.dies is None or at - origin < run.dies:
            pause = min(wait, POLL_EVERY) if wait != float("inf") else 0.05
            heapq.heappush(events, (at + pause, next(order), "poll", n, 0))
        # else: killed while it waits for its turn (its row says so): it never asks again
    return sorted(calls)


@pytest.fixture(params=["sqlite", "postgresql"])
def schedule(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Slots]]:
    """Makes callers of one account's schedule on a fake clock (each its own waiter), on
    this machine's SQLite file or in PostgreSQL."""
    opened: list[Slots] = []
    store: PostgresStore | None = None
    if request.param == "postgresql":
        store = PostgresStore(str(request.getfixturevalue("pg_url")))

    def make(clock: FakeClock, share: Share | None = None) -> Slots:
        slots: Slots = (
            SharedSlots(tmp_path, "acct", clock) if store is None else PgSlots(store, "acct", clock)
        )
        if share is not None:
            slots.join(share)
        opened.append(slots)
        return slots

    yield make
    for slots in opened:
        slots.close()
    if store is not None:
        store.close()


def alone(window: Window | None, interval: float, latency: float, until: float) -> int:
    """The calls one run alone makes in ``until`` seconds (the pace turns must not lower)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        clock = FakeClock()
        slots = SharedSlots(Path(folder), "acct", clock)
        calls = simulate(
            clock, [Run(slots, rows=100_000, latency=latency)], window, interval, until
        )
        slots.close()
    return len(calls)


def window_kept(calls: list[tuple[float, float, int]], window: Window) -> None:
    """Each call started once the ``use``-th call before it had ended a period ago, and no
    60 s as the vendor could count them (starts) held more than ``use`` calls."""
    for k in range(window.use, len(calls)):
        assert calls[k][0] >= calls[k - window.use][1] + window.period - 1e-6
    starts = [start for start, _, _ in calls]
    for i, start in enumerate(starts):
        inside = sum(1 for t in starts[i : i + window.use + 5] if t < start + window.seconds)
        assert inside <= window.use


def test_a_small_sheet_started_during_a_backfill_goes_first(
    schedule: Callable[..., Slots],
) -> None:
    """Zoho: a 5-row interactive sheet started 10 minutes into a backfill takes the next 5
    slots in a row (done within its rows plus the slot in progress); the backfill's pace is
    back at once, and the window is kept throughout."""
    clock = FakeClock()
    backfill = Run(schedule(clock, Share("backfill")), rows=1000)
    small = Run(schedule(clock, Share("coordinator", interactive=True)), rows=5, start=80.5)
    calls = simulate(clock, [backfill, small], ZOHO, TURN, until=120)
    window_kept(calls, ZOHO)
    assert small.done is not None and small.done - small.start <= 6 * TURN
    mine = [i for i, (_, _, n) in enumerate(calls) if n == 1]
    assert mine == list(range(mine[0], mine[0] + 5)), "its five calls in a row"
    assert len(calls) >= alone(ZOHO, TURN, 0.3, 120) - 1  # nothing lost to the turns


def test_two_and_three_batch_runs_take_turns_one_by_one(schedule: Callable[..., Slots]) -> None:
    """Runs of one class alternate: two, then three (round robin by run); the third's ten
    rows are done in about thirty turns, not after the others' hundreds."""
    clock = FakeClock()
    runs = [
        Run(schedule(clock, Share("a")), rows=1000, latency=0.01),
        Run(schedule(clock, Share("b")), rows=1000, start=2, latency=0.01),
        Run(schedule(clock, Share("c")), rows=10, start=6, latency=0.01),
    ]
    calls = simulate(clock, runs, None, 0.1, until=10)
    takers = [n for start, _, n in calls if start >= 2.5 and start < 6]
    assert all(x != y for x, y in itertools.pairwise(takers)), "two runs alternate"
    third = [n for start, _, n in calls if start >= 6.2][:30]
    for head in range(0, 27, 3):
        assert sorted(third[head : head + 3]) == [0, 1, 2], "three runs, each once in three"
    assert runs[2].done is not None and runs[2].done - runs[2].start <= 31 * 0.1


def test_an_interactive_run_gets_ten_slots_for_a_batch_runs_one(
    schedule: Callable[..., Slots],
) -> None:
    """A large interactive run (a page upload of hundreds of rows) does not starve a
    backfill: 10 slots to 1 while both wait."""
    clock = FakeClock()
    runs = [
        Run(schedule(clock, Share("backfill")), rows=1000, latency=0.02),
        Run(schedule(clock, Share("page", interactive=True)), rows=1000, latency=0.02),
    ]
    calls = simulate(clock, runs, None, 0.1, until=13)
    later = [n for start, _, n in calls if start >= 2]
    assert later.count(1) / len(later) == pytest.approx(10 / 11, abs=0.03)
    assert len(calls) >= alone(None, 0.1, 0.02, 13) - 1


def test_a_waiter_killed_while_waiting_is_forgotten_within_the_grace(
    schedule: Callable[..., Slots],
) -> None:
    """An interactive run killed while it waits for its turn (its row says "waiting") holds
    the backfill back by at most the grace a slot, for at most LIVE seconds; then not at all."""
    clock = FakeClock()
    backfill = Run(schedule(clock, Share("backfill")), rows=1000, latency=0.01)
    killed = Run(schedule(clock, Share("killed", interactive=True)), rows=1000, start=1.0, dies=2.0)
    calls = simulate(clock, [backfill, killed], None, 0.1, until=8)
    assert killed.starts, "it took slots before it died"
    died = killed.starts[-1]
    after = [start for start, _, n in calls if n == 0 and start > died]
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert max(gaps) <= 0.1 + grace(0.1) + 1e-6
    assert max(gaps) > 0.1 + grace(0.1) / 2, "the dead waiter was chosen, and waited for"
    steady = [b - a for a, b in itertools.pairwise(t for t in after if t > died + LIVE + 0.2)]
    assert max(steady) == pytest.approx(0.1, abs=1e-6)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_zoho_limit_holds_over_a_simulated_hour_of_runs_coming_and_going(
    tmp_path: Path, seed: int
) -> None:
    """An hour of a backfill on Zoho with runs coming and going (small sheets, another batch,
    one killed mid-wait), answers taking 0.1-1.5 s: every call keeps the window (no 60 s
    holds more than 27), and the account's pace is that of one run alone."""
    import random

    draw = random.Random(seed)
    clock = FakeClock()
    runs = [Run(SharedSlots(tmp_path, "acct", clock), rows=10_000, latency=0.4)]
    for minute in range(2, 50, 6):
        kind = draw.choice(["small", "batch", "killed"])
        slots = SharedSlots(tmp_path, "acct", clock)
        slots.join(Share(f"{kind} {minute}", interactive=kind != "batch"))
        runs.append(
            Run(
                slots,
                rows=draw.randint(1, 8) if kind != "batch" else 30,
                start=minute * 60 + draw.uniform(0, 30),
                latency=draw.uniform(0.1, 1.5),
                dies=minute * 60 + 40 if kind == "killed" else None,
            )
        )
    calls = simulate(clock, runs, ZOHO, TURN, until=3600)
    window_kept(calls, ZOHO)
    assert len(calls) >= alone(ZOHO, TURN, 0.4, 3600) * 0.98  # slower answers: a little less
    for run in runs[1:]:
        if run.dies is None:
            assert run.done is not None, "every sheet that lived was done within the hour"
    for run in runs:
        run.slots.close()


# --- Who shares the account -------------------------------------------------------------------


def test_sharing_lists_live_runs_with_their_class_and_share(
    schedule: Callable[..., Slots],
) -> None:
    """sharing() names each live run, its class and its share of the latest calls; a run that
    closed its schedule is gone at once."""
    clock = FakeClock()
    backfill = Run(schedule(clock, Share("backfill")), rows=1000, latency=0.01)
    page = Run(schedule(clock, Share("page", interactive=True)), rows=1000, latency=0.01)
    simulate(clock, [backfill, page], None, 0.1, until=6)
    seen = {s.run: s for s in page.slots.sharing()}
    assert set(seen) == {"backfill", "page"}
    assert seen["page"].interactive and seen["page"].mine and not seen["backfill"].mine
    assert seen["page"].share == pytest.approx(10 / 11, abs=0.05)
    assert seen["backfill"].share == pytest.approx(1 / 11, abs=0.05)
    page.slots.close()
    assert [s.run for s in backfill.slots.sharing()] == ["backfill"]


_JOINED = """
import sys, time
from importer.core.clock import SystemClock
from importer.sending.ports import Share
from importer.store import open_store
slots = open_store(sys.argv[1]).slots("acct", SystemClock())
slots.join(Share("doomed", interactive=True))
print(slots.take(0.01, None)[0], flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_run_killed_with_kill_9_leaves_the_sharing_list_at_once(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    """kill -9: its row stays behind, but its process is gone (its pid on this machine; its
    mark in PostgreSQL), so sharing() leaves it out without waiting to forget it."""
    from importer.core.clock import SystemClock
    from importer.store import open_store

    url = f"sqlite:{tmp_path}" if kind == "sqlite" else str(request.getfixturevalue("pg_url"))
    child = subprocess.Popen(
        [sys.executable, "-c", _JOINED, url], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    store = open_store(url)
    try:
        assert child.stdout is not None and child.stdout.readline().strip().isdigit()
        slots = store.slots("acct", SystemClock())
        assert [s.run for s in slots.sharing()] == ["doomed"]
        child.kill()
        child.wait(10)
        # SQLite: its pid is gone at once; PostgreSQL: its lock is freed when the server sees
        # the connection closed, a moment later (waited for, not assumed).
        until("the killed run leaves the list", lambda: not slots.sharing(), 10)
        slots.close()
    finally:
        child.kill()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
        store.close()
