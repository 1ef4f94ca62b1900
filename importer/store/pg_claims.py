"""Runs at once on one PostgreSQL journal (issue 25): the run's own session, and row claims.

A run's :class:`Session` is a connection of its own (not the pool's) that holds its locks
for as long as the run lives:

* the journal's **whole lock**, an advisory lock keyed by the journal: taken *shared* by
  runs and undos, which work at once, and *exclusive* by what needs the journal to itself
  (``store copy``);
* its **holder's lock**, a two-key advisory lock (the schema's holder space, the holder's
  number in ``importer_holders``). It is how every host tells whether a holder lives: the
  server drops it when the session ends (``kill -9``: at once; a vanished machine: within
  about 25 s, by TCP keepalives).

A row is claimed (:func:`claim`) in one statement: it takes the row (``FOR UPDATE``) and
sets its state and holder only if the state is still the one expected and no live holder
has it in flight; the claim is fenced by the session (it commits only while this holder's
lock is still held by this session), so a run whose session dropped stops before sending
more, instead of sending rows another host now takes for a dead run's.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import psycopg

from importer.core.secret import scrub
from importer.store import JobLockLostError
from importer.store.base import IN_FLIGHT, Claim, Entry, Holder, JobLockedError, holder_label
from importer.store.migrations import holder_space, lock_key

if TYPE_CHECKING:
    from importer.store.postgres import PgJournal, PostgresStore

__all__ = ["Session", "busy", "claim", "live_holders"]

#: The row's columns, as :func:`importer.store.postgres._entry` reads them.
_COLUMNS = (
    "key",
    "fingerprint",
    "sheet_row",
    "state",
    "created_id",
    "message",
    "attempts",
    "payload",
    "first_seen",
    "updated",
)
_IN_FLIGHT = ", ".join(f"'{state}'" for state in sorted(IN_FLIGHT))


def _alive(column: str) -> str:
    """SQL: the holder in ``column`` lives (its lock is held by some session of this
    database). One parameter: the schema's holder space."""
    return (
        "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE"
        " datname = current_database()) AND classid::bigint = %s"
        f" AND objid::bigint = ({column} & 2147483647))"
    )


class Session:
    """A run's own connection, holding the journal's whole lock and its holder's lock."""

    def __init__(self, journal: PgJournal) -> None:
        self.journal = journal
        self.conn: psycopg.Connection[Any] | None = None
        self.pid: int | None = None  # the session's server process
        self.job: str | None = None  # "shared" or "exclusive" while the whole lock is held
        self.holder: Holder | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        if self.conn is None:
            from importer.store.postgres import CONNECT

            self.conn = psycopg.connect(self.journal.store.url, autocommit=True, **CONNECT)
            self.pid = self.conn.info.backend_pid
        return self.conn

    def _job_key(self) -> int:
        return lock_key(self.journal.store.schema, f"job:{self.journal.id}")

    def lock_job(self, wait: bool, shared: bool) -> None:
        """Take the journal's whole lock (see :meth:`PgJournal.lock_job`)."""
        self.unlock_job()
        key, conn = self._job_key(), self._connect()
        take = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        journal = self.journal
        try:
            while True:
                got = conn.execute(f"SELECT {take}(%s)", (key,)).fetchone()
                if got is not None and got[0]:
                    break
                if not wait:
                    raise JobLockedError(self._refusal(conn, key, shared))
                journal.clock.sleep(0.5)  # polling, so that Ctrl-C stops the wait at once
        except BaseException:
            self._close_if_idle()
            raise
        if not shared:
            conn.execute(
                "INSERT INTO importer_lock_holders (journal_id, holder, since)"
                " VALUES (%s, %s, %s) ON CONFLICT (journal_id) DO UPDATE SET"
                " holder = excluded.holder, since = excluded.since",
                (journal.id, f"pid {os.getpid()} on {socket.gethostname()}", journal.clock.time()),
            )
        self.job = "shared" if shared else "exclusive"

    def _refusal(self, conn: Any, key: int, shared: bool) -> str:
        """Why the whole lock cannot be taken now, in a sentence."""
        journal = self.journal
        where = f"journal {journal.name!r} in {journal.store.description}"
        exclusive = conn.execute(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
            " AND mode = 'ExclusiveLock' AND classid::bigint = %s AND objid::bigint = %s",
            (key >> 32, key & 0xFFFFFFFF),
        ).fetchone()
        if not shared and exclusive is None:
            running = "; ".join(live_holders(journal.store, journal.id)) or "runs"
            return (
                f"runs are importing into this journal ({running}; {where}), and this needs "
                "it to itself; wait for them to finish, or run with --wait."
            )
        found = conn.execute(
            "SELECT holder FROM importer_lock_holders WHERE journal_id = %s", (journal.id,)
        ).fetchone()
        who = found[0] if found else "another host"
        return (
            f"another process holds this journal whole ({who}, {where}: a store copy, or "
            "an import by an earlier version); wait for it to finish, or run with --wait."
        )

    def unlock_job(self) -> None:
        """Release the whole lock (by name: see :meth:`close`)."""
        if self.job is not None and self.conn is not None:
            release = "pg_advisory_unlock_shared" if self.job == "shared" else "pg_advisory_unlock"
            with contextlib.suppress(psycopg.Error):  # a connection already lost holds nothing
                self.conn.execute(f"SELECT {release}(%s)", (self._job_key(),))
        self.job = None
        self._close_if_idle()

    def hold(self, what: str, who: str | None, run: int | None) -> Holder:
        """Become a holder: its row in ``importer_holders``, its lock taken by this session."""
        if self.holder is not None:
            return self.holder
        journal = self.journal
        pid, host = os.getpid(), socket.gethostname()
        label = holder_label(what, who, pid, host)
        conn = self._connect()
        found = conn.execute(
            "INSERT INTO importer_holders (journal_id, label, run, pid, host, since)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (journal.id, label, run, pid, host, journal.clock.time()),
        ).fetchone()
        assert found is not None
        ident = int(found[0])
        space = holder_space(journal.store.schema)
        conn.execute("SELECT pg_advisory_lock(%s, %s)", (space, ident & 0x7FFFFFFF))
        self.holder = Holder(ident, run, label)
        return self.holder

    def fence(self) -> tuple[str, tuple[Any, ...]]:
        """SQL (``AND …``) true only while this session still holds this holder's lock (or,
        for a handle that holds no rows, the journal's whole lock); none when it holds
        neither."""
        lock = (
            " AND EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND pid = %s AND objsubid = %s AND classid::bigint = %s AND objid::bigint = %s)"
        )
        if self.holder is not None:
            space = holder_space(self.journal.store.schema)
            return lock, (self.pid, 2, space, self.holder.id & 0x7FFFFFFF)
        if self.job is not None:
            key = self._job_key()
            return lock, (self.pid, 1, key >> 32, key & 0xFFFFFFFF)
        return "", ()

    def lost(self) -> bool:
        """Whether the locks :meth:`fence` checks are no longer this session's."""
        fence, args = self.fence()
        if not fence:
            return False
        with self.journal.store.connection() as conn:
            found = conn.execute(f"SELECT 1 WHERE TRUE{fence}", args).fetchone()
        return found is None

    def lost_error(self) -> JobLockLostError:
        journal = self.journal
        return JobLockLostError(
            f"this run's hold on journal {journal.name!r} in {journal.store.description} was "
            "lost (its connection dropped): stopped before sending more; run again."
        )

    def _close_if_idle(self) -> None:
        if self.job is None and self.holder is None and self.conn is not None:
            self.conn.close()
            self.conn, self.pid = None, None

    def close(self) -> None:
        """Release every lock by name, then close the connection.

        By name first: the server lets go of a closed connection's locks only when its
        backend has noticed the close, a moment later (under load, long enough for the next
        run to take this one for alive, or to be refused as if it still held the journal)."""
        if self.holder is not None and self.conn is not None:
            space = holder_space(self.journal.store.schema)
            with contextlib.suppress(psycopg.Error):
                self.conn.execute(
                    "SELECT pg_advisory_unlock(%s, %s)", (space, self.holder.id & 0x7FFFFFFF)
                )
        self.holder = None
        self.unlock_job()


def claim(
    journal: PgJournal,
    key: str,
    expect: str,
    state: str,
    mark: tuple[str, Mapping[str, Any]] | None,
    message: str | None,
) -> Claim:
    """Take a row for the journal's holder (see :meth:`importer.store.base.RowStore.claim`):
    one statement when it succeeds."""
    session = journal.session
    holder = session.holder.id if session.holder is not None else None
    sets = ["state = %s", "holder = %s", "updated = %s"]
    args: list[Any] = [state, holder, journal.clock.time()]
    if mark is not None:
        sets += ["fingerprint = %s", "payload = %s", "attempts = r.attempts + 1"]
        args += [mark[0], json.dumps(dict(mark[1]), default=str)]
    if message is not None:
        sets.append("message = %s")
        args.append(scrub(message))
    fence, fenced = session.fence()
    space = holder_space(journal.store.schema)
    old = ", ".join(f"old.{column}" for column in _COLUMNS)
    with journal.store.connection() as conn:
        found = conn.execute(
            f"WITH old AS (SELECT {', '.join(_COLUMNS)}, holder FROM importer_rows"
            " WHERE journal_id = %s AND key = %s FOR UPDATE)"
            f" UPDATE importer_rows r SET {', '.join(sets)} FROM old"
            " WHERE r.journal_id = %s AND r.key = old.key AND old.state = %s"
            # CASE: the lock table is read only for a row in flight (a claim of a pending
            # row, the common one, never scans it).
            f" AND CASE WHEN old.state NOT IN ({_IN_FLIGHT}) OR old.holder IS NULL"
            f" OR old.holder = %s THEN TRUE ELSE NOT {_alive('old.holder')} END"
            f"{fence} RETURNING {old}",
            (journal.id, key, *args, journal.id, expect, holder or -1, space, *fenced),
        ).fetchone()
    if found is not None:
        return Claim(_entry(found), True)
    if session.lost():
        raise session.lost_error()
    entry, busy_ = _looked(journal, key)
    return Claim(entry, False, busy_)


def busy(journal: PgJournal, key: str) -> Holder | None:
    """The live holder (not the journal's own) of the row, if the row is in flight."""
    return _looked(journal, key)[1]


def _looked(journal: PgJournal, key: str) -> tuple[Entry | None, Holder | None]:
    """The row, and its live holder (not the journal's own) if it is in flight."""
    columns = ", ".join(f"r.{column}" for column in _COLUMNS)
    with journal.store.connection() as conn:
        found = conn.execute(
            f"SELECT {columns}, r.holder, h.run, h.label, {_alive('r.holder')}"
            " FROM importer_rows r LEFT JOIN importer_holders h ON h.id = r.holder"
            " WHERE r.journal_id = %s AND r.key = %s",
            (holder_space(journal.store.schema), journal.id, key),
        ).fetchone()
    if found is None:
        return None, None
    entry = _entry(found[:10])
    holder, run, label, alive = found[10:]
    mine = journal.session.holder
    if (
        entry.state not in IN_FLIGHT
        or holder is None
        or not alive
        or (mine is not None and holder == mine.id)
    ):
        return entry, None
    return entry, Holder(int(holder), run, str(label or f"holder {holder}"))


def live_holders(store: PostgresStore, journal_id: int) -> list[str]:
    """What the live holders of a journal are called (for ``store status`` and messages)."""
    with store.connection() as conn:
        found = conn.execute(
            f"SELECT label FROM importer_holders h WHERE journal_id = %s AND {_alive('h.id')}"
            " ORDER BY id",
            (journal_id, holder_space(store.schema)),
        ).fetchall()
    return [str(row[0]) for row in found]


def _entry(row: Any) -> Entry:
    key, print_, sheet_row, state, created_id, message, attempts, payload, first, updated = row
    return Entry(key, print_, sheet_row, state, created_id, message, attempts,
                 json.loads(payload), first, updated)  # fmt: skip
