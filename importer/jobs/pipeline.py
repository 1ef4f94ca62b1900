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

import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from importer.core.clock import Clock, SystemClock
from importer.core.errors import FatalVendorError
from importer.core.hosts import is_local
from importer.core.outcomes import Status
from importer.core.settings import RunSettings
from importer.core.signals import RunSignals, Terminated
from importer.jobs.journaling import Journaled, JournalOptions, journal_report, lost_answers
from importer.jobs.pacing import Paced, journal_name, paced, run_share
from importer.jobs.people import resolve_people
from importer.results.report import RunReport, valid_values
from importer.sending.outgoing import unsendable
from importer.sending.progress import Progress, ProgressHook, eta_and_counts, progress_bar
from importer.sending.sender import (
    RowResult,
)
from importer.sending.throttle import Pacer, PacerStopped
from importer.sheet.validation import ValidationReport
from importer.vendors.plugin import Plugin

__all__ = ["resolve_only", "run_import"]


def run_import(
    report: ValidationReport,
    settings: RunSettings,
    plugin: Plugin,
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
    who: str | None = None,
) -> RunReport:
    """Send every valid row of ``report`` to the vendor; return every row's outcome.

    Args:
        report: the validated sheet.
        settings: hosts, credentials, concurrency, rate.
        plugin: the vendor (resolved once by the caller: the command line, the page, the
            Python API).
        client: the HTTP client (a default one with the settings' timeout otherwise).
        clock: the clock to pace and wait on (the real one by default).
        limit: send at most this many rows; the others are ``not sent``.
        dry_run: send nothing; report what would be sent.
        progress: show a progress bar on stderr (only when stderr is a terminal).
        notify: where to say things worth saying mid-run (a lock waited out).
        journal: the job's journal: rows already created are skipped, lost answers
            reconciled, and every outcome recorded the moment it is known.
        shared_budget: share the account's rate and tokens with every importer process
            using the same store: ``settings.store`` (PostgreSQL, for many hosts), else this
            machine's files under ``$IMPORTER_STATE_DIR`` or ~/.cache.
        stop: set from another thread to stop as Ctrl-C does (the web page's Stop button).
        on_progress: called with (rows done, rows to send, rows per status, seconds left)
            before the first row and after each row.
        who: who started the run (shown with it by ``status`` and the page while it runs).
    """
    clock = clock or SystemClock()
    notify = notify or (lambda message: print(f"session-importer: {message}", file=sys.stderr))
    run = RunReport(report, dry_run=dry_run)
    if dry_run and journal is not None:
        for row, recorded in journal_report(report, journal, plugin).results.items():
            if recorded.status == Status.CREATED:
                run.results[row] = RowResult(
                    Status.SKIPPED, recorded.created_id, "already created: would not be sent again"
                )
            elif recorded.status == Status.CHANGED:  # edited since created (issue 16)
                run.results[row] = recorded
            elif recorded.status == Status.UNKNOWN:  # a dry run checks nothing at the vendor
                run.results[row] = _still_lost(recorded, "a dry run looks nothing up")
    if report.invalid_count == report.row_count:
        return run
    adapter = plugin.wire.configured(settings.vendor_options)
    if dry_run:  # what could not even be built is said now, as the run would say it
        for row, values in valid_values(report):
            why = (
                None
                if row in run.results
                else unsendable(adapter, values, settings.base_url, plugin.label)
            )
            if why:
                run.results[row] = RowResult(Status.INVALID, message=why)
        return run
    if adapter.rate.over_documented(settings.rate) and not settings.beyond_documented_rate:
        notify(
            f"--rate {settings.rate:g} is above {adapter.rate.description} (documented): "
            f"using {adapter.rate.documented:g} a second. --beyond-documented-rate overrides."
        )
    if settings.base_url.startswith("http://") and not is_local(settings.base_url):
        notify(f"{settings.base_url} is plain http (--allow-http): credentials travel unencrypted.")
    # The store (issue 14): this machine's SQLite files, or PostgreSQL shared by many hosts;
    # other runs on the account take turns with this one (issue 25), by its rows to send.
    rows = report.row_count - report.invalid_count
    rows = rows if limit is None else min(rows, max(limit, 0))
    name = Path(str(report.table.source)).name
    if journal is not None and journal.run_id:
        name = f"run {journal.run_id}: {name}"
    share = run_share(
        settings,
        rows,
        name,
        who=who,
        # (a RowStore the Python API was given may have no path: shown without)
        journal="" if journal is None else journal_name(getattr(journal.journal, "path", "")),
        run_id=journal.run_id or None if journal is not None else None,
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
        if sending.shared is not None:
            left, why = sending.shared.pause()
            if left > 1:  # a wait the vendor asked of an earlier run still holds: say so
                notify(
                    f"the account is paused for {left:.0f} s more ({why or 'asked by the vendor'})."
                )
        return _send(
            report,
            plugin,
            settings,
            sending,
            run,
            journal=journal,
            limit=limit,
            progress=progress,
            stop=stop,
            on_progress=on_progress,
            clock=clock,
            notify=notify,
        )


def _send(
    report: ValidationReport,
    plugin: Plugin,
    settings: RunSettings,
    sending: Paced,
    run: RunReport,
    *,
    journal: JournalOptions | None,
    limit: int | None,
    progress: bool,
    stop: threading.Event | None,
    on_progress: ProgressHook | None,
    clock: Clock,
    notify: Callable[[str], None],
) -> RunReport:
    """Look the emails up, then send every row to do; every row's outcome in ``run``."""
    sender, pacer = sending.sender, sending.pacer
    started = time.perf_counter()
    try:
        report, people = resolve_people(report, sender, plugin.people)
    except (FatalVendorError, PacerStopped) as error:
        run.stopped, run.fatal = str(error) or "interrupted", isinstance(error, FatalVendorError)
        _keep_lost(run, report, journal, plugin)
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
    todo = [(row, values) for row, values in valid_values(report) if row not in held]
    if limit is not None:
        todo = todo[: max(limit, 0)]
    workers = max(1, min(settings.concurrency, sending.adapter.max_concurrency))
    bar = progress_bar(len(todo), enabled=progress)
    work: Callable[[int, dict[str, str | None]], RowResult]
    hook = Progress(len(todo), pacer, on_progress, clock)
    # From the first row sent until every answer is in the report, a signal only stops.
    with RunSignals() as signals:
        try:
            if journal is None:
                work = lambda row, values: sender.import_row(values)  # noqa: E731
            else:  # an update over the mass-change guard stops here, before anything is sent
                # Whatever the entry point (the Python API too), a run that sends holds the
                # rows it claims: others see them in flight for a live run, never resend them.
                ident = journal.run_id
                journal.journal.hold(f"run {ident}" if ident else "a run", None, ident or None)
                work = Journaled(journal, sender, report, plugin).prepare(todo)
            send_all(todo, work, workers, run, pacer, bar, stop, hook, signals)
        finally:
            if journal is not None:  # the last answers, on disk before the caller reads them
                journal.journal.flush()
            run.seconds = time.perf_counter() - started
            run.requests = sender.requests
            bar.close()
        if sender.halted and not run.stopped:  # a redirect to the last row: still said
            run.stopped, run.fatal = sender.halted, True
        _keep_lost(run, report, journal, plugin)
    return run


def _keep_lost(
    run: RunReport, report: ValidationReport, journal: JournalOptions | None, plugin: Plugin
) -> None:
    """Rows this run did not send (a stop, ``--limit``, a lookup refused) whose earlier answer
    was lost stay ``unknown``: "not sent" would say they are safe to send."""
    if journal is None:
        return
    idle = [
        row
        for row, _ in valid_values(report)
        if run.results.get(row, _NONE).status == Status.NOT_SENT
    ]
    for row, recorded in lost_answers(report, journal, plugin, idle).items():
        said = run.results.get(row, _NONE).message or "not sent: beyond --limit"
        run.results[row] = _still_lost(recorded, f"this run did not send it ({said})")


_NONE = RowResult(Status.NOT_SENT)


def _still_lost(recorded: RowResult, why: str) -> RowResult:
    """An ``unknown`` row of the journal that this run did not check."""
    return RowResult(
        Status.UNKNOWN,
        recorded.created_id,
        f"an earlier answer was lost, so it may exist at the vendor; {why}. It is checked, "
        "where the vendor allows, before it is ever sent again",
    )


def send_all(
    todo: list[tuple[int, dict[str, str | None]]],
    work: Callable[[int, dict[str, str | None]], RowResult],
    workers: int,
    run: RunReport,
    pacer: Pacer,
    bar: Any,
    stop: threading.Event | None = None,
    hook: Progress | None = None,
    signals: RunSignals | None = None,
) -> None:
    """Send ``todo`` with ``workers`` threads, each taking the next row as it gets free.

    The main thread only collects: rows finished come back through a queue (no future a
    row, no waiting on every pending one: issue 15), and a signal (Ctrl-C, SIGTERM: noted
    by ``signals``, which wakes the collector through the same queue) or the ``stop`` event
    stops the taking of rows while the ones on the wire finish; every answer that arrived
    is recorded.
    """
    statuses: Counter[str] = Counter()
    if hook is not None:
        hook(statuses)
    rows = iter(todo)
    taking = threading.Lock()
    # A row starts only once the main thread has taken in an earlier one (``workers`` at
    # first): what it saw (a stop asked by the progress hook, a fatal error) sends no more.
    turns: queue.SimpleQueue[None] = queue.SimpleQueue()
    for _ in range(workers):
        turns.put(None)
    # A row's outcome, None when a worker ended, or _SIGNALLED (put by the signal handler).
    finished: queue.SimpleQueue[tuple[int, RowResult | BaseException] | str | None] = (
        queue.SimpleQueue()
    )
    show = not getattr(bar, "disable", True)
    shown_at = -1.0
    if signals is not None:
        signals.wake = lambda: finished.put(_SIGNALLED)  # SimpleQueue.put: reentrant
        if signals.reason:  # one came before sending started
            finished.put(_SIGNALLED)

    def worker() -> None:
        try:
            while True:
                turns.get()
                with taking:
                    # Checked right before each row: a stop or a fatal error seen on another
                    # row sends nothing more.
                    item = None if run.stopped or pacer.stopped else next(rows, None)
                if item is None:
                    return
                row, values = item
                try:
                    result: RowResult | BaseException = work(row, values)
                except PacerStopped:
                    result = RowResult(
                        Status.NOT_SENT, message=f"not sent: the run stopped ({run.stopped})"
                    )
                except FatalVendorError as error:
                    with taking:
                        if not run.stopped:
                            run.stopped, run.fatal = str(error), True
                    pacer.stop()
                    result = RowResult(Status.NOT_SENT, message=f"not sent: {error}")
                except BaseException as error:  # a bug: raised again in the main thread
                    pacer.stop()
                    result = error
                finished.put((row, result))
        finally:
            finished.put(None)

    def collect(timeout: float | None) -> tuple[int, int, bool]:
        """Take in finished rows (waiting up to ``timeout`` for the first): how many rows,
        how many workers ended, and whether a signal came."""
        nonlocal shown_at
        ended = taken = 0
        signalled = False
        try:
            got = finished.get(timeout=timeout)
            while True:
                if got is None:
                    ended += 1
                elif isinstance(got, str):
                    signalled = True  # every row queued before it is still taken in
                else:
                    row, result = got
                    if isinstance(result, BaseException):
                        raise result
                    run.results[row] = result
                    taken += 1
                    statuses[result.status] += 1
                    bar.update(1)
                    if show and time.monotonic() - shown_at >= 0.2:  # five times a second
                        shown_at = time.monotonic()
                        bar.set_postfix_str(eta_and_counts(bar, pacer, statuses))
                    if hook is not None:
                        hook(statuses)
                got = finished.get_nowait()
        except queue.Empty:
            return taken, ended, signalled

    threads = [
        threading.Thread(target=worker, name=f"send-{n}", daemon=True)
        for n in range(min(workers, len(todo)))
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            # With a stop event, wake up often enough to notice it: it acts as Ctrl-C does.
            taken, ended, signalled = collect(0.1 if stop is not None else None)
            running -= ended
            if signalled or (stop is not None and stop.is_set()):
                raise _StopRequested
            for _ in range(taken):
                turns.put(None)
    except (KeyboardInterrupt, _StopRequested) as error:
        why = "terminated" if isinstance(error, Terminated) else "interrupted"
        why = signals.reason if signals is not None and signals.reason else why
        with taking:
            run.stopped = run.stopped or why
        pacer.stop()  # waiting calls give up; calls already on the wire finish
        for _ in threads:
            turns.put(None)
        for thread in threads:
            thread.join()
        collect(0)
    finally:
        if any(thread.is_alive() for thread in threads):  # a bug raised above
            pacer.stop()
            for _ in threads:
                turns.put(None)
        for thread in threads:
            thread.join()
    for row, _ in todo:
        if row not in run.results and run.stopped:
            run.results[row] = RowResult(
                Status.NOT_SENT, message=f"not sent: the run stopped ({run.stopped})"
            )


class _StopRequested(Exception):
    """The run's stop event was set, or a signal came: stop as Ctrl-C does."""


#: Put on the finished rows' queue by the signal handler: wake up, and stop.
_SIGNALLED = "signalled"


def resolve_only(
    report: ValidationReport,
    plugin: Plugin,
    settings: RunSettings,
    *,
    clock: Clock | None = None,
) -> tuple[ValidationReport, dict[str, Any]]:
    """Look up the sheet's email columns and fill in the IDs, sending nothing else."""
    clock = clock or SystemClock()
    with httpx.Client(timeout=settings.timeout) as http:
        sender = plugin.sender(settings, http, clock)
        resolved, figures = resolve_people(report, sender, plugin.people)
    figures.pop("held", None)  # unchecked emails leave their IDs empty; the count says why
    return resolved, figures
