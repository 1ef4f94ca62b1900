"""What a run did: every row's outcome (:class:`RunReport`) and the run's exit code."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from importer.core.outcomes import ExitCode, RowResult, Status
from importer.sheet.validation import ValidationReport

__all__ = ["EXIT_CODES", "RunReport", "valid_values"]

#: Exit codes of ``session-importer run``, by what happened (see :class:`ExitCode`).
EXIT_CODES = {
    "all created": ExitCode.OK,
    "some not created": ExitCode.NOT_ALL_DONE,
    "could not run": ExitCode.CANNOT_RUN,
    "fatal": ExitCode.FATAL,
    "interrupted": ExitCode.INTERRUPTED,
    "terminated": ExitCode.TERMINATED,
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
            return Status.INVALID
        result = self.results.get(row)
        return result.status if result else Status.NOT_SENT

    def counts(self) -> dict[str, int]:
        """Rows per status, in a stable order."""
        found = Counter(self.status(int(row)) for row in self.validation.table.frame.index)
        order = (
            Status.CREATED,
            Status.UPDATED,
            Status.DELETED,
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
        done = sum(counts.get(s, 0) for s in (Status.CREATED, Status.SKIPPED, Status.UPDATED))
        return ExitCode.OK if done == self.validation.row_count else ExitCode.NOT_ALL_DONE


def valid_values(report: ValidationReport) -> list[tuple[int, dict[str, str | None]]]:
    """The normalised values of every valid row, in sheet order."""
    valid = report.values.drop(index=list(report.errors))
    names = [str(name) for name in valid.columns]
    columns = []
    for name in valid.columns:  # column by column: 6x faster than to_dict("index")
        column = valid[name]
        missing = column.isna().tolist()
        cells = column.astype(object).tolist()
        columns.append([None if gone else cell for cell, gone in zip(cells, missing, strict=True)])
    return [
        (int(str(row)), dict(zip(names, cells, strict=True)))
        for row, cells in zip(valid.index, zip(*columns, strict=True), strict=True)
    ]
