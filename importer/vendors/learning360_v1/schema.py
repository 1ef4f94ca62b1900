"""360Learning API v1: create a path session (deprecated; sunset planned mid-2027).

Source: shared/vendor-docs/360learning-v1-create-path-session.txt.
``POST /api/v1/paths/{pathId}/sessions/`` with ``sessionName``, ``startDate``,
``endDate``, ``instructorsMails``, ``sessionOwnerGroup``,
``sessionAdditionalInformation``.
"""

from __future__ import annotations

from importer.sheet.fields import EmailList, Field, Text
from importer.sheet.schema import Vendor
from importer.vendors.learning360_common.schema import (
    END_DATE,
    END_NOT_BEFORE_START,
    HEX24,
    MESSAGES,
    PATH_ID,
    START_DATE,
    UTC_NOTE,
)

__all__ = ["VENDOR"]

VENDOR = Vendor(
    name="360learning-v1",
    title="360Learning API v1 (path sessions; deprecated, sunset mid-2027)",
    fields=(
        PATH_ID,
        Field(
            "sessionName",
            "Session name",
            Text(),
            required=True,
            description="The name learners see.",
            example="Employee Onboarding July Session",
            aliases=("name", "session"),
        ),
        START_DATE,
        END_DATE,
        Field(
            "instructorsMails",
            "Instructor emails",
            EmailList(),
            description=(
                "Instructors' emails, the main instructor first. Leave empty to make the "
                "platform owner the instructor."
            ),
            example="jane.doe@example.com",
            aliases=("instructors", "instructor emails", "instructor"),
            empty_note="no instructor given: 360Learning makes the platform owner the instructor",
        ),
        Field(
            "sessionOwnerGroup",
            "Owner group ID",
            HEX24,
            required=True,
            description="ID of the group owning the session.",
            example="624c5526204fc7207e603ea6",
            aliases=("owner group", "group", "group id", "session owner group"),
        ),
        Field(
            "sessionAdditionalInformation",
            "Additional information",
            Text(),
            description="Registration number, ID in another tool... (not shown to learners).",
            example="A0015221",
            aliases=("additional information", "additional info"),
        ),
    ),
    row_checks=(END_NOT_BEFORE_START,),
    rate_limit="none documented",
    notes=(
        UTC_NOTE,
        "If Instructor emails is empty, 360Learning makes the platform owner the instructor.",
    ),
    messages=MESSAGES,
)
