"""The sandbox's requests and responses, and the routes vendors register (matched by Starlette).

A handler is ``handler(request) -> response``, run on the server's event loop: a request is
read whole before it is routed, and a handler's answer is plain data (:class:`Response`) that
the fault layer may still change or withhold. Starlette's router matches the path and the
method (:class:`Routes`); what serves a matched request is the caller's (``Serve``), so that
the sandbox keeps full control of what goes on the wire (a processed request whose
connection is dropped, a request that hangs), which general frameworks hide behind their
error middleware.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol
from urllib.parse import parse_qs

# starlette.types is typing only; its router (and anyio under it) loads with a sandbox,
# in importer.sandbox.router: a vendor's part imports this module when its plugin is built,
# which `vendors` and `run --help` do (issue 27: start-up).
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "ASGIApp",
    "DropConnection",
    "Request",
    "Response",
    "Routes",
    "Serve",
    "json_response",
    "read_request",
    "send_response",
]


class DropConnection(Exception):
    """Raised by a handler after doing its work: close the connection without answering.

    The sandbox's own server closes the socket; under an in-process transport
    the exception reaches the client, which sees the same thing: no answer.
    """


@dataclass
class Request:
    """An HTTP request, fully read."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` if it is not."""
        return json.loads(self.body.decode("utf-8")) if self.body.strip() else None

    def form(self) -> dict[str, str]:
        """The body as a JSON object or a url-encoded form, flattened to text values."""
        kind = self.headers.get("content-type", "")
        if "json" in kind:
            data = self.json()
            if not isinstance(data, dict):
                raise ValueError("the body is not a JSON object")
            return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
        parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}


@dataclass
class Response:
    """A JSON (or empty) response; ``raw`` (with its content type) sends bytes as they are."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes | None = None

    def encode(self) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        if self.raw is not None:
            headers = [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
            headers.append((b"content-length", str(len(self.raw)).encode()))
            return self.raw, headers
        payload = b"" if self.body is None else json.dumps(self.body).encode("utf-8")
        headers = [(b"content-type", b"application/json")] if self.body is not None else []
        headers += [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        headers.append((b"content-length", str(len(payload)).encode()))
        return payload, headers


def json_response(status: int, body: Any, **headers: str) -> Response:
    """A JSON response with extra headers given as keyword arguments (``Retry_After``)."""
    return Response(status, body, {k.replace("_", "-"): v for k, v in headers.items()})


Handler = Callable[[Request], Response | Awaitable[Response]]
_PARAM = re.compile(r"\{(\w+)\}")


class Serve(Protocol):
    """Serves a routed request: ``handler`` is the route's, or ``None`` when no route takes
    the request (``known``: a route has its path, not its method)."""

    def __call__(
        self, scope: Scope, receive: Receive, send: Send, *, handler: Handler | None, known: bool
    ) -> Awaitable[None]: ...


class Routes:
    """The routes registered under one path prefix, and the Starlette router matching them.

    ``@routes.route("POST", "/api/v1/paths/{pathId}/sessions/")`` registers a handler;
    ``{name}`` captures one path segment (``request.params``), and a trailing slash in the
    request path is optional. Every request the router takes goes to ``serve``.
    """

    def __init__(self, serve: Serve) -> None:
        from starlette.routing import Router  # see the imports above

        self.serve = serve
        self.router = Router(
            redirect_slashes=False, default=partial(serve, handler=None, known=False)
        )

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Register a handler for ``method`` on the paths ``pattern`` names."""
        from importer.sandbox.router import MethodRoute

        path = _PARAM.sub(r"{\1:segment}", pattern)

        def register(handler: Handler) -> Handler:
            self.router.routes.append(MethodRoute(path, handler, method, self.serve))
            return handler

        return register


async def read_request(scope: Scope, receive: Receive) -> Request:
    """Build a :class:`Request` from an ASGI scope and its body messages.

    Its path is the one routed (under a mount, what follows the mount's prefix) and its
    ``params`` the path's parameters.
    """
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    path = str(scope["path"]).removeprefix(scope.get("root_path", "")) or "/"
    params = dict(scope.get("path_params", {}))
    return Request(scope["method"], path, query, headers, body, params)


async def send_response(send: Send, response: Response) -> None:
    """Send a :class:`Response` through ASGI."""
    payload, headers = response.encode()
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
