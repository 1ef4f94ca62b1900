"""Zoho People LMS, as documented (shared/vendor-docs/zoho-people-lms-create-session.txt).

Two hosts: the accounts server (refresh-token grant, 1-hour access tokens, at
most 10 per 10 minutes per refresh token) and the People server (LMS and
employee records). Every LMS call counts toward 30 a minute; the 31st starts
a 5-minute lock in which every LMS call is refused.

Where the docs are silent:

* ``sessionData``: the doc's URL and parameter table make it a parameter; its
  code samples POST a bare JSON body. By default both are accepted;
  ``zoho_session_data = "param"`` (the normative part) or ``"body"`` accepts
  only one, so a test can prove which form a client sends.
* How Zoho echoes what it stored is not documented: ``zoho_echo =
  "normalised"`` gives times without a leading zero (``2:00 PM``) and names
  trimmed, as a real service may store them.
* The form of a refusal during the lock is not documented. The default,
  ``lock_style="429"``, answers HTTP 429 with ``Retry-After`` (seconds left,
  as one connector observed) and the People error code 7209 with its
  documented text; ``"7209"`` answers HTTP 200 with that code in the body (as
  older People APIs did); ``"422"`` answers the LMS page's "Maximum limit
  exceeded"; ``"envelope"`` and ``"envelope400"`` answer People's error
  envelope (``{"response": {"status": 1, "errors": {"code": 7209, ...}}}``, the
  form the records API answers its errors in) at HTTP 200 or 400.
* Error bodies follow the success body's shape: ``{"code": N, "message": ...}``.
* Listing a module's sessions returns ``{"code": 200, "sessions": [...]}``, 25 per
  call from ``startIndex`` (1-based, as Zoho's other list APIs).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

from importer.sandbox.http import Request, Response, Routes, json_response
from importer.sandbox.part import SandboxPart
from importer.sandbox.state import SandboxState, SlidingWindow

__all__ = ["PART", "VENDOR", "ZohoAccount", "build_accounts", "build_people"]

VENDOR = "zoho-people"
_TIME = re.compile(r"(0[1-9]|1[0-2]):[0-5]\d (AM|PM)")
_DATE = re.compile(r"\d{2}-\d{2}-\d{4}")
_LOCK_TEXT = "API access blocked since threshold limit exceeded"
LOCK_CODE = 7209


def _error(status: int, message: str, code: int | None = None, **extra: Any) -> Response:
    return json_response(status, {"code": code or status, "message": message, **extra})


def _minutes(text: str) -> int:
    hours, rest = text.split(":")
    minutes, half = rest.split(" ")
    return (int(hours) % 12) * 60 + int(minutes) + (720 if half == "PM" else 0)


def _date(text: str) -> dt.date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return dt.datetime.strptime(text, "%d-%m-%Y").date()
    except ValueError:
        return None


class ZohoAccount:
    """Tokens, the LMS rate window and lock of the sandbox's Zoho organisation."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.seed = state.seed["zoho"]
        options = state.options
        self.ttl = float(options.get("token_ttl", 3600))
        self.lock_seconds = float(options.get("zoho_lock_seconds", 300))
        self.lock_style = str(options.get("zoho_lock_style", "429"))
        self.window = SlidingWindow(int(options.get("zoho_per_minute", 30)), 60.0, state.clock)
        self.records = SlidingWindow(400, 60.0, state.clock)
        self.grants = SlidingWindow(
            int(options.get("zoho_tokens_per_10min", 10)), 600.0, state.clock
        )
        self.tokens: dict[str, tuple[float, list[str]]] = {}
        self.locked_until = 0.0
        self.locks = 0

    def refusal(self) -> Response | None:
        """Count an LMS call; refuse it while the lock holds (starting the lock on the 31st)."""
        now = self.state.clock.monotonic()
        if now < self.locked_until:
            return self._locked(now)
        if not self.window.hit():
            self.locked_until = now + self.lock_seconds
            self.locks += 1
            return self._locked(now)
        return None

    def _locked(self, now: float) -> Response:
        left = max(int(self.locked_until - now + 0.999), 1)
        if self.lock_style == "7209":
            return json_response(200, {"code": LOCK_CODE, "message": _LOCK_TEXT})
        if self.lock_style == "422":
            return _error(422, "Maximum limit exceeded")
        if self.lock_style in ("envelope", "envelope400"):
            status = 400 if self.lock_style == "envelope400" else 200
            return _envelope_error(status, "/api/v1", LOCK_CODE, _LOCK_TEXT)
        return json_response(429, {"code": 7209, "message": _LOCK_TEXT}, Retry_After=str(left))

    def status(self) -> dict[str, Any]:
        """Figures for ``/_sandbox/status``."""
        return {"zoho_locks": self.locks}

    def authorised(self, request: Request, *scopes: str) -> Response | None:
        """Refuse a missing or expired token (401), or one without any of ``scopes`` (403)."""
        header = request.headers.get("authorization", "")
        token = header[len("Zoho-oauthtoken ") :] if header.startswith("Zoho-oauthtoken ") else ""
        held = self.tokens.get(token)
        if held is None or held[0] <= self.state.clock.monotonic():
            # Not in the LMS doc's table; Zoho answers an invalid or expired token with 401.
            return _error(401, "Invalid OAuth token", 7202)
        if scopes and not set(scopes) & set(held[1]):
            return _error(403, "Sorry! You are not authorized to do this operation")
        return None


def build_accounts(state: SandboxState, router: Routes, account: ZohoAccount) -> None:
    """The accounts server: ``POST /oauth/v2/token`` with the refresh-token grant."""

    @router.route("POST", "/oauth/v2/token")
    def token(request: Request) -> Response:
        args = dict(request.query)
        if request.body:
            args.update({k: [v] for k, v in request.form().items()})
        value = {k: v[0] for k, v in args.items() if v}
        seed = account.seed
        if value.get("grant_type") != "refresh_token":
            return json_response(400, {"error": "unsupported_grant_type"})
        if value.get("client_id") != seed["client_id"] or not secrets.compare_digest(
            value.get("client_secret", ""), seed["client_secret"]
        ):
            return json_response(400, {"error": "invalid_client"})
        granted = {
            seed["refresh_token"]: seed["scopes"],
            seed["readonly_refresh_token"]: seed["readonly_scopes"],
        }.get(value.get("refresh_token", ""))
        if granted is None:
            # Zoho's accounts server answers a bad refresh token with HTTP 200 and an error field.
            return json_response(200, {"error": "invalid_code"})
        if not account.grants.hit():
            return json_response(
                400,
                {
                    "error": "Access Denied",
                    "error_description": "You have made too many requests continuously. "
                    "Please try again after some time.",
                },
            )
        access = "1000.sbx." + secrets.token_hex(16)
        account.tokens[access] = (state.clock.monotonic() + account.ttl, list(granted))
        return json_response(
            200,
            {
                "access_token": access,
                # The People host beside this accounts host (/zoho beside /zoho-accounts).
                "api_domain": request.headers.get("x-sandbox-base", "").removesuffix("-accounts"),
                "token_type": "Bearer",
                "expires_in": int(account.ttl),
            },
        )


def build_people(state: SandboxState, router: Routes, account: ZohoAccount) -> None:
    """The People server: create and list module sessions, look up employees."""
    seed = account.seed

    def module_exists(course: str, batch: str, module: str) -> bool:
        for item in seed["courses"]:
            if item["courseId"] == course:
                for group in item["batches"]:
                    if group["batchId"] == batch:
                        return module in group["modules"]
        return False

    def gate(request: Request, *scopes: str) -> Response | None:
        return account.refusal() or account.authorised(request, *scopes)

    @router.route(
        "POST", "/api/v1/courses/{courseId}/batches/{batchId}/modules/{moduleId}/sessions"
    )
    def create_session(request: Request) -> Response:
        refused = gate(request, "ZOHOPEOPLE.training.ALL", "ZOHOPEOPLE.training.CREATE")
        if refused:
            return refused
        p = request.params
        if not module_exists(p["courseId"], p["batchId"], p["moduleId"]):
            return _error(404, "Not found")
        data: Any = None
        form = str(state.options.get("zoho_session_data", "both"))
        raw = request.arg("sessionData")
        if (form == "param" and not raw) or (form == "body" and raw):
            # The other form: as if the parameter were missing (7019: missing parameter).
            return _error(400, "Invalid parameter value/input parameter missing", 7019)
        try:
            data = json.loads(raw) if raw else request.json()
        except ValueError:
            return _error(400, "Invalid parameter value/input parameter missing", 7016)
        problem = _check_session(data, seed)
        if problem:
            return _error(
                400,
                "Invalid parameter value/input parameter missing",
                7016,
                errors={"message": problem},
            )
        existing = [
            c for c in state.objects(VENDOR, "session") if c.data["moduleId"] == p["moduleId"]
        ]
        if len(existing) >= int(state.options.get("zoho_sessions_per_module", 500)):
            return _error(422, "Maximum limit exceeded")
        ident = state.new_id("digits18")
        trainer = next(t for t in seed["trainers"] if t["erecno"] == data["trainerErecno"])
        room = next((r for r in seed["rooms"] if r["roomId"] == data.get("roomId")), None)
        echo = _normalised if state.options.get("zoho_echo") == "normalised" else str
        session = {
            "totalLearnersCount": 0,
            "sessionName": echo(data["name"]),
            "sessionEndTime": echo(data["endTime"]),
            "sessionStartTime": echo(data["startTime"]),
            "description": data.get("description", ""),
            "resources": [],
            "sessionId": ident,
            "roomId": data.get("roomId", ""),
            "canUserDelete": False,
            "sessionStartDate": data["date"],
            "lockUntil": data.get("lockUntil", ""),
            "presentLeanersCount": 0,  # sic: the documented response spells it so
            "gradeCategoryName": "",
            "isLocked": bool(data.get("lockUntil")),
            "gradeCategoryId": data.get("gradeCategoryId", ""),
            "sessionType": "Classroom" if str(data["type"]) == "0" else "E-learning",
            "sessionRoom": room["name"] if room else "",
            "sessionTrainer": trainer["name"],
            "isSessionCompleted": False,
            "trainerErecno": data["trainerErecno"],
            "canUserEdit": False,
            "moduleId": p["moduleId"],
        }
        via = "query" if request.arg("sessionData") else "body"
        state.record(VENDOR, "session", ident, session, {"sessionData": data, "via": via, **p})
        return json_response(200, {"code": 200, "session": session, "message": "success"})

    create_session.creates = True  # type: ignore[attr-defined]

    @router.route("GET", "/api/v1/courses/{courseId}/batches/{batchId}/modules/{moduleId}/sessions")
    def list_sessions(request: Request) -> Response:
        refused = gate(request, "ZOHOPEOPLE.training.ALL", "ZOHOPEOPLE.training.READ")
        if refused:
            return refused
        p = request.params
        if not module_exists(p["courseId"], p["batchId"], p["moduleId"]):
            return _error(404, "Not found")
        try:
            start = max(int(request.arg("startIndex") or "1"), 1)
        except ValueError:
            return _error(400, "Invalid parameter value/input parameter missing", 7016)
        sessions = [
            c.data for c in state.objects(VENDOR, "session") if c.data["moduleId"] == p["moduleId"]
        ]
        page = sessions[start - 1 : start - 1 + 25]
        return json_response(200, {"code": 200, "sessions": page, "message": "success"})

    @router.route("GET", "/api/v1/trainers")
    def trainers(request: Request) -> Response:
        # The LMS trainer list: 25 a call from startIndex (1-based), counted like any LMS call.
        refused = gate(request, "ZOHOPEOPLE.training.ALL", "ZOHOPEOPLE.training.READ")
        if refused:
            return refused
        try:
            start = max(int(request.arg("startIndex") or "1"), 1)
        except ValueError:
            return _error(400, "Invalid parameter value/input parameter missing", 7016)
        page = seed["trainers"][start - 1 : start - 1 + 25]
        return json_response(200, {"code": 200, "trainers": page, "message": "success"})

    @router.route("GET", "/people/api/forms/employee/getRecords")
    def employees(request: Request) -> Response:
        # The employee records API has its own limit (400 a minute), not the LMS one.
        if not account.records.hit():
            return json_response(429, {"code": 7209, "message": _LOCK_TEXT})
        refused = account.authorised(request, "ZOHOPEOPLE.forms.READ", "ZOHOPEOPLE.forms.ALL")
        if refused:
            return refused
        uri = "/api/forms/employee/getRecords"
        column, value = request.arg("searchColumn"), request.arg("searchValue") or ""
        if column != "EMPLOYEEMAILALIAS":
            return _records_error(uri, 7042, "Invalid search value")
        found = [e for e in seed["employees"] if e["EmailID"].lower() == value.lower()]
        if not found:
            return _records_error(uri, 7024, "No records found")
        result = [{e["recordId"]: [{k: v for k, v in e.items() if k != "recordId"}]} for e in found]
        return json_response(
            200,
            {
                "response": {
                    "status": 0,
                    "uri": uri,
                    "result": result,
                    "message": "Data fetched successfully",
                }
            },
        )


def _normalised(text: Any) -> str:
    """As a service may store a value: ``02:00 PM`` -> ``2:00 PM``, names trimmed."""
    value = " ".join(str(text).split())
    return value[1:] if _TIME.fullmatch(value) and value.startswith("0") else value


def _records_error(uri: str, code: int, message: str) -> Response:
    """The People records API's error envelope (HTTP 200, status 1)."""
    return _envelope_error(200, uri, code, message)


def _envelope_error(status: int, uri: str, code: int, message: str) -> Response:
    """People's error envelope (status 1, the code and its words under ``errors``)."""
    body = {
        "status": 1,
        "uri": uri,
        "message": "Error occurred",
        "errors": {"code": code, "message": message},
    }
    return json_response(status, {"response": body})


def _check_session(data: Any, seed: dict[str, Any]) -> str | None:
    """Check ``sessionData`` against the documented fields; return the problem or ``None``."""
    if not isinstance(data, dict):
        return "sessionData must be a JSON object"
    for field in ("name", "trainerErecno", "type", "date", "startTime", "endTime"):
        if field not in data or str(data[field]).strip() == "":
            return f"{field} is mandatory"
    if str(data["type"]) not in ("0", "1"):
        return "type must be 0 (Classroom) or 1 (E-learning)"
    if _date(str(data["date"])) is None:
        return "date must be DD-MM-YYYY"
    for field in ("startTime", "endTime"):
        if not _TIME.fullmatch(str(data[field])):
            return f"{field} must be a 12-hour time such as 10:00 AM"
    if _minutes(data["endTime"]) <= _minutes(data["startTime"]):
        return "endTime must be after startTime"
    if data.get("lockUntil") and _date(str(data["lockUntil"])) is None:
        return "lockUntil must be DD-MM-YYYY"
    if not any(t["erecno"] == str(data["trainerErecno"]) for t in seed["trainers"]):
        return "trainerErecno is not a trainer"
    if data.get("roomId") and not any(r["roomId"] == str(data["roomId"]) for r in seed["rooms"]):
        return "roomId does not exist"
    grade = data.get("gradeCategoryId")
    if grade and not any(g["gradeCategoryId"] == str(grade) for g in seed["gradeCategories"]):
        return "gradeCategoryId does not exist"
    return None


def _build(state: SandboxState, routers: Mapping[str, Routes]) -> ZohoAccount:
    account = ZohoAccount(state)
    build_people(state, routers["/zoho"], account)
    build_accounts(state, routers["/zoho-accounts"], account)
    return account


def _describe(base_url: str, state: SandboxState) -> dict[str, Any]:
    seed = state.seed["zoho"]
    return {
        "base_url": f"{base_url}/zoho",
        "auth_url": f"{base_url}/zoho-accounts",
        "env": {
            "IMPORTER_ZOHO_CLIENT_ID": seed["client_id"],
            "IMPORTER_ZOHO_CLIENT_SECRET": seed["client_secret"],
            "IMPORTER_ZOHO_REFRESH_TOKEN": seed["refresh_token"],
        },
    }


PART = SandboxPart(
    prefixes=("/zoho", "/zoho-accounts"),
    build=_build,
    owns=lambda prefix, path: prefix in ("/zoho", "/zoho-accounts"),
    # The doc's table gives the 500's text.
    server_error={"code": 500, "message": "Sorry! Server error occured"},
    describe=_describe,
    token_paths=("/oauth/v2/token",),
    seed="zoho",
    rate_limit=(30, 60.0),  # LMS calls, as `build` enforces by default (then the lock)
    options={
        "zoho_lock_style": "429 (default), 7209 (a 200 with the code), 422, envelope (People's "
        "error envelope at 200) or envelope400",
        "zoho_lock_seconds": "the lock's length (300)",
        "zoho_per_minute": "LMS calls a minute before the lock (30)",
        "zoho_sessions_per_module": "sessions a module holds before 422 (500)",
        "zoho_tokens_per_10min": "access tokens per refresh token per 10 minutes (10)",
        "zoho_session_data": "both (default), param (the doc's table) or body (its samples)",
        "zoho_echo": "exact (default) or normalised (2:00 PM, trimmed names)",
    },
)
