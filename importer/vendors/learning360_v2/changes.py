"""360Learning v2: update a path session field by field, delete it (the official OpenAPI file).

``PATCH /api/v2/paths/{pathId}/sessions/{sessionId}``: "fields not included in the request
payload remain unchanged"; 200 with the updated session. ``DELETE`` of the same path: 204.
Both need the ``paths:write`` scope. A session cannot move to another path (no such field).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from importer.sending.protocol import Answer, Call, Outcome, fill
from importer.vendors.learning360_v2.wire import ADAPTER
from importer.vendors.plugin import Changes

__all__ = ["CHANGES"]

#: Sheet fields the PATCH body takes, as they are (the others are converted below).
_PLAIN = ("name", "mainInstructorId", "startDate", "registrationRequestValidation")
#: Fields the OpenAPI file marks ``nullable``: an emptied cell clears them with null. The file
#: is OpenAPI 3.1, whose schemas ignore ``nullable`` (a 3.0 keyword): whether the API takes
#: null is not certain (the sandbox's ``v2_patch_nulls=refuse`` answers 400 badRequest, which
#: the row then reports as refused).
_NULLABLE = ("endDate", "userLimit", "additionalInformation")

_MESSAGES = {
    "childPathSession": "360Learning refuses to change a child session {sessionId} directly.",
    "sessionEnded": "The session {sessionId} has ended: 360Learning refuses to change it.",
    "unsupportedEndDateUpdate": "The session {sessionId} has ended: its end date cannot change.",
    "sessionNotBelongToPath": "The session {sessionId} is not in the path {pathId}.",
    "sessionNotFound": "360Learning has no session {sessionId} (deleted in its pages?).",
    "groupNotFound": "360Learning has no such owner group.",
}


def _update(before: Mapping[str, Any], after: Mapping[str, Any], ident: str) -> list[Call] | str:
    if str(before.get("pathId")) != str(after.get("pathId")):
        return (  # {undo}: the command that deletes this row's session (importer.jobs.changes)
            "360Learning cannot move a session to another path: delete this row's session "
            "({undo}) and import the row again, or change the path back"
        )
    body: dict[str, Any] = {}
    for name in _PLAIN:
        if str(before.get(name) or "") != str(after.get(name) or "") and after.get(name):
            body[name] = after[name]
    if str(before.get("instructorIds") or "") != str(after.get("instructorIds") or ""):
        ids = str(after.get("instructorIds") or "")
        body["instructorIds"] = ids.split(";") if ids else []
    for name in _NULLABLE:
        if str(before.get(name) or "") != str(after.get(name) or ""):
            value = after.get(name)
            body[name] = None if not value else int(str(value)) if name == "userLimit" else value
    if not body:
        return []
    path = f"/api/v2/paths/{after['pathId']}/sessions/{ident}"
    return [Call("update the session", "PATCH", path, json=body)]


def _delete(values: Mapping[str, Any], ident: str) -> list[Call]:
    path = f"/api/v2/paths/{values['pathId']}/sessions/{ident}"
    return [Call("delete the session", "DELETE", path)]


def _interpret(call: Call, answer: Answer) -> Outcome:
    body = answer.body
    if call.method == "DELETE" and answer.status in (200, 204):
        return Outcome("ok")  # the OpenAPI file says 204; a 200 proves the same
    if call.method == "PATCH" and answer.status == 200 and isinstance(body, dict):
        return Outcome("ok", ident=str(body.get("_id") or ""))
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code", "") if isinstance(error, dict) else ""
    parts = call.path.split("/")
    fields = dict(call.json or {}) | {"pathId": parts[4], "sessionId": parts[6]}
    if answer.status == 404 and code == "sessionNotFound" and call.method == "DELETE":
        return Outcome("ok", message="already deleted")
    if code in _MESSAGES:
        return Outcome("rejected", message=fill(_MESSAGES[code], fields))
    return ADAPTER.interpret(call, answer)  # the create's codes, 401, 403, 429, 5xx


CHANGES = Changes(
    interpret=_interpret,
    update=_update,
    delete=_delete,
    documented_errors=(
        ("PATCH", 400, {"error": {"code": "sessionEnded"}}, "rejected", "has ended"),
        ("PATCH", 400, {"error": {"code": "invalidStartOrEndDate"}}, "rejected", "end is before"),
        ("PATCH", 400, {"error": {"code": "childPathSession"}}, "rejected", "child session"),
        ("PATCH", 400, {"error": {"code": "unsupportedEndDateUpdate"}}, "rejected", "end date"),
        ("PATCH", 404, {"error": {"code": "sessionNotFound"}}, "rejected", "no session"),
        ("PATCH", 404, {"error": {"code": "usersNotFound"}}, "rejected", "not a 360Learning"),
        ("PATCH", 401, {"error": "invalid_token"}, "reauth", "access token"),
        ("PATCH", 403, {"error": {"code": "invalid_scope"}}, "fatal", "paths:write"),
        ("PATCH", 429, {"error": "tooManyRequests"}, "retry", "too many requests"),
        ("DELETE", 204, None, "ok", ""),
        ("DELETE", 404, {"error": {"code": "sessionNotFound"}}, "ok", "already deleted"),
        ("DELETE", 404, {"error": {"code": "pathNotFound"}}, "rejected", "has no path"),
        ("DELETE", 400, {"error": {"code": "sessionNotBelongToPath"}}, "rejected", "not in the"),
        ("DELETE", 401, {"error": "invalid_token"}, "reauth", "access token"),
        ("DELETE", 403, {"error": {"code": "invalid_scope"}}, "fatal", "paths:write"),
        ("DELETE", 429, {"error": "tooManyRequests"}, "retry", "too many requests"),
    ),
)
