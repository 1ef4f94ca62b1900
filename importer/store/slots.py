"""One account's call schedule in a small SQLite file, shared by every importer process of
this machine (the embedded store's; the PostgreSQL store's is
:class:`importer.store.pg_shared.PgSlots`).
The rules it keeps are :mod:`importer.sending.throttle`'s; the turns runs take on it,
:mod:`importer.store.turns`'.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.core.clock import Clock
from importer.core.files import touch_private
from importer.sending.ports import Share, Sharer, schedule_id
from importer.store.faults import full_disk, journal_error
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
    from importer.sending.throttle import Window

__all__ = ["SharedSlots"]


#: This machine's name: a call row's pid means something only on the machine that wrote it.
_HOST = socket.gethostname()
#: A waiter row of this machine not written for this long is not shown as in progress even
#: if its process number is alive (the number of a process long gone, given to another).
_SHOWN = 600.0
#: Columns of the waiters' rows added for ``status`` and the page (issue 25), in files
#: written before them too: (name, type).
_PUBLISHED = (
    ("who", "TEXT"),
    ("journal", "TEXT"),
    ("run_id", "INTEGER"),
    ("account", "TEXT"),
    ("done", "INTEGER"),
    ("rows_left", "INTEGER"),
    ("eta", "REAL"),
    ("seen", "REAL"),
    ("behind", "INTEGER"),
)
#: A waiter's row as :func:`importer.store.turns.in_progress` reads it.
_ROW = (
    "token, run, interactive, weight, polled, wants, behind, who, journal, run_id, account,"
    " done, rows_left AS left, eta, pid, host, COALESCE(seen, polled) AS seen"
)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine still runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(0) is all we know
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _booted(clock: Clock) -> float:
    """When this machine started, on ``clock`` (its uptime, suspends included, back from now);
    minus infinity where the system does not say (macOS, Windows: no such floor there)."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is None:
        return -math.inf
    return clock.time() - time.clock_gettime(boottime)


class SharedSlots:
    """One account's call schedule, shared by every importer process on the machine.

    A tiny SQLite file per account (vendor, host and credential identity, hashed)
    holds the time of the next free slot, any pause (a lock, a Retry-After, with
    its reason) and the start and end of the latest calls, for the window rule.
    Taking a slot is one ``BEGIN IMMEDIATE`` transaction, so two processes never
    take the same one: a nightly job and a coordinator's upload on the same Zoho
    account share its calls instead of doubling them. Times are wall-clock
    (``clock.time()``), the only clock processes share.

    Each instance is one waiter (:mod:`importer.store.turns`): the runs waiting at once
    take the free slots in turns (a row each in ``waiters``, the taker of each call in
    ``calls``).
    """

    #: A call with no recorded end after this long belongs to a process that died (one of
    #: this machine found dead is closed at once; see ``_window_ready``).
    STALE = 120.0

    #: Seconds after this process's latest slot within which an answer waits for its next
    #: one to be written (see :meth:`ended`).
    ENDS_WAIT = 0.05

    def __init__(
        self, folder: Path, account: str, clock: Clock, booted: float | None = None
    ) -> None:
        self.schedule = schedule_id(account)
        self.path = folder / f"rate-{self.schedule}.sqlite"
        touch_private(self.path)  # folder 0700, file 0600: it names the accounts in use
        self.clock = clock
        self.db = sqlite3.connect(
            str(self.path), timeout=30, isolation_level=None, check_same_thread=False
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        # A commit survives a killed process without waiting for the disk: every slot taken
        # and every poll of a waiting run (importer.store.turns) would cost an fsync at FULL.
        # A power cut (or the system crashing) may lose the latest commits, calls the vendor
        # did receive: the schedule would under-count them, and a run started right after
        # the reboot could put too many calls in the vendor's window. Those calls were all
        # made before the machine started again, so no slot is given before a period (the
        # window's, else the interval) after it started (``booted``): by then the vendor's
        # window holds none of them. (Losing a pause only costs the vendor's answer again.)
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.booted = _booted(clock) if booted is None else booted
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS slots (id INTEGER PRIMARY KEY CHECK (id = 1),"
            " next REAL NOT NULL, paused REAL NOT NULL)"
        )
        self.db.execute("INSERT OR IGNORE INTO slots (id, next, paused) VALUES (1, 0, 0)")
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(slots)")}
        if "reason" not in columns:  # files written before pauses had a reason
            self.db.execute("ALTER TABLE slots ADD COLUMN reason TEXT NOT NULL DEFAULT ''")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, start REAL NOT NULL,"
            " end REAL)"
        )
        if "pid" not in {row[1] for row in self.db.execute("PRAGMA table_info(calls)")}:
            self.db.execute("ALTER TABLE calls ADD COLUMN pid INTEGER")  # older files
            self.db.execute("ALTER TABLE calls ADD COLUMN host TEXT")
        # Turns (issue 25), in files written before them too.
        if "waiter" not in {row[1] for row in self.db.execute("PRAGMA table_info(calls)")}:
            self.db.execute("ALTER TABLE calls ADD COLUMN waiter TEXT")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS waiters (token TEXT PRIMARY KEY, run TEXT NOT NULL,"
            " interactive INTEGER NOT NULL, weight REAL NOT NULL, spent REAL NOT NULL,"
            " polled REAL NOT NULL, served REAL NOT NULL, wants INTEGER NOT NULL,"
            " pid INTEGER, host TEXT)"
        )
        known = {row[1] for row in self.db.execute("PRAGMA table_info(waiters)")}
        for column, kind in _PUBLISHED:
            if column not in known:
                self.db.execute(f"ALTER TABLE waiters ADD COLUMN {column} {kind}")
        self.token = secrets.token_hex(8)
        # How far the run is, as it last said (publish): written with each of its rows.
        self._done, self._published = 0, -math.inf
        self._left: int | None = None
        self._eta: float | None = None
        self.share = Share(run=f"{_HOST} pid {os.getpid()}")
        self._waiting: set[int] = set()  # this process's threads waiting for a slot
        # Answers arrived and not yet written (see ended): (when, call).
        self._ends: list[tuple[float, int]] = []
        self._took = -math.inf  # when this process last asked for a slot (clock.time())
        self._lock = threading.Lock()

    @staticmethod
    def default_folder() -> Path:
        """``$IMPORTER_STATE_DIR``, else the user's cache folder."""
        explicit = os.environ.get("IMPORTER_STATE_DIR")
        if explicit:
            return Path(explicit)
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(cache) / "session-importer"

    def take(self, interval: float, window: Window | None) -> tuple[int | None, float]:
        """Take a slot now if the schedule allows and it is this caller's turn: ``(call id,
        0)``, else ``(None, seconds)`` to wait before asking again."""
        thread = threading.get_ident()
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self._write_ends()
                now = self._took = self.clock.time()
                next_free, paused = self.db.execute("SELECT next, paused FROM slots").fetchone()
                ready = max(next_free, paused)  # when the slot was freed: for the grace
                # Calls a power cut erased were made before the machine started (see __init__).
                ready = max(ready, self.booted + (window.period if window else interval))
                if window is not None:
                    ready = max(ready, self._window_ready(window, now))
                rows = self.db.execute(
                    "SELECT token, weight, spent, polled, served, wants, behind FROM waiters"
                    " WHERE polled >= ? OR token = ?",
                    (now - LIVE, self.token),
                ).fetchall()
                found = [Waiter(r[0], r[1], r[2], r[3], r[4], bool(r[5]), bool(r[6])) for r in rows]
                stored = next((w for w in found if w.token == self.token), None)
                turn = take_turn(
                    stored,
                    self.token,
                    self.share.weight,
                    found,
                    now=now,
                    ready=ready,
                    interval=interval,
                    backlog=bool(self._waiting - {thread}),
                )
                if worth_storing(stored, turn):
                    self._store(turn.me)
                if not turn.take:
                    self._waiting.add(thread)
                    self.db.execute("COMMIT")
                    return None, turn.wait
                self._waiting.discard(thread)
                cursor = self.db.execute(
                    "INSERT INTO calls (start, pid, host, waiter) VALUES (?, ?, ?, ?)",
                    (now, os.getpid(), _HOST, self.token),
                )
                self.db.execute("UPDATE slots SET next = ?", (now + interval,))
                # Only the latest calls matter (the window's, and the runs' shares). Pruned
                # every 32nd call: one statement less a call, and the window reads the
                # latest calls by id whatever lies before them.
                if (cursor.lastrowid or 0) % 32 == 0:
                    self.db.execute(
                        "DELETE FROM calls WHERE id NOT IN"
                        " (SELECT id FROM calls ORDER BY id DESC LIMIT ?)",
                        (max((window.use if window else 1) + 1, RECENT),),
                    )
                    self.db.execute(
                        "DELETE FROM waiters WHERE COALESCE(seen, polled) < ?", (now - FORGET,)
                    )
                self.db.execute("COMMIT")
            except BaseException as error:
                # SQLite ends the transaction itself on some errors (a full disk, an I/O
                # error): a ROLLBACK then would raise in its place and hide the cause.
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error) and full_disk(error):
                    # said with the file's name, as a journal's is (nothing was sent)
                    raise journal_error(error, self.path, "account's rate schedule") from None
                raise
        return cursor.lastrowid, 0.0

    def _store(self, me: Waiter) -> None:
        share = self.share
        self.db.execute(
            "INSERT INTO waiters (token, run, interactive, weight, spent, polled, served,"
            " wants, pid, host, behind, who, journal, run_id, account, done, rows_left, eta,"
            " seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (token) DO UPDATE SET run = excluded.run,"
            " interactive = excluded.interactive, weight = excluded.weight,"
            " spent = excluded.spent, polled = excluded.polled, served = excluded.served,"
            " wants = excluded.wants, behind = excluded.behind, who = excluded.who,"
            " journal = excluded.journal, run_id = excluded.run_id,"
            " account = excluded.account, done = excluded.done,"
            " rows_left = excluded.rows_left, eta = excluded.eta, seen = excluded.seen",
            (
                me.token,
                share.run,
                int(share.interactive),
                me.weight,
                me.spent,
                me.polled,
                me.served,
                int(me.wants),
                os.getpid(),
                _HOST,
                int(me.behind),
                share.who,
                share.journal,
                share.run_id,
                share.account,
                self._done,
                self._left,
                self._eta,
                me.polled,
            ),
        )

    def publish(self, done: int, left: int, seconds: float | None) -> None:
        """Say how far this run is: kept with its row, written at most once a
        :data:`~importer.store.turns.PUBLISH_EVERY` (else with its next turn)."""
        with self._lock:
            now = self.clock.time()
            self._done, self._left = done, left
            self._eta = None if seconds is None else now + seconds
            if now - self._published < PUBLISH_EVERY:
                return
            self._published = now
            # No row yet (no slot asked for): the first poll writes it with these figures. A
            # failed write (a busy or read-only file) costs a figure shown, never the run.
            with contextlib.suppress(sqlite3.Error):
                self.db.execute(
                    "UPDATE waiters SET done = ?, rows_left = ?, eta = ?, seen = ? WHERE token = ?",
                    (done, left, self._eta, now, self.token),
                )

    def join(self, share: Share) -> None:
        """Take turns as ``share`` says from the next poll on."""
        self.share = share

    def sharing(self) -> list[Sharer]:
        """The runs live on the account (a process of this machine found dead is left out at
        once, another host's after :data:`~importer.store.turns.FORGET` seconds), with their
        class and share of the latest calls, who they are and how far."""
        with self._lock:
            self._write_ends()
            now = self.clock.time()
            return _live_runs(self.db, now, self.schedule, self.token)

    def _window_ready(self, window: Window, now: float) -> float:
        rows = self.db.execute(
            "SELECT id, start, end, pid, host FROM calls ORDER BY id DESC LIMIT 1 OFFSET ?",
            (window.use - 1,),
        ).fetchall()
        if not rows:
            return now
        call, start, end, pid, host = rows[0]
        mine = host == _HOST and pid not in (None, os.getpid())  # (a folder shared by hosts)
        if end is None and mine and not _alive(pid):
            # A process killed with its request in flight (kill -9, a crash): the request
            # reached the vendor before the process died, so before now. Closed as of now,
            # instead of holding every other process back for STALE seconds.
            end = now
            self.db.execute("UPDATE calls SET end = ? WHERE id = ?", (now, call))
        if end is None:
            end = start + self.STALE if now - start >= self.STALE else math.inf
        return float(end) + window.period

    def ended(self, call: int) -> None:
        """The answer to call ``call`` arrived (or it failed): the vendor has seen it by now.

        While this process takes slots one after the other (its threads send back to back),
        written with its next slot, in that slot's transaction: one transaction a call
        instead of two (issue 27). At once when it took none for :data:`ENDS_WAIT` seconds
        (the next one may be far off: a paced vendor, the run's last rows), else by the next
        slot, :meth:`sharing`, :meth:`pause`, :meth:`pause_for` or :meth:`close`, whichever
        comes first. Until then the call reads as still on the wire to other processes, which
        holds their window back, never lets a call too many through; the time written is the
        answer's; a process killed meanwhile has its open calls closed as of then by the next
        one (:meth:`_window_ready`).
        """
        with self._lock:
            now = self.clock.time()
            self._ends.append((now, call))
            if not now - self.ENDS_WAIT < self._took <= now:
                self._write_ends()

    def _write_ends(self) -> None:
        """Write the answers :meth:`ended` noted (the caller holds the lock)."""
        if self._ends:
            self.db.executemany("UPDATE calls SET end = ? WHERE id = ?", self._ends)
            self._ends = []

    def pause_for(self, seconds: float, reason: str = "") -> None:
        """No call from any process for ``seconds``."""
        with self._lock:
            self._write_ends()
            until = self.clock.time() + seconds
            self.db.execute(
                "UPDATE slots SET reason = CASE WHEN ? > paused THEN ? ELSE reason END,"
                " paused = MAX(paused, ?)",
                (until, reason, until),
            )

    def pause(self) -> tuple[float, str]:
        """Seconds left of the current pause (0 if none) and its reason."""
        with self._lock:
            self._write_ends()
            paused, reason = self.db.execute("SELECT paused, reason FROM slots").fetchone()
        return max(float(paused) - self.clock.time(), 0.0), str(reason)

    def close(self) -> None:
        """Leave the turns (this caller's row goes) and close the file."""
        with self._lock:
            # A busy or read-only file: the row is forgotten after FORGET seconds.
            with contextlib.suppress(sqlite3.Error):
                self._write_ends()
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("DELETE FROM waiters WHERE token = ?", (self.token,))
            self.db.close()

    @staticmethod
    def in_progress(
        folder: Path, clock: Clock, schedules: Collection[str] | None = None
    ) -> list[Sharer]:
        """The runs in progress on every account of ``folder`` (``schedules``: on those
        only, by :func:`~importer.sending.ports.schedule_id`), account by account: read
        only, a file of an older version or being created passed over."""
        found: list[Sharer] = []
        for path in sorted(folder.glob("rate-*.sqlite")) if folder.is_dir() else []:
            schedule = path.stem.removeprefix("rate-")
            if schedules is not None and schedule not in schedules:
                continue
            try:
                db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            except sqlite3.Error:
                continue
            try:
                found += _live_runs(db, clock.time(), schedule)
            except sqlite3.Error:
                pass  # an older file (no published columns: no run of this version on it)
            finally:
                db.close()
        return found

    @staticmethod
    def pauses(folder: Path, clock: Clock) -> list[dict[str, Any]]:
        """Every account's pause still running in ``folder``: file, seconds left, reason."""
        found = []
        for path in sorted(folder.glob("rate-*.sqlite")) if folder.is_dir() else []:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                row = db.execute("SELECT paused, reason FROM slots").fetchone()
            except sqlite3.Error:
                row = None  # a file of an older version, or being created
            finally:
                db.close()
            if row and row[0] > clock.time():
                left = float(row[0]) - clock.time()
                found.append({"file": path.name, "seconds": left, "reason": str(row[1] or "")})
        return found


def _live_runs(db: sqlite3.Connection, now: float, schedule: str, mine: str = "") -> list[Sharer]:
    """The live runs of one schedule file: a row of this machine whose process is gone is
    left out at once; another host's when it has written nothing for
    :data:`~importer.store.turns.FORGET` seconds."""
    cursor = db.execute(
        f"SELECT {_ROW} FROM waiters WHERE COALESCE(seen, polled) >= ? ORDER BY rowid",
        (now - max(FORGET, _SHOWN),),
    )
    names = [column[0] for column in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    live = [r for r in rows if r["token"] == mine or _lives(r, now)]
    calls = db.execute("SELECT id, waiter FROM calls ORDER BY id DESC LIMIT ?", (RECENT,))
    return in_progress(live, calls.fetchall(), now=now, schedule=schedule, mine=mine)


def _lives(row: dict[str, Any], now: float) -> bool:
    """Whether a waiter's process still runs: this machine's, by its process number (within
    :data:`_SHOWN` of its last write); another's, by a write within FORGET seconds."""
    if row["host"] != _HOST or row["pid"] is None:
        return bool(now - float(row["seen"]) <= FORGET)
    return bool(now - float(row["seen"]) <= _SHOWN) and _alive(int(row["pid"]))
