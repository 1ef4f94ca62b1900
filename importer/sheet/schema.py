"""What every vendor module declares: its columns, cross-column rules and limits.

A vendor module is pure data and pure functions: no I/O, no clock, no
configuration reads. Adding a vendor means adding one module that builds a
:class:`Vendor` and one entry in :data:`importer.vendors.REGISTRY`; the
conformance tests then run over it like over every other vendor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from importer.sheet.fields import Field, arrow_cells, unmarked

if TYPE_CHECKING:
    # pandas, numpy and pyarrow load where a rule is checked, not where a vendor declares it
    # (`--help`, `vendors` and `status` read the declarations only).
    import numpy as np
    import pandas as pd
    import pyarrow as pa

__all__ = ["ColumnarRule", "RowCheck", "Vendor", "end_not_before_start", "one_of", "usable"]


@dataclass(frozen=True)
class RowCheck:
    """A rule across columns of one row, checked on the normalised values.

    Attributes:
        code: the problem code when the rule fails (see :mod:`importer.core.messages`).
        column: the field the problem is reported against.
        test: given the normalised frame, ``True`` where the row is fine. Rows
            whose inputs are missing or already invalid must pass (they are
            reported once, by the column check).
        reads: the fields ``test`` reads (empty: it may read any); the frame it is given
            may hold only those.
    """

    code: str
    column: str
    test: Callable[[pd.DataFrame], pd.Series]
    reads: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vendor:
    """A vendor's sheet: columns, rules, and how it is sent.

    Attributes:
        name: the command-line name, e.g. ``zoho-people``.
        title: the product and API, in words.
        fields: the sheet's columns, in template order.
        row_checks: rules across columns.
        date_order: how the vendor documents ambiguous dates (``DMY`` or ``MDY``).
        rate_limit: the documented limits, in words.
        notes: what a coordinator should know, for the template's instructions.
        messages: the plain-language messages of the vendor's own problem codes (an ID in
            its format), by code; the generic codes' are :data:`importer.core.messages.MESSAGES`.
    """

    name: str
    title: str
    fields: tuple[Field, ...]
    row_checks: tuple[RowCheck, ...] = ()
    date_order: str = "DMY"
    rate_limit: str = ""
    notes: tuple[str, ...] = ()
    messages: Mapping[str, str] = field(default_factory=dict)

    @property
    def reads_time_zones(self) -> bool:
        """Whether some column holds date-times sent with a zone (read in ``--timezone``).

        Declared by the columns' kinds (:attr:`importer.sheet.fields.Kind.zoned`): 360Learning's
        start and end are instants the API takes in UTC, so a sheet's local times need the
        zone they were typed in; Zoho's dates and 12-hour times are sent as typed (the
        organisation's local time), so a Zoho run needs none.
        """
        return any(f.kind.zoned for f in self.fields)

    def field(self, name: str) -> Field:
        """Return the field called ``name`` (its API name)."""
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(name)


#: A slice's normalised values of a field, by its name (pyarrow text arrays).
Columns = Callable[[str], "pa.Array"]


@dataclass(frozen=True)
class ColumnarRule:
    """A cross-column rule computed by pyarrow's kernels on the fields' normalised columns:
    given a pandas frame (as every rule is), or the columns themselves
    (:meth:`on_columns`: a slice validated in pyarrow, no frame made).

    Attributes:
        rule: the columns -> whether each row passes.
    """

    rule: Callable[[Columns], np.ndarray]

    def __call__(self, frame: pd.DataFrame) -> pd.Series:
        import pandas as pd

        passed = self.rule(lambda name: arrow_cells(frame[name]))
        return pd.Series(passed, index=frame.index)

    def on_columns(self, columns: Columns) -> np.ndarray:
        """Whether each row passes, from the fields' columns."""
        return self.rule(columns)


def one_of(*names: str) -> ColumnarRule:
    """Rule: at least one of the columns ``names`` has a value (an ID or an email, say)."""

    def rule(columns: Columns) -> np.ndarray:
        import numpy as np
        import pyarrow.compute as pc

        given = [pc.is_valid(columns(name)).to_numpy(zero_copy_only=False) for name in names]
        passed: np.ndarray = np.logical_or.reduce(given)
        return passed

    return ColumnarRule(rule)


def end_not_before_start(start: str, end: str) -> ColumnarRule:
    """Rule: ``end`` is not before ``start`` (both normalised to sortable ISO text)."""

    def rule(columns: Columns) -> np.ndarray:
        import pyarrow.compute as pc

        first, last = columns(start), columns(end)
        both = pc.and_(_usable(first), _usable(last))
        later = pc.fill_null(pc.greater_equal(last, first), True)
        passed: np.ndarray = pc.or_(pc.invert(both), later).to_numpy(zero_copy_only=False)
        return passed

    return ColumnarRule(rule)


def _usable(values: pa.Array) -> pa.Array:
    """:func:`usable` on a pyarrow column."""
    import pyarrow.compute as pc

    return pc.and_(pc.is_valid(values), unmarked(values))


def usable(values: pd.Series) -> pd.Series:
    """Cells holding a normalised value (neither missing nor a problem marker)."""
    import pandas as pd

    given = _usable(arrow_cells(values)).to_numpy(zero_copy_only=False)
    return pd.Series(given, index=values.index)
