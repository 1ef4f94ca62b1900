"""The Python API: what the command line does, callable from a scheduler or a notebook.

Example::

    import importer

    report = importer.validate("sessions.xlsx", vendor="zoho-people", timezone="Europe/Paris")
    print(report.counts())            # {'valid': 41, 'invalid': 2}
    for error in report.all_errors():
        print(error)                  # row 7, column 'Date': '31-02-2025' is not a real date...
    importer.write_report(report, "sessions.result.xlsx")
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pandas as pd

from importer.pipeline import RunReport
from importer.results import RESULT_COLUMNS, ResultSheet, default_result_path, write_result
from importer.validation import ValidationReport

__all__ = ["result_sheet", "write_report"]

__version__ = "0.1.0"


def result_sheet(report: ValidationReport, run: RunReport | None = None) -> ResultSheet:
    """Build the result sheet: every row, its status, created ID, problems and notes.

    Without ``run``, the statuses are those of validation (``valid``/``invalid``).
    """
    table = report.table
    index = table.frame.index
    texts = {
        r: "\n".join(f"{e.column}: {e.message}" for e in errs) for r, errs in report.errors.items()
    }
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
            if result.steps and (len(result.steps) > 1 or result.status != "created"):
                notes.setdefault(row, []).append("done: " + "; ".join(result.steps))
            if run.dry_run:
                notes.setdefault(row, []).append("dry run: nothing was sent")
    outcome = pd.DataFrame(
        {
            "Sheet row": index.astype(str),
            "Status": status,
            "Created ID": _fill(index, created),
            "Messages": _fill(index, texts),
            "Notes": _fill(index, {r: "\n".join(n) for r, n in notes.items()}),
        },
        index=index,
    )
    # A result sheet fed back in brings its old outcome columns: the new ones replace them.
    passthrough = table.frame.drop(columns=[c for c in table.frame.columns if c in RESULT_COLUMNS])
    frame = pd.concat([outcome, passthrough], axis=1)
    return ResultSheet(frame, _summary(report, run), table.delimiter or ",")


def _fill(index: pd.Index, texts: dict[int, str]) -> pd.Series:
    """A text column over ``index``: ``texts`` (row -> text) where given, else empty."""
    column = pd.Series("", index=index, dtype="str")
    if texts:
        column.update(pd.Series(texts, dtype="str"))
    return column


def _summary(report: ValidationReport, run: RunReport | None) -> list[tuple[str, str]]:
    table = report.table
    lines = [
        ("Input file", str(table.source)),
        ("Sheet", table.sheet or "(CSV file)"),
        ("Header row", str(table.header_row)),
        ("Vendor", f"{report.vendor.name}: {report.vendor.title}"),
        ("Time zone", report.context.zone.key),
        ("Date order", "day first" if report.context.order == "DMY" else "month first"),
        ("Written at", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("Tool", f"session-importer {__version__}"),
        ("Rows", str(report.row_count)),
    ]
    counts = report.counts() if run is None else run.counts()
    lines += [(f"Rows {status}", str(count)) for status, count in counts.items()]
    if run is not None:
        lines.append(
            (
                "Run",
                "dry run: nothing sent"
                if run.dry_run
                else f"{run.requests} requests in {run.seconds:.1f} s",
            )
        )
        if run.stopped:
            lines.append(("Stopped", run.stopped))
    problems = Counter((e.column, e.code) for e in report.all_errors())
    for (column, code), count in problems.most_common(20):
        lines.append((f"Problem: {column}", f"{code} ({count} rows)"))
    return lines


def write_report(
    report: ValidationReport, path: str | Path | None = None, run: RunReport | None = None
) -> Path:
    """Write the result sheet of ``report`` (and ``run``); by default next to the input file.

    Returns:
        The path written (``.xlsx`` or ``.csv`` by its suffix).
    """
    target = Path(path) if path is not None else default_result_path(report.table.source)
    return write_result(result_sheet(report, run), target)
