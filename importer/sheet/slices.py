"""One slice of a big CSV validated column by column in pyarrow (``validate`` streamed).

:func:`importer.sheet.validation.validate_table` holds a slice as a pandas frame: every
step of it (dropping blank rows, the defaults, the readings spread over the rows, the
checks, the notes gathered row by row, the result sheet) is a pandas call over every row of
every column, and for a million rows in 80,000-row slices those calls' own costs (indexes
aligned, masks copied, Python per noted row) were most of ``validate``'s time. Here a slice
stays what pyarrow read: a text array a column. Each field's cells are read by distinct text
(:class:`~importer.sheet.remembered.Remembered`), a check is one kernel over the distinct
texts spread to the rows by their codes, and only the failing rows (a few) and the
cross-column rules (given the normalised columns as a pandas frame, no copy) meet Python.

What comes out is what :func:`~importer.sheet.validation.validate_table` finds, row for
row (the same checks in the same order, the same errors through
:func:`~importer.sheet.validation.row_errors`, the same notes, two-way dates and zone-less
times); tests compare the result sheets byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from importer.core.dates import TwoWays
from importer.sheet.fields import text_series, unmarked
from importer.sheet.remembered import Readings, Remembered
from importer.sheet.schema import ColumnarRule
from importer.sheet.validation import (
    Failure,
    Options,
    RowError,
    checks,
    row_errors,
    two_ways_of,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from importer.sheet.headers import ColumnMap

__all__ = ["SliceReport", "non_blank", "validate_slice"]


@dataclass(frozen=True)
class SliceReport:
    """Every row's outcome in one slice of a sheet.

    Attributes:
        rows: the sheet row numbers of the slice's non-blank rows (int64).
        cells: every input column, those rows' cells as typed (in the header's order).
        fields: field -> its readings (every field of the vendor, in its order).
        errors: sheet row -> its problems, for invalid rows only, in row order.
        two_ways: the dates that read as two different days.
    """

    rows: np.ndarray
    cells: Sequence[pa.Array]
    fields: Mapping[str, Readings]
    errors: Mapping[int, tuple[RowError, ...]]
    two_ways: TwoWays

    @property
    def row_count(self) -> int:
        """How many rows the slice has."""
        return len(self.rows)

    def error_places(self) -> np.ndarray:
        """Where the rows with a problem are in the slice (in the order of :attr:`errors`)."""
        at = np.fromiter(self.errors, dtype=np.int64, count=len(self.errors))
        places: np.ndarray = np.searchsorted(self.rows, at)
        return places

    def invalid(self) -> np.ndarray:
        """Whether each row has a problem (bool)."""
        wrong = np.zeros(len(self.rows), dtype=bool)
        wrong[self.error_places()] = True
        return wrong

    def notes(self, options: Options) -> pa.Array:
        """Each row's notes, a line each (``""``: none), as the whole-file path words them:
        field by field, ``<label>: <note>``, then what the vendor does with an empty cell.
        Only the rows with a note (few, as a rule) are joined."""
        pieces: list[tuple[str, pa.Array]] = []
        noted = np.zeros(len(self.rows), dtype=bool)
        for spec in options.vendor.fields:
            read = self.fields[spec.name]
            notes = read.notes
            if notes is not None:
                pieces.append((f"{spec.label}: ", notes))
                noted |= pc.is_valid(notes).to_numpy(zero_copy_only=False)
            if spec.empty_note:
                empty = pc.is_null(read.values)
                note = pa.scalar(spec.empty_note, pa.large_string())
                pieces.append(("", pc.if_else(empty, note, _NULL)))
                noted |= empty.to_numpy(zero_copy_only=False)
        if not noted.any():
            return pa.repeat(_EMPTY, len(self.rows))
        at = pa.array(np.flatnonzero(noted))
        # Joined two at a time: pyarrow's own skipping of nulls (``null_handling="skip"``)
        # drops the rows where every line is null (pyarrow 26: 4 rows in, 3 out).
        joined = None
        for prefix, cells in pieces:
            line = pc.binary_join_element_wise(
                pa.scalar(prefix, pa.large_string()), cells.take(at), _EMPTY
            )
            both = None if joined is None else pc.binary_join_element_wise(joined, line, _EOL)
            joined = line if both is None else pc.coalesce(both, joined, line)
        assert joined is not None
        return pc.replace_with_mask(pa.repeat(_EMPTY, len(self.rows)), pa.array(noted), joined)

    def zoneless(self, options: Options) -> int:
        """How many valid rows hold a date-time typed without a time zone."""
        typed = np.zeros(len(self.rows), dtype=bool)
        for spec in options.vendor.fields:
            if spec.kind.zoned:
                typed |= self.fields[spec.name].walled()
        return int((typed & ~self.invalid()).sum())


_EMPTY = pa.scalar("", pa.large_string())
_NULL = pa.scalar(None, pa.large_string())
_EOL = pa.scalar("\n", pa.large_string())


def non_blank(cells: Sequence[pa.Array]) -> np.ndarray | None:
    """The positions of the rows holding something (``None``: every row does).

    Column by column, only the rows not yet known to hold something are looked at: after
    the first column, usually none is left (as the whole-file reader drops them).
    """
    height = len(cells[0]) if cells else 0
    unknown = np.arange(height)
    for column in cells:
        part = column if len(unknown) == height else column.take(unknown)
        blank = pc.equal(pc.utf8_trim_whitespace(part), "").to_numpy(zero_copy_only=False)
        unknown = unknown[blank]
        if not len(unknown):
            return None
    keep = np.ones(height, dtype=bool)
    keep[unknown] = False
    return np.flatnonzero(keep)


def validate_slice(
    cells: Sequence[pa.Array],
    rows: np.ndarray,
    columns: ColumnMap,
    headers: Sequence[str],
    options: Options,
    remembered: Remembered,
) -> SliceReport:
    """Validate one slice of a sheet (its rows stand alone: repeats are found after).

    Args:
        cells: every input column's cells (large text arrays, no blank row).
        rows: the rows' sheet numbers.
        columns: which header holds each field.
        headers: the input's headers, in the order of ``cells``.
        options: from :func:`~importer.sheet.validation.prepare`.
        remembered: the readings of the slices before.
    """
    spec, context = options.vendor, options.context
    by_header = dict(zip(headers, cells, strict=True))
    fields = {
        field.name: remembered.read(
            field, _raw(by_header, columns, field.name, options, len(rows)), context
        )
        for field in spec.fields
    }
    errors = row_errors(_failures(fields, rows, options), spec, columns)
    dates = [field.name for field in spec.fields if field.kind.dates]
    raw = {name: text_series(fields[name].raw) for name in dates}
    values = {name: text_series(fields[name].values) for name in dates if not fields[name].distinct}
    distinct = {name: read.distinct for name, read in fields.items() if read.distinct}
    found = two_ways_of(raw, values, spec, context, distinct)
    return SliceReport(rows, cells, fields, errors, found)


def _raw(
    cells: Mapping[str, pa.Array], columns: ColumnMap, name: str, options: Options, height: int
) -> pa.Array:
    """A field's cells as typed: its column, or the sheet-wide value (``--path-id``) where the
    sheet has no such column or a cell is blank."""
    header = columns.fields.get(name)
    default = options.defaults.get(name)
    if header is None:
        return pa.repeat(pa.scalar(default or "", pa.large_string()), height)
    column = cells[header]
    if default is None:
        return column
    blank = pc.equal(pc.utf8_trim_whitespace(column), "")
    return pc.if_else(blank, pa.scalar(default, pa.large_string()), column)


def _failures(fields: Mapping[str, Readings], rows: np.ndarray, options: Options) -> list[Failure]:
    """Every check's failing rows, in :func:`~importer.sheet.validation.checks`' order."""
    found: list[Failure] = []
    for check in checks(options.vendor):
        read = fields[check.column]
        if isinstance(check.test, ColumnarRule):  # a cross-column rule, on the columns
            passed = check.test.on_columns(lambda name: fields[name].values)
        elif check.frame_wide:  # a rule of pandas: given the normalised columns it reads
            frame = pd.DataFrame({n: text_series(fields[n].values) for n in check.reads or fields})
            passed = check.test(frame).to_numpy(dtype=bool, na_value=True)  # type: ignore[arg-type]
        elif check.code == "required":
            passed = read.each(pc.is_valid, False)
        else:  # "valid": no problem marker left by reading
            passed = read.each(unmarked, True)
        failing = np.flatnonzero(~passed)
        if len(failing):
            at = pa.array(failing)
            typed = read.raw.take(at).to_pylist()
            cases = None
            if check.code == "valid":  # their problem markers (by distinct text, where read so)
                known = read.distinct
                marks = (
                    read.values.take(at)
                    if known is None
                    else known.values.take(known.codes[failing])
                )
                cases = marks.to_pylist()
            found.append((check, rows[failing].tolist(), typed, cases))
    return found
