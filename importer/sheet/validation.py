"""Validate a sheet for a vendor: read, normalise, check, explain.

The steps: read the file (:mod:`importer.sheet.reading.table`), match headers
(:mod:`importer.sheet.headers`), normalise each column with its kind
(:mod:`importer.sheet.fields`), then run the vendor's checks (:func:`checks`: each
column's ``required`` and ``valid``, then the cross-column rules) over the
normalised frame, column-wise, so that every problem of every row is found in
one pass. The failures are turned into :class:`RowError` values in plain words
(:mod:`importer.core.messages`). :func:`build_schema` gives the same checks as a
pandera schema, for programs that use pandera; validation runs them directly,
which spares ``validate`` pandera's import (0.2 s) and its failure-case frames.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from importer.core.dates import TwoWays
from importer.core.errors import ConfigurationError
from importer.core.messages import explain
from importer.core.outcomes import RowError, RowResult, Status
from importer.sheet.fields import (
    MARK,
    Context,
    Distinct,
    Field,
    Parsed,
    read_two_ways,
    split_marker,
)
from importer.sheet.headers import ColumnMap, header_scorer, match_headers
from importer.sheet.reading.table import Table, read_table
from importer.sheet.schema import Vendor

if TYPE_CHECKING:
    import pandera.pandas as pa

__all__ = [
    "Check",
    "Failure",
    "Options",
    "Parser",
    "RowError",
    "ValidationReport",
    "build_schema",
    "checks",
    "prepare",
    "row_errors",
    "two_ways_of",
    "validate",
    "validate_table",
]


@dataclass(frozen=True)
class ValidationReport:
    """Every row's outcome of validating one sheet for one vendor.

    Attributes:
        vendor: the vendor validated for.
        table: the sheet as read (input columns, sheet row numbers).
        columns: which sheet column holds each field.
        values: the normalised values, one column per field (API names), indexed
            like ``table.frame``; only meaningful on valid rows.
        errors: row number -> its problems, for invalid rows only.
        notes: row number -> how ambiguous cells were read, and what the
            vendor does with empty optional cells.
        context: the time zone and date order used.
        wall_clock: field -> its cells as they identify their row (see
            :attr:`importer.sheet.fields.Parsed.wall`): a zoned field's cells typed without a time
            zone, read as if in UTC; dates that read two ways, read day-first.
        two_ways: the dates that read as two different days, and how they were read.
        distinct: field -> its values by distinct text, where the reading knew them (a
            sheet validated in slices: :class:`~importer.sheet.fields.Distinct`).
    """

    vendor: Vendor
    table: Table
    columns: ColumnMap
    values: pd.DataFrame
    errors: Mapping[int, tuple[RowError, ...]]
    notes: Mapping[int, tuple[str, ...]]
    context: Context = field(default_factory=Context)
    wall_clock: Mapping[str, pd.Series] = field(default_factory=dict)
    two_ways: TwoWays = field(default_factory=TwoWays)
    distinct: Mapping[str, Distinct] = field(default_factory=dict)

    def zoneless(self) -> int:
        """How many valid rows hold a date-time typed without a time zone (read in the
        run's zone: a run needs one for them)."""
        typed = pd.Series(False, index=self.table.frame.index)
        for name, wall in self.wall_clock.items():
            if self.vendor.field(name).kind.zoned:
                typed |= wall.notna()
        if self.errors:
            typed &= ~typed.index.isin(list(self.errors))
        return int(typed.sum())

    @property
    def row_count(self) -> int:
        """How many (non-blank) rows the sheet has."""
        return len(self.table.frame)

    @property
    def invalid_count(self) -> int:
        """How many rows have at least one problem."""
        return len(self.errors)

    @property
    def ok(self) -> bool:
        """Whether every row is valid."""
        return not self.errors

    def statuses(self) -> pd.Series:
        """``valid`` or ``invalid`` for every row, indexed by sheet row number."""
        status = pd.Series(Status.VALID, index=self.table.frame.index, dtype="str")
        if self.errors:
            status.loc[list(self.errors)] = Status.INVALID
        return status

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        return {
            Status.VALID: self.row_count - self.invalid_count,
            Status.INVALID: self.invalid_count,
        }

    def rows(self) -> Iterator[tuple[int, RowResult]]:
        """Every row's sheet row number and outcome, in input order."""
        for row in self.table.frame.index:
            errors = self.errors.get(row, ())
            status = Status.INVALID if errors else Status.VALID
            yield int(row), RowResult(status, errors=errors, notes=self.notes.get(row, ()))

    def all_errors(self) -> Iterator[RowError]:
        """Every problem, in row order."""
        for row in sorted(self.errors):
            yield from self.errors[row]


@dataclass(frozen=True)
class Check:
    """One check of a vendor's normalised rows.

    Attributes:
        column: the field it is about (a cross-column rule: the field it is reported against).
        code: ``required``, ``valid`` (no problem marker left by normalising) or the
            cross-column rule's problem code.
        test: ``True`` where the row passes; a column check is given the column, a
            cross-column rule the whole frame.
        frame_wide: whether ``test`` takes the whole frame (a cross-column rule).
        reads: a cross-column rule's fields (empty: any; see
            :attr:`~importer.sheet.schema.RowCheck.reads`).
    """

    column: str
    code: str
    test: Callable[[pd.Series], pd.Series] | Callable[[pd.DataFrame], pd.Series]
    frame_wide: bool = False
    reads: tuple[str, ...] = ()


def _present(values: pd.Series) -> pd.Series:
    return values.notna()


def _no_marker(values: pd.Series) -> pd.Series:
    return ~values.str.startswith(MARK).fillna(False).astype(bool)


def checks(vendor: Vendor) -> tuple[Check, ...]:
    """Every check of a vendor's normalised rows, in the order problems are listed.

    Each field gets ``required`` (when required) and ``valid``; the vendor's
    cross-column rules come after, named by their problem code.
    """
    key = (vendor.name, id(vendor))
    if key in _CHECKS:
        return _CHECKS[key]
    found: list[Check] = []
    for spec in vendor.fields:
        if spec.required:
            found.append(Check(spec.name, "required", _present))
        found.append(Check(spec.name, "valid", _no_marker))
    found += [
        Check(rule.column, rule.code, rule.test, True, rule.reads) for rule in vendor.row_checks
    ]
    _CHECKS[key] = tuple(found)
    return _CHECKS[key]


#: Each vendor's checks, built once (by name and identity: a test's stand-in vendor may share
#: a name with a real one).
_CHECKS: dict[tuple[str, int], tuple[Check, ...]] = {}


def build_schema(vendor: Vendor) -> pa.DataFrameSchema:
    """The vendor's :func:`checks` as a pandera schema of its *normalised* rows (lazy import)."""
    import pandera.pandas as pa

    columns: dict[str, list[pa.Check]] = {spec.name: [] for spec in vendor.fields}
    frame_checks = []
    for check in checks(vendor):
        made = pa.Check(check.test, name=check.code, ignore_na=check.code != "required")
        if check.frame_wide:
            frame_checks.append(made)
        else:
            columns[check.column].append(made)
    return pa.DataFrameSchema(
        {name: pa.Column(nullable=True, checks=found) for name, found in columns.items()},
        checks=frame_checks,
        name=vendor.name,
        strict=False,
    )


def _context(vendor: Vendor, timezone: str | None, date_order: str | None) -> Context:
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"unknown time zone {timezone!r}; use an IANA name such as Europe/Paris, "
            "America/New_York or UTC."
        ) from None
    order = (date_order or vendor.date_order).upper()
    if order not in ("DMY", "MDY"):
        raise ConfigurationError(f"date order must be DMY or MDY, not {date_order!r}.")
    return Context(zone=zone, order=order)


def validate(
    path: str | Path,
    vendor: Vendor,
    *,
    sheet: str | None = None,
    timezone: str | None = None,
    date_order: str | None = None,
    defaults: Mapping[str, str] | None = None,
    columns: Mapping[str, str | None] | None = None,
) -> ValidationReport:
    """Read and validate a spreadsheet for a vendor.

    Args:
        path: a .csv, .xlsx, .xls or .ods file.
        vendor: a vendor name (see ``session-importer vendors``) or declaration.
        sheet: the worksheet to read (default: the first visible one).
        timezone: IANA zone of dates typed without one (default UTC).
        date_order: ``DMY`` or ``MDY`` for dates like 04-01-2022 (default: the
            vendor's documented order, day first).
        defaults: field name -> value for the whole sheet, used where the column
            is absent or a cell is empty (e.g. ``{"pathId": ...}``).
        columns: field name -> the header chosen for it (``--map``), winning over names.

    Returns:
        The report: every row's outcome, problems in plain words.

    Raises:
        InputError: the file cannot be used (unreadable, missing columns).
        ConfigurationError: an option is invalid.
    """
    options = prepare(vendor, timezone, date_order, defaults)
    path = Path(path)
    table = read_table(path, header_scorer(options.vendor), sheet)
    where = f"{path}" + (f" (sheet {table.sheet!r})" if table.sheet else "")
    matched = match_headers(
        list(table.frame.columns), options.vendor, where, frozenset(options.defaults), columns
    )
    return validate_table(table, matched, options)


@dataclass(frozen=True)
class Options:
    """What validating a sheet needs besides the sheet, checked (see :func:`prepare`).

    Attributes:
        vendor: the vendor's declaration.
        context: the time zone and date order.
        defaults: field name -> the value for the whole sheet.
    """

    vendor: Vendor
    context: Context
    defaults: Mapping[str, str]


def prepare(
    vendor: Vendor,
    timezone: str | None = None,
    date_order: str | None = None,
    defaults: Mapping[str, str] | None = None,
) -> Options:
    """Check the options of :func:`validate` before any file is read.

    Raises:
        ConfigurationError: an unknown time zone or date order, or an invalid default.
    """
    spec = vendor
    context = _context(spec, timezone, date_order)
    given = dict(defaults or {})
    _check_defaults(spec, given, context)
    return Options(spec, context, given)


#: Normalises one field's raw column: (field, column, context) -> its :class:`Parsed`.
Parser = Callable[[Field, pd.Series, Context], Parsed]


def validate_table(
    table: Table, columns: ColumnMap, options: Options, parse: Parser | None = None
) -> ValidationReport:
    """Validate the rows of ``table`` (a whole sheet, or a slice of one: rows stand alone).

    Args:
        table: the rows read, under their headers.
        columns: which header holds each field (:func:`~importer.sheet.headers.match_headers`).
        options: from :func:`prepare`.
        parse: normalises a column (by default its field's kind does); the same readings
            cell for cell, e.g. remembered from earlier slices.
    """
    spec, context = options.vendor, options.context
    raw = _raw_fields(table, columns, spec, options.defaults)
    values, notes, walls, distinct = _normalise(raw, spec, context, parse)
    errors = _check(values, raw, spec, columns, distinct)
    read = two_ways_of(raw, values, spec, context, distinct)
    return ValidationReport(
        spec, table, columns, values, errors, notes, context, walls, read, distinct
    )


def two_ways_of(
    raw: Mapping[str, pd.Series] | pd.DataFrame,
    values: Mapping[str, pd.Series] | pd.DataFrame,
    vendor: Vendor,
    context: Context,
    distinct: Mapping[str, Distinct],
) -> TwoWays:
    """The date cells read one of two ways (``03/04/2027``), counted, with the first one."""
    import numpy as np

    count, example = 0, ""
    for spec in vendor.fields:
        if not spec.kind.dates:
            continue
        by_text = distinct.get(spec.name)  # each distinct text looked at once, if known
        if by_text is None:
            both = read_two_ways(raw[spec.name], values[spec.name])
        else:
            twice = by_text.twice  # known from an earlier slice, or read here
            if twice is None:
                twice = read_two_ways(by_text.text_column(), by_text.value_column())
            both = by_text.per_row(twice, False)
        found = int(both.sum())
        if found and not example:
            example = str(raw[spec.name].iloc[int(np.argmax(both))])
        count += found
    return TwoWays(count, example, context.order)


def _check_defaults(vendor: Vendor, defaults: Mapping[str, str], context: Context) -> None:
    """Refuse a sheet-wide value that is itself invalid (e.g. a malformed --path-id)."""
    for name, value in defaults.items():
        spec = vendor.field(name)
        parsed = spec.kind.parse(pd.Series([value], dtype="str"), context).values.iloc[0]
        if pd.isna(parsed) or str(parsed).startswith(MARK):
            code, detail = split_marker(str(parsed)) if not pd.isna(parsed) else ("required", "")
            problem = explain(code, value, detail, spec.kind.hint, vendor.messages)
            raise ConfigurationError(f"the value given for {spec.label!r}: {problem}")


def _raw_fields(
    table: Table, columns: ColumnMap, vendor: Vendor, defaults: Mapping[str, str]
) -> pd.DataFrame:
    """One raw-text column per field, empty where the sheet has no such column."""
    raw = {}
    for spec in vendor.fields:
        header = columns.fields.get(spec.name)
        if header is None:
            raw[spec.name] = pd.Series(
                defaults.get(spec.name, ""), index=table.frame.index, dtype="str"
            )
        else:
            column = table.frame[header]
            if spec.name in defaults:
                column = column.mask(column.str.strip().eq(""), defaults[spec.name])
            raw[spec.name] = column
    return pd.DataFrame(raw, index=table.frame.index)


def _normalise(
    raw: pd.DataFrame, vendor: Vendor, context: Context, parse: Parser | None
) -> tuple[pd.DataFrame, dict[int, tuple[str, ...]], dict[str, pd.Series], dict[str, Distinct]]:
    values = {}
    walls = {}
    distinct = {}
    collected: dict[int, list[str]] = defaultdict(list)
    for spec in vendor.fields:
        column = raw[spec.name]
        parsed = spec.kind.parse(column, context) if parse is None else parse(spec, column, context)
        values[spec.name] = parsed.values
        if parsed.wall is not None:
            walls[spec.name] = parsed.wall
        if parsed.distinct is not None:
            distinct[spec.name] = parsed.distinct
        if parsed.notes is not None:
            for row, note in zip(*_non_missing(parsed.notes), strict=True):
                collected[row].append(f"{spec.label}: {note}")
        if spec.empty_note:
            for row in parsed.values.index[parsed.values.isna()]:
                collected[int(row)].append(spec.empty_note)
    frame = pd.DataFrame(values, index=raw.index)
    return frame, {row: tuple(notes) for row, notes in collected.items()}, walls, distinct


def _non_missing(values: pd.Series) -> tuple[list[int], list[str]]:
    present = values.dropna()
    return [int(row) for row in present.index.to_numpy()], [str(v) for v in present]


def _check(
    values: pd.DataFrame,
    raw: pd.DataFrame,
    vendor: Vendor,
    columns: ColumnMap,
    distinct: Mapping[str, Distinct],
) -> dict[int, tuple[RowError, ...]]:
    """Run every check over whole columns; turn the failing cells into plain row errors."""
    failures: list[Failure] = []
    for check in checks(vendor):
        by_text = distinct.get(check.column)
        if check.test is _no_marker and by_text is not None:  # each distinct text once
            once = _no_marker(by_text.value_column())
            passed = by_text.per_row(once.to_numpy(dtype=bool), True)
        else:
            test = check.test(values if check.frame_wide else values[check.column])  # type: ignore[arg-type]
            passed = test.to_numpy(dtype=bool, na_value=True)
        failing = values.index[~passed]
        if len(failing):
            name = check.column
            typed = [str(text) for text in raw[name].loc[failing].tolist()]
            cases = values[name].loc[failing].tolist() if check.code == "valid" else None
            failures.append((check, [int(row) for row in failing.tolist()], typed, cases))
    return row_errors(failures, vendor, columns)


#: One check's failing rows: the check, their sheet row numbers, their cells as typed and,
#: for a ``valid`` check, their values (problem markers).
Failure = tuple[Check, list[int], list[str], list[str] | None]


def row_errors(
    failures: Iterable[Failure], vendor: Vendor, columns: ColumnMap
) -> dict[int, tuple[RowError, ...]]:
    """The failing cells of the checks (in :func:`checks`' order) as plain row errors: a
    row's problems in field order, each (row, field, code) once."""
    found: dict[int, list[RowError]] = defaultdict(list)
    order = {spec.name: i for i, spec in enumerate(vendor.fields)}
    seen: set[tuple[int, str, str]] = set()
    for check, rows, typed, cases in failures:
        spec = vendor.field(check.column)
        header = columns.fields.get(spec.name, spec.label)
        for at, row in enumerate(rows):
            if cases is not None:
                code, detail = split_marker(str(cases[at]))
            else:
                code, detail = check.code, ""
            if (row, spec.name, code) in seen:
                continue
            seen.add((row, spec.name, code))
            value = typed[at]
            message = explain(code, value.strip(), detail, spec.kind.hint, vendor.messages)
            found[row].append(RowError(row, header, value, code, message))
    labels = {columns.fields.get(s.name, s.label): s.name for s in vendor.fields}
    return {
        row: tuple(sorted(errs, key=lambda e: order.get(labels.get(e.column, ""), 99)))
        for row, errs in sorted(found.items())
    }
