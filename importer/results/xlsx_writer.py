"""The rows of an .xlsx result sheet, rendered column-wise with pyarrow.

xlsxwriter spends about 6 us a cell in Python (a 100,000-row result: 7 s). Here
xlsxwriter still builds the workbook (styles, the header row, column widths, the frozen
pane, the autofilter, the Summary sheet), with the data sheet holding the header only;
the data rows are then rendered as sheet XML by pyarrow's string kernels (a whole column
per call: escaped, cut to Excel's cell limit, each cell's style picked from its row's
status, its column and its first character) and put into the sheet's ``<sheetData>``.
The cells are the inline strings xlsxwriter writes in constant-memory mode, with the
same escapes (``&``, ``<``, ``>``, and ``_xHHHH_`` kept literal as ``_x005F_xHHHH_``).
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from importer.results.csv_writer import CellBytes, write_text
from importer.results.csv_writer import text_scalar as _text
from importer.sheet.reading.table import column_letter

__all__ = ["STYLE_KEYS", "fill_rows", "problem_rows"]

#: The cell styles of data rows: (problem row, wrapped column, formula-like text).
STYLE_KEYS = tuple(
    (problem, wrap, quoted) for problem in (False, True) for wrap in (False, True)
    for quoted in (False, True)
)  # fmt: skip
#: Rows whose XML is joined into one block before it is compressed into the file (see
#: :data:`importer.results.csv_writer._BATCH_ROWS`: a big block is fresh memory each time).
#: Measured on the 100k-row workbook's validate (interleaved, 6 rounds twice): 32,768 rows
#: peak at 480-484 MB, 8,192 at 435-437 MB, the CPU 0.3 s less; the rows' XML the same.
_BATCH_ROWS = 8_192
_SHEET = "xl/worksheets/sheet1.xml"
_DEFAULT_HEIGHT = 15.0
_CUT = " [cut: cell too long]"


#: The bytes of the changes other than the illegal characters': Excel's escape's ``_``, the
#: carriage return, and XML's three (see :func:`_cell_text`).
_ESCAPED = b"_\r&<>"


def _replace(column: pa.Array, pattern: str, replacement: str) -> pa.Array:
    """Replace a regex where it matches (the column itself when it matches nowhere)."""
    if not pc.any(pc.match_substring_regex(column, pattern)).as_py():
        return column
    return pc.replace_substring_regex(column, pattern, replacement)


def _cell_text(column: pa.Array, max_cell: int, illegal: str) -> pa.Array:
    """A column's cells as escaped XML text: cut to ``max_cell``, the characters ``illegal``
    replaced.

    Each change is made only to a column holding a byte it is about (one pass over its
    bytes tells which: most columns hold none; for an illegal character, its first byte),
    and the cut only to one whose longest cell has more bytes than the limit's characters.
    """
    illegal_bytes = bytes({char.encode("utf-8")[0] for char in illegal})
    cells = CellBytes(column)
    if cells.longest > max_cell:
        long = pc.greater(pc.utf8_length(column), max_cell)
        if pc.any(long).as_py():
            # the whole cell, mark included, within Excel's limit
            cut = pc.binary_join_element_wise(
                pc.utf8_slice_codeunits(column, 0, max_cell - len(_CUT)), _text(_CUT), _text("")
            )
            column = pc.if_else(long, cut, column)
    found = cells.any_of(illegal_bytes + _ESCAPED)
    if found & set(illegal_bytes):
        pattern = "".join(f"\\x{{{ord(char):x}}}" for char in illegal)  # RE2's spelling
        column = _replace(column, f"[{pattern}]", "\ufffd")
    if ord("_") in found:
        column = _replace(column, "(_x[0-9a-fA-F]{4}_)", r"_x005F\1")
    # the one control character left (the others are replaced above): XML would read a
    # bare CR as a line feed, so it is written as Excel's escape
    if ord("\r") in found:
        column = pc.replace_substring(column, "\r", "_x000D_")
    for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        if ord(raw) in found:
            column = pc.replace_substring(column, raw, escaped)
    return column


def _render(
    column: pa.Array,
    letter: str,
    row_numbers: pa.Array,
    problem: np.ndarray,
    wrap: bool,
    styles: Mapping[tuple[bool, bool, bool], int],
    dangerous: str,
    text: Callable[[pa.Array], pa.Array],
) -> pa.Array:
    """Every cell of one column as ``<c .../>`` XML ("" for an empty cell of a valid row)."""
    cells = CellBytes(column)
    empty = cells.empty()
    # An empty cell takes the quoted style, as it always has ("" is "in" any text).
    quoted = empty
    if cells.any_of(dangerous.encode("utf-8")):  # a first character to look at, somewhere
        first = pc.utf8_slice_codeunits(column, 0, 1)
        starts = pc.is_in(first, value_set=pa.array(list(dangerous), pa.large_string()))
        quoted = quoted | starts.to_numpy(zero_copy_only=False)
    # Eight styles: each cell's taken from their texts (a C loop, not 100,000 str() calls).
    style_of = pa.array([str(styles[key]) for key in STYLE_KEYS], pa.large_string())
    style = pc.take(style_of, problem.astype(np.int8) * 4 + int(wrap) * 2 + quoted.astype(np.int8))
    opening = _text(f'<c r="{letter}')
    full = pc.binary_join_element_wise(
        opening, row_numbers, _text('" s="'), style,
        _text('" t="inlineStr"><is><t xml:space="preserve">'), text(column),
        _text("</t></is></c>"), _text(""),
    )  # fmt: skip
    if not empty.any():
        return full
    nothing = pa.scalar("", pa.large_string())
    blank = empty & problem  # an empty cell of a problem row keeps its style
    if blank.any():
        styled = pc.binary_join_element_wise(
            opening, row_numbers, _text('" s="'), style, _text('"/>'), _text("")
        )
        return pc.if_else(pa.array(empty), pc.if_else(pa.array(blank), styled, nothing), full)
    return pc.if_else(pa.array(empty), nothing, full)


def fill_rows(
    built: Path,
    frame: pd.DataFrame,
    problem: np.ndarray,
    wrapped: set[int],
    styles: Mapping[tuple[bool, bool, bool], int],
    heights: Mapping[int, float],
    limits: tuple[int, str, str],
) -> None:
    """Put the data rows into the first sheet of the workbook ``built`` (header row only).

    Args:
        built: the workbook as xlsxwriter wrote it; rewritten in place.
        frame: the data rows' cells (text), in column order.
        problem: for each row, whether it is highlighted as a problem row.
        wrapped: the indexes of the columns whose text wraps.
        styles: the cell format (xf index) of each :data:`STYLE_KEYS` key.
        heights: sheet row (1-based, as Excel counts) -> its height in points.
        limits: the longest cell, the characters XML cannot hold, and the first
            characters that make a cell formula-like (given the quote prefix).
    """
    max_cell, illegal, dangerous = limits
    table = pa.Table.from_pandas(frame.fillna(""), preserve_index=False)
    rows = len(frame)
    numbers = pa.array(np.arange(2, rows + 2).astype(str), pa.large_string())
    letters = [column_letter(i) for i in range(table.num_columns)]

    def render(index: int) -> pa.Array:
        column = table.column(index).cast(pa.large_string()).combine_chunks()
        return _render(
            column, letters[index], numbers, problem, index in wrapped, styles, dangerous,
            lambda c: _cell_text(c, max_cell, illegal),
        )  # fmt: skip

    with ThreadPoolExecutor(max_workers=2) as pool:
        cells = list(pool.map(render, range(table.num_columns)))
    opening = np.array([f'<row r="{n}">' for n in range(2, rows + 2)], dtype=object)
    for row, height in heights.items():
        if height == _DEFAULT_HEIGHT:
            continue  # as xlsxwriter does: the default height is not written
        opening[row - 2] = f'<row r="{row}" ht="{height:g}" customHeight="1">'
    rendered = pa.table(
        [
            pa.array(opening, pa.large_string()),
            *cells,
            pa.array(["</row>"] * rows, pa.large_string()),
        ],
        names=[f"c{i}" for i in range(len(cells) + 2)],
    )
    _splice(built, rendered, f"A1:{letters[-1]}{rows + 1}")


def _splice(built: Path, rows: pa.Table, dimension: str) -> None:
    """Rewrite ``built`` with ``rows`` (XML text) after the header row of its first sheet."""
    # created 0600 beside it (the sheet holds learners' data), removed if anything fails
    descriptor, name = tempfile.mkstemp(
        prefix=f".{built.stem[:40]}.", suffix=".rows", dir=built.parent
    )
    os.close(descriptor)
    temporary = Path(name)
    try:
        _copy_with_rows(built, temporary, rows, dimension)
        os.replace(temporary, built)
    finally:
        temporary.unlink(missing_ok=True)


def _copy_with_rows(built: Path, temporary: Path, rows: pa.Table, dimension: str) -> None:
    with (
        zipfile.ZipFile(built) as source,
        zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target,
    ):
        for item in source.infolist():
            if item.filename != _SHEET:
                target.writestr(item, source.read(item.filename))
                continue
            xml = source.read(_SHEET).decode("utf-8")
            head, tail = xml.split("</row></sheetData>", 1)
            head = re.sub(
                r'<dimension ref="[^"]*"/>', f'<dimension ref="{dimension}"/>', head, count=1
            )
            with target.open(_SHEET, "w", force_zip64=True) as out:
                out.write((head + "</row>").encode("utf-8"))
                for batch in rows.to_batches(max_chunksize=_BATCH_ROWS):
                    line = pc.binary_join_element_wise(*batch.columns, _text(""))
                    write_text(out, line)  # type: ignore[arg-type]
                out.write(("</sheetData>" + tail).encode("utf-8"))


def problem_rows(
    statuses: Sequence[str] | pd.Series, problems: frozenset[str] | set[str]
) -> np.ndarray:
    """For each row, whether its status is one that highlights the row."""
    return pd.Series(statuses).isin(list(problems)).to_numpy(dtype=bool)
