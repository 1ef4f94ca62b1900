"""People by email: resolve email columns to the IDs the vendor wants, once per email.

* 360Learning v2: ``mainInstructorEmail`` and ``instructorEmails`` -> user IDs, through
  ``GET /api/v2/users?mail[eq]=...`` (counted against the 50 reads a second).
* Zoho People: ``trainerEmail`` -> the trainer's erecno (``Zoho_ID``), through the employee
  records lookup (its own 400-a-minute limit), then checked against the LMS trainer list.

Each distinct email is looked up once per run. An email nobody has is a row error naming it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from importer.adapters.base import Call
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
    answer = sender.read(
        Call("look the user up", "GET", "/api/v2/users", params={"mail[eq]": email}, writes=False)
    )
    users = answer.body if answer is not None and isinstance(answer.body, list) else []
    match = next((u for u in users if str(u.get("mail", "")).lower() == email), None)
    return str(match["_id"]) if match else None


def _zoho_employee(sender: Sender, email: str) -> str | None:
    call = Call(
        "look the employee up",
        "GET",
        "/people/api/forms/employee/getRecords",
        params={"searchColumn": "EMPLOYEEMAILALIAS", "searchValue": email},
        writes=False,
    )
    answer = sender.read(call)
    body = answer.body if answer is not None and isinstance(answer.body, dict) else {}
    for record in body.get("response", {}).get("result", []) or []:
        for details in record.values():
            for detail in details:
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
        answer = sender.read(call)
        listed = (
            answer.body.get("trainers", [])
            if answer is not None and isinstance(answer.body, dict)
            else []
        )
        trainers.update(str(t.get("erecno")) for t in listed)
        if len(listed) < 25:
            return trainers
        start += 25


def resolve_people(
    report: ValidationReport, sender: Sender
) -> tuple[ValidationReport, dict[str, Any]]:
    """Fill ID fields from email fields; rows with an unknown email become invalid.

    Returns the updated report and figures (emails looked up, found, unknown).
    """
    vendor = report.vendor.name
    fields = EMAIL_FIELDS.get(vendor)
    if not fields:
        return report, {}
    emails = _emails(report, fields)
    if not emails:
        return report, {}
    found: dict[str, str | None] = {}
    trainers: set[str] | None = None
    for email in sorted(emails):
        found[email] = (
            _v2_user(sender, email) if vendor == "360learning-v2" else _zoho_employee(sender, email)
        )
    if vendor == "zoho-people" and any(found.values()):
        trainers = _zoho_trainers(sender)
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
                if ident is None:
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
            if problems:
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
    figures = {
        "emails": len(emails),
        "found": sum(1 for v in found.values() if v),
        "unknown": sum(1 for v in found.values() if not v),
    }
    return resolved, figures
