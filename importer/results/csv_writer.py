"""Write a result sheet as CSV through pyarrow, batch by batch, byte for byte as ``csv`` would.

pandas' ``to_csv`` spends about 4 s on a million rows (Python per cell); here every
column of a batch is rendered with pyarrow's vectorised string kernels (formula-like
cells neutralised, cells quoted only where they must be), the cells of each row are
joined, and the batch's text is written straight from pyarrow's buffer: 0.5 s, in
memory of one batch. The output is the same bytes as Python's ``csv`` module with
``QUOTE_MINIMAL`` and ``\\r\\n`` line ends (what pandas wrote before): a cell is quoted
when it holds the delimiter, a quote, CR or LF, and a quote inside is doubled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["CellBytes", "CsvWriter", "text_scalar", "write_csv", "write_text"]

#: Rows joined into one block of text before it is written. A block is about 2.7 MB of the
#: benchmark's result; measured (the 1M-row result's joins and writes, jemalloc as in the
#: streamed path, the least of 3): 65,536 rows 0.80-1.18 s of CPU, 32,768 0.52 s, 16,384
#: 0.34-0.37 s, 4,096 0.34-0.41 s. A big block is fresh memory each time (its pages faulted
#: in, zeroed, then copied to the file again from outside the cache); in the command, 17,000
#: fewer page faults and 20 MB less at the peak.
_BATCH_ROWS = 16_384
_EOL = "\r\n"


def text_scalar(value: str) -> pa.Scalar:
    """``value`` as a pyarrow large-string scalar (what the kernels here join)."""
    return pa.scalar(value, pa.large_string())


def _neutralised(column: pa.Array, rule: _Rule) -> pa.Array:
    """Prefix ``'`` to cells starting like a formula, unless they are plain numbers; cells with
    a field start inside (after another locale's separator) take the one-cell rule.

    ``column``: large text, no null. Only the cells whose bytes may need it (found by a scan
    of the column's bytes, at memory speed) go through the kernels' tests and Python.
    """
    cells = CellBytes(column)
    safe = column
    # a formula's first character: the cells whose first byte may begin one
    first_bytes = bytes({char.encode("utf-8")[0] for char in rule.dangerous})
    maybe = cells.starting_with(first_bytes)
    if maybe is not None:
        at = pa.array(np.flatnonzero(maybe))
        some = column.take(at)
        first = pc.utf8_slice_codeunits(some, 0, 1)
        risky = pc.is_in(first, value_set=pa.array(list(rule.dangerous), pa.large_string()))
        plain = pc.match_substring_regex(some, f"^(?:{rule.plain_number})$")
        risky = pc.and_(risky, pc.invert(plain))
        if pc.any(risky).as_py():
            prefixed = pc.binary_join_element_wise(
                text_scalar("'"), pc.filter(some, risky), text_scalar("")
            )
            safe = pc.replace_with_mask(safe, _spread(len(column), at, risky), prefixed)
    # A field start inside a cell needs a separator and a formula's first character; the
    # cells (rare: `a,=2+5`) that need the inner rule, which has no vectorised form in RE2
    # (it has no lookbehind), go through Python.
    separated = cells.holding(_SEPARATOR_BYTES)
    starting = None if separated is None else cells.holding(_START_BYTES)
    if separated is None or starting is None or not (both := separated & starting).any():
        return safe
    at = pa.array(np.flatnonzero(both))
    some = column.take(at)
    inner = pc.match_substring_regex(some, rule.inner_start)
    if not pc.any(inner).as_py():
        return safe
    fixed = [rule.neutralise(value) for value in pc.filter(some, inner).to_pylist()]
    mask = _spread(len(column), at, inner)
    return pc.replace_with_mask(safe, mask, pa.array(fixed, pa.large_string()))


def _spread(height: int, at: pa.Array, chosen: pa.Array) -> pa.Array:
    """A mask of ``height`` cells: those at ``at`` whose ``chosen`` is true."""
    mask = np.zeros(height, dtype=bool)
    mask[at.to_numpy()[chosen.to_numpy(zero_copy_only=False)]] = True
    return pa.array(mask)


#: The bytes that may begin a field inside a cell (each locale's separator, a line end),
#: and those a formula's first character starts with in UTF-8 (``\xef``: the full-width
#: forms). A superset is enough: they only tell which cells to look at closely.
_SEPARATOR_BYTES = b",;\t\r\n"
_START_BYTES = b"=+-@\xef"


_ALL_BYTES = bytes(range(256))


class CellBytes:
    """A text column's bytes and each cell's bounds in them, to find the cells holding some
    bytes at memory speed: whether the column holds a byte at all is one ``memchr`` over a
    copy of its text (most columns hold none of those looked for), and only then is each
    cell told, by numpy over a view of pyarrow's buffers.

    Args:
        column: large text (64-bit offsets), one array.
    """

    def __init__(self, column: pa.Array) -> None:
        offsets, data = column.buffers()[1:3]
        height = len(column)
        self.bounds = np.frombuffer(offsets, np.int64)[column.offset : column.offset + height + 1]
        low, high = int(self.bounds[0]), int(self.bounds[-1])
        text = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
        self.data = text[low:high]
        self._text: bytes | None = None

    def present(self, chars: bytes) -> list[int]:
        """Those of the bytes ``chars`` that some cell holds."""
        if self._text is None:
            self._text = self.data.tobytes()
        return [char for char in chars if bytes([char]) in self._text]

    def any_of(self, chars: bytes) -> set[int]:
        """Those of the bytes ``chars`` that some cell holds, in one pass however many there
        are (:meth:`present` takes one ``memchr`` a byte: quicker for a few)."""
        if self._text is None:
            self._text = self.data.tobytes()
        return set(self._text.translate(None, _ALL_BYTES.translate(None, chars)))

    @property
    def longest(self) -> int:
        """The most bytes a cell holds (at least its characters)."""
        return int(np.diff(self.bounds).max()) if len(self.bounds) > 1 else 0

    def empty(self) -> np.ndarray:
        """Whether each cell is empty (no bytes)."""
        empty: np.ndarray = np.diff(self.bounds) == 0
        return empty

    def holding(self, chars: bytes) -> np.ndarray | None:
        """Whether each cell holds one of the bytes ``chars``; ``None`` when none does."""
        present = self.present(chars)
        if not present:
            return None
        hit = self.data == present[0]
        for char in present[1:]:
            hit |= self.data == char
        mask = np.zeros(len(self.bounds) - 1, dtype=bool)
        found = np.flatnonzero(hit) + self.bounds[0]
        mask[np.searchsorted(self.bounds, found, side="right") - 1] = True
        return mask

    def starting_with(self, chars: bytes) -> np.ndarray | None:
        """Whether each cell's first byte is one of ``chars``; ``None`` when no cell's is."""
        if not self.present(chars):  # most columns hold none of them anywhere
            return None
        starts = self.bounds[:-1]
        filled = np.flatnonzero(self.bounds[1:] > starts)
        table = np.zeros(256, dtype=bool)
        table[list(chars)] = True
        hit = filled[table[self.data[starts[filled] - self.bounds[0]]]]
        if not len(hit):
            return None
        mask = np.zeros(len(starts), dtype=bool)
        mask[hit] = True
        return mask


class _Rule(NamedTuple):
    """What makes a cell safe: see :class:`CsvWriter`'s arguments."""

    neutralise: Callable[[str], str]
    dangerous: str
    plain_number: str
    inner_start: str


def _quoted(column: pa.Array, delimiter: str) -> pa.Array:
    """Quote cells holding the delimiter, a quote, CR or LF; double the quotes inside.

    ``column``: large text, no null. Most columns (IDs, dates, statuses) hold none of these
    bytes: a scan of the column's bytes finds the cells that do, at memory speed.
    """
    needs = CellBytes(column).holding(delimiter.encode("utf-8") + b'"\r\n')
    if needs is None:
        return column
    # only the cells that need it (a few, as a rule) are quoted, then put back in place
    mask = pa.array(needs)
    doubled = pc.replace_substring(pc.filter(column, mask), '"', '""')
    wrapped = pc.binary_join_element_wise(
        text_scalar('"'), doubled, text_scalar('"'), text_scalar("")
    )
    return pc.replace_with_mask(column, mask, _whole(wrapped))


def _whole(array: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One array of the chunks (``replace_with_mask`` takes no chunked arrays)."""
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _line(cells: Sequence[str], delimiter: str) -> str:
    """One record as ``csv.writer`` writes it (for the header row)."""
    quoted = [
        '"' + c.replace('"', '""') + '"' if re.search(f'[{re.escape(delimiter)}"\r\n]', c) else c
        for c in cells
    ]
    return delimiter.join(quoted) + _EOL


def write_text(out: BinaryIO, lines: pa.Array) -> None:
    """Write the text of a string array as one block (its values are contiguous)."""
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    if len(lines) == 0:
        return
    offsets = lines.buffers()[1]
    data = lines.buffers()[2]
    bounds = pa.Array.from_buffers(pa.int64(), len(lines) + 1, [None, offsets], 0, lines.offset)
    first, last = bounds[0].as_py(), bounds[len(lines)].as_py()
    out.write(memoryview(data)[first:last])


class CsvWriter:
    """Writes a result sheet's CSV to an open binary file: the header, then rows in slices.

    The file gets UTF-8 with BOM, ``delimiter`` and CRLF, as :func:`write_csv` writes it.

    Args:
        out: the file, opened for writing bytes.
        delimiter: the cell separator.
        neutralise: makes one header cell safe (the same rule as the cells').
        dangerous: the first characters that make a cell formula-like.
        plain_number: the pattern of a cell that starts so but is a plain number.
        inner_start: the pattern (RE2) of a field start inside a cell, after another
            separator than ``delimiter``: such cells are made safe by ``neutralise``.
    """

    def __init__(
        self,
        out: BinaryIO,
        delimiter: str,
        neutralise: Callable[[str], str],
        dangerous: str,
        plain_number: str,
        inner_start: str,
    ) -> None:
        self._out = out
        self._delimiter = delimiter
        self._rule = _Rule(neutralise, dangerous, plain_number, inner_start)

    def header(self, names: Sequence[object]) -> None:
        """Write the BOM and the header row (each name made safe)."""
        cells = [self._rule.neutralise(str(name)) for name in names]
        self._out.write(b"\xef\xbb\xbf" + _line(cells, self._delimiter).encode("utf-8"))

    def rows(self, frame: pd.DataFrame) -> None:
        """Write the rows of ``frame`` (all text, in the header's column order)."""
        if frame.empty:
            return
        self.columns(pa.Table.from_pandas(frame.fillna(""), preserve_index=False).columns)

    def columns(self, columns: Sequence[pa.Array | pa.ChunkedArray]) -> None:
        """Write rows given as their columns (text, null for an empty cell; in the header's
        column order)."""
        if not columns or not len(columns[0]):
            return

        # Each whole column is made safe and quoted once (most need neither: kept as they
        # are); pyarrow's kernels release the GIL, so two threads render two columns at a time.
        def render(column: pa.Array | pa.ChunkedArray) -> pa.Array:
            text = _whole(column.cast(pa.large_string()))
            if text.null_count:
                text = text.fill_null("")
            return _quoted(_neutralised(text, self._rule), self._delimiter)

        with ThreadPoolExecutor(max_workers=2) as pool:
            rendered = list(pool.map(render, columns))
        cells = pa.table(rendered, names=[f"c{i}" for i in range(len(rendered))])
        separator, end = text_scalar(self._delimiter), text_scalar(_EOL)
        for batch in cells.to_batches(max_chunksize=_BATCH_ROWS):
            row = batch.columns
            # the line end joins the last cell (a short column), not the whole line again
            last = pc.binary_join_element_wise(row[-1], end, text_scalar(""))
            write_text(self._out, pc.binary_join_element_wise(*row[:-1], last, separator))


def write_csv(
    frame: pd.DataFrame,
    path: Path,
    delimiter: str,
    neutralise: Callable[[str], str],
    dangerous: str,
    plain_number: str,
    inner_start: str,
) -> None:
    """Write ``frame`` (all text) to ``path``: UTF-8 with BOM, ``delimiter``, CRLF.

    Args:
        frame: the result sheet's cells.
        path: where to write.
        delimiter: the cell separator.
        neutralise: makes one header cell safe (the same rule as the cells').
        dangerous: the first characters that make a cell formula-like.
        plain_number: the pattern of a cell that starts so but is a plain number.
        inner_start: the pattern of a field start inside a cell (another separator's).
    """
    with path.open("wb") as out:
        writer = CsvWriter(out, delimiter, neutralise, dangerous, plain_number, inner_start)
        writer.header(list(frame.columns))
        writer.rows(frame)
