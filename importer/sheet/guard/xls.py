"""Bound what a legacy .xls workbook makes the reader build, from its BIFF records.

The compound file is opened by :mod:`importer.sheet.guard.check` (with olefile); this module
walks the workbook stream's records: cell records give the used range of each
sheet, and the shared-string table gives what each LABELSST cell costs (calamine
copies the string into every cell that uses it).

Two things the reader *trusts* are modelled as it uses them:

- a sheet's DIMENSIONS record: calamine sets aside room for every cell of the range it
  claims before reading one (40 bytes a cell, counted with arithmetic that wraps round on
  a range ending before it starts): a 6 KB file claiming 4,294,967,295 rows aborted the
  process asking for 43,980,465,100,800 bytes. A range past the .xls grid or ending
  before it starts is refused; a sane one is charged as the reader reserves it;
- where each sheet starts: calamine reads a sheet from the offset its BOUNDSHEET record
  gives, which may point into the middle of another record, so every such offset is walked
  as the reader walks it, besides the stream read record after record.

A FILEPASS record means the workbook is encrypted: refused, saying so.
"""

from __future__ import annotations

import struct
from array import array

from importer.core.errors import UnreadableFileError, UnsafeFileError
from importer.sheet.guard.scan import Budget

__all__ = ["encrypted", "scan_biff"]

#: What calamine sets aside for each cell a DIMENSIONS record claims (one ``Cell<Data>``:
#: measured, 4,294,967,295 x 256 cells asked for 43,980,465,100,800 bytes).
DIMENSION_CELL_BYTES = 40
_BOUNDSHEET, _DIMENSIONS, _FILEPASS, _EOF = 0x0085, 0x0200, 0x002F, 0x000A
#: The .xls grid (BIFF8): 65,536 rows by 256 columns; DIMENSIONS stores one past the last.
_MAX_ROWS, _MAX_COLUMNS = 65_536, 256


def encrypted(name: str) -> UnreadableFileError:
    """The refusal of a workbook saved with a password to open it."""
    return UnreadableFileError(
        f"{name}: the workbook is encrypted (saved with a password to open it), so it cannot "
        "be read. Open it in Excel, remove the password (File > Info > Protect Workbook > "
        "Encrypt with Password), save it and try again."
    )


#: BIFF2-8 records that place one cell at (row, column) in their first four bytes.
_XLS_CELLS = {0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0201, 0x0203, 0x0204, 0x0205,
              0x0206, 0x0406, 0x027E, 0x00FD, 0x00D6}  # fmt: skip
#: MULRK and MULBLANK: a row, a first column, ..., a last column in the final two bytes.
_XLS_RUNS = {0x00BD, 0x00BE}
_XLS_BOF = {0x0009, 0x0209, 0x0409, 0x0809}


def _sst_lengths(chunks: list[bytes]) -> array[int]:
    """The length in characters of each shared string of an SST record and its CONTINUEs.

    A string's characters may run on into the next CONTINUE record, which then starts
    with a new flags byte (8- or 16-bit characters); its rich-text runs and phonetic
    block may run on too, without one. Parsing stops where the data does.
    """
    lengths: array[int] = array("q")
    if not chunks or len(chunks[0]) < 8:
        return lengths
    (unique,) = struct.unpack_from("<I", chunks[0], 4)
    index, data, pos = 0, chunks[0], 8
    while len(lengths) < unique:
        if pos >= len(data):
            index += 1
            if index >= len(chunks):
                break
            data, pos = chunks[index], 0
        if pos + 3 > len(data):
            break
        count, flags = struct.unpack_from("<HB", data, pos)
        pos += 3
        runs = extra = 0
        if flags & 0x08 and pos + 2 <= len(data):
            (runs,) = struct.unpack_from("<H", data, pos)
            pos += 2
        if flags & 0x04 and pos + 4 <= len(data):
            (extra,) = struct.unpack_from("<I", data, pos)
            pos += 4
        width, left = 2 if flags & 0x01 else 1, count
        while left:
            take = min(left, (len(data) - pos) // width)
            pos, left = pos + take * width, left - take
            if left:
                index += 1
                if index >= len(chunks) or not chunks[index]:
                    break
                data = chunks[index]
                width, pos = 2 if data[0] & 0x01 else 1, 1
        skip = 4 * runs + extra
        while skip and index < len(chunks):
            take = min(skip, len(data) - pos)
            pos, skip = pos + take, skip - take
            if skip:
                index += 1
                if index < len(chunks):
                    data, pos = chunks[index], 0
        lengths.append(count)
    return lengths


def _dimensions(body: bytes) -> tuple[int, int, int, int] | None:
    """A DIMENSIONS record's first row, row past the last, first column, column past the
    last (BIFF8 holds 32-bit rows, BIFF2-5 16-bit ones; the reader refuses other lengths)."""
    if len(body) == 14:
        return struct.unpack_from("<IIHH", body)
    if len(body) == 10:
        return struct.unpack_from("<HHHH", body)
    return None


def _claim_dimensions(body: bytes, budget: Budget, sheet: str) -> None:
    """Refuse a DIMENSIONS record no spreadsheet program writes, and charge the others.

    The reader sets room aside for the claimed range from arithmetic that wraps round on a
    range whose end is before its start or past the format's grid (measured: rows 65,535
    to 5 and columns 65,535 to 65,535 asked for 11,258,655,489,392,400 bytes). A workbook
    saved by a spreadsheet program never claims such a range, so it is refused whatever
    the reader would make of it; a sane range is charged as the reader reserves it.
    """
    claimed = _dimensions(body)
    if claimed is None:
        return
    first_row, end_row, first_col, end_col = claimed
    if not (first_row <= end_row <= _MAX_ROWS and first_col <= end_col <= _MAX_COLUMNS):
        raise UnsafeFileError(
            f"{budget.name}: {sheet} has a DIMENSIONS record no spreadsheet program writes "
            f"(rows {first_row:,} to {end_row:,}, columns {first_col:,} to {end_col:,}), which "
            "makes the reader set aside memory for a range beyond the sheet; refusing to "
            "open it. Open it in Excel and save it again."
        )
    rows, columns = end_row - first_row, end_col - first_col
    budget.claim(
        sheet,
        f"has a DIMENSIONS record claiming {rows:,} rows by {columns:,} columns",
        rows * columns * DIMENSION_CELL_BYTES,
    )


def _walk_sheet(stream: bytes, offset: int, budget: Budget, sheet: str) -> None:
    """Walk the records from a BOUNDSHEET offset to the sheet's EOF, as the reader does."""
    records = 0
    while offset + 4 <= len(stream):
        kind, length = struct.unpack_from("<HH", stream, offset)
        if kind == _EOF:
            return
        if kind == _DIMENSIONS:
            _claim_dimensions(stream[offset + 4 : offset + 4 + length], budget, sheet)
        offset += 4 + length
        records += 1
        if not records % 65536:
            budget.tick()


def scan_biff(stream: bytes, budget: Budget) -> None:
    """Bound the used range of every substream (each BOF starts a sheet) from its cells.

    Text is bounded too: a LABELSST cell costs the length of the shared string it
    names (calamine copies it into every cell).
    """
    offset, records, sheet = 0, 0, -1
    max_row = max_column = text = 0
    strings: array[int] = array("q")
    sst: list[bytes] | None = None
    starts: list[int] = []
    while offset + 4 <= len(stream):
        kind, length = struct.unpack_from("<HH", stream, offset)
        body = stream[offset + 4 : offset + 4 + length]
        offset += 4 + length
        if sst is not None:
            if kind == 0x003C:  # CONTINUE
                sst.append(body)
                continue
            strings, sst = _sst_lengths(sst), None
        if kind == 0x00FC:  # SST
            sst = [body]
        elif kind == _FILEPASS:
            raise encrypted(budget.name)
        elif kind == _BOUNDSHEET and len(body) >= 4:
            starts.append(struct.unpack_from("<I", body)[0])
        elif kind == _DIMENSIONS:
            _claim_dimensions(body, budget, f"sheet {sheet}")
        elif kind in _XLS_BOF:
            budget.check(f"sheet {sheet}", max_row, max_column, text)
            sheet, max_row, max_column, text = sheet + 1, 0, 0, 0
        elif kind in _XLS_CELLS and len(body) >= 4:
            row, column = struct.unpack_from("<HH", body)
            max_row, max_column = max(max_row, row + 1), max(max_column, column + 1)
            if kind == 0x00FD and len(body) >= 10:  # LABELSST: a shared string's index
                (which,) = struct.unpack_from("<I", body, 6)
                text += strings[which] if which < len(strings) else 0
        elif kind in _XLS_RUNS and len(body) >= 6:
            row, first = struct.unpack_from("<HH", body)
            (last,) = struct.unpack_from("<H", body, len(body) - 2)
            max_row, max_column = max(max_row, row + 1), max(max_column, first + 1, last + 1)
        records += 1
        if not records % 65536:
            budget.tick()
            budget.check(f"sheet {sheet}", max_row, max_column, text)
    budget.check(f"sheet {sheet}", max_row, max_column, text)
    for number, start in enumerate(starts):
        _walk_sheet(stream, start, budget, f"sheet {number + 1}")
