"""Import a sheet: the use case both faces call, the journal's whole life cycle included.

The command line builds the specs from its flags and job file, the page from its form and the
account; both then call the same steps, with the vendor's :class:`~importer.vendors.plugin.Plugin`
(resolved once, by them) and the run's settings:

1. :func:`read_sheet` reads and checks the sheet (repeated rows refused);
2. :func:`refuse_zoneless` refuses times without a zone when no zone was given;
3. :func:`import_sheet` opens the account's journal (other runs on the account go on at
   the same time: each row is claimed before its request leaves), records the run, says
   the plan, sends through :func:`~importer.jobs.pipeline.run_import`, writes the result
   sheet and records how the run ended, whatever stops it;
4. or :func:`resolve_emails` writes the sheet with the IDs of its email columns filled in.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from importer.core.clock import Clock
from importer.core.errors import ConfigurationError
from importer.core.outcomes import ExitCode, JournalState, Status
from importer.core.settings import RunSettings
from importer.core.signals import signal_exit_code
from importer.jobs.changes import ConfirmationNeededError, Guard
from importer.jobs.journaling import JournalOptions, journal_report
from importer.jobs.journals import JournalPlace, open_journal
from importer.jobs.pacing import journal_name
from importer.jobs.people import email_fields
from importer.jobs.pipeline import resolve_only, run_import
from importer.jobs.who import plain_who
from importer.results.report import RunReport
from importer.results.write import write_report
from importer.sending.progress import ProgressHook, estimate_seconds
from importer.sheet.corrections import Correction, corrected, latest
from importer.sheet.duplicates import flag_duplicates
from importer.sheet.headers import header_scorer, match_headers
from importer.sheet.reading.table import Table, read_table
from importer.sheet.validation import Options, ValidationReport, prepare, validate_table
from importer.store import JournalLike
from importer.store.base import JobLockedError
from importer.vendors.plugin import Plugin

__all__ = [
    "Hooks",
    "ImportSpec",
    "Imported",
    "Resolved",
    "SheetSpec",
    "check_table",
    "import_sheet",
    "plan_line",
    "read_sheet",
    "refuse_zoneless",
    "resolve_emails",
    "zone_missing",
]


@dataclass(frozen=True)
class SheetSpec:
    """Which sheet, read how.

    Attributes:
        path: the sheet as its owner knows it (named in messages and the result sheet).
        read_from: a private copy to read instead (the inbox's, taken from the file checked).
        sheet: the workbook's sheet to read (``None``: the first visible one).
        timezone: the zone of times written without one (``None``: none given).
        date_order: ``DMY`` or ``MDY`` for dates such as 03/04/2027 (``None``: the vendor's).
        defaults: values for the whole sheet (``--path-id``), by field name.
        key: the column that names a row across edits (``None``: its content does).
        columns: field name -> the sheet's header a person chose for it (``--map``, the
            page's mapping step), or ``None``: not in this sheet.
        corrections: cells a person corrected (on the page), applied before checking.
    """

    path: Path
    read_from: Path | None = None
    sheet: str | None = None
    timezone: str | None = None
    date_order: str | None = None
    defaults: Mapping[str, str] | None = None
    key: str | None = None
    columns: Mapping[str, str | None] | None = None
    corrections: tuple[Correction, ...] = ()


@dataclass(frozen=True)
class ImportSpec:
    """How to import a sheet already read.

    Attributes:
        sheet: the sheet's spec (its key and what the journal records of it).
        result: where the result sheet goes.
        journal: where the account's journal is.
        label: the run's source as the journal records it (a path, or the upload's name).
        recorded: the settings the sheet was read with, kept in the journal for ``report``.
        limit: send at most this many rows.
        dry_run: send nothing.
        retry_rejected, resend_unknown: send rows again the journal says were refused, or
            whose answer was lost.
        update: change rows edited since they were created (``run --update``).
        guard: the mass-change guard.
        wait: wait for a row another run has in flight, and report its outcome, instead of
            reporting it ``skipped`` at once (and for a process holding the journal whole,
            instead of refusing).
        shared_budget: share the vendor's pace and tokens with the other processes.
        who: who started the run (the page's user, or the command line's
            :func:`~importer.jobs.who.command_line_user`), kept with the run (made plain by
            :func:`~importer.jobs.who.plain_who`).
        summary: more facts to record with the run's end.
    """

    sheet: SheetSpec
    result: Path
    journal: JournalPlace
    label: str
    recorded: Mapping[str, str] = field(default_factory=dict)
    limit: int | None = None
    dry_run: bool = False
    retry_rejected: bool = False
    resend_unknown: bool = False
    update: bool = False
    guard: Guard = field(default_factory=Guard)
    wait: bool = False
    shared_budget: bool = True
    who: str | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Hooks:
    """What a face is told while a run goes (each defaults to telling nobody).

    Attributes:
        notify: a sentence worth telling mid-run (a lock waited out, emails looked up).
        plan: the one line said before sending (rows, what is sent, how long it takes).
        waiting: said once before waiting for a process holding the account's journal whole.
        progress: show a progress bar on stderr (the command line on a terminal).
        on_progress: (rows done, rows to send, rows per status, seconds left).
        stop: set from another thread to stop as Ctrl-C does.
        started: the run's journal (:func:`~importer.jobs.pacing.journal_name`) and its
            number there, once recorded: how the runs in progress on the account name it
            (:mod:`importer.jobs.sharing`).
    """

    notify: Callable[[str], None] = lambda message: None
    plan: Callable[[str], None] = lambda line: None
    waiting: Callable[[], None] = lambda: None
    progress: bool = False
    on_progress: ProgressHook | None = None
    stop: threading.Event | None = None
    started: Callable[[str, int], None] = lambda journal, run_id: None


@dataclass(frozen=True)
class Imported:
    """What an import did: every row's outcome, the result sheet, and the journal's run."""

    report: ValidationReport
    run: RunReport
    result: Path
    journal: str | None
    run_id: int


def read_sheet(
    spec: SheetSpec,
    plugin: Plugin,
    remembered: Callable[[list[str]], Mapping[str, str | None]] | None = None,
) -> ValidationReport:
    """Read and check the sheet for the vendor; rows repeated in it are refused.

    ``remembered``: the columns chosen earlier for a sheet with these headers (the account's
    journal keeps them: :func:`importer.jobs.memory.remembered_columns`).

    Raises:
        ImporterError: the sheet cannot be read, or an option is wrong (a plain sentence).
    """
    options = prepare(plugin.schema, spec.timezone, spec.date_order, spec.defaults)
    table = read_table(spec.read_from or spec.path, header_scorer(plugin.schema), spec.sheet)
    if remembered is not None:  # chosen earlier for these headers; the spec's own win
        earlier = remembered([str(h) for h in table.frame.columns])
        if earlier:
            spec = dataclasses.replace(spec, columns={**earlier, **(spec.columns or {})})
    return check_table(table, spec, plugin, options)


def check_table(
    table: Table, spec: SheetSpec, plugin: Plugin, options: Options | None = None
) -> ValidationReport:
    """Check a sheet already read (:func:`read_sheet`'s second half): its columns as matched
    or chosen, its corrections applied. The page calls it again after each correction,
    without reading the file again.

    Raises:
        ImporterError: a required column is missing, or an option is wrong.
    """
    options = options or prepare(plugin.schema, spec.timezone, spec.date_order, spec.defaults)
    if spec.read_from is not None:  # the copy was read; the sheet is still the one named
        table = dataclasses.replace(table, source=spec.path)
    where = f"{spec.path}" + (f" (sheet {table.sheet!r})" if table.sheet else "")
    headers = list(table.frame.columns)
    given = frozenset(options.defaults)
    columns = match_headers(headers, plugin.schema, where, given, spec.columns)
    try:
        fixed = corrected(table, spec.corrections)
    except KeyError as error:
        said = f"{where}: a correction names no cell of the sheet ({error})."
        raise ConfigurationError(said) from None
    report = validate_table(fixed, columns, options)
    if spec.corrections:  # the result sheet says which cells are not as the sheet had them
        notes = {row: list(said) for row, said in report.notes.items()}
        for (row, column), fix in latest(spec.corrections).items():
            by = f" by {fix.who}" if fix.who else ""
            notes.setdefault(row, []).append(
                f"Corrected on the page{by}: {column} was {fix.old!r}, now {fix.new!r}"
            )
        report = dataclasses.replace(report, notes={r: tuple(n) for r, n in notes.items()})
    return flag_duplicates(report, spec.key)


def zone_missing(source: Path | str, rows: int, fix: str) -> str:
    """Why a run whose times have no time zone, and was given none, is refused (one line)."""
    many = "1 row has" if rows == 1 else f"{rows} rows have"
    return (
        f"{source}: {many} times without a time zone, and no time zone was given: {fix}. "
        "Nothing was sent."
    )


def refuse_zoneless(report: ValidationReport, spec: SheetSpec, fix: str) -> None:
    """Refuse a sheet whose times have no zone when none was given (``fix``: how to give one).

    Read as UTC they would be sent hours off, and a later run given the right zone would see
    other times and create every row again: refused before the journal or the vendor is
    touched.

    Raises:
        ConfigurationError: such rows, and no zone.
    """
    if spec.timezone is None and report.zoneless():
        raise ConfigurationError(zone_missing(spec.path, report.zoneless(), fix))


def plan_line(
    report: ValidationReport,
    plugin: Plugin,
    options: JournalOptions | None,
    *,
    label: str,
    limit: int | None = None,
    dry_run: bool = False,
) -> str:
    """One line before sending: rows, what will be sent, and how long the vendor's pace takes."""
    valid = report.row_count - report.invalid_count
    done = changed = 0
    # Only a journal holding created rows can hold some of these: a first run of a sheet
    # does not key and look up every row twice before its first request (issue 15).
    journal = options.journal if options is not None and valid else None
    counts: dict[str, int] = getattr(journal, "counts", dict)()
    if counts.get(JournalState.CREATED) or counts.get(JournalState.UPDATING):
        assert options is not None  # a journal was read above
        recorded = journal_report(report, options, plugin).results.values()
        done = sum(1 for result in recorded if result.status == Status.CREATED)
        changed = sum(1 for result in recorded if result.status == Status.CHANGED)
    left = valid - done - changed
    to_send = left if limit is None else min(left, limit)
    policy = plugin.wire.rate
    eta = estimate_seconds(to_send, 1.0, policy)
    pace = f"; about {_duration(eta)} at {policy.description}" if eta and eta > 60 else ""
    verb = "would send" if dry_run else "sending"
    said = f"{report.row_count} rows, {valid} valid, {report.invalid_count} invalid"
    already = f", {done} already created (not sent again)" if done else ""
    if changed:
        which = (
            "to update"
            if options is not None and options.update
            else "changed (not sent: see --update)"
        )
        already += f", {changed} {which}"
    return f"{label}: {said}{already}; {verb} {to_send}{pace}."


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def import_sheet(
    report: ValidationReport,
    spec: ImportSpec,
    plugin: Plugin,
    settings: RunSettings,
    hooks: Hooks | None = None,
    *,
    client: httpx.Client | None = None,
    clock: Clock | None = None,
) -> Imported:
    """Import a sheet read by :func:`read_sheet`: the journal's whole life cycle.

    The account's journal is opened, the run recorded with the settings the sheet was read
    with (and as the holder of the rows it claims), the plan said, every row sent (or
    skipped, reconciled, updated) through the journal, the result sheet written, and the
    run's end recorded, whatever ended it: the mass-change guard, a signal, a fatal answer.
    Other runs on the account go on meanwhile: each row is claimed before its request
    leaves, and one another live run has in flight is not sent twice.

    Raises:
        JobLockedError: a process holds the account's journal whole (a store copy, an older
            journal being taken in, an earlier version's run; without ``spec.wait``).
        ConfirmationNeededError: an update over the mass-change guard (nothing was sent).
        ImporterError: the journal or the result sheet cannot be used.
    """
    hooks = hooks or Hooks()
    journal = open_journal(
        spec.journal, plugin, settings, dry_run=spec.dry_run, notify=hooks.notify, wait=spec.wait
    )
    run_id = 0
    # Who is kept with the run's start and its end (the page's history reads the end).
    by = {"who": who} if (who := plain_who(spec.who)) else {}
    try:
        if journal is not None:
            run_id = _start(journal, spec, hooks)
            hooks.started(journal_name(journal.path), run_id)
        options = (
            JournalOptions(
                journal,
                spec.sheet.key,
                spec.retry_rejected,
                spec.resend_unknown,
                {},
                update=spec.update,
                run_id=run_id,
                guard=spec.guard,
                wait=spec.wait,
            )
            if journal is not None
            else None
        )
        run = _send(report, spec, plugin, settings, hooks, options, client, clock)
        written = spec.result
        try:
            written = write_report(run.validation, spec.result, run)
        finally:
            if journal is not None and run_id:
                end = {"counts": run.counts(), "stopped": run.stopped, "dry_run": run.dry_run}
                end |= {"result": str(written), **by}
                journal.finish_run(run_id, {**end, **spec.summary})
    except ConfirmationNeededError as error:  # the mass-change guard: nothing was sent
        if journal is not None and run_id:
            journal.finish_run(run_id, {"counts": {}, "stopped": error.on_page, **by})
        raise
    finally:
        if journal is not None:
            journal.close()
    # A sandbox rehearsal's journal is thrown away with its folder: none to name.
    kept = str(journal.path) if journal is not None and spec.journal.scratch is None else None
    return Imported(run.validation, run, written, kept, run_id)


def _start(journal: JournalLike, spec: ImportSpec, hooks: Hooks) -> int:
    """Record the run's start, and make it the holder of the rows it claims.

    The journal's whole lock is taken shared: runs on the account work at once (each row is
    claimed before its request leaves, see :mod:`importer.jobs.claims`); only a process
    that needs the journal to itself (a store copy, an older journal being taken in, an
    earlier version's run) holds them back, or is waited for with ``spec.wait``."""
    try:
        journal.lock_job(shared=True)
    except JobLockedError:
        if not spec.wait:
            raise
        hooks.waiting()  # said once, before waiting: a host held back is seen waiting
        journal.lock_job(wait=True, shared=True)
    for name, value in spec.recorded.items():
        journal.set_meta(name, value)
    used = {**spec.recorded, "result": str(spec.result.resolve())}
    who = plain_who(spec.who)
    if who:
        used["who"] = who
    run_id = journal.start_run(spec.label, used)
    journal.hold(f"run {run_id}", who, run_id)
    return run_id


def _send(
    report: ValidationReport,
    spec: ImportSpec,
    plugin: Plugin,
    settings: RunSettings,
    hooks: Hooks,
    options: JournalOptions | None,
    client: httpx.Client | None,
    clock: Clock | None,
) -> RunReport:
    """Say the plan and send; a signal before the sending loop reports every row not sent."""
    try:
        hooks.plan(
            plan_line(
                report, plugin, options, label=spec.label, limit=spec.limit, dry_run=spec.dry_run
            )
        )
        return run_import(
            report,
            settings,
            plugin,
            client=client,
            clock=clock,
            limit=spec.limit,
            dry_run=spec.dry_run,
            progress=hooks.progress,
            journal=options,
            shared_budget=spec.shared_budget,
            notify=hooks.notify,
            stop=hooks.stop,
            on_progress=hooks.on_progress,
            who=plain_who(spec.who),
        )
    except KeyboardInterrupt as error:
        # A signal outside the sending loop (waiting for the lock, looking up emails,
        # planning): every row is still reported, as not sent.
        stop = "terminated" if signal_exit_code(error) == 143 else "interrupted"
        return RunReport(report, stopped=stop)


@dataclass(frozen=True)
class Resolved:
    """What :func:`resolve_emails` did: its exit code, the figures, the counts, the sheet."""

    exit_code: int
    people: Mapping[str, Any]
    counts: Mapping[str, int]
    result: Path


def resolve_emails(
    report: ValidationReport, plugin: Plugin, settings: RunSettings, target: Path | None
) -> Resolved:
    """Write the sheet with IDs looked up from the email columns, for a coordinator to check
    (``target``: where; ``None``: beside the sheet, as ``NAME.resolved.xlsx`` or ``.csv``)."""
    resolved, figures = resolve_only(report, plugin, settings)
    frame = resolved.table.frame.copy()
    for _, id_field, _ in email_fields(plugin):
        header = resolved.columns.fields.get(id_field, report.vendor.field(id_field).label)
        filled = resolved.values[id_field].fillna("").astype(str)
        frame[header] = filled.where(filled != "", frame.get(header, ""))
    table = dataclasses.replace(resolved.table, frame=frame)
    source = report.table.source
    target = target or source.with_name(
        f"{source.stem}.resolved{'.csv' if report.table.delimiter else '.xlsx'}"
    )
    written = write_report(dataclasses.replace(resolved, table=table), target)
    code = ExitCode.OK if resolved.ok else ExitCode.NOT_ALL_DONE
    return Resolved(int(code), figures, resolved.counts(), written)
