"""Coursepath: import members and enrol them in a course and/or a program.

Source: shared/vendor-docs/coursepath-api-reference.txt. Coursepath has no
endpoint that creates a session: an import creates or updates a member (only
``email`` is required), enrols them, adds them to groups (by name) and may
send an invitation. The docs do not give the form of IDs, so any ID without
spaces is accepted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from importer.sheet.fields import Boolean, Email, Field, Identifier, Text, TextList
from importer.sheet.schema import RowCheck, Vendor

if TYPE_CHECKING:
    import pandas as pd  # a rule loads it when checked: the sheet's declaration stays light

__all__ = ["VENDOR"]

_ID = Identifier(
    pattern=r"[A-Za-z0-9_.-]+", code="id_format", hint_text="a Coursepath ID, e.g. 12345"
)


def _course_or_program(frame: pd.DataFrame) -> pd.Series:
    return frame["courseId"].notna() | frame["programId"].notna()


VENDOR = Vendor(
    name="coursepath",
    title="Coursepath (members, course and program enrolment)",
    fields=(
        Field(
            "email",
            "Email",
            Email(),
            required=True,
            description="The member's email; the member is created if new, else updated.",
            example="jane.doe@example.com",
            aliases=("e-mail", "mail", "email address"),
        ),
        Field(
            "name",
            "Name",
            Text(),
            description="Full name (derived from the email if empty).",
            example="Jane Doe",
            aliases=("full name", "member name"),
            empty_note="no name given: Coursepath derives it from the email",
        ),
        Field(
            "externalId",
            "External ID",
            Text(),
            description="The member's ID in your HR tool.",
            example="E-1042",
            aliases=("external id", "employee id"),
        ),
        Field("company", "Company", Text(), description="Company.", example="Acme"),
        Field("department", "Department", Text(), description="Department.", example="Sales"),
        Field("country", "Country", Text(), description="Country.", example="Belgium"),
        Field(
            "courseId",
            "Course ID",
            _ID,
            description="Enrol in this course.",
            example="12345",
            aliases=("course",),
            in_body=False,
        ),
        Field(
            "programId",
            "Program ID",
            _ID,
            description="Enrol in this program.",
            example="",
            aliases=("program", "programme id"),
            in_body=False,
        ),
        Field(
            "groups",
            "Groups",
            TextList(hint_text="group names separated by ; or new lines"),
            description="Groups to add the member to, by name, separated by ;.",
            example="Sales; New hires",
            aliases=("group",),
            in_body=False,
        ),
        Field(
            "invite",
            "Send invite",
            Boolean(),
            description="Send the invitation email (yes/no).",
            example="yes",
            aliases=("invite",),
            in_body=False,
        ),
    ),
    row_checks=(
        RowCheck("course_or_program", "courseId", _course_or_program, ("courseId", "programId")),
    ),
    rate_limit="none documented; we send one request at a time",
    notes=(
        "Each row needs a Course ID or a Program ID, or both.",
        "Group names are separated by ; (a comma may be part of a group's name).",
    ),
)
