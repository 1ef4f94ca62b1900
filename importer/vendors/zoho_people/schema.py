"""Zoho People LMS: create a session in a module of a course batch.

Source: shared/vendor-docs/zoho-people-lms-create-session.txt. Dates are
DD-MM-YYYY, times on a 12-hour clock (``10:00 AM``), ``type`` is 0 (Classroom)
or 1 (E-learning); Zoho IDs are long numbers, kept as text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from importer.sheet.fields import Choice, DateText, Email, Field, Identifier, Text, Time12h
from importer.sheet.schema import RowCheck, Vendor, one_of, usable

if TYPE_CHECKING:
    import pandas as pd  # a rule loads it when checked: the sheet's declaration stays light

__all__ = ["MESSAGES", "VENDOR", "ZOHO_ID"]

#: The messages of Zoho's own problem codes (see :attr:`Vendor.messages`): an ID in its
#: format, and an employee its API does not take as a trainer (looked up at import time).
MESSAGES = {
    "zoho_id": (
        "{value!r} is not a Zoho ID: type the digits of the ID only, "
        "e.g. 478346000019479103 (no spaces, no letters, no decimal point)."
    ),
    "not_a_trainer": (
        "{value!r} is an employee but not a registered trainer: add them as a trainer in "
        "Zoho People LMS first."
    ),
}

ZOHO_ID = Identifier(
    pattern=r"\d{1,19}",
    code="zoho_id",
    hint_text="a Zoho ID, digits only, e.g. 478346000019479103",
)


def _minutes(times: pd.Series) -> pd.Series:
    """Minutes since midnight of normalised ``hh:mm AM`` times."""
    hours = times.str.slice(0, 2).astype("float64") % 12
    minutes = times.str.slice(3, 5).astype("float64")
    return hours * 60 + minutes + times.str.endswith("PM").astype("float64") * 720


def _end_after_start(frame: pd.DataFrame) -> pd.Series:
    both = usable(frame["startTime"]) & usable(frame["endTime"])
    if not bool(both.any()):
        import pandas as pd  # the rule is checked: pandas is loaded (see the imports above)

        return pd.Series(True, index=frame.index)
    start = _minutes(frame["startTime"].where(both, "12:00 AM"))
    end = _minutes(frame["endTime"].where(both, "12:00 AM"))
    return ~both | end.gt(start)


def _id(name: str, label: str, description: str, example: str, **extra: object) -> Field:
    return Field(name, label, ZOHO_ID, description=description, example=example, **extra)  # type: ignore[arg-type]


VENDOR = Vendor(
    name="zoho-people",
    title="Zoho People LMS (sessions in a course batch module)",
    fields=(
        _id(
            "courseId",
            "Course ID",
            "The course.",
            "478346000019479103",
            required=True,
            in_body=False,
            aliases=("course",),
        ),
        _id(
            "batchId",
            "Batch ID",
            "The batch of the course.",
            "478346000019479115",
            required=True,
            in_body=False,
            aliases=("batch",),
        ),
        _id(
            "moduleId",
            "Module ID",
            "The module of the batch.",
            "478346000019479119",
            required=True,
            in_body=False,
            aliases=("module",),
        ),
        Field(
            "name",
            "Session name",
            Text(),
            required=True,
            description="The session's name.",
            example="Session API Testing",
            aliases=("session name", "session"),
        ),
        _id(
            "trainerErecno",
            "Trainer erecno",
            "The trainer's employee record number (or give the email).",
            "478346000008251001",
            either="trainerEmail",
            aliases=("trainer", "trainer id"),
        ),
        Field(
            "trainerEmail",
            "Trainer email",
            Email(),
            description="Instead of the erecno: the trainer's email, looked up in Zoho People.",
            aliases=("trainer mail",),
            in_body=False,
        ),
        Field(
            "type",
            "Type",
            Choice(
                options=(
                    ("0", ("classroom", "class room", "in person")),
                    ("1", ("e-learning", "elearning", "online", "e learning")),
                ),
                labels=("Classroom", "E-learning"),
            ),
            required=True,
            description="Classroom (0) or E-learning (1).",
            example="Classroom",
            aliases=("session type",),
        ),
        Field(
            "date",
            "Date",
            DateText(),
            required=True,
            description="The session's date, DD-MM-YYYY.",
            example="04-01-2022",
            aliases=("session date",),
        ),
        Field(
            "startTime",
            "Start time",
            Time12h(),
            required=True,
            description="Start time, 12-hour clock.",
            example="10:00 AM",
            aliases=("start", "from"),
        ),
        Field(
            "endTime",
            "End time",
            Time12h(),
            required=True,
            description="End time, after the start time.",
            example="11:00 AM",
            aliases=("end", "to"),
        ),
        Field(
            "description",
            "Description",
            Text(),
            description="Optional description.",
            example="API testing",
        ),
        _id("roomId", "Room ID", "Optional room.", "478346000010125093", aliases=("room",)),
        Field(
            "lockUntil",
            "Lock until",
            DateText(),
            description="Optional lock date, DD-MM-YYYY.",
            example="",
            aliases=("lock until date", "locked until"),
        ),
        _id(
            "gradeCategoryId",
            "Grade category ID",
            "Optional grade category.",
            "478346000019553021",
            aliases=("grade category",),
        ),
    ),
    row_checks=(
        RowCheck("end_not_after_start", "endTime", _end_after_start, ("startTime", "endTime")),
        RowCheck(
            "trainer_missing",
            "trainerErecno",
            one_of("trainerErecno", "trainerEmail"),
            ("trainerErecno", "trainerEmail"),
        ),
    ),
    date_order="DMY",
    rate_limit="30 requests a minute; exceeding it locks the API for 5 minutes",
    notes=(
        "Dates are read day first (DD-MM-YYYY), as Zoho documents them.",
        "Times are the organisation's local time; Zoho takes no time zone.",
        "Format ID columns as Text: Excel rounds numbers longer than 15 digits.",
    ),
    messages=MESSAGES,
)
