"""Rows repeated within one sheet, refused before anything is sent.

Two valid rows are the same when their normalised values are all equal (an empty cell
equals an empty cell), or, with a key column (``--key``), when their keys are: the second
would create the same session twice, or never be sent. The comparison runs column by
column and keeps only the rows still tied with another: after a column that is nearly
unique (a session's name) a handful remain, so a million rows cost about two columns'
worth of hashing. Only the few repeated rows are then looked at one by one, to name the
row each one repeats.

This module knows nothing of the journal or of sending, so that ``validate`` does not load
them; :mod:`importer.journaling` keys its rows the same way (a row's fingerprint is a hash
of the same values).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from importer.errors import MissingColumnsError
from importer.headers import header_key
from importer.validation import RowError, ValidationReport

__all__ = ["flag_duplicates", "key_column_values", "key_values"]

_KEY = "\x00key"


def key_column_values(report: ValidationReport, column: str) -> pd.Series:
    """The cells of the key column (``--key``), indexed by sheet row.

    Raises:
        MissingColumnsError: the sheet has no such column.
    """
    frame = report.table.frame
    matches = [c for c in frame.columns if header_key(c) == header_key(column)]
    if not matches:
        # The sheet's own problem (an inbox sends it to failed/), not the run's.
        where = report.table.source
        raise MissingColumnsError(f"{where}: --key: the sheet has no column {column!r}.")
    return frame[matches[0]]


def key_values(report: ValidationReport, column: str | None) -> dict[int, str]:
    """Sheet row -> the cell of the key column (``--key``); empty without one.

    Raises:
        MissingColumnsError: the sheet has no such column.
    """
    if column is None:
        return {}
    cells = key_column_values(report, column)
    return dict(zip(cells.index.astype(int).tolist(), cells.astype(str).tolist(), strict=True))


def flag_duplicates(report: ValidationReport, key_column: str | None = None) -> ValidationReport:
    """Refuse, before anything is sent, a row that repeats an earlier row of the sheet.

    Two rows are the same when their normalised values are (or, with ``key_column``, their
    keys are, for rows whose key cell is filled): the second would create the same session
    twice, or never be sent.
    """
    values = report.values
    keys = None
    if key_column:
        keys = key_column_values(report, key_column).astype(str)
        keyed = keys.ne("")
        # A keyed row is compared by its key alone; the others by their values.
        values = values.mask(keyed)
        values[_KEY] = keys.str.strip().where(keyed)
    positions = np.flatnonzero(~values.index.isin(list(report.errors)))
    positions = _tied(values, positions)
    if not len(positions):
        return report
    candidates = values.iloc[positions]
    candidates = candidates.astype(object).where(candidates.notna(), None)
    first: dict[tuple[object, ...], int] = {}
    errors = dict(report.errors)
    for label, record in zip(
        candidates.index.tolist(), candidates.itertuples(index=False), strict=True
    ):
        row, cells = int(label), tuple(record)
        if cells not in first:
            first[cells] = row
            continue
        key = str(keys.at[row]) if keys is not None else ""
        if key:
            what = f"the same {key_column} ({key.strip()}) as row {first[cells]}"
            fix = f"give each row its own {key_column}"
        else:
            what = f"the same session as row {first[cells]}"
            fix = "remove one of them (it would be created twice)"
        errors[row] = (RowError(row, "Row", "", "duplicate_row", f"{what}: {fix}."),)
    return dataclasses.replace(report, errors=dict(sorted(errors.items())))


def _tied(values: pd.DataFrame, positions: np.ndarray) -> np.ndarray:
    """The positions (among ``positions``) of rows equal to another one in every column."""
    group = np.zeros(len(positions), dtype=np.int64)
    for name in values.columns:
        if len(positions) < 2:
            return positions[:0]
        column = values[name]
        if len(positions) > len(column) // 4:  # most rows: no copy of the column's text
            codes, uniques = pd.factorize(column, use_na_sentinel=False)
            codes = codes[positions]
        else:
            codes, uniques = pd.factorize(column.iloc[positions], use_na_sentinel=False)
        if len(uniques) == 1:
            continue  # the same value in every row left: the groups stay as they are
        # the pair (group so far, this column's value), numbered again from 0 (hashed)
        group, _ = pd.factorize(group * (len(uniques) + 1) + codes, sort=False)
        tied = np.bincount(group)[group] > 1
        positions, group = positions[tied], group[tied]
    return positions
