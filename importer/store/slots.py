"""One account's call schedule in a small SQLite file, shared by every importer process of
this machine (the embedded store's; the PostgreSQL store's is
:class:`importer.store.pg_shared.PgSlots`).
The rules it keeps are :mod:`importer.sending.throttle`'s.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.core.clock import Clock
from importer.core.files import touch_private

if TYPE_CHECKING:
    from importer.sending.throttle import Window

__all__ = ["SharedSlots"]


#: This machine's name: a call row's pid means something only on the machine that wrote it.
_HOST = socket.gethostname()


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


class SharedSlots:
    """One account's call schedule, shared by every importer process on the machine.

    A tiny SQLite file per account (vendor, host and credential identity, hashed)
    holds the time of the next free slot, any pause (a lock, a Retry-After, with
    its reason) and the start and end of the latest calls, for the window rule.
    Taking a slot is one ``BEGIN IMMEDIATE`` transaction, so two processes never
    take the same one: a nightly job and a coordinator's upload on the same Zoho
    account share its calls instead of doubling them. Times are wall-clock
    (``clock.time()``), the only clock processes share.
    """

    #: A call with no recorded end after this long belongs to a process that died (one of
    #: this machine found dead is closed at once; see ``_window_ready``).
    STALE = 120.0

    def __init__(self, folder: Path, account: str, clock: Clock) -> None:
        name = hashlib.sha256(account.encode()).hexdigest()[:20]
        self.path = folder / f"rate-{name}.sqlite"
        touch_private(self.path)  # folder 0700, file 0600: it names the accounts in use
        self.clock = clock
        self.db = sqlite3.connect(
            str(self.path), timeout=30, isolation_level=None, check_same_thread=False
        )
        self.db.execute("PRAGMA journal_mode=WAL")
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
        """Take a slot now if the schedule allows: ``(call id, 0)``, else ``(None, seconds)``."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                now = self.clock.time()
                next_free, paused = self.db.execute("SELECT next, paused FROM slots").fetchone()
                ready = max(now, next_free, paused)
                if window is not None:
                    ready = max(ready, self._window_ready(window, now))
                if ready > now:
                    self.db.execute("COMMIT")
                    return None, ready - now
                cursor = self.db.execute(
                    "INSERT INTO calls (start, pid, host) VALUES (?, ?, ?)",
                    (now, os.getpid(), _HOST),
                )
                self.db.execute("UPDATE slots SET next = ?", (now + interval,))
                # Only the latest calls matter (the window's); without one, the latest few.
                # Pruned every 32nd call: one statement less a call, and the window reads
                # the latest calls by id whatever lies before them.
                if (cursor.lastrowid or 0) % 32 == 0:
                    self.db.execute(
                        "DELETE FROM calls WHERE id NOT IN"
                        " (SELECT id FROM calls ORDER BY id DESC LIMIT ?)",
                        ((window.use if window else 1) + 1,),
                    )
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return cursor.lastrowid, 0.0

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
        """The answer to call ``call`` arrived (or it failed): the vendor has seen it by now."""
        with self._lock:
            self.db.execute("UPDATE calls SET end = ? WHERE id = ?", (self.clock.time(), call))

    def pause_for(self, seconds: float, reason: str = "") -> None:
        """No call from any process for ``seconds``."""
        with self._lock:
            until = self.clock.time() + seconds
            self.db.execute(
                "UPDATE slots SET reason = CASE WHEN ? > paused THEN ? ELSE reason END,"
                " paused = MAX(paused, ?)",
                (until, reason, until),
            )

    def pause(self) -> tuple[float, str]:
        """Seconds left of the current pause (0 if none) and its reason."""
        with self._lock:
            paused, reason = self.db.execute("SELECT paused, reason FROM slots").fetchone()
        return max(float(paused) - self.clock.time(), 0.0), str(reason)

    def close(self) -> None:
        with self._lock:
            self.db.close()

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
