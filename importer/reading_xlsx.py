"""Read a workbook (xlsx, xlsm, xls, ods) into a :class:`~importer.reading.Table` of text.

Typed Excel cells are turned into unambiguous text: dates and times in ISO
8601 (``2025-07-01T13:00:00``, ``2025-07-01``, ``14:00:00``), whole numbers
without ``.0``, and numbers of 16 digits or more in Excel's own scientific
notation (``4.78346000019479E+17``): Excel keeps only 15 significant digits,
so such a value has already been rounded, and validation says so for ID
columns instead of sending a wrong ID. The workbook is checked by the
hostile-file guard (:mod:`importer.guard`) before it is parsed.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from pathlib import Path

from importer.errors import SheetNotFoundError, UnreadableFileError, UnsafeFileError
from importer.guard import Limits, check_workbook
from importer.reading import (
    HEADER_SEARCH_ROWS,
    HeaderScorer,
    Table,
    build_frame,
    find_header,
    header_names,
)

__all__ = ["read_workbook"]


def _cell_text(value: object) -> str:
    """Render one typed workbook cell as unambiguous text (see the module docstring)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        value = float(value) if abs(value) >= 10**15 else value
        if isinstance(value, int):
            return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            if abs(value) < 1e15:
                return str(int(value))
            return f"{value:.15G}"
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.timedelta) and dt.timedelta(0) <= value < dt.timedelta(days=1):
        return (dt.datetime.min + value).time().isoformat(timespec="seconds")
    return "" if value is None else str(value)


def _column_text(cells: list[object]) -> list[str]:
    """A workbook column as text; in a column of date-times, a bare date is one at midnight.

    The workbook reader gives a date-time cell at exactly 00:00 as a date: where the column
    holds date-times, such a cell is written with its time (00:00:00), not refused as a
    date without a time.
    """
    if any(isinstance(v, dt.datetime) for v in cells):
        cells = [dt.datetime.combine(v, dt.time()) if type(v) is dt.date else v for v in cells]
    return [_cell_text(v) for v in cells]


def read_workbook(path: Path, scorer: HeaderScorer, sheet: str | None) -> Table:
    """Read one sheet of a workbook (xlsx, xlsm, xls, ods) into a :class:`Table`.

    Raises:
        UnreadableFileError: a damaged workbook, no sheets, an empty sheet.
        UnsafeFileError: a workbook that would exhaust memory.
        SheetNotFoundError: ``sheet`` is not in the workbook.
    """
    import python_calamine

    limits = Limits.from_env()
    size = path.stat().st_size
    if size > limits.max_unpacked_bytes:
        raise UnsafeFileError(
            f"{path}: the workbook is {size // 2**20:,} MB, over the "
            f"{limits.max_unpacked_bytes // 2**20:,} MB we read. Split it into smaller files."
        )
    # Read once: the reader parses exactly the bytes the guard checked (no file swapped between).
    data = path.read_bytes()
    check_workbook(path, data, limits)
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except (KeyboardInterrupt, SystemExit):
        raise
    # A Rust panic in calamine arrives as pyo3's PanicException, a BaseException.
    except BaseException as error:
        raise UnreadableFileError(
            f"{path}: cannot be read as an Excel or OpenDocument workbook "
            f"({type(error).__name__}). Open it in Excel and save it again as .xlsx."
        ) from None
    names = list(workbook.sheet_names)
    if not names:
        raise UnreadableFileError(f"{path}: the workbook has no sheets.")
    if sheet is None:
        name = names[0]
    else:
        matches = [n for n in names if n.casefold() == sheet.strip().casefold()]
        if not matches:
            listed = ", ".join(repr(n) for n in names)
            raise SheetNotFoundError(f"{path}: no sheet named {sheet!r}; the sheets are {listed}.")
        name = matches[0]
    try:
        grid = workbook.get_sheet_by_name(name)
        rows = grid.to_python()
        start = grid.start or (0, 0)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # as above: calamine panics on some damaged files
        raise UnreadableFileError(
            f"{path}: sheet {name!r} cannot be read ({type(error).__name__})."
        ) from None
    if not rows:
        raise UnreadableFileError(f"{path}: sheet {name!r} is empty.")
    text_rows = [[_cell_text(v) for v in row] for row in rows[:HEADER_SEARCH_ROWS]]
    header_index = find_header(text_rows, scorer)
    first_col = start[1]
    headers = header_names([""] * first_col + text_rows[header_index])[first_col:]
    body = rows[header_index + 1 :]
    columns = [_column_text([row[i] for row in body]) for i in range(len(headers))]
    first_row = start[0] + header_index + 2
    frame = build_frame(columns, headers, first_row=first_row)
    return Table(frame, path, name, start[0] + header_index + 1)
