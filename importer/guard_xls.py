"""Bound what a legacy .xls workbook makes the reader build, from its BIFF records.

The compound file is opened by :mod:`importer.guard` (with olefile); this module
walks the workbook stream's records: cell records give the used range of each
sheet, and the shared-string table gives what each LABELSST cell costs (calamine
copies the string into every cell that uses it).
"""

from __future__ import annotations

import struct
from array import array

from importer.guard_scan import Budget

__all__ = ["scan_biff"]


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


def scan_biff(stream: bytes, budget: Budget) -> None:
    """Bound the used range of every substream (each BOF starts a sheet) from its cells.

    Text is bounded too: a LABELSST cell costs the length of the shared string it
    names (calamine copies it into every cell).
    """
    offset, records, sheet = 0, 0, -1
    max_row = max_column = text = 0
    strings: array[int] = array("q")
    sst: list[bytes] | None = None
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
