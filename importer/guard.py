"""Refuse workbooks built to exhaust memory before the Excel reader opens them.

The fast reader (calamine) has no limits of its own: a 90 KB zip bomb costs it
3 GB, and a 4.6 KB file with cells A1 and XFD1048576 makes it allocate
512 GiB and abort the whole Python process, uncatchably (measured, see
shared/DEPS.md). So before reading, this module walks the zip with the
standard library, which enforces each entry's declared size and CRC, and
bounds: the total unpacked size, the compression ratio of large entries, and
the used range of every worksheet (found from the cell references themselves,
not from the ``<dimension>`` element a hostile file can fake).
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path

from importer.errors import UnsafeFileError

__all__ = ["MAX_CELLS", "MAX_COLUMNS", "MAX_RATIO", "MAX_UNPACKED_BYTES", "check_workbook"]

MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
#: Real xlsx entries unpack 7-11x; a bomb unpacks thousands of times.
MAX_RATIO = 100
_RATIO_MIN_SIZE = 1024 * 1024
MAX_COLUMNS = 1024
#: The used range (rows x columns) calamine will allocate a cell for.
MAX_CELLS = 50_000_000
_CHUNK = 8 * 1024 * 1024
_ROW_REF = re.compile(rb'<row[^>]*? r="(\d{1,9})"')
_CELL_COLUMN = re.compile(rb'<c[^>]*? r="([A-Z]{1,4})\d')


def _column_number(letters: bytes) -> int:
    number = 0
    for char in letters:
        number = number * 26 + (char - 64)
    return number


def check_workbook(path: Path) -> None:
    """Raise :class:`UnsafeFileError` when a zip-based workbook is unreasonable to open.

    Non-zip files (legacy .xls) are only bounded by their size on disk,
    which the caller already has in memory terms.
    """
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            total = sum(info.file_size for info in infos)
            if total > MAX_UNPACKED_BYTES:
                raise UnsafeFileError(
                    f"{path}: the workbook unpacks to {total // 2**20} MB, over the "
                    f"{MAX_UNPACKED_BYTES // 2**20} MB we accept. Split it into smaller files."
                )
            for info in infos:
                if info.file_size > _RATIO_MIN_SIZE and info.compress_size:
                    ratio = info.file_size / info.compress_size
                    if ratio > MAX_RATIO:
                        raise UnsafeFileError(
                            f"{path}: part {info.filename} is compressed {ratio:.0f} times, "
                            "which only a deliberately crafted file does; refusing to open it."
                        )
                _scan_entry(path, archive, info)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
        # A CRC or size mismatch, a corrupt deflate stream, a truncated file, an exotic codec.
        raise UnsafeFileError(
            f"{path}: the workbook is damaged ({type(error).__name__}). "
            "Open it in Excel and save it again."
        ) from None


def _scan_entry(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Read one entry through (checking its size and CRC); bound a worksheet's used range."""
    is_sheet = info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
    max_row = max_column = 0
    tail = b""
    with archive.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            if is_sheet:
                # Keep a short overlap so that a reference cut by the chunk edge is still seen.
                window = tail + chunk
                rows = _ROW_REF.findall(window)
                if rows:
                    max_row = max(max_row, max(int(r) for r in rows))
                columns = set(_CELL_COLUMN.findall(window))
                if columns:
                    max_column = max(max_column, max(_column_number(c) for c in columns))
                tail = chunk[-64:]
    if max_column > MAX_COLUMNS or max_row * max_column > MAX_CELLS:
        raise UnsafeFileError(
            f"{path}: a sheet spans {max_row:,} rows by {max_column:,} columns "
            f"({info.filename}); we read at most {MAX_COLUMNS:,} columns and "
            f"{MAX_CELLS:,} cells. Delete the stray cells far right or far down, or split the file."
        )
