"""Limits on CSV files, checked while they are read (see :mod:`importer.sheet.reading.table`).

A CSV file is bounded by its size (against the read budget, ``IMPORTER_READ_BUDGET_MB``),
its line count and the length of each cell; a quoted cell that never closes is an
error naming the row and column where it opened, because every CSV reader would
otherwise read the rest of the file into that one cell and rows would vanish.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from importer.core.errors import UnreadableFileError, UnsafeFileError
from importer.sheet.guard.check import Limits

__all__ = [
    "CSV_MEMORY_FACTOR",
    "MAX_CELL_CHARS",
    "MAX_CSV_LINES",
    "STREAMED_MAX_CSV_LINES",
    "STREAMED_MEMORY_FACTOR",
    "check_file",
    "check_lines",
    "check_quotes",
    "check_size",
    "records",
    "refuse_binary",
]

#: The longest CSV cell we accept (Excel holds 32,767 characters; this is csv's own limit).
MAX_CELL_CHARS = 128 * 1024
#: Line breaks in a CSV file (Excel shows 1,048,576 rows; multi-line cells add some).
MAX_CSV_LINES = 2_000_000
#: A CSV file costs about this many times its size in memory once read (measured 6.5x for
#: a 20 MB file, benchmarks/hostile.py); the file must fit the read budget this way.
CSV_MEMORY_FACTOR = 8
#: The same for ``validate`` streaming a UTF-8 CSV into a CSV result
#: (:mod:`importer.jobs.validate_stream`): memory is a slice's (about 400 MB) plus 24-44 bytes a
#: row for finding repeats, about a third of the file's size for 150-byte rows (measured:
#: 404 MB for 1M rows, 511 MB for 3M, benchmarks/validate.py); so a file up to the budget.
STREAMED_MEMORY_FACTOR = 1
#: Lines of a CSV validated in slices: memory is no reason to stop at a sheet's size there;
#: 20 million lines take some 0.9 GB for repeats and about a minute and a half.
STREAMED_MAX_CSV_LINES = 20_000_000


def check_size(path: Path, factor: int = CSV_MEMORY_FACTOR) -> None:
    """Refuse, before reading it, a file too big for the read budget (the file costs
    ``factor`` times its size in memory)."""
    limit = Limits.from_env().memory_bytes // factor
    size = path.stat().st_size
    if size > limit:
        raise UnsafeFileError(
            f"{path}: the file is {size // 2**20:,} MB; reading it would take over the budget "
            f"of {limit * factor // 2**20:,} MB of memory. Split it into smaller "
            "files (IMPORTER_READ_BUDGET_MB raises the budget)."
        )


def check_lines(path: Path, text: str, most: int | None = None) -> None:
    """Refuse a file of more than ``most`` lines (default :data:`MAX_CSV_LINES`: a few bytes
    each, millions of rows); ``text``: the file decoded (a file read a chunk at a time:
    :func:`check_file`)."""
    _refuse_lines(path, max(text.count("\n"), text.count("\r")), most)


def _count_lines(chunk: bytes, counted: list[int]) -> None:
    """Add the line feeds and the carriage returns of ``chunk`` to ``counted``.

    Counted by numpy (a vectorised compare, without the GIL: 8 ms for 150 MB, where
    ``bytes.count`` took 50 ms holding it, before the slices could start).
    """
    import numpy as np  # lazy: numpy is loaded by then (pyarrow), not by the start-up

    data = np.frombuffer(chunk, np.uint8)
    counted[0] += int(np.count_nonzero(data == 10))
    if chunk.find(b"\r") >= 0:  # one memchr: most files have none
        counted[1] += int(np.count_nonzero(data == 13))


def _opening_quotes(chunk: bytes, delimiter: str) -> float:
    """How many quotes open a cell in ``chunk``, a byte (counted in its first MB: a quote at
    its start, or after ``delimiter`` or a line break)."""
    import numpy as np  # lazy, as in _count_lines

    if chunk.find(b'"') < 0:
        return 0.0
    sample = np.frombuffer(chunk, np.uint8, count=min(len(chunk), 1 << 20))
    opening = sample == 34
    opening[1:] &= np.isin(sample[:-1], np.frombuffer(delimiter.encode() + b"\r\n", np.uint8))
    return int(np.count_nonzero(opening)) / len(sample)


def _refuse_lines(path: Path, lines: int, most: int | None) -> None:
    most = MAX_CSV_LINES if most is None else most
    if lines > most:
        raise UnsafeFileError(
            f"{path}: the file has {lines:,} lines, over the {most:,} we read "
            "(an Excel sheet holds 1,048,576 rows). Split it into smaller files."
        )


def check_file(path: Path, delimiter: str, most: int | None, binary: bool) -> None:
    """:func:`check_lines`, then :func:`check_quotes`, of a UTF-8 file, read once for both
    (a chunk at a time); in between, refuse a file whose sample showed ``binary`` content.

    Raises:
        UnsafeFileError: too many lines.
        UnreadableFileError: binary content, or a quoted cell that never closes.
    """
    counted = [0, 0]
    opened = _open_quote_in_file(path, delimiter, counted)
    _refuse_lines(path, max(counted), most)
    if binary:
        refuse_binary(path)
    if opened is not None:
        with path.open("rb") as handle:
            _unclosed(path, handle.read(opened).decode("utf-8", "replace"), delimiter)


def records(path: Path, text: str, delimiter: str, complete: bool = True) -> list[list[str]]:
    """All CSV records of ``text``; a cell over :data:`MAX_CELL_CHARS` is an error naming its row.

    ``complete=False`` marks a sample cut at an arbitrary point: an error there just ends
    the sample (the full read judges the file).
    """
    records: list[list[str]] = []
    try:
        records.extend(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as error:
        row = len(records) + 1
        if not complete and records:
            return records
        if "field larger" in str(error):
            raise UnreadableFileError(
                f"{path}: row {row} has a cell over {MAX_CELL_CHARS:,} characters (Excel holds "
                "at most 32,767); shorten it, or check that the file really is a CSV."
            ) from None
        raise UnreadableFileError(f"{path}: row {row} cannot be read as CSV ({error}).") from None
    return records


#: A quote not preceded by a non-separator opens a quoted cell, to its closing quote or the
#: end (the lookbehind sits after the literal quote so that the search skips from quote to
#: quote: 144 MB of quoted cells in about 2 s); group 1 is the closing quote, if any.
_QUOTED = '"(?<![^{separators}]")[^"]*(?:""[^"]*)*("?)'
#: How much of a file the quote check searches at a time.
_QUOTE_CHUNK = 1 << 24


def refuse_binary(path: Path) -> None:
    """Refuse a file whose sample holds binary content.

    Raises:
        UnreadableFileError: always.
    """
    raise UnreadableFileError(
        f"{path}: this is not a text CSV file (binary content). "
        "Save it from Excel as 'CSV UTF-8' or as .xlsx."
    )


def _quote_pattern(delimiter: str) -> str:
    """:data:`_QUOTED` for ``delimiter``."""
    return _QUOTED.format(separators=_separators(delimiter))


def _separators(delimiter: str) -> str:
    """What may come before a cell, as a regex character set's content: the delimiter and the
    line breaks."""
    return re.escape(delimiter) + "\r\n"


def check_quotes(path: Path, text: str | bytes, delimiter: str) -> None:
    """Refuse a CSV where a quoted cell opens and never closes.

    Every CSV reader (Excel too) then reads the whole rest of the file as that one
    cell: rows would vanish without a word. A quote only opens a quoted cell at the
    start of a cell, and ``""`` inside one is a literal quote, as in RFC 4180.

    ``text`` is the decoded text, or the bytes of a UTF-8 file, searched as they are: the
    quote, the delimiter and the line breaks are single bytes there (a file read a chunk at
    a time: :func:`check_file`).

    Raises:
        UnreadableFileError: naming the row and column where the quote opened.
    """
    pattern = _quote_pattern(delimiter)
    if text.find('"' if isinstance(text, str) else b'"') < 0:  # type: ignore[arg-type]
        return
    last: re.Match[str] | re.Match[bytes] | None = None
    matches = (
        re.finditer(pattern, text) if isinstance(text, str) else re.finditer(pattern.encode(), text)
    )
    for last in matches:  # noqa: B007 - only the last quoted cell can be open
        pass
    if last is None or last.group(1):
        return
    start = last.start()
    prefix = (
        text[:start] if isinstance(text, str) else bytes(text[:start]).decode("utf-8", "replace")
    )
    _unclosed(path, prefix, delimiter)


def _scanners(delimiter: str) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """Two patterns that match a UTF-8 CSV's bytes from where they start up to the first
    quoted cell that does not close, in one call (:func:`_open_quote_in_file`): what
    :data:`_QUOTED` finds one quoted cell at a time, without a Python step per cell.

    The bytes go by as runs without a quote, quoted cells (a quote opening a cell: at the
    start, or after a separator or a line break), and stray quotes (any other quote), all
    possessive: a quoted cell that does not close is not taken apart again, and the match
    stops at its opening quote. The first pattern is for a chunk with more to come: a cell
    closing on the chunk's last byte is left for the next chunk (its quote may be the first
    of a doubled one). The second is for the end of the file.
    """
    separators = _separators(delimiter)
    cell = f'(?<![^{separators}])"[^"]*+(?:""[^"]*+)*+"'
    stray = f'(?<=[^{separators}])"'
    more, end = (
        re.compile(f'(?:[^"]++|{cell}{ahead}|{stray})*+'.encode()) for ahead in ("(?=[\\s\\S])", "")
    )
    return more, end


def _open_quote_in_file(path: Path, delimiter: str, lines: list[int]) -> int | None:
    """Where the last quoted cell of the file opens, if it never closes (else ``None``):
    where :func:`check_quotes` finds it, in the file's bytes read a chunk at a time (each
    chunk's line breaks counted into ``lines`` on the way: see :func:`check_file`).

    A chunk with few quoted cells is searched from one to the next (:data:`_QUOTED`, a
    Python step a cell); one with many (every cell quoted, as some tools write them) is
    matched in one call by :func:`_scanners`' pattern. A quoted cell still open at the end
    of a chunk is searched again from its opening quote with the next chunk, and one byte
    before is kept for the look back.
    """
    cells = re.compile(_quote_pattern(delimiter).encode())
    more, end = _scanners(delimiter)
    kept, offset, start = b"", 0, 0  # the unfinished bytes, where they are in the file
    with path.open("rb") as handle:
        while True:
            block = handle.read(_QUOTE_CHUNK)
            _count_lines(block, lines)
            buffer = kept + block if kept else block
            if not block:  # the end of the file: a cell still open there never closes
                reached = _reach(end, buffer, start)
                return None if reached == len(buffer) else offset + reached
            if _opening_quotes(block, delimiter) * _DENSE_QUOTES > 1:
                reached = _reach(more, buffer, start)
            else:
                reached = _unfinished(cells, buffer, start)
            cut = max(reached - 1, 0)  # one byte kept before, for the look back
            start = reached - cut
            offset += cut
            kept = buffer[cut:]


#: A chunk where more than one quote in this many bytes opens a cell is matched in one call.
#: Measured (check_file, the least of 3), searched cell by cell against matched in one call:
#: the 1M-row benchmark sheet (a quoted cell in about 1,000 bytes) 0.10 and 0.14 s; the same
#: sheet with every cell quoted (one in 19) 1.58 and 0.61 s; short quoted cells (one in 7)
#: 1.58 and 0.52 s; quotes inside cells only (`Monitor 27" screen`: none opens a cell) 0.06
#: and 0.06 s, 0.29 and 0.30 s. The search costs about 0.17 us a quoted cell, the match
#: about 0.7 ns a byte and 45 ns a quote: the two are about even at one quoted cell in
#: 100-200 bytes.
_DENSE_QUOTES = 200


def _unfinished(cells: re.Pattern[bytes], buffer: bytes, start: int) -> int:
    """Where the first quoted cell (``cells``: :data:`_QUOTED`) that reaches the end of
    ``buffer`` opens, searched from ``start``; the end of ``buffer`` if none does."""
    for match in cells.finditer(buffer, start):
        if match.end() == len(buffer):
            return match.start()  # it may go on in the next chunk
    return len(buffer)


def _reach(pattern: re.Pattern[bytes], buffer: bytes, start: int) -> int:
    """Where ``pattern`` (of :func:`_scanners`) stops matching ``buffer`` from ``start``."""
    matched = pattern.match(buffer, start)
    assert matched is not None  # a possessive star: it matches, if only nothing
    return matched.end()


def _unclosed(path: Path, prefix: str, delimiter: str) -> None:
    """Raise the error of a quoted cell opening after the text ``prefix``."""
    from importer.sheet.reading.table import column_letter  # lazy: reading imports this module

    before = list(csv.reader(io.StringIO(prefix, newline=""), delimiter=delimiter))
    at_line_start = not prefix or prefix[-1] in "\r\n"
    row = len(before) + 1 if at_line_start else len(before)
    column = 0 if at_line_start else len(before[-1]) - 1
    raise UnreadableFileError(
        f"{path}: row {row}, column {column_letter(column)}: a quoted cell opens here and is "
        "never closed, so every later line would be read into it. Add the missing closing "
        'quote (") or remove the stray one, and save again.'
    )
