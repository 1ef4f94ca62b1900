"""Pace requests under a vendor's rate limit, on an injectable clock.

A :class:`Pacer` spaces calls at least ``1 / rate`` seconds apart, which
keeps any window of ``period`` seconds at or under ``rate * period`` calls
(Zoho: one call every 2 s is never more than 30 in any 60 s) and makes the
progress bar's ETA honest from the first row. It can also be paused until a
time (a lock, a ``Retry-After``), and made adaptive: halve the rate on a 429,
creep back up after a run of successes (360Learning's 10 writes/s is shared
with the customer's other integrations, so we start below it).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from importer.clock import Clock
from importer.files import touch_private

__all__ = ["Pacer", "PacerStopped", "RatePolicy", "SharedSlots"]


class PacerStopped(Exception):
    """Raised by :meth:`Pacer.acquire` once :meth:`Pacer.stop` was called: send nothing more."""


@dataclass(frozen=True)
class RatePolicy:
    """How fast a vendor may be called.

    Attributes:
        rate: calls per second to start at (``None``: unlimited).
        ceiling: the most calls per second ever made (``None``: ``rate``).
        floor: the fewest calls per second after slowing down.
        adaptive: slow down on 429 and speed up again when it clears.
        description: the documented limit in words, for messages.
    """

    rate: float | None
    ceiling: float | None = None
    floor: float = 0.2
    adaptive: bool = False
    description: str = ""

    def capped(self, rate: float | None) -> RatePolicy:
        """This policy with a user's ceiling (``--rate``) applied."""
        if rate is None:
            return self
        start = min(self.rate, rate) if self.rate else rate
        if self.adaptive:
            start = max(start, rate * 0.8)  # a ceiling set on purpose: start close to it
        return RatePolicy(start, rate, self.floor, self.adaptive, self.description)


class SharedSlots:
    """One account's call schedule, shared by every importer process on the machine.

    A tiny SQLite file per account (vendor, host and credential identity, hashed)
    holds the time of the next free slot and any pause (a lock, a Retry-After).
    Reserving a slot is one ``BEGIN IMMEDIATE`` transaction, so two processes
    never take the same one: a nightly job and a coordinator's upload on the
    same Zoho account share its 30 calls a minute instead of doubling them.
    Times are wall-clock (``clock.time()``), the only clock processes share.
    """

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
        self.db.execute("INSERT OR IGNORE INTO slots VALUES (1, 0, 0)")
        self._lock = threading.Lock()

    @staticmethod
    def default_folder() -> Path:
        """``$IMPORTER_STATE_DIR``, else the user's cache folder."""
        explicit = os.environ.get("IMPORTER_STATE_DIR")
        if explicit:
            return Path(explicit)
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(cache) / "session-importer"

    def reserve(self, interval: float) -> float:
        """Take the next free slot (a wall-clock time) and move the schedule on."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                next_free, paused = self.db.execute("SELECT next, paused FROM slots").fetchone()
                slot = max(self.clock.time(), next_free, paused)
                self.db.execute("UPDATE slots SET next = ?", (slot + interval,))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return float(slot)

    def pause_for(self, seconds: float) -> None:
        """No call from any process for ``seconds``."""
        with self._lock:
            until = self.clock.time() + seconds
            self.db.execute("UPDATE slots SET paused = MAX(paused, ?)", (until,))

    def close(self) -> None:
        with self._lock:
            self.db.close()


class Pacer:
    """Thread-safe pacing of calls (see the module docstring)."""

    #: Successes in a row before the rate creeps up.
    RECOVER_AFTER = 20

    def __init__(self, policy: RatePolicy, clock: Clock, shared: SharedSlots | None = None) -> None:
        self.policy = policy
        self.clock = clock
        self.shared = shared
        self.rate = policy.rate
        self._next = 0.0
        self._paused_until = 0.0
        self._streak = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    #: Adaptive policies keep 2% below the rate: at a shared limit's edge, clock jitter
    #: between us and the vendor would otherwise turn some calls into 429s.
    HEADROOM = 0.98

    @property
    def interval(self) -> float:
        """Seconds between two calls at the current rate."""
        if not self.rate:
            return 0.0
        return 1.0 / (self.rate * (self.HEADROOM if self.policy.adaptive else 1.0))

    def acquire(self) -> float:
        """Wait for this call's turn; return the seconds waited.

        Raises:
            PacerStopped: the run is stopping (Ctrl-C, a fatal error); do not send.
        """
        if self._stopped.is_set():
            raise PacerStopped
        if self.shared is not None:
            slot, now_of = self.shared.reserve(self.interval), self.clock.time
        else:
            with self._lock:
                now = self.clock.monotonic()
                slot = max(now, self._next, self._paused_until)
                self._next = slot + self.interval
            now_of = self.clock.monotonic
        waited = 0.0
        while True:
            if self._stopped.is_set():
                raise PacerStopped
            left = slot - now_of()
            if left <= 0:
                return waited
            # In slices, so that a stop is noticed within a second even in a 5-minute lock.
            step = min(left, 0.5)
            self.clock.sleep(step)
            waited += step

    def stop(self) -> None:
        """Refuse every further call (waiting ones included)."""
        self._stopped.set()

    def pause_for(self, seconds: float) -> None:
        """No call for ``seconds`` (a lock, a ``Retry-After``, a backoff)."""
        if self.shared is not None:
            self.shared.pause_for(seconds)
            return
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock.monotonic() + seconds)

    def slow_down(self) -> None:
        """A 429: halve the rate (adaptive policies only)."""
        with self._lock:
            self._streak = 0
            if self.policy.adaptive and self.rate:
                self.rate = max(self.rate / 2, self.policy.floor)

    def succeeded(self) -> None:
        """A success: after a run of them, creep back toward the ceiling."""
        with self._lock:
            self._streak += 1
            ceiling = self.policy.ceiling or self.policy.rate
            if (
                self.policy.adaptive
                and self.rate
                and ceiling
                and self._streak >= self.RECOVER_AFTER
            ):
                self._streak = 0
                self.rate = min(self.rate * 1.25, ceiling)
