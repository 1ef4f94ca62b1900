"""Refuse workbooks built to exhaust memory or time, before the Excel reader opens them.

The fast reader (calamine) has no limits of its own: a 2 KB xlsx with one cell at
XFD1048576 makes it allocate 512 GiB and abort the whole Python process
(SIGABRT, exit 134, uncatchable); a 1 KB .ods of repeated rows costs it 3 GB;
an .xls whose cells span 65,536 x 256 costs 1.2 GB (measured, see
shared/DEPS.md and ``benchmarks/hostile.py``). So before it reads, this module
works out, from the file's own structure, what calamine *would* materialise,
and refuses the file when that is over a budget:

- **xlsx/xlsm**: the zip must read one way only (:mod:`importer.sheet.guard.directory`:
  the reader's zip library once found another archive in the same bytes than zipfile did),
  with no two entries under one name; it is walked with the standard library (which checks
  each entry's declared size and CRC); the unpacked size and compression ratio are
  bounded; every XML part is parsed with expat, *streaming*, with any DTD or
  entity declaration refused (so nothing is ever expanded), matching element
  names by their local part as calamine does (``<x:c>`` is a cell whatever its
  prefix). Cells without an ``r=`` take the next position, as in calamine; the
  position counted is the *highest* any reading could give, so no spelling of a
  reference can make us count less than the reader will allocate. Shared strings
  are counted once per cell that uses them (calamine copies them per cell).
  Worksheets and shared strings written as spreadsheet programs write them are counted
  at C speed (:mod:`importer.sheet.guard.fast`: expat with no element handler checks the
  XML, numpy makes the same counts from the bytes); anything else, and every refusal,
  is scanned again from the part's start by the careful scan, whose messages are
  the guard's.
- **ods**: ``content.xml`` the same way, multiplying ``number-rows-repeated``
  and ``number-columns-repeated`` out, as calamine does for filled cells (empty
  repeats, such as the million trailing rows LibreOffice writes, cost nothing).
- **xls**: the BIFF records of the compound file's workbook stream, read with
  olefile; the used range is found from the cell records themselves.

The budget: at most :data:`MAX_COLUMNS` columns, and an estimate of memory
(cells in the used range times :data:`CELL_BYTES`, plus text times
:data:`TEXT_FACTOR`) within ``IMPORTER_READ_BUDGET_MB`` (default 2048); the scan
itself stops after :data:`SCAN_SECONDS`. Each refusal is one sentence naming
the file, what was found and what to do.
"""

from __future__ import annotations

import io
import time
import zipfile
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import IO

from importer.core.errors import UnreadableFileError, UnsafeFileError
from importer.sheet.guard.directory import check_directory
from importer.sheet.guard.fast import scan_sheet, scan_strings
from importer.sheet.guard.parts import part_key, workbook_parts
from importer.sheet.guard.scan import (
    CELL_BYTES,
    MAX_COLUMNS,
    MAX_UNPACKED_BYTES,
    SCAN_SECONDS,
    TEXT_FACTOR,
    Budget,
    Limits,
    OdsScan,
    parse_part,
)
from importer.sheet.guard.xls import encrypted, scan_biff

__all__ = [
    "CELL_BYTES",
    "MAX_COLUMNS",
    "MAX_RATIO",
    "MAX_UNPACKED_BYTES",
    "SCAN_SECONDS",
    "TEXT_FACTOR",
    "Limits",
    "check_workbook",
]

#: Real xlsx entries unpack 7-11x, very repetitive ones (a synthetic 100,000-row .ods) 155x;
#: a zip bomb about 1,000x. Entries under 1 MB are not judged by their ratio.
MAX_RATIO = 250
_RATIO_MIN_SIZE = 1024 * 1024
_CHUNK = 1024 * 1024
_XLS_MAX_BYTES = 256 * 1024 * 1024


def check_workbook(
    path: Path,
    data: bytes | None = None,
    limits: Limits | None = None,
    clock: Callable[[], float] = time.monotonic,
    scanning: Callable[[int], object] | None = None,
) -> int:
    """Raise :class:`UnsafeFileError` when a workbook is unreasonable to open.

    Returns the memory the largest sheet is estimated to take, in bytes (0 when
    the file is neither a zip nor a compound file: the reader refuses those).

    Args:
        path: the file (named in messages; read when ``data`` is not given).
        data: the file's bytes, when the caller already holds them (the reader
            then parses exactly the bytes that were checked).
        limits: the budget; :meth:`Limits.from_env` when omitted.
        clock: a monotonic clock, for the scan's deadline.
        scanning: called once a zip workbook's structure has passed (its directory, its
            sizes and ratios, no part twice, not binary), before its parts are scanned (the
            longest part of the check), with the bytes its parts unpack to: a caller starts
            the capped reader there, so that it reads while the scan runs, and stops it if
            the scan refuses.
    """
    limits = limits or Limits.from_env()
    if data is None:
        data = path.read_bytes()
    budget = Budget(str(path), limits, clock)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        _check_xls(data, budget)
        return budget.estimate
    is_zip = zipfile.is_zipfile(io.BytesIO(data))
    check_directory(data, str(path), is_zip)  # the archive read is the one checked
    if not is_zip:
        return 0  # neither zip nor compound file: the reader refuses it as unreadable
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _check_zip(archive, budget, scanning)
        return budget.estimate
    except UnsafeFileError:
        raise
    except Exception as error:
        # A CRC or size mismatch, a corrupt deflate stream, a truncated file, an exotic codec,
        # an encrypted entry (RuntimeError), a mangled directory (struct.error, OSError...):
        # zipfile's errors on hostile bytes are of many types, and all mean the same here.
        raise UnsafeFileError(
            f"{path}: the workbook is damaged ({type(error).__name__}). "
            "Open it in Excel and save it again."
        ) from None


# --- zip-based workbooks (xlsx, xlsm, ods) ---------------------------------------------------


def _check_zip(
    archive: zipfile.ZipFile, budget: Budget, scanning: Callable[[int], object] | None = None
) -> None:
    infos = archive.infolist()
    total = sum(info.file_size for info in infos)
    if total > budget.limits.max_unpacked_bytes:
        raise UnsafeFileError(
            f"{budget.name}: the workbook unpacks to {total // 2**20:,} MB, over the "
            f"{budget.limits.max_unpacked_bytes // 2**20:,} MB we accept. "
            "Split it into smaller files."
        )
    for info in infos:
        if info.file_size > _RATIO_MIN_SIZE and info.compress_size:
            ratio = info.file_size / info.compress_size
            if ratio > MAX_RATIO:
                raise UnsafeFileError(
                    f"{budget.name}: part {info.filename} is compressed {ratio:.0f} times, "
                    "which only a deliberately crafted file does; refusing to open it."
                )
    names = {part_key(info.filename): info for info in infos}
    if len(names) < len(infos):
        # Two entries under one name (or names differing in case, slashes): the guard would
        # scan one, and the reader may read the other ("/xl/a.xml" beside "xl/a.xml": it did).
        twice = next(i.filename for i in reversed(infos) if names[part_key(i.filename)] is not i)
        raise UnsafeFileError(
            f"{budget.name}: the workbook holds part {twice[:100]!r} twice, which only a damaged "
            "or deliberately crafted file does; refusing to open it. Open it in Excel and save "
            "it again."
        )
    if any(name.startswith("xl/worksheets/") and name.endswith(".bin") for name in names):
        raise UnsafeFileError(
            f"{budget.name}: this is a binary workbook (.xlsb), which we do not read; "
            "save it from Excel as .xlsx."
        )
    # The parts the reader reads as sheets or shared strings, whatever their names.
    parts = workbook_parts(archive, names, budget)
    if scanning is not None:
        scanning(total)
    shared = {n for n in names if n.endswith("sharedstrings.xml")} | parts.shared_strings
    strings: array[int] = array("q")
    for name in sorted(shared):
        # Which table the reader takes is its business: each index costs its longest string.
        lengths = scan_strings(archive, names[name], budget)
        strings.extend(lengths[len(strings) :])
        for index in range(min(len(strings), len(lengths))):
            strings[index] = max(strings[index], lengths[index])
    for name, info in names.items():
        if name == "content.xml":
            parse_part(archive, info, OdsScan(budget), budget)
        elif name in parts.sheets or (name.endswith(".xml") and name not in shared):
            scan_sheet(archive, info, budget, strings)
        elif name not in shared:
            _read_through(archive, info, budget)  # checks its size and CRC


def _read_through(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget) -> None:
    with archive.open(info) as stream:
        while stream.read(_CHUNK):
            budget.tick()


# --- legacy .xls (BIFF records in an OLE2 compound file) -----------------------------------


def _check_xls(data: bytes, budget: Budget) -> None:
    import olefile

    if len(data) > _XLS_MAX_BYTES:
        raise UnsafeFileError(
            f"{budget.name}: the .xls file is {len(data) // 2**20:,} MB, over the "
            f"{_XLS_MAX_BYTES // 2**20} MB we read; save it as .xlsx."
        )
    shift = int.from_bytes(data[30:32], "little") if len(data) >= 512 else 0
    if shift not in (9, 12) or (len(data) - 512) % (1 << shift):
        # A compound file is its header then whole sectors; calamine panics on a cut one.
        raise UnsafeFileError(
            f"{budget.name}: the .xls file is damaged (cut short, or not a compound file). "
            "Open it in Excel and save it again as .xlsx."
        )
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            streams = {"/".join(entry).lower(): entry for entry in ole.listdir()}
            if {"encryptedpackage", "encryptioninfo"} & set(streams):
                # How Excel saves an .xlsx with a password to open it: the zip, encrypted,
                # inside a compound file.
                raise encrypted(budget.name)
            entry = streams.get("workbook") or streams.get("book")
            if entry is None:
                return  # not a workbook: the reader says so
            if ole.get_size(entry) < ole.minisectorcutoff and not ole.root.size:
                raise ValueError("a small stream with no mini stream to hold it")  # calamine panics
            stream: IO[bytes] = ole.openstream(entry)
            workbook = stream.read()
    except UnreadableFileError:
        raise
    except Exception as error:  # olefile's errors on a hostile file are of many types
        raise UnsafeFileError(
            f"{budget.name}: the .xls file is damaged ({type(error).__name__}). "
            "Open it in Excel and save it again as .xlsx."
        ) from None
    scan_biff(workbook, budget)
