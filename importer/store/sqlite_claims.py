"""Runs at once on one SQLite journal (issue 25): holders, and row claims.

A run (or an undo) that sends rows of a journal is a *holder* of them (:meth:`Claims.hold`):
a row in the journal's ``holders`` table, alive while its process holds its lock file
(:mod:`importer.store.liveness`). A row is *claimed* before its request leaves
(:meth:`Claims.claim`): inside the journal's group-commit transaction (``BEGIN IMMEDIATE``:
SQLite's one write lock, so no other process changes the row between the check and the
take), it is taken only if its state is still the one the run decided on and no live holder
(but this one) has it in flight; the row's ``holder`` column keeps who holds it, set in the
same statement as its state.

:class:`Claims` is the part of :class:`importer.store.journal.Journal` that does this; it
uses the journal's connection, lock and write queue.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from importer.core.clock import Clock
from importer.core.secret import scrub
from importer.store.base import IN_FLIGHT, Claim, Entry, Holder, holder_label
from importer.store.faults import TranslatingLock
from importer.store.liveness import HeldFile, alive, holder_path, sweep

__all__ = ["COLUMNS", "HOLDERS", "Claims", "Queued", "entry_of"]

#: A row's columns, in :func:`entry_of`'s order (a row's ``holder`` is not part of its record).
COLUMNS = (
    "key, fingerprint, sheet_row, state, created_id, message, attempts, payload, first_seen,"
    " updated"
)

#: Who holds which rows (issue 25): each run or undo that claims rows is a holder, alive while
#: it holds its lock file (:mod:`importer.store.liveness`); a row in flight is held by the
#: holder its ``holder`` column names. Added to journals of earlier versions when opened.
HOLDERS = """
CREATE TABLE IF NOT EXISTS holders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT NOT NULL,
    run INTEGER,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    since REAL NOT NULL
)
"""

_CLAIMED = f"SELECT {COLUMNS}, holder FROM rows WHERE key = ?"

#: A claim waiting for the next write: (ticket, key, expect, state, mark, message, time),
#: the mark being (fingerprint, payload text) when the claim is also the send mark.
Queued = tuple[int, str, str, str, "tuple[str, str] | None", "str | None", float]


class Claims:
    """Holding and claiming rows: a mixin of :class:`importer.store.journal.Journal`."""

    path: Path
    clock: Clock
    db: sqlite3.Connection
    _lock: TranslatingLock
    _queue: threading.Lock
    _claims: list[Queued]
    _claimed: dict[int, Claim]
    _queued: int
    _written: int
    _holder: Holder | None
    _held: HeldFile | None
    _dead: set[int]

    def _write(self) -> None:
        """The journal's group commit (see :meth:`importer.store.journal.Journal._write`)."""
        raise NotImplementedError

    def hold(self, what: str, who: str | None = None, run: int | None = None) -> Holder:
        """Become the holder of the rows this handle claims from now on, alive for as long
        as this process keeps the handle open (its lock file: :mod:`importer.store.liveness`).

        Args:
            what: what messages call it (``run 12``, ``an undo of run 3``).
            who: who started it (the page's user), if known.
            run: the journal's run it works for.
        """
        if self._holder is not None:
            return self._holder
        import socket  # 5 ms that `status`, which reads this module, need not pay (issue 27)

        pid, host = os.getpid(), socket.gethostname()
        label = holder_label(what, who, pid, host)
        with self._lock:
            self._write()
            cursor = self.db.execute(
                "INSERT INTO holders (label, run, pid, host, since) VALUES (?, ?, ?, ?, ?)",
                (label, run, pid, host, self.clock.time()),
            )
        ident = int(cursor.lastrowid or 0)
        self._held = HeldFile(holder_path(self.path, ident))
        self._holder = Holder(ident, run, label)
        sweep(self.path, keep=self._held.path)  # the files killed holders left
        return self._holder

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
        :meth:`importer.store.base.RowStore.claim`): committed before it returns, in the
        group commit of :meth:`sending` (the claims of rows leaving at the same moment
        share one transaction, whose write lock makes each check-and-take atomic)."""
        mark = None
        if print_ is not None and payload is not None:
            mark = (print_, json.dumps(dict(payload), default=str))
        with self._queue:
            self._queued += 1
            mine = self._queued
            self._claims.append((mine, key, expect, state, mark, message, self.clock.time()))
        with self._lock:
            if self._written < mine:  # else a thread that held the lock wrote it with its own
                self._write()
            return self._claimed.pop(mine)

    def busy(self, key: str) -> Holder | None:
        """The live holder (not this handle's) of the row, if the row is in flight."""
        with self._lock:
            self._write()
            found = self.db.execute(_CLAIMED, (key,)).fetchone()
            if found is None:
                return None
            return self._live(str(found[3]), found[10])

    def _live(self, state: str, holder: int | None) -> Holder | None:
        """The holder of a row in ``state``, if it holds it in flight, is not this handle's,
        and lives (the caller holds the connection's lock)."""
        if state not in IN_FLIGHT or holder is None:
            return None
        if self._holder is not None and holder == self._holder.id:
            return None
        if holder in self._dead:
            return None
        if not alive(holder_path(self.path, holder)):
            self._dead.add(holder)
            return None
        found = self.db.execute("SELECT run, label FROM holders WHERE id = ?", (holder,)).fetchone()
        if found is None:
            return Holder(holder, None, f"holder {holder}")
        return Holder(holder, found[0], str(found[1]))

    def _claim_one(self, queued: Queued) -> Claim:
        """Check and take one row, inside the write's transaction."""
        _, key, expect, state, mark, message, now = queued
        found = self.db.execute(_CLAIMED, (key,)).fetchone()
        if found is None:
            return Claim(None, False)
        entry, holder = entry_of(found[:10]), found[10]
        busy = self._live(entry.state, holder)
        if entry.state != expect or busy is not None:
            return Claim(entry, False, busy)
        sets, values = "state = ?, updated = ?, holder = ?", [state, now, self._holder_id()]
        if mark is not None:
            sets += ", fingerprint = ?, payload = ?, attempts = attempts + 1"
            values += list(mark)
        if message is not None:
            sets += ", message = ?"
            values.append(scrub(message))
        self.db.execute(f"UPDATE rows SET {sets} WHERE key = ?", (*values, key))
        return Claim(entry, True)

    def _holder_id(self) -> int | None:
        """This handle's holder's number (``None``: it holds nothing; its marks are nobody's)."""
        return self._holder.id if self._holder is not None else None

    def _claims_tables(self) -> None:
        """Give a journal of an earlier version the holders and each row's holder (once, in
        one transaction: two runs opening it at once add them once)."""
        with self._lock:
            if self._claims_ready():
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if not self._claims_ready():
                    self.db.execute(HOLDERS)
                    columns = {row[1] for row in self.db.execute("PRAGMA table_info(rows)")}
                    if "holder" not in columns:
                        self.db.execute("ALTER TABLE rows ADD COLUMN holder INTEGER")
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def _claims_ready(self) -> bool:
        found = self.db.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'holders'"
        ).fetchone()
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(rows)")}
        return bool(found[0]) and "holder" in columns


def entry_of(row: tuple[Any, ...]) -> Entry:
    """A row's record from its columns (in the ``rows`` table's order)."""
    key, print_, sheet_row, state, created_id, message, attempts, payload, first, updated = row
    return Entry(key, print_, sheet_row, state, created_id, message, attempts,
                 json.loads(payload), first, updated)  # fmt: skip
