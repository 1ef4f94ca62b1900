"""Columns and rules shared by 360Learning's v1 and v2 path-session APIs."""

from __future__ import annotations

from importer.sheet.fields import DateTimeUTC, Field, Identifier
from importer.sheet.schema import RowCheck, end_not_before_start

__all__ = [
    "END_DATE",
    "END_NOT_BEFORE_START",
    "HEX24",
    "MESSAGES",
    "PATH_ID",
    "START_DATE",
    "UTC_NOTE",
]

#: For the template's instructions: how 360Learning dates are read and sent.
UTC_NOTE = (
    "Dates without a time zone are read in the time zone given with --timezone "
    "(or timezone in the job file) and sent in UTC; a run given no time zone refuses them."
)

#: Every 360Learning ID: a MongoDB ObjectId (OpenAPI pattern ``^[a-fA-F0-9]{24}$``).
HEX24 = Identifier(
    pattern=r"[a-fA-F0-9]{24}",
    code="hex24",
    hint_text="a 24-character 360Learning ID, e.g. 507f1f77bcf86cd799439011",
)

#: The messages of 360Learning's own problem codes (see :attr:`Vendor.messages`).
MESSAGES = {
    "hex24": (
        "{value!r} is not a 360Learning ID: an ID has exactly 24 characters, "
        "digits 0-9 and letters a-f, e.g. 507f1f77bcf86cd799439011. Copy it from the "
        "address bar or the API."
    ),
}

PATH_ID = Field(
    "pathId",
    "Path ID",
    HEX24,
    required=True,
    description="The path the session belongs to (or give --path-id for the whole sheet).",
    example="6853f6de567dc5f80528f80d",
    aliases=("path",),
    in_body=False,
)
START_DATE = Field(
    "startDate",
    "Start date",
    DateTimeUTC(),
    required=True,
    description="When the session starts, local time of --timezone; sent in UTC.",
    example="2025-07-01 15:00",
    aliases=("start", "starts", "start date and time"),
)
END_DATE = Field(
    "endDate",
    "End date",
    DateTimeUTC(),
    description="When the session ends (optional); not before the start.",
    example="2025-07-31 15:00",
    aliases=("end", "ends", "end date and time"),
)
END_NOT_BEFORE_START = RowCheck(
    "end_before_start",
    "endDate",
    end_not_before_start("startDate", "endDate"),
    ("startDate", "endDate"),
)
