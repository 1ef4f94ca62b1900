"""Readings of cell texts remembered from slice to slice of one sheet (``validate`` streamed).

Normalising a column reads each distinct text once (:mod:`importer.sheet.fields`); a sheet
validated in slices (:mod:`importer.jobs.validate_stream`) would read again, in every slice,
the texts that recur all through it (dates, choices, instructor IDs): 2.5 s more for a
million rows in 40,000-row slices. :class:`Remembered` keeps the reading of each
distinct text per field, within a bound, so that a slice reads only the texts not seen
before. A reading depends on the text alone (and the sheet's time zone and date order,
the same for every slice), so the values and notes are those of reading the whole column.

The texts and their readings are kept as pyarrow arrays, and a slice finds its texts among
them with pyarrow's hash look-up (``index_in``), then spreads the readings over its rows
with ``take``: no Python per distinct text but for the new ones (a million rows: 0.1 s of
look-ups, where a dictionary of Python strings took 1 s).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from importer.sheet.fields import (
    Context,
    Distinct,
    Field,
    arrow_cells,
    read_two_ways,
    text_series,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Readings", "Remembered"]


@dataclass(frozen=True)
class _Known:
    """A field's remembered texts and, position for position, their readings (text arrays;
    null where there is no such reading), and whether each reads as two different days (a
    date field's; false for the others)."""

    texts: pa.Array
    values: pa.Array
    notes: pa.Array
    walls: pa.Array
    twice: pa.Array

    def __len__(self) -> int:
        return len(self.texts)

    def plus(self, other: _Known) -> _Known:
        """These texts and readings, then ``other``'s."""
        import pyarrow as pa

        both = zip(self.arrays(), other.arrays(), strict=True)
        return _Known(*(pa.concat_arrays([mine, theirs]) for mine, theirs in both))

    def arrays(self) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array, pa.Array]:
        """The texts, values, notes, wall-clock values and two-way flags."""
        return self.texts, self.values, self.notes, self.walls, self.twice


class Remembered:
    """Reads a field's cells slice after slice (:meth:`read`), remembering the readings.

    A field whose texts are mostly distinct in a slice (session names) is read in full,
    in that slice and the next ones: nothing would recur.

    Args:
        limit: the most texts remembered, all fields together (about 100 bytes each);
            texts beyond are read but not kept.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._known: dict[str, _Known] = {}
        self._distinct: set[str] = set()
        self._room = limit

    def read(self, spec: Field, cells: pa.Array, context: Context) -> Readings:
        """The cells (a slice's column of text) normalised as ``spec.kind.parse`` would,
        reading only the texts not seen before."""
        import pyarrow as pa  # lazy: validate's start-up (a small sheet never comes here)
        import pyarrow.compute as pc

        if spec.name in self._distinct:
            return _parsed(spec, cells, context)
        cells = cells.cast(pa.large_string())
        encoded = pc.dictionary_encode(cells)
        texts = encoded.dictionary
        if len(texts) * 2 > len(cells):
            # mostly distinct (names): nothing recurs, in the next slices either
            self._distinct.add(spec.name)
            return _parsed(spec, cells, context)
        known = self._known.get(spec.name) or _none()
        # each distinct text's place among the known texts (null: a text not seen before)
        places = pc.index_in(texts, value_set=known.texts) if len(known) else None
        new = texts if places is None else texts.filter(pc.is_null(places))
        if len(new):
            fresh = _read(spec, new, context)
            before = len(known)
            if len(fresh) <= self._room:
                self._known[spec.name] = known = known.plus(fresh)
                self._room -= len(fresh)
            else:  # beyond the bound: read for this slice only
                known = known.plus(fresh)
            # the new texts were added after the known ones, in their order
            filled = np.full(len(texts), -1) if places is None else pc.fill_null(places, -1)
            at = np.array(filled, dtype=np.int64)  # a copy, to fill in
            at[at < 0] = before + np.arange(len(new))
            places = pa.array(at)
        if places is None:  # no text at all (an empty slice)
            places = pa.array([], pa.int64())
        rows = encoded.indices
        codes = rows.to_numpy(zero_copy_only=False).astype(np.intp)
        twice = known.twice.take(places).to_numpy(zero_copy_only=False) if spec.kind.dates else None
        return Readings(
            cells,
            None,
            distinct=Distinct(codes, texts, known.values.take(places), twice),
            texts=rows,
            text_notes=_any(known.notes.take(places)),
            text_walls=_any(known.walls.take(places)),
        )


@dataclass(frozen=True)
class Readings:
    """One field's cells in a slice, normalised (pyarrow text arrays, a cell a row).

    The cells read once per distinct text have their readings spread to the rows on first
    use: most checks take them by distinct text (:attr:`distinct`).

    Attributes:
        raw: the cells as typed.
        read: each cell's normalised value, problem marker or null (see
            :class:`~importer.sheet.fields.Parsed`), where the cells were read one by one
            (else ``None``: see :attr:`values`).
        read_notes: how each ambiguous cell was read, where read one by one (``None``: no
            note).
        read_wall: each cell as it identifies its row (see
            :class:`~importer.sheet.fields.Parsed`), where read one by one.
        distinct: the values by distinct text, where they were read so.
        texts: each cell's distinct text (its place in ``distinct``), where they were.
        text_notes: the note of each distinct text (``None``: no note).
        text_walls: the wall-clock value of each distinct text (``None``: none).
    """

    raw: pa.Array
    read: pa.Array | None
    read_notes: pa.Array | None = None
    read_wall: pa.Array | None = None
    distinct: Distinct | None = None
    texts: pa.Array | None = None
    text_notes: pa.Array | None = None
    text_walls: pa.Array | None = None

    @functools.cached_property
    def values(self) -> pa.Array:
        """Each cell's normalised value, problem marker or null."""
        if self.read is not None:
            return self.read
        assert self.distinct is not None and self.texts is not None
        return self.distinct.values.take(self.texts)

    @property
    def notes(self) -> pa.Array | None:
        """How each ambiguous cell was read (``None``: no note in the slice)."""
        if self.text_notes is None or self.texts is None:
            return self.read_notes
        return self.text_notes.take(self.texts)

    @property
    def wall(self) -> pa.Array | None:
        """Each cell as it identifies its row (``None``: no such cell in the slice)."""
        if self.text_walls is None or self.texts is None:
            return self.read_wall
        return self.text_walls.take(self.texts)

    def each(self, test: Callable[[pa.Array], pa.Array], empty: bool) -> np.ndarray:
        """``test`` (a kernel: a boolean a value) of each cell's value: once per distinct text
        where they were read so (``empty`` for an empty cell), else once a cell."""
        if self.distinct is not None:
            per_text = test(self.distinct.values).to_numpy(zero_copy_only=False)
            spread: np.ndarray = self.distinct.per_row(per_text, empty)
            return spread
        per_row: np.ndarray = test(self.values).to_numpy(zero_copy_only=False)
        return per_row

    def walled(self) -> np.ndarray:
        """Whether each cell has a wall-clock value (typed without a time zone)."""
        import pyarrow.compute as pc

        if self.text_walls is not None and self.distinct is not None:
            by_text = pc.is_valid(self.text_walls).to_numpy(zero_copy_only=False)
            spread: np.ndarray = self.distinct.per_row(by_text, False)
            return spread
        if self.read_wall is None:
            return np.zeros(len(self.raw), dtype=bool)
        given: np.ndarray = pc.is_valid(self.read_wall).to_numpy(zero_copy_only=False)
        return given


def _parsed(spec: Field, cells: pa.Array, context: Context) -> Readings:
    """The cells read by the field's kind, every row (a column of mostly distinct texts):
    by its columnar form, where it has one, else through pandas."""
    values = spec.kind.parse_cells(cells, context)
    if values is not None:
        return Readings(cells, values)
    parsed = spec.kind.parse(text_series(cells), context)

    def arrow(values: pd.Series | None) -> pa.Array | None:
        return None if values is None else arrow_cells(values)

    return Readings(cells, arrow_cells(parsed.values), arrow(parsed.notes), arrow(parsed.wall))


def _none() -> _Known:
    import pyarrow as pa

    empty = pa.array([], pa.large_string())
    return _Known(empty, empty, empty, empty, pa.array([], pa.bool_()))


def _read(spec: Field, texts: pa.Array, context: Context) -> _Known:
    """The readings of ``texts`` (new distinct texts) by the field's kind, as text arrays."""
    import pyarrow as pa

    readings = spec.kind.readings(texts.to_pylist(), context)
    values, notes, walls = (
        pa.array(column, pa.large_string())
        for column in (
            [reading[0] for reading in readings],
            [reading[1] for reading in readings],
            [reading[2] if len(reading) > 2 else None for reading in readings],
        )
    )
    if spec.kind.dates:  # flagged once, when first met (two_ways_of spreads them per slice)
        twice = pa.array(read_two_ways(text_series(texts), text_series(values)))
    else:
        twice = pa.repeat(pa.scalar(False), len(texts))
    return _Known(texts, values, notes, walls, twice)


def _any(readings: pa.Array) -> pa.Array | None:
    """``readings`` (of distinct texts), or ``None`` when none is a non-empty text."""
    import pyarrow.compute as pc

    return readings if pc.max(pc.utf8_length(readings)).as_py() else None
