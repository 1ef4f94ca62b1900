"""360Learning v2 sandbox: ``PATCH`` and ``DELETE /api/v2/paths/{pathId}/sessions/{sessionId}``.

As the official OpenAPI file documents them: PATCH changes only the fields given and answers
200 with the session; DELETE answers 204. Their documented errors: 400 ``sessionNotBelongToPath``,
``sessionEnded``, ``unsupportedEndDateUpdate``, ``invalidStartOrEndDate``,
``invalidRegistrationRequestOption``; 404 ``pathNotFound``, ``sessionNotFound``,
``usersNotFound``, ``groupNotFound``; 401, 403, 429 as for every call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from importer.sandbox.http import Request, Response, Routes, json_response
from importer.sandbox.state import Created, SandboxState
from importer.vendors.learning360_common.sandbox import HEX24, V2_DATE, error_v2, iso, parse_date

__all__ = ["changes_routes"]

VENDOR = "360learning-v2"
#: The fields of the OpenAPI file's "Patch Path Session" body.
_PATCH_FIELDS = {
    "additionalInformation",
    "instructorIds",
    "mainInstructorId",
    "name",
    "groupId",
    "registrationRequestValidation",
    "startDate",
    "endDate",
    "userLimit",
    "automaticReenrollment",
    "ipFiltering",
}
_NULLABLE = {
    "additionalInformation",
    "endDate",
    "userLimit",
    "automaticReenrollment",
    "ipFiltering",
}

Guard = Callable[[Request, str, bool], "Response | None"]


def changes_routes(
    state: SandboxState,
    router: Routes,
    guard: Guard,
    account: dict[str, Any],
    check_v2_body: Callable[[Any], str | None],
) -> None:
    """Register PATCH and DELETE of a path session on ``router`` (``check_v2_body``: the
    create body's schema check, which a merged PATCH must pass too)."""

    def find(request: Request) -> tuple[Created | None, Response | None]:
        """The session a PATCH or DELETE names, after the version, token, scope and rate."""
        refused = guard(request, "paths:write", True)
        if refused:
            return None, refused
        path_id, session_id = request.params["pathId"], request.params["sessionId"]
        if not (HEX24.fullmatch(path_id) and HEX24.fullmatch(session_id)):
            # The pattern is documented; the answer to a broken one is not: 400 badRequest.
            return None, error_v2(400, "badRequest", "pathId and sessionId must be ObjectIds.")
        path = next((p for p in account["paths"] if p["_id"] == path_id), None)
        if path is None:
            return None, error_v2(404, "pathNotFound", "The given pathId does not exist.")
        session = next((c for c in state.objects(VENDOR, "session") if c.id == session_id), None)
        if session is None:
            return None, error_v2(404, "sessionNotFound", "The given sessionId does not exist.")
        if session.data["pathId"] != path_id:
            return None, error_v2(400, "sessionNotBelongToPath", "Not a session of this path.")
        return session, None

    def ended(session: dict[str, Any]) -> bool:
        # "Ended" is not defined by the docs: the sandbox takes a session whose end date has
        # passed on its clock (option v2_ended_sessions=allow: never ended).
        if state.options.get("v2_ended_sessions", "refuse") == "allow":
            return False
        end = parse_date(session.get("endDate"), V2_DATE)
        return end is not None and end.timestamp() < state.clock.time()

    @router.route("PATCH", "/api/v2/paths/{pathId}/sessions/{sessionId}")
    def patch_session(request: Request) -> Response:
        created, problem = find(request)
        if problem or created is None:
            return problem or error_v2(404, "sessionNotFound", "No such session.")
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or set(body) - _PATCH_FIELDS:
            # Schema violations are not in the documented errors: 400 badRequest, as for POST.
            return error_v2(400, "badRequest", "The body must be a Patch Path Session object.")
        nulls = {k for k, v in body.items() if v is None}
        # The file marks these fields "nullable: true", an OpenAPI 3.0 keyword its 3.1 schema
        # dialect ignores: null clears them by default; v2_patch_nulls=refuse answers 400.
        if nulls and state.options.get("v2_patch_nulls") == "refuse":
            return error_v2(400, "badRequest", f"{', '.join(sorted(nulls))} cannot be null.")
        if nulls - _NULLABLE:
            return error_v2(400, "badRequest", f"{', '.join(sorted(nulls))} cannot be null.")
        session = created.data
        if ended(session):
            code = "unsupportedEndDateUpdate" if "endDate" in body else "sessionEnded"
            return error_v2(400, code, "The session has ended.")
        merged = {k: v for k, v in session.items() if k in _PATCH_FIELDS - {"groupId"}}
        merged.update({k: v for k, v in body.items() if k != "groupId"})
        merged = {k: v for k, v in merged.items() if v is not None}
        problem_text = check_v2_body(merged)
        if problem_text:
            return error_v2(400, "badRequest", problem_text)
        users = {u["_id"] for u in account["users"]}
        if any(
            p not in users for p in [merged["mainInstructorId"], *merged.get("instructorIds", [])]
        ):
            return error_v2(404, "usersNotFound", "An instructor does not exist.")
        start = parse_date(merged["startDate"], V2_DATE)
        end = parse_date(merged.get("endDate"), V2_DATE)
        if start is None or (end is not None and end < start):
            return error_v2(400, "invalidStartOrEndDate", "endDate is before startDate.")
        group_id = body.get("groupId") or session["groupId"]
        group = next((g for g in account["groups"] if g["_id"] == group_id), None)
        if group is None:
            return error_v2(404, "groupNotFound", "The given groupId does not exist.")
        if "registrationRequestValidation" in body and body[
            "registrationRequestValidation"
        ] not in group.get("registrationOptions", []):
            # Checked against the session's owner group (the docs: "not active for this group").
            return error_v2(
                400, "invalidRegistrationRequestOption", "That option is not active for the group."
            )
        # Whether a new main instructor moves the owner group is not documented: it is kept.
        with state.lock:
            for name, value in body.items():
                if value is None:
                    session.pop(name, None)
                else:
                    session[name] = value
            session["modifiedAt"] = iso(state.clock.time())
        return json_response(200, session)

    # A "drop" fault loses the answers to these writes too, once they are done.
    patch_session.creates = True  # type: ignore[attr-defined]

    @router.route("DELETE", "/api/v2/paths/{pathId}/sessions/{sessionId}")
    def delete_session(request: Request) -> Response:
        created, problem = find(request)
        if problem or created is None:
            return problem or error_v2(404, "sessionNotFound", "No such session.")
        state.remove(VENDOR, "session", created.id)
        return json_response(204, None)

    delete_session.creates = True  # type: ignore[attr-defined]
