"""360Learning API v1, as documented (shared/vendor-docs/360learning-v1-*.txt).

``POST /api/v1/paths/{pathId}/sessions/`` (every error of its doc's table, with its
status and body), the list of all path sessions, and ``GET /api/v1/programs/sessions/{id}/``.
"""

from __future__ import annotations

from typing import Any

from importer.sandbox.http import Request, Response, Routes, json_response
from importer.sandbox.part import SandboxPart
from importer.sandbox.state import SandboxState
from importer.vendors.learning360_common.sandbox import (
    EMAIL,
    HEX24,
    PREFIX,
    SEED,
    V1_DATE,
    error_v1,
    parse_date,
)

__all__ = ["PART", "VENDOR", "build"]

VENDOR = "360learning-v1"


def build(state: SandboxState, router: Routes) -> None:
    """Register the v1 routes on ``router``."""
    account = state.seed[SEED]

    def authenticated(request: Request) -> bool:
        company = request.arg("company") or request.headers.get("x-company-id")
        key = request.arg("apiKey") or request.headers.get("x-apikey")
        return bool(company == account["company"] and key == account["api_key"])

    @router.route("POST", "/api/v1/paths/{pathId}/sessions/")
    def create_session(request: Request) -> Response:
        if not authenticated(request):
            # The doc's table lists no auth error; a wrong or missing key is refused with
            # 401 and the flat v1 error shape, as other v1 routes of the Postman docs show.
            return error_v1(401, "unauthorized")
        path = next((p for p in account["paths"] if p["_id"] == request.params["pathId"]), None)
        if path is None:
            return error_v1(404, "path_not_found")
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        name = body.get("sessionName")
        if not isinstance(name, str) or not name.strip():
            return error_v1(400, "invalid_session_name")
        start = parse_date(body.get("startDate"), V1_DATE)
        if start is None:
            return error_v1(400, "invalid_start_date")
        end = None
        if body.get("endDate") is not None:
            end = parse_date(body.get("endDate"), V1_DATE)
            # The doc only says "not valid"; an end before the start is not a valid end.
            if end is None or end < start:
                return error_v1(400, "invalid_end_date")
        group = body.get("sessionOwnerGroup")
        if not isinstance(group, str) or not HEX24.fullmatch(group):
            return error_v1(400, "invalid_session_owner_group")
        if not any(g["_id"] == group for g in account["groups"]):
            return error_v1(400, "session_owner_group_not_found")
        instructors: list[str]
        if "instructorsMails" in body:
            mails = body["instructorsMails"]
            # The doc contradicts itself: its text says an empty array makes the platform owner
            # instructor, its error table says null, empty or item-less is invalid_instructors.
            # We follow the table (the stricter reading); clients should omit the field instead.
            if not isinstance(mails, list) or not mails:
                return error_v1(400, "invalid_instructors")
            if not all(isinstance(m, str) and EMAIL.fullmatch(m) for m in mails):
                return error_v1(400, "invalid_instructors")
            known = {u["mail"].lower(): u for u in account["users"]}
            if any(m.lower() not in known for m in mails):
                # The doc prints the body as { "error": "instructors"_not_found }: a typo for this.
                return error_v1(400, "instructors_not_found")
            instructors = [known[m.lower()]["_id"] for m in mails]
        else:
            instructors = [u["_id"] for u in account["users"] if u.get("owner")]
        ident = state.new_id("hex24")
        session = {
            "_id": ident,
            "pathId": path["_id"],
            "sessionName": name,
            "startDate": body["startDate"],
            "endDate": body.get("endDate"),
            "instructorIds": instructors,
            "sessionOwnerGroup": group,
            "sessionAdditionalInformation": body.get("sessionAdditionalInformation"),
        }
        state.record(VENDOR, "session", ident, session, body)
        return json_response(200, {"status": "session_created", "_id": ident})

    create_session.creates = True  # type: ignore[attr-defined]

    @router.route("GET", "/api/v1/paths/sessions")
    def path_sessions(request: Request) -> Response:
        # "List all sessions in a path" (migration guide): every path session of the company.
        if not authenticated(request):
            return error_v1(401, "unauthorized")
        listed = [
            {"sessionId": c.id, "sessionName": c.data["sessionName"], "pathId": c.data["pathId"],
             "startDate": c.data["startDate"], "endDate": c.data["endDate"],
             "sessionAdditionalInformation": c.data["sessionAdditionalInformation"]}
            for c in state.objects(VENDOR, "session")
        ]  # fmt: skip
        return json_response(200, listed)

    @router.route("GET", "/api/v1/programs/sessions/{sessionId}/")
    def program_session(request: Request) -> Response:
        if not authenticated(request):
            return error_v1(401, "unauthorized")
        wanted = request.params["sessionId"]
        for session in account["programSessions"]:
            if session["_id"] == wanted:
                return json_response(200, session)
        # Not documented; the flat v1 shape with the obvious code.
        return error_v1(404, "program_session_not_found")

    @router.route("GET", "/api/v1/programs/{programId}/")
    def old_program_route(request: Request) -> Response:
        # "/programs/:program_id/ redirects to this route" (the doc's NB).
        query = "&".join(f"{k}={v}" for k, values in request.query.items() for v in values)
        target = f"/360learning/api/v1/programs/sessions/{request.params['programId']}/"
        return Response(301, None, {"Location": target + (f"?{query}" if query else "")})


def _describe(base_url: str, state: SandboxState) -> dict[str, Any]:
    account = state.seed[SEED]
    return {
        "base_url": f"{base_url}{PREFIX}",
        "auth_url": None,
        "env": {
            "IMPORTER_360L_COMPANY": account["company"],
            "IMPORTER_360L_API_KEY": account["api_key"],
        },
    }


PART = SandboxPart(
    prefixes=(PREFIX,),
    build=lambda state, routers: build(state, routers[PREFIX]),
    owns=lambda prefix, path: prefix == PREFIX and not path.startswith("/api/v2"),
    server_error={"error": "internal_server_error"},
    describe=_describe,
    seed=SEED,
)
