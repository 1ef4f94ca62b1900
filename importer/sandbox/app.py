"""The sandbox application: vendor APIs under path prefixes, faults, inspection.

=====================  ============================================
prefix                 serves
=====================  ============================================
``/<vendor prefix>``   each vendor part's routes (``SandboxPart.prefixes``)
``/_sandbox``          inspection and control, for tests and demos
=====================  ============================================

It is a plain ASGI app (Starlette's router: a mount per prefix, a route per vendor route):
serve it with :class:`~importer.sandbox.server.SandboxServer` or call it in-process with
``httpx.ASGITransport(app)``. The parts come from the caller (``importer.vendors.sandbox_parts()``
gives every registered vendor's): nothing here knows a vendor.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping
from dataclasses import asdict
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.routing import Mount, Router
from starlette.types import Receive, Scope, Send

from importer.core.clock import FakeClock
from importer.core.errors import ConfigurationError
from importer.sandbox.echo import echo_answer
from importer.sandbox.faults import Faults, parse_faults
from importer.sandbox.http import (
    DropConnection,
    Handler,
    Request,
    Response,
    Routes,
    json_response,
    read_request,
    send_response,
)
from importer.sandbox.part import SandboxPart
from importer.sandbox.state import SandboxState

__all__ = ["OPTIONS", "Sandbox"]

#: The longest a request waits for others under ``hold_in_flight`` (a safety, never a pace).
HOLD_SECONDS = 10.0
#: Options that change how the sandbox answers where the docs are silent.
#: Options of every vendor (each vendor's part declares its own, see ``SandboxPart.options``).
OPTIONS = {
    "token_ttl": "seconds an access token lives",
    "fake_latency": "on a fake clock, the most seconds each way of a request takes",
    "hold_in_flight": "a vendor's requests wait until this many have arrived (at most "
    f"{HOLD_SECONDS:g} s), so that a client's concurrency is really in flight at once",
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
        parts: each vendor's part (its routes, error shape, credentials), by vendor name;
            ``importer.vendors.sandbox_parts()`` gives every registered vendor's.
        state: what the sandbox holds (seed, clock, faults, options); a fresh
            default state when omitted.

    Raises:
        ConfigurationError: the seed has no section for a part.
    """

    def __init__(self, parts: Mapping[str, SandboxPart], state: SandboxState | None = None) -> None:
        self.state = state or SandboxState.fresh()
        self.initial_options = dict(self.state.options)
        self._jitter = random.Random(7)
        self.parts = dict(parts)
        for part in self.parts.values():
            if part.seed is not None and part.seed not in self.state.seed:
                raise ConfigurationError(f"the sandbox seed has no {part.seed!r} section.")
        #: Requests being answered, and requests arrived (``hold_in_flight``), by vendor.
        self._in_flight: dict[str, int] = {}
        self._arrived: dict[str, int] = {}
        self._gathered: dict[str, asyncio.Event] = {}
        self._build()

    @property
    def vendors(self) -> list[str]:
        """The vendors this sandbox serves."""
        return list(self.parts)

    @property
    def options(self) -> dict[str, str]:
        """Every option the sandbox takes, with what it does."""
        found = dict(OPTIONS)
        for part in self.parts.values():
            found.update(part.options)
        return found

    def describe(self, base_url: str) -> dict[str, dict[str, Any]]:
        """Base URLs and credentials per vendor, under the importer's environment variable
        names, for the sandbox served at ``base_url``."""
        return {name: part.describe(base_url, self.state) for name, part in self.parts.items()}

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app (the same one across resets, which rebuild the routes)."""
        await self._router(scope, receive, send)

    def _build(self) -> None:
        state = self.state
        prefixes = sorted({prefix for part in self.parts.values() for prefix in part.prefixes})
        self.routers = {p: Routes(partial(self._serve, p)) for p in prefixes}
        self.live: dict[str, Any] = {
            name: part.build(state, self.routers) for name, part in self.parts.items()
        }
        self.control = Routes(_control)
        self._control_routes()
        mounts = [Mount(p, app=routes.router) for p, routes in self.routers.items()]
        self._router = Router(
            [Mount("/_sandbox", app=self.control.router), *mounts],
            redirect_slashes=False,
            default=_no_vendor,
        )

    def part(self, vendor: str) -> Any:
        """A vendor's live part (Zoho's account: its rate window, lock and tokens)."""
        return self.live[vendor]

    def reset(self) -> None:
        """Forget everything created; keep the clock, options and faults."""
        old = self.state
        self.state = SandboxState.fresh(old.seed, old.clock, old.faults, **old.options)
        self._arrived.clear()
        self._gathered.clear()
        self._build()

    def vendor_of(self, prefix: str, path: str) -> str:
        """The vendor a request belongs to (for faults and the request log)."""
        return next(
            (n for n, p in self.parts.items() if prefix in p.prefixes and p.owns(prefix, path)),
            "unknown",
        )

    async def _serve(
        self,
        prefix: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        handler: Handler | None,
        known: bool,
    ) -> None:
        """Answer a request Starlette routed under a vendor prefix (``handler``: its route's,
        or ``None``, ``known`` telling 405 from 404), through that vendor's faults."""
        request = await read_request(scope, receive)
        path = request.path
        vendor = self.vendor_of(prefix, path)
        token = vendor in self.parts and path in self.parts[vendor].token_paths
        word = "token" if token else path.rstrip("/").rsplit("/", 1)[-1]
        target = f"{vendor}/{word}" if f"{vendor}/{word}" in self.state.faults else vendor
        host = request.headers.get("host", "127.0.0.1")
        request.headers["x-sandbox-base"] = f"http://{host}{prefix}"
        self._travel()  # the request's way in
        entry = self._log(vendor, request)
        refused = None if token else self._over_limit(vendor)
        if refused is not None:
            entry["status"], entry["refused"] = refused.status, "in flight"
            await send_response(send, refused)
            return
        self._in_flight[vendor] = self._in_flight.get(vendor, 0) + 1
        try:
            if not token:
                await self._hold(vendor)
            response = await self._with_faults(target, request, handler, known)
        finally:
            self._in_flight[vendor] -= 1
        entry["status"] = response.status
        self._travel()  # the answer's way back
        await send_response(send, response)

    def _over_limit(self, vendor: str) -> Response | None:
        """A 429 when the vendor already has its documented most requests in flight
        (``SandboxPart.max_in_flight``); every arrival counts for ``hold_in_flight``."""
        self._arrived[vendor] = self._arrived.get(vendor, 0) + 1
        want = int(self.state.options.get("hold_in_flight", 0) or 0)
        if want and self._arrived[vendor] >= want:
            self._gathered.setdefault(vendor, asyncio.Event()).set()
        part = self.parts.get(vendor)
        most = part.max_in_flight if part is not None else None
        if most is not None and self._in_flight.get(vendor, 0) >= most:
            return json_response(429, {"error": f"more than {most} requests at once"})
        return None

    async def _hold(self, vendor: str) -> None:
        """Under ``hold_in_flight``, wait until that many of the vendor's requests arrived."""
        if not int(self.state.options.get("hold_in_flight", 0) or 0):
            return
        gathered = self._gathered.setdefault(vendor, asyncio.Event())
        try:
            await asyncio.wait_for(gathered.wait(), HOLD_SECONDS)
        except TimeoutError:
            gathered.set()  # the client never had that many at once: let everything through

    def _travel(self) -> None:
        """On a fake clock, requests take no time unless told: ``fake_latency`` (seconds, the
        most one way takes) makes each way take a random share of it, so that a client's
        pacing meets the jitter a real network gives (a pace that only holds when requests
        are instant is caught on the fake clock too)."""
        most = float(self.state.options.get("fake_latency", 0) or 0)
        if most and isinstance(self.state.clock, FakeClock):
            self.state.clock.advance(self._jitter.random() * most)

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
        self, vendor: str, request: Request, handler: Handler | None, known: bool
    ) -> Response:
        faults = self.state.fault(vendor)
        vendor = vendor.removesuffix("/token")
        if faults.latency:
            await asyncio.sleep(faults.latency)  # real time: latency is about the wire
        if faults.draw(faults.timeout):
            await asyncio.sleep(faults.hang)
            raise DropConnection
        if faults.draw(faults.error_500):
            part = self.parts.get(vendor)
            return json_response(500, part.server_error if part else {"error": "server error"})
        if faults.draw(faults.error_429):
            return json_response(429, {"error": "tooManyRequests"})
        if faults.draw(faults.html_503):
            return _html(503, "Service Temporarily Unavailable")
        if faults.draw(faults.envelope):
            error = {"code": 7005, "message": "Internal error, please try later"}
            envelope = {"status": 1, "uri": request.path, "message": "Error occurred"}
            return json_response(200, {"response": {**envelope, "errors": error}})
        if faults.draw(faults.echo):
            faults.echoed += 1
            return echo_answer(request, faults.echoed % 2 == 0, faults.echoed)
        if faults.draw(faults.code_7202):
            return json_response(200, {"code": 7202, "message": "Invalid OAuth token"})
        for status, share in ((404, faults.error_404), (409, faults.error_409)):
            if faults.draw(share):
                return _html(status, "Not Found" if status == 404 else "Conflict")
        if handler is None:
            # No vendor documents its answer to a path it does not have, or to another method
            # on one it has: the sandbox's own, as before Starlette routed (404, and 405
            # without an Allow header; Starlette's are plain text, and a 405 lists Allow).
            status = 405 if known else 404
            return json_response(
                status, {"error": "not found" if status == 404 else "method not allowed"}
            )
        answer = handler(request)
        response = await answer if not isinstance(answer, Response) else answer
        if (
            getattr(handler, "creates", False)
            and response.status < 300
            and faults.draw(faults.drop)
        ):
            raise DropConnection  # the work is done; the answer never leaves
        if faults.draw(faults.html):
            return _html(200, "Our service is being updated. Your request has been received.")
        if faults.draw(faults.empty):
            return Response(200, raw=b"", headers={"content-type": "application/json"})
        if faults.draw(faults.empty_201):
            return Response(201, raw=b"", headers={"content-type": "application/json"})
        if response.status == 200 and faults.draw(faults.status_201):
            response.status = 201
        if request.method == "GET" and response.status == 200 and faults.draw(faults.loop):
            response.headers = {**response.headers, "Link": f'<{_first_page(request)}>; rel="next"'}
        return response

    def _control_routes(self) -> None:
        control = self.control

        @control.route("GET", "/health")
        def health(request: Request) -> Response:
            return json_response(200, {"ok": True, "vendors": self.vendors})

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
            self.state.options.clear()
            self.state.options.update(self.initial_options)
            self.reset()
            return json_response(200, {"ok": True})

        @control.route("PUT", "/options")
        def options(request: Request) -> Response:
            # Undocumented behaviours to try (see the sandbox README); applied at once, and
            # kept until the next reset, which also forgets what was built on the old ones.
            body = request.json()
            if not isinstance(body, dict) or set(body) - set(self.options):
                return json_response(400, {"error": f"options are among {sorted(self.options)}"})
            self.state.options.update(body)
            self.reset()
            return json_response(200, dict(self.state.options))

        @control.route("PUT", "/faults")
        def faults(request: Request) -> Response:
            try:
                spec = request.body.decode("utf-8")
                parsed = parse_faults(spec, self.vendors)
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
            figures: dict[str, Any] = {
                "created": len(self.state.created),
                "requests": len(self.state.requests),
            }
            for live in self.live.values():
                if hasattr(live, "status"):
                    figures.update(live.status())
            return json_response(200, figures)


def _first_page(request: Request) -> str:
    """The URL of a list's first page: the request's own, without its paging parameters."""
    paging = ("page", "offset", "startIndex", "cursor")
    query = [(k, v) for k, values in request.query.items() if k not in paging for v in values]
    base = f"{request.headers.get('x-sandbox-base', '')}{request.path}"
    return f"{base}?{urlencode(query)}" if query else base


def _html(status: int, text: str) -> Response:
    page = f"<!DOCTYPE html><html><head><title>{status}</title></head><body><h1>{text}</h1>"
    page += "</body></html>"
    html = {"content-type": "text/html; charset=utf-8"}
    return Response(status, raw=page.encode(), headers=html)


def _public(faults: Faults) -> dict[str, float]:
    return {k: v for k, v in asdict(faults).items() if k not in ("rng", "echoed")}


async def _control(
    scope: Scope, receive: Receive, send: Send, *, handler: Handler | None, known: bool
) -> None:
    """Serve a ``/_sandbox`` route; any other path or method there is 404."""
    if handler is None:
        await send_response(send, json_response(404, {"error": "no such sandbox route"}))
        return
    answer = handler(await read_request(scope, receive))
    await send_response(send, await answer if not isinstance(answer, Response) else answer)


async def _no_vendor(scope: Scope, receive: Receive, send: Send) -> None:
    error = {"error": f"no vendor at {scope['path']}; see /_sandbox/"}
    await send_response(send, json_response(404, error))
