"""Whose turn it is: the runs waiting on one account's schedule share its slots fairly.

Both schedules (:class:`importer.store.slots.SharedSlots`, this machine's;
:class:`importer.store.pg_shared.PgSlots`, many hosts') keep a row per caller (a
*waiter*: one run's process) beside the schedule, and decide every slot with
:func:`take_turn` in the transaction that takes it. The schedule's own rules (the interval,
the window, pauses) say *when* the next slot is free; this says *who* gets it:

* **weighted fair queueing** (self-clocked, by virtual finish time): each waiter has spent
  a virtual time, advanced by ``1 / weight`` a slot it takes; a free slot goes to the live
  waiter whose next slot would finish first, the least recently served among equals. An
  interactive run (weight :data:`~importer.sending.ports.INTERACTIVE_WEIGHT`) so takes ten
  slots for a batch run's one, and runs of a class alternate (round robin). A waiter that
  starts waiting (new, or back from a request on the wire) starts from the account's virtual
  time, the finish of the latest slot taken: time spent away earns no credit;
* **a short grace** (:func:`grace`): the chosen waiter was told to come back when the slot
  is free; one that does not take it within half an interval (50 ms at most) loses it to
  whoever asks next, so a slow or dead waiter costs the others at most that a slot;
* **liveness**: a waiter polls at least every half second while it waits (the pacer's
  slices, :data:`~importer.sending.throttle.POLL_EVERY`) and writes a sign of life at least
  every :data:`HEARTBEAT`; one silent for :data:`LIVE` seconds is no longer waited for (a
  process killed with ``kill -9``, a crash), and its row is deleted after :data:`FORGET`
  seconds (or when its schedule is closed, at the end of a run). A dead waiter so holds the
  others back by at most the grace a slot, for at most :data:`LIVE` seconds.

One waiter alone is always chosen: its pace is the schedule's, as before turns existed.

Each row also says who the run is and how far it is (:meth:`~importer.sending.ports.Slots.publish`),
and whether it waits for another run's turn (``behind``): what ``status`` and the page show
of the runs in progress on an account (:func:`in_progress`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from importer.sending.ports import Sharer
from importer.sending.throttle import POLL_EVERY

__all__ = [
    "FORGET",
    "GRACE",
    "HEARTBEAT",
    "LIVE",
    "PUBLISH_EVERY",
    "RECENT",
    "Decision",
    "Waiter",
    "grace",
    "in_progress",
    "shares",
    "take_turn",
    "worth_storing",
]

#: The most a chosen waiter is waited for once its slot is free (seconds).
GRACE = 0.05
#: A waiter silent this long (seconds) is not waited for: its sign of life comes at least
#: every ``HEARTBEAT + POLL_EVERY`` (a waiting caller asks again at least every
#: ``POLL_EVERY``), so a live one on a loaded machine keeps a second of margin.
LIVE = 5 * POLL_EVERY
#: A waiting caller's row is written at least this often (seconds) when nothing else in it
#: changed: its sign of life (a poll that changes nothing writes nothing more often).
HEARTBEAT = 2 * POLL_EVERY
#: A waiter silent this long (seconds) is deleted (a run between rows or with a request on
#: the wire for longer comes back as a new waiter, with no credit lost that it was owed).
FORGET = 30.0
#: The latest calls kept per account, from which each run's share is measured.
RECENT = 64
#: A run's progress is written at most this often (seconds; its turns' writes aside).
PUBLISH_EVERY = 1.0


@dataclass(frozen=True)
class Waiter:
    """One caller's row beside the schedule.

    Attributes:
        token: the caller's own (random) name.
        weight: slots a turn (:attr:`importer.sending.ports.Share.weight`).
        spent: the virtual time it has used (the finish of its latest slot).
        polled: when it last asked for a slot (the schedule's clock).
        served: when it last took one (0: never).
        wants: waiting for a slot since its last poll.
        behind: at its last poll, the next slot was another waiter's (it waits for its turn).
    """

    token: str
    weight: float
    spent: float
    polled: float
    served: float = 0.0
    wants: bool = False
    behind: bool = False

    @property
    def finish(self) -> float:
        """The virtual time at which its next slot would end."""
        return self.spent + 1.0 / max(self.weight, 1e-9)


@dataclass(frozen=True)
class Decision:
    """What :func:`take_turn` decided.

    Attributes:
        take: the caller takes the slot now.
        wait: else, seconds before it asks again.
        me: the caller's row to store.
    """

    take: bool
    wait: float
    me: Waiter


def grace(interval: float) -> float:
    """How long a free slot is kept for the waiter it goes to: half an interval, at most
    :data:`GRACE` (a whole interval would halve the pace behind a dead waiter)."""
    return min(max(interval, 0.0) / 2, GRACE)


def take_turn(
    stored: Waiter | None,
    token: str,
    weight: float,
    others: Sequence[Waiter],
    *,
    now: float,
    ready: float,
    interval: float,
    backlog: bool = False,
) -> Decision:
    """Decide one poll of the caller ``token`` (see the module docstring).

    Args:
        stored: the caller's row (``None``: its first poll, or forgotten).
        token: the caller.
        weight: its weight now.
        others: the other waiters' rows (any; the silent ones are left out here).
        now: the schedule's clock.
        ready: when the schedule's rules free the next slot (at or before ``now``: free).
        interval: the caller's interval between calls (for the grace).
        backlog: whether other threads of the caller still wait once this one takes a slot
            (it then stays waiting, with no new start).
    """
    live = [w for w in others if w.token != token and now - w.polled <= LIVE]
    # A waiter that starts waiting (new, or back from a request on the wire) starts no
    # earlier than the live waiter that has spent least: no credit for time away; one that
    # kept waiting keeps its place.
    floor = min((w.spent for w in live), default=None)
    me = stored or Waiter(token, weight, floor or 0.0, now)
    kept_waiting = me.wants and now - me.polled <= LIVE  # not frozen or forgotten meanwhile
    spent = me.spent if kept_waiting or floor is None else max(me.spent, floor)
    me = replace(me, weight=weight, spent=spent, polled=now, wants=True)
    chosen = min([me, *(w for w in live if w.wants)], key=lambda w: (w.finish, w.served, w.token))
    kept = 0.0 if chosen.token == token else grace(interval)
    if now < ready + kept:  # not free yet, or kept a moment longer for the chosen waiter
        return Decision(False, ready + kept - now, replace(me, behind=chosen.token != token))
    taken = replace(me, spent=me.finish, served=now, wants=backlog, behind=False)
    return Decision(True, 0.0, taken)


def worth_storing(stored: Waiter | None, decided: Decision) -> bool:
    """Whether a poll's row must be written: anything but the time of a poll made less than
    :data:`HEARTBEAT` seconds after the one stored (a write a poll costs a commit)."""
    me = decided.me
    if stored is None or decided.take:
        return True
    same = (stored.wants, stored.spent, stored.weight, stored.behind) == (
        me.wants,
        me.spent,
        me.weight,
        me.behind,
    )
    return not same or me.polled - stored.polled >= HEARTBEAT


def shares(
    waiters: Sequence[tuple[str, float, bool]], calls: Sequence[tuple[int, str | None]]
) -> dict[str, float]:
    """Each waiter's part of the recent slots: counted among ``calls`` (id, taker; the
    latest :data:`RECENT`) from its first one there; a waiter with none there gets the part
    its weight promises among those waiting, if it waits (else 0).

    Args:
        waiters: (token, weight, waiting) of each live waiter.
        calls: the latest calls, any order.
    """
    ordered = sorted(calls)
    found: dict[str, float] = {}
    waiting = sum(weight for _, weight, wants in waiters if wants) or 1.0
    for token, weight, wants in waiters:
        mine = [i for i, (_, taker) in enumerate(ordered) if taker == token]
        if mine:
            found[token] = len(mine) / (len(ordered) - mine[0])
        else:
            found[token] = weight / waiting if wants else 0.0
    return found


def in_progress(
    rows: Sequence[Mapping[str, Any]],
    calls: Sequence[tuple[int, str | None]],
    *,
    now: float,
    schedule: str,
    mine: str | None = None,
) -> list[Sharer]:
    """The runs in progress on one schedule, from its live waiters' rows (the caller leaves
    out the dead ones) and its latest ``calls``: each with its share (:func:`shares`), its
    progress as it last published it, and whether it waits for its turn now.

    Args:
        rows: each live waiter's row: ``token``, ``run``, ``interactive``, ``weight``,
            ``polled``, ``wants``, ``behind``, ``who``, ``journal``, ``run_id``, ``account``,
            ``done``, ``left`` and ``eta`` (when it expects to end, on the schedule's clock).
        calls: the schedule's latest calls (id, taker).
        now: the schedule's clock.
        schedule: the schedule's opaque name (:func:`~importer.sending.ports.schedule_id`).
        mine: the caller's own token, if it is one of them.
    """
    waiting = {r["token"]: bool(r["wants"]) and now - float(r["polled"]) <= LIVE for r in rows}
    parts = shares([(r["token"], float(r["weight"]), waiting[r["token"]]) for r in rows], calls)
    found = []
    for r in rows:
        eta = r.get("eta")
        left = r.get("left")
        found.append(
            Sharer(
                str(r["run"]),
                bool(r["interactive"]),
                waiting[r["token"]],
                parts[r["token"]],
                r["token"] == mine,
                who=r.get("who") or None,
                journal=str(r.get("journal") or ""),
                run_id=None if r.get("run_id") is None else int(r["run_id"]),
                account=str(r.get("account") or ""),
                schedule=schedule,
                done=int(r.get("done") or 0),
                left=None if left is None else int(left),
                eta=None if eta is None else max(float(eta) - now, 0.0),
                behind=waiting[r["token"]] and bool(r.get("behind")),
            )
        )
    return found
