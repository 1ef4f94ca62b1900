"""Sending through the journal: skip what exists, reconcile lost answers, record outcomes.

:class:`JournalOptions` says how a run uses its journal; :func:`journal_report` reads
every row's outcome from it without sending; :func:`flag_duplicates` refuses a row repeated
in one sheet before anything is sent.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from importer.changes import Guard, describe, differences, update_row
from importer.duplicates import flag_duplicates, key_values
from importer.journal import Entry, RowStore, fingerprint, row_key
from importer.outcomes import JournalState, Status
from importer.report import RunReport, valid_values
from importer.sender import RowResult, Sender
from importer.validation import ValidationReport
from importer.wire import MARKER

__all__ = ["JournalOptions", "Journaled", "flag_duplicates", "journal_report", "key_values"]


@dataclass(frozen=True)
class JournalOptions:
    """How a run uses its journal.

    Attributes:
        journal: the job's journal.
        key_column: the sheet column that identifies a row across runs (an external ID);
            ``None``: a fingerprint of the row's normalised values.
        retry_rejected: send again rows the vendor rejected before, even unchanged.
        resend_unknown: send again rows whose earlier answer was lost and that the vendor
            gives no way to check (360Learning v1).
        update: change at the vendor rows created earlier and edited since (``--update``).
        run_id: the run sending, recorded with each row it sends (what ``undo`` takes back).
        guard: the mass-change guard an update must pass (its ``--confirm``).
    """

    journal: RowStore
    key_column: str | None = None
    retry_rejected: bool = False
    resend_unknown: bool = False
    update: bool = False
    run_id: int = 0
    guard: Guard | None = None


def journal_report(report: ValidationReport, options: JournalOptions, vendor: str) -> RunReport:
    """Every row's outcome as a journal records it (for ``session-importer report``)."""
    run = RunReport(report)
    todo = valid_values(report)
    journaled = Journaled(options, None, report, vendor)  # type: ignore[arg-type]
    journaled.prepare(todo, readonly=True)
    for row, _ in todo:
        run.results[row] = journaled.recorded(row)
    for row, said in journaled.updates().items():  # edited since created: say what changed
        verb = "would be updated" if options.update else "changed since it was created"
        run.results[row] = RowResult(Status.CHANGED, run.results[row].created_id, f"{verb}: {said}")
    return run


def _marker(key: str) -> str:
    """A short, stable tag for a row, written where the vendor keeps "ID in another tool"."""
    return "[imp:" + hashlib.sha256(key.encode()).hexdigest()[:12] + "]"


class Journaled:
    """Sending through the journal: skip what exists, reconcile lost answers, record outcomes."""

    def __init__(
        self, options: JournalOptions, sender: Sender, report: ValidationReport, vendor: str
    ) -> None:
        self.options, self.sender, self.report, self.vendor = options, sender, report, vendor
        self.journal = options.journal
        self.rows: dict[int, tuple[str, str, Entry]] = {}
        self.duplicates: dict[int, int] = {}
        self.values: dict[int, dict[str, str | None]] = {}

    def prepare(
        self, todo: list[tuple[int, dict[str, str | None]]], readonly: bool = False
    ) -> Callable[[int, dict[str, str | None]], RowResult]:
        """Give every row its key and journal record (new rows are recorded as pending)."""
        keys = self.key_values()
        seen: dict[str, int] = {}
        self.values = dict(todo)
        for row, values in todo:
            print_ = fingerprint(values)
            key = row_key(self.vendor, values, self.options.key_column, keys.get(row))
            if key in seen:  # refused before sending by flag_duplicates; never sent twice
                self.duplicates[row] = seen[key]
                continue
            seen[key] = row
            values[MARKER] = _marker(key)
            if readonly:
                entry = self.journal.get(key)
                if entry is not None:
                    self.rows[row] = (key, print_, entry)
            else:
                self.rows[row] = (key, print_, self.journal.remember(key, print_, row, values))
        if self.options.update and not readonly:
            self.check_guard()
        return self.work

    def updates(self) -> dict[int, str]:
        """Sheet row -> what changed (old → new), for every created row edited since."""
        return {
            row: describe(differences(entry.payload, self.values.get(row, {})))
            for row, (_, print_, entry) in self.rows.items()
            if entry.state in ("created", "updating") and entry.fingerprint != print_
        }

    def check_guard(self) -> None:
        """Stop an update over the mass-change guard before anything is sent."""
        from importer.vendors import plugin

        changes = plugin(self.vendor).changes
        if changes is None or changes.update is None:
            return  # nothing will be changed at the vendor: such rows stay "changed"
        counts: dict[str, int] = getattr(self.journal, "counts", dict)()
        journaled = sum(counts.get(s, 0) for s in ("created", "updating", "deleting"))
        (self.options.guard or Guard()).check(len(self.updates()), journaled, "update")

    def recorded(self, row: int) -> RowResult:
        """A row's outcome as the journal records it, without sending anything."""
        if row in self.duplicates:
            return RowResult(
                Status.SKIPPED, message=f"same key as row {self.duplicates[row]}: sent once only"
            )
        if row not in self.rows:
            return RowResult(Status.NOT_SENT, message="not in the journal: never sent")
        _, _, entry = self.rows[row]
        status = JournalState(entry.state).status()
        return RowResult(status, entry.created_id, entry.message)

    def key_values(self) -> dict[int, str]:
        return key_values(self.report, self.options.key_column)

    def work(self, row: int, values: dict[str, str | None]) -> RowResult:
        if row in self.duplicates:
            return RowResult(
                Status.SKIPPED, message=f"same key as row {self.duplicates[row]}: sent once only"
            )
        key, print_, entry = self.rows[row]
        journal, sender = self.journal, self.sender
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.updated))
        if entry.state in ("created", "updating"):
            if entry.state == "created" and entry.fingerprint == print_:
                return RowResult(
                    Status.SKIPPED, entry.created_id, f"already created on {when}; not sent again"
                )
            if self.options.update:
                from importer.vendors import plugin

                found = plugin(self.vendor)
                return update_row(found, journal, sender, key, print_, entry, values)
            if entry.state == "updating":
                return RowResult(
                    Status.UNKNOWN,
                    entry.created_id,
                    "an update of this row was interrupted: run again with --update to finish it",
                )
            return RowResult(
                Status.CHANGED,
                entry.created_id,
                f"changed since it was created on {when} (ID {entry.created_id}): not sent "
                "again; run with --update to change it at the vendor, or give the row a new key",
            )
        if entry.state == "deleting":
            return RowResult(
                Status.UNKNOWN,
                entry.created_id,
                "an undo of this row was interrupted: run `session-importer undo` again first",
            )
        if (
            entry.state == "rejected"
            and entry.fingerprint == print_
            and not self.options.retry_rejected
        ):
            return RowResult(
                Status.REJECTED,
                message=f"{entry.message} (from the run of {when}; fix the row, "
                "or use --retry-rejected)",
            )
        if entry.state in ("unknown", "sending"):
            verdict, ident = sender.reconcile(entry.payload | {MARKER: values.get(MARKER)})
            if verdict == "found" and ident:
                journal.outcome(
                    key, JournalState.CREATED, ident, "found at the vendor after a lost answer"
                )
                return RowResult(
                    Status.CREATED,
                    ident,
                    "found at the vendor after an earlier lost answer: not resent",
                )
            if verdict == "unchecked" and not self.options.resend_unknown:
                message = (
                    "an earlier answer was lost and the vendor gives no way to check: look for "
                    "the session at the vendor, then re-run with --resend-unknown if it is missing"
                )
                journal.outcome(key, JournalState.UNKNOWN, "", message)
                return RowResult(Status.UNKNOWN, message=message)
        # The run is kept with the row: `undo RUN` takes back what that run sent.
        run = {"_run": self.options.run_id} if self.options.run_id else {}
        journal.sending(key, print_, values | run)
        try:
            result = sender.import_row(values)
        except BaseException:
            journal.outcome(key, JournalState.PENDING, "", "stopped before the request left")
            raise
        # created, rejected and unknown are the same words in both; anything else never left.
        final = (Status.CREATED, Status.REJECTED, Status.UNKNOWN)
        state = JournalState(result.status) if result.status in final else JournalState.PENDING
        journal.outcome(key, state, result.created_id, result.message)
        return result
