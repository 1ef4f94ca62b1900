"""The page's undo of a run (the command line's :mod:`importer.jobs.undo`, on an account's journal),
and its updates' stop at the mass-change guard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from importer.core.errors import ConfigurationError
from importer.core.files import make_private_dir
from importer.core.outcomes import JournalState
from importer.jobs.changes import Guard
from importer.jobs.journals import JournalPlace
from importer.jobs.undo import NoJournalError, UndoSpec, changes_of, select
from importer.jobs.undo import undo_run as undo_run_of
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
    who: str | None = None,
) -> str:
    """Delete what run ``run_id`` of ``account`` created (or list it); one sentence of what
    happened. The undo's sheet is written beside the run's results, in the data folder, and
    the undo is kept as a run of the account's journal with ``who`` (the page's user) asked
    for it, shown in History and by the command line's ``status``.

    Raises:
        ConfirmationNeededError: over the mass-change guard without the matching count, or
            ``expect`` (the count the coordinator was shown) no longer the rows to delete.
        ConfigurationError: no such run, or a vendor with no documented delete.
    """
    folder = workspace.data / "results" / f"undo-{account.slug}-{run_id}"
    make_private_dir(folder)
    spec = UndoSpec(
        journal=JournalPlace(path=workspace.journal_path(account), shared=not account.sandbox),
        run_id=run_id,
        target=folder / f"run-{run_id}.undo.xlsx",
        dry_run=dry_run,
        guard=Guard(confirm=confirm),
        expect=expect,
        shared_budget=not account.sandbox,
        why=f"deleted by the undo of run {run_id} (web page)",
        who=who,
        summary={"page_account": account.slug},  # History shows it under this account only
    )
    try:
        done = undo_run_of(spec, account.plugin, account.settings())
    except NoJournalError:  # its words name a server path: the page says it plainly
        raise ConfigurationError(f"{account.name} has no run {run_id}: nothing to undo.") from None
    report = done.report
    said = ", ".join(f"{n} {s}" for s, n in report.counts().items()) or "nothing it created"
    verb = "dry run, nothing sent" if dry_run else "undone"
    warning = f" {done.warning}" if done.warning else ""
    stopped = f"; stopped early: {report.stopped}" if report.stopped else ""
    return f"Run {run_id} of {account.name}: {verb}: {said}{stopped}.{warning}"
