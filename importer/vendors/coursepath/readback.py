"""Coursepath read-back: the members of a course (``offset``/``limit``); a created member by
its ID (a member enrolled only in a program is in no course's list)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from importer.sending.protocol import Answer, Call
from importer.sending.readback import ReadBack, need, offset_next, one, pages
from importer.vendors.coursepath.declared import COURSE
from importer.vendors.coursepath.wire import items_of

if TYPE_CHECKING:
    from importer.sending.sender import Sender

__all__ = ["READBACK"]


def _members(answer: Answer) -> list[Any]:
    return items_of(answer.body) or []  # bare or wrapped, as the wire reads them


def _export(sender: Sender, target: Mapping[str, str]) -> list[dict[str, Any]]:
    course = need(target, COURSE.key, COURSE.flag)
    first = Call(
        "list the course's members",
        "GET",
        f"/api/v1/courses/{course}/members",
        params={"offset": "0", "limit": "100"},
        writes=False,
    )
    return list(pages(sender, first, _members, offset_next))


def _find(
    sender: Sender, created: Mapping[str, Mapping[str, Any]], target: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    found = {}
    for ident in created:
        item = one(sender, Call("read the member", "GET", f"/api/v1/members/{ident}", writes=False))
        if item is not None:
            found[ident] = item
    return found


READBACK = ReadBack(
    fields={"email": "email", "name": "name", "company": "company", "department": "department"},
    export=_export,
    find=_find,
)
