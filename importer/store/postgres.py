"""The shared store: one PostgreSQL database for every host importing into an account.

What keeps several hosts correct:

* **Runs at once, one row one run** (:mod:`importer.store.pg_claims`): each run holds, on a
  connection of its own, the journal's whole lock *shared* and its own holder's advisory
  lock, for the whole run; a row is claimed (its state, its holder) in one statement before
  its request leaves, and a row in flight for a live holder is not sent by another. A host
  that dies loses its locks the moment its connection closes (``kill -9``: at once, the
  kernel closes the socket; a vanished machine: within about 25 s, by TCP keepalives): the
  rows it left in flight are reconciled by the next claim, on any host, exactly as with the
  SQLite journal. A run whose lock connection dropped (while it lives on) is fenced: a claim
  or mark commits only while its session still holds its lock (checked in the same
  statement), so it stops before sending anything more. What needs the journal to itself
  (``store copy``) takes the whole lock exclusive.
* **Rate slots** (:mod:`importer.store.pg_shared`): one transaction per slot with the
  account's schedule row locked ``FOR UPDATE``, on the database server's clock (the one clock
  all hosts share), so two hosts never take the same slot.
* **Schema**: versioned migrations (:mod:`importer.store.migrations`) applied when a store is
  opened, once, under a transaction-scoped advisory lock.

Connections come from a small pool (psycopg_pool), opened with TCP keepalives.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from importer.core.clock import Clock, SystemClock
from importer.core.errors import ConfigurationError
from importer.core.outcomes import JournalState
from importer.core.secret import scrub
from importer.sending.ports import Sharer
from importer.store import StoreUnavailableError, pg_claims, redact
from importer.store.base import Claim, Entry, Holder, settings_of_runs
from importer.store.migrations import MIGRATIONS, applied_versions, lock_key, migrate

__all__ = ["CONNECT", "PgJournal", "PostgresStore"]

#: Connection options: fail fast when no server answers; notice a vanished peer in ~25 s.
CONNECT: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "application_name": "session-importer",
}

_ROW = (
    "key, fingerprint, sheet_row, state, created_id, message, attempts, payload,"
    " first_seen, updated"
)


class PostgresStore:
    """A PostgreSQL store (see the module docstring); migrated when opened."""

    def __init__(self, url: str, *, pool_size: int = 8, migrate_schema: bool = True) -> None:
        self.url = url
        self.description = redact(url)
        self._slots: list[Any] = []  # the schedules it opened (PgSlots: a cycle, see slots)
        try:
            with psycopg.connect(url, autocommit=True, **CONNECT) as conn:
                found = conn.execute("SELECT current_schema()").fetchone()
                if found is None or found[0] is None:
                    raise ConfigurationError(
                        f"store {self.description}: the schema in its search_path does not "
                        "exist; create it (CREATE SCHEMA …) or use another."
                    )
                self.schema = str(found[0])
                self.applied = migrate(conn, self.schema) if migrate_schema else []
                self.version = max(applied_versions(conn), default=0)
        except psycopg.Error as error:
            raise ConfigurationError(
                f"store {self.description}: cannot use it ({_reason(error)})."
            ) from None
        newest = MIGRATIONS[-1][0]
        if self.version > newest:
            raise ConfigurationError(
                f"store {self.description} has schema version {self.version}; this version "
                f"of the tool knows up to {newest}: upgrade session-importer on this host."
            )
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            open=True,
            timeout=30,
            # A connection the server dropped (a restart, a failover) is replaced, not used.
            check=ConnectionPool.check_connection,
            kwargs={"autocommit": True, **CONNECT},
        )

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection (checked, replaced if the server dropped it); a server that
        stopped answering is a :class:`StoreUnavailableError`, one plain line."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as error:
            raise StoreUnavailableError(
                f"store {self.description} stopped answering ({_reason(error)}); what was "
                "sent is journaled: run again once it is back."
            ) from None

    def now(self) -> float:
        """The database server's clock (seconds since the epoch)."""
        with self.connection() as conn:
            found = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
        assert found is not None
        return float(found[0])

    def journal(self, name: str, vendor: str, clock: Clock | None = None) -> PgJournal:
        """The journal ``name``, created for ``vendor`` if new."""
        return PgJournal(self, name, vendor, clock)

    def slots(self, account: str, clock: Clock) -> Any:
        """The call schedule of ``account``."""
        from importer.store.pg_shared import PgSlots

        made = PgSlots(self, account)
        self._slots.append(made)  # their callers' marks end with the store at the latest
        return made

    def tokens(self, clock: Clock) -> Any:
        """Kept tokens and token requests."""
        from importer.store.pg_shared import PgTokens

        return PgTokens(self)

    def in_progress(self, schedules: Collection[str] | None = None) -> list[Sharer]:
        """The runs in progress on the accounts' schedules (``schedules``: those only, by
        :func:`~importer.sending.ports.schedule_id`), every host's."""
        from importer.store.pg_shared import runs_in_progress

        return runs_in_progress(self, schedules)

    def status(self) -> dict[str, Any]:
        """Schema version, journals (rows per state, lock holder) and paused schedules."""
        with self.connection() as conn:
            journals = []
            for ident, name, vendor in conn.execute(
                "SELECT id, name, vendor FROM importer_journals ORDER BY name"
            ).fetchall():
                counts: dict[str, int] = dict(
                    conn.execute(
                        "SELECT state, COUNT(*) FROM importer_rows WHERE journal_id = %s"
                        " GROUP BY state ORDER BY state",
                        (ident,),
                    ).fetchall()
                )
                holder = conn.execute(
                    "SELECT holder FROM importer_lock_holders WHERE journal_id = %s", (ident,)
                ).fetchone()
                whole = _lock_held(conn, lock_key(self.schema, f"job:{ident}"))
                running = "; ".join(pg_claims.live_holders(self, ident))
                if not running and holder and whole:  # a store copy, an earlier version's run
                    running = str(holder[0])
                journals.append(
                    {"name": name, "vendor": vendor, "rows": counts, "running": running or None}
                )
            paused = conn.execute(
                "SELECT account, paused - extract(epoch FROM clock_timestamp()), reason"
                " FROM importer_slots WHERE paused > extract(epoch FROM clock_timestamp())"
            ).fetchall()
        return {
            "store": self.description,
            "schema_version": self.version,
            "journals": journals,
            "paused": [{"account": a, "seconds": round(s, 1), "reason": r} for a, s, r in paused],
        }

    def close(self) -> None:
        """Close the schedules it opened, and the pool."""
        for slots in self._slots:
            slots.close()
        self.pool.close()


def _reason(error: psycopg.Error) -> str:
    """An error's first line, without the connection string (it may hold a password)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text.replace("\n", " ")[:300]


def _lock_held(conn: Any, key: int) -> bool:
    """Whether some session holds the advisory lock ``key`` exclusively."""
    found = conn.execute(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
        " AND mode = 'ExclusiveLock'"
        " AND classid::bigint = %s AND objid::bigint = %s",
        (key >> 32, key & 0xFFFFFFFF),
    ).fetchone()
    return found is not None


class PgJournal:
    """A journal in the store: the interface of :class:`importer.store.journal.Journal`.

    Thread-safe: each call takes a connection from the store's pool and commits at once.
    """

    def __init__(
        self, store: PostgresStore, name: str, vendor: str, clock: Clock | None = None
    ) -> None:
        self.store, self.name, self.pool = store, name, store.pool
        self.path = name  # what messages call it (a SQLite journal's is its file)
        self.clock = clock or SystemClock()
        #: The run's own connection, holding its locks (see :mod:`importer.store.pg_claims`).
        self.session = pg_claims.Session(self)
        #: The store this journal closes with itself (see :func:`importer.store.open_journal`).
        self.owned: PostgresStore | None = None
        with self.store.connection() as conn:
            conn.execute(
                "INSERT INTO importer_journals (name, vendor, created) VALUES (%s, %s, %s)"
                " ON CONFLICT (name) DO NOTHING",
                (name, vendor, self.clock.time()),
            )
            found = conn.execute(
                "SELECT id, vendor FROM importer_journals WHERE name = %s", (name,)
            ).fetchone()
        assert found is not None
        self.id, known = int(found[0]), str(found[1])
        if known != vendor:
            raise ConfigurationError(
                f"journal {name!r} in {store.description} is the journal of a {known} job, "
                f"not {vendor}; use another --journal."
            )
        if self.meta("vendor") is None:
            self.set_meta("vendor", vendor)

    # --- locking, holding and claiming ----------------------------------------------------

    def lock_job(self, wait: bool = False, shared: bool = False) -> None:
        """Take the journal's whole lock on every host: ``shared`` by runs and undos, which
        work at once (each holding the rows it sends), exclusive by what needs the journal to
        itself (``store copy``). See :mod:`importer.store.pg_claims`.

        Raises:
            JobLockedError: another process holds it in a way that excludes this one, here or
                on another host (and ``wait`` is false).
        """
        self.session.lock_job(wait, shared)

    def unlock_job(self) -> None:
        """Release the journal's whole lock (the rows held stay held until :meth:`close`)."""
        self.session.unlock_job()

    def hold(self, what: str, who: str | None = None, run: int | None = None) -> Holder:
        """Become the holder of the rows this handle claims from now on, alive for as long as
        its session lives (see :mod:`importer.store.pg_claims`)."""
        return self.session.hold(what, who, run)

    def claim(
        self,
        key: str,
        expect: str,
        state: str,
        print_: str | None = None,
        payload: Mapping[str, Any] | None = None,
        message: str | None = None,
    ) -> Claim:
        """Take a row for this handle's holder before a request of it leaves (see
        :meth:`importer.store.base.RowStore.claim`): one statement, fenced.

        Raises:
            JobLockLostError: this handle's session (its hold) was lost.
        """
        mark = (print_, payload) if print_ is not None and payload is not None else None
        return pg_claims.claim(self, key, expect, state, mark, message)

    def busy(self, key: str) -> Holder | None:
        """The live holder (not this handle's) of the row, if the row is in flight."""
        return pg_claims.busy(self, key)

    # --- rows ------------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        """The record of a row, if the journal knows it."""
        with self.store.connection() as conn:
            found = conn.execute(
                f"SELECT {_ROW} FROM importer_rows WHERE journal_id = %s AND key = %s",
                (self.id, key),
            ).fetchone()
        return _entry(found) if found else None

    def entries(self) -> Iterator[Entry]:
        """Every record, in sheet-row order (as the SQLite journal orders them)."""
        with self.store.connection() as conn:
            found = conn.execute(
                f"SELECT {_ROW} FROM importer_rows WHERE journal_id = %s"
                ' ORDER BY sheet_row NULLS FIRST, key COLLATE "C"',
                (self.id,),
            ).fetchall()
        return (_entry(row) for row in found)

    def remember(self, key: str, print_: str, sheet_row: int, payload: Mapping[str, Any]) -> Entry:
        """Record a row as ``pending`` if new; refresh its sheet row; return its record."""
        now = self.clock.time()
        with self.store.connection() as conn:
            found = conn.execute(
                "INSERT INTO importer_rows (journal_id, key, fingerprint, sheet_row, state,"
                " payload, first_seen, updated) VALUES (%s, %s, %s, %s, 'pending', %s, %s, %s)"
                " ON CONFLICT (journal_id, key) DO UPDATE SET sheet_row = excluded.sheet_row"
                f" RETURNING {_ROW}",
                (self.id, key, print_, sheet_row, _json(payload), now, now),
            ).fetchone()
        assert found is not None
        return _entry(found)

    def remember_many(self, rows: Sequence[tuple[str, str, int, Mapping[str, Any]]]) -> list[Entry]:
        """:meth:`remember` for many rows (key, fingerprint, sheet row, payload)."""
        return [self.remember(*row) for row in rows]

    def get_many(self, keys: Sequence[str]) -> dict[str, Entry]:
        """The records of the rows of ``keys`` that the journal knows, by key."""
        return {key: entry for key in keys if (entry := self.get(key)) is not None}

    def sending(self, key: str, print_: str, payload: Mapping[str, Any]) -> None:
        """Committed before the request leaves: the row may exist at the vendor from now on.

        The mark commits only while this handle's session still holds its holder's lock
        (checked in the same statement): a run whose hold was lost sends nothing more.

        Raises:
            JobLockLostError: the session was lost since :meth:`hold` (or :meth:`lock_job`).
        """
        holder = self.session.holder
        self._fenced(
            "UPDATE importer_rows SET state = 'sending', fingerprint = %s, payload = %s,"
            " attempts = attempts + 1, updated = %s, holder = %s"
            " WHERE journal_id = %s AND key = %s",
            (print_, _json(payload), self.clock.time(), holder and holder.id, self.id, key),
        )

    def _fenced(self, update: str, values: tuple[Any, ...]) -> None:
        """Run a mark made before a request leaves, only while this handle's session holds
        its locks (see :meth:`pg_claims.Session.fence`)."""
        fence, args = self.session.fence()
        with self.store.connection() as conn:
            done = conn.execute(update + fence + " RETURNING 1", (*values, *args)).fetchone()
        if done is None and fence and self.session.lost():
            raise self.session.lost_error()

    def outcome(self, key: str, state: str, created_id: str = "", message: str = "") -> None:
        """Committed as soon as the answer (or its loss) is known. The marks made before an
        update or a delete leaves (``updating``, ``deleting``) are fenced as ``sending`` is."""
        update = (
            "UPDATE importer_rows SET state = %s, created_id = %s, message = %s, updated = %s"
            " WHERE journal_id = %s AND key = %s"
        )
        # The message may quote a vendor's answer: no secret the process holds is kept.
        values = (state, created_id, scrub(message), self.clock.time(), self.id, key)
        if state in (JournalState.UPDATING, JournalState.DELETING):
            self._fenced(update, values)
            return
        with self.store.connection() as conn:
            conn.execute(update, values)

    def rewrite(
        self, key: str, print_: str, payload: Mapping[str, Any], state: str, message: str = ""
    ) -> None:
        """Committed once an update is done: the row's values are now ``payload`` (issue 16)."""
        with self.store.connection() as conn:
            conn.execute(
                "UPDATE importer_rows SET state = %s, fingerprint = %s, payload = %s,"
                " message = %s, updated = %s WHERE journal_id = %s AND key = %s",
                (state, print_, _json(payload), scrub(message), self.clock.time(), self.id, key),
            )

    def answered(self, key: str, state: str, created_id: str = "", message: str = "") -> None:
        """The answer to a row's request: committed at once here (see :meth:`outcome`)."""
        self.outcome(key, state, created_id, message)

    def flush(self) -> None:
        """Nothing waits here: every write is committed at once."""

    def counts(self) -> dict[str, int]:
        """Rows per state."""
        with self.store.connection() as conn:
            found = conn.execute(
                "SELECT state, COUNT(*) FROM importer_rows WHERE journal_id = %s GROUP BY state",
                (self.id,),
            ).fetchall()
        return {str(state): int(count) for state, count in found}

    # --- runs and meta ---------------------------------------------------------------------

    def start_run(self, source: str, settings: Mapping[str, Any] | None = None) -> int:
        """Record a run's start and the settings it reads the sheet with (time zone, key…)."""
        summary = json.dumps({"settings": dict(settings or {})})
        with self.store.connection() as conn:
            found = conn.execute(
                "INSERT INTO importer_runs (journal_id, started, source, summary)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (self.id, self.clock.time(), source, summary),
            ).fetchone()
        assert found is not None
        return int(found[0])

    def finish_run(self, run_id: int, summary: Mapping[str, Any]) -> None:
        """Record a run's end and what it did (what its start recorded is kept)."""
        with self.store.connection() as conn, conn.transaction():
            found = conn.execute(
                "SELECT summary FROM importer_runs WHERE id = %s AND journal_id = %s FOR UPDATE",
                (run_id, self.id),
            ).fetchone()
            before = json.loads(found[0] or "{}") if found else {}
            conn.execute(
                "UPDATE importer_runs SET finished = %s, summary = %s WHERE id = %s",
                (self.clock.time(), scrub(json.dumps(before | dict(summary))), run_id),
            )

    def run_settings(
        self, source: Path | None = None, result: Path | None = None
    ) -> dict[str, Any]:
        """The settings of the last run of ``source`` (or that wrote ``result``); else the last."""
        return settings_of_runs(self.runs(), source, result)

    def runs(self) -> list[dict[str, Any]]:
        """Every run of the job, oldest first."""
        with self.store.connection() as conn:
            found = conn.execute(
                "SELECT id, started, finished, source, summary FROM importer_runs"
                " WHERE journal_id = %s ORDER BY id",
                (self.id,),
            ).fetchall()
        return [
            {"id": i, "started": s, "finished": f, "source": src, "summary": json.loads(m or "{}")}
            for i, s, f, src, m in found
        ]

    def meta(self, key: str) -> str | None:
        """A fact recorded about the job, if any."""
        with self.store.connection() as conn:
            found = conn.execute(
                "SELECT value FROM importer_meta WHERE journal_id = %s AND key = %s",
                (self.id, key),
            ).fetchone()
        return str(found[0]) if found else None

    def set_meta(self, key: str, value: str) -> None:
        """Record a fact about the job (vendor, target host)."""
        with self.store.connection() as conn:
            conn.execute(
                "INSERT INTO importer_meta (journal_id, key, value) VALUES (%s, %s, %s)"
                " ON CONFLICT (journal_id, key) DO UPDATE SET value = excluded.value",
                (self.id, key, value),
            )

    def close(self) -> None:
        """Let go of the rows held and the lock; close the store too when this journal
        opened it."""
        self.session.close()
        if self.owned is not None:
            self.owned.close()
            self.owned = None


def _json(payload: Mapping[str, Any]) -> str:
    return json.dumps(dict(payload), default=str)


def _entry(row: Any) -> Entry:
    key, print_, sheet_row, state, created_id, message, attempts, payload, first, updated = row
    return Entry(key, print_, sheet_row, state, created_id, message, attempts,
                 json.loads(payload), first, updated)  # fmt: skip
