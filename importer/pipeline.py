"""The import run: validated rows -> paced, concurrent sending -> every row's outcome.

``run_import`` takes a validation report and the run's settings, sends each
valid row through the vendor's adapter, and returns a :class:`RunReport` with
the outcome of every input row: ``invalid`` (never sent), ``created`` (with
the vendor's ID), ``rejected`` (with the vendor's reason), ``unknown`` (the
answer was lost: check before re-running), ``not sent`` (a stop, ``--limit``
or a dry run came first).

Ctrl-C stops sending, lets the requests in flight finish, and still returns a
report with every row; so does a fatal vendor error (bad credentials), which
stops the run.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import httpx

from importer.clock import Clock, SystemClock
from importer.config import RunSettings
from importer.errors import FatalVendorError
from importer.hosts import is_local
from importer.journal import Entry, RowStore, fingerprint, row_key
from importer.outcomes import ExitCode, JournalState, Status
from importer.people import resolve_people
from importer.sender import (
    RowResult,
    Sender,
    sender_for,
)
from importer.throttle import Pacer, PacerStopped, RatePolicy, SharedSlots
from importer.tokens import TokenStore
from importer.validation import ValidationReport
from importer.vendors import plugin
from importer.wire import MARKER

__all__ = [
    "EXIT_CODES",
    "JournalOptions",
    "ProgressHook",
    "RunReport",
    "estimate_seconds",
    "flag_duplicates",
    "journal_report",
    "resolve_only",
    "run_import",
]

#: Exit codes of ``session-importer run``, by what happened (see :class:`ExitCode`).
EXIT_CODES = {
    "all created": ExitCode.OK,
    "some not created": ExitCode.NOT_ALL_DONE,
    "could not run": ExitCode.CANNOT_RUN,
    "fatal": ExitCode.FATAL,
    "interrupted": ExitCode.INTERRUPTED,
    "terminated": ExitCode.TERMINATED,
}


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
    """

    journal: RowStore
    key_column: str | None = None
    retry_rejected: bool = False
    resend_unknown: bool = False


@dataclass
class RunReport:
    """Every row's outcome of an import run.

    Attributes:
        validation: the validation of the sheet.
        results: sheet row -> its outcome at the vendor, for every valid row.
        stopped: why the run stopped early ("interrupted", or the fatal error), if it did.
        fatal: whether it stopped on a fatal vendor error.
        dry_run: whether nothing was sent on purpose.
        requests: HTTP requests made.
        seconds: how long the sending took.
    """

    validation: ValidationReport
    results: dict[int, RowResult] = field(default_factory=dict)
    stopped: str | None = None
    fatal: bool = False
    dry_run: bool = False
    requests: int = 0
    seconds: float = 0.0

    def status(self, row: int) -> str:
        """The status of one sheet row."""
        if row in self.validation.errors:
            return "invalid"
        result = self.results.get(row)
        return result.status if result else Status.NOT_SENT

    def counts(self) -> dict[str, int]:
        """Rows per status, in a stable order."""
        found = Counter(self.status(int(row)) for row in self.validation.table.frame.index)
        order = (
            Status.CREATED,
            Status.SKIPPED,
            Status.CHANGED,
            Status.REJECTED,
            Status.UNKNOWN,
            Status.NOT_SENT,
            Status.INVALID,
        )
        return {str(status): found[status] for status in order if found[status]}

    @property
    def exit_code(self) -> int:
        """0 all created; 1 some not; 3 a fatal vendor error; 130 Ctrl-C; 143 SIGTERM."""
        if self.fatal:
            return EXIT_CODES["fatal"]
        if self.stopped in ("interrupted", "terminated"):
            return EXIT_CODES[self.stopped]
        counts = self.counts()
        if self.dry_run:
            return ExitCode.OK if not counts.get(Status.INVALID) else ExitCode.NOT_ALL_DONE
        done = counts.get(Status.CREATED, 0) + counts.get(Status.SKIPPED, 0)
        return ExitCode.OK if done == self.validation.row_count else ExitCode.NOT_ALL_DONE


def _values(report: ValidationReport) -> list[tuple[int, dict[str, str | None]]]:
    """The normalised values of every valid row, in sheet order."""
    valid = report.values.drop(index=list(report.errors))
    records = valid.astype(object).where(valid.notna(), None).to_dict("index")
    return [
        (int(str(row)), {str(k): v for k, v in values.items()}) for row, values in records.items()
    ]


def run_import(
    report: ValidationReport,
    settings: RunSettings,
    *,
    client: httpx.Client | None = None,
    clock: Clock | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    progress: bool = False,
    notify: Callable[[str], None] | None = None,
    journal: JournalOptions | None = None,
    shared_budget: bool = False,
    stop: threading.Event | None = None,
    on_progress: ProgressHook | None = None,
) -> RunReport:
    """Send every valid row of ``report`` to the vendor; return every row's outcome.

    Args:
        report: the validated sheet.
        settings: hosts, credentials, concurrency, rate.
        client: the HTTP client (a default one with the settings' timeout otherwise).
        clock: the clock to pace and wait on (the real one by default).
        limit: send at most this many rows; the others are ``not sent``.
        dry_run: send nothing; report what would be sent.
        progress: show a progress bar on stderr (only when stderr is a terminal).
        notify: where to say things worth saying mid-run (a lock waited out).
        journal: the job's journal: rows already created are skipped, lost answers
            reconciled, and every outcome recorded the moment it is known.
        shared_budget: share the account's rate with every importer process on this
            machine (a schedule file under ``$IMPORTER_STATE_DIR`` or ~/.cache).
        stop: set from another thread to stop as Ctrl-C does (the web page's Stop button).
        on_progress: called with (rows done, rows to send, rows per status, seconds left)
            before the first row and after each row.
    """
    clock = clock or SystemClock()
    notify = notify or (lambda message: print(f"session-importer: {message}", file=sys.stderr))
    run = RunReport(report, dry_run=dry_run)
    if dry_run and journal is not None:
        for row, recorded in journal_report(report, journal, settings.vendor).results.items():
            if recorded.status == Status.CREATED:
                run.results[row] = RowResult(
                    Status.SKIPPED, recorded.created_id, "already created: would not be sent again"
                )
    if dry_run or report.invalid_count == report.row_count:
        return run
    adapter = plugin(settings.vendor).wire.configured(settings.vendor_options)
    if adapter.rate.over_documented(settings.rate) and not settings.beyond_documented_rate:
        notify(
            f"--rate {settings.rate:g} is above {adapter.rate.description} (documented): "
            f"using {adapter.rate.documented:g} a second. --beyond-documented-rate overrides."
        )
    if settings.base_url.startswith("http://") and not is_local(settings.base_url):
        notify(f"{settings.base_url} is plain http (--allow-http): credentials travel unencrypted.")
    owns_client = client is None
    http = client or httpx.Client(
        timeout=settings.timeout, transport=httpx.HTTPTransport(retries=0)
    )
    shared, tokens = None, None
    if shared_budget:
        tokens = TokenStore(SharedSlots.default_folder(), clock)
    if shared_budget and adapter.rate.rate:
        identity = "|".join(s.reveal() for s in settings.credentials.values())
        account = (
            f"{settings.vendor}|{settings.base_url}|{hashlib.sha256(identity.encode()).hexdigest()}"
        )
        shared = SharedSlots(SharedSlots.default_folder(), account, clock)
        left, why = shared.pause()
        if left > 1:  # a wait the vendor asked of an earlier run still holds: say so
            notify(f"the account is paused for {left:.0f} s more ({why or 'asked by the vendor'}).")
    policy = adapter.rate.capped(settings.rate, settings.beyond_documented_rate)
    pacer = Pacer(policy, clock, shared)
    sender = sender_for(adapter, settings, http, clock, pacer, notify, tokens)
    started = time.perf_counter()
    try:
        report, people = resolve_people(report, sender)
    except (FatalVendorError, PacerStopped) as error:
        run.stopped, run.fatal = str(error) or "interrupted", isinstance(error, FatalVendorError)
        if owns_client:
            http.close()
        for closing in (shared, tokens):
            if closing is not None:
                closing.close()
        return run
    held: dict[int, str] = people.pop("held", {}) if people else {}
    if people:
        found, unknown = people["found"], people["unknown"]
        notify(
            f"looked up {people['emails']} email(s): {found} found, {unknown} unknown"
            + (f", {people['unchecked']} not checked (the vendor kept failing)" if held else "")
        )
    run.validation = report
    for row, message in held.items():
        run.results[row] = RowResult(Status.NOT_SENT, message=message)
    todo = [(row, values) for row, values in _values(report) if row not in held]
    if limit is not None:
        todo = todo[: max(limit, 0)]
    workers = max(1, min(settings.concurrency, adapter.max_concurrency))
    bar = _progress(len(todo), enabled=progress)
    work: Callable[[int, dict[str, str | None]], RowResult]
    if journal is None:
        work = lambda row, values: sender.import_row(values)  # noqa: E731
    else:
        work = _Journaled(journal, sender, report, settings.vendor).prepare(todo)
    hook = _Progress(len(todo), pacer, on_progress, clock)
    try:
        _send_all(todo, work, workers, run, pacer, bar, stop, hook)
    finally:
        run.seconds = time.perf_counter() - started
        run.requests = sender.requests
        bar.close()
        if shared is not None:
            shared.close()
        if tokens is not None:
            tokens.close()
        if owns_client:
            http.close()
    return run


def _send_all(
    todo: list[tuple[int, dict[str, str | None]]],
    work: Callable[[int, dict[str, str | None]], RowResult],
    workers: int,
    run: RunReport,
    pacer: Pacer,
    bar: Any,
    stop: threading.Event | None = None,
    hook: _Progress | None = None,
) -> None:
    statuses: Counter[str] = Counter()
    if hook is not None:
        hook(statuses)

    def wait_some(pending: Mapping[Future[RowResult], int]) -> set[Future[RowResult]]:
        # With a stop event, wake up often enough to notice it: it acts as Ctrl-C does.
        while True:
            done, _ = wait(pending, timeout=0.1 if stop else None, return_when=FIRST_COMPLETED)
            if stop is not None and stop.is_set():
                raise _StopRequested
            if done:
                return done

    def collect(done: set[Future[RowResult]], rows: Mapping[Future[RowResult], int]) -> None:
        for future in done:
            row = rows[future]
            try:
                result = future.result()
            except PacerStopped:
                result = RowResult(
                    Status.NOT_SENT, message=f"not sent: the run stopped ({run.stopped})"
                )
            except FatalVendorError as error:
                if not run.stopped:
                    run.stopped, run.fatal = str(error), True
                pacer.stop()
                result = RowResult(Status.NOT_SENT, message=f"not sent: {error}")
            run.results[row] = result
            statuses[result.status] += 1
            bar.update(1)
            bar.set_postfix_str(_eta_and_counts(bar, pacer, statuses))
            if hook is not None:
                hook(statuses)

    pending: dict[Future[RowResult], int] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send") as pool:
        try:
            for row, values in todo:
                while len(pending) >= workers:
                    done = wait_some(pending)
                    collect(done, pending)
                    for future in done:
                        del pending[future]
                # Checked right before each submit: a stop or a fatal error seen while
                # collecting the previous rows sends nothing more.
                if stop is not None and stop.is_set():
                    raise _StopRequested
                if run.stopped:
                    break
                pending[pool.submit(work, row, values)] = row
            while pending:
                done = wait_some(pending)
                collect(done, pending)
                for future in done:
                    del pending[future]
        except (KeyboardInterrupt, _StopRequested) as error:
            from importer.entry import Terminated

            why = "terminated" if isinstance(error, Terminated) else "interrupted"
            run.stopped = run.stopped or why
            pacer.stop()  # waiting calls give up; calls already on the wire finish
            done, _ = wait(pending)
            collect(done, pending)
    for row, _ in todo:
        if row not in run.results and run.stopped:
            run.results[row] = RowResult(
                Status.NOT_SENT, message=f"not sent: the run stopped ({run.stopped})"
            )


class _StopRequested(Exception):
    """The run's stop event was set: stop as Ctrl-C does."""


#: (rows done, rows to send, rows per status, seconds left at the slower of the observed pace
#: and the vendor's).
ProgressHook = Callable[[int, int, Mapping[str, int], float], None]


class _Progress:
    """Tells an observer (the web page) how far the run is, with the same ETA as the bar."""

    def __init__(self, total: int, pacer: Pacer, hook: ProgressHook | None, clock: Clock) -> None:
        self.total, self.pacer, self.hook, self.clock = total, pacer, hook, clock
        self.started = clock.time()

    def __call__(self, statuses: Mapping[str, int]) -> None:
        if self.hook is None:
            return
        done = sum(statuses.values())
        elapsed = self.clock.time() - self.started
        left = _seconds_left(done, self.total, elapsed, self.pacer)
        self.hook(done, self.total, dict(statuses), left)


def _seconds_left(done: int, total: int, elapsed: float, pacer: Pacer) -> float:
    """Time left at the slower of the observed pace and the vendor's."""
    per_row = max(elapsed / max(done, 1), pacer.interval)
    return max(total - done, 0) * per_row


def _progress(total: int, enabled: bool) -> Any:
    """A tqdm bar on stderr, quiet when stderr is not a terminal."""
    from tqdm import tqdm

    show = enabled and sys.stderr.isatty()
    return tqdm(
        total=total,
        unit="row",
        file=sys.stderr,
        disable=not show,
        dynamic_ncols=True,
        smoothing=0.05,
        desc="importing",
        # Our own ETA (see _eta_and_counts): tqdm's guess from the first, unpaced rows is too
        # hopeful under a rate limit.
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
    )


def _eta_and_counts(bar: Any, pacer: Pacer, statuses: Mapping[str, int]) -> str:
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


def resolve_only(
    report: ValidationReport, settings: RunSettings, *, clock: Clock | None = None
) -> tuple[ValidationReport, dict[str, Any]]:
    """Look up the sheet's email columns and fill in the IDs, sending nothing else."""
    clock = clock or SystemClock()
    adapter = plugin(settings.vendor).wire
    with httpx.Client(timeout=settings.timeout) as http:
        resolved, figures = resolve_people(report, sender_for(adapter, settings, http, clock))
    figures.pop("held", None)  # unchecked emails leave their IDs empty; the count says why
    return resolved, figures


def journal_report(report: ValidationReport, options: JournalOptions, vendor: str) -> RunReport:
    """Every row's outcome as a journal records it (for ``session-importer report``)."""
    run = RunReport(report)
    todo = _values(report)
    journaled = _Journaled(options, None, report, vendor)  # type: ignore[arg-type]
    journaled.prepare(todo, readonly=True)
    for row, _ in todo:
        run.results[row] = journaled.recorded(row)
    return run


def _marker(key: str) -> str:
    """A short, stable tag for a row, written where the vendor keeps "ID in another tool"."""
    return "[imp:" + hashlib.sha256(key.encode()).hexdigest()[:12] + "]"


class _Journaled:
    """Sending through the journal: skip what exists, reconcile lost answers, record outcomes."""

    def __init__(
        self, options: JournalOptions, sender: Sender, report: ValidationReport, vendor: str
    ) -> None:
        self.options, self.sender, self.report, self.vendor = options, sender, report, vendor
        self.journal = options.journal
        self.rows: dict[int, tuple[str, str, Entry]] = {}
        self.duplicates: dict[int, int] = {}

    def prepare(
        self, todo: list[tuple[int, dict[str, str | None]]], readonly: bool = False
    ) -> Callable[[int, dict[str, str | None]], RowResult]:
        """Give every row its key and journal record (new rows are recorded as pending)."""
        keys = self.key_values()
        seen: dict[str, int] = {}
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
        return self.work

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
        column = self.options.key_column
        if column is None:
            return {}
        frame = self.report.table.frame
        from importer.headers import header_key

        matches = [c for c in frame.columns if header_key(c) == header_key(column)]
        if not matches:
            from importer.errors import MissingColumnsError

            # The sheet's own problem (an inbox sends it to failed/), not the run's.
            where = self.report.table.source
            raise MissingColumnsError(f"{where}: --key: the sheet has no column {column!r}.")
        return {int(str(r)): str(v) for r, v in frame[matches[0]].items()}

    def work(self, row: int, values: dict[str, str | None]) -> RowResult:
        if row in self.duplicates:
            return RowResult(
                Status.SKIPPED, message=f"same key as row {self.duplicates[row]}: sent once only"
            )
        key, print_, entry = self.rows[row]
        journal, sender = self.journal, self.sender
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.updated))
        if entry.state == "created":
            if entry.fingerprint == print_:
                return RowResult(
                    Status.SKIPPED, entry.created_id, f"already created on {when}; not sent again"
                )
            return RowResult(
                Status.CHANGED,
                entry.created_id,
                f"changed since it was created on {when} (ID {entry.created_id}): not sent "
                "again; change it at the vendor, or give the row a new key",
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
        journal.sending(key, print_, values)
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


def key_values(report: ValidationReport, column: str | None) -> dict[int, str]:
    """Sheet row -> the cell of the key column (``--key``); empty without one.

    Raises:
        MissingColumnsError: the sheet has no such column.
    """
    return _Journaled(JournalOptions(None, column), None, report, "").key_values()  # type: ignore[arg-type]


def flag_duplicates(report: ValidationReport, key_column: str | None = None) -> ValidationReport:
    """Refuse, before anything is sent, a row that repeats an earlier row of the sheet.

    Two rows are the same when their normalised values are (or, with ``key_column``, their
    keys are): the second would create the same session twice, or never be sent.
    """
    import dataclasses

    from importer.validation import RowError

    keys = key_values(report, key_column)
    seen: dict[str, int] = {}
    errors = dict(report.errors)
    for row, values in _values(report):
        key = row_key("", values, key_column, keys.get(row))
        if key not in seen:
            seen[key] = row
            continue
        if key_column and keys.get(row):
            what = f"the same {key_column} ({keys[row].strip()}) as row {seen[key]}"
            fix = f"give each row its own {key_column}"
        else:
            what = f"the same session as row {seen[key]}"
            fix = "remove one of them (it would be created twice)"
        message = f"{what}: {fix}."
        errors[row] = (RowError(row, "Row", "", "duplicate_row", message),)
    if len(errors) == len(report.errors):
        return report
    return dataclasses.replace(report, errors=dict(sorted(errors.items())))
