"""The rate schedule and the tokens of an account, shared through PostgreSQL by every host.

:class:`PgSlots` keeps :class:`importer.store.slots.SharedSlots`' rules (the next free slot, a
pause with its reason, the window on call start and end times) in two tables. Taking a slot
is one transaction that locks the account's schedule row (``SELECT … FOR UPDATE``): a second
host asking at the same moment waits for the first to commit, then sees its call, so two
hosts never take the same slot. Times are the database server's clock, the one clock every
host shares (hosts' own clocks may disagree by more than a slot).

The runs waiting at once take turns (:mod:`importer.store.turns`, the same rules as on one
machine): a row per caller in ``importer_waiters``, decided in the transaction that holds
the schedule's row.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import psycopg

from importer.sending.ports import Share, Sharer, schedule_id
from importer.store import StoreUnavailableError
from importer.store.migrations import lock_key
from importer.store.postgres import CONNECT
from importer.store.turns import (
    FORGET,
    LIVE,
    PUBLISH_EVERY,
    RECENT,
    Waiter,
    in_progress,
    take_turn,
    worth_storing,
)

if TYPE_CHECKING:
    from importer.core.clock import Clock
    from importer.sending.throttle import Window
    from importer.store.postgres import PostgresStore

__all__ = ["PgSlots", "PgTokens", "runs_in_progress"]

_NOW = "extract(epoch FROM clock_timestamp())::float8"
#: The time: the server's, unless a test gave a clock (its reading is the parameter).
_AT = f"COALESCE(%s::float8, {_NOW})"

#: Calls kept per account when no window needs more (the runs' shares are measured on them).
_KEEP = RECENT
#: A waiter's row as :func:`importer.store.turns.in_progress` reads it.
_ROW = (
    "account, token, run, interactive, weight, polled, wants, behind, who, journal, run_id,"
    " label AS account_label, done, rows_left AS left, eta, owner, COALESCE(seen, polled) AS seen"
)


class PgSlots:
    """One account's call schedule in the store (see the module docstring)."""

    #: A call with no recorded end after this long belongs to a host that died (when its
    #: caller's mark cannot tell: a call recorded before schema version 3).
    STALE = 120.0

    def __init__(self, store: PostgresStore, account: str, clock: Clock | None = None) -> None:
        """The schedule of ``account`` in ``store``; ``clock``: for tests only, a clock to
        read instead of the server's (every host must then share it)."""
        self.store, self.account, self._clock = store, account, clock
        self.token = secrets.token_hex(8)
        self.share = Share(run=f"{socket.gethostname()} pid {os.getpid()}")
        self._waiting: set[int] = set()  # this process's threads waiting for a slot
        self._guard = threading.Lock()
        # How far the run is, as it last said (publish): written with each of its rows.
        self._done, self._published = 0, -math.inf
        self._left: int | None = None
        self._eta: float | None = None  # seconds left when published, and when (monotonic)
        self._published_at = 0.0
        with self.store.connection() as conn:
            conn.execute(
                "INSERT INTO importer_slots (account) VALUES (%s) ON CONFLICT DO NOTHING",
                (account,),
            )
        # The caller's mark: an advisory lock held by a session of its own for as long as
        # this schedule is open. The server drops it the moment the process dies (kill -9,
        # a crash: its connection ends), so an open call whose mark is free is a dead
        # caller's, closed at once instead of after STALE seconds (issue 15).
        self._mark = psycopg.connect(store.url, autocommit=True, **CONNECT)
        while True:
            self.owner = lock_key(store.schema, f"caller:{secrets.token_hex(8)}")
            got = self._mark.execute("SELECT pg_try_advisory_lock(%s)", (self.owner,)).fetchone()
            if got is not None and got[0]:
                break

    def _now(self, conn: Any) -> float:
        if self._clock is not None:
            return self._clock.time()
        found = conn.execute(f"SELECT {_NOW}").fetchone()
        assert found is not None
        return float(found[0])

    def _at(self) -> float | None:
        """The time to write (``None``: the server's, read in the statement)."""
        return None if self._clock is None else self._clock.time()

    def take(self, interval: float, window: Window | None) -> tuple[int | None, float]:
        """Take a slot now if the schedule allows and it is this caller's turn: ``(call id,
        0)``, else ``(None, seconds)`` to wait before asking again."""
        thread = threading.get_ident()
        with self.store.connection() as conn, conn.transaction():
            found = conn.execute(
                "SELECT next, paused FROM importer_slots WHERE account = %s FOR UPDATE",
                (self.account,),
            ).fetchone()
            assert found is not None
            next_free, paused = float(found[0]), float(found[1])
            # The time is read once the row is ours: read with it, it could be from before
            # a wait for another host's transaction, and the slot would start in the past.
            now = self._now(conn)
            ready = max(next_free, paused)  # when the slot was freed: for the grace
            if window is not None:
                ready = max(ready, self._window_ready(conn, window, now))
            rows = conn.execute(
                "SELECT token, weight, spent, polled, served, wants, behind"
                " FROM importer_waiters WHERE account = %s AND (polled >= %s OR token = %s)",
                (self.account, now - LIVE, self.token),
            ).fetchall()
            waiters = [Waiter(r[0], r[1], r[2], r[3], r[4], bool(r[5]), bool(r[6])) for r in rows]
            with self._guard:
                backlog = bool(self._waiting - {thread})
            stored = next((w for w in waiters if w.token == self.token), None)
            turn = take_turn(
                stored,
                self.token,
                self.share.weight,
                waiters,
                now=now,
                ready=ready,
                interval=interval,
                backlog=backlog,
            )
            if worth_storing(stored, turn):
                if not turn.take:  # a sign of life, not a call: no need to wait for the disk
                    conn.execute("SET LOCAL synchronous_commit = off")
                self._store(conn, turn.me)
            with self._guard:
                (self._waiting.discard if turn.take else self._waiting.add)(thread)
            if not turn.take:
                return None, turn.wait
            call = conn.execute(
                "INSERT INTO importer_calls (account, start, owner, waiter)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (self.account, now, self.owner, self.token),
            ).fetchone()
            assert call is not None
            conn.execute(
                "UPDATE importer_slots SET next = %s WHERE account = %s",
                (now + interval, self.account),
            )
            keep = max(window.use + 1 if window else 0, _KEEP)
            conn.execute(
                "DELETE FROM importer_calls WHERE account = %s AND id <= (SELECT id FROM"
                " importer_calls WHERE account = %s ORDER BY id DESC OFFSET %s LIMIT 1)",
                (self.account, self.account, keep),
            )
            if int(call[0]) % 32 == 0:
                conn.execute(
                    "DELETE FROM importer_waiters WHERE account = %s"
                    " AND COALESCE(seen, polled) < %s",
                    (self.account, now - FORGET),
                )
        return int(call[0]), 0.0

    def _store(self, conn: Any, me: Waiter) -> None:
        share = self.share
        conn.execute(
            "INSERT INTO importer_waiters (account, token, run, interactive, weight, spent,"
            " polled, served, wants, owner, behind, who, journal, run_id, label, done,"
            " rows_left, eta, seen) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s, %s::float8 + %s::float8, %s)"
            " ON CONFLICT (account, token) DO UPDATE SET run = excluded.run,"
            " interactive = excluded.interactive, weight = excluded.weight,"
            " spent = excluded.spent, polled = excluded.polled, served = excluded.served,"
            " wants = excluded.wants, behind = excluded.behind, who = excluded.who,"
            " journal = excluded.journal, run_id = excluded.run_id, label = excluded.label,"
            " done = excluded.done, rows_left = excluded.rows_left, eta = excluded.eta,"
            " seen = excluded.seen",
            (
                self.account,
                me.token,
                share.run,
                share.interactive,
                me.weight,
                me.spent,
                me.polled,
                me.served,
                me.wants,
                self.owner,
                me.behind,
                share.who,
                share.journal,
                share.run_id,
                share.account,
                self._done,
                self._left,
                me.polled,
                self._seconds_left(),
                me.polled,
            ),
        )

    def _seconds_left(self) -> float | None:
        """The run's time left as it published it, counted down since (``None``: unsaid)."""
        if self._eta is None:
            return None
        return max(self._eta - (time.monotonic() - self._published_at), 0.0)

    def publish(self, done: int, left: int, seconds: float | None) -> None:
        """Say how far this run is: kept with its row, written at most once a
        :data:`~importer.store.turns.PUBLISH_EVERY` (else with its next turn). The end is
        written on the store's clock (hosts' clocks may disagree)."""
        at = time.monotonic()
        with self._guard:
            self._done, self._left, self._eta, self._published_at = done, left, seconds, at
            if at - self._published < PUBLISH_EVERY:
                return
            self._published = at
        # No row yet (no slot asked for): the first poll writes it with these figures. A
        # failed write (the store gone a moment) costs a figure shown, never the run: what
        # the run sends next meets the store's state and says it.
        with (
            contextlib.suppress(StoreUnavailableError, psycopg.Error),
            self.store.connection() as conn,
        ):
            conn.execute(
                f"UPDATE importer_waiters SET done = %s, rows_left = %s, eta = {_AT} + %s::float8,"
                f" seen = {_AT} WHERE account = %s AND token = %s",
                (done, left, self._at(), seconds, self._at(), self.account, self.token),
            )

    def join(self, share: Share) -> None:
        """Take turns as ``share`` says from the next poll on."""
        self.share = share

    def sharing(self) -> list[Sharer]:
        """The runs live on the account, on every host (one whose process died is left out
        at once: its mark is free), with their class and share of the latest calls, who
        they are and how far."""
        with self.store.connection() as conn, conn.transaction():
            now = self._now(conn)
            return _live_runs(conn, now, [self.account], self.token, self.owner)

    def _window_ready(self, conn: Any, window: Window, now: float) -> float:
        found = conn.execute(
            'SELECT id, start, "end", owner FROM importer_calls WHERE account = %s'
            " ORDER BY id DESC OFFSET %s LIMIT 1",
            (self.account, window.use - 1),
        ).fetchone()
        if found is None:
            return now
        call, start, end, owner = int(found[0]), float(found[1]), found[2], found[3]
        if end is None and owner is not None and owner != self.owner:
            # Free mark: its caller died with the request in flight, which reached the
            # vendor before it died, so before now. (Taken for this transaction only.)
            free = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (owner,)).fetchone()
            if free is not None and free[0]:
                end = now
                conn.execute('UPDATE importer_calls SET "end" = %s WHERE id = %s', (now, call))
        if end is None:
            end = start + self.STALE if now - start >= self.STALE else math.inf
        return float(end) + window.period

    def ended(self, call: int) -> None:
        """The answer to call ``call`` arrived (or it failed): the vendor has seen it by now."""
        with self.store.connection() as conn:
            conn.execute(
                f'UPDATE importer_calls SET "end" = {_AT} WHERE id = %s', (self._at(), call)
            )

    def pause_for(self, seconds: float, reason: str = "") -> None:
        """No call from any host for ``seconds``."""
        at = self._at()
        with self.store.connection() as conn:
            conn.execute(
                f"UPDATE importer_slots SET reason = CASE WHEN {_AT} + %s > paused THEN %s"
                f" ELSE reason END, paused = GREATEST(paused, {_AT} + %s) WHERE account = %s",
                (at, seconds, reason, at, seconds, self.account),
            )

    def pause(self) -> tuple[float, str]:
        """Seconds left of the current pause (0 if none) and its reason."""
        with self.store.connection() as conn:
            found = conn.execute(
                f"SELECT paused - {_AT}, reason FROM importer_slots WHERE account = %s",
                (self._at(), self.account),
            ).fetchone()
        assert found is not None
        return max(float(found[0]), 0.0), str(found[1])

    def close(self) -> None:
        """Leave the turns (this caller's row goes) and give up the caller's mark (the
        store's pool belongs to the store)."""
        if self._mark.closed:
            return
        # A store gone: the row is forgotten after FORGET seconds.
        with (
            contextlib.suppress(StoreUnavailableError, psycopg.Error),
            self.store.connection() as conn,
        ):
            conn.execute(
                "DELETE FROM importer_waiters WHERE account = %s AND token = %s",
                (self.account, self.token),
            )
        self._mark.close()


def runs_in_progress(
    store: PostgresStore, schedules: Collection[str] | None = None, clock: Clock | None = None
) -> list[Sharer]:
    """The runs in progress on every account of ``store`` (``schedules``: on those only, by
    :func:`~importer.sending.ports.schedule_id`), on every host: one whose process died is
    left out at once (its mark is free). ``clock``: as :class:`PgSlots`'."""
    with store.connection() as conn, conn.transaction():
        found = conn.execute(f"SELECT {_NOW}").fetchone()
        assert found is not None
        now = clock.time() if clock is not None else float(found[0])
        accounts = [
            str(row[0])
            for row in conn.execute("SELECT DISTINCT account FROM importer_waiters ORDER BY 1")
        ]
        if schedules is not None:
            accounts = [a for a in accounts if schedule_id(a) in schedules]
        return _live_runs(conn, now, accounts)


def _live_runs(
    conn: Any, now: float, accounts: Sequence[str], mine: str = "", own: int | None = None
) -> list[Sharer]:
    """The live runs of ``accounts``' schedules (see :func:`runs_in_progress`); ``mine``,
    ``own``: the caller's token and mark, if it is a caller."""
    found: list[Sharer] = []
    for account in accounts:
        cursor = conn.execute(
            f"SELECT {_ROW} FROM importer_waiters WHERE account = %s"
            " AND (owner IS NOT NULL OR COALESCE(seen, polled) >= %s) ORDER BY token",
            (account, now - FORGET),
        )
        names = [column.name for column in cursor.description]
        live = []
        for values in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            owner = row["owner"]
            if owner is not None and owner != own:
                free = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (owner,)).fetchone()
                if free is not None and free[0]:
                    continue  # its process died: its mark is free
            row["account"] = row.pop("account_label")
            live.append(row)
        calls = conn.execute(
            "SELECT id, waiter FROM importer_calls WHERE account = %s ORDER BY id DESC LIMIT %s",
            (account, RECENT),
        ).fetchall()
        found += in_progress(live, calls, now=now, schedule=schedule_id(account), mine=mine)
    return found


class PgTokens:
    """Kept tokens and token requests (:class:`importer.store.tokens.Tokens`) in the store.

    A token at rest is readable by whoever can read the database: give the importer's
    database user its own schema, and let no one else read it.
    """

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    def get(self, account: str) -> tuple[str, float] | None:
        """The kept token and when it should be renewed (wall clock), if any."""
        with self.store.connection() as conn:
            found = conn.execute(
                "SELECT value, expires FROM importer_tokens WHERE account = %s", (account,)
            ).fetchone()
        return (str(found[0]), float(found[1])) if found else None

    def put(self, account: str, value: str, expires: float) -> None:
        """Keep a new token, to be used until ``expires``."""
        with self.store.connection() as conn:
            conn.execute(
                "INSERT INTO importer_tokens (account, value, expires) VALUES (%s, %s, %s)"
                " ON CONFLICT (account) DO UPDATE SET value = excluded.value,"
                " expires = excluded.expires",
                (account, value, expires),
            )

    def forget(self, account: str, value: str) -> None:
        """Forget ``value`` (refused by the vendor), unless another token replaced it."""
        with self.store.connection() as conn:
            conn.execute(
                "DELETE FROM importer_tokens WHERE account = %s AND value = %s", (account, value)
            )

    def requested(self, account: str, at: float) -> None:
        """Record a token request made at ``at``."""
        with self.store.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO importer_token_requests (account, at) VALUES (%s, %s)", (account, at)
            )
            # A day of history is more than any vendor's token window.
            conn.execute("DELETE FROM importer_token_requests WHERE at < %s", (at - 86400,))

    def requests_since(self, account: str, since: float) -> list[float]:
        """When the token requests since ``since`` were made, oldest first."""
        with self.store.connection() as conn:
            found = conn.execute(
                "SELECT at FROM importer_token_requests WHERE account = %s AND at > %s ORDER BY at",
                (account, since),
            ).fetchall()
        return [float(r[0]) for r in found]

    def close(self) -> None:
        """Nothing to close: the store's pool belongs to the store."""
