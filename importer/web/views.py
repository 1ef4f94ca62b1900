"""What the pages show: a page of the sheet with its problems, durations, history lines.

Plain data for the templates; Jinja2 escapes every value it prints (a cell holding
``<script>`` is shown as text).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from importer.core.outcomes import Status
from importer.results.sheet import RESULT_COLUMNS
from importer.web.workspace import Upload

__all__ = [
    "PAGE_SIZE",
    "Cell",
    "SheetPage",
    "SheetRow",
    "TwoWaysLine",
    "duration",
    "sheet_page",
    "two_ways_line",
    "when",
]

PAGE_SIZE = 50
_SHOWN = {
    Status.CREATED: "already created",
    Status.REJECTED: "rejected before",
    Status.UNKNOWN: "unknown: check at the vendor",
}


@dataclass(frozen=True)
class Cell:
    """One cell: its text, and its problem if it has one."""

    text: str
    problem: str = ""


@dataclass(frozen=True)
class SheetRow:
    """One sheet row: its number, status, cells and the messages beside them."""

    number: int
    status: str
    cells: tuple[Cell, ...]
    messages: tuple[str, ...]


@dataclass(frozen=True)
class SheetPage:
    """A page of the sheet."""

    headers: tuple[str, ...]
    rows: tuple[SheetRow, ...]
    page: int
    pages: int
    shown: int
    counts: dict[str, int]
    other: bool


def sheet_page(upload: Upload, page: int, problems_only: bool) -> SheetPage:
    """The rows of one page (``PAGE_SIZE`` a page), every invalid cell marked."""
    report, known = upload.report, upload.known
    frame = report.table.frame
    index = [int(r) for r in frame.index]
    statuses: dict[int, str] = {row: Status.INVALID for row in report.errors}
    if known is not None:
        for row, result in known.results.items():
            if result.status in _SHOWN and row not in statuses:
                statuses[row] = _SHOWN[result.status]
    if problems_only:
        index = [row for row in index if row in report.errors]
    pages = max(1, math.ceil(len(index) / PAGE_SIZE))
    page = min(max(page, 1), pages)
    chosen = index[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    # A result sheet fixed and uploaded again brings its old outcome columns: not shown.
    columns = [c for c in frame.columns if c not in RESULT_COLUMNS]
    headers = tuple(str(c) for c in columns)
    rows = []
    for row in chosen:
        errors = report.errors.get(row, ())
        by_column: dict[str, list[str]] = {}
        for error in errors:
            by_column.setdefault(error.column, []).append(error.message)
        values = frame.loc[row]
        cells = tuple(
            Cell(str(values[column]), " ".join(by_column.get(str(column), [])))
            for column in columns
        )
        messages = tuple(f"{e.column}: {e.message}" for e in errors if e.column not in headers)
        rows.append(SheetRow(row, statuses.get(row, Status.VALID), cells, messages))
    counts = dict(report.counts())
    if known is not None:
        created = sum(1 for r in known.results.values() if r.status == Status.CREATED)
        if created:
            counts["already created"] = created
    other = any(row.messages for row in rows)
    return SheetPage(headers, tuple(rows), page, pages, len(index), counts, other)


@dataclass(frozen=True)
class TwoWaysLine:
    """What the page says of dates read one of two ways, and the button for the other way.

    Attributes:
        sentence: how many, which reading was used, how to choose the other.
        order: the other order (``MDY`` or ``DMY``), posted by the button.
        other: the other order in words (``month-first``).
    """

    sentence: str
    order: str
    other: str


def two_ways_line(upload: Upload) -> TwoWaysLine | None:
    """The upload's dates that read as two different days (``None``: there are none)."""
    read = upload.report.two_ways
    order, other = ("MDY", "month-first") if read.order == "DMY" else ("DMY", "day-first")
    sentence = read.sentence(f"choose “Read them {other}” here")
    return TwoWaysLine(sentence, order, other) if sentence else None


def duration(seconds: float | None) -> str:
    """``about 1 h 05 min`` / ``about 3 min`` / ``under a minute``."""
    if seconds is None:
        return ""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"


def when(stamp: Any) -> str:
    """A journal time stamp as local date and time."""
    if stamp is None:
        return ""
    return dt.datetime.fromtimestamp(float(stamp)).strftime("%Y-%m-%d %H:%M")
