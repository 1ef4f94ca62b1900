"""Time, injectable: the real clock by default, a fake one that tests drive.

Everything that waits or measures time (rate windows, locks, token expiry,
retries) takes a :class:`Clock`, so that tests simulate hours in milliseconds.
No other module calls ``time.sleep`` or reads the wall clock directly.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """What the importer and the sandbox need to know about time."""

    def time(self) -> float:
        """Seconds since the epoch (wall clock, for timestamps and JWT ``iat``)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for windows and deadlines)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Wait ``seconds`` without blocking the event loop."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        # asyncio (and ssl under it) loads in the async code that awaits here, which has
        # loaded it already: every command that only reads a clock stays light (issue 27).
        import asyncio

        await asyncio.sleep(max(seconds, 0))


class FakeClock:
    """A clock that only moves when told to (or when something sleeps on it).

    ``sleep`` advances the clock at once instead of waiting, so code that
    sleeps through a 5-minute lock finishes instantly while still observing
    five minutes passing. Safe to share between threads.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = (
            dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC).timestamp() if start is None else start
        )
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        return self.time()

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        with self._lock:
            self._now += max(seconds, 0)

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        self.advance(seconds)
        import asyncio  # see SystemClock.asleep

        await asyncio.sleep(0)
