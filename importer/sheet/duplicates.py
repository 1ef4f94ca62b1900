"""Rows repeated within one sheet, refused before anything is sent.

Two valid rows are the same when their normalised values are all equal (an empty cell
equals an empty cell), or, with a key column (``--key``), when their keys are: the second
would create the same session twice, or never be sent. The comparison runs column by
column and keeps only the rows still tied with another: after a column that is nearly
unique (a session's name) a handful remain, so a million rows cost about two columns'
worth of hashing. Only the few repeated rows are then looked at one by one, to name the
row each one repeats.

This module knows nothing of the journal or of sending, so that ``validate`` does not load
them; :mod:`importer.jobs.journaling` keys its rows the same way (a row's fingerprint is a hash
of the same values).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from importer.core.errors import MissingColumnsError
from importer.sheet.headers import header_key
from importer.sheet.slices import SliceReport
from importer.sheet.validation import RowError, ValidationReport

__all__ = ["RepeatedRows", "flag_duplicates", "key_column_values", "key_values"]

_KEY = "\x00key"
# The key of pandas' SipHash (16 characters); the other lane is Python's str hash.
_HASH_KEY = "session-importer"
# The hash of an empty cell (no value), unlike any text's but by chance (2**-64 a lane).
_NO_VALUE = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))


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
    keys are): the second would create the same session twice, or never be sent. With
    ``key_column``, a row whose key cell is empty is refused too: the journal knows rows by
    their key, so such a row, once edited, would be created a second time by ``--update``.
    """
    values = report.values
    keys = None
    errors = dict(report.errors)
    if key_column:
        keys = key_column_values(report, key_column).astype(str)
        keyed = keys.str.strip().ne("")
        for row in keys.index[~keyed].tolist():
            if int(row) not in errors:
                errors[int(row)] = (
                    RowError(
                        int(row), str(keys.name), "", "missing_key",
                        f"the key column {str(keys.name)!r} is empty: give this row its own key "
                        "(rows are known by it from run to run; without it, an edited row "
                        "would be created again).",
                    ),
                )  # fmt: skip
        values = values.mask(keyed)
        values[_KEY] = keys.str.strip().where(keyed)
    positions = np.flatnonzero(~values.index.isin(list(errors)))
    positions = _tied(values, positions)
    if not len(positions):
        return dataclasses.replace(report, errors=dict(sorted(errors.items())))
    candidates = values.iloc[positions]
    candidates = candidates.astype(object).where(candidates.notna(), None)
    first: dict[tuple[object, ...], int] = {}
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


def _same(row: int, first: int) -> RowError:
    """The error of a row that repeats ``first`` (as :func:`flag_duplicates` words it)."""
    what = f"the same session as row {first}"
    return RowError(
        row, "Row", "", "duplicate_row", f"{what}: remove one of them (it would be created twice)."
    )


def _row_hashes(report: SliceReport, joined: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit hashes of each row's values (its 128-bit key), column by column.

    Each value is hashed twice, by two unrelated functions, as its UTF-8 bytes: pandas'
    SipHash-2-4 under this module's key, and Python's own bytes hash (SipHash-1-3 under
    the process's random key); each column's hash is then mixed into the row's, in order.
    A field read by distinct text has each distinct value hashed once, spread to its rows
    by their codes. The ``joined`` fields (mostly distinct: names) are hashed together,
    once a row: their values' bytes joined by ``\\xff``, ``\\xfe`` for no value (two bytes
    UTF-8 never holds), so that two different rows never join into the same bytes. Which
    fields are joined must be the same for every slice of a sheet: a row's key may not
    depend on how its slice was read.
    """
    height = report.row_count
    lanes = (np.full(height, 0x345678, dtype=np.uint64), np.zeros(height, np.uint64))
    together: list[pa.Array] = []
    for number, (name, read) in enumerate(report.fields.items()):
        if name in joined:
            together.append(pc.fill_null(_bytes(read.values), _NO_BYTES))
            continue
        known = read.distinct
        values = known.values if known is not None else read.values
        missing = values.is_null().to_numpy(zero_copy_only=False)
        for lane, cells, no_value in zip(lanes, _hashed(values), _NO_VALUE, strict=True):
            cells[missing] = no_value
            _mix(lane, cells if known is None else np.append(cells, no_value)[known.codes], number)
    if together:
        rows = pc.binary_join_element_wise(*together, _SEPARATOR)
        for lane, cells in zip(lanes, _hashed(rows), strict=True):
            _mix(lane, cells, len(report.fields))
    return lanes


#: What joins the joined fields' bytes, and stands for no value: never in UTF-8 text.
_SEPARATOR = pa.scalar(b"\xff", pa.large_binary())
_NO_BYTES = pa.scalar(b"\xfe", pa.large_binary())


def _bytes(values: pa.Array) -> pa.Array:
    """Text as its UTF-8 bytes (no copy)."""
    return values.cast(pa.large_binary())


def _hashed(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Each value's bytes (a null's: none) by the two unrelated functions of
    :func:`_row_hashes` (bytes, not texts: no decoding, and pandas hashes them without
    encoding them again)."""
    cells = pc.fill_null(_bytes(values), b"").to_numpy(zero_copy_only=False)
    return (
        pd.util.hash_array(cells, hash_key=_HASH_KEY, categorize=False),
        np.fromiter(map(hash, cells), dtype=np.int64, count=len(cells)).view(np.uint64),
    )


def _mix(lane: np.ndarray, cells: np.ndarray, number: int) -> None:
    """Mix the hashes of a row's ``number``-th column into the row's (in place)."""
    lane ^= cells
    lane *= np.uint64(1_000_003 + 2 * number)


class RepeatedRows:
    """Finds, slice after slice of one sheet, the rows that repeat an earlier row.

    What :func:`flag_duplicates` does for a whole sheet (without ``--key``), with the same
    errors, for a sheet validated in slices: every valid row is remembered by a 96-bit
    hash of its normalised values (a 64-bit SipHash lane and 32 bits of another, unrelated
    one, see ``_row_hashes``) and its sheet row number, 16 bytes a row whatever the row's
    width (:class:`_Keys`). A row whose hash was seen repeats the row remembered with it.
    Two different rows would be taken as the same only if both lanes collided: about 1
    chance in 10**15 for a sheet of ten million rows, so the values themselves are not
    compared.
    """

    def __init__(self) -> None:
        self._keys = _Keys()
        self._joined: frozenset[str] | None = None

    def flag(self, report: SliceReport) -> SliceReport:
        """Refuse the valid rows of ``report`` (the next slice) that repeat an earlier row."""
        positions = np.flatnonzero(~report.invalid())
        if not len(positions):
            return report
        if self._joined is None:  # the fields the first rows were read by, for good
            fields = report.fields.items()
            self._joined = frozenset(name for name, read in fields if read.distinct is None)
        # every row hashed (taking the valid rows out first would copy every column)
        hashes = _row_hashes(report, self._joined)
        first, second = (lane[positions] for lane in hashes)
        second = second.astype(np.uint32)  # its low 32 bits
        rows = report.rows[positions]
        # sorted by key, then row: a run of one key starts with its first row in the slice
        order = _by_key(first, second)
        first, second, rows = first[order], second[order], rows[order]
        starts = np.ones(len(rows), dtype=bool)
        starts[1:] = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
        leaders = np.flatnonzero(starts)
        earlier = self._keys.seen(first[leaders], second[leaders])
        new = earlier < 0
        # a key first met here: its first row is the one the others repeat
        earlier[new] = rows[leaders[new]]
        self._keys.add(first[leaders[new]], second[leaders[new]], rows[leaders[new]])
        repeats = earlier[np.cumsum(starts) - 1]
        repeats[leaders[new]] = -1
        found = np.flatnonzero(repeats >= 0)
        if not len(found):
            return report
        errors = dict(report.errors)
        for row, before in sorted(zip(rows[found].tolist(), repeats[found].tolist(), strict=True)):
            errors[row] = (_same(row, before),)
        return dataclasses.replace(report, errors=dict(sorted(errors.items())))


def _by_key(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The order of the keys (``first``, ``second``) sorted, rows in sheet order within a key
    (stable): by the first lane alone (half the time of both), unless two keys that share it
    (about never) are not then side by side."""
    order = np.argsort(first, kind="stable")
    ranked, seconds = first[order], second[order]
    if bool(((ranked[1:] == ranked[:-1]) & (seconds[1:] != seconds[:-1])).any()):
        return np.lexsort((second, first))
    return order


class _Keys:
    """Row keys (a 64-bit lane, a 32-bit lane) and their sheet rows, sorted by the first lane.

    16 bytes a key, grown in place: the arrays are enlarged by ``realloc`` (which moves no
    page of a big block: the kernel remaps it) by an eighth at a time, and new keys are
    merged in from the end, a block at a time, so that adding to ten million keys never
    holds a second copy of them (``np.insert`` would: 48 bytes a key at its peak).
    """

    _BLOCK = 1 << 20

    def __init__(self) -> None:
        self._first = np.empty(1024, dtype=np.uint64)
        self._second = np.empty(1024, dtype=np.uint32)
        self._rows = np.empty(1024, dtype=np.uint32)
        self._count = 0

    def seen(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """For each key (sorted by ``first``), the row remembered with it, or -1."""
        found = np.full(len(first), -1, dtype=np.int64)
        if not self._count:
            return found
        keys, seconds = self._first[: self._count], self._second[: self._count]
        low = np.searchsorted(keys, first, "left")
        high = np.searchsorted(keys, first, "right")
        single = np.flatnonzero(high - low == 1)
        hit = single[seconds[low[single]] == second[single]]
        found[hit] = self._rows[low[hit]]
        # keys sharing their first lane but not their second (about never): one by one
        for at in np.flatnonzero(high - low > 1).tolist():
            for slot in range(int(low[at]), int(high[at])):
                if seconds[slot] == second[at]:
                    found[at] = self._rows[slot]
        return found

    def add(self, first: np.ndarray, second: np.ndarray, rows: np.ndarray) -> None:
        """Add new keys (sorted by ``first``) and their rows, keeping the first lane sorted."""
        added, count = len(first), self._count
        if not added:
            return
        if count + added > len(self._first):
            size = max(count + added, len(self._first) + len(self._first) // 8)
            for lane in (self._first, self._second, self._rows):
                lane.resize(size, refcheck=False)
        # where each new key goes among the old ones (after those with the same first lane)
        at = np.searchsorted(self._first[:count], first, "right")
        # each old key moves up by the number of new keys placed before it; from the end
        # down, a block at a time, so that no key is overwritten before it has moved
        for end in range(count, 0, -self._BLOCK):
            begin = max(0, end - self._BLOCK)
            if begin >= at[-1]:  # every new key goes before this block: it moves by all
                for lane in (self._first, self._second, self._rows):
                    lane[begin + added : end + added] = lane[begin:end].copy()
                continue
            # the new keys placed before each old key of the block: those before the block,
            # then a running count of those placed within it (no search per old key)
            before = int(np.searchsorted(at, begin, "left"))
            within = at[before : int(np.searchsorted(at, end, "left"))] - begin
            shift = before + np.cumsum(np.bincount(within, minlength=end - begin))
            if not shift[-1]:
                break  # no new key before this block, nor before the ones below it
            for lane in (self._first, self._second, self._rows):
                lane[np.arange(begin, end) + shift] = lane[begin:end].copy()
        where = at + np.arange(added)
        self._first[where] = first
        self._second[where] = second
        self._rows[where] = rows
        self._count = count + added
