"""The journal: what happened to every row of a job, durable across crashes.

One SQLite file per job (WAL mode). Each row has a stable key (a column the
user names, such as an external ID, else a fingerprint of the normalised
payload and its target), a state, the vendor's ID or error, attempts and
timestamps. The state ``sending`` is committed *before* a request leaves and
the outcome right after the answer arrives, so a ``kill -9`` at any moment
leaves the journal telling the truth: a row found ``sending`` may or may not
exist at the vendor, and is reconciled before anything is resent.

States: ``pending`` (known, never sent), ``sending`` (a request may be on the
wire), ``created`` (+ ID), ``rejected`` (+ error), ``unknown`` (the answer was
lost). ``synchronous=NORMAL`` makes every commit survive a killed process
(not a power cut, which would need ``FULL`` at about a millisecond a commit).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from importer.clock import Clock, SystemClock
from importer.errors import ConfigurationError, InputError
from importer.files import touch_private

__all__ = ["Entry", "JobLockedError", "Journal", "fingerprint", "row_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    sheet_row INTEGER,
    state TEXT NOT NULL,
    created_id TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    payload TEXT NOT NULL,
    first_seen REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL,
    finished REAL,
    source TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT ''
);
"""


class JobLockedError(InputError):
    """Another run of the same job holds its lock."""


def fingerprint(values: Mapping[str, Any]) -> str:
    """A stable hash of a row's normalised values (what would be sent, and where)."""
    data = json.dumps({k: values[k] for k in sorted(values)}, sort_keys=True, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


def row_key(
    vendor: str, values: Mapping[str, Any], key_field: str | None, raw_key: str | None
) -> str:
    """The row's identity in the journal: the user's key column, else the fingerprint."""
    if key_field and raw_key:
        return f"{vendor}:{key_field}:{raw_key.strip()}"
    return f"{vendor}:fp:{fingerprint(values)}"


@dataclass(frozen=True)
class Entry:
    """One row's record in the journal."""

    key: str
    fingerprint: str
    sheet_row: int | None
    state: str
    created_id: str
    message: str
    attempts: int
    payload: dict[str, Any]
    first_seen: float
    updated: float


class Journal:
    """A job's journal file. Thread-safe: one connection, used under a lock."""

    def __init__(self, path: Path, vendor: str, clock: Clock | None = None) -> None:
        self.path = path
        self.clock = clock or SystemClock()
        touch_private(path)  # 0600 before SQLite creates it (its -wal/-shm files follow suit)
        try:
            self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            raise InputError(f"{path}: not a journal this tool can use ({error}).") from None
        self._lock = threading.Lock()
        known = self.meta("vendor")
        if known is None:
            self.set_meta("vendor", vendor)
        elif known != vendor:
            raise ConfigurationError(
                f"{path} is the journal of a {known} job, not {vendor}; use another --journal."
            )
        self._lock_file: Any = None

    @staticmethod
    def vendor_of(path: Path) -> str:
        """The vendor a journal file belongs to."""
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                found = db.execute("SELECT value FROM meta WHERE key = 'vendor'").fetchone()
        except sqlite3.DatabaseError as error:
            raise InputError(f"{path}: not a journal this tool can use ({error}).") from None
        if not found:
            raise InputError(f"{path}: not a journal this tool can use (no vendor recorded).")
        return str(found[0])

    # --- locking ---------------------------------------------------------------------------

    def lock_job(self, wait: bool = False) -> None:
        """Take the job's lock, so that two runs of it never overlap.

        Raises:
            JobLockedError: another process holds it (and ``wait`` is false).
        """
        touch_private(Path(f"{self.path}.lock"))
        handle = open(f"{self.path}.lock", "a+")  # noqa: SIM115 - held for the run
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise JobLockedError(
                f"another run of this job is in progress ({holder}, journal {self.path}); "
                "wait for it to finish, or run with --wait."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._lock_file = handle

    def unlock_job(self) -> None:
        """Release the job's lock."""
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    # --- rows ------------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        """The record of a row, if the journal knows it."""
        with self._lock:
            found = self.db.execute("SELECT * FROM rows WHERE key = ?", (key,)).fetchone()
        return _entry(found) if found else None

    def entries(self) -> Iterator[Entry]:
        """Every record, in sheet-row order."""
        with self._lock:
            found = self.db.execute("SELECT * FROM rows ORDER BY sheet_row, key").fetchall()
        return (_entry(row) for row in found)

    def remember(self, key: str, print_: str, sheet_row: int, payload: Mapping[str, Any]) -> Entry:
        """Record a row as ``pending`` if new; refresh its sheet row; return its record."""
        now = self.clock.time()
        with self._lock:
            self.db.execute(
                "INSERT INTO rows"
                " (key, fingerprint, sheet_row, state, payload, first_seen, updated)"
                " VALUES (?, ?, ?, 'pending', ?, ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET sheet_row = excluded.sheet_row",
                (key, print_, sheet_row, json.dumps(dict(payload), default=str), now, now),
            )
            found = self.db.execute("SELECT * FROM rows WHERE key = ?", (key,)).fetchone()
        return _entry(found)

    def sending(self, key: str, print_: str, payload: Mapping[str, Any]) -> None:
        """Committed before the request leaves: the row may exist at the vendor from now on."""
        with self._lock:
            self.db.execute(
                "UPDATE rows SET state = 'sending', fingerprint = ?, payload = ?,"
                " attempts = attempts + 1, updated = ? WHERE key = ?",
                (print_, json.dumps(dict(payload), default=str), self.clock.time(), key),
            )

    def outcome(self, key: str, state: str, created_id: str = "", message: str = "") -> None:
        """Committed as soon as the answer (or its loss) is known."""
        with self._lock:
            self.db.execute(
                "UPDATE rows SET state = ?, created_id = ?, message = ?, updated = ? WHERE key = ?",
                (state, created_id, message, self.clock.time(), key),
            )

    def counts(self) -> dict[str, int]:
        """Rows per state."""
        with self._lock:
            found = self.db.execute("SELECT state, COUNT(*) FROM rows GROUP BY state").fetchall()
        return {state: count for state, count in found}

    # --- runs and meta ---------------------------------------------------------------------

    def start_run(self, source: str) -> int:
        with self._lock:
            cursor = self.db.execute(
                "INSERT INTO runs (started, source) VALUES (?, ?)", (self.clock.time(), source)
            )
        return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, summary: Mapping[str, Any]) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE runs SET finished = ?, summary = ? WHERE id = ?",
                (self.clock.time(), json.dumps(dict(summary)), run_id),
            )

    def runs(self) -> list[dict[str, Any]]:
        """Every run of the job, oldest first."""
        with self._lock:
            found = self.db.execute(
                "SELECT id, started, finished, source, summary FROM runs"
            ).fetchall()
        return [
            {"id": i, "started": s, "finished": f, "source": src, "summary": json.loads(m or "{}")}
            for i, s, f, src, m in found
        ]

    def meta(self, key: str) -> str | None:
        with self._lock:
            found = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(found[0]) if found else None

    def set_meta(self, key: str, value: str) -> None:
        """Record a fact about the job (vendor, target host)."""
        with self._lock:
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def close(self) -> None:
        """Release the lock and close the file."""
        self.unlock_job()
        with self._lock:
            self.db.close()


def _entry(row: tuple[Any, ...]) -> Entry:
    key, print_, sheet_row, state, created_id, message, attempts, payload, first, updated = row
    return Entry(key, print_, sheet_row, state, created_id, message, attempts,
                 json.loads(payload), first, updated)  # fmt: skip
