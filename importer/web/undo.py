"""The page's undo of a run (the command line's :mod:`importer.undo`, on an account's journal),
and its updates' stop at the mass-change guard."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from importer.changes import ConfirmationNeededError, Guard
from importer.journal import Journal
from importer.undo import changes_of, select, undo_rows, undo_sheet
from importer.web.accounts import Account

if TYPE_CHECKING:
    from importer.report import RunReport
    from importer.store import JournalLike
    from importer.web.workspace import Workspace

__all__ = ["guarded", "undo_run"]


def guarded(journal: JournalLike, number: int, work: Callable[[], RunReport]) -> RunReport:
    """An import (``work``); stopped by the mass-change guard, its run is recorded as stopped."""
    try:
        return work()
    except ConfirmationNeededError as error:
        journal.finish_run(number, {"counts": {}, "stopped": error.on_page})
        raise


def undo_run(
    workspace: Workspace, account: Account, run_id: int, confirm: int | None, dry_run: bool
) -> str:
    """Delete what run ``run_id`` of ``account`` created (or list it); one sentence of what
    happened. The undo's sheet is written beside the run's results, in the data folder.

    Raises:
        ConfirmationNeededError: over the mass-change guard without the matching count.
        ConfigurationError: no such run, or a vendor with no documented delete.
    """
    settings = account.settings()
    changes = changes_of(account.vendor)
    journal = workspace.shared_journal(account) or Journal(
        workspace.journal_path(account), account.vendor
    )
    try:
        journal.lock_job(wait=False)
        entries = select(journal, run_id)
        report = undo_rows(
            entries,
            journal,
            settings,
            guard=Guard(confirm=confirm),
            dry_run=dry_run,
            shared_budget=not account.sandbox,
            why=f"deleted by the undo of run {run_id} (web page)",
        )
        folder = workspace.data / "results" / f"undo-{account.slug}-{run_id}"
        folder.mkdir(parents=True, exist_ok=True)
        undo_sheet(report, folder / f"run-{run_id}.undo.xlsx", f"run {run_id}")
    finally:
        journal.close()
    said = ", ".join(f"{n} {s}" for s, n in report.counts().items()) or "nothing it created"
    verb = "dry run, nothing sent" if dry_run else "undone"
    warning = f" {changes.warning}" if changes.warning else ""
    stopped = f"; stopped early: {report.stopped}" if report.stopped else ""
    return f"Run {run_id} of {account.name}: {verb}: {said}{stopped}.{warning}"
