"""Zoho People read-back: the sessions of a module (25 a call from ``startIndex``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from importer.sending.protocol import Answer, Call
from importer.sending.readback import ReadBack, need, pages

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
    course = need(target, "course_id", "--course-id")
    batch = need(target, "batch_id", "--batch-id")
    module = need(target, "module_id", "--module-id")
    path = f"/api/v1/courses/{course}/batches/{batch}/modules/{module}/sessions"
    first = Call(
        "list the module's sessions", "GET", path, params={"startIndex": "1"}, writes=False
    )
    return list(pages(sender, first, _items, _next))


def _find(
    sender: Sender, created: Mapping[str, Mapping[str, Any]], target: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    # The modules to list: the target's, else those the created rows were sent to.
    modules = {(target.get("course_id"), target.get("batch_id"), target.get("module_id"))}
    if not all(next(iter(modules))):
        modules = {
            (s.get("courseId"), s.get("batchId"), s.get("moduleId")) for s in created.values()
        }
    found = {}
    for course, batch, module in modules:
        where = {"course_id": course or "", "batch_id": batch or "", "module_id": module or ""}
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
