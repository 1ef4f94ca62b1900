"""Read the dates and times coordinators type, one distinct value at a time.

Accepted: ISO 8601 (``2025-07-01T13:00``, with ``Z`` or an offset), what the
Excel reader produces for date and time cells (ISO text), day-first or
month-first dates (``31-12-2025``, ``12/31/2025``, ``31.12.2025``) followed
by an optional time, dates with month names (``4 Jan 2022``), and times as
``14:00``, ``10.00``, ``2:00 pm``, ``2 PM`` or ``14:00:00``. A date that does not exist
(31-02-2025) is an error, never shifted to another day.

Each function returns a :class:`Reading`: a value, or the code of the
problem, and an optional note telling how an ambiguous text was read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DateOrder",
    "Reading",
    "TwoWays",
    "iso_to_utc_and_wall",
    "iso_to_utc_text",
    "read_date",
    "read_datetime",
    "read_time",
    "reads_two_ways",
    "spell_date",
    "to_utc",
    "two_ways",
    "wall_to_utc_text",
]

DateOrder = str  # "DMY" or "MDY"

_TIME = (
    r"(?P<h>\d{1,2})(?:[:h.](?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?)?)?"
    r"\s*(?P<ap>[ap]\.?\s?m\.?)?"
)
_ISO = re.compile(
    r"(?P<y>\d{4})[-/](?P<a>\d{1,2})[-/](?P<b>\d{1,2})"
    rf"(?:(?:T|\s+)(?:{_TIME}))?\s*(?P<z>Z|[+-]\d{{2}}:?\d{{2}})?",
    re.IGNORECASE,
)
_NUMERIC = re.compile(
    rf"(?P<a>\d{{1,2}})[-/.](?P<b>\d{{1,2}})[-/.](?P<y>\d{{2,4}})(?:(?:T|\s+)(?:{_TIME}))?",
    re.IGNORECASE,
)
_TIME_ONLY = re.compile(_TIME, re.IGNORECASE)
_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
# The spelling most sheets use (and what the workbook reader writes): read vectorised.
_PLAIN_ISO = re.compile(r"(?:19|20|21)\d\d-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?")
# ... and the day-first (or month-first) one with slashes, when only one reading exists.
_PLAIN_NUMERIC = re.compile(r"(\d{2})/(\d{2})/((?:19|20|21)\d\d) (\d{2}:\d{2}(?::\d{2})?)")
# Excel's day zero: a time cell typed with a date part is 1899-12-30 or 1899-12-31.
_EXCEL_ZERO_DAYS = {dt.date(1899, 12, 30), dt.date(1899, 12, 31)}
#: Excel counts a 29 February 1900 that never existed (serial 60), which the workbook
#: reader gives as 28 February, as it gives serial 59: a workbook date before 1 March 1900
#: cannot be trusted to the day, so every date before it is refused (no session is that old).
_EXCEL_SOUND_FROM = dt.date(1900, 3, 1)


class Reading(NamedTuple):
    """The result of reading one cell.

    Attributes:
        value: a ``date``, ``time`` or ``datetime`` (naive, or aware when the
            text carried a zone), or ``None`` when there is a problem.
        problem: the problem code (see :mod:`importer.core.messages`), or ``None``.
        note: how an ambiguous text was read, for the result sheet.
        has_time: whether the text carried a time of day.
    """

    value: dt.date | dt.time | dt.datetime | None
    problem: str | None = None
    note: str | None = None
    has_time: bool = False


def _spell(day: dt.date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


# Day and month both 1-12 and different (03/04/2027): a date either way round.
_TWO_WAYS = r"\s*(0?[1-9]|1[0-2])[-/.](0?[1-9]|1[0-2])[-/.][0-9]{4}(?:(?:T|\s).*)?"
#: The same, for RE2 over a whole column: the day-or-month numbers named ``a`` and ``b``.
_TWO_WAYS_START = r"^\s*(?P<a>0?[1-9]|1[0-2])[-/.](?P<b>0?[1-9]|1[0-2])[-/.][0-9]{4}(?:T|\s|$)"


def two_ways(texts: pd.Series) -> pd.Series:
    """Vectorised: the cells whose date reads as two different days, day or month first."""
    import pandas as pd

    texts = texts.astype("str")
    import pyarrow as pa
    import pyarrow.compute as pc

    # One RE2 pass over the column takes out the two numbers (no Python per cell), then
    # compares them; a text column is pyarrow's already (taken as it is: a copy through
    # Python objects cost 0.25 s a million cells).
    found = pc.extract_regex(pa.array(texts.array), _TWO_WAYS_START)
    first, second = (pc.cast(pc.struct_field(found, name), pa.int8()) for name in ("a", "b"))
    both = pc.not_equal(first, second).fill_null(False)
    return pd.Series(both.to_numpy(zero_copy_only=False), index=texts.index, dtype=bool)


@dataclass(frozen=True)
class TwoWays:
    """The dates of a sheet that read as two different days, day first or month first.

    Attributes:
        count: how many cells.
        example: the first one, as typed.
        order: how they were read: ``DMY`` (day first) or ``MDY``.
    """

    count: int = 0
    example: str = ""
    order: DateOrder = "DMY"

    def __add__(self, other: TwoWays) -> TwoWays:
        """Two slices' counts together (the first example kept; the order of the one that
        counted any, else the latest: a tally starting from ``TwoWays()`` must not keep its
        default day-first order when the sheet was read month first)."""
        order = self.order if self.count else other.order
        return TwoWays(self.count + other.count, self.example or other.example, order)

    def sentence(self, switch: str) -> str:
        """``12 dates could be read two ways (03/04/2027): read day-first (3 April 2027);
        <switch> to read them month-first`` (``""`` when there are none)."""
        if not self.count:
            return ""
        how, other = ("day-first", "month-first")
        if self.order == "MDY":
            how, other = other, how
        few = "1 date" if self.count == 1 else f"{self.count} dates"
        example = re.split(r"[T\s]", self.example.strip(), maxsplit=1)[0]  # the date part
        said = spell_date(example, self.order)
        return (
            f"{few} could be read two ways ({example}): read {how} ({said}); "
            f"{switch} to read them {other}"
        )


def reads_two_ways(text: str) -> bool:
    """Whether ``text``'s date reads as two different days, day or month first."""
    found = re.fullmatch(_TWO_WAYS, text, re.ASCII | re.DOTALL)
    return found is not None and int(found[1]) != int(found[2])


def spell_date(text: str, order: DateOrder) -> str:
    """The day ``text`` is read as in ``order``, in words (``3 April 2027``); ``""`` if none."""
    reading = read_datetime(text, order)
    return _spell(_date_part(reading.value)) if reading.value is not None else ""


def _time_of(match: re.Match[str]) -> dt.time | str:
    """Build the time of a match, or return a problem code."""
    hour = int(match["h"])
    minute = int(match["mi"] or 0)
    second = int(match["s"] or 0)
    fraction = int((match["f"] or "0").ljust(6, "0"))
    if match["ap"]:
        if not 1 <= hour <= 12:
            return "time_invalid"
        hour = hour % 12 + (12 if match["ap"].lower().startswith("p") else 0)
    elif match["mi"] is None:
        return "time_format"  # a bare number such as "14" is not a time
    if hour > 23 or minute > 59 or second > 59:
        return "time_invalid"
    return dt.time(hour, minute, second, fraction)


def _zone_of(text: str | None) -> dt.tzinfo | None:
    if not text:
        return None
    if text.upper() == "Z":
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _build(
    year: int, month: int, day: int, match: re.Match[str], zone: str | None = None
) -> Reading:
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return Reading(None, "date_nonexistent")
    if match["h"] is None:
        return Reading(date)
    time = _time_of(match)
    if isinstance(time, str):
        return Reading(None, time)
    value = dt.datetime.combine(date, time, tzinfo=_zone_of(zone))
    return Reading(value, has_time=True)


def read_datetime(text: str, order: DateOrder = "DMY") -> Reading:
    """Read a date with an optional time of day.

    ``order`` says how to read ``04-01-2022``: day first (``DMY``) or month first
    (``MDY``); when both readings are possible and differ, the note says which
    one was used. ISO dates (year first) are never ambiguous. A date before 1 March
    1900 is the problem ``date_excel_1900`` (see :data:`_EXCEL_SOUND_FROM`).
    """
    reading = _read_datetime(text, order)
    if reading.value is not None and _date_part(reading.value) < _EXCEL_SOUND_FROM:
        return Reading(None, "date_excel_1900")
    return reading


def _read_datetime(text: str, order: DateOrder) -> Reading:
    text = text.strip()
    match = _ISO.fullmatch(text)
    if match:
        return _build(int(match["y"]), int(match["a"]), int(match["b"]), match, match["z"])
    match = _NUMERIC.fullmatch(text)
    if match:
        if len(match["y"]) != 4:
            return Reading(None, "year_two_digits")
        first, second = int(match["a"]), int(match["b"])
        day, month = (first, second) if order == "DMY" else (second, first)
        reading = _build(int(match["y"]), month, day, match)
        if reading.problem == "date_nonexistent":
            other = _build(int(match["y"]), day, month, match)
            if other.value is not None:  # e.g. 12/31/2025 read day first: month first works
                return Reading(None, "date_month_first" if order == "DMY" else "date_day_first")
        if reading.value is not None and first != second and first <= 12 and second <= 12:
            how = "day first" if order == "DMY" else "month first"
            note = f"read {text!r} as {_spell(_date_part(reading.value))} ({how})"
            return reading._replace(note=note)
        return reading
    if re.search(r"[A-Za-z]{3}", text):
        return _read_worded(text, order)
    return Reading(None, "date_format")


def _date_part(value: dt.date | dt.time | dt.datetime | None) -> dt.date:
    assert isinstance(value, dt.date)
    return value.date() if isinstance(value, dt.datetime) else value


def _read_worded(text: str, order: DateOrder) -> Reading:
    """Dates with month names ("4 Jan 2022 14:00"): unambiguous, read with dateutil."""
    from dateutil import parser

    if not re.search(r"\d{4}", text):
        return Reading(None, "year_two_digits" if re.search(r"\d", text) else "date_format")
    try:
        value = parser.parse(text, dayfirst=order == "DMY", default=dt.datetime(2000, 1, 1))
    except (ValueError, OverflowError):
        return Reading(None, "date_format")
    has_time = bool(re.search(r"\d:\d|\d\s*[ap]\.?m", text, re.IGNORECASE))
    return Reading(value if has_time else value.date(), has_time=has_time)


def read_date(text: str, order: DateOrder = "DMY") -> Reading:
    """Read a calendar date; a time of midnight (an Excel date cell) is accepted and dropped."""
    reading = read_datetime(text, order)
    if isinstance(reading.value, dt.datetime):
        if reading.value.time() != dt.time(0):
            return Reading(None, "date_has_time")
        return reading._replace(value=reading.value.date(), has_time=False)
    return reading


def read_time(text: str) -> Reading:
    """Read a time of day: ``14:00``, ``2:00 pm``, ``2 PM``, ``14:00:00`` or an Excel time cell."""
    text = text.strip()
    match = _TIME_ONLY.fullmatch(text)
    if match:
        time = _time_of(match)
        return Reading(None, time) if isinstance(time, str) else Reading(time, has_time=True)
    match = _ISO.fullmatch(text)
    if match and match["h"] is not None:
        reading = _build(int(match["y"]), int(match["a"]), int(match["b"]), match)
        if isinstance(reading.value, dt.datetime) and reading.value.date() in _EXCEL_ZERO_DAYS:
            return Reading(reading.value.time(), has_time=True)
        return Reading(None, "time_has_date")
    return Reading(None, "time_format")


def to_utc(value: dt.datetime, zone: ZoneInfo) -> tuple[dt.datetime | None, str | None, str | None]:
    """Convert a wall-clock time in ``zone`` (or an aware time) to UTC.

    Returns ``(utc, problem, note)``: a wall-clock time skipped when clocks go
    forward is the problem ``time_skipped_dst``; one that happens twice when
    clocks go back is read as the first (summer-time) occurrence, with a note.
    """
    try:
        return _to_utc(value, zone)
    except OverflowError:  # a year 1 or 9999 time that UTC would push out of the calendar
        return None, "date_range", None


def _to_utc(
    value: dt.datetime, zone: ZoneInfo
) -> tuple[dt.datetime | None, str | None, str | None]:
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC), None, None
    first = value.replace(tzinfo=zone, fold=0)
    second = value.replace(tzinfo=zone, fold=1)
    back = first.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
    if back != value:
        return None, "time_skipped_dst", None
    note = None
    if first.utcoffset() != second.utcoffset():
        note = (
            f"{value:%Y-%m-%d %H:%M} happens twice in {zone.key} (clocks go back); "
            "read as the first, summer-time one"
        )
    return first.astimezone(dt.UTC), None, note


def wall_to_utc_text(wall: str, zone: ZoneInfo) -> str | None:
    """A wall-clock time spelled as UTC (``2025-07-01T10:00:00.000Z``, see
    :attr:`importer.sheet.fields.Parsed.wall`) read in ``zone`` instead, spelled the same way:
    what an earlier version sent (and keyed its journal by) for that cell in that zone.
    ``None`` for a time that does not exist there."""
    naive = dt.datetime.fromisoformat(wall.removesuffix("Z"))
    utc, _, _ = to_utc(naive, zone)
    if utc is None:
        return None
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def iso_to_utc_text(texts: list[str], zone: ZoneInfo, order: DateOrder = "DMY") -> list[str | None]:
    """:func:`iso_to_utc_and_wall`'s UTC texts."""
    return iso_to_utc_and_wall(texts, zone, order)[0]


def iso_to_utc_and_wall(
    texts: list[str], zone: ZoneInfo, order: DateOrder = "DMY"
) -> tuple[list[str | None], list[str | None]]:
    """UTC text (``2025-07-01T13:00:00.000Z``) of each plain wall-clock time, vectorised.

    Only ``YYYY-MM-DD hh:mm[:ss]`` (space or ``T``) texts, and ``DD/MM/YYYY hh:mm[:ss]``
    ones (``MM/DD`` with ``order="MDY"``) that cannot be read the other way round, that
    exist and happen exactly once in ``zone`` are converted here, all at once; every
    other text (another spelling, a date read one of two ways, which gets a note, a day
    that does not exist, a time skipped or repeated by a clock change) gives ``None``,
    for :func:`read_datetime` and :func:`to_utc` to read and explain one by one.

    Returns the UTC texts, and for the same texts their wall-clock time spelled the same
    way (as if read in UTC: see :attr:`importer.sheet.fields.Parsed.wall`).
    """
    import numpy as np
    import pandas as pd

    picked: list[int] = []
    plain: list[str] = []
    for at, text in enumerate(texts):
        if "1900" in text:
            continue  # maybe before 1 March 1900: read_datetime refuses those
        if _PLAIN_ISO.fullmatch(text):
            picked.append(at)
            plain.append(text)
            continue
        numeric = _PLAIN_NUMERIC.fullmatch(text)
        if numeric is None:
            continue
        first, second, year, time = numeric.groups()
        if first != second and int(first) <= 12 and int(second) <= 12:
            continue  # either way round is a date: read_datetime notes which one it took
        day, month = (first, second) if order == "DMY" else (second, first)
        picked.append(at)
        plain.append(f"{year}-{month}-{day} {time}")
    out: list[str | None] = [None] * len(texts)
    walls: list[str | None] = [None] * len(texts)
    if not picked:
        return out, walls
    wall = pd.to_datetime(pd.Series(plain, dtype=object), format="ISO8601", errors="coerce")
    local = wall.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    utc = local.dt.tz_convert("UTC").dt.tz_localize(None)
    ok = utc.notna().to_numpy()
    places = np.asarray(picked)[ok].tolist()
    # In UTC the wall-clock time is the time sent: spelled once.
    for stamps, into in ((utc, out),) if zone.key == "UTC" else ((utc, out), (wall, walls)):
        spelled = np.datetime_as_string(stamps.to_numpy(dtype="datetime64[ms]")[ok], unit="ms")
        for at, text in zip(places, np.char.add(spelled, "Z").tolist(), strict=True):
            into[at] = text
    return out, list(out) if zone.key == "UTC" else walls
