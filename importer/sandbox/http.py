"""A minimal ASGI toolkit for the sandbox: requests, JSON responses, a path router.

Small on purpose: the sandbox needs full control of what goes on the wire
(a processed request whose connection is dropped, a request that hangs), which
general frameworks hide behind their error middleware.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

__all__ = [
    "ASGIApp",
    "DropConnection",
    "Request",
    "Response",
    "Router",
    "asgi_app",
    "json_response",
]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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


class Router:
    """Routes ``(method, path pattern)`` to handlers; ``{name}`` captures one path segment."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Register a handler; a trailing slash in the request path is optional."""
        # A parameter may be empty ("/paths//sessions"): the handler decides what that means.
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]*)", pattern.rstrip("/"))
        compiled = re.compile(f"^{regex}/?$")

        def register(handler: Handler) -> Handler:
            self._routes.append((method, compiled, handler))
            return handler

        return register

    def find(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], bool]:
        """Return the handler, its path parameters, and whether the path exists at all."""
        path_known = False
        for verb, pattern, handler in self._routes:
            match = pattern.match(path)
            if match:
                path_known = True
                if verb == method:
                    return handler, {k: unquote(v) for k, v in match.groupdict().items()}, True
        return None, {}, path_known


async def read_request(scope: Scope, receive: Receive) -> Request:
    """Build a :class:`Request` from an ASGI scope and its body messages."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return Request(scope["method"], scope["path"], query, headers, body)


async def send_response(send: Send, response: Response) -> None:
    """Send a :class:`Response` through ASGI."""
    payload, headers = response.encode()
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def asgi_app(handle: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """Wrap ``handle(request) -> response`` as an ASGI application."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        request = await read_request(scope, receive)
        await send_response(send, await handle(request))

    return app
