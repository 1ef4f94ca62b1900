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
import mmap
import secrets

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
# The keys of pandas' SipHash (16 characters) for a row key's two lanes: a fixed one, and
# one drawn for the process (a sheet cannot be made to collide on it).
_HASH_KEY = "session-importer"
_OTHER_KEY = secrets.token_hex(8)
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
    SipHash-2-4 under this module's fixed key, and under a key drawn for the process (one
    C pass over the values each; Python's own bytes hash, a call per value, took 0.05-0.08 s
    more a million rows); each column's hash is then mixed into the row's, in order.
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
        pd.util.hash_array(cells, hash_key=_OTHER_KEY, categorize=False),
    )


def _mix(lane: np.ndarray, cells: np.ndarray, number: int) -> None:
    """Mix the hashes of a row's ``number``-th column into the row's (in place)."""
    lane ^= cells
    lane *= np.uint64(1_000_003 + 2 * number)


class RepeatedRows:
    """Finds, slice after slice of one sheet, the rows that repeat an earlier row.

    What :func:`flag_duplicates` does for a whole sheet (without ``--key``), with the same
    errors, for a sheet validated in slices: every valid row is remembered by a 96-bit
    hash of its normalised values (a 64-bit SipHash lane and 32 bits of another, under an
    unrelated key, see ``_row_hashes``) and its sheet row number, 16 bytes a row whatever the row's
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


#: Not above any first lane (:func:`_merged`'s threshold of a run taken whole).
_NOTHING = np.uint64(0)
_PAGE = mmap.PAGESIZE
#: A mapping of the process's own, and huge pages asked for: where the system has them.
_PRIVATE = (
    mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    if hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap.mmap, "madvise")
    else None
)
_HUGE = getattr(mmap, "MADV_HUGEPAGE", None)


class _Lane:
    """One lane of a run's keys. A lane of :data:`_MAPPED` values or more is a numpy array
    over memory mapped for it alone, whose pages can be handed back to the system while the
    array is still held (:meth:`release`); a smaller one is a plain numpy array (the
    allocator's pages, already in use: a fresh mapping's pages cost 0.75 ms a MB to fault in
    and zero, which every merge into small runs paid again).

    Args:
        count: how many values.
        dtype: their type.
    """

    def __init__(self, count: int, dtype: type[np.generic]) -> None:
        self._map: mmap.mmap | None = None
        if count < _MAPPED or _PRIVATE is None:  # small; or not a Unix system
            self.values: np.ndarray = np.empty(count, dtype=dtype)
            return
        # private and anonymous: no page until written; in huge pages where the system
        # gives them (Linux), 2 MB to fault in and zero at a time, not 4 KB
        self._map = mmap.mmap(-1, count * np.dtype(dtype).itemsize, flags=_PRIVATE)
        if _HUGE is not None:
            self._map.madvise(_HUGE)
        self.values = np.frombuffer(self._map, dtype=dtype, count=count)

    def release(self, kept: int) -> None:
        """Hand back the whole pages past the first ``kept`` values (never read again)."""
        if self._map is None:
            return
        start = -(-kept * self.values.itemsize // _PAGE) * _PAGE
        if start < len(self._map):
            self._map.madvise(mmap.MADV_DONTNEED, start, len(self._map) - start)


class _Run:
    """Row keys (a 64-bit lane, a 32-bit lane) and their sheet rows, sorted by the first lane:
    16 bytes a key.

    Args:
        count: how many keys (written by the caller, in :attr:`lanes`).
    """

    def __init__(self, count: int) -> None:
        self.lanes = (_Lane(count, np.uint64), _Lane(count, np.uint32), _Lane(count, np.uint32))
        self.first, self.second, self.rows = (lane.values for lane in self.lanes)

    @classmethod
    def of(cls, first: np.ndarray, second: np.ndarray, rows: np.ndarray) -> _Run:
        """A run of these keys (sorted by ``first``) and their rows."""
        run = cls(len(first))
        run.first[:], run.second[:], run.rows[:] = first, second, rows
        return run

    def __len__(self) -> int:
        return len(self.first)

    def seen(self, first: np.ndarray, second: np.ndarray, found: np.ndarray) -> None:
        """For each key (sorted by ``first``) kept here, its row put in ``found``."""
        keys, seconds, count = self.first, self.second, len(self)
        low = np.searchsorted(keys, first, "left")
        inside = np.flatnonzero(low < count)
        same = inside[keys[low[inside]] == first[inside]]
        if not len(same):
            return
        at = low[same]
        # a first lane kept twice (about never): its keys one by one
        shared = np.zeros(len(same), dtype=bool)
        within = at + 1 < count
        shared[within] = keys[at[within] + 1] == first[same[within]]
        alone = ~shared
        hit = same[alone][seconds[at[alone]] == second[same[alone]]]
        found[hit] = self.rows[low[hit]]
        for place in same[shared].tolist():
            for slot in range(int(low[place]), count):
                if keys[slot] != first[place]:
                    break
                if seconds[slot] == second[place]:
                    found[place] = self.rows[slot]


#: How many keys of each run a step of :func:`_merged` takes at most.
_BLOCK = 1 << 16
#: How many keys taken from a run being merged before their pages are handed back.
_RELEASE = 1 << 20
#: The least keys of a run whose lanes are mapped apart (:class:`_Lane`).
_MAPPED = 1 << 18


def _merged(earlier: _Run, later: _Run) -> _Run:
    """One run of the keys of both (no key in both; either may be the bigger).

    The new run is filled from the end: each step takes the biggest keys left, from the
    last :data:`_BLOCK` of each run. As the two runs are taken, the pages of what was taken
    are handed back (:meth:`_Lane.release`), :data:`_RELEASE` keys at a time, so that a
    merge holds little more than the keys themselves: a key is moved once, and never held
    twice for long. Merging in place instead (the earlier run's arrays enlarged by
    ``realloc``, the later one kept whole to the end) held the later run twice, and the
    earlier one too wherever ``realloc`` copied it (numpy's arrays of 4 MB or more are
    split by its huge-page hint, which glibc's remapping then refuses): 10M keys in runs of
    60,000 peaked at 228-243 MB, against 184 MB for one array grown an eighth at a time, and
    173-177 MB here.
    """
    mine, theirs = len(earlier), len(later)
    merged = _Run(mine + theirs)
    top, released = mine + theirs, (mine, theirs)
    while mine or theirs:
        low_mine, low_theirs = max(0, mine - _BLOCK), max(0, theirs - _BLOCK)
        # every key left below the two blocks is at most the bigger of their first keys:
        # the keys of the blocks from that one up are the biggest left
        least = max(
            earlier.first[low_mine] if low_mine else _NOTHING,
            later.first[low_theirs] if low_theirs else _NOTHING,
        )
        from_mine = low_mine + int(np.searchsorted(earlier.first[low_mine:mine], least))
        from_theirs = low_theirs + int(np.searchsorted(later.first[low_theirs:theirs], least))
        keys = np.concatenate([earlier.first[from_mine:mine], later.first[from_theirs:theirs]])
        order = np.argsort(keys, kind="stable")
        taken = mine - from_mine + theirs - from_theirs
        for lane, one, other in zip(merged.lanes, earlier.lanes, later.lanes, strict=True):
            both = np.concatenate([one.values[from_mine:mine], other.values[from_theirs:theirs]])
            lane.values[top - taken : top] = both[order]
        top, mine, theirs = top - taken, from_mine, from_theirs
        if released[0] - mine + released[1] - theirs >= _RELEASE:  # taken: handed back
            for run, kept in ((earlier, mine), (later, theirs)):
                for lane in run.lanes:
                    lane.release(kept)
            released = (mine, theirs)
    return merged


class _Keys:
    """Every row key remembered, and the row it was first met in: a few sorted runs.

    Merging each slice's keys into one sorted array moved all the keys kept so far, every
    slice: the cost grew with the square of the sheet's length. Here each slice's keys are a
    run of their own, and a run is merged into the one before it once that one is less than
    twice its size (:func:`_merged`): the runs' sizes at least double from the last to the
    first, so there are at most about log2(rows / slice) of them, and each key is moved
    about that many times. A key is searched for in every run (a binary search each).
    Measured, the keys of slices of 60,000
    rows alone (the least of 3), adding them: 1M rows 0.13-0.16 s before, 0.08 s now; 3M
    0.87-1.12 s, 0.26 s; 10M 9.0 s, 1.24 s; peak memory 47, 83 and 184 MB before, 36, 66 and
    177 MB now. ``validate`` of the benchmark's sheet: 3M rows 6.3-7.8 s before, 5.6-5.7 s
    now, 382-394 MB at the peak against 397-416 MB; 10M rows 31.1-36.0 s, 21.6-23.5 s, with
    495-514 MB against 507-511 MB.
    """

    def __init__(self) -> None:
        self._runs: list[_Run] = []

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs)

    def seen(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """For each key (sorted by ``first``), the row remembered with it, or -1."""
        found = np.full(len(first), -1, dtype=np.int64)
        for run in self._runs:
            run.seen(first, second, found)
        return found

    def add(self, first: np.ndarray, second: np.ndarray, rows: np.ndarray) -> None:
        """Add new keys (sorted by ``first``; none already kept) and their rows."""
        if not len(first):
            return
        self._runs.append(_Run.of(first, second, rows))
        while len(self._runs) > 1 and len(self._runs[-2]) < 2 * len(self._runs[-1]):
            last = self._runs.pop()
            self._runs[-1] = _merged(self._runs[-1], last)
