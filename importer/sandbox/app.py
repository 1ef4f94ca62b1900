"""The sandbox application: four vendor APIs under path prefixes, faults, inspection.

=====================  ============================================
prefix                 serves
=====================  ============================================
``/360learning``       360Learning v1 (``/api/v1/...``) and v2 (``/api/v2/...``)
``/zoho``              Zoho People (LMS ``/api/v1/...``, ``/people/api/...``)
``/zoho-accounts``     Zoho's accounts server (``/oauth/v2/token``)
``/coursepath``        a Coursepath academy (``/api/v1/...``)
``/_sandbox``          inspection and control, for tests and demos
=====================  ============================================

It is a plain ASGI app: serve it with :class:`~importer.sandbox.server.SandboxServer`
or call it in-process with ``httpx.ASGITransport(app)``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs

from importer.clock import FakeClock
from importer.sandbox import coursepath, learning360, zoho
from importer.sandbox.faults import Faults, parse_faults
from importer.sandbox.http import DropConnection, Request, Response, Router, asgi_app, json_response
from importer.sandbox.state import SandboxState

__all__ = ["VENDORS", "Sandbox", "describe"]

VENDORS = ["360learning-v1", "360learning-v2", "zoho-people", "coursepath"]
# What each vendor's 500 looks like: Zoho's from its doc's table, the others undocumented.
_SERVER_ERROR: dict[str, Any] = {
    "360learning-v1": {"error": "internal_server_error"},
    "360learning-v2": {"error": {"code": "internalServerError", "message": "Sandbox fault."}},
    "zoho-people": {"code": 500, "message": "Sorry! Server error occured"},
    "coursepath": {"error": "internal server error"},
}
#: Parts of a field name that mark a secret (client secret, refresh token, API key, password).
_SECRET_PARTS = ("secret", "token", "password", "passwd", "apikey", "api_key", "authorization")
#: A logged body longer than this is cut: the log is a bounded ring, in entries and in bytes.
_MAX_LOGGED_BODY = 2048


def _is_secret(key: str) -> bool:
    lowered = key.lower().replace("-", "_")
    return any(part in lowered for part in _SECRET_PARTS)


def _redact(values: Any) -> Any:
    """``values`` with every secret-named field (at any depth) replaced by ``***``."""
    if isinstance(values, dict):
        return {k: "***" if _is_secret(str(k)) else _redact(v) for k, v in values.items()}
    if isinstance(values, list):
        return [_redact(v) for v in values]
    return values


def _logged_body(request: Request) -> Any:
    """The request body as the log keeps it: parsed, secrets redacted, size bounded."""
    try:
        body: Any = request.json()
    except ValueError:
        text = request.body.decode("utf-8", "replace")
        form = parse_qs(text, keep_blank_values=True) if "=" in text else {}
        # A form (Zoho's token request carries the client secret and refresh token).
        body = {k: v[0] if len(v) == 1 else v for k, v in form.items()} if form else text
    body = _redact(body)
    size = len(json.dumps(body, default=str))
    if size > _MAX_LOGGED_BODY:
        return f"<{size:,} bytes, not kept>"
    return body


class Sandbox:
    """The sandbox: its state, its routes, and the ASGI app serving them.

    Args:
        state: what the sandbox holds (seed, clock, faults, options); a fresh
            default state when omitted.
    """

    def __init__(self, state: SandboxState | None = None) -> None:
        self.state = state or SandboxState.fresh()
        self._build()
        self.app = asgi_app(self.handle)

    def _build(self) -> None:
        state = self.state
        self.routers: dict[str, Router] = {
            p: Router() for p in ("/360learning", "/zoho", "/zoho-accounts", "/coursepath")
        }
        learning360.build_v1(state, self.routers["/360learning"])
        learning360.build_v2(state, self.routers["/360learning"])
        self.zoho = zoho.ZohoAccount(state)
        zoho.build_people(state, self.routers["/zoho"], self.zoho)
        zoho.build_accounts(state, self.routers["/zoho-accounts"], self.zoho)
        coursepath.build(state, self.routers["/coursepath"])
        self.control = Router()
        self._control_routes()

    def reset(self) -> None:
        """Forget everything created; keep the clock, options and faults."""
        old = self.state
        self.state = SandboxState.fresh(old.seed, old.clock, old.faults, **old.options)
        self._build()

    @staticmethod
    def vendor_of(prefix: str, path: str) -> str:
        """The vendor name a request belongs to (for faults and the request log)."""
        if prefix == "/360learning":
            return "360learning-v2" if path.startswith("/api/v2") else "360learning-v1"
        return "coursepath" if prefix == "/coursepath" else "zoho-people"

    async def handle(self, request: Request) -> Response:
        """Route a request: control routes, or a vendor's, through that vendor's faults."""
        if request.path.startswith("/_sandbox"):
            handler, params, _ = self.control.find(request.method, request.path[len("/_sandbox") :])
            if handler is None:
                return json_response(404, {"error": "no such sandbox route"})
            request.params = params
            return handler(request)  # type: ignore[return-value]
        prefix = next(
            (
                p
                for p in sorted(self.routers, key=len, reverse=True)
                if request.path == p or request.path.startswith(p + "/")
            ),
            None,
        )
        if prefix is None:
            return json_response(404, {"error": f"no vendor at {request.path}; see /_sandbox/"})
        path = request.path[len(prefix) :] or "/"
        vendor = self.vendor_of(prefix, path)
        handler, params, known = self.routers[prefix].find(request.method, path)
        host = request.headers.get("host", "127.0.0.1")
        request.headers["x-sandbox-base"] = f"http://{host}{prefix}"
        request.headers["x-sandbox-people"] = f"http://{host}/zoho"
        request.path, request.params = path, params
        entry = self._log(vendor, request)
        response = await self._with_faults(vendor, request, handler, known)
        entry["status"] = response.status
        return response

    def _log(self, vendor: str, request: Request) -> dict[str, Any]:
        body = _logged_body(request)
        query = _redact({k: v[0] if len(v) == 1 else v for k, v in request.query.items()})
        entry = {
            "vendor": vendor,
            "method": request.method,
            "path": request.path,
            "query": query,
            "body": body,
            "at": self.state.clock.time(),
            "status": None,
        }
        with self.state.lock:
            self.state.requests.append(entry)
        return entry

    async def _with_faults(
        self, vendor: str, request: Request, handler: Any, known: bool
    ) -> Response:
        faults = self.state.fault(vendor)
        if faults.latency:
            await asyncio.sleep(faults.latency)  # real time: latency is about the wire
        if faults.draw(faults.timeout):
            await asyncio.sleep(faults.hang)
            raise DropConnection
        if faults.draw(faults.error_500):
            return json_response(500, _SERVER_ERROR[vendor])
        if faults.draw(faults.error_429):
            return json_response(429, {"error": "tooManyRequests"})
        if handler is None:
            status = 405 if known else 404
            return json_response(
                status, {"error": "not found" if status == 404 else "method not allowed"}
            )
        response = handler(request)
        if asyncio.iscoroutine(response):
            response = await response
        if (
            getattr(handler, "creates", False)
            and response.status < 300
            and faults.draw(faults.drop)
        ):
            raise DropConnection  # the work is done; the answer never leaves
        return response  # type: ignore[no-any-return]

    def _control_routes(self) -> None:
        control = self.control

        @control.route("GET", "/health")
        def health(request: Request) -> Response:
            return json_response(200, {"ok": True, "vendors": VENDORS})

        @control.route("GET", "/requests")
        def requests(request: Request) -> Response:
            vendor = request.arg("vendor")
            with self.state.lock:
                found = [r for r in self.state.requests if vendor in (None, r["vendor"])]
            return json_response(200, found)

        @control.route("GET", "/created")
        def created(request: Request) -> Response:
            vendor, kind = request.arg("vendor"), request.arg("kind")
            with self.state.lock:
                found = [
                    asdict(c)
                    for c in self.state.created
                    if vendor in (None, c.vendor) and kind in (None, c.kind)
                ]
            for item in found:
                if isinstance(item["request"], dict):
                    item["request"] = _redact(item["request"])
            return json_response(200, found)

        @control.route("POST", "/reset")
        def reset(request: Request) -> Response:
            self.reset()
            return json_response(200, {"ok": True})

        @control.route("PUT", "/faults")
        def faults(request: Request) -> Response:
            try:
                spec = request.body.decode("utf-8")
                parsed = parse_faults(spec, VENDORS)
                self.state.faults.clear()  # the spec replaces every earlier fault
                self.state.faults.update(parsed)
            except Exception as error:
                return json_response(400, {"error": str(error)})
            return json_response(200, {v: _public(f) for v, f in self.state.faults.items()})

        @control.route("POST", "/clock")
        def clock(request: Request) -> Response:
            if not isinstance(self.state.clock, FakeClock):
                return json_response(409, {"error": "the sandbox runs on the real clock"})
            body = request.json() or {}
            self.state.clock.advance(float(body.get("advance", 0)))
            return json_response(200, {"time": self.state.clock.time()})

        @control.route("GET", "/status")
        def status(request: Request) -> Response:
            return json_response(
                200,
                {
                    "zoho_locks": self.zoho.locks,
                    "created": len(self.state.created),
                    "requests": len(self.state.requests),
                },
            )


def _public(faults: Faults) -> dict[str, float]:
    return {k: v for k, v in asdict(faults).items() if k != "rng"}


def describe(base_url: str, state: SandboxState) -> dict[str, dict[str, Any]]:
    """Base URLs and credentials per vendor, under the importer's environment variable names."""
    seed = state.seed
    l360, zoho_seed, course = seed["360learning"], seed["zoho"], seed["coursepath"]
    client = l360["credentials"][0]
    return {
        "360learning-v1": {
            "base_url": f"{base_url}/360learning",
            "auth_url": None,
            "env": {
                "IMPORTER_360L_COMPANY": l360["company"],
                "IMPORTER_360L_API_KEY": l360["api_key"],
            },
        },
        "360learning-v2": {
            "base_url": f"{base_url}/360learning",
            "auth_url": f"{base_url}/360learning",
            "env": {
                "IMPORTER_360L_CLIENT_ID": client["client_id"],
                "IMPORTER_360L_CLIENT_SECRET": client["client_secret"],
            },
        },
        "zoho-people": {
            "base_url": f"{base_url}/zoho",
            "auth_url": f"{base_url}/zoho-accounts",
            "env": {
                "IMPORTER_ZOHO_CLIENT_ID": zoho_seed["client_id"],
                "IMPORTER_ZOHO_CLIENT_SECRET": zoho_seed["client_secret"],
                "IMPORTER_ZOHO_REFRESH_TOKEN": zoho_seed["refresh_token"],
            },
        },
        "coursepath": {
            "base_url": f"{base_url}/coursepath",
            "auth_url": None,
            "env": {
                "IMPORTER_COURSEPATH_API_KEY": course["api_key"],
                "IMPORTER_COURSEPATH_EMAIL": course["admin_email"],
            },
        },
    }
