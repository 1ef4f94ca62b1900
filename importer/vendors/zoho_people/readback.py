"""Zoho People read-back: the sessions of a module (25 a call from ``startIndex``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from importer.sending.protocol import Answer, Call
from importer.sending.readback import ReadBack, need, pages
from importer.vendors.zoho_people.declared import BATCH, COURSE, MODULE

if TYPE_CHECKING:
    from importer.sending.sender import Sender

__all__ = ["READBACK"]


def _items(answer: Answer) -> list[Any]:
    body = answer.body if isinstance(answer.body, dict) else {}
    listed = body.get("sessions")
    return listed if isinstance(listed, list) else []


def _next(call: Call, answer: Answer, count: int) -> Call | None:
    if count < 25:
        return None
    start = int((call.params or {}).get("startIndex", "1")) + 25
    return Call(call.name, "GET", call.path, params={"startIndex": str(start)}, writes=False)


def _export(sender: Sender, target: Mapping[str, str]) -> list[dict[str, Any]]:
    course, batch, module = (need(target, t.key, t.flag) for t in (COURSE, BATCH, MODULE))
    path = f"/api/v1/courses/{course}/batches/{batch}/modules/{module}/sessions"
    first = Call(
        "list the module's sessions", "GET", path, params={"startIndex": "1"}, writes=False
    )
    return list(pages(sender, first, _items, _next))


def _find(
    sender: Sender, created: Mapping[str, Mapping[str, Any]], target: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    # The modules to list: the target's, else those the created rows were sent to.
    modules = {(target.get(COURSE.key), target.get(BATCH.key), target.get(MODULE.key))}
    if not all(next(iter(modules))):
        modules = {
            (s.get("courseId"), s.get("batchId"), s.get("moduleId")) for s in created.values()
        }
    found = {}
    for course, batch, module in modules:
        where = {COURSE.key: course or "", BATCH.key: batch or "", MODULE.key: module or ""}
        found.update({str(item.get("sessionId")): item for item in _export(sender, where)})
    return found


READBACK = ReadBack(
    fields={
        "name": "sessionName",
        "date": "sessionStartDate",
        "startTime": "sessionStartTime",
        "endTime": "sessionEndTime",
        "trainerErecno": "trainerErecno",
    },
    export=_export,
    find=_find,
)
