"""The rate schedule and the tokens of an account, shared through PostgreSQL by every host.

:class:`PgSlots` keeps :class:`importer.store.slots.SharedSlots`' rules (the next free slot, a
pause with its reason, the window on call start and end times) in two tables. Taking a slot
is one transaction that locks the account's schedule row (``SELECT … FOR UPDATE``): a second
host asking at the same moment waits for the first to commit, then sees its call, so two
hosts never take the same slot. Times are the database server's clock, the one clock every
host shares (hosts' own clocks may disagree by more than a slot).
"""

from __future__ import annotations

import math
import secrets
from typing import TYPE_CHECKING, Any

import psycopg

from importer.store.migrations import lock_key
from importer.store.postgres import CONNECT

if TYPE_CHECKING:
    from importer.sending.throttle import Window
    from importer.store.postgres import PostgresStore

__all__ = ["PgSlots", "PgTokens"]

_NOW = "extract(epoch FROM clock_timestamp())::float8"

#: Calls kept per account when no window needs more (for status and debugging only).
_KEEP = 64


class PgSlots:
    """One account's call schedule in the store (see the module docstring)."""

    #: A call with no recorded end after this long belongs to a host that died (when its
    #: caller's mark cannot tell: a call recorded before schema version 3).
    STALE = 120.0

    def __init__(self, store: PostgresStore, account: str) -> None:
        self.store, self.account = store, account
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

    def take(self, interval: float, window: Window | None) -> tuple[int | None, float]:
        """Take a slot now if the schedule allows: ``(call id, 0)``, else ``(None, seconds)``."""
        with self.store.connection() as conn, conn.transaction():
            found = conn.execute(
                "SELECT next, paused FROM importer_slots WHERE account = %s FOR UPDATE",
                (self.account,),
            ).fetchone()
            assert found is not None
            next_free, paused = float(found[0]), float(found[1])
            # The time is read once the row is ours: read with it, it could be from before
            # a wait for another host's transaction, and the slot would start in the past.
            clock = conn.execute(f"SELECT {_NOW}").fetchone()
            assert clock is not None
            now = float(clock[0])
            ready = max(now, next_free, paused)
            if window is not None:
                ready = max(ready, self._window_ready(conn, window, now))
            if ready > now:
                return None, ready - now
            call = conn.execute(
                "INSERT INTO importer_calls (account, start, owner) VALUES (%s, %s, %s)"
                " RETURNING id",
                (self.account, now, self.owner),
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
        return int(call[0]), 0.0

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
            conn.execute(f'UPDATE importer_calls SET "end" = {_NOW} WHERE id = %s', (call,))

    def pause_for(self, seconds: float, reason: str = "") -> None:
        """No call from any host for ``seconds``."""
        with self.store.connection() as conn:
            conn.execute(
                f"UPDATE importer_slots SET reason = CASE WHEN {_NOW} + %s > paused THEN %s"
                f" ELSE reason END, paused = GREATEST(paused, {_NOW} + %s) WHERE account = %s",
                (seconds, reason, seconds, self.account),
            )

    def pause(self) -> tuple[float, str]:
        """Seconds left of the current pause (0 if none) and its reason."""
        with self.store.connection() as conn:
            found = conn.execute(
                f"SELECT paused - {_NOW}, reason FROM importer_slots WHERE account = %s",
                (self.account,),
            ).fetchone()
        assert found is not None
        return max(float(found[0]), 0.0), str(found[1])

    def close(self) -> None:
        """Give up the caller's mark (the store's pool belongs to the store)."""
        self._mark.close()


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
