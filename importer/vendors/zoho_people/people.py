"""Zoho People people: a trainer's email becomes the trainer's erecno (``Zoho_ID``) through the
employee records lookup (its own 400-a-minute limit), checked against the LMS trainer list."""

from __future__ import annotations

from typing import TYPE_CHECKING

from importer.core.errors import VendorUnavailableError
from importer.sending.protocol import Answer, Call, snippet
from importer.vendors.plugin import People

if TYPE_CHECKING:
    from importer.sending.sender import Sender

__all__ = ["PEOPLE"]


def _no_records(answer: Answer) -> bool:
    """People's "no records" error (7024) in its envelope: the email is nobody's."""
    body = answer.body if isinstance(answer.body, dict) else {}
    response = body.get("response")
    errors = response.get("errors") if isinstance(response, dict) else None
    return isinstance(errors, dict) and errors.get("code") in (7024, "7024")


def _zoho_records(answer: Answer) -> bool:
    """A records answer that proves something: results, or the "no records" error (7024)."""
    body = answer.body if isinstance(answer.body, dict) else {}
    response = body.get("response")
    if not isinstance(response, dict):
        return False
    return isinstance(response.get("result"), list) or _no_records(answer)


def _zoho_employee(sender: Sender, email: str) -> str | None:
    call = Call(
        "look the employee up",
        "GET",
        "/people/api/forms/employee/getRecords",
        params={"searchColumn": "EMPLOYEEMAILALIAS", "searchValue": email},
        writes=False,
    )
    answer = sender.read(call, expect=_zoho_records)
    if not 200 <= answer.status < 300 and not _no_records(answer):
        # Only the envelope's "no records" (7024) proves the email is nobody's; another answer
        # (a 404 or 409 from a gateway, undocumented) says nothing about it.
        raise VendorUnavailableError(
            f"could not {call.name}: answered {answer.status}{snippet(answer)}"
        )
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


PEOPLE = People(
    fields=(("trainerEmail", "trainerErecno", False),),
    what="a Zoho People employee",
    find=_zoho_employee,
    allowed=_zoho_trainers,
)
