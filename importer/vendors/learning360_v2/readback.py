"""360Learning v2 read-back: the sessions of a path (100 a page, following ``Link``); a created
session by its path and ID."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from importer.sending.protocol import Call
from importer.sending.readback import ReadBack, array, link_next, need, one, pages
from importer.vendors.learning360_v2.declared import EXPORT_PATH

if TYPE_CHECKING:
    from importer.sending.sender import Sender

__all__ = ["READBACK"]


def _export(sender: Sender, target: Mapping[str, str]) -> list[dict[str, Any]]:
    path = need(target, EXPORT_PATH.key, EXPORT_PATH.flag)
    first = Call("list the path's sessions", "GET", f"/api/v2/paths/{path}/sessions", writes=False)
    return list(pages(sender, first, array, link_next))


def _find(
    sender: Sender, created: Mapping[str, Mapping[str, Any]], target: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    found = {}
    for ident, sent in created.items():
        path = f"/api/v2/paths/{sent['pathId']}/sessions/{ident}"
        item = one(sender, Call("read the session", "GET", path, writes=False))
        if item is not None:
            found[ident] = item
    return found


READBACK = ReadBack(
    fields={
        "name": "name",
        "mainInstructorId": "mainInstructorId",
        "startDate": "startDate",
        "endDate": "endDate",
        "userLimit": "userLimit",
        "registrationRequestValidation": "registrationRequestValidation",
    },
    export=_export,
    find=_find,
)
