"""Plain-language messages for every problem code, written for training coordinators.

Each message says what is wrong with the value and what to type instead; the
row and column are added by the caller. No validator jargon reaches a user.

The codes here are the generic ones; a vendor's own codes (an ID in its format, a person
its API refuses) come with their messages in its sheet's declaration
(:attr:`importer.sheet.schema.Vendor.messages`), handed to :func:`explain`.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["MESSAGES", "explain"]

#: Problem code -> message template. Fields: value (as typed), detail (code
#: specific), hint (what the column takes).
MESSAGES: dict[str, str] = {
    "required": "this column is required, but the cell is empty.{type_hint}",
    "too_long": "{value!r} is too long: at most {detail} characters.",
    "id_format": "{value!r} is not a valid ID. Type {hint}.",
    "excel_rounded": (
        "Excel stored this ID as a number and has already rounded it ({value}): Excel keeps "
        "only 15 digits. Format the column as Text, then retype the full ID."
    ),
    "email": "{value!r} is not a valid email address. Type one address, e.g. jane.doe@example.com.",
    "email_in_list": (
        "{detail!r} is not a valid email address. Separate addresses with ; or , "
        "e.g. jane.doe@example.com; john.smith@example.com."
    ),
    "id_in_list": ("{detail!r} in this list is not a valid ID. Type {hint}, separated by ; or ,."),
    "list_item": "{detail!r} in this list is not valid. Type {hint}.",
    "too_many": "this list has {count} items; at most {limit} are allowed.",
    "integer_min": "{value!r} is not a whole number of {detail} or more. Type e.g. 30.",
    "integer_max": "this number is too large: at most {detail}. Type e.g. 30.",
    "choice": "{value!r} is not one of the allowed values. Type one of: {choices}.",
    "date_format": "{value!r} is not a date we can read. Type {hint}.",
    "date_range": (
        "{value!r} is too far in the past or the future to be sent in UTC. Check the year."
    ),
    "date_excel_1900": (
        "{value!r} is before 1 March 1900: Excel's calendar has a 29 February 1900 that never "
        "existed, so its dates that early are a day off, or that day. Type the real date."
    ),
    "digits": (
        "{value!r} has digits other than 0-9 (full-width or Arabic-Indic digits, as another "
        "keyboard types them): retype it with the digits 0-9."
    ),
    "date_nonexistent": (
        "{value!r} is not a real date (that month has no such day). Type a date that exists."
    ),
    "date_month_first": (
        "{value!r} is not a real date read day first, as this vendor's dates are; read month "
        "first it is one. If the sheet's dates are month first (12/31/2025), run again with "
        "--date-order MDY."
    ),
    "date_day_first": (
        "{value!r} is not a real date read month first (--date-order MDY); read day first it "
        "is one. If the sheet's dates are day first (31/12/2025), run without --date-order MDY."
    ),
    "year_two_digits": "{value!r} has a two-digit year. Type the year in full, e.g. 2025.",
    "date_has_time": (
        "{value!r} holds a time as well as a date; this column takes a date only. "
        "Put times in their own columns."
    ),
    "time_missing": (
        "{value!r} has a date but no time. Add the time of day, e.g. 2025-07-01 14:00 "
        "(Excel shows a time of midnight as a bare date: type 00:00 if you mean midnight)."
    ),
    "time_format": "{value!r} is not a time we can read. Type {hint}.",
    "time_invalid": (
        "{value!r} is not a valid time: hours go 1-12 with AM/PM, or 0-23 without. Type {hint}."
    ),
    "time_has_date": "{value!r} holds a date as well as a time; this column takes a time only.",
    "time_seconds": "{value!r} has seconds; sessions are set to the minute. Type e.g. 10:30 AM.",
    "time_skipped_dst": (
        "{value!r} does not exist in time zone {detail}: the clocks jump forward over it "
        "that night. Type a time an hour later, or check the date."
    ),
    "end_before_start": "the end ({value}) is before the start. Check both dates and times.",
    "end_not_after_start": "the end time ({value}) must be later than the start time.",
    "course_or_program": (
        "give a course ID or a program ID (or both): the member must be enrolled in something."
    ),
    "instructor_missing": "give the main instructor's ID or their email.",
    "trainer_missing": "give the trainer's erecno or their email.",
    "email_unknown": "{value!r} is not {detail} (looked up through the API). Check the address.",
    "path_id_missing": ("no path ID: add a pathId column, or give --path-id for the whole sheet."),
}


def explain(
    code: str,
    value: str,
    detail: str = "",
    hint: str = "",
    messages: Mapping[str, str] | None = None,
) -> str:
    """Return the plain message for a problem ``code`` about cell ``value``.

    ``messages``: the vendor's own codes and their templates (they win over the generic
    ones). Unknown codes still give a readable sentence rather than failing.
    """
    template = (messages or {}).get(code) or MESSAGES.get(code)
    if template is None:
        return f"{value!r} is not valid here ({code}). Type {hint or 'a valid value'}."
    count, _, limit = detail.partition("/")
    return template.format(
        value=value,
        detail=detail,
        hint=hint or "a value",
        count=count,
        limit=limit,
        choices=detail.replace(" | ", ", "),
        type_hint=f" Type {hint}." if hint and hint != "text" else "",
    )
