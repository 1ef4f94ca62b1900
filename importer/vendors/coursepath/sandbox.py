"""Coursepath, as documented (shared/vendor-docs/coursepath-api-reference.txt).

Every call carries ``Authorization: Bearer <JWT>``: HS256, signed with the
academy's API key, claims ``email`` (the acting member), ``iat`` (at most two
minutes old) and ``jti`` (single use). Members, course and program
enrolment, groups and invites; ``offset``/``limit`` paging.

Where the docs are silent:

* Errors are JSON ``{"error": "<message>"}`` with conventional 4xx codes.
* Bodies may be JSON or url-encoded forms (the API's PHP examples post forms).
* Creating a member whose email exists answers 409 with the existing member's
  ID; re-enrolling an enrolled member is a no-op answering the enrolment (200).
* List endpoints return 100 objects by default, at most 500 (``limit``).
* ``iat`` more than a minute in the future is refused like an old one.
* ``jti`` may be a number (the doc's sample JWT carries ``"jti": 508870138``) or a string.

Options answer the other plausible ways (a client must not lean on our choices):
``coursepath_id_key`` names the member ID's key (``id`` by default, or ``_id``,
``memberId``...), ``coursepath_lists = "wrapped"`` wraps lists as
``{"members": [...], "total": n}``, ``coursepath_email_filter = "ignored"``
lists every member whatever ``email`` asks, and ``coursepath_forbidden_course``
names a course whose enrolments answer 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from importer.sandbox.http import Request, Response, Routes, json_response
from importer.sandbox.part import SandboxPart
from importer.sandbox.state import SandboxState

__all__ = ["PART", "VENDOR", "build"]

VENDOR = "coursepath"
Endpoint = Callable[[Request], Response]
_MEMBER_FIELDS = (
    "email",
    "name",
    "company",
    "department",
    "country",
    "externalId",
    "association",
    "identification",
    "registration",
)


def _error(status: int, message: str, **extra: Any) -> Response:
    return json_response(status, {"error": message, **extra})


class _Academy:
    """The academy's members, enrolments and groups, and its routes."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.seed = state.seed["coursepath"]
        self.members: dict[str, dict[str, Any]] = {m["id"]: dict(m) for m in self.seed["members"]}
        self.enrolments: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.member_groups: dict[str, list[str]] = {}
        self.used_jti: set[str] = set()
        self.max_age = float(state.options.get("coursepath_iat_max_age", 120))

    def caller(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        """The acting member named by a valid, fresh, unused JWT; or the refusal."""
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None, _error(401, "missing bearer token")
        import jwt  # PyJWT loads when a request is checked, not when the plugin is built

        try:
            claims = jwt.decode(
                header[7:],
                self.seed["api_key"],
                algorithms=["HS256"],
                # PyJWT wants a string jti; the doc's own sample has a number: checked below.
                options={
                    "require": ["email", "iat", "jti"],
                    "verify_iat": False,
                    "verify_jti": False,
                },
            )
        except jwt.PyJWTError as error:
            return None, _error(401, f"invalid token: {type(error).__name__}")
        if isinstance(claims["jti"], bool) or not isinstance(claims["jti"], str | int):
            return None, _error(401, "invalid token: jti must be a string or a number")
        age = self.state.clock.time() - float(claims["iat"])
        if age > self.max_age or age < -60:
            return None, _error(401, "token expired: iat is too old or in the future")
        jti = str(claims["jti"])
        if jti in self.used_jti:
            return None, _error(401, "token already used (jti)")
        self.used_jti.add(jti)
        acting = next((m for m in self.members.values() if m["email"] == claims["email"]), None)
        if acting is None:
            return None, _error(401, "unknown acting member")
        return acting, None

    def route(
        self, router: Routes, method: str, pattern: str, creates: bool = False
    ) -> Callable[[Endpoint], Endpoint]:
        """Register ``fn(request)`` behind JWT authentication."""

        def register(fn: Endpoint) -> Endpoint:
            def wrapped(request: Request) -> Response:
                acting, refused = self.caller(request)
                if refused or acting is None:
                    return refused or _error(401, "unauthorised")
                request.params["_acting"] = acting["id"]
                return fn(request)

            wrapped.creates = creates  # type: ignore[attr-defined]
            router.route(method, pattern)(wrapped)
            return fn

        return register

    def find(self, kind: str, ident: str) -> dict[str, Any] | None:
        return next((x for x in self.seed[kind] if x["id"] == ident), None)

    def page(self, request: Request, items: list[dict[str, Any]]) -> Response:
        try:
            offset = max(int(request.arg("offset") or 0), 0)
            limit = min(max(int(request.arg("limit") or 100), 1), 500)
        except ValueError:
            return _error(400, "offset and limit must be whole numbers")
        shown = [self.shown(item) for item in items[offset : offset + limit]]
        if self.state.options.get("coursepath_lists") == "wrapped":
            return json_response(200, {"members": shown, "total": len(items)})
        return json_response(200, shown)

    def shown(self, item: Any) -> Any:
        """An object as answered: its ID under ``coursepath_id_key``."""
        key = str(self.state.options.get("coursepath_id_key", "id"))
        if key == "id" or not isinstance(item, dict) or "id" not in item:
            return item
        return {(key if k == "id" else k): v for k, v in item.items()}

    def filtered(self, request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.state.options.get("coursepath_email_filter") == "ignored":
            return items
        for key in _MEMBER_FIELDS:
            wanted = request.arg(key)
            if wanted is not None:
                items = [m for m in items if str(m.get(key, "")).lower() == wanted.lower()]
        return items

    @staticmethod
    def form(request: Request) -> dict[str, str] | Response:
        try:
            return request.form()
        except ValueError:
            return _error(400, "the body must be JSON or a form")

    def create_member(
        self, request: Request
    ) -> tuple[dict[str, Any] | None, bool, Response | None]:
        """Create the member of the body's email, or find it; ``(member, created, refusal)``."""
        data = self.form(request)
        if isinstance(data, Response):
            return None, False, data
        email = data.get("email", "").strip()
        if "@" not in email:
            return None, False, _error(400, "email is required and must be valid")
        for member in self.members.values():
            if member["email"].lower() == email.lower():
                return member, False, None
        ident = self.state.new_id("short")
        member = {"id": ident, "email": email, "name": data.get("name") or email.split("@")[0]}
        member.update({k: data[k] for k in _MEMBER_FIELDS[2:] if k in data})
        self.members[ident] = member
        self.state.record(VENDOR, "member", ident, dict(member), data)
        return member, True, None

    def enrol(self, kind: str, target: str, member: dict[str, Any], request: Request) -> Response:
        if kind == "course" and target == str(
            self.state.options.get("coursepath_forbidden_course", "")
        ):
            return _error(403, "you may not enrol members in this course")
        key = (kind, target, member["id"])
        if key not in self.enrolments:
            self.enrolments[key] = {
                "memberId": member["id"],
                f"{kind}Id": target,
                "completed": None,
                "success": None,
                "score": None,
            }
            self.state.record(
                VENDOR,
                f"{kind}member",
                f"{target}:{member['id']}",
                dict(self.enrolments[key]),
                {"path": request.path},
            )
        return json_response(200, self.enrolments[key])

    def register(self, router: Routes) -> None:
        """All the routes."""
        route, members = self.route, self.members

        @route(router, "GET", "/api/v1/members/me")
        def me(request: Request) -> Response:
            return json_response(200, self.shown(members[request.params["_acting"]]))

        @route(router, "GET", "/api/v1/members")
        def list_members(request: Request) -> Response:
            return self.page(request, self.filtered(request, list(members.values())))

        @route(router, "POST", "/api/v1/members", creates=True)
        def post_member(request: Request) -> Response:
            member, created, refused = self.create_member(request)
            if refused or member is None:
                return refused or _error(400, "bad request")
            if not created:
                return _error(409, "a member with this email exists", memberId=member["id"])
            return json_response(201, self.shown(member))

        @route(router, "GET", "/api/v1/members/{memberId}")
        def get_member(request: Request) -> Response:
            member = members.get(request.params["memberId"])
            if member is None:
                return _error(404, "member not found")
            return json_response(200, self.shown(member))

        @route(router, "POST", "/api/v1/members/{memberId}")
        def update_member(request: Request) -> Response:
            member = members.get(request.params["memberId"])
            if member is None:
                return _error(404, "member not found")
            data = self.form(request)
            if isinstance(data, Response):
                return data
            member.update({k: data[k] for k in _MEMBER_FIELDS if k in data and k != "email"})
            return json_response(200, self.shown(member))

        @route(router, "GET", "/api/v1/members/{memberId}/courses")
        def courses_of(request: Request) -> Response:
            ident = request.params["memberId"]
            if ident not in members:
                return _error(404, "member not found")
            ids = {t for (k, t, m) in self.enrolments if k == "course" and m == ident}
            return json_response(200, [c for c in self.seed["courses"] if c["id"] in ids])

        for kind in ("course", "program"):
            self.enrolment_routes(router, kind)

        @route(router, "GET", "/api/v1/courses")
        def courses(request: Request) -> Response:
            return self.page(request, self.seed["courses"])

        @route(router, "GET", "/api/v1/courses/{courseId}")
        def course(request: Request) -> Response:
            found = self.find("courses", request.params["courseId"])
            return json_response(200, found) if found else _error(404, "course not found")

        self.group_routes(router)

    def group_routes(self, router: Routes) -> None:
        """Groups: list, members of a group, a member's groups, add and remove by name."""
        route, members, groups = self.route, self.members, self.seed["groups"]

        @route(router, "GET", "/api/v1/groups")
        def list_groups(request: Request) -> Response:
            return self.page(request, groups)

        @route(router, "GET", "/api/v1/groups/{groupId}/members")
        def group_members(request: Request) -> Response:
            group = self.find("groups", request.params["groupId"])
            if group is None:
                return _error(404, "group not found")
            inside = [
                m for m in members.values() if group["name"] in self.member_groups.get(m["id"], [])
            ]
            return self.page(request, inside)

        @route(router, "GET", "/api/v1/members/{memberId}/groups")
        def groups_of(request: Request) -> Response:
            if request.params["memberId"] not in members:
                return _error(404, "member not found")
            names = self.member_groups.get(request.params["memberId"], [])
            return json_response(200, [g for g in groups if g["name"] in names])

        @route(router, "POST", "/api/v1/members/{memberId}/groups", creates=True)
        def add_group(request: Request) -> Response:
            member_id = request.params["memberId"]
            if member_id not in members:
                return _error(404, "member not found")
            data = self.form(request)
            if isinstance(data, Response):
                return data
            name = data.get("name") or request.arg("name") or ""
            group = next((g for g in groups if g["name"] == name), None)
            if group is None:
                return _error(404, f"no group named {name!r}")
            names = self.member_groups.setdefault(member_id, [])
            if name not in names:
                names.append(name)
                self.state.record(
                    VENDOR, "groupmember", f"{group['id']}:{member_id}", dict(group), data
                )
            return json_response(200, [g for g in groups if g["name"] in names])

        @route(router, "DELETE", "/api/v1/members/{memberId}/groups")
        def remove_groups(request: Request) -> Response:
            member_id = request.params["memberId"]
            if member_id not in members:
                return _error(404, "member not found")
            name = request.arg("name")
            names = self.member_groups.get(member_id, [])
            self.member_groups[member_id] = [] if name is None else [n for n in names if n != name]
            return json_response(200, [])

        @route(router, "POST", "/api/v1/members/{memberId}/invite", creates=True)
        def invite(request: Request) -> Response:
            member = members.get(request.params["memberId"])
            if member is None:
                return _error(404, "member not found")
            self.state.record(VENDOR, "invite", member["id"], {"memberId": member["id"]}, {})
            return json_response(200, {"sent": True})

    def enrolment_routes(self, router: Routes, kind: str) -> None:
        """Course and program enrolment: the same contract for both."""
        route, members = self.route, self.members
        plural, key = f"{kind}s", f"{kind}Id"
        base = f"/api/v1/{plural}/{{{key}}}/members"

        def target(request: Request) -> dict[str, Any] | None:
            return self.find(plural, request.params[key])

        @route(router, "POST", base, creates=True)
        def create_and_enrol(request: Request) -> Response:
            if target(request) is None:
                return _error(404, f"{kind} not found")
            member, _, refused = self.create_member(request)
            if refused or member is None:
                return refused or _error(400, "bad request")
            self.enrol(kind, request.params[key], member, request)
            return json_response(201, self.shown(member))

        @route(router, "GET", base)
        def enrolled(request: Request) -> Response:
            if target(request) is None:
                return _error(404, f"{kind} not found")
            ids = {m for (k, t, m) in self.enrolments if k == kind and t == request.params[key]}
            return self.page(request, self.filtered(request, [members[i] for i in sorted(ids)]))

        @route(router, "POST", f"{base}/{{memberId}}/{kind}member", creates=True)
        def enrol_member(request: Request) -> Response:
            member = members.get(request.params["memberId"])
            if target(request) is None or member is None:
                return _error(404, f"{kind} or member not found")
            return self.enrol(kind, request.params[key], member, request)

        @route(router, "GET", f"{base}/{{memberId}}/{kind}member")
        def enrolment(request: Request) -> Response:
            found = self.enrolments.get((kind, request.params[key], request.params["memberId"]))
            return json_response(200, found) if found else _error(404, "not enrolled")

        @route(router, "DELETE", f"{base}/{{memberId}}/{kind}member")
        def unenrol(request: Request) -> Response:
            found = self.enrolments.pop(
                (kind, request.params[key], request.params["memberId"]), None
            )
            # Undocumented answers: 200 with the enrolment removed, 404 when there was none.
            if found:
                ident = f"{request.params[key]}:{request.params['memberId']}"
                self.state.remove(VENDOR, f"{kind}member", ident)
            return json_response(200, found) if found else _error(404, "not enrolled")

        @route(router, "POST", f"{base}/{{memberId}}/invite", creates=True)
        def invite(request: Request) -> Response:
            member = members.get(request.params["memberId"])
            if target(request) is None or member is None:
                return _error(404, f"{kind} or member not found")
            self.state.record(
                VENDOR, "invite", f"{kind}:{member['id']}", {"memberId": member["id"]}, {}
            )
            return json_response(200, {"sent": True})


def build(state: SandboxState, router: Routes) -> None:
    """Register the Coursepath routes on ``router``."""
    _Academy(state).register(router)


def _describe(base_url: str, state: SandboxState) -> dict[str, Any]:
    seed = state.seed["coursepath"]
    return {
        "base_url": f"{base_url}/coursepath",
        "auth_url": None,
        "env": {
            "IMPORTER_COURSEPATH_API_KEY": seed["api_key"],
            "IMPORTER_COURSEPATH_EMAIL": seed["admin_email"],
        },
    }


PART = SandboxPart(
    prefixes=("/coursepath",),
    build=lambda state, routers: build(state, routers["/coursepath"]),
    owns=lambda prefix, path: prefix == "/coursepath",
    server_error={"error": "internal server error"},
    seed="coursepath",
    describe=_describe,
    options={
        "coursepath_id_key": "the member ID's key: id (default), _id, memberId...",
        "coursepath_lists": "bare (default) or wrapped ({'members': [...]})",
        "coursepath_email_filter": "exact (default) or ignored (every member listed)",
        "coursepath_forbidden_course": "a course whose enrolments answer 403",
        "coursepath_iat_max_age": "seconds a JWT's iat may be old (120)",
    },
)
