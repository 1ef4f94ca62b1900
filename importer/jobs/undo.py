"""Taking back a run: delete at the vendor what one run created, exactly once (``undo``).

What a run created is read from the account's journal: each row records the run that sent
it, and a result sheet names the IDs it created. Deleting keeps the journal's crash
guarantee: a row is claimed ``deleting`` (committed, the undo as its holder) before its
delete leaves, ``deleted`` right after the vendor confirms. Imports and undos of one account
work at once (issue 25): a row another live run has in flight (an update, another undo) is
not deleted by this undo but left for the next (or waited for, with ``--wait``). A row
found ``deleting`` by the next undo is in doubt: it is read first (a 404 proves it gone) and
deleted only if still there; a row ``deleted`` is never sent again. Deletes are paced by the
vendor's rate policy and the account's shared schedule, like every import, and stop cleanly
on Ctrl-C or a fatal answer (run the undo again to finish).

Only vendors whose plugin declares a delete (:class:`~importer.vendors.plugin.Changes`) can be
undone; for the others the undo says that nothing can be deleted through that vendor's API.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from importer.core.clock import Clock, SystemClock
from importer.core.errors import ConfigurationError, FatalVendorError, ImporterError, InputError
from importer.core.outcomes import ExitCode, JournalState, RowResult, Status
from importer.core.settings import RunSettings
from importer.core.signals import RunSignals
from importer.jobs.changes import ConfirmationNeededError, Guard, claim_change, marked_send
from importer.jobs.claims import being, settle
from importer.jobs.journals import JournalPlace
from importer.jobs.pacing import journal_name, paced
from importer.jobs.pipeline import send_all
from importer.jobs.runs import UNDO, is_undo
from importer.jobs.who import plain_who
from importer.results.report import RunReport
from importer.results.sheet import ResultSheet, write_result
from importer.sending.ports import Share
from importer.sending.progress import Progress, progress_bar
from importer.sending.sender import Sender
from importer.sending.throttle import PacerStopped
from importer.store import JournalLike
from importer.store.base import Claim, Entry, Holder
from importer.vendors.plugin import Changes, Plugin

__all__ = [
    "NoJournalError",
    "UndoReport",
    "UndoSpec",
    "Undone",
    "default_undo_sheet",
    "doubtful",
    "run_ids",
    "select",
    "undo_rows",
    "undo_run",
    "undo_sheet",
]

#: Journal states whose rows an undo deletes (``deleted`` ones are reported, never resent).
_LIVE = (JournalState.CREATED, JournalState.UPDATING, JournalState.DELETING)


@dataclass
class UndoReport:
    """What an undo did (or would do): one line per row the run created."""

    entries: list[Entry]
    results: dict[str, RowResult] = field(default_factory=dict)
    stopped: str | None = None
    fatal: bool = False
    dry_run: bool = False
    requests: int = 0

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        found: dict[str, int] = {}
        for entry in self.entries:
            status = str(self.results[entry.key].status) if entry.key in self.results else ""
            status = status or Status.NOT_SENT
            if self.dry_run and status == Status.NOT_SENT:
                status = "would be deleted"
            elif status == Status.DELETED and entry.state == JournalState.DELETED:
                status = "already deleted"  # by an earlier undo: nothing sent for it now
            found[status] = found.get(status, 0) + 1
        return found

    @property
    def exit_code(self) -> int:
        """0 every row deleted (or listed by a dry run); 1 some not; 3 fatal; 130/143 stops."""
        if self.fatal:
            return ExitCode.FATAL
        if self.stopped in ("interrupted", "terminated"):
            return ExitCode.INTERRUPTED if self.stopped == "interrupted" else ExitCode.TERMINATED
        done = all(
            self.dry_run or (e.key in self.results and self.results[e.key].status == Status.DELETED)
            for e in self.entries
        )
        return ExitCode.OK if done else ExitCode.NOT_ALL_DONE


def changes_of(plugin: Plugin) -> Changes:
    """The vendor's delete, or :class:`ConfigurationError` saying it has none."""
    changes = plugin.changes
    if changes is None or changes.delete is None:
        raise ConfigurationError(
            f"{plugin.name} offers no delete through its API: nothing can be deleted through it. "
            "Delete the sessions in the vendor's own pages (the result sheet lists their IDs)."
        )
    return changes


def run_ids(journal: JournalLike) -> list[int]:
    """The IDs of the journal's runs, oldest first."""
    return [int(run["id"]) for run in journal.runs()]


def _created_ids(result: Path) -> set[str]:
    """The IDs a result sheet reports created (or updated) by its run."""
    try:
        if result.suffix.lower() == ".csv":
            frame = pd.read_csv(result, dtype=str, sep=None, engine="python", encoding="utf-8-sig")
        else:
            frame = pd.read_excel(result, sheet_name="Result", dtype=str, engine="calamine")
    except (OSError, ValueError) as error:
        raise InputError(f"{result}: not a result sheet this tool can read ({error}).") from None
    if not {"Status", "Created ID"} <= set(frame.columns):
        raise InputError(f"{result}: not a result sheet (no Status and Created ID columns).")
    done = frame[frame["Status"].isin([Status.CREATED, Status.UPDATED])]
    return {str(i).strip() for i in done["Created ID"].dropna() if str(i).strip()}


def select(
    journal: JournalLike,
    run: int | None = None,
    result: Path | None = None,
    rows: Sequence[int] | None = None,
) -> list[Entry]:
    """The journal's rows created by run ``run``, or reported created by the sheet ``result``;
    only the sheet rows ``rows`` of them when given.

    Raises:
        ConfigurationError: no such run in the journal, or a row in ``rows`` it did not create.
        InputError: the result sheet cannot be read.
    """
    entries = list(journal.entries())
    runs = {int(r["id"]): r for r in journal.runs()} if result is None else {}
    if result is not None:
        ids = _created_ids(result)
        found = [
            e for e in entries if e.created_id in ids and e.state in (*_LIVE, JournalState.DELETED)
        ]
    elif run not in runs:
        known = ", ".join(str(i) for i in list(runs)[-10:]) or "none"
        raise ConfigurationError(
            f"the journal {journal.path} has no run {run} (its last runs: {known}); "
            "`session-importer status JOURNAL` lists them."
        )
    elif is_undo(runs[run]):
        undone = runs[run]["summary"]["settings"][UNDO]
        raise ConfigurationError(
            f"run {run} is the undo of {undone}: it created nothing to delete (to have those "
            "rows back, import them again). Nothing was deleted."
        )
    else:
        found = [
            e
            for e in entries
            if e.payload.get("_run") == run and e.state in (*_LIVE, JournalState.DELETED)
        ]
    if rows is None:
        return found
    kept = [e for e in found if e.sheet_row in set(rows)]
    missing = sorted(set(rows) - {e.sheet_row for e in kept})
    if missing:
        made = sorted(e.sheet_row for e in found if e.sheet_row is not None)
        listed = ", ".join(str(r) for r in made[:20]) + (", ..." if len(made) > 20 else "")
        raise ConfigurationError(
            f"{'run ' + str(run) if result is None else str(result)} created nothing at sheet "
            f"row(s) {', '.join(str(r) for r in missing)}; the rows it created: "
            f"{listed or 'none'}. Nothing was deleted."
        )
    return kept


def doubtful(journal: JournalLike, run: int | None) -> list[Entry]:
    """Rows run ``run`` sent whose answer was lost: an undo cannot know them (check by hand)."""
    if run is None:
        return []
    lost = (JournalState.UNKNOWN, JournalState.SENDING)
    return [e for e in journal.entries() if e.payload.get("_run") == run and e.state in lost]


def _delete_one(
    journal: JournalLike, sender: Sender, changes: Changes, entry: Entry, why: str
) -> RowResult | Claim:
    """Delete what one row created, through the journal (see the module docstring); the
    claim refused when another run moved the row on or has it in flight."""
    ident, key = entry.created_id, entry.key
    if entry.state == JournalState.DELETED:
        return RowResult(Status.DELETED, ident, "already deleted (by an earlier undo): not resent")
    if entry.state not in _LIVE:  # moved on since it was chosen: not this undo's to delete
        return RowResult(
            Status.NOT_SENT, ident, f"not deleted: the row is now {entry.state} in the journal"
        )
    assert changes.delete is not None
    # Held from here: no run updates it, nor another undo deletes it, meanwhile (issue 25).
    claim = claim_change(journal, entry, JournalState.DELETING)
    if not claim.held:
        return claim
    entry = claim.entry or entry
    calls = changes.delete(entry.payload, ident)
    if entry.state == JournalState.DELETING:  # in doubt: send only what is still there
        left = []
        for call in calls:
            check = changes.check(call)
            if check is None or sender.read(check).status != 404:
                left.append(call)
        if not left:
            journal.outcome(key, JournalState.DELETED, ident, why)
            return RowResult(Status.DELETED, ident, "found deleted after an interrupted undo")
        calls = left
    result = marked_send(journal, key, ident, JournalState.DELETING, sender, changes, calls)
    if result.status == Status.CREATED:
        journal.outcome(key, JournalState.DELETED, ident, why)
        return RowResult(Status.DELETED, ident, "deleted", result.steps, result.requests)
    if result.status == Status.UNKNOWN or result.steps:
        journal.outcome(key, JournalState.DELETING, ident, result.message)  # checked next time
    else:
        before = entry.state if entry.state != JournalState.DELETING else JournalState.CREATED
        journal.outcome(key, before, ident, entry.message)
    return RowResult(result.status, ident, result.message, result.steps, result.requests)


def _held_elsewhere(entry: Entry, holder: Holder, waited: float | None) -> RowResult:
    """A row another live run has in flight: not deleted by this undo (run it again after)."""
    said = being(entry.state, holder)
    after = "" if waited is None else f" after {waited:.0f} s of waiting"
    again = "" if waited is not None else ", or with --wait"
    return RowResult(
        Status.NOT_SENT,
        entry.created_id,
        f"not deleted: {said}{after}; run the undo again once it is done{again}",
    )


def undo_rows(
    entries: list[Entry],
    journal: JournalLike,
    plugin: Plugin,
    settings: RunSettings,
    *,
    guard: Guard | None = None,
    dry_run: bool = False,
    client: httpx.Client | None = None,
    clock: Clock | None = None,
    shared_budget: bool = True,
    stop: threading.Event | None = None,
    notify: Callable[[str], None] | None = None,
    why: str = "deleted by undo",
    wait: bool = False,
    who: str | None = None,
    run_id: int | None = None,
) -> UndoReport:
    """Delete at the vendor what ``entries`` created; the outcome of each.

    Args:
        entries: the rows (see :func:`select`).
        journal: their journal (held by the caller: see :func:`undo_run`).
        plugin: the vendor.
        settings: hosts, credentials, rate.
        guard: the mass-change guard (its ``--confirm``); checked before anything is sent.
        dry_run: list what would be deleted; send nothing.
        client, clock: the HTTP client and clock (new ones, the real clock, by default).
        shared_budget: pace under the account's schedule shared by every process.
        stop: set from another thread to stop as Ctrl-C does (the web page).
        notify: where to say things worth saying mid-run.
        why: the message recorded with each deleted row.
        wait: wait for a row another live run has in flight (``--wait``), instead of
            leaving it for the next undo.
        who, run_id: who asked for the undo and its run in the journal (shown with it by
            ``status`` and the page while it runs).

    Raises:
        ConfirmationNeededError: over the guard without the matching ``--confirm``.
    """

    changes = changes_of(plugin)
    report = UndoReport(entries, dry_run=dry_run)
    live = [e for e in entries if e.state != JournalState.DELETED]
    counts = journal.counts()
    journaled = sum(counts.get(s, 0) for s in _LIVE)
    if dry_run:
        try:
            dataclasses.replace(guard or Guard(), confirm=None).check(len(live), journaled, "undo")
        except ConfirmationNeededError as needed:
            if notify is not None:
                notify(f"dry run: the real undo will need --confirm: {needed}")
        for entry in entries:
            done = entry.state == JournalState.DELETED
            said = "already deleted" if done else "would be deleted (dry run: nothing was sent)"
            report.results[entry.key] = RowResult(
                Status.DELETED if done else Status.NOT_SENT, entry.created_id, said
            )
        return report
    (guard or Guard()).check(len(live), journaled, "undo", [e.key for e in live], journal)
    journal.hold("an undo")  # (undo_run made it the holder already, under a better name)
    clock = clock or SystemClock()
    by_index = dict(enumerate(entries))
    run = RunReport(None)  # type: ignore[arg-type]  # send_all fills results and stopped
    requests = 0
    try:
        # Seen on the account like any run (a batch one unless --priority says otherwise).
        share = Share(
            f"undo run {run_id}" if run_id else "an undo",
            settings.priority == "interactive",
            who=who,
            journal=journal_name(journal.path),
            run_id=run_id,
        )
        with paced(
            plugin,
            settings,
            clock,
            client=client,
            shared_budget=shared_budget,
            notify=notify,
            share=share,
        ) as sending:
            sender = sending.sender

            def work(index: int, values: dict[str, str | None]) -> RowResult:
                return settle(
                    by_index[index],
                    lambda now: _delete_one(journal, sender, changes, now, why),
                    wait=wait,
                    clock=sender.clock,
                    stopped=lambda: sending.pacer.stopped,
                    busy=_held_elsewhere,
                )

            workers = max(1, min(settings.concurrency, sending.adapter.max_concurrency))
            todo: list[tuple[int, dict[str, str | None]]] = [(i, {}) for i in by_index]
            try:
                with RunSignals() as signals:  # Ctrl-C stops; every answer that came is kept
                    bar = progress_bar(0, enabled=False)
                    told = Progress(len(todo), sending.pacer, None, clock)  # for `status`
                    send_all(
                        todo, work, workers, run, sending.pacer, bar, stop, told, signals=signals
                    )
            finally:
                requests = sender.requests
    except (FatalVendorError, PacerStopped) as error:
        run.stopped, run.fatal = str(error), isinstance(error, FatalVendorError)
    report.results = {by_index[i].key: result for i, result in run.results.items()}
    report.stopped, report.fatal = run.stopped, run.fatal
    report.requests = requests
    return report


def undo_sheet(report: UndoReport, target: Path, source: str) -> Path:
    """Write the undo's result sheet: one row per row the run created, and its outcome."""
    rows = []
    for entry in report.entries:
        result = report.results.get(entry.key) or RowResult(Status.NOT_SENT, entry.created_id)
        rows.append(
            {
                "Sheet row": str(entry.sheet_row or ""),
                "Status": str(result.status),
                "Created ID": entry.created_id,
                "Messages": result.message,
                **{
                    k: "" if v is None else str(v) for k, v in entry.payload.items() if k[:1] != "_"
                },
            }
        )
    frame = pd.DataFrame(rows, dtype="str")
    if frame.empty:
        frame = pd.DataFrame({c: pd.Series(dtype="str") for c in ("Sheet row", "Status")})
    summary: list[Any] = [("Undo of", source), ("Rows", len(report.entries))]
    summary += [(f"Rows {status}", count) for status, count in report.counts().items()]
    if report.dry_run:
        summary.append(("Run", "a dry run: nothing was sent"))
    if report.stopped:
        summary.append(("Stopped early", report.stopped))
    return write_result(ResultSheet(frame, summary), target)


class NoJournalError(ConfigurationError):
    """The account has no journal yet: no run of it to take back."""


@dataclass(frozen=True)
class UndoSpec:
    """Which run to take back, and how: what both faces build (the command line from its
    flags, the page from the history's form).

    Attributes:
        journal: where the account's journal is.
        run_id: the run whose creates are deleted (``None``: those ``result`` names).
        result: a run's result sheet naming the rows (with ``run_id`` ``None``).
        rows: only these sheet rows of them (``None``: all).
        target: where the undo's sheet goes (``None``: beside the run's result sheet).
        dry_run: list what would be deleted; send nothing.
        guard: the mass-change guard (its ``--confirm``).
        wait: wait for a row another run or undo has in flight, instead of leaving it (and
            for a process holding the journal whole, instead of refusing).
        expect: the count the coordinator was shown and confirmed (the page): refused when
            the rows to delete are no longer that many.
        shared_budget: pace under the account's schedule shared by every process.
        why: the message recorded with each deleted row.
        who: who asked for the undo (the page's user, or the command line's
            :func:`~importer.jobs.who.command_line_user`), kept with the undo's run in the
            journal (made plain by :func:`~importer.jobs.who.plain_who`).
        summary: more facts to record with the undo's run's end (the page's account).
    """

    journal: JournalPlace
    run_id: int | None = None
    result: Path | None = None
    rows: Sequence[int] | None = None
    target: Path | None = None
    dry_run: bool = False
    guard: Guard = field(default_factory=Guard)
    wait: bool = False
    expect: int | None = None
    shared_budget: bool = True
    why: str = "deleted by undo"
    who: str | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Undone:
    """What :func:`undo_run` did: the rows it took, every row's outcome, the undo's sheet."""

    source: str
    entries: list[Entry]
    report: UndoReport
    written: Path
    warning: str


def undo_run(
    spec: UndoSpec,
    plugin: Plugin,
    settings: RunSettings,
    *,
    before: Callable[[list[Entry], list[Entry]], None] = lambda entries, lost: None,
    notify: Callable[[str], None] | None = None,
    client: httpx.Client | None = None,
    clock: Clock | None = None,
) -> Undone:
    """Take back a run: the journal opened (its whole lock shared: imports go on), its rows
    chosen, each claimed and its delete sent once, journaled and paced, and the undo's sheet
    written.

    ``before`` is told the rows chosen and those whose answer was lost (the undo cannot know
    whether they exist) before anything is sent.

    Raises:
        ConfigurationError: a vendor with no documented delete, no journal, or no such run.
        JobLockedError: a process holds the journal whole (a store copy; without
            ``spec.wait``).
        ConfirmationNeededError: over the guard without the matching count, or the rows to
            delete no longer the ``spec.expect`` the coordinator confirmed.
    """
    from importer.jobs.journals import journal_path, store_journal
    from importer.store.journal import Journal

    changes = changes_of(plugin)  # a vendor with no delete: said before anything
    journal = store_journal(spec.journal, settings)
    if journal is None:
        path = journal_path(spec.journal, plugin, settings)
        if path is None or not path.exists():
            raise NoJournalError(f"no journal of this account at {path}: nothing to undo.")
        journal = Journal(path, plugin.name)
    source = f"run {spec.run_id}" if spec.run_id is not None else str(spec.result)
    try:
        # Shared: imports and other undos go on; each row is claimed before its delete leaves.
        journal.lock_job(wait=spec.wait, shared=True)
        entries = select(journal, spec.run_id, spec.result, rows=spec.rows)
        who = plain_who(spec.who)
        run_id = _start(journal, spec, source, who)
        journal.hold(f"an undo of {source}", who, run_id)  # before any row is claimed
        # The end as the page's history reads it (who, counts, the sheet), as an import's.
        end: dict[str, Any] = {"counts": {}, "stopped": None, "dry_run": spec.dry_run}
        end |= {"who": who} if who else {}
        end |= spec.summary
        try:
            live = sum(1 for e in entries if e.state != JournalState.DELETED)
            if spec.expect is not None and live != spec.expect and not spec.dry_run:
                said = f"{source} now has {live} row(s) to delete, not the {spec.expect} you "
                said += "confirmed"
                raise ConfirmationNeededError(
                    f"{said}. Nothing was sent.", f"{said[0].upper()}{said[1:]}: look again."
                )
            before(entries, doubtful(journal, spec.run_id))
            report = undo_rows(
                entries,
                journal,
                plugin,
                settings,
                guard=spec.guard,
                dry_run=spec.dry_run,
                client=client,
                clock=clock,
                shared_budget=spec.shared_budget,
                notify=notify,
                why=spec.why,
                wait=spec.wait,
                who=who,
                run_id=run_id,
            )
            end.update(counts=report.counts(), stopped=report.stopped)
            target = spec.target or default_undo_sheet(
                journal, spec.run_id, spec.result, spec.dry_run
            )
            written = undo_sheet(report, target, source)
            end["result"] = str(written)
        except ImporterError as error:  # the guard, the sheet not written: kept, then raised
            end["stopped"] = end["stopped"] or error.on_page
            journal.finish_run(run_id, end)
            raise
        # Anything else (a crash, a signal before the deletes' loop) leaves the run open: it
        # did not finish, and the same undo run again finishes it.
        journal.finish_run(run_id, end)
    finally:
        journal.close()
    return Undone(source, entries, report, written, changes.warning)


def _start(journal: JournalLike, spec: UndoSpec, source: str, who: str | None) -> int:
    """Record the undo as a run of the journal: what it takes back, and who asked.

    Its settings carry ``undo`` (see :func:`is_undo`) and no ``result``: the run-settings
    look-ups by result sheet (``export --from-result``, the undo's sheet name) find the runs
    that read a sheet, never an undo."""
    settings: dict[str, Any] = {UNDO: source}
    if spec.rows is not None:
        settings["rows"] = list(spec.rows)
    if who:
        settings["who"] = who
    return journal.start_run(f"undo of {source}", settings)


def default_undo_sheet(
    journal: JournalLike, run_id: int | None, result: Path | None, dry_run: bool = False
) -> Path:
    """Beside the run's result sheet, as NAME.run-N.undo.xlsx (.csv for a CSV one; by result
    sheet: NAME.undo.xlsx); else here, as run-N.undo.xlsx; NAME...undo-2... when an earlier
    undo's sheet is there; a dry run's is NAME...undo-dry-run.xlsx."""
    run_tag = ""
    if result is None:
        for run in journal.runs():
            if run["id"] == run_id and run["summary"].get("settings", {}).get("result"):
                result, run_tag = Path(run["summary"]["settings"]["result"]), f".run-{run_id}"
    if result is None:
        stem, suffix = Path.cwd() / f"run-{run_id}", ".xlsx"
    else:
        suffix = ".csv" if result.suffix.lower() == ".csv" else ".xlsx"
        result = result.resolve()  # printed as a full path whichever way it was named
        stem = result.with_name(result.stem.removesuffix(".result") + run_tag)
    if dry_run:  # a preview: the next preview replaces it, the real undo's name stays free
        return stem.with_name(f"{stem.name}.undo-dry-run{suffix}")
    target, n = stem.with_name(f"{stem.name}.undo{suffix}"), 1
    while target.exists():  # an earlier undo's sheet (of other rows, or before a crash) stays
        n += 1
        target = stem.with_name(f"{stem.name}.undo-{n}{suffix}")
    return target
