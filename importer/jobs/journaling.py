"""Sending through the journal: skip what exists, reconcile lost answers, record outcomes.

:class:`JournalOptions` says how a run uses its journal; :func:`journal_report` reads
every row's outcome from it without sending; :func:`flag_duplicates` refuses a row repeated
in one sheet before anything is sent.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from importer.core.dates import wall_to_utc_text
from importer.core.outcomes import JournalState, RowResult, Status
from importer.jobs.changes import Guard, describe, differences, update_row
from importer.jobs.runs import is_undo
from importer.results.report import RunReport, valid_values
from importer.sending.protocol import MARKER
from importer.sending.sender import Sender
from importer.sheet.duplicates import flag_duplicates, key_values
from importer.sheet.validation import ValidationReport
from importer.store.base import (
    EARLIER_ZONES,
    ROW_IDENTITY,
    Entry,
    RowStore,
    fingerprint,
    row_key,
)
from importer.vendors.plugin import Plugin

__all__ = [
    "JournalOptions",
    "Journaled",
    "changed_runs",
    "flag_duplicates",
    "journal_report",
    "key_values",
    "lost_answers",
    "memo_fingerprint",
]

#: The journal states of a row created at the vendor (an update of it may be on the wire).
_DONE = (JournalState.CREATED, JournalState.UPDATING)


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
        prints: rows' fingerprints already made (see :func:`memo_fingerprint`): the plan,
            the duplicates check and the run make each row's once.
        update: change at the vendor rows created earlier and edited since (``--update``).
        run_id: the run sending, recorded with each row it sends (what ``undo`` takes back).
        guard: the mass-change guard an update must pass (its ``--confirm``).
    """

    journal: RowStore
    key_column: str | None = None
    retry_rejected: bool = False
    resend_unknown: bool = False
    prints: dict[tuple[Any, ...], str] = field(default_factory=dict, compare=False, repr=False)
    update: bool = False
    run_id: int = 0
    guard: Guard | None = None


def journal_report(report: ValidationReport, options: JournalOptions, plugin: Plugin) -> RunReport:
    """Every row's outcome as a journal records it (for ``session-importer report``)."""
    run = RunReport(report)
    todo = valid_values(report)
    journaled = Journaled(options, None, report, plugin)  # type: ignore[arg-type]
    journaled.prepare(todo, readonly=True)
    for row, _ in todo:
        run.results[row] = journaled.recorded(row)
    for row, said in journaled.updates().items():  # edited since created: say what changed
        verb = "would be updated" if options.update else "changed since it was created"
        if options.update:
            said += journaled.removals(row)
        run.results[row] = RowResult(Status.CHANGED, run.results[row].created_id, f"{verb}: {said}")
    return run


def changed_runs(
    report: ValidationReport, options: JournalOptions, plugin: Plugin
) -> dict[int, int | None]:
    """Sheet row -> the journal's run that created it, for every row created earlier and
    edited since (what an update would change; ``None``: a row that recorded no run)."""
    journaled = Journaled(options, None, report, plugin)  # type: ignore[arg-type]
    journaled.prepare(valid_values(report), readonly=True)
    found: dict[int, int | None] = {}
    for row in journaled.updates():
        made = journaled.rows[row][2].payload.get("_run")
        found[row] = made if isinstance(made, int) else None
    return found


def lost_answers(
    report: ValidationReport, options: JournalOptions, plugin: Plugin, rows: Collection[int]
) -> dict[int, RowResult]:
    """The rows among ``rows`` whose earlier answer was lost, as the journal has them now.

    A row this run did not send (``--limit``, a stop, a lookup refused) is not thereby
    safe to send: if a create of it was sent before and its answer lost, it stays
    ``unknown`` until a run can check it.
    """
    wanted = set(rows)
    if not wanted:
        return {}
    todo = [(row, values) for row, values in valid_values(report) if row in wanted]
    journaled = Journaled(options, None, report, plugin)  # type: ignore[arg-type]
    journaled.prepare(todo, readonly=True)
    found: dict[int, RowResult] = {}
    for row, _ in todo:
        recorded = journaled.recorded(row)
        if recorded.status == Status.UNKNOWN:
            found[row] = recorded
    return found


def memo_fingerprint(values: Mapping[str, Any], memo: dict[tuple[Any, ...], str] | None) -> str:
    """:func:`~importer.store.base.fingerprint`, made once per distinct row when given a memo."""
    if memo is None:
        return fingerprint(values)
    try:
        seen = tuple(values.items())
        found = memo.get(seen)
    except TypeError:  # a cell that cannot be hashed: no memo for it
        return fingerprint(values)
    if found is None:
        found = memo[seen] = fingerprint(values)
    return found


_WALL_CLOCK = "wall-clock"  # ROW_IDENTITY's value: every row keyed by its cells as typed


def _zone(name: str) -> ZoneInfo | None:
    """A run's recorded time zone (none recorded: UTC, the default then)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _marker(key: str) -> str:
    """A short, stable tag for a row, written where the vendor keeps "ID in another tool"."""
    return "[imp:" + hashlib.sha256(key.encode()).hexdigest()[:12] + "]"


class Journaled:
    """Sending through the journal: skip what exists, reconcile lost answers, record outcomes."""

    def __init__(
        self, options: JournalOptions, sender: Sender, report: ValidationReport, plugin: Plugin
    ) -> None:
        self.options, self.sender, self.report, self.plugin = options, sender, report, plugin
        self.vendor = plugin.name  # the first part of every row key
        self.journal = options.journal
        self.rows: dict[int, tuple[str, str, Entry]] = {}
        self.duplicates: dict[int, int] = {}
        self.values: dict[int, dict[str, str | None]] = {}
        self._keys: dict[int, str] = {}
        self._walls: dict[str, dict[int, str]] = {}
        self._zones: list[ZoneInfo] = []
        self._todo: list[tuple[int, dict[str, str | None]]] = []
        self._next = 0
        self._seen: dict[str, int] = {}
        self._preparing = threading.Lock()

    #: Rows keyed and recorded before the first request is sent; the others are, a chunk at a
    #: time, as sending reaches them (10,000 rows start within a tenth of a second: issue 15).
    FIRST = 256
    CHUNK = 2048

    def prepare(
        self, todo: list[tuple[int, dict[str, str | None]]], readonly: bool = False
    ) -> Callable[[int, dict[str, str | None]], RowResult]:
        """Give every row its key and journal record (new rows are recorded as pending).

        With ``readonly``, every row at once and nothing recorded; else the first
        :attr:`FIRST` rows now and the others as :meth:`work` reaches them, in order.
        """
        self._keys = self.key_values()
        self._walls, self._zones = self._wall_clock(readonly)
        self._todo, self._next, self._seen = todo, 0, {}
        self._preparing = threading.Lock()
        self.values = dict(todo)
        # An update counts every row changed before anything is sent (the guard): all at once.
        everything = readonly or self.options.update
        self._prepare(len(todo) if everything else self.FIRST, readonly)
        if self.options.update and not readonly:
            self.check_guard()
        return self.work

    def updates(self) -> dict[int, str]:
        """Sheet row -> what changed (old → new), for every created row edited since."""
        return {
            row: describe(differences(entry.payload, self.values.get(row, {})))
            for row, (_, print_, entry) in self.rows.items()
            if entry.state in _DONE and entry.fingerprint != print_
        }

    def removals(self, row: int) -> str:
        """What an update of ``row`` would also remove at the vendor (a Coursepath enrolment,
        and the learner's results with it), in words: a dry run says it before it happens."""
        changes = self.plugin.changes
        if changes is None or changes.update is None:
            return ""
        _, _, entry = self.rows[row]
        calls = changes.update(entry.payload, self.values.get(row, {}), entry.created_id)
        names = [c.name for c in calls if c.method == "DELETE"] if isinstance(calls, list) else []
        return f"; and would {'; '.join(names)}" if names else ""

    def check_guard(self) -> None:
        """Stop an update over the mass-change guard before anything is sent."""
        changes = self.plugin.changes
        if changes is None or changes.update is None:
            return  # nothing will be changed at the vendor: such rows stay "changed"
        counts: dict[str, int] = getattr(self.journal, "counts", dict)()
        journaled = sum(counts.get(s, 0) for s in (*_DONE, JournalState.DELETING))
        changed = self.updates()
        words = [f"{self.rows[row][0]}:{self.rows[row][1]}" for row in changed]
        guard = self.options.guard or Guard()
        guard.check(len(changed), journaled, "update", words, self.journal)

    def _prepare(self, count: int, readonly: bool = False) -> None:
        """Key and look up (or record) the next ``count`` rows of the ones to send."""
        batch = self._todo[self._next : self._next + count]
        self._next += len(batch)
        rows: list[tuple[str, str, int, dict[str, str | None]]] = []
        column = self.options.key_column
        for row, values in batch:
            print_ = memo_fingerprint(values, self.options.prints)
            raw = self._keys.get(row)
            # Known by what was typed, whatever the time zone and date order it is read in
            # (its content, the fingerprint, changes with them: such a row is "changed").
            key = row_key(self.vendor, values, column, raw, self._identity(row, values, print_))
            if key in self._seen:  # refused before sending by flag_duplicates; never sent twice
                self.duplicates[row] = self._seen[key]
                continue
            self._seen[key] = row
            rows.append((key, print_, row, values))
        if self._zones:
            rows = self._earlier_keys(rows)
        if not readonly:
            for key, _, _, values in rows:
                values[MARKER] = _marker(key)
        # In bulk: one statement a few hundred rows, one transaction (issue 15).
        if readonly:
            known = self.journal.get_many([key for key, _, _, _ in rows])
            for key, print_, row, _ in rows:
                if key in known:
                    self.rows[row] = (key, print_, known[key])
        else:
            for (key, print_, row, _), entry in zip(
                rows, self.journal.remember_many(rows), strict=True
            ):
                self.rows[row] = (key, print_, entry)

    def _wall_clock(self, readonly: bool) -> tuple[dict[str, dict[int, str]], list[ZoneInfo]]:
        """Each row's cells as typed (field -> row -> value, see
        :attr:`importer.sheet.fields.Parsed.wall`), and the zones an earlier version may have
        keyed this journal's rows in (none for a journal this version started: see
        :meth:`_earlier_keys`)."""
        if self.options.key_column is not None or not self.report.wall_clock:
            return {}, []  # keyed by the user's column: the zone never was in the key
        walls = {
            name: dict(
                zip(cells.index[cells.notna()].tolist(), cells.dropna().tolist(), strict=True)
            )
            for name, cells in self.report.wall_clock.items()
        }
        journal = self.journal
        if journal.meta(ROW_IDENTITY) == _WALL_CLOCK:
            return walls, []
        counts = getattr(journal, "counts", None)
        if counts is not None and not counts():
            if not readonly:  # a new journal: every row it will hold is keyed the new way
                journal.set_meta(ROW_IDENTITY, _WALL_CLOCK)
            return walls, []
        names = {self.report.context.zone.key, journal.meta("timezone") or ""}
        names |= set((journal.meta(EARLIER_ZONES) or "").split(","))  # older journals taken in
        runs = getattr(journal, "runs", None)
        for run in runs() if runs is not None else ():
            if is_undo(run):  # it read no sheet: no zone of its own (not UTC)
                continue
            names.add(str((run["summary"].get("settings") or {}).get("timezone") or ""))
        zones = [_zone(name) for name in sorted(names)]
        return walls, [zone for zone in zones if zone is not None]

    def _identity(self, row: int, values: Mapping[str, Any], print_: str) -> str:
        """The fingerprint of ``values`` with its cells as typed (times typed without a zone
        read as if in UTC, dates that read two ways read day-first): the same in every zone
        and date order; ``print_`` for a row read in UTC and day-first."""
        context = self.report.context
        if not self._walls or (context.zone.key == "UTC" and context.order == "DMY"):
            return print_
        walls = {name: cells[row] for name, cells in self._walls.items() if row in cells}
        return fingerprint({**values, **walls}) if walls else print_

    def _earlier_keys(
        self, rows: list[tuple[str, str, int, dict[str, str | None]]]
    ) -> list[tuple[str, str, int, dict[str, str | None]]]:
        """Rows an earlier version recorded under another key, found under it.

        Earlier versions keyed a row by the fingerprint of what was sent, its times in UTC:
        a row read in UTC (and day-first) has the same key now, one read in another zone
        had the fingerprint of its times read in that zone. Such a row, not found under its
        key, is looked for under the key of what is sent now, then of its times read in
        each zone this journal's runs used, and keeps the key found (so is never created
        twice, and changes like any row).
        """
        known = self.journal.get_many([key for key, _, _, _ in rows])
        zoned = {n for n in self._walls if self.report.vendor.field(n).kind.zoned}
        tried: dict[str, list[str]] = {}
        for key, print_, row, values in rows:
            walls = {name: cells[row] for name, cells in self._walls.items() if row in cells}
            if key in known or not walls:
                continue
            # As sent now (the same zone and date order as then), then in each recorded zone.
            keys = tried.setdefault(key, [f"{self.vendor}:fp:{print_}"])
            times = {name: wall for name, wall in walls.items() if name in zoned}
            for zone in self._zones if times else ():
                read = {name: wall_to_utc_text(wall, zone) for name, wall in times.items()}
                keys.append(f"{self.vendor}:fp:{fingerprint({**values, **read})}")
        if not tried:
            return rows
        found = self.journal.get_many(sorted({k for keys in tried.values() for k in keys}))
        out = []
        for key, print_, row, values in rows:
            earlier = next((k for k in tried.get(key, ()) if k in found), None)
            out.append((earlier or key, print_, row, values))
        return out

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
        """Send one row through the journal (see the class docstring)."""
        if row not in self.rows and row not in self.duplicates:
            with self._preparing:  # the next chunk: one thread records it, the others wait
                while row not in self.rows and row not in self.duplicates:
                    if self._next >= len(self._todo):
                        raise KeyError(f"row {row} is not among the rows prepared")
                    self._prepare(self.CHUNK)
        if row in self.duplicates:
            return RowResult(
                Status.SKIPPED, message=f"same key as row {self.duplicates[row]}: sent once only"
            )
        key, print_, entry = self.rows[row]
        journal, sender = self.journal, self.sender
        # Only the rows done before say when (a new row's send does not pay for it).
        when = (
            time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.updated))
            if entry.state in (*_DONE, JournalState.REJECTED)
            else ""
        )
        if entry.state in _DONE:
            if entry.state == JournalState.CREATED and entry.fingerprint == print_:
                return RowResult(
                    Status.SKIPPED, entry.created_id, f"already created on {when}; not sent again"
                )
            if self.options.update:
                return update_row(self.plugin, journal, sender, key, print_, entry, values)
            if entry.state == JournalState.UPDATING:
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
        if entry.state == JournalState.DELETING:
            return RowResult(
                Status.UNKNOWN,
                entry.created_id,
                "an undo of this row was interrupted: run `session-importer undo` again first",
            )
        if (
            entry.state == JournalState.REJECTED
            and entry.fingerprint == print_
            and not self.options.retry_rejected
        ):
            return RowResult(
                Status.REJECTED,
                message=f"{entry.message} (from the run of {when}; fix the row, "
                "or use --retry-rejected)",
            )
        doubt = ""  # why the row may exist at the vendor although this run sends it again
        if entry.state in (JournalState.UNKNOWN, JournalState.SENDING):
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
            if verdict == "unchecked":  # sent again on --resend-unknown, never checked
                doubt = entry.message or "an earlier answer was lost"
        # The run is kept with the row: `undo RUN` takes back what that run sent.
        run = {"_run": self.options.run_id} if self.options.run_id else {}
        journal.sending(key, print_, values | run)
        try:
            result = sender.import_row(values)
        except BaseException:
            if doubt:  # nothing left this time, and the earlier answer is still lost
                journal.outcome(key, JournalState.UNKNOWN, "", doubt)
            else:
                journal.outcome(key, JournalState.PENDING, "", "stopped before the request left")
            raise
        # created, rejected and unknown are the same words in both; anything else never left.
        final = (Status.CREATED, Status.REJECTED, Status.UNKNOWN)
        if doubt and result.status not in final:  # not sent again: still maybe at the vendor
            result.status = Status.UNKNOWN
            result.message = f"{result.message}; and {doubt}"
        state = JournalState(result.status) if result.status in final else JournalState.PENDING
        # Batched: written with the next row's mark (a crash before leaves it ``sending``).
        journal.answered(key, state, result.created_id, result.message)
        return result
