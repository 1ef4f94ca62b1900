"""What ``status`` shows of the runs in progress on the accounts it looks at (issue 25)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importer.sending.ports import Sharer

__all__ = ["print_in_progress", "runs_in_progress"]


def runs_in_progress(store: str | None, journal: str | None) -> list[Sharer]:
    """The live runs on the accounts of ``store`` (a PostgreSQL URL; ``None``: this
    machine's state folder), or with ``journal``, on the accounts a run of that journal (a
    file, or with ``store`` a journal's name) is sending to."""
    from importer.jobs.sharing import on_journal
    from importer.store import open_store

    opened = open_store(store)
    try:
        found = opened.in_progress()
    finally:
        opened.close()
    if journal is None:
        return found
    return on_journal(found, journal if store else str(Path(journal).resolve()))


def _clock(seconds: float) -> str:
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute}:{second:02d}"


def print_in_progress(found: Sequence[Sharer]) -> None:
    """Account by account: each run, who started it, rows left, its share of the account's
    budget, its ETA, and "waiting for its turn" when it is."""
    accounts: dict[str, list[Sharer]] = {}
    for run in found:
        accounts.setdefault(run.schedule, []).append(run)
    for runs in accounts.values():
        label = runs[0].account or "an account"
        print(f"runs in progress on {label} ({len(runs)} at once):")
        for run in runs:
            by = f" by {run.who}" if run.who else ""
            left = "rows left not said yet" if run.left is None else f"{run.left} rows left"
            eta = "" if run.eta is None else f", about {_clock(run.eta)} left"
            turn = "; waiting for its turn" if run.behind else ""
            print(
                f"  {run.run or 'a run'}{by}: {left} ({run.done} done), "
                f"{run.share:.0%} of the account's budget{eta}{turn}"
            )
