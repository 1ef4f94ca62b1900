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
from importer.sheet.corrections import latest
from importer.sheet.headers import field_named, header_guesses
from importer.web.workspace import Upload

__all__ = [
    "PAGE_SIZE",
    "Cell",
    "FieldChoice",
    "Repeated",
    "SheetPage",
    "SheetRow",
    "TwoWaysLine",
    "duration",
    "field_choices",
    "repeated",
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
    """One cell: its text, its problem if it has one, its column's header, and its value as
    the sheet had it when corrected on the page (``None``: as typed)."""

    text: str
    problem: str = ""
    column: str = ""
    was: str | None = None


@dataclass(frozen=True)
class SheetRow:
    """One sheet row: its number, status, cells and the messages beside them."""

    number: int
    status: str
    cells: tuple[Cell, ...]
    messages: tuple[str, ...]
    earlier: str = ""


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
    lead: int = -1  # 0: the first column names a row (the session's name), kept in view
    repeated: tuple[Repeated, ...] = ()
    corrected: int = 0


@dataclass(frozen=True)
class Repeated:
    """A problem repeated across rows: one wrong value of one column, and how many rows
    have it (a fix of the whole column applies to them all)."""

    column: str
    value: str
    count: int
    message: str


def sheet_page(upload: Upload, page: int, problems_only: bool) -> SheetPage:
    """The rows of one page (``PAGE_SIZE`` a page), every invalid cell marked; with
    ``problems_only``, the rows with problems, the columns with problems first."""
    report, known = upload.checked, upload.known
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
    columns = [str(c) for c in frame.columns if c not in RESULT_COLUMNS]
    wrong = {e.column for errors in report.errors.values() for e in errors}
    if problems_only:  # the columns to look at first, the rest after, each in sheet order
        columns = [c for c in columns if c in wrong] + [c for c in columns if c not in wrong]
    named = report.columns.fields.get("name")
    if named in columns:  # the session's name right after the row number: both stay in view
        columns = [named, *(c for c in columns if c != named)]
    headers = tuple(columns)
    was = {cell: fix.old for cell, fix in latest(upload.corrections).items()}
    rows = []
    for row in chosen:
        errors = report.errors.get(row, ())
        by_column: dict[str, list[str]] = {}
        for error in errors:
            by_column.setdefault(error.column, []).append(error.message)
        values = frame.loc[row]
        cells = tuple(
            Cell(
                str(values[column]),
                " ".join(by_column.get(column, [])),
                column,
                was.get((row, column)),
            )
            for column in columns
        )
        messages = tuple(f"{e.column}: {e.message}" for e in errors if e.column not in headers)
        status = statuses.get(row, Status.VALID)
        rows.append(SheetRow(row, status, cells, messages, upload.earlier.get(row, "")))
    counts = dict(report.counts())
    if known is not None:
        created = sum(1 for r in known.results.values() if r.status == Status.CREATED)
        if created:
            counts["already created"] = created
    other = any(row.messages for row in rows)
    lead = 0 if named in headers else -1
    return SheetPage(
        headers, tuple(rows), page, pages, len(index), counts, other, lead,
        repeated(upload), len(was),
    )  # fmt: skip


def repeated(upload: Upload, least: int = 2) -> tuple[Repeated, ...]:
    """The problems of the sheet's own cells repeated in ``least`` rows or more (same column,
    same value), the most frequent first."""
    found: dict[tuple[str, str], list[str]] = {}
    columns = {str(c) for c in upload.checked.table.frame.columns}
    for errors in upload.checked.errors.values():
        for error in errors:
            if error.column in columns and error.value.strip():
                found.setdefault((error.column, error.value), []).append(error.message)
    groups = [
        Repeated(column, value, len(messages), messages[0])
        for (column, value), messages in found.items()
        if len(messages) >= least
    ]
    return tuple(sorted(groups, key=lambda group: (-group.count, group.column, group.value)))


@dataclass(frozen=True)
class FieldChoice:
    """One vendor field on the mapping step: its label, whether it is required, the
    sheet's headers the likeliest first, and the one chosen now (``""``: none)."""

    name: str
    label: str
    required: bool
    options: tuple[str, ...]
    chosen: str
    help: str = ""


def field_choices(upload: Upload) -> tuple[tuple[FieldChoice, ...], dict[str, list[str]]]:
    """The mapping step: a choice for each of the vendor's fields, and a few values of each
    of the sheet's columns (header -> up to 3 non-empty values) to choose by."""
    assert upload.table is not None
    schema = upload.account.plugin.schema
    frame = upload.table.frame
    headers = [str(c) for c in frame.columns if c not in RESULT_COLUMNS]
    matched: dict[str, str] = {}
    if upload.report is not None:
        matched = dict(upload.report.columns.fields)
    else:
        for header in headers:
            name = field_named(schema, header)
            if name is not None and name not in upload.columns:
                matched.setdefault(name, header)
    guesses = header_guesses(headers, schema)
    choices = []
    for spec in schema.fields:
        chosen = upload.columns.get(spec.name, matched.get(spec.name)) or ""
        choices.append(
            FieldChoice(
                spec.name, spec.label, spec.required, tuple(guesses[spec.name]), chosen,
                spec.description,
            )
        )  # fmt: skip
    samples = {
        header: [v for v in frame[header].astype(str).tolist() if v.strip()][:3]
        for header in headers
    }
    return tuple(choices), samples


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
    read = upload.checked.two_ways
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
