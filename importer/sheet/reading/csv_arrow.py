"""Read the records of a UTF-8 CSV file with pyarrow: all at once, or slice by slice.

Every cell is text (never null), quoted line breaks stay inside their cell, and empty
lines are records (so that every record keeps its sheet row number). pyarrow refuses
ragged rows and bytes that are not UTF-8; a cell over
:data:`~importer.sheet.reading.csv_checks.MAX_CELL_CHARS`
is refused here. Either refusal raises, and the caller then reads the file the careful
way (:mod:`importer.sheet.reading.table`), which names the row or reads the file as Windows-1252.

pyarrow is imported inside the functions: a command that reads no big CSV never loads it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.sheet.reading import csv_checks

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["BLOCK_BYTES", "read_columns", "stream_columns"]

#: The blocks pyarrow reads a file in, slice by slice (see :func:`stream_columns`).
BLOCK_BYTES = 1 << 20


def _options(delimiter: str, width: int, skip: int, block_bytes: int | None) -> dict[str, Any]:
    """pyarrow's reading options: ``width`` text columns after ``skip`` records."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(width)]
    read = pacsv.ReadOptions(skip_rows=skip, column_names=names)
    if block_bytes is not None:
        read.block_size = block_bytes
    return {
        "read_options": read,
        "parse_options": pacsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False
        ),
        "convert_options": pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.large_string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }


def _checked(columns: Any) -> list[pd.Series]:
    """The columns (pyarrow arrays) as text series, refusing an over-long cell."""
    return [column.to_pandas() for column in _within_limit(columns)]


def _within_limit(columns: list[Any]) -> list[Any]:
    """The columns (pyarrow arrays), refusing an over-long cell."""
    import pyarrow.compute as pc

    for column in columns:
        # a cell has no more characters than bytes: counted only where the bytes may be over
        if (pc.max(pc.binary_length(column)).as_py() or 0) <= csv_checks.MAX_CELL_CHARS:
            continue
        longest = pc.max(pc.utf8_length(column)).as_py()
        if longest is not None and longest > csv_checks.MAX_CELL_CHARS:
            raise ValueError("a cell is too long: the csv reader names its row")
    return columns


def read_columns(data: bytes | Path, delimiter: str, width: int, skip: int) -> list[pd.Series]:
    """Read all records after the header with pyarrow (fast, multi-threaded, all text).

    ``data`` is the UTF-8 text, or a UTF-8 file (read in blocks; a BOM is skipped).

    Raises:
        Exception: pyarrow's error on ragged rows, or :class:`ValueError` for an
            over-long cell; the caller then uses the tolerant reader.
    """
    import pyarrow.csv as pacsv

    source = str(data) if isinstance(data, Path) else io.BytesIO(data)
    table = pacsv.read_csv(source, **_options(delimiter, width, skip, None))
    return _checked(table.columns)


def stream_columns(
    path: Path,
    delimiter: str,
    width: int,
    skip: int,
    slice_bytes: int,
    block_bytes: int | None = None,
) -> Iterator[list[pa.Array]]:
    """Read the records after the header slice by slice: about ``slice_bytes`` of file each.

    pyarrow reads blocks of ``block_bytes`` (:data:`BLOCK_BYTES`), and dozens of blocks
    ahead of the one it gives (all of a 150 MB file in 4 MB blocks), so the blocks are
    small and a slice gathers as many as it needs. Each slice is its records' columns (large
    text arrays), in file order; a slice may hold no record.

    Raises:
        Exception: as :func:`read_columns`, when the block holding the fault is reached.
    """
    import pyarrow.csv as pacsv

    options = _options(delimiter, width, skip, block_bytes or BLOCK_BYTES)
    with pacsv.open_csv(str(path), **options) as reader:
        gathered: list[pa.RecordBatch] = []
        size = 0
        for batch in reader:
            gathered.append(batch)
            size += batch.nbytes
            if size >= slice_bytes:
                columns = _gathered(gathered)
                gathered, size = [], 0  # not held while the slice is used (a copy of it)
                yield columns
        if gathered:
            yield _gathered(gathered)


def _gathered(batches: list[pa.RecordBatch]) -> list[pa.Array]:
    """The columns of ``batches``, each one array (refusing an over-long cell)."""
    import pyarrow as pa

    columns = [column.combine_chunks() for column in pa.Table.from_batches(batches).columns]
    return _within_limit(columns)
