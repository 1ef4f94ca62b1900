"""360Learning API v2, as documented (the official OpenAPI file and the migration guide).

The client-credentials token, ``POST /api/v2/paths/{pathId}/sessions`` (200 with the
full session), its ``PATCH`` and ``DELETE`` (:mod:`.sandbox_changes`), the path's sessions
with date filters and ``Link`` paging, users by ``mail``. 10 writes and 50 reads a second
per company.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
from typing import Any

from importer.sandbox.http import Request, Response, Routes, json_response
from importer.sandbox.part import SandboxPart
from importer.sandbox.state import SandboxState, SlidingWindow
from importer.vendors.learning360_common.sandbox import (
    HEX24,
    PREFIX,
    SEED,
    V2_DATE,
    compare,
    error_v2,
    iso,
    page,
    parse_date,
)
from importer.vendors.learning360_v2.sandbox_changes import changes_routes

__all__ = ["PART", "VENDOR", "build"]

VENDOR = "360learning-v2"
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


def build(state: SandboxState, router: Routes) -> None:
    """Register the v2 routes on ``router``."""
    account = state.seed[SEED]
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
        # Standard base64 (``+``, ``/``, ``=``), as RFC 6750's b64token allows and the docs do
        # not rule out: the harder case for clients, whose encodings of it all differ.
        value = "sbx360." + base64.b64encode(secrets.token_bytes(25)).decode()
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
            return error_v2(400, "invalidApiVersion", "The 360-api-version header must be v2.0.")
        auth = request.headers.get("authorization", "")
        held = tokens.get(auth[7:]) if auth[:7].lower() == "bearer " else None
        if held is None or held[1] <= state.clock.monotonic():
            return json_response(401, {"error": "invalid_token"})
        if scope not in held[0]["scopes"]:
            return error_v2(403, "invalid_scope", f"The token lacks the {scope} scope.")
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
        if not HEX24.fullmatch(request.params["pathId"]):
            return error_v2(400, "badRequest", "pathId must be a 24-character hexadecimal ID.")
        try:
            body = request.json()
        except ValueError:
            body = None
        problem = check_v2_body(body)
        if problem:
            # Schema violations are not in the OpenAPI file's error list; we answer 400 with
            # the domain error shape and a "badRequest" code.
            return error_v2(400, "badRequest", problem)
        assert isinstance(body, dict)
        if "ipFiltering" in body and not _valid_ip_filtering(body["ipFiltering"]):
            return error_v2(400, "invalidIpFiltering", "An IP address of ipFiltering is invalid.")
        path = next((p for p in account["paths"] if p["_id"] == request.params["pathId"]), None)
        if path is None:
            return error_v2(404, "pathNotFound", "The given pathId does not exist.")
        if path["archived"]:
            return error_v2(400, "pathArchived", "The path is archived.")
        people = [body["mainInstructorId"], *body.get("instructorIds", [])]
        if any(p not in user_ids() for p in people):
            return error_v2(404, "usersNotFound", "An instructor does not exist.")
        start = parse_date(body["startDate"], V2_DATE)
        end = parse_date(body.get("endDate"), V2_DATE) if "endDate" in body else None
        if start is None or ("endDate" in body and (end is None or end < start)):
            return error_v2(400, "invalidStartOrEndDate", "endDate is before startDate.")
        reenroll = body.get("automaticReenrollment")
        by_certificate = (
            isinstance(reenroll, dict) and reenroll.get("type") == "certificationExpiryDate"
        )
        if by_certificate and not path["hasCertificate"]:
            return error_v2(400, "missingCertificate", "The path has no certificate.")
        group = _owner_group(account, body["mainInstructorId"], path)
        if body["registrationRequestValidation"] not in group.get("registrationOptions", []):
            return error_v2(
                400, "invalidRegistrationRequestOption", "That option is not active for the group."
            )
        now = iso(state.clock.time())
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
        state.record(VENDOR, "session", ident, session, body)
        return json_response(200, session)

    create_session.creates = True  # type: ignore[attr-defined]

    @router.route("GET", "/api/v2/paths/{pathId}/sessions")
    def list_sessions(request: Request) -> Response:
        refused = guard(request, "paths:read", write=False)
        if refused:
            return refused
        path_id = request.params["pathId"]
        if not any(p["_id"] == path_id for p in account["paths"]):
            return error_v2(404, "pathNotFound", "The given pathId does not exist.")
        items = [c.data for c in state.objects(VENDOR, "session") if c.data["pathId"] == path_id]
        for field in ("startDate", "endDate", "createdAt", "modifiedAt"):
            for op in ("gte", "lt"):
                bound = request.arg(f"{field}[{op}]")
                if bound is None:
                    continue
                limit = parse_date(bound, V2_DATE)
                if limit is None:
                    return error_v2(400, "badRequest", f"{field}[{op}] is not a date-time.")
                items = [s for s in items if field in s and compare(s[field], limit, op)]
        return page(request, items, 100)

    @router.route("GET", "/api/v2/paths/{pathId}/sessions/{sessionId}")
    def get_session(request: Request) -> Response:
        refused = guard(request, "paths:read", write=False)
        if refused:
            return refused
        for created in state.objects(VENDOR, "session"):
            if (
                created.id == request.params["sessionId"]
                and created.data["pathId"] == request.params["pathId"]
            ):
                return json_response(200, created.data)
        return error_v2(404, "sessionNotFound", "No such session in this path.")

    changes_routes(state, router, guard, account, check_v2_body)

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
        return page(request, public, 500)


def _owner_group(account: dict[str, Any], instructor: str, path: dict[str, Any]) -> dict[str, Any]:
    """The documented rule: public first, then shallowest, then largest; else the path's group."""
    user = next(u for u in account["users"] if u["_id"] == instructor)
    groups = [g for g in account["groups"] if g["_id"] in user.get("authorOf", [])]
    if groups:
        return dict(sorted(groups, key=lambda g: (not g["public"], g["depth"], -g["users"]))[0])
    return dict(next(g for g in account["groups"] if g["_id"] == path["ownerGroup"]))


def check_v2_body(body: Any) -> str | None:
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
    if not isinstance(body["mainInstructorId"], str) or not HEX24.fullmatch(
        body["mainInstructorId"]
    ):
        return "mainInstructorId must be a 24-character hexadecimal ID."
    ids = body.get("instructorIds", [])
    if not isinstance(ids, list) or len(ids) > 100:
        return "instructorIds must be an array of at most 100 IDs."
    if not all(isinstance(i, str) and HEX24.fullmatch(i) for i in ids):
        return "instructorIds must hold 24-character hexadecimal IDs."
    if body["registrationRequestValidation"] not in _REGISTRATION:
        return "registrationRequestValidation must be one of " + ", ".join(_REGISTRATION) + "."
    for field in ("startDate", "endDate"):
        if field in body and parse_date(body[field], V2_DATE) is None:
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

    try:
        for item in filtering.get("ips", []):
            ipaddress.ip_network(str(item), strict=False)
    except ValueError:
        return False
    return True


def _describe(base_url: str, state: SandboxState) -> dict[str, Any]:
    client = state.seed[SEED]["credentials"][0]
    return {
        "base_url": f"{base_url}{PREFIX}",
        "auth_url": f"{base_url}{PREFIX}",
        "env": {
            "IMPORTER_360L_CLIENT_ID": client["client_id"],
            "IMPORTER_360L_CLIENT_SECRET": client["client_secret"],
        },
    }


PART = SandboxPart(
    prefixes=(PREFIX,),
    build=lambda state, routers: build(state, routers[PREFIX]),
    owns=lambda prefix, path: prefix == PREFIX and path.startswith("/api/v2"),
    server_error={"error": {"code": "internalServerError", "message": "Sandbox fault."}},
    describe=_describe,
    seed=SEED,
    token_paths=("/api/v2/oauth2/token",),
    rate_limit=(10, 1.0),  # writes per company, as `build` enforces by default
    options={
        "v2_ended_sessions": "refuse (default: PATCH of a session whose end date passed is "
        "400 sessionEnded) or allow",
        "v2_patch_nulls": "accept (default: null clears a nullable field) or refuse (400)",
        "v2_writes_per_second": "writes a company may make in any second (documented: 10)",
        "v2_reads_per_second": "reads a company may make in any second (documented: 50)",
    },
)
