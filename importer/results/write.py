"""Every row's outcome as a result sheet: :func:`result_sheet` builds it, :func:`write_report`
writes it (CSV or Excel, by the file's suffix)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from importer.core.outcomes import Status
from importer.core.version import __version__
from importer.results.sheet import (
    RESULT_COLUMNS,
    ResultSheet,
    SummaryLine,
    default_result_path,
    write_result,
)
from importer.sheet.reading.table import Table
from importer.sheet.validation import RowError, ValidationReport

if TYPE_CHECKING:
    import pyarrow as pa

    from importer.results.report import RunReport
    from importer.sheet.slices import SliceReport

__all__ = ["input_names", "result_sheet", "slice_result", "write_report", "write_sheet_as_typed"]


def result_sheet(report: ValidationReport, run: RunReport | None = None) -> ResultSheet:
    """Build the result sheet: every row, its status, created ID, problems and notes.

    Without ``run``, the statuses are those of validation (``valid``/``invalid``).
    """
    table = report.table
    index = table.frame.index
    texts = {r: _messages(errs) for r, errs in report.errors.items()}
    notes = {r: list(n) for r, n in report.notes.items()}
    created: dict[int, str] = {}
    if run is None:
        status = report.statuses()
    else:
        status = pd.Series([run.status(int(r)) for r in index], index=index, dtype="str")
        for row, result in run.results.items():
            if result.message:
                texts[row] = result.message
            if result.created_id:
                created[row] = result.created_id
            if result.steps and (len(result.steps) > 1 or result.status != Status.CREATED):
                notes.setdefault(row, []).append("done: " + "; ".join(result.steps))
            if run.dry_run:
                notes.setdefault(row, []).append("dry run: nothing was sent")
    outcome = pd.DataFrame(
        {
            "Sheet row": _numbers(index),
            "Status": status,
            "Created ID": _fill(index, created),
            "Messages": _fill(index, texts),
            "Notes": _fill(index, {r: "\n".join(n) for r, n in notes.items()}),
        },
        index=index,
    )
    passthrough, renamed = _input_columns(table.frame)
    frame = pd.concat([outcome, passthrough], axis=1)
    summary = _summary(report, run)
    if renamed:
        said = "; ".join(f"{old!r} is shown as {new!r}" for old, new in renamed.items())
        summary.append(("Your columns", "kept, renamed where ours have the same name", said))
    return ResultSheet(frame, summary, table.delimiter or ",")


def _messages(errors: Sequence[RowError]) -> str:
    """A row's problems, a line each, in the Messages column."""
    return "\n".join(f"{error.column}: {error.message}" for error in errors)


def _input_columns(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every input column, in place; one named like an outcome column gets "(your sheet)"
    (see :func:`input_names`)."""
    names = [str(c) for c in frame.columns]
    kept, renamed = input_names(names)
    if len(kept) < len(names):
        return frame.drop(columns=list(RESULT_COLUMNS)), {}
    return frame.rename(columns=renamed), renamed


def input_names(names: Sequence[str]) -> tuple[list[int], dict[str, str]]:
    """Which input columns a result sheet shows (their positions) and which are renamed (old
    name -> new): one named like an outcome column gets "(your sheet)".

    A result sheet of ours fed back in (its first columns are exactly the outcome
    columns) brings its old outcome: the new one replaces it.
    """
    if list(names[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS):
        return [i for i, name in enumerate(names) if name not in RESULT_COLUMNS], {}
    ours = {c.casefold() for c in RESULT_COLUMNS}
    taken = {c.casefold() for c in names} | ours
    renamed: dict[str, str] = {}
    for name in names:
        if name.strip().casefold() in ours:
            new, number = f"{name.strip()} (your sheet)", 2
            while new.casefold() in taken:
                new, number = f"{name.strip()} (your sheet {number})", number + 1
            taken.add(new.casefold())
            renamed[name] = new
    return list(range(len(names))), renamed


def slice_result(
    report: SliceReport, notes: pa.Array, headers: Sequence[str]
) -> tuple[list[str], list[pa.Array]]:
    """A slice's result sheet as the whole-file path's (:func:`result_sheet` of validation
    alone): its header and its columns (pyarrow text arrays: no frame, no Python per row)."""
    import numpy as np
    import pyarrow as pa

    kept, renamed = input_names(headers)
    names = [*RESULT_COLUMNS, *(renamed.get(headers[i], headers[i]) for i in kept)]
    # each row's messages by position (0: none), spread by pyarrow: no Python per row
    picks = np.zeros(report.row_count, dtype=np.int64)
    picks[report.error_places()] = np.arange(1, len(report.errors) + 1)
    texts = ["", *(_messages(errs) for errs in report.errors.values())]
    status = pa.array([str(Status.VALID), str(Status.INVALID)], pa.large_string())
    columns = [
        pa.array(report.rows).cast(pa.large_string()),
        status.take(pa.array((picks > 0).astype(np.int8))),
        pa.repeat(pa.scalar("", pa.large_string()), report.row_count),
        pa.array(texts, pa.large_string()).take(pa.array(picks)),
        notes,
        *(report.cells[i] for i in kept),
    ]
    return names, columns


def _numbers(index: pd.Index) -> pd.Series:
    """The sheet row numbers as text (pyarrow's cast: no Python per row)."""
    import pyarrow as pa

    numbers = pa.array(index.to_numpy(dtype="int64")).cast(pa.large_string())
    return pd.Series(numbers.to_pandas().array, index=index, dtype="str")


def _fill(index: pd.Index, texts: dict[int, str]) -> pd.Series:
    """A text column over ``index``: ``texts`` (row -> text) where given, else empty."""
    import numpy as np
    import pyarrow as pa

    if not texts:
        return pd.Series("", index=index, dtype="str")
    # each row's text by position (0: the empty text), spread by pyarrow: no Python per row
    at = index.get_indexer(pd.Index(np.fromiter(texts, dtype=np.int64, count=len(texts))))
    given = at >= 0
    picks = np.zeros(len(index), dtype=np.int64)
    picks[at[given]] = np.flatnonzero(given) + 1
    values = pa.array(["", *texts.values()], pa.large_string()).take(pa.array(picks))
    return pd.Series(values.to_pandas().array, index=index, dtype="str")


def _summary(report: ValidationReport, run: RunReport | None) -> list[SummaryLine]:
    table = report.table
    lines: list[SummaryLine] = [
        ("Input file", str(table.source)),
        ("Sheet", table.sheet or "(CSV file)"),
        ("Header row", table.header_row),
        ("Vendor", f"{report.vendor.name}: {report.vendor.title}"),
        ("Time zone", report.context.zone.key),
        ("Date order", "day first" if report.context.order == "DMY" else "month first"),
        ("Written at", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("Tool", f"session-importer {__version__}"),
        ("Rows", report.row_count),
    ]
    counts = report.counts() if run is None else run.counts()
    lines += [
        (f"Rows {status}", count, _MEANING.get(status, "")) for status, count in counts.items()
    ]
    if run is not None:
        if run.dry_run:
            lines.append(("Run", "a dry run: nothing was sent"))
        else:
            lines.append(("Requests made", run.requests))
            lines.append(("Seconds taken", round(run.seconds, 1)))
        if run.stopped:
            lines.append(("Stopped early", run.stopped))
    problems: Counter[str] = Counter()
    example: dict[str, str] = {}
    for error in report.all_errors():
        problems[error.column] += 1
        example.setdefault(error.column, f"e.g. row {error.row}: {error.message}")
    for column, count in problems.most_common(20):
        lines.append((f"Rows with a problem in {column!r}", count, example[column]))
    return lines


#: What each status means, for the Summary sheet.
_MEANING: dict[str, str] = {
    Status.VALID: "follow every rule; ready to import",
    Status.INVALID: "break a rule: see Messages on each row; never sent",
    Status.CREATED: "created at the vendor; Created ID holds its ID",
    Status.SKIPPED: "created by an earlier run; not sent again",
    Status.CHANGED: "created by an earlier run and edited since; not sent again",
    Status.UPDATED: "created by an earlier run, edited since, and changed at the vendor (--update)",
    Status.DELETED: "deleted at the vendor by `undo`",
    Status.REJECTED: "refused by the vendor: see Messages",
    Status.UNKNOWN: "the answer was lost: check at the vendor before sending again",
    Status.NOT_SENT: "not sent (a stop, --limit or a dry run came first); safe to send",
}


def write_report(
    report: ValidationReport, path: str | Path | None = None, run: RunReport | None = None
) -> Path:
    """Write the result sheet of ``report`` (and ``run``); by default next to the input file.

    Returns:
        The path written (``.xlsx`` or ``.csv`` by its suffix).
    """
    target = Path(path) if path is not None else default_result_path(report.table.source)
    return write_result(result_sheet(report, run), target)


def write_sheet_as_typed(table: Table, path: Path) -> Path:
    """Write ``table`` in its owner's layout: their headers, in their order, every column
    (theirs included), one row per row read; no outcome columns, no Summary. Cells are made
    safe as in a result sheet (no formula runs). ``.xlsx`` (the sheet named as theirs) or
    ``.csv`` (their delimiter, UTF-8 with BOM) by ``path``'s suffix."""
    frame = table.frame.astype(str)
    title = (table.sheet or "Sheet1")[:31]
    sheet = ResultSheet(frame, [], table.delimiter or ",", status_column=None, title=title)
    return write_result(sheet, path)
