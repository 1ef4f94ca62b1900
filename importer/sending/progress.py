"""Telling how far a run is: the progress bar on a terminal, the web page's hook, and an ETA
that knows the vendor's pace (the first rows, sent before any wait, would promise too much)
and this run's share of it when other runs send on the same account."""

from __future__ import annotations

import itertools
import statistics
import sys
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from importer.core.clock import Clock
from importer.sending.throttle import Pacer, RatePolicy

__all__ = ["Progress", "ProgressHook", "estimate_seconds", "eta_and_counts", "progress_bar"]

#: (rows done, rows to send, rows per status, seconds left at the slower of the observed pace
#: and the vendor's).
ProgressHook = Callable[[int, int, Mapping[str, int], float], None]


class Progress:
    """Tells an observer (the web page) how far the run is, with the same ETA as the bar,
    and the account's shared schedule too (:meth:`~importer.sending.ports.Slots.publish`:
    what ``status`` and the page show of the runs in progress on the account).

    The ETA (:meth:`seconds_left`) is the account's current pause (:meth:`Pacer.paused`),
    then the rows left at the slower of the vendor's pace for this run's share of the
    account (:meth:`Pacer.share`) and the pace the last rows were done at. That recent pace
    leaves out the gaps far longer than the others (a pause, a turn waited for: they are
    not the pace, and the first is counted while it lasts), and is none before two rows.
    """

    #: How many of the last rows' times make the recent pace.
    WINDOW = 32
    #: A gap between two rows this many times the median gap is a wait, not the pace.
    OUTLIER = 10.0

    def __init__(self, total: int, pacer: Pacer, hook: ProgressHook | None, clock: Clock) -> None:
        self.total, self.pacer, self.hook, self.clock = total, pacer, hook, clock
        self.started = clock.time()
        self._times: deque[tuple[float, int]] = deque(maxlen=self.WINDOW + 1)

    def __call__(self, statuses: Mapping[str, int]) -> None:
        done = sum(statuses.values())
        self._times.append((self.clock.monotonic(), done))
        shared = self.pacer.shared
        if self.hook is None and shared is None:
            return
        left = self.seconds_left(done)
        if shared is not None:  # for `status` and the page (written at most once a second)
            shared.publish(done, max(self.total - done, 0), left)
        if self.hook is not None:
            self.hook(done, self.total, dict(statuses), left)

    def seconds_left(self, done: int) -> float:
        """The time the ``total - done`` rows left will take (see the class docstring)."""
        if done >= self.total:
            return 0.0
        per_row = self.pacer.interval / self.pacer.share()
        recent = self._recent_pace()
        if recent is not None:
            per_row = max(per_row, recent)
        return self.pacer.paused() + (self.total - done) * per_row

    def _recent_pace(self) -> float | None:
        """Seconds a row over the last :data:`WINDOW` rows, the waits left out."""
        times = list(self._times)
        gaps = [
            ((later - earlier) / (after - before), after - before)
            for (earlier, before), (later, after) in itertools.pairwise(times)
            if after > before
        ]
        if not gaps:
            return None
        usual = statistics.median(gap for gap, _ in gaps)
        kept = [(gap, rows) for gap, rows in gaps if gap <= self.OUTLIER * usual or not usual]
        return sum(gap * rows for gap, rows in kept) / sum(rows for _, rows in kept)


class _NoBar:
    """What the run asks of a bar, doing nothing (tqdm takes 30 ms to import: issue 15)."""

    disable = True
    n = 0
    total = 0
    format_dict: dict[str, Any] = {}  # noqa: RUF012 - never written

    def update(self, count: int = 1) -> None:
        """Nothing to show."""

    def set_postfix_str(self, text: str) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""


def progress_bar(total: int, enabled: bool) -> Any:
    """A tqdm bar on stderr; a silent stand-in when stderr is not a terminal."""
    show = enabled and sys.stderr.isatty()
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="row",
        file=sys.stderr,
        dynamic_ncols=True,
        smoothing=0.05,
        desc="importing",
        # Our own ETA (see eta_and_counts): tqdm's guess from the first, unpaced rows is too
        # hopeful under a rate limit.
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
    )


def eta_and_counts(progress: Progress, done: int, statuses: Mapping[str, int]) -> str:
    """The bar's tail: the time left (:meth:`Progress.seconds_left`, as the page says it),
    and the counts."""
    left = progress.seconds_left(done)
    minutes, seconds = divmod(int(left), 60)
    hours, minutes = divmod(minutes, 60)
    eta = f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"
    counts = ", ".join(f"{status} {count}" for status, count in statuses.items())
    return f"about {eta} left, {counts}"


def estimate_seconds(rows: int, calls_per_row: float, policy: RatePolicy) -> float | None:
    """How long ``rows`` rows take at the vendor's pace (``None``: no limit to say)."""
    if not policy.rate:
        return None
    return rows * calls_per_row / policy.rate
