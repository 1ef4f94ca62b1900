"""People by email: resolve email columns to the IDs the vendor wants, once per email.

Which columns, and how one email is looked up, is each vendor's
(:class:`~importer.vendors.plugin.People`: 360Learning v2's users by ``mail[eq]``, Zoho's
employee records then its LMS trainer list).

Each distinct email is looked up once per run. An email nobody has is a row error naming it.
A lookup the vendor kept failing (429, 5xx, a lock, a timeout, an undocumented answer) proves
nothing about the email: its rows are held back as ``not sent``, with the vendor's cause,
safe to re-run; never reported as the coordinator's mistake.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from importer.core.errors import VendorUnavailableError
from importer.core.messages import explain
from importer.sending.sender import Sender
from importer.sheet.validation import RowError, ValidationReport
from importer.vendors.plugin import People, Plugin

__all__ = ["email_fields", "resolve_people"]


def email_fields(plugin: Plugin) -> tuple[tuple[str, str, bool], ...]:
    """``(email field, ID field, several or one)`` of a vendor's email columns (none: ``()``)."""
    return plugin.people.fields if plugin.people else ()


def _emails(report: ValidationReport, fields: tuple[tuple[str, str, bool], ...]) -> set[str]:
    wanted: set[str] = set()
    valid = report.values.drop(index=list(report.errors))
    for email_field, _, _ in fields:
        for cell in valid[email_field].dropna():
            wanted.update(e.strip().lower() for e in str(cell).split(";") if e.strip())
    return wanted


def resolve_people(
    report: ValidationReport, sender: Sender, people: People | None
) -> tuple[ValidationReport, dict[str, Any]]:
    """Fill ID fields from email fields; rows with an unknown email become invalid.

    Returns the updated report and figures (emails looked up, found, unknown; and when the
    vendor kept failing, ``unchecked`` and ``held``: sheet row -> why it is not sent).
    ``people``: the vendor's declaration (``None``: it takes no emails).
    """
    if people is None:
        return report, {}
    fields = people.fields
    emails = _emails(report, fields)
    if not emails:
        return report, {}
    found: dict[str, str | None] = {}
    unchecked: dict[str, str] = {}
    trainers: set[str] | None = None
    for email in sorted(emails):
        try:
            found[email] = people.find(sender, email)
        except VendorUnavailableError as error:
            unchecked[email] = str(error)
    if people.allowed is not None and any(found.values()):
        try:
            trainers = people.allowed(sender)
        except VendorUnavailableError as error:
            unchecked.update(dict.fromkeys((e for e, i in found.items() if i), str(error)))
    held: dict[int, str] = {}
    values = report.values.copy()
    errors: dict[int, list[RowError]] = {row: list(errs) for row, errs in report.errors.items()}
    what = people.what
    for email_field, id_field, many in fields:
        header = report.columns.fields.get(email_field, report.vendor.field(email_field).label)
        for row, cell in values[email_field].dropna().items():
            if int(str(row)) in report.errors:
                continue
            ids, problems = [], []
            for email in (e.strip().lower() for e in str(cell).split(";") if e.strip()):
                ident = found.get(email)
                if email in unchecked:
                    held.setdefault(
                        int(str(row)),
                        f"not sent: {email} could not be checked at the vendor "
                        f"({unchecked[email]})",
                    )
                elif ident is None:
                    problems.append(("email_unknown", email))
                elif trainers is not None and ident not in trainers:
                    problems.append((people.not_allowed, email))
                else:
                    ids.append(ident)
            for code, email in problems:
                message = explain(code, email, what, messages=report.vendor.messages)
                errors.setdefault(int(str(row)), []).append(
                    RowError(int(str(row)), header, email, code, message)
                )
            if problems or int(str(row)) in held:
                continue
            if many:
                given = [
                    i for i in str(values.at[row, id_field] or "").split(";") if i and i != "nan"
                ]
                merged = list(dict.fromkeys(given + ids))
                values.at[row, id_field] = ";".join(merged) if merged else pd.NA
            elif pd.isna(values[id_field].get(row)):
                values.at[row, id_field] = ids[0]
    resolved = dataclasses.replace(
        report, values=values, errors={row: tuple(errs) for row, errs in sorted(errors.items())}
    )
    figures: dict[str, Any] = {
        "emails": len(emails),
        "found": sum(1 for e, v in found.items() if v and e not in unchecked),
        "unknown": sum(1 for e, v in found.items() if not v and e not in unchecked),
    }
    if unchecked:  # rows held back as "not sent", with the vendor's cause (popped by the caller)
        figures["unchecked"] = len(unchecked)
        figures["held"] = {row: held[row] for row in held if row not in errors}
    return resolved, figures
