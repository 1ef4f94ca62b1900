"""Read a workbook (xlsx, xlsm, xls, ods) into a :class:`~.table.Table` of text.

The workbook is checked by the hostile-file guard (:mod:`importer.sheet.guard.check`),
then read in a memory-capped child process (:mod:`importer.sheet.reading.capped`), which
gives its cells as
unambiguous text (:func:`importer.sheet.reading.child.cell_text`: ISO dates, whole numbers
without ``.0``, 16-digit numbers in Excel's scientific notation).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from importer.core.errors import UnreadableFileError, UnsafeFileError
from importer.sheet.guard.check import Limits, check_workbook
from importer.sheet.reading.capped import ChildRead, Grid, read_in_child
from importer.sheet.reading.table import (
    HEADER_SEARCH_ROWS,
    HeaderScorer,
    Table,
    build_frame,
    find_header,
    header_names,
)

__all__ = ["read_workbook"]


def _midnights(grid: Grid, body_from: int) -> None:
    """In a column of date-times, write a bare date (the reader's date-time at 00:00) with
    its time, in the data rows (from ``body_from``): it is not refused as a date without
    a time."""
    for index, column in enumerate(grid.columns):
        if grid.last_stamp[index] >= body_from:
            for row in grid.bare_dates[index]:
                if row >= body_from:
                    column[row] += "T00:00:00"


def read_workbook(path: Path, handle: BinaryIO, scorer: HeaderScorer, sheet: str | None) -> Table:
    """Read one sheet of a workbook (xlsx, xlsm, xls, ods) into a :class:`Table`.

    ``handle`` is the file :func:`importer.core.files.open_sheet` opened and checked (a regular
    file): read from it, so that the bytes read are those of the file checked.

    The sheet named, else the first visible one. The guard checks the bytes first; the
    reader then runs in a memory-capped child process (:mod:`importer.sheet.reading.child`), so
    that a crash on a hostile file is one error for that file, not the end of the process.

    Raises:
        UnreadableFileError: a damaged or encrypted workbook, no sheets, an empty sheet.
        UnsafeFileError: a workbook that would exhaust memory.
        SheetNotFoundError: ``sheet`` is not in the workbook.
    """
    limits = Limits.from_env()
    size = os.fstat(handle.fileno()).st_size
    if size > limits.max_unpacked_bytes:
        raise UnsafeFileError(
            f"{path}: the workbook is {size // 2**20:,} MB, over the "
            f"{limits.max_unpacked_bytes // 2**20:,} MB we read. Split it into smaller files."
        )
    # Read once: the reader parses exactly the bytes the guard checked (no file swapped between).
    handle.seek(0)
    data = handle.read()
    grid = _guarded_read(path, data, sheet, limits)
    del data
    start, name = grid.start, grid.sheet
    if not grid.height or not grid.columns:
        raise UnreadableFileError(f"{path}: sheet {name!r} is empty.")
    top = min(grid.height, HEADER_SEARCH_ROWS)
    text_rows = [[column[n] for column in grid.columns] for n in range(top)]
    header_index = find_header(text_rows, scorer)
    _midnights(grid, header_index + 1)
    first_col = start[1]
    headers = header_names([""] * first_col + text_rows[header_index])[first_col:]
    columns = [column[header_index + 1 :] for column in grid.columns[: len(headers)]]
    first_row = start[0] + header_index + 2
    frame = build_frame(columns, headers, first_row=first_row)
    return Table(frame, path, name, start[0] + header_index + 1, skipped=grid.skipped)


def _guarded_read(path: Path, data: bytes, sheet: str | None, limits: Limits) -> Grid:
    """The guard's check of ``data``, and the sheet read in the capped child.

    The child starts once the workbook's structure has passed the guard, and reads while
    the guard scans the parts, on the other core (a 100,000-row workbook: the guard's
    0.6-1 s no longer added to the read); it is stopped if the guard refuses, so that the
    guard's verdict is always the one given, whatever the child did meanwhile. Until the
    guard has passed the parts, nothing bounds what they make the reader allocate but its
    cap: so that what a file the guard refuses can cost the machine is bounded by its size,
    the child started early gets the cap :func:`early_cap` (the reader's memory for such a
    file, with room to spare), and is read again with the full cap in the rare case an
    accepted file needed more.
    """
    reading: list[ChildRead] = []
    unstarted: list[Exception] = []
    early = limits.reader_memory_bytes

    def started(unpacked: int) -> None:
        nonlocal early
        early = early_cap(unpacked, limits.reader_memory_bytes)
        try:
            reading.append(ChildRead(path, data, sheet, early))
        except Exception as error:  # the machine's (no process or thread to be had), not
            unstarted.append(error)  # the file's: raised as it is once the guard is done

    try:
        check_workbook(path, data, limits, scanning=started)
    except BaseException:
        for child in reading:
            child.cancel()
        raise
    if unstarted:
        raise unstarted[0]
    if not reading:  # not a zip (.xls): read once the guard has passed it
        return read_in_child(path, data, sheet, limits.reader_memory_bytes)
    try:
        return reading[0].result()
    except (UnsafeFileError, UnreadableFileError):
        if early >= limits.reader_memory_bytes or not reading[0].out_of_memory:
            raise
    return read_in_child(path, data, sheet, limits.reader_memory_bytes)


#: The reader's address space for a workbook's unpacked bytes, before the guard has passed
#: them: measured, a 100,000-row sheet (56 MB unpacked) peaks at 184 MB resident in the
#: child; 8 times the unpacked size plus 512 MB leaves room for the interpreter, calamine's
#: reservations and the text columns.
_EARLY_FACTOR, _EARLY_BASE = 8, 512 * 2**20


def early_cap(unpacked: int, cap: int) -> int:
    """The cap of a reader started before the guard has scanned the parts (at most ``cap``)."""
    return min(cap, _EARLY_FACTOR * unpacked + _EARLY_BASE)
