"""360Learning API v1 and v2, as documented (shared/vendor-docs and the official OpenAPI file).

v1: ``POST /api/v1/paths/{pathId}/sessions/`` (every error of its doc's table,
with its status and body) and ``GET /api/v1/programs/sessions/{id}/``.
v2: the client-credentials token, ``POST /api/v2/paths/{pathId}/sessions``
(200 with the full session), the path's sessions with date filters and
``Link`` paging, users by ``mail``. 10 writes and 50 reads a second per company.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from importer.sandbox.http import Request, Response, Router, json_response
from importer.sandbox.state import SandboxState, SlidingWindow

__all__ = ["build_v1", "build_v2"]

VENDOR_V1 = "360learning-v1"
VENDOR_V2 = "360learning-v2"
_HEX24 = re.compile(r"[a-fA-F0-9]{24}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# v1: "ISO 8601 complete date plus hours, minutes and seconds".
_V1_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})")
# v2: YYYY-MM-DDThh:mm:ss.sssZ (OpenAPI "date-time"; offsets accepted as RFC 3339 allows).
_V2_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})")
_REGISTRATION = (
    "disabled",
    "instructors",
    "managers",
    "adminsAndManagers",
    "adminsCoachesInstructorsManagers",
)
_V2_FIELDS = {
    "name",
    "mainInstructorId",
    "instructorIds",
    "startDate",
    "endDate",
    "userLimit",
    "registrationRequestValidation",
    "additionalInformation",
    "automaticReenrollment",
    "ipFiltering",
}


def _parse_date(text: Any, pattern: re.Pattern[str]) -> dt.datetime | None:
    if not isinstance(text, str) or not pattern.fullmatch(text):
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _iso(moment: float) -> str:
    stamp = dt.datetime.fromtimestamp(moment, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _error_v1(status: int, code: str) -> Response:
    return json_response(status, {"error": code})


def _error_v2(status: int, code: str, message: str) -> Response:
    """v2 domain errors: ``{"error": {"code", "message"}}`` (401 and 429 are flat, see below)."""
    return json_response(status, {"error": {"code": code, "message": message}})


def build_v1(state: SandboxState, router: Router) -> None:
    """Register the v1 routes on ``router``."""
    account = state.seed["360learning"]

    def authenticated(request: Request) -> bool:
        company = request.arg("company") or request.headers.get("x-company-id")
        key = request.arg("apiKey") or request.headers.get("x-apikey")
        return bool(company == account["company"] and key == account["api_key"])

    @router.route("POST", "/api/v1/paths/{pathId}/sessions/")
    def create_session(request: Request) -> Response:
        if not authenticated(request):
            # The doc's table lists no auth error; a wrong or missing key is refused with
            # 401 and the flat v1 error shape, as other v1 routes of the Postman docs show.
            return _error_v1(401, "unauthorized")
        path = next((p for p in account["paths"] if p["_id"] == request.params["pathId"]), None)
        if path is None:
            return _error_v1(404, "path_not_found")
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        name = body.get("sessionName")
        if not isinstance(name, str) or not name.strip():
            return _error_v1(400, "invalid_session_name")
        start = _parse_date(body.get("startDate"), _V1_DATE)
        if start is None:
            return _error_v1(400, "invalid_start_date")
        end = None
        if body.get("endDate") is not None:
            end = _parse_date(body.get("endDate"), _V1_DATE)
            # The doc only says "not valid"; an end before the start is not a valid end.
            if end is None or end < start:
                return _error_v1(400, "invalid_end_date")
        group = body.get("sessionOwnerGroup")
        if not isinstance(group, str) or not _HEX24.fullmatch(group):
            return _error_v1(400, "invalid_session_owner_group")
        if not any(g["_id"] == group for g in account["groups"]):
            return _error_v1(400, "session_owner_group_not_found")
        instructors: list[str]
        if "instructorsMails" in body:
            mails = body["instructorsMails"]
            # The doc contradicts itself: its text says an empty array makes the platform owner
            # instructor, its error table says null, empty or item-less is invalid_instructors.
            # We follow the table (the stricter reading); clients should omit the field instead.
            if not isinstance(mails, list) or not mails:
                return _error_v1(400, "invalid_instructors")
            if not all(isinstance(m, str) and _EMAIL.fullmatch(m) for m in mails):
                return _error_v1(400, "invalid_instructors")
            known = {u["mail"].lower(): u for u in account["users"]}
            if any(m.lower() not in known for m in mails):
                # The doc prints the body as { "error": "instructors"_not_found }: a typo for this.
                return _error_v1(400, "instructors_not_found")
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
        state.record(VENDOR_V1, "session", ident, session, body)
        return json_response(200, {"status": "session_created", "_id": ident})

    create_session.creates = True  # type: ignore[attr-defined]

    @router.route("GET", "/api/v1/paths/sessions")
    def path_sessions(request: Request) -> Response:
        # "List all sessions in a path" (migration guide): every path session of the company.
        if not authenticated(request):
            return _error_v1(401, "unauthorized")
        listed = [
            {"sessionId": c.id, "sessionName": c.data["sessionName"], "pathId": c.data["pathId"],
             "startDate": c.data["startDate"], "endDate": c.data["endDate"],
             "sessionAdditionalInformation": c.data["sessionAdditionalInformation"]}
            for c in state.objects(VENDOR_V1, "session")
        ]  # fmt: skip
        return json_response(200, listed)

    @router.route("GET", "/api/v1/programs/sessions/{sessionId}/")
    def program_session(request: Request) -> Response:
        if not authenticated(request):
            return _error_v1(401, "unauthorized")
        wanted = request.params["sessionId"]
        for session in account["programSessions"]:
            if session["_id"] == wanted:
                return json_response(200, session)
        # Not documented; the flat v1 shape with the obvious code.
        return _error_v1(404, "program_session_not_found")

    @router.route("GET", "/api/v1/programs/{programId}/")
    def old_program_route(request: Request) -> Response:
        # "/programs/:program_id/ redirects to this route" (the doc's NB).
        query = "&".join(f"{k}={v}" for k, values in request.query.items() for v in values)
        target = f"/360learning/api/v1/programs/sessions/{request.params['programId']}/"
        return Response(301, None, {"Location": target + (f"?{query}" if query else "")})


def build_v2(state: SandboxState, router: Router) -> None:
    """Register the v2 routes on ``router``."""
    account = state.seed["360learning"]
    tokens: dict[str, tuple[dict[str, Any], float]] = {}
    ttl = float(state.options.get("token_ttl", 3600))
    writes = SlidingWindow(int(state.options.get("v2_writes_per_second", 10)), 1.0, state.clock)
    reads = SlidingWindow(int(state.options.get("v2_reads_per_second", 50)), 1.0, state.clock)

    @router.route("POST", "/api/v2/oauth2/token")
    def token(request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not {"grant_type", "client_id", "client_secret"} <= set(
            body
        ):
            return json_response(400, {"error": "invalid_request"})
        if body["grant_type"] != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type"})
        if "user_id" in body and not any(u["_id"] == body["user_id"] for u in account["users"]):
            return json_response(400, {"error": "non_existing_user"})
        client = next(
            (c for c in account["credentials"] if c["client_id"] == body["client_id"]), None
        )
        if client is None or not secrets.compare_digest(
            str(client["client_secret"]), str(body["client_secret"])
        ):
            return json_response(401, {"error": "invalid_client"})
        value = "sbx360." + secrets.token_urlsafe(24)
        tokens[value] = (client, state.clock.monotonic() + ttl)
        # The docs' example gives expires_in as the string "3600" (the schema says number):
        # the sandbox sends a string, the harder case for clients.
        return json_response(
            200, {"token_type": "Bearer", "access_token": value, "expires_in": str(int(ttl))}
        )

    def guard(request: Request, scope: str, write: bool) -> Response | None:
        """Version header, bearer token, scope, then the company's rate limit."""
        if request.headers.get("360-api-version") != "v2.0":
            # Required by the OpenAPI file; the answer to its absence is not documented.
            return _error_v2(400, "invalidApiVersion", "The 360-api-version header must be v2.0.")
        auth = request.headers.get("authorization", "")
        held = tokens.get(auth[7:]) if auth[:7].lower() == "bearer " else None
        if held is None or held[1] <= state.clock.monotonic():
            return json_response(401, {"error": "invalid_token"})
        if scope not in held[0]["scopes"]:
            return _error_v2(403, "invalid_scope", f"The token lacks the {scope} scope.")
        window = writes if write else reads
        if not window.hit():
            return json_response(429, {"error": "tooManyRequests"})
        return None

    def user_ids() -> set[str]:
        return {u["_id"] for u in account["users"]}

    @router.route("POST", "/api/v2/paths/{pathId}/sessions")
    def create_session(request: Request) -> Response:
        refused = guard(request, "paths:write", write=True)
        if refused:
            return refused
        if not _HEX24.fullmatch(request.params["pathId"]):
            return _error_v2(400, "badRequest", "pathId must be a 24-character hexadecimal ID.")
        try:
            body = request.json()
        except ValueError:
            body = None
        problem = _check_v2_body(body)
        if problem:
            # Schema violations are not in the OpenAPI file's error list; we answer 400 with
            # the domain error shape and a "badRequest" code.
            return _error_v2(400, "badRequest", problem)
        assert isinstance(body, dict)
        if "ipFiltering" in body and not _valid_ip_filtering(body["ipFiltering"]):
            return _error_v2(400, "invalidIpFiltering", "An IP address of ipFiltering is invalid.")
        path = next((p for p in account["paths"] if p["_id"] == request.params["pathId"]), None)
        if path is None:
            return _error_v2(404, "pathNotFound", "The given pathId does not exist.")
        if path["archived"]:
            return _error_v2(400, "pathArchived", "The path is archived.")
        people = [body["mainInstructorId"], *body.get("instructorIds", [])]
        if any(p not in user_ids() for p in people):
            return _error_v2(404, "usersNotFound", "An instructor does not exist.")
        start = _parse_date(body["startDate"], _V2_DATE)
        end = _parse_date(body.get("endDate"), _V2_DATE) if "endDate" in body else None
        if start is None or ("endDate" in body and (end is None or end < start)):
            return _error_v2(400, "invalidStartOrEndDate", "endDate is before startDate.")
        reenroll = body.get("automaticReenrollment")
        by_certificate = (
            isinstance(reenroll, dict) and reenroll.get("type") == "certificationExpiryDate"
        )
        if by_certificate and not path["hasCertificate"]:
            return _error_v2(400, "missingCertificate", "The path has no certificate.")
        group = _owner_group(account, body["mainInstructorId"], path)
        if body["registrationRequestValidation"] not in group.get("registrationOptions", []):
            return _error_v2(
                400, "invalidRegistrationRequestOption", "That option is not active for the group."
            )
        now = _iso(state.clock.time())
        ident = state.new_id("hex24")
        session = {
            "_id": ident,
            "createdAt": now,
            "groupId": group["_id"],
            "instructorIds": list(body.get("instructorIds", [])),
            "isAudienceBuilder": False,
            "mainInstructorId": body["mainInstructorId"],
            "modifiedAt": now,
            "name": body["name"],
            "pathId": path["_id"],
            "registrationRequestValidation": body["registrationRequestValidation"],
            "startDate": body["startDate"],
            "translations": [],
        }
        for optional in ("endDate", "userLimit", "additionalInformation", "automaticReenrollment"):
            if optional in body:
                session[optional] = body[optional]
        state.record(VENDOR_V2, "session", ident, session, body)
        return json_response(200, session)

    create_session.creates = True  # type: ignore[attr-defined]

    @router.route("GET", "/api/v2/paths/{pathId}/sessions")
    def list_sessions(request: Request) -> Response:
        refused = guard(request, "paths:read", write=False)
        if refused:
            return refused
        path_id = request.params["pathId"]
        if not any(p["_id"] == path_id for p in account["paths"]):
            return _error_v2(404, "pathNotFound", "The given pathId does not exist.")
        items = [c.data for c in state.objects(VENDOR_V2, "session") if c.data["pathId"] == path_id]
        for field in ("startDate", "endDate", "createdAt", "modifiedAt"):
            for op in ("gte", "lt"):
                bound = request.arg(f"{field}[{op}]")
                if bound is None:
                    continue
                limit = _parse_date(bound, _V2_DATE)
                if limit is None:
                    return _error_v2(400, "badRequest", f"{field}[{op}] is not a date-time.")
                items = [s for s in items if field in s and _compare(s[field], limit, op)]
        return _page(request, items, 100)

    @router.route("GET", "/api/v2/paths/{pathId}/sessions/{sessionId}")
    def get_session(request: Request) -> Response:
        refused = guard(request, "paths:read", write=False)
        if refused:
            return refused
        for created in state.objects(VENDOR_V2, "session"):
            if (
                created.id == request.params["sessionId"]
                and created.data["pathId"] == request.params["pathId"]
            ):
                return json_response(200, created.data)
        return _error_v2(404, "pathSessionNotFound", "No such session in this path.")

    @router.route("GET", "/api/v2/users")
    def users(request: Request) -> Response:
        refused = guard(request, "users:read", write=False)
        if refused:
            return refused
        found = account["users"]
        equal = request.arg("mail[eq]")
        within = request.query.get("mail[in]", []) + request.query.get("mail[in][]", [])
        if equal is not None:
            found = [u for u in found if u["mail"].lower() == equal.lower()]
        if within:
            wanted = {m.strip().lower() for value in within for m in value.split(",")}
            found = [u for u in found if u["mail"].lower() in wanted]
        public = [
            {
                "_id": u["_id"],
                "mail": u["mail"],
                "firstName": u["firstName"],
                "lastName": u["lastName"],
                "status": u.get("status", "active"),
                "lang": u.get("lang", "en"),
            }
            for u in found
        ]
        return _page(request, public, 500)


def _compare(value: str, limit: dt.datetime, op: str) -> bool:
    moment = _parse_date(value, _V2_DATE)
    if moment is None:
        return False
    return moment >= limit if op == "gte" else moment < limit


def _page(request: Request, items: list[dict[str, Any]], size: int) -> Response:
    """One page of a bare array; a ``Link: <...>; rel="next"`` header when more remain.

    The page parameter's name is not documented (the Link URL is opaque to
    clients); the sandbox uses ``page``.
    """
    try:
        page = max(int(request.arg("page") or "1"), 1)
    except ValueError:
        page = 1
    chunk = items[(page - 1) * size : page * size]
    headers = {}
    if page * size < len(items):
        query = [f"{k}={v}" for k, values in request.query.items() if k != "page" for v in values]
        query.append(f"page={page + 1}")
        url = f"{request.headers.get('x-sandbox-base', '')}{request.path}?{'&'.join(query)}"
        headers["Link"] = f'<{url}>; rel="next"'
    return Response(200, chunk, headers)


def _owner_group(account: dict[str, Any], instructor: str, path: dict[str, Any]) -> dict[str, Any]:
    """The documented rule: public first, then shallowest, then largest; else the path's group."""
    user = next(u for u in account["users"] if u["_id"] == instructor)
    groups = [g for g in account["groups"] if g["_id"] in user.get("authorOf", [])]
    if groups:
        return dict(sorted(groups, key=lambda g: (not g["public"], g["depth"], -g["users"]))[0])
    return dict(next(g for g in account["groups"] if g["_id"] == path["ownerGroup"]))


def _check_v2_body(body: Any) -> str | None:
    """Check a create body against ``InputPathSessionDTO``; return the problem or ``None``."""
    if not isinstance(body, dict):
        return "The body must be a JSON object."
    unknown = set(body) - _V2_FIELDS
    if unknown:
        return f"Unknown properties: {', '.join(sorted(unknown))}."
    for field in ("name", "mainInstructorId", "registrationRequestValidation", "startDate"):
        if field not in body:
            return f"{field} is required."
    if not isinstance(body["name"], str) or not body["name"]:
        return "name must be a non-empty string."
    if not isinstance(body["mainInstructorId"], str) or not _HEX24.fullmatch(
        body["mainInstructorId"]
    ):
        return "mainInstructorId must be a 24-character hexadecimal ID."
    ids = body.get("instructorIds", [])
    if not isinstance(ids, list) or len(ids) > 100:
        return "instructorIds must be an array of at most 100 IDs."
    if not all(isinstance(i, str) and _HEX24.fullmatch(i) for i in ids):
        return "instructorIds must hold 24-character hexadecimal IDs."
    if body["registrationRequestValidation"] not in _REGISTRATION:
        return "registrationRequestValidation must be one of " + ", ".join(_REGISTRATION) + "."
    for field in ("startDate", "endDate"):
        if field in body and _parse_date(body[field], _V2_DATE) is None:
            return f"{field} must be a date-time such as 2025-07-01T13:00:00.000Z."
    limit = body.get("userLimit")
    if "userLimit" in body and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        return "userLimit must be an integer of 1 or more."
    info = body.get("additionalInformation")
    if "additionalInformation" in body and (not isinstance(info, str) or not info):
        return "additionalInformation must be a non-empty string."
    if "ipFiltering" in body and not isinstance(body["ipFiltering"], dict):
        return "ipFiltering must be an object."
    return None


def _valid_ip_filtering(filtering: dict[str, Any]) -> bool:
    """Every entry of ``ips`` is an address or a network (the DTO's details are not modelled)."""
    import ipaddress

    try:
        for item in filtering.get("ips", []):
            ipaddress.ip_network(str(item), strict=False)
    except ValueError:
        return False
    return True
