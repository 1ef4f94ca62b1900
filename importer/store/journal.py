"""The journal: what happened to every row sent to a vendor account, durable across crashes.

One SQLite file (WAL mode) per vendor account by default, under the state folder
(``$IMPORTER_STATE_DIR``, else ~/.cache/session-importer), named after the vendor, the host
and a hash of the account's identity (never a secret): so a sheet saved under another name,
or rows copied into another sheet, are recognised as already created. ``--journal FILE``
gives a job its own journal instead; journals of earlier versions (``NAME.journal.sqlite``
beside the sheet) are read and their rows taken in (:meth:`Journal.absorb`).

Each row has a stable key (a column the user names, such as an external ID, else a
fingerprint of the normalised payload and its target, never the file or the position), a
state, the vendor's ID or error, attempts and timestamps. The state ``sending`` is committed
*before* a request leaves (a group commit: the marks of rows leaving at the same moment share
one transaction, and each request waits for its own), and the answer is written with the
next transaction (the next marks, a read, :meth:`Journal.close`), so a ``kill -9`` at any
moment leaves the journal telling the truth: a row found ``sending`` may or may not exist at
the vendor, and is reconciled before anything is resent. Rows are recorded in bulk
(:meth:`Journal.remember_many`: one transaction for thousands).

States: ``pending`` (known, never sent), ``sending`` (a request may be on the
wire), ``created`` (+ ID), ``rejected`` (+ error), ``unknown`` (the answer was
lost); for changes (:mod:`importer.jobs.changes`, :mod:`importer.jobs.undo`), ``updating`` and
``deleting`` (committed before the update or delete leaves) and ``deleted``.

Runs on one account work at once (issue 25): each run (or undo) is a *holder* of the rows it
sends (:meth:`Journal.hold`: a row in ``holders``, alive while it holds its lock file,
:mod:`importer.store.liveness`), and a row is *claimed* before its request leaves
(:meth:`Journal.claim`: in the group commit's ``BEGIN IMMEDIATE`` transaction, the row
taken only if its state is still the one the run decided on and no live holder has it in
flight; its holder kept in its ``holder`` column). A row a dead holder left in flight is claimed by
the next run and looked up before anything is resent. The journal's whole lock
(:meth:`Journal.lock_job`) is shared by runs and exclusive for what needs the journal to
itself.
``synchronous=NORMAL`` makes every commit survive a killed process (not a power cut,
which would need ``FULL`` at about a millisecond a commit).

A new journal is built beside its path and linked into place whole; a file found at the path
that is not a journal (empty, another program's SQLite database, any other file) is refused
untouched, and SQLite's errors are raised as what they mean: a full disk, damage, not a
journal (:mod:`importer.store.faults`).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from importer.core.clock import Clock, SystemClock
from importer.core.errors import ConfigurationError, InputError
from importer.core.files import touch_private
from importer.core.outcomes import JournalState
from importer.core.secret import scrub
from importer.store.base import (
    EARLIER_ZONES,
    ROW_IDENTITY,
    Claim,
    Entry,
    Holder,
    JobLockedError,
    settings_of_runs,
)
from importer.store.faults import (
    NotAJournalError,
    TranslatingLock,
    check_journal_file,
    check_journal_tables,
    journal_error,
)
from importer.store.liveness import HeldFile
from importer.store.sqlite_claims import COLUMNS, HOLDERS, Claims, Queued, entry_of

__all__ = ["Journal"]

# Keys of earlier versions gave the first of identical rows the suffix "#1"; identical rows
# are now refused as duplicates, so the first one's key is the bare fingerprint.
_KEYS_VERSION = "2"

#: Keys a statement names at most (SQLite's limit on parameters is 32,766 since 3.32).
_CHUNK = 500

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
    updated REAL NOT NULL,
    holder INTEGER
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL,
    finished REAL,
    source TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT ''
);
"""


class Journal(Claims):
    """A job's journal file. Thread-safe: one connection, used under a lock; processes at
    once: each write is a ``BEGIN IMMEDIATE`` transaction (SQLite's one write lock)."""

    def __init__(self, path: Path, vendor: str, clock: Clock | None = None) -> None:
        self.path = path
        self.clock = clock or SystemClock()
        # A file at the path is a journal, or refused: never taken as a new one (a journal
        # whose content was lost would have every row sent again), never given our tables.
        check_journal_file(path)
        if not path.exists():
            _create(path, vendor)
        try:
            self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        except sqlite3.DatabaseError as error:
            raise journal_error(error, path) from None
        try:
            check_journal_tables(path, self.db)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as error:
            self.db.close()
            raise journal_error(error, path) from None
        except NotAJournalError:
            self.db.close()
            raise
        self._lock = TranslatingLock(path)  # the connection's
        # Group commit (see :meth:`sending`): claims, marks and answers wait here for the
        # next write.
        self._queue = threading.Lock()
        self._marks: list[tuple[str, str, float, int | None, str]] = []
        self._answers: list[tuple[str, str, str, float, str]] = []
        self._claims: list[Queued] = []
        self._claimed: dict[int, Claim] = {}  # each written claim's outcome, by ticket
        self._queued = 0  # marks and claims queued so far
        self._written = 0  # marks and claims committed so far
        self._holder: Holder | None = None  # this handle's, once it holds (see hold)
        self._held: HeldFile | None = None
        self._dead: set[int] = set()  # holders found dead (they never come back)
        known = self.meta("vendor")
        if known is None:
            self.set_meta("vendor", vendor)
        elif known != vendor:
            raise ConfigurationError(
                f"{path} is the journal of a {known} job, not {vendor}; use another --journal."
            )
        self._lock_file: Any = None
        # lock_job and unlock_job may run in two threads at once (close() while a timer
        # lets go): the handle is taken under this, then released and closed by its taker
        self._lock_file_taken = threading.Lock()
        self._claims_tables()
        if self.meta("keys") != _KEYS_VERSION:
            with self._lock:
                _upgrade_keys(self.db, "main")
            self.set_meta("keys", _KEYS_VERSION)

    @staticmethod
    def vendor_of(path: Path) -> str:
        """The vendor a journal file belongs to."""
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                found = db.execute("SELECT value FROM meta WHERE key = 'vendor'").fetchone()
        except sqlite3.DatabaseError as error:
            raise journal_error(error, path) from None
        if not found:
            raise InputError(f"{path}: not a journal this tool can use (no vendor recorded).")
        return str(found[0])

    # --- locking ---------------------------------------------------------------------------

    def lock_job(self, wait: bool = False, shared: bool = False) -> None:
        """Take the journal's whole lock: ``shared`` by runs and undos (they work at once,
        each holding the rows it sends: see :meth:`claim`), exclusive by what needs the
        journal to itself (taking in an older journal, ``store copy``; and every run of
        versions before issue 25, which took it exclusive: so they never overlap ours).

        The lock file is ``JOURNAL.lock`` beside the journal: in the state folder for an
        account's journal (never beside a coordinator's sheet), where ``--journal`` says
        otherwise.

        Raises:
            JobLockedError: another process holds it in a way that excludes this one (and
                ``wait`` is false).
        """
        self.unlock_job()
        touch_private(Path(f"{self.path}.lock"))
        handle = open(f"{self.path}.lock", "a+")  # noqa: SIM115 - held for the run
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(handle, mode | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            runs = not shared and _only_shared(handle)
            handle.close()
            if runs:
                raise JobLockedError(
                    f"runs are importing into this journal ({self.path}), and this needs it "
                    "to itself; wait for them to finish, or run with --wait."
                ) from None
            raise JobLockedError(
                f"another process holds this journal whole ({holder}, journal {self.path}: "
                "a store copy, an older journal being taken in, or an import by an earlier "
                "version); wait for it to finish, or run with --wait."
            ) from None
        if not shared:  # a shared lock has many holders: the file names the exclusive one
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
        with self._lock_file_taken:
            self._lock_file = handle

    def unlock_job(self) -> None:
        """Release the journal's whole lock (from any thread, once: a second call at the
        same moment finds it released)."""
        with self._lock_file_taken:
            handle, self._lock_file = self._lock_file, None
        if handle is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_UN)
            finally:
                handle.close()

    # --- rows ------------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        """The record of a row, if the journal knows it."""
        with self._lock:
            self._write()
            found = self.db.execute(f"SELECT {COLUMNS} FROM rows WHERE key = ?", (key,)).fetchone()
        return entry_of(found) if found else None

    def get_many(self, keys: Sequence[str]) -> dict[str, Entry]:
        """The records of the rows of ``keys`` that the journal knows, by key."""
        with self._lock:
            self._write()
            return self._select(keys)

    def _select(self, keys: Sequence[str]) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            for row in self.db.execute(f"SELECT {COLUMNS} FROM rows WHERE key IN ({marks})", chunk):
                found[row[0]] = entry_of(row)
        return found

    def entries(self) -> Iterator[Entry]:
        """Every record, in sheet-row order."""
        with self._lock:
            self._write()
            found = self.db.execute(
                f"SELECT {COLUMNS} FROM rows ORDER BY sheet_row, key"
            ).fetchall()
        return (entry_of(row) for row in found)

    def remember(self, key: str, print_: str, sheet_row: int, payload: Mapping[str, Any]) -> Entry:
        """Record a row as ``pending`` if new; refresh its sheet row; return its record."""
        return self.remember_many([(key, print_, sheet_row, payload)])[0]

    def remember_many(self, rows: Sequence[tuple[str, str, int, Mapping[str, Any]]]) -> list[Entry]:
        """:meth:`remember` for many rows (key, fingerprint, sheet row, payload): one
        transaction, whatever their number (10,000 rows in a few tens of milliseconds)."""
        now = self.clock.time()
        texts = [json.dumps(dict(payload), default=str) for _, _, _, payload in rows]
        with self._lock:
            self._write()
            self.db.execute("BEGIN IMMEDIATE")
            try:
                known = self._select([key for key, _, _, _ in rows])
                self.db.executemany(
                    "INSERT INTO rows"
                    " (key, fingerprint, sheet_row, state, payload, first_seen, updated)"
                    " VALUES (?, ?, ?, 'pending', ?, ?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET sheet_row = excluded.sheet_row",
                    [
                        (k, p, r, text, now, now)
                        for (k, p, r, _), text in zip(rows, texts, strict=True)
                    ],
                )
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
        return [
            replace(known[key], sheet_row=row)
            if key in known
            # A new row's payload is the one given (its cells are strings or None, which the
            # JSON text gives back unchanged).
            else Entry(key, print_, row, JournalState.PENDING, "", "", 0, dict(payload), now, now)
            for key, print_, row, payload in rows
        ]

    def sending(self, key: str, print_: str, payload: Mapping[str, Any]) -> None:
        """Committed before the request leaves: the row may exist at the vendor from now on.

        Group commit: the marks of rows leaving at the same moment (several send threads)
        are committed in one transaction, with the answers recorded since the last one;
        each call returns only once its own mark is committed.
        """
        text = json.dumps(dict(payload), default=str)
        mark = (print_, text, self.clock.time(), self._holder_id(), key)
        with self._queue:
            self._marks.append(mark)
            self._queued += 1
            mine = self._queued
        with self._lock:
            if self._written < mine:  # else a thread that held the lock wrote it with its own
                self._write()

    def outcome(self, key: str, state: str, created_id: str = "", message: str = "") -> None:
        """Committed as soon as the answer (or its loss) is known."""
        self.answered(key, state, created_id, message)
        with self._lock:
            self._write()

    def answered(self, key: str, state: str, created_id: str = "", message: str = "") -> None:
        """Record the answer to a row's request, committed with the next write (the next
        row's ``sending`` mark, a read, :meth:`close`): until then a crash leaves the row
        ``sending``, reconciled by the next run and never resent blindly."""
        # The message may quote a vendor's answer: no secret the process holds is kept.
        entry = (state, created_id, scrub(message), self.clock.time(), key)
        with self._queue:
            self._answers.append(entry)

    def flush(self) -> None:
        """Write the answers recorded since the last write (the end of a run)."""
        with self._lock:
            self._write()

    def _write(self) -> None:
        """Commit every queued answer, claim and mark in one transaction (the caller holds
        the lock).

        ``BEGIN IMMEDIATE``: the write lock first, so that another process writing the same
        file makes this one wait (the busy timeout) instead of failing on a stale snapshot,
        and no other process changes a row between a claim's check and its taking."""
        with self._queue:
            marks, answers, claims = self._marks, self._answers, self._claims
            upto = self._queued
            self._marks, self._answers, self._claims = [], [], []
        if marks or answers or claims:
            done: dict[int, Claim] = {}
            try:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany(
                    "UPDATE rows SET state = ?, created_id = ?, message = ?, updated = ?"
                    " WHERE key = ?",
                    answers,
                )
                for queued in claims:
                    done[queued[0]] = self._claim_one(queued)
                self.db.executemany(
                    "UPDATE rows SET state = 'sending', fingerprint = ?, payload = ?,"
                    " attempts = attempts + 1, updated = ?, holder = ? WHERE key = ?",
                    marks,
                )
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                with self._queue:  # nothing was written: the next write tries them again
                    self._marks[:0], self._answers[:0] = marks, answers
                    self._claims[:0] = claims
                raise
            self._claimed.update(done)
        self._written = upto

    def rewrite(
        self, key: str, print_: str, payload: Mapping[str, Any], state: str, message: str = ""
    ) -> None:
        """Committed once an update is done: the row's values are now ``payload`` (issue 16)."""
        with self._lock:
            self._write()  # answers queued before it are older: they must not come after it
            self.db.execute(
                "UPDATE rows SET state = ?, fingerprint = ?, payload = ?, message = ?, updated = ?"
                " WHERE key = ?",
                (state, print_, json.dumps(dict(payload), default=str), scrub(message),
                 self.clock.time(), key),
            )  # fmt: skip

    def counts(self) -> dict[str, int]:
        """Rows per state."""
        with self._lock:
            self._write()
            found = self.db.execute("SELECT state, COUNT(*) FROM rows GROUP BY state").fetchall()
        return {state: count for state, count in found}

    # --- runs and meta ---------------------------------------------------------------------

    def start_run(self, source: str, settings: Mapping[str, Any] | None = None) -> int:
        """Record a run's start: its input and the settings it reads the sheet with.

        One journal serves many sheets: each run keeps its own time zone, key, result
        path..., for ``report`` and ``export --from-result`` to read the sheet as it did.
        """
        summary = json.dumps({"settings": dict(settings or {})})
        with self._lock:
            cursor = self.db.execute(
                "INSERT INTO runs (started, source, summary) VALUES (?, ?, ?)",
                (self.clock.time(), source, summary),
            )
        return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, summary: Mapping[str, Any]) -> None:
        """Record a run's end and what it did (its settings are kept)."""
        with self._lock:
            found = self.db.execute("SELECT summary FROM runs WHERE id = ?", (run_id,)).fetchone()
            before = json.loads(found[0] or "{}") if found else {}
            self.db.execute(
                "UPDATE runs SET finished = ?, summary = ? WHERE id = ?",
                (self.clock.time(), scrub(json.dumps(before | dict(summary))), run_id),
            )

    def run_settings(
        self, source: Path | None = None, result: Path | None = None
    ) -> dict[str, Any]:
        """The settings of the last run of ``source`` (or that wrote ``result``); else the last."""
        return settings_of_runs(self.runs(), source, result)

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

    def absorbed(self, other: Path) -> bool:
        """Whether the rows of ``other`` were taken in already (or it is this journal)."""
        resolved = other.resolve()
        return resolved == self.path.resolve() or self.meta(f"absorbed:{resolved}") is not None

    def absorb(self, other: Path) -> int:
        """Take in the rows of another journal (an earlier version's per-file one), once.

        Rows this journal already knows are kept as they are. Returns how many were added
        (0 when ``other`` was taken in before, or is of another vendor or host).
        """
        mark = f"absorbed:{other.resolve()}"
        if self.absorbed(other):
            return 0
        try:
            with sqlite3.connect(f"file:{other}?mode=ro", uri=True) as db:
                meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
                rows = db.execute(f"SELECT {COLUMNS} FROM rows").fetchall()
                zones = _zones_of(db, meta)
        except sqlite3.DatabaseError as error:
            raise InputError(f"{other}: not a journal this tool can use ({error}).") from None
        if meta.get("vendor") != self.meta("vendor") or (
            meta.get("target") and meta.get("target") != self.meta("target")
        ):
            return 0
        before = sum(self.counts().values())
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS incoming AS SELECT {COLUMNS} FROM rows LIMIT 0"
            )
            self.db.execute("DELETE FROM temp.incoming")
            self.db.executemany(f"INSERT INTO temp.incoming VALUES ({', '.join('?' * 10)})", rows)
            if meta.get("keys") != _KEYS_VERSION:
                _upgrade_keys(self.db, "temp", "incoming")
            self.db.execute(
                f"INSERT OR IGNORE INTO rows ({COLUMNS}) SELECT {COLUMNS} FROM temp.incoming"
            )
            self.db.execute("COMMIT")
        self.set_meta(mark, str(self.clock.time()))
        taken = sum(self.counts().values()) - before
        if taken:  # rows keyed as that version did: looked for so, in the zones it used
            zones |= set(filter(None, (self.meta(EARLIER_ZONES) or "").split(",")))
            self.set_meta(EARLIER_ZONES, ",".join(sorted(zones)))
            self.set_meta(ROW_IDENTITY, "")
        return taken

    def close(self) -> None:
        """Write what is queued, let go of the rows held and the lock, and close the file."""
        try:
            with self._lock:
                self._write()
        finally:
            if self._held is not None:
                self._held.release()
                self._held = None
            self.unlock_job()
            with self._lock:
                self.db.close()


def _only_shared(handle: Any) -> bool:
    """Whether the lock on ``handle``'s file is held shared only (runs), not exclusive."""
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(handle, fcntl.LOCK_UN)
    return True


def _create(path: Path, vendor: str) -> None:
    """A new journal, built beside ``path`` and linked into place whole: a file found at a
    journal's path is then always a journal (or not ours), never one half made."""
    building = path.with_name(f".{path.name}.{os.getpid()}.new")
    touch_private(building)  # 0600 before SQLite writes it (its -wal/-shm files follow suit)
    try:
        try:
            db = sqlite3.connect(str(building), isolation_level=None)
            try:
                db.executescript(_SCHEMA + HOLDERS)
                db.execute("INSERT INTO meta (key, value) VALUES ('vendor', ?)", (vendor,))
                db.execute("PRAGMA journal_mode=WAL")  # kept in the file's header
            finally:
                db.close()
        except sqlite3.DatabaseError as error:
            raise journal_error(error, path) from None
        try:
            os.link(building, path)  # fails if another run created it meanwhile: theirs stays
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: a rename, if still nobody's
            if not path.exists():
                os.rename(building, path)
    finally:
        building.unlink(missing_ok=True)


def _zones_of(db: sqlite3.Connection, meta: dict[str, str]) -> set[str]:
    """The time zones a journal's runs read sheets in (none recorded: UTC)."""
    found = {meta.get("timezone") or "UTC"}
    try:
        summaries = db.execute("SELECT summary FROM runs").fetchall()
    except sqlite3.OperationalError:  # a journal from before runs were recorded
        return found
    for (summary,) in summaries:
        try:
            settings = json.loads(summary or "{}").get("settings") or {}
        except (ValueError, AttributeError):
            continue
        found.add(str(settings.get("timezone") or "UTC"))
    return found


def _upgrade_keys(db: sqlite3.Connection, schema: str, table: str = "rows") -> None:
    """Earlier keys: the first of identical rows ended in "#1"; it is now the bare key."""
    db.execute(
        f"UPDATE OR IGNORE {schema}.{table} SET key = substr(key, 1, length(key) - 2)"
        " WHERE key LIKE '%#1'"
    )
