"""360Learning API v2: create a path session.

Sources: the official OpenAPI file (``InputPathSessionDTO`` of
``POST /api/v2/paths/{pathId}/sessions``) and the v1 to v2 migration guide in
shared/vendor-docs/. Required: ``name``, ``mainInstructorId``,
``registrationRequestValidation``, ``startDate``; ``endDate`` is optional.
"""

from __future__ import annotations

from importer.sheet.fields import Choice, Email, EmailList, Field, IdList, Integer, Text
from importer.sheet.schema import RowCheck, Vendor, one_of
from importer.vendors.learning360_common.schema import (
    END_DATE,
    END_NOT_BEFORE_START,
    HEX24,
    MESSAGES,
    PATH_ID,
    START_DATE,
    UTC_NOTE,
)

__all__ = ["REGISTRATION_VALIDATION", "VENDOR"]

#: The five values of ``registrationRequestValidation``, with the words the UI uses.
REGISTRATION_VALIDATION = Choice(
    options=(
        ("disabled", ("none", "no", "no validation")),
        ("instructors", ("instructor",)),
        ("managers", ("manager",)),
        ("adminsAndManagers", ("admins managers", "admins & managers")),
        ("adminsCoachesInstructorsManagers", ("admins coaches instructors and managers",)),
    )
)

VENDOR = Vendor(
    name="360learning-v2",
    title="360Learning API v2 (path sessions)",
    fields=(
        PATH_ID,
        Field(
            "name",
            "Session name",
            Text(),
            required=True,
            description="The name learners see.",
            example="Employee Onboarding July Session",
            aliases=("session name", "sessionName", "session"),
        ),
        Field(
            "mainInstructorId",
            "Main instructor ID",
            HEX24,
            description="The 360Learning user ID of the main instructor (or give the email).",
            either="mainInstructorEmail",
            example="647098a731a809ed36889ed1",
            aliases=("main instructor", "instructor id"),
        ),
        Field(
            "instructorIds",
            "Co-instructor IDs",
            IdList(max_items=100, hint_text="24-character 360Learning user IDs"),
            description="Up to 100 co-instructors' user IDs, separated by ; or ,.",
            example="67769f32553f1e9171a186c0",
            aliases=("co-instructors", "co instructor ids", "instructors"),
        ),
        Field(
            "mainInstructorEmail",
            "Main instructor email",
            Email(),
            description="Instead of the ID: the main instructor's email, looked up in 360Learning.",
            aliases=("main instructor mail", "instructor email"),
            in_body=False,
        ),
        Field(
            "instructorEmails",
            "Co-instructor emails",
            EmailList(max_items=100, hint_text="email addresses separated by ; or ,"),
            description="Instead of the IDs: co-instructors' emails, looked up in 360Learning.",
            aliases=("co-instructor emails", "co instructor mails"),
            in_body=False,
        ),
        START_DATE,
        END_DATE,
        Field(
            "userLimit",
            "User limit",
            Integer(minimum=1),
            description="Most learners who can enrol themselves (optional, 1 or more).",
            example="30",
            aliases=("seats", "max learners", "capacity"),
        ),
        Field(
            "registrationRequestValidation",
            "Registration validation",
            REGISTRATION_VALIDATION,
            required=True,
            description="Who approves open registrations.",
            example="disabled",
            aliases=("registration request validation", "validation"),
        ),
        Field(
            "additionalInformation",
            "Additional information",
            Text(),
            description="Registration number, ID in another tool... (not shown to learners).",
            example="A0015221",
            aliases=("additional info", "sessionAdditionalInformation"),
        ),
    ),
    row_checks=(
        END_NOT_BEFORE_START,
        RowCheck(
            "instructor_missing",
            "mainInstructorId",
            one_of("mainInstructorId", "mainInstructorEmail"),
            ("mainInstructorId", "mainInstructorEmail"),
        ),
    ),
    rate_limit=(
        "10 writes a second per company, shared with its other integrations; 50 reads a second"
    ),
    notes=(
        UTC_NOTE,
        "360Learning picks the session's owner group from the main instructor's groups.",
    ),
    messages=MESSAGES,
)
