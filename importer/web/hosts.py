"""The names this page answers to: every other ``Host`` is refused (421), on loopback too.

A web site a coordinator visits can make their browser call ``http://127.0.0.1:8000`` under a
name of its own (DNS rebinding: ``evil.example`` resolving to 127.0.0.1 after the page
loaded); the browser then treats the page's answers as that site's, cookies and CSRF checks
included. The request still carries ``Host: evil.example:8000``: answering only the names the
server was given (:func:`allowed_hosts`) ends the attack before any route runs.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HostCheck", "allowed_hosts"]

_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_ANY = ("0.0.0.0", "::", "")


def allowed_hosts(bind: str, port: int, given: Iterable[str] = ()) -> frozenset[str]:
    """The ``Host`` values the page answers: the bind address, ``localhost``, ``127.0.0.1``
    and ``[::1]``, each with the port; and each ``--allowed-host`` (a name given without a
    port is taken with and without this port: behind a proxy on 443 the browser sends the
    bare name)."""
    names = set(_LOOPBACK_NAMES)
    if bind not in _ANY:
        names.add(f"[{bind}]" if ":" in bind else bind)
    found = {f"{name}:{port}".lower() for name in names}
    for host in given:
        host = host.strip().lower()
        if not host:
            continue
        found.add(host)
        if not _has_port(host):
            found.add(f"{host}:{port}")
    return frozenset(found)


def _has_port(host: str) -> bool:
    return host.rsplit("]", 1)[-1].count(":") == 1 if host.startswith("[") else ":" in host


class HostCheck:
    """ASGI middleware: a request whose ``Host`` is not one of ``allowed`` gets 421
    (Misdirected Request) and reaches no route."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = ""
            for name, value in scope.get("headers", ()):
                if name == b"host":
                    host = value.decode("latin-1").strip().lower()
                    break
            if host not in self.allowed:
                await _misdirected(send)
                return
        await self.app(scope, receive, send)


async def _misdirected(send: Send) -> None:
    body = (
        b"misdirected request: this server does not answer for that host name "
        b"(serve --allowed-host NAME adds one)\n"
    )
    await send(
        {
            "type": "http.response.start",
            "status": 421,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
