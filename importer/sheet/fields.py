"""Column kinds: how each kind of cell is read, checked and normalised for a vendor.

A vendor declares its columns as :class:`Field` values (API name, human label,
kind, required or not). Each kind turns a column of raw text into a column of
*normalised* text, the form the vendor's API wants, where every cell is one of:

* the normalised value (``"04-01-2022"``, ``"2025-07-01T11:00:00.000Z"``);
* missing (``NA``) for an empty cell;
* a *problem marker*, ``"\\x00code"`` or ``"\\x00code\\x1fdetail"``, which the
  pandera schema flags and :mod:`importer.core.messages` turns into plain words.

Kinds work column-wise: cheap regexes run vectorised over the whole column;
parsing that needs Python logic (dates, lists) runs once per *distinct* value,
since a sheet of a million rows holds a few hundred distinct dates.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar
from zoneinfo import ZoneInfo

from importer.core.dates import (
    iso_to_utc_and_wall,
    read_date,
    read_datetime,
    read_time,
    reads_two_ways,
    to_utc,
    two_ways,
)

if TYPE_CHECKING:
    # pandas, numpy and pyarrow load where a column is parsed, not where a vendor declares its
    # columns: `--help`, `vendors` and `status` read the declarations and must not pay them.
    import numpy as np
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "MARK",
    "Boolean",
    "Choice",
    "Context",
    "DateText",
    "DateTimeUTC",
    "Distinct",
    "Email",
    "EmailList",
    "Field",
    "IdList",
    "Identifier",
    "Integer",
    "Kind",
    "Parsed",
    "Text",
    "TextList",
    "Time12h",
    "arrow_cells",
    "cell_texts",
    "marker",
    "split_marker",
    "unmarked",
]

MARK = "\x00"
_DETAIL = "\x1f"
_SCIENTIFIC = r"[+-]?\d(?:[.,]\d+)?[eE][+-]?\d+"
_EMAIL = (
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
_EMAIL_RE = re.compile(_EMAIL)
#: A digit that is not 0-9 (full-width, Arabic-Indic...): Python's \d takes them all.
_OTHER_DIGIT = r"(?![0-9])\d"
_NAMED_EMAIL_RE = re.compile(r"[^<>]*<\s*(" + _EMAIL + r")\s*>")


def marker(code: str, detail: str = "") -> str:
    """Encode a problem so that it can travel inside a text column."""
    return MARK + code + (_DETAIL + detail if detail else "")


def unmarked(values: pa.Array) -> pa.Array:
    """Whether each value (pyarrow text) holds no problem marker; a missing one holds none."""
    import pyarrow.compute as pc

    return pc.fill_null(pc.invert(pc.starts_with(values, MARK)), True)


def text_series(values: pa.Array) -> pd.Series:
    """A text array as a pandas text column (pyarrow's, no copy), numbered from 0."""
    import pandas as pd

    return pd.Series(values.to_pandas().array, dtype="str")


def read_two_ways(texts: pd.Series, values: pd.Series) -> np.ndarray:
    """Whether each date cell (``texts``, as typed) reads as two different days, day or month
    first: a date read (``values``: not missing, no problem marker) that could be read the
    other way too."""
    marked = values.str.startswith(MARK).fillna(True)
    both: np.ndarray = (two_ways(texts) & values.notna() & ~marked).to_numpy(dtype=bool)
    return both


def split_marker(value: str) -> tuple[str, str]:
    """Decode a problem marker into ``(code, detail)``."""
    code, _, detail = value[1:].partition(_DETAIL)
    return code, detail


@dataclass(frozen=True)
class Context:
    """What reading a sheet depends on besides the cells.

    Attributes:
        zone: the time zone of wall-clock times without an offset.
        order: how to read ``04-01-2022``: ``"DMY"`` (day first) or ``"MDY"``.
    """

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    order: str = "DMY"


@dataclass(frozen=True)
class Parsed:
    """A normalised column and, where a reading was ambiguous, a note per row.

    Attributes:
        values: the normalised values (or problem markers).
        notes: how an ambiguous cell was read, per row (``None``: no note at all).
        wall: the cells as they identify their row, where that may differ from ``values``:
            for a kind read in the context's time zone, every cell typed *without* a zone,
            normalised as if the zone were UTC (the wall-clock time as typed); for a date
            that reads two ways (03/04/2027), its day-first reading whatever the order.
            Missing elsewhere; ``None``: no such cell. A row's identity in the journal is
            made of these, so that it never depends on ``--timezone`` or ``--date-order``
            (:mod:`importer.jobs.journaling`).
    """

    values: pd.Series
    notes: pd.Series | None = None
    wall: pd.Series | None = None
    distinct: Distinct | None = None


@dataclass(frozen=True)
class Distinct:
    """A normalised column by distinct text, where the reading knew it: what is checked and
    hashed once per distinct text rather than once per row (:mod:`importer.sheet.remembered`).

    Attributes:
        codes: each row's text (a position in ``texts``; -1: an empty cell, read as missing).
        texts: the distinct raw texts.
        values: the normalised value (or marker, or null) of each.
        twice: whether each reads as two different days (:func:`read_two_ways`), where
            known (a date field's, remembered from slice to slice: ``None`` otherwise).
    """

    codes: np.ndarray
    texts: pa.Array
    values: pa.Array
    twice: np.ndarray | None = None

    def text_column(self) -> pd.Series:
        """The distinct texts as a text column (numbered from 0)."""
        return text_series(self.texts)

    def value_column(self) -> pd.Series:
        """Their values (or markers, or missing) as a text column, as :meth:`text_column`."""
        return text_series(self.values)

    def per_row(self, per_text: np.ndarray, empty: object) -> np.ndarray:
        """A value per distinct text (``per_text``) spread over the rows; ``empty`` for an
        empty cell."""
        import numpy as np

        spread: np.ndarray = np.append(per_text, np.asarray([empty], per_text.dtype))[self.codes]
        return spread


#: A reading of one distinct text: (normalised value or marker, note), and for a kind read
#: in a time zone, the wall-clock value when the text carries no zone (see :class:`Parsed`).
Reading = tuple[str | None, str | None] | tuple[str | None, str | None, str | None]
#: Reads one text (not blank).
Read = Callable[[str], Reading]
#: Reads all the distinct texts at once (vectorised) where it can: ``None`` for the others.
First = Callable[[list[str]], list[Reading | None]]


def _read_all(texts: list[str], read: Read, first: First | None = None) -> list[Reading]:
    """The reading of each text: by ``first`` where it can, else by ``read``; a blank text is
    missing (no value, no note)."""
    quick = first(texts) if first is not None else [None] * len(texts)
    return [
        done if done is not None else read(text) if text.strip() else (None, None)
        for text, done in zip(texts, quick, strict=True)
    ]


def _per_unique(values: pd.Series, read: Read, first: First | None = None) -> Parsed:
    """Apply ``read`` (text -> normalised value or marker, note) once per distinct value.

    ``first``, when given, normalises all the distinct texts at once (vectorised) where it
    can; ``read`` then reads only the texts it left (``None``). The readings are spread
    back over the rows by pyarrow (no Python per row).
    """
    import numpy as np  # loaded on the first parse (see the imports above)
    import pandas as pd

    codes, uniques = pd.factorize(values, sort=False)
    results = _read_all([str(text) for text in uniques], read, first)
    codes = np.where(codes < 0, len(results), codes)
    out = _spread([r[0] for r in results], codes, values.index)
    notes = wall = None
    if any(r[1] for r in results):
        notes = _spread([r[1] for r in results], codes, values.index)
    walls = [r[2] if len(r) > 2 else None for r in results]
    if any(walls):
        wall = _spread(walls, codes, values.index)
    return Parsed(out, notes, wall)


def _spread(per_unique: list[str | None], codes: np.ndarray, index: pd.Index) -> pd.Series:
    """The value of each row's distinct text (``codes``), as a text column over ``index``."""
    import pandas as pd  # loaded on the first parse (see the imports above)
    import pyarrow as pa

    taken = pa.array([*per_unique, None], pa.string()).take(pa.array(codes))
    return pd.Series(taken.to_pandas().array, index=index, dtype="str")


def _strip(values: pd.Series) -> pd.Series:
    """``values`` without surrounding spaces; the same column (no copy) when none has any."""
    stripped = values.str.strip()
    before, after = _byte_size(values), _byte_size(stripped)
    if before is not None and after is not None:  # trimming only takes bytes away
        return stripped if after != before else values
    return stripped if bool(stripped.str.len().ne(values.str.len()).any()) else values


def _byte_lengths(values: pd.Series) -> pa.Array | None:
    """Each cell's UTF-8 bytes (at least its characters), from pyarrow's offsets (no pass over
    the text); ``None`` for a column not held by pyarrow."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(values.array, pd.arrays.ArrowStringArray):
        return None
    return pc.binary_length(pa.array(values.array))


def _byte_size(values: pd.Series) -> int | None:
    """The UTF-8 bytes of a text column's cells (see :func:`_byte_lengths`)."""
    import pyarrow.compute as pc

    lengths = _byte_lengths(values)
    return None if lengths is None else int(pc.sum(lengths).as_py() or 0)


def _blank_to_na(values: pd.Series, empty: pd.Series) -> pd.Series:
    """Empty cells as missing; the same column (no copy) when none is empty."""
    return values.mask(empty) if bool(empty.any()) else values


class Kind:
    """Base of the column kinds: ``parse`` normalises a whole column of raw text."""

    #: What to type, for messages, the template and ``session-importer vendors``.
    hint: ClassVar[str] = "text"
    #: Values offered in the template's dropdown.
    choices: tuple[str, ...] = ()
    #: Whether the template formats the column as Text (IDs keep their digits).
    as_text: ClassVar[bool] = False
    #: Whether cells typed without a time zone are read in the run's (``--timezone``): a
    #: vendor with such a column needs a zone for them (see ``Vendor.reads_time_zones``).
    zoned: ClassVar[bool] = False
    #: Whether its cells are dates (``03/04/2027`` is read one of two ways: see ``two_ways``).
    dates: ClassVar[bool] = False

    def parse(self, values: pd.Series, context: Context) -> Parsed:
        """Normalise ``values`` (raw text) into values, missing, or problem markers."""
        reader = self.reader(context)
        if reader is not None:
            return _per_unique(values, *reader)
        import pandas as pd

        cells = self.parse_cells(arrow_cells(values), context)
        assert cells is not None  # a kind with a parse of its own has no columnar form
        return Parsed(pd.Series(cells.to_pandas().array, index=values.index, dtype="str"))

    def parse_cells(self, cells: pa.Array, context: Context) -> pa.Array | None:
        """:meth:`parse` of a kind read column-wise, on pyarrow's text (no pandas): the cells
        trimmed, empty ones missing. ``None`` for a kind with a ``parse`` of its own (or read
        once per distinct text): it has no such form."""
        if type(self).parse is not Kind.parse or self.reader(context) is not None:
            return None
        import pyarrow as pa
        import pyarrow.compute as pc

        stripped = pc.utf8_trim_whitespace(cells)
        return pc.if_else(pc.equal(stripped, ""), pa.scalar(None, stripped.type), stripped)

    def reader(self, context: Context) -> tuple[Read, First | None] | None:
        """How a kind read once per distinct text reads one (and all at once, where it can);
        ``None``: a kind read column-wise."""
        return None

    def readings(self, texts: list[str], context: Context) -> list[Reading]:
        """The reading of each of ``texts`` (distinct texts), as :meth:`parse` reads them."""
        reader = self.reader(context)
        if reader is not None:
            return _read_all(texts, *reader)
        import pandas as pd

        parsed = self.parse(pd.Series(texts, dtype="str"), context)
        columns = [parsed.values, parsed.notes, parsed.wall]
        cells = [[None] * len(texts) if c is None else cell_texts(c) for c in columns]
        return list(zip(*cells, strict=True))


@dataclass(frozen=True)
class Text(Kind):
    """Free text, trimmed; an optional length limit."""

    max_length: int | None = None

    @property
    def hint(self) -> str:  # type: ignore[override]
        return f"text, at most {self.max_length} characters" if self.max_length else "text"

    def parse_cells(self, cells: pa.Array, context: Context) -> pa.Array | None:
        import pyarrow as pa
        import pyarrow.compute as pc

        values = super().parse_cells(cells, context)
        if values is None or not self.max_length:
            return values
        # a cell has no more characters than bytes: counted only where the bytes may be over
        if (pc.max(pc.binary_length(values)).as_py() or 0) <= self.max_length:
            return values
        too_long = pc.fill_null(pc.greater(pc.utf8_length(values), self.max_length), False)
        over = pa.scalar(marker("too_long", str(self.max_length)), values.type)
        return pc.if_else(too_long, over, values)


def _check_pattern(values: pd.Series, pattern: str, code: str) -> pd.Series:
    """Vectorised: keep values matching ``pattern``; Excel-rounded numbers and others marked."""
    import numpy as np
    import pandas as pd  # loaded on the first parse (see the imports above)

    stripped = _strip(values)
    # Every test is made once per distinct value (an ID column repeats a few IDs) and spread
    # to the rows by its code; a cell with no value at all (code -1) is an empty one.
    codes, uniques = pd.factorize(stripped, sort=False)
    texts = pd.Series(uniques, dtype="str")

    def rows(per_text: np.ndarray, missing: bool) -> pd.Series:
        return pd.Series(np.append(per_text, missing)[codes], index=values.index)

    # ASCII: a pattern's \d takes 0-9 only, never full-width or Arabic-Indic digits (sent as
    # typed, such an ID is unknown to the vendor)
    good = texts.str.fullmatch(pattern, flags=re.ASCII).to_numpy(dtype=bool)
    blank = texts.eq("").to_numpy(dtype=bool)
    empty = rows(blank, True)
    bad = ~(good | blank)
    if not bad.any():
        return _blank_to_na(stripped, empty)
    rounded = texts.str.fullmatch(_SCIENTIFIC).to_numpy(dtype=bool) & bad
    other_digits = texts.str.contains(_OTHER_DIGIT).to_numpy(dtype=bool) & bad
    out = stripped.mask(rows(bad, False), marker(code))
    out = out.mask(rows(rounded, False), marker("excel_rounded"))
    return out.mask(rows(other_digits, False), marker("digits")).mask(empty)


@dataclass(frozen=True)
class Identifier(Kind):
    """An ID that must match a pattern (24-hex for 360Learning, digits for Zoho)."""

    pattern: str = r"[A-Za-z0-9_-]+"
    code: str = "id_format"
    hint_text: str = "an ID"
    as_text: ClassVar[bool] = True

    @property
    def hint(self) -> str:  # type: ignore[override]
        return self.hint_text

    def parse(self, values: pd.Series, context: Context) -> Parsed:
        return Parsed(_check_pattern(values, self.pattern, self.code))


@dataclass(frozen=True)
class Email(Kind):
    """One email address."""

    hint: ClassVar[str] = "an email address, e.g. jane.doe@example.com"

    def parse(self, values: pd.Series, context: Context) -> Parsed:
        return Parsed(_check_pattern(values, _EMAIL, "email"))


def arrow_cells(values: pd.Series) -> pa.Array:
    """A text column as one pyarrow large-text array (no copy of a pyarrow-held one)."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(values.array, pd.arrays.ArrowStringArray):
        held = pa.array(values.array)
        held = held.combine_chunks() if isinstance(held, pa.ChunkedArray) else held
        return held.cast(pa.large_string())
    return pa.array(cell_texts(values), pa.large_string())


def cell_texts(values: pd.Series) -> list[str | None]:
    """A column's cells as text, ``None`` where missing."""
    import pandas as pd

    return [None if pd.isna(value) else str(value) for value in values.tolist()]


def _split(text: str, separators: str) -> list[str]:
    return [item.strip() for item in re.split(separators, text) if item.strip()]


@dataclass(frozen=True)
class TextList(Kind):
    """A list in one cell, items separated by ``;`` or new lines (commas may be in names)."""

    separators: str = r"[;\r\n]+"
    max_items: int | None = None
    hint_text: str = "names separated by ; or new lines"

    @property
    def hint(self) -> str:  # type: ignore[override]
        return self.hint_text

    def check_item(self, item: str) -> str | None:
        """Return the normalised item, or ``None`` when it is not valid."""
        return item

    def read(self, text: str) -> tuple[str | None, str | None]:
        items: list[str] = []
        for raw in _split(text, self.separators):
            item = self.check_item(raw)
            if item is None:
                code = "digits" if re.search(_OTHER_DIGIT, raw) else self.item_code
                return marker(code, raw), None
            if item not in items:
                items.append(item)
        if self.max_items is not None and len(items) > self.max_items:
            return marker("too_many", f"{len(items)}/{self.max_items}"), None
        return (";".join(items) or None), None

    item_code: ClassVar[str] = "list_item"

    def reader(self, context: Context) -> tuple[Read, First | None]:
        return self.read, None


@dataclass(frozen=True)
class EmailList(TextList):
    """Email addresses separated by ``;``, ``,`` or new lines; ``Name <address>`` accepted."""

    separators: str = r"[;,\r\n]+"
    hint_text: str = "email addresses separated by ; or , (first one = main instructor)"
    item_code: ClassVar[str] = "email_in_list"

    def check_item(self, item: str) -> str | None:
        if _EMAIL_RE.fullmatch(item):
            return item
        named = _NAMED_EMAIL_RE.fullmatch(item)
        return named.group(1) if named else None


@dataclass(frozen=True)
class IdList(TextList):
    """IDs separated by ``;``, ``,`` or new lines, each matching ``pattern``."""

    separators: str = r"[;,\s]+"
    pattern: str = r"[a-fA-F0-9]{24}"
    item_code: ClassVar[str] = "id_in_list"
    as_text: ClassVar[bool] = True

    def check_item(self, item: str) -> str | None:
        return item if re.fullmatch(self.pattern, item, re.ASCII) else None


@dataclass(frozen=True)
class Integer(Kind):
    """A whole number at least ``minimum`` (``30`` or ``30.0`` from a number cell)."""

    minimum: int = 1
    #: The largest integer JSON carries exactly (RFC 8259 section 6: beyond 2**53 - 1, a
    #: JavaScript service such as 360Learning's reads another number). Checked on the digits
    #: before ``int()``: Python refuses to convert more than 4,300 (a ValueError, issue 22).
    maximum: int = 2**53 - 1

    @property
    def hint(self) -> str:  # type: ignore[override]
        return f"a whole number, {self.minimum} or more"

    def read(self, text: str) -> tuple[str | None, str | None]:
        match = re.fullmatch(r"\+?0*([0-9]+)(?:\.0+)?", text.strip())
        if not match and re.search(_OTHER_DIGIT, text):
            return marker("digits"), None
        if match and len(match.group(1)) > len(str(self.maximum)):
            return marker("integer_max", f"{self.maximum:,}"), None
        if not match or int(match.group(1)) < self.minimum:
            return marker("integer_min", str(self.minimum)), None
        if int(match.group(1)) > self.maximum:
            return marker("integer_max", f"{self.maximum:,}"), None
        return str(int(match.group(1))), None

    def reader(self, context: Context) -> tuple[Read, First | None]:
        return self.read, None


def _key(text: str) -> str:
    """Fold a choice for matching: case, spaces, punctuation and the word "and" do not matter."""
    return re.sub(r"[^a-z0-9]", "", text.casefold().replace("&", "and"))


@dataclass(frozen=True)
class Choice(Kind):
    """One value of a fixed list; labels and API values both accepted, in any case."""

    #: API value -> the other ways to write it.
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Shown in the template dropdown: the API values, or a label per value.
    labels: tuple[str, ...] = ()

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.labels or tuple(value for value, _ in self.options)

    @property
    def hint(self) -> str:  # type: ignore[override]
        return "one of: " + ", ".join(self.choices)

    def read(self, text: str) -> tuple[str | None, str | None]:
        wanted = _key(text)
        for value, others in self.options:
            if wanted in {_key(value), *(_key(o) for o in others)}:
                return value, None
        return marker("choice", " | ".join(self.choices)), None

    def reader(self, context: Context) -> tuple[Read, First | None]:
        return self.read, None


@dataclass(frozen=True)
class Boolean(Choice):
    """Yes or no."""

    options: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("yes", ("y", "true", "1", "x", "oui", "ja")),
        ("no", ("n", "false", "0", "non", "nein")),
    )


def _day_first(
    text: str, context: Context, read: dt.date | dt.datetime
) -> dt.date | dt.time | dt.datetime | None:
    """``text`` read day-first when it reads two ways and was read month-first (``read``):
    a row's identity must not depend on ``--date-order``; else ``read`` itself."""
    if context.order == "DMY" or not reads_two_ways(text):
        return read
    return read_datetime(text, "DMY").value


def _utc_text(value: dt.datetime) -> str:
    """``2025-07-01T11:00:00.000Z``: how a UTC time is sent."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


_UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class DateTimeUTC(Kind):
    """A date and time of day, wall-clock in the context's zone, sent as UTC ISO 8601.

    Its :attr:`Parsed.wall` holds the cells typed without a zone, read as if in UTC: the
    same time whatever the zone (a row's identity), and the cells that need one.
    """

    hint: ClassVar[str] = "date and time, e.g. 2025-07-01 14:00 (local time)"
    #: Cells without a zone are read in the context's (``--timezone``): a run needs one.
    zoned: ClassVar[bool] = True
    dates: ClassVar[bool] = True

    def reader(self, context: Context) -> tuple[Read, First | None]:
        def read(text: str) -> Reading:
            reading = read_datetime(text, context.order)
            if reading.problem:
                return marker(reading.problem), None
            if not isinstance(reading.value, dt.datetime) or not reading.has_time:
                return marker("time_missing"), None
            utc, problem, note = to_utc(reading.value, context.zone)
            if utc is None:
                return marker(problem or "date_format", context.zone.key), None
            notes = "; ".join(n for n in (reading.note, note) if n) or None
            wall = None
            if reading.value.tzinfo is None:
                typed = _day_first(text, context, reading.value)
                wall = _utc_text(typed) if isinstance(typed, dt.datetime) else None
            return _utc_text(utc), notes, wall

        def first(texts: list[str]) -> list[Reading | None]:
            # The plain spellings (no zone in them): read in the zone, and as if in UTC.
            sent, walls = iso_to_utc_and_wall(texts, context.zone, context.order)
            return [
                None if done is None else (done, None, wall)
                for done, wall in zip(sent, walls, strict=True)
            ]

        return read, first


@dataclass(frozen=True)
class DateText(Kind):
    """A calendar date, sent as ``DD-MM-YYYY`` (Zoho)."""

    hint: ClassVar[str] = "a date, DD-MM-YYYY, e.g. 31-12-2025"
    dates: ClassVar[bool] = True

    def reader(self, context: Context) -> tuple[Read, First | None]:
        def read(text: str) -> Reading:
            reading = read_date(text, context.order)
            if reading.problem or not isinstance(reading.value, dt.date):
                return marker(reading.problem or "date_format"), None
            sent = reading.value.strftime("%d-%m-%Y")
            typed = _day_first(text, context, reading.value)
            wall = typed.strftime("%d-%m-%Y") if isinstance(typed, dt.date) else None
            return sent, reading.note, wall if wall != sent else None

        return read, None


@dataclass(frozen=True)
class Time12h(Kind):
    """A time of day, sent on a 12-hour clock as ``hh:mm AM`` (Zoho)."""

    hint: ClassVar[str] = "a time, e.g. 10:00 AM, 2:30 PM or 14:30"

    def reader(self, context: Context) -> tuple[Read, First | None]:
        def read(text: str) -> Reading:
            reading = read_time(text)
            if reading.problem or not isinstance(reading.value, dt.time):
                return marker(reading.problem or "time_format"), None
            if reading.value.second or reading.value.microsecond:
                return marker("time_seconds"), None
            return reading.value.strftime("%I:%M %p"), None

        return read, None


@dataclass(frozen=True)
class Field:
    """One column of a vendor's sheet.

    Attributes:
        name: the vendor API's field name (also accepted as a header).
        label: the header our templates use, in plain words.
        kind: how cells are read and normalised.
        required: whether every row needs a value.
        description: one sentence for the template's instructions.
        example: the value in the template's example row.
        aliases: other headers that mean this column.
        in_body: whether the value goes in the request body (``False`` for URL parts).
        empty_note: a note for the result sheet when the cell is empty (what the
            vendor does instead), e.g. "the platform owner becomes the instructor".
        either: another field that may stand in for this required one (an email
            for an ID); a cross-column rule checks that one of them is given.
    """

    name: str
    label: str
    kind: Kind
    required: bool = False
    description: str = ""
    example: str = ""
    aliases: tuple[str, ...] = ()
    in_body: bool = True
    empty_note: str = ""
    either: str = ""

    def need(self, vendor_label: dict[str, str] | None = None) -> str:
        """``required``, ``optional``, or ``required (or <other column>)``."""
        if self.either:
            other = (vendor_label or {}).get(self.either, self.either)
            return f"required (or {other})"
        return "required" if self.required else "optional"
