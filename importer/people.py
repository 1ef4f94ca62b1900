"""People by email: resolve email columns to the IDs the vendor wants, once per email.

* 360Learning v2: ``mainInstructorEmail`` and ``instructorEmails`` -> user IDs, through
  ``GET /api/v2/users?mail[eq]=...`` (counted against the 50 reads a second).
* Zoho People: ``trainerEmail`` -> the trainer's erecno (``Zoho_ID``), through the employee
  records lookup (its own 400-a-minute limit), then checked against the LMS trainer list.

Each distinct email is looked up once per run. An email nobody has is a row error naming it.
A lookup the vendor kept failing (429, 5xx, a lock, a timeout, an undocumented answer) proves
nothing about the email: its rows are held back as ``not sent``, with the vendor's cause,
safe to re-run; never reported as the coordinator's mistake.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from importer.adapters.base import Answer, Call
from importer.errors import VendorUnavailableError
from importer.messages import explain
from importer.sender import Sender
from importer.validation import RowError, ValidationReport

__all__ = ["EMAIL_FIELDS", "resolve_people"]

#: vendor -> (email field, ID field, list or not)
EMAIL_FIELDS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "360learning-v2": (
        ("mainInstructorEmail", "mainInstructorId", False),
        ("instructorEmails", "instructorIds", True),
    ),
    "zoho-people": (("trainerEmail", "trainerErecno", False),),
}


def _emails(report: ValidationReport, fields: tuple[tuple[str, str, bool], ...]) -> set[str]:
    wanted: set[str] = set()
    valid = report.values.drop(index=list(report.errors))
    for email_field, _, _ in fields:
        for cell in valid[email_field].dropna():
            wanted.update(e.strip().lower() for e in str(cell).split(";") if e.strip())
    return wanted


def _v2_user(sender: Sender, email: str) -> str | None:
    call = Call(
        "look the user up", "GET", "/api/v2/users", params={"mail[eq]": email}, writes=False
    )
    answer = sender.read(call, expect=lambda a: isinstance(a.body, list))
    users = answer.body if 200 <= answer.status < 300 else []
    match = next(
        (u for u in users if isinstance(u, dict) and str(u.get("mail", "")).lower() == email),
        None,
    )
    return str(match["_id"]) if match and match.get("_id") else None


def _zoho_records(answer: Answer) -> bool:
    """A records answer that proves something: results, or the "no records" error (7024)."""
    body = answer.body if isinstance(answer.body, dict) else {}
    response = body.get("response")
    if not isinstance(response, dict):
        return False
    errors = response.get("errors")
    code = errors.get("code") if isinstance(errors, dict) else None
    return isinstance(response.get("result"), list) or code in (7024, "7024")


def _zoho_employee(sender: Sender, email: str) -> str | None:
    call = Call(
        "look the employee up",
        "GET",
        "/people/api/forms/employee/getRecords",
        params={"searchColumn": "EMPLOYEEMAILALIAS", "searchValue": email},
        writes=False,
    )
    answer = sender.read(call, expect=_zoho_records)
    body = answer.body if isinstance(answer.body, dict) else {}
    for record in body.get("response", {}).get("result", []) or []:
        for details in record.values() if isinstance(record, dict) else []:
            for detail in details if isinstance(details, list) else []:
                if str(detail.get("EmailID", "")).lower() == email and detail.get("Zoho_ID"):
                    return str(detail["Zoho_ID"])
    return None


def _zoho_trainers(sender: Sender) -> set[str]:
    """Every registered trainer's erecno (25 a call, as the LMS lists go)."""
    trainers: set[str] = set()
    start = 1
    while True:
        call = Call(
            "list trainers",
            "GET",
            "/api/v1/trainers",
            params={"startIndex": str(start)},
            writes=False,
        )
        answer = sender.read(
            call,
            expect=lambda a: isinstance(a.body, dict) and isinstance(a.body.get("trainers"), list),
        )
        if not 200 <= answer.status < 300:
            raise VendorUnavailableError(
                f"could not list the LMS trainers: answered {answer.status}. Nothing was changed"
            )
        listed = answer.body["trainers"]
        trainers.update(str(t.get("erecno")) for t in listed if isinstance(t, dict))
        if len(listed) < 25:
            return trainers
        start += 25


def resolve_people(
    report: ValidationReport, sender: Sender
) -> tuple[ValidationReport, dict[str, Any]]:
    """Fill ID fields from email fields; rows with an unknown email become invalid.

    Returns the updated report and figures (emails looked up, found, unknown; and when the
    vendor kept failing, ``unchecked`` and ``held``: sheet row -> why it is not sent).
    """
    vendor = report.vendor.name
    fields = EMAIL_FIELDS.get(vendor)
    if not fields:
        return report, {}
    emails = _emails(report, fields)
    if not emails:
        return report, {}
    found: dict[str, str | None] = {}
    unchecked: dict[str, str] = {}
    trainers: set[str] | None = None
    for email in sorted(emails):
        try:
            found[email] = (
                _v2_user(sender, email)
                if vendor == "360learning-v2"
                else _zoho_employee(sender, email)
            )
        except VendorUnavailableError as error:
            unchecked[email] = str(error)
    if vendor == "zoho-people" and any(found.values()):
        try:
            trainers = _zoho_trainers(sender)
        except VendorUnavailableError as error:
            unchecked.update(dict.fromkeys((e for e, i in found.items() if i), str(error)))
    held: dict[int, str] = {}
    values = report.values.copy()
    errors: dict[int, list[RowError]] = {row: list(errs) for row, errs in report.errors.items()}
    what = (
        "a 360Learning user of your company"
        if vendor == "360learning-v2"
        else "a Zoho People employee"
    )
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
                    problems.append(("not_a_trainer", email))
                else:
                    ids.append(ident)
            for code, email in problems:
                message = explain(code, email, what)
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
