"""Pace requests under a vendor's rate limit, measured as the vendor can observe it.

A vendor counts our calls on *its* clock, at some moment between the instant
we send a request and the instant its answer reaches us. Spacing sends
exactly ``1 / rate`` apart is not enough: one slow answer (a token fetch, a
new connection) shifts the vendor's view of the first call of a minute, and
a pace of exactly 30 a minute puts the 31st call a few milliseconds inside
that minute (seen against the sandbox in real time: a Zoho lock every 31
calls). So a :class:`Pacer` keeps two rules:

* **a window on actual times** (:class:`Window`): a call may start only when
  the ``use``-th most recent call *ended* (its answer arrived) more than the
  window's period ago. Whatever the jitter, any ``use + 1`` consecutive calls
  then span more than the period as the vendor sees them, so no window it
  can observe holds more than ``use`` calls; ``use`` sits below the
  documented limit for what we cannot see (a colleague's clicks). The proof
  needs no clock shared with the vendor: the calls take their slots in order
  (each at least an interval after the one before), a call reaches the vendor
  after it started and before its answer is back, so of any ``use + 1`` calls
  the latest arrived after the ``use``-th latest call before it started, which
  started no earlier than a period after the earliest one's answer, hence
  after its arrival. It holds for a sliding window, for fixed windows (``use +
  1`` arrivals in one would span less than the period) and for a token bucket,
  and however late the calls leave or arrive (a loaded machine, a slow
  network); the window's ``margin`` is left only for the two clocks
  disagreeing on a second's length and for a vendor's coarse timestamps;
* **an even spacing** of ``1 / rate`` seconds, so that the calls are spread
  over the minute rather than burst, and the ETA is honest from the first row.

It can also be paused (a lock, a ``Retry-After``, a backoff), and made
adaptive (360Learning's 10 writes/s is shared with the customer's other
integrations): halve the rate once per burst of 429s (answers to requests
sent before the last slow-down are the same burst), and recover within
seconds once they clear.

Calls from several processes on one account share one schedule through
:class:`importer.store.slots.SharedSlots` (a small SQLite file in the state folder) or the
PostgreSQL store's :class:`importer.store.pg_shared.PgSlots`.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from importer.core.clock import Clock

if TYPE_CHECKING:
    from importer.sending.ports import Slots

__all__ = [
    "MAX_WAIT",
    "POLL_EVERY",
    "Pacer",
    "PacerStopped",
    "RatePolicy",
    "Window",
    "check_wait",
]

#: The longest wait a vendor may ask of us (Retry-After, a lock) before the run stops instead.
MAX_WAIT = 3600.0

#: The longest a waiting call sleeps before it asks the schedule again: a stop is noticed
#: within it, and the other runs on the account see the caller is still waiting for its turn.
POLL_EVERY = 0.5


class PacerStopped(Exception):
    """Raised by :meth:`Pacer.acquire` once :meth:`Pacer.stop` was called: send nothing more."""


def check_wait(seconds: float | None) -> float | None:
    """A wait asked by a vendor, or ``None`` when it is unusable (NaN, infinite, negative)."""
    if seconds is None or math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        return None
    return seconds


@dataclass(frozen=True)
class Window:
    """A documented "N calls per period" limit, and the share of it we use.

    Attributes:
        limit: the documented number of calls per period.
        seconds: the documented period.
        use: the calls we allow ourselves per period (at most ``limit``).
        margin: seconds added to the period, for clocks that disagree on a second's length
            and vendors that stamp arrivals coarsely (the network's jitter needs none: the
            rule is on answers, see the module docstring).
    """

    limit: int
    seconds: float
    use: int
    margin: float = 0.5

    @property
    def period(self) -> float:
        """The period we keep, margin included."""
        return self.seconds + self.margin

    @property
    def rate(self) -> float:
        """The even pace that spends ``use`` calls per period."""
        return self.use / self.period


@dataclass(frozen=True)
class RatePolicy:
    """How fast a vendor may be called.

    Attributes:
        rate: calls per second to start at (``None``: unlimited).
        ceiling: the most calls per second ever made (``None``: ``rate``).
        floor: the fewest calls per second after slowing down.
        adaptive: slow down on 429 and speed up again when it clears.
        description: the documented limit in words, for messages.
        documented: the documented maximum in calls per second (``None``: none documented);
            a ``--rate`` above it is clipped unless the user insists.
        window: the documented window the vendor counts in (Zoho's 30 a minute).
    """

    rate: float | None
    ceiling: float | None = None
    floor: float = 0.2
    adaptive: bool = False
    description: str = ""
    documented: float | None = None
    window: Window | None = None

    def capped(self, rate: float | None, beyond_documented: bool = False) -> RatePolicy:
        """This policy with a user's ceiling (``--rate``) applied.

        A ceiling above the documented limit is brought down to it unless
        ``beyond_documented`` (``--beyond-documented-rate``) says otherwise.
        """
        if rate is None:
            return self
        if self.documented is not None and not beyond_documented:
            rate = min(rate, self.documented)
        start = min(self.rate, rate) if self.rate else rate
        if self.adaptive:
            start = max(start, rate * 0.8)  # a ceiling set on purpose: start close to it
        window = self.window if not beyond_documented else None
        return replace(self, rate=start, ceiling=rate, window=window)

    def explain(self, max_concurrency: int) -> str:
        """The pace this policy keeps, in words (``session-importer vendors``, the README)."""
        adaptive = (
            f"starts at {self.rate:g} calls a second, never above "
            f"{self.ceiling or self.rate:g} (documented: {self.documented:g}); halves once "
            "per burst of 429s and recovers within seconds"
            if self.adaptive and self.rate and self.documented
            else ""
        )
        if self.window is not None:
            w = self.window
            return (
                f"at most {w.use} calls in any {w.seconds:g} s as the vendor can count them "
                f"(documented: {w.limit}), measured from the answers and {1 / w.rate:.2f} s "
                "apart; "
                + (
                    adaptive
                    if self.adaptive and self.rate
                    else "a lock is waited out and the run resumes"
                )
            )
        if adaptive:
            return adaptive
        return (
            f"no limit documented: --concurrency requests in flight (at most {max_concurrency}),"
            " backoff with jitter on 429"
        )

    def over_documented(self, rate: float | None) -> bool:
        """Whether ``rate`` asks for more than the vendor documents."""
        return rate is not None and self.documented is not None and rate > self.documented


class _LocalSlots:
    """The same schedule as :class:`~importer.store.slots.SharedSlots`, for one process, on
    the monotonic clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.next = 0.0
        self.paused = 0.0
        self.calls: deque[list[float]] = deque()
        self.count = 0
        self.ends: dict[int, list[float]] = {}
        self._lock = threading.Lock()

    def take(self, interval: float, window: Window | None) -> tuple[int | None, float]:
        with self._lock:
            now = self.clock.monotonic()
            ready = max(now, self.next, self.paused)
            if window is not None and len(self.calls) >= window.use:
                end = self.calls[-window.use][1]
                ready = max(ready, end + window.period)
            if ready > now:
                return None, ready - now
            self.count += 1
            call = [now, math.inf]
            self.calls.append(call)
            self.ends[self.count] = call
            while len(self.calls) > (window.use if window else 0) + 1:
                self.calls.popleft()
            self.next = now + interval
            return self.count, 0.0

    def ended(self, call: int) -> None:
        with self._lock:
            entry = self.ends.pop(call, None)
            if entry is not None:
                entry[1] = self.clock.monotonic()

    def pause_for(self, seconds: float, reason: str = "") -> None:
        with self._lock:
            self.paused = max(self.paused, self.clock.monotonic() + seconds)

    def pause(self) -> tuple[float, str]:
        with self._lock:
            return max(self.paused - self.clock.monotonic(), 0.0), ""


class Pacer:
    """Thread-safe pacing of calls (see the module docstring).

    Each call is bracketed: :meth:`acquire` before the request leaves (it waits
    for the schedule and returns a ticket), :meth:`release` with that ticket once
    the answer is in (or the request failed), so that the window rule knows when
    the vendor has certainly seen it.
    """

    #: Seconds without a 429 before an adaptive rate steps back up (by half again).
    RECOVER_AFTER = 1.0

    def __init__(self, policy: RatePolicy, clock: Clock, shared: Slots | None = None) -> None:
        self.policy = policy
        self.clock = clock
        self.shared = shared
        self.rate = policy.rate
        self._slots: Slots | _LocalSlots = shared or _LocalSlots(clock)
        self._slowed_at = -math.inf
        self._changed_at = -math.inf
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._sent: deque[float] = deque(maxlen=256)
        self._share, self._share_at = 1.0, -math.inf
        self._pause, self._pause_at = 0.0, -math.inf

    #: Adaptive policies without a window keep 2% below the rate: at a shared limit's edge,
    #: clock jitter between us and the vendor would otherwise turn some calls into 429s. A
    #: window needs none: its rule holds whatever the jitter (issue 27: 360Learning v2's
    #: pace went from 0.933 of 10 writes/s to 0.98).
    HEADROOM = 0.98

    @property
    def interval(self) -> float:
        """Seconds between two calls at the current rate (and never faster than the window)."""
        window = self.policy.window
        rates = [r for r in (self.rate, window and window.rate) if r]
        if not rates:
            return 0.0
        headroom = self.HEADROOM if self.policy.adaptive and window is None else 1.0
        return 1.0 / (min(rates) * headroom)

    def acquire(self) -> int:
        """Wait for this call's turn; return its ticket for :meth:`release`.

        Raises:
            PacerStopped: the run is stopping (Ctrl-C, a fatal error); do not send.
        """
        while True:
            if self._stopped.is_set():
                raise PacerStopped
            ticket, wait = self._slots.take(self.interval, self.policy.window)
            if ticket is not None:
                with self._lock:
                    self._sent.append(self.clock.monotonic())
                return ticket
            # In slices, so that a stop is noticed within a second even in a 5-minute lock (and
            # the other runs see this one is alive and waiting: importer.store.turns.LIVE).
            self.clock.sleep(min(wait, POLL_EVERY) if math.isfinite(wait) else 0.05)

    def release(self, ticket: int) -> None:
        """The call of ``ticket`` is over: its answer arrived, or it failed."""
        self._slots.ended(ticket)

    #: Seconds a run's measured share of the account is kept before it is read again.
    SHARE_EVERY = 1.0

    def share(self) -> float:
        """This run's part of the account's recent slots, as the schedule measured it (1.0:
        alone, or not shared), read at most once a :data:`SHARE_EVERY`: the ETA's pace is
        the vendor's times this part."""
        if self.shared is None:
            return 1.0
        now = self.clock.monotonic()
        with self._lock:
            if now - self._share_at < self.SHARE_EVERY:
                return self._share
            self._share_at = now
        found = next((s.share for s in self.shared.sharing() if s.mine), 0.0)
        with self._lock:
            self._share = found if found > 0 else 1.0  # nothing measured yet: as if alone
            return self._share

    def paused(self) -> float:
        """Seconds left of the account's current pause (a lock, a ``Retry-After``; 0 if none),
        read at most once a :data:`SHARE_EVERY`: the ETA waits it out before its first row."""
        now = self.clock.monotonic()
        with self._lock:
            if now - self._pause_at < self.SHARE_EVERY:
                return max(self._pause - (now - self._pause_at), 0.0)
            self._pause_at = now
        left, _ = self._slots.pause()
        with self._lock:
            self._pause = left
            return left

    def calls_within(self, seconds: float) -> int:
        """How many calls this pacer let through in the last ``seconds``."""
        with self._lock:
            since = self.clock.monotonic() - seconds
            return sum(1 for moment in self._sent if moment > since)

    def stop(self) -> None:
        """Refuse every further call (waiting ones included)."""
        self._stopped.set()

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopped.is_set()

    def pause_for(self, seconds: float, reason: str = "") -> None:
        """No call for ``seconds`` (a lock, a ``Retry-After``, a backoff)."""
        self._slots.pause_for(seconds, reason)

    def slow_down(self, sent_at: float | None = None) -> None:
        """A 429 to a request sent at ``sent_at`` (monotonic): halve the rate, once per burst.

        A 429 to a request that left before the last slow-down belongs to the same
        burst: slowing down again for it would drive the rate to the floor at once.
        """
        with self._lock:
            now = self.clock.monotonic()
            if sent_at is not None and sent_at <= self._slowed_at:
                return
            self._slowed_at = self._changed_at = now
            if self.policy.adaptive and self.rate:
                self.rate = max(self.rate / 2, self.policy.floor)

    def succeeded(self) -> None:
        """A success: a second after the last change, step back toward the ceiling."""
        with self._lock:
            ceiling = self.policy.ceiling or self.policy.rate
            if not (self.policy.adaptive and self.rate and ceiling and self.rate < ceiling):
                return
            now = self.clock.monotonic()
            if now - self._changed_at >= self.RECOVER_AFTER:
                self._changed_at = now
                self.rate = min(self.rate * 1.5, ceiling)

    def now(self) -> float:
        """The pacer's clock (monotonic), to stamp when a request left."""
        return self.clock.monotonic()
