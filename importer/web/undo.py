"""The page's undo of a run (the command line's :mod:`importer.jobs.undo`, on an account's journal),
and its updates' stop at the mass-change guard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from importer.core.outcomes import JournalState
from importer.jobs.changes import ConfirmationNeededError, Guard
from importer.jobs.undo import changes_of, select, undo_rows, undo_sheet
from importer.store.base import Entry
from importer.store.journal import Journal
from importer.vendors.plugin import Plugin
from importer.web.accounts import Account

if TYPE_CHECKING:
    from importer.store import JournalLike
    from importer.web.workspace import Workspace

__all__ = ["UndoPlan", "can_delete", "run_rows", "undo_plan", "undo_run"]

#: States of a row an undo deletes (as :mod:`importer.jobs.undo` selects them).
_LIVE = (JournalState.CREATED, JournalState.UPDATING, JournalState.DELETING)


def can_delete(chosen: Plugin) -> bool:
    """Whether the vendor's plugin declares a delete (what an undo needs)."""
    changes = chosen.changes
    return changes is not None and changes.delete is not None


def run_rows(journal: JournalLike) -> dict[int, dict[str, int]]:
    """Run -> ``live`` (rows it created still there: what its undo would delete) and
    ``deleted`` (rows it created that an undo deleted since), from the journal's rows."""
    found: dict[int, dict[str, int]] = {}
    for entry in journal.entries():
        run = entry.payload.get("_run")
        if not isinstance(run, int) or entry.state not in (*_LIVE, JournalState.DELETED):
            continue
        counts = found.setdefault(run, {"live": 0, "deleted": 0})
        counts["deleted" if entry.state == JournalState.DELETED else "live"] += 1
    return found


@dataclass(frozen=True)
class UndoPlan:
    """What deleting a run's creations would do: the rows, and whether the guard asks for
    the count to be typed (over its limit) rather than a button pressed."""

    run_id: int
    source: str
    live: list[Entry]
    typed: bool


def undo_plan(workspace: Workspace, account: Account, run_id: int) -> UndoPlan:
    """The rows an undo of run ``run_id`` would delete now (nothing is sent).

    Raises:
        ConfigurationError: no such run, or a vendor with no documented delete.
    """
    changes_of(account.plugin)
    journal = workspace.shared_journal(account) or Journal(
        workspace.journal_path(account), account.vendor
    )
    try:
        live = [e for e in select(journal, run_id) if e.state != JournalState.DELETED]
        journaled = sum(journal.counts().get(state, 0) for state in _LIVE)
        source = next((str(r["source"]) for r in journal.runs() if r["id"] == run_id), "")
    finally:
        journal.close()
    return UndoPlan(run_id, source, live, len(live) > Guard().limit(journaled))


def undo_run(
    workspace: Workspace,
    account: Account,
    run_id: int,
    confirm: int | None,
    dry_run: bool,
    expect: int | None = None,
) -> str:
    """Delete what run ``run_id`` of ``account`` created (or list it); one sentence of what
    happened. The undo's sheet is written beside the run's results, in the data folder.

    Raises:
        ConfirmationNeededError: over the mass-change guard without the matching count, or
            ``expect`` (the count the coordinator was shown) no longer the rows to delete.
        ConfigurationError: no such run, or a vendor with no documented delete.
    """
    settings = account.settings()
    changes = changes_of(account.plugin)
    journal = workspace.shared_journal(account) or Journal(
        workspace.journal_path(account), account.vendor
    )
    try:
        journal.lock_job(wait=False)
        entries = select(journal, run_id)
        live = sum(1 for e in entries if e.state != JournalState.DELETED)
        if expect is not None and live != expect and not dry_run:
            said = f"run {run_id} now has {live} row(s) to delete, not the {expect} you confirmed"
            raise ConfirmationNeededError(
                f"{said}. Nothing was sent.", f"{said[0].upper()}{said[1:]}: look again."
            )
        report = undo_rows(
            entries,
            journal,
            account.plugin,
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
