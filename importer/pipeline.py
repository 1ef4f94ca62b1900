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

import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import httpx

from importer.adapters import ADAPTERS
from importer.auth import make_auth
from importer.clock import Clock, SystemClock
from importer.config import RunSettings
from importer.errors import FatalVendorError
from importer.sender import NOT_SENT, RowResult, Sender
from importer.throttle import Pacer, PacerStopped, RatePolicy
from importer.validation import ValidationReport

__all__ = ["EXIT_CODES", "RunReport", "estimate_seconds", "run_import"]

#: Exit codes of ``session-importer run``.
EXIT_CODES = {
    "all created": 0,
    "some not created": 1,
    "could not run": 2,
    "fatal": 3,
    "interrupted": 130,
}


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
        return result.status if result else NOT_SENT

    def counts(self) -> dict[str, int]:
        """Rows per status, in a stable order."""
        found = Counter(self.status(int(row)) for row in self.validation.table.frame.index)
        order = ("created", "rejected", "unknown", "not sent", "invalid")
        return {status: found[status] for status in order if found[status]}

    @property
    def exit_code(self) -> int:
        """0 all created; 1 some not created; 3 stopped by a fatal vendor error; 130 interrupted."""
        if self.fatal:
            return EXIT_CODES["fatal"]
        if self.stopped == "interrupted":
            return EXIT_CODES["interrupted"]
        counts = self.counts()
        if self.dry_run:
            return 0 if not counts.get("invalid") else 1
        created = counts.get("created", 0)
        return 0 if created == self.validation.row_count else 1


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
    """
    clock = clock or SystemClock()
    notify = notify or (lambda message: print(f"session-importer: {message}", file=sys.stderr))
    run = RunReport(report, dry_run=dry_run)
    todo = _values(report)
    if limit is not None:
        todo = todo[: max(limit, 0)]
    if dry_run or not todo:
        return run
    adapter = ADAPTERS[settings.vendor]
    owns_client = client is None
    http = client or httpx.Client(
        timeout=settings.timeout, transport=httpx.HTTPTransport(retries=0)
    )
    pacer = Pacer(_policy(adapter.rate, settings.rate), clock)
    sender = Sender(
        adapter=adapter,
        client=http,
        base_url=settings.base_url,
        auth=make_auth(adapter.auth, settings.credentials, settings.auth_url, http, clock),
        pacer=pacer,
        clock=clock,
        secrets=list(settings.credentials.values()),
        max_tries=settings.max_tries,
        notify=notify,
    )
    workers = max(1, min(settings.concurrency, adapter.max_concurrency))
    bar = _progress(len(todo), enabled=progress)
    started = time.perf_counter()
    try:
        _send_all(todo, sender, workers, run, pacer, bar)
    finally:
        run.seconds = time.perf_counter() - started
        run.requests = sender.requests
        bar.close()
        if owns_client:
            http.close()
    return run


def _send_all(
    todo: list[tuple[int, dict[str, str | None]]],
    sender: Sender,
    workers: int,
    run: RunReport,
    pacer: Pacer,
    bar: Any,
) -> None:
    statuses: Counter[str] = Counter()

    def collect(done: set[Future[RowResult]], rows: Mapping[Future[RowResult], int]) -> None:
        for future in done:
            row = rows[future]
            try:
                result = future.result()
            except PacerStopped:
                result = RowResult(NOT_SENT, message=f"not sent: the run stopped ({run.stopped})")
            except FatalVendorError as error:
                if not run.stopped:
                    run.stopped, run.fatal = str(error), True
                pacer.stop()
                result = RowResult(NOT_SENT, message=f"not sent: {error}")
            run.results[row] = result
            statuses[result.status] += 1
            bar.update(1)
            bar.set_postfix(statuses, refresh=False)

    pending: dict[Future[RowResult], int] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send") as pool:
        try:
            for row, values in todo:
                if run.stopped:
                    break
                while len(pending) >= workers:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    collect(done, pending)
                    for future in done:
                        del pending[future]
                pending[pool.submit(sender.import_row, values)] = row
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                collect(done, pending)
                for future in done:
                    del pending[future]
        except KeyboardInterrupt:
            run.stopped = run.stopped or "interrupted"
            pacer.stop()  # waiting calls give up; calls already on the wire finish
            done, _ = wait(pending)
            collect(done, pending)
    for row, _ in todo:
        if row not in run.results and run.stopped:
            run.results[row] = RowResult(
                NOT_SENT, message=f"not sent: the run stopped ({run.stopped})"
            )


def _policy(policy: RatePolicy, rate: float | None) -> RatePolicy:
    """The vendor's policy, with a user's ceiling (``--rate``) applied."""
    if rate is None:
        return policy
    start = min(policy.rate, rate) if policy.rate else rate
    if policy.adaptive:
        start = max(start, rate * 0.8)  # a ceiling set on purpose: start close to it
    return RatePolicy(start, rate, policy.floor, policy.adaptive, policy.description)


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
    )


def estimate_seconds(rows: int, calls_per_row: float, policy: RatePolicy) -> float | None:
    """How long ``rows`` rows take at the vendor's pace (``None``: no limit to say)."""
    if not policy.rate:
        return None
    return rows * calls_per_row / policy.rate
