"""Readings of cell texts remembered from slice to slice of one sheet (``validate`` streamed).

Normalising a column reads each distinct text once (:mod:`importer.sheet.fields`); a sheet
validated in slices (:mod:`importer.jobs.validate_stream`) would read again, in every slice,
the texts that recur all through it (dates, choices, instructor IDs): 2.5 s more for a
million rows in 40,000-row slices. :class:`Remembered` keeps the reading of each
distinct text per field, within a bound, so that a slice reads only the texts not seen
before. A reading depends on the text alone (and the sheet's time zone and date order,
the same for every slice), so the values and notes are those of reading the whole column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from importer.sheet.fields import Context, Field, Parsed

__all__ = ["Remembered"]

#: A reading: (normalised value or marker, note, wall-clock value), ``None`` where there is none.
_Reading = tuple[str | None, str | None, str | None]


class Remembered:
    """A :data:`importer.sheet.validation.Parser` that remembers readings between slices.

    A field whose texts are mostly distinct in a slice (session names) is read in full,
    in that slice and the next ones: nothing would recur.

    Args:
        limit: the most texts remembered, all fields together (about 100 bytes each);
            texts beyond are read but not kept.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._readings: dict[str, dict[str, _Reading]] = {}
        self._distinct: set[str] = set()
        self._room = limit

    def __call__(self, spec: Field, column: pd.Series, context: Context) -> Parsed:
        """The column normalised as ``spec.kind.parse`` would, reading only new texts."""
        if spec.name in self._distinct:
            return spec.kind.parse(column, context)
        codes, uniques = pd.factorize(column, sort=False)
        if len(uniques) * 2 > len(column):
            # mostly distinct (names): nothing recurs, in the next slices either
            self._distinct.add(spec.name)
            return spec.kind.parse(column, context)
        known = self._readings.setdefault(spec.name, {})
        texts: list[str] = np.asarray(uniques, dtype=object).tolist()  # the cells are text
        new = [text for text in texts if text not in known]
        fresh: dict[str, _Reading] = {}
        if new:
            parsed = spec.kind.parse(pd.Series(new, dtype="str"), context)
            none = pd.Series(None, index=parsed.values.index)
            said = parsed.notes if parsed.notes is not None else none
            wall = parsed.wall if parsed.wall is not None else none
            readings = zip(_texts(parsed.values), _texts(said), _texts(wall), strict=True)
            fresh = dict(zip(new, readings, strict=True))
            if len(fresh) <= self._room:
                known.update(fresh)
                self._room -= len(fresh)
        lookup = known if not fresh or fresh.keys() <= known.keys() else {**known, **fresh}
        found = [lookup[text] for text in texts]
        codes = np.where(codes < 0, len(texts), codes)
        spread = _spread([r[0] for r in found], codes, column.index)
        notes, walls = [r[1] for r in found], [r[2] for r in found]
        return Parsed(
            spread,
            _spread(notes, codes, column.index) if any(notes) else None,
            _spread(walls, codes, column.index) if any(walls) else None,
        )


def _texts(values: pd.Series) -> list[str | None]:
    """A column's cells as text, ``None`` where missing."""
    return [None if pd.isna(value) else str(value) for value in values.tolist()]


def _spread(per_unique: list[str | None], codes: np.ndarray, index: pd.Index) -> pd.Series:
    """Each row's reading (by its distinct text's code; the last code is a missing cell)."""
    import pyarrow as pa  # lazy: validate's start-up (a small sheet never comes here)

    taken = pa.array([*per_unique, None], pa.large_string()).take(pa.array(codes))
    return pd.Series(taken.to_pandas().array, index=index, dtype="str")
