"""Telling how far a run is: the progress bar on a terminal, the web page's hook, and an ETA
that knows the vendor's pace (the first rows, sent before any wait, would promise too much)
and this run's share of it when other runs send on the same account."""

from __future__ import annotations

import sys
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
    what ``status`` and the page show of the runs in progress on the account)."""

    def __init__(self, total: int, pacer: Pacer, hook: ProgressHook | None, clock: Clock) -> None:
        self.total, self.pacer, self.hook, self.clock = total, pacer, hook, clock
        self.started = clock.time()

    def __call__(self, statuses: Mapping[str, int]) -> None:
        shared = self.pacer.shared
        if self.hook is None and shared is None:
            return
        done = sum(statuses.values())
        elapsed = self.clock.time() - self.started
        left = _seconds_left(done, self.total, elapsed, self.pacer)
        if shared is not None:  # for `status` and the page (written at most once a second)
            shared.publish(done, max(self.total - done, 0), left)
        if self.hook is not None:
            self.hook(done, self.total, dict(statuses), left)


def _seconds_left(done: int, total: int, elapsed: float, pacer: Pacer) -> float:
    """Time left at the slower of the observed pace and the vendor's, of which this run gets
    its share when other runs send on the account too (:meth:`Pacer.share`)."""
    if done >= total:
        return 0.0
    per_row = max(elapsed / max(done, 1), pacer.interval / pacer.share())
    return (total - done) * per_row


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


def eta_and_counts(bar: Any, pacer: Pacer, statuses: Mapping[str, int]) -> str:
    """The bar's tail: time left at the slower of the observed pace and the vendor's, and counts."""
    elapsed = float(bar.format_dict.get("elapsed", 0.0))
    left = _seconds_left(int(bar.n), int(bar.total or 0), elapsed, pacer)
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
