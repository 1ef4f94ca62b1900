"""Cells corrected by a person (on the page) before the sheet is checked again.

A correction names its cell as the coordinator sees it: the sheet row number and the sheet's
own header. Applying corrections gives a new :class:`~importer.sheet.reading.table.Table`
(the one read stays as it was): checking, the journal's row keys, sending and the result
sheet all see the corrected values, so what is sent is what was shown.

A row's *raw print* is a digest of the cells a person typed (every column, in the sheet's
order, under their folded headers): it names a row of a sheet as written, before any
correction, so a later upload of the same uncorrected row can be recognised.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from importer.sheet.headers import header_key
from importer.sheet.reading.table import Table

__all__ = ["Correction", "corrected", "latest", "raw_prints"]


@dataclass(frozen=True)
class Correction:
    """One cell changed by a person.

    Attributes:
        row: the sheet row number (as Excel shows it).
        column: the sheet's header of the cell's column.
        old: the value as read from the sheet.
        new: the value the person typed.
        who: who typed it.
        at: when (seconds since the epoch).
    """

    row: int
    column: str
    old: str
    new: str
    who: str = ""
    at: float = 0.0


def latest(corrections: Iterable[Correction]) -> dict[tuple[int, str], Correction]:
    """(row, column) -> the correction in force: the latest one of each cell, its ``old``
    the cell's first value (what the sheet says)."""
    found: dict[tuple[int, str], Correction] = {}
    for correction in corrections:
        cell = (correction.row, correction.column)
        first = found.get(cell)
        if first is not None:
            correction = dataclasses.replace(correction, old=first.old)
        found[cell] = correction
    return {cell: c for cell, c in found.items() if c.new != c.old}


def corrected(table: Table, corrections: Iterable[Correction]) -> Table:
    """``table`` with the corrections in force applied (a new table; ``table`` unchanged).

    Raises:
        KeyError: a correction names a row or column the table does not have.
    """
    cells = latest(corrections)
    if not cells:
        return table
    frame = table.frame.copy()
    for (row, column), correction in cells.items():
        if row not in frame.index or column not in frame.columns:
            raise KeyError(f"row {row}, column {column!r}")
        frame.at[row, column] = correction.new
    return dataclasses.replace(table, frame=frame)


def raw_prints(
    frame: pd.DataFrame, rows: Sequence[int] | None = None, ignore: Iterable[str] = ()
) -> dict[int, str]:
    """Sheet row -> its raw print (see the module's docstring), for ``rows`` (default all);
    ``ignore``: columns left out (a result sheet's outcome columns, uploaded again)."""
    skipped = set(ignore)
    columns = [c for c in frame.columns if str(c) not in skipped]
    keys = [header_key(str(column)) or str(column) for column in columns]
    found: dict[int, str] = {}
    for row in frame.index if rows is None else rows:
        cells = frame.loc[row, columns]
        text = "\x1f".join(f"{key}\x1e{str(cells.iloc[i]).strip()}" for i, key in enumerate(keys))
        found[int(row)] = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    return found
