"""Refuse a zip that the reader may read as another archive than the guard does.

The guard reads a workbook's zip with :mod:`zipfile`; the reader (calamine) with Rust's
``zip`` crate, and the two find the archive differently:

- zipfile takes the *last* end-of-directory signature of the file's last 64 KiB, whatever
  its fields say; the crate searches backwards for one it finds *valid* (one whose comment
  fits, on disk 0). So four bytes ``PK\\5\\6`` appended to a workbook made zipfile see no
  archive at all (the guard let the file through unchecked) while the crate read the
  workbook behind them; and a benign archive put in the comment of a hostile one, its end
  record a little wrong, was the one the guard checked and not the one read.
- zipfile follows a zip64 locator wherever it sits; the crate goes by the 32-bit fields when
  they are not saturated.
- zipfile shifts every offset when the directory is not where the end record says (data
  prepended to the archive); the crate may take the directory at the offset as written.

All measured with the reader aborting on a cell at XFD1048576 that the guard never saw.
So an archive must read one way only: its end record ends the file (a comment, if any, fills
the rest), on disk 0, with no other end record in reach that a reader could take instead; a
zip64 locator points at the record just before it, whose values the 32-bit fields repeat (or
saturate); the directory ends where those records begin. Zips that spreadsheet programs
write are all of that. Anything else is refused as damaged.
"""

from __future__ import annotations

import struct

from importer.core.errors import UnsafeFileError

__all__ = ["check_directory"]

_END = b"PK\x05\x06"
_END_SIZE = 22
_LOCATOR = b"PK\x06\x07"
_LOCATOR_SIZE = 20
_END64 = b"PK\x06\x06"
_END64_SIZE = 56
#: How far back from the end another end record is looked for: the 64 KiB a comment can
#: take, with a margin for readers that look further.
_REACH = 2 * (_END_SIZE + 0xFFFF)


def _ambiguous(name: str, why: str) -> UnsafeFileError:
    return UnsafeFileError(
        f"{name}: the workbook's zip directory is ambiguous ({why}), so the reader may not "
        "read what was checked; refusing to open it. Open it in Excel and save it again."
    )


def check_directory(data: bytes, name: str, is_zip: bool) -> None:
    """Refuse ``data`` unless every zip reader finds the same archive in it.

    Args:
        data: the whole file.
        name: the file, for the message.
        is_zip: whether :func:`zipfile.is_zipfile` found an archive in it.
    """
    if not is_zip:
        if _END in data:  # zipfile sees no archive, a more lenient reader may well
            raise _ambiguous(name, "an end record zipfile cannot read")
        return
    size = len(data)
    if data[-_END_SIZE:].startswith(_END) and data[-2:] == b"\0\0":
        end = size - _END_SIZE  # zipfile's first guess
    else:
        end = data.rfind(_END, max(0, size - (1 << 16) - _END_SIZE))  # as zipfile looks
    disk, directory_disk, here, total, length, offset, comment = struct.unpack(
        "<HHHHIIH", data[end + 4 : end + _END_SIZE]
    )
    if end + _END_SIZE + comment != size:
        raise _ambiguous(name, "bytes after its end record")
    if disk or directory_disk or here != total:
        raise _ambiguous(name, "an end record for several disks")
    other = data.rfind(_END, max(0, size - _REACH), size)
    while other >= 0:
        if other != end and _could_be_read(data, other):
            raise _ambiguous(name, "two end records")
        other = data.rfind(_END, max(0, size - _REACH), other + 3)
    directory_end = end
    if data[end - _LOCATOR_SIZE : end].startswith(_LOCATOR):
        directory_end = end - _LOCATOR_SIZE - _END64_SIZE
        length, offset = _zip64(data, name, directory_end, (here, length, offset))
    if offset + length != directory_end:
        raise _ambiguous(name, "its directory is not where its end record says")


def _could_be_read(data: bytes, at: int) -> bool:
    """Whether a reader could take the end record at ``at``: it fits, with its comment,
    and its directory starts before it (or is given by a zip64 locator)."""
    if at + _END_SIZE > len(data):
        return False
    comment = int.from_bytes(data[at + 20 : at + 22], "little")
    offset = int.from_bytes(data[at + 16 : at + 20], "little")
    return at + _END_SIZE + comment <= len(data) and (offset < at or offset == 0xFFFFFFFF)


def _zip64(data: bytes, name: str, at: int, short: tuple[int, int, int]) -> tuple[int, int]:
    """The directory's (length, offset) from the zip64 record at ``at``, checked to be the
    one the locator points at and the one the 32-bit fields describe."""
    locator = data[at + _END64_SIZE : at + _END64_SIZE + _LOCATOR_SIZE]
    disk, record, disks = struct.unpack("<IQI", locator[4:])
    if disk or disks > 1 or record != at or at < 0 or not data[at:].startswith(_END64):
        raise _ambiguous(name, "a zip64 locator pointing elsewhere")
    fields = struct.unpack("<QHHIIQQQQ", data[at + 4 : at + _END64_SIZE])
    record_size, _, _, disk, directory_disk, here, total, length, offset = fields
    if record_size != _END64_SIZE - 12 or disk or directory_disk or here != total:
        raise _ambiguous(name, "an odd zip64 end record")
    for value, saturated, wide in zip(
        short, (0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (here, length, offset), strict=True
    ):
        if value not in (saturated, wide):
            raise _ambiguous(name, "a zip64 end record its 32-bit fields contradict")
    return length, offset
