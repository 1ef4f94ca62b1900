"""360Learning v2 people: instructor emails become user IDs (``GET /api/v2/users?mail[eq]=``,
counted against the 50 reads a second)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from importer.core.errors import VendorUnavailableError
from importer.sending.protocol import Call, snippet
from importer.vendors.plugin import People

if TYPE_CHECKING:
    from importer.sending.sender import Sender

__all__ = ["PEOPLE"]


def _v2_user(sender: Sender, email: str) -> str | None:
    call = Call(
        "look the user up", "GET", "/api/v2/users", params={"mail[eq]": email}, writes=False
    )
    answer = sender.read(call, expect=lambda a: isinstance(a.body, list))
    if not 200 <= answer.status < 300:
        # The list documents 200, 401, 403 and 429 only: any other answer (a 404 or 409 from a
        # gateway) says nothing about the email, so it is never "not a user".
        raise VendorUnavailableError(f"could not {call.name}: answered {answer.status}"
                                     f"{snippet(answer)}")  # fmt: skip
    users = answer.body
    match = next(
        (u for u in users if isinstance(u, dict) and str(u.get("mail", "")).lower() == email),
        None,
    )
    return str(match["_id"]) if match and match.get("_id") else None


PEOPLE = People(
    fields=(
        ("mainInstructorEmail", "mainInstructorId", False),
        ("instructorEmails", "instructorIds", True),
    ),
    what="a 360Learning user of your company",
    find=_v2_user,
)
