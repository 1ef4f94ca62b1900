"""The child process that reads one sheet of a workbook (see :mod:`importer.sheet.reading.capped`).

``python -m importer.sheet.reading.child REQUEST``: caps its own address space, reads the
workbook's bytes from its standard input, and writes the chosen sheet's cells, as text,
column by column, pickled on its standard output (or what went wrong, as data). It
imports the reader and as little else as it can: it starts once for every workbook read.

Typed Excel cells are turned into unambiguous text here: dates and times in ISO 8601
(``2025-07-01T13:00:00``, ``2025-07-01``, ``14:00:00``), whole numbers without ``.0``,
and numbers of 16 digits or more in Excel's own scientific notation
(``4.78346000019479E+17``): Excel keeps only 15 significant digits, so such a value has
already been rounded, and validation says so for ID columns instead of sending a wrong
ID. A date-time cell at exactly 00:00 comes from the reader as a bare date: the cells of
each column where that happened are listed, for the parent to write them with their time
once it knows which rows are the data (see :mod:`importer.sheet.reading.xlsx`).

Which sheet: the one named (``--sheet``, without case), else the first *visible*
worksheet, as the person who opens the file sees it (a hidden first sheet was imported
before); the hidden sheets passed over are named in the output.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import pickle
import sys
from typing import Any

__all__ = ["cell_text", "choose_sheet"]


def cell_text(value: object) -> str:
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


def _texts(cells: tuple[Any, ...], kinds: set[type]) -> list[str]:
    """:func:`cell_text` of each cell of a column whose cells are of the types ``kinds``.

    A column of text is itself. A column of one other type (with text and empty cells) is
    rendered once per distinct value and spread at C speed: a 100,000-row sheet's dates take
    a few thousand renderings, not 100,000 (a value of one type never equals text or
    ``None``, and the reader's date-times carry no zone, so equal values are equal texts).
    Mixed types are rendered cell by cell: ``True == 1 == 1.0`` would merge cells whose
    text differs.
    """
    if kinds == {str}:
        return list(cells)
    if len(kinds - {str, type(None)}) == 1:
        text = {value: cell_text(value) for value in set(cells)}
        return list(map(text.__getitem__, cells))
    return [v if type(v) is str else cell_text(v) for v in cells]


def _columns(rows: list[list[Any]]) -> dict[str, Any]:
    """The grid as text columns, with where each column holds date-times and bare dates."""
    columns, last_stamp, bare_dates = [], [], []
    # A million cells: the transposition, the types and the texts go at C speed, each
    # distinct value that is not text through cell_text once (see _texts).
    for cells in zip(*rows, strict=True):
        kinds = set(map(type, cells))
        columns.append(_texts(cells, kinds))
        if dt.datetime in kinds:
            last = len(cells) - 1
            while type(cells[last]) is not dt.datetime:
                last -= 1
            last_stamp.append(last)
            bare = (
                [n for n, v in enumerate(cells) if type(v) is dt.date] if dt.date in kinds else []
            )
            bare_dates.append(bare)
        else:
            last_stamp.append(-1)
            bare_dates.append([])
    return {"columns": columns, "height": len(rows), "last_stamp": last_stamp,
            "bare_dates": bare_dates}  # fmt: skip


def choose_sheet(
    sheets: list[tuple[str, bool, bool]], requested: str | None
) -> tuple[str, list[str]]:
    """The sheet to read, and the hidden sheets passed over before it.

    Args:
        sheets: each sheet's name, whether it is visible, whether it is a worksheet.
        requested: the name asked for (any case), or ``None`` for the first visible one.

    Raises:
        LookupError: no sheet has the name asked for.
    """
    if requested is not None:
        wanted = requested.strip().casefold()
        for name, _, _ in sheets:
            if name.casefold() == wanted:
                return name, []
        raise LookupError(requested)
    for index, (name, visible, worksheet) in enumerate(sheets):
        if visible and worksheet:
            return name, [n for n, shown, _ in sheets[:index] if not shown]
    # Every sheet hidden (Excel forbids it; a crafted file may): the first, as before.
    return sheets[0][0], []


def _cap(size: int) -> None:
    """Cap this process's address space (and write no core file when the reader aborts)."""
    try:
        import resource
    except ImportError:  # not a POSIX system: no cap to set (the guard still stands)
        return

    for limit, wanted in ((resource.RLIMIT_AS, size), (resource.RLIMIT_CORE, 0)):
        _, hard = resource.getrlimit(limit)
        value = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(limit, (value, value))


def _memory(error: BaseException) -> None:
    """Raise :class:`MemoryError` for a panic that is one: when Python cannot allocate an
    object, pyo3 panics with "PyObject pointer is null" (the MemoryError lost on the way);
    under the cap, that is the cap, and the parent says so (it said "cannot be read", now
    and then, for a sheet over ``IMPORTER_READER_MEMORY_MB``)."""
    if "PyObject pointer is null" in str(error):
        raise MemoryError from None


def _read(data: bytes, requested: str | None) -> dict[str, Any]:
    """The child's work: the chosen sheet's cells, or what went wrong (as data)."""
    import python_calamine

    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except python_calamine.PasswordError:
        return {"error": "encrypted"}
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    # A Rust panic arrives as pyo3's PanicException, a BaseException.
    except BaseException as error:
        _memory(error)
        return {"error": "workbook", "detail": type(error).__name__}
    meta = book.sheets_metadata
    if not meta:
        return {"error": "no-sheets"}
    sheets = [
        (m.name, m.visible == python_calamine.SheetVisibleEnum.Visible,
         m.typ == python_calamine.SheetTypeEnum.WorkSheet)
        for m in meta
    ]  # fmt: skip
    try:
        name, skipped = choose_sheet(sheets, requested)
    except LookupError:
        return {"error": "not-found", "detail": requested, "names": [s[0] for s in sheets]}
    try:
        grid = book.get_sheet_by_name(name)
        rows = grid.to_python()
        start = grid.start or (0, 0)
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except BaseException as error:  # as above: calamine panics on some damaged files
        _memory(error)
        return {"error": "sheet", "sheet": name, "detail": type(error).__name__}
    return {"sheet": name, "start": list(start), "skipped": skipped, **_columns(rows)}


def _main() -> None:
    request = json.loads(sys.argv[1])
    _cap(int(request["cap"]))
    data = sys.stdin.buffer.read()
    # Out of memory under the cap (MemoryError, or the reader's own abort): the process
    # ends, and the parent reads its exit and stderr.
    answer = _read(data, request["sheet"])
    del data
    # Text, numbers and lists only, nothing shared: without the memo, pickling a million
    # cells takes a tenth of the time.
    pickler = pickle.Pickler(sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(answer)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    _main()
