"""The Starlette side of :class:`importer.sandbox.http.Routes`: its routes and path segments.

Apart from :mod:`importer.sandbox.http` so that Starlette's router loads when a sandbox is
built, not when a vendor's part declares its routes (building a plugin, as `vendors` and
`run --help` do, must stay light: issue 27).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import unquote

from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import Route

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from importer.sandbox.http import Handler, Serve

__all__ = ["MethodRoute"]


class _Segment(Convertor[str]):
    """One path segment, percent-decoded; it may be empty ("/paths//sessions"): the handler
    decides what that means (360Learning v1 documents 404 ``path_not_found`` "if no path Id
    has been provided"), where Starlette's own ``str`` wants one character at least."""

    regex = "[^/]*"

    def convert(self, value: str) -> str:
        return unquote(value)

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("segment", _Segment())


class MethodRoute(Route):
    """A route for one method exactly (a GET route does not take HEAD, Starlette's would),
    whose path matches with or without a trailing slash.

    Its endpoint is the handler, which Starlette never calls itself: :meth:`handle` hands
    it to ``serve``, on the event loop (Starlette would run a plain function in a thread).
    """

    def __init__(self, path: str, handler: Handler, method: str, serve: Serve) -> None:
        super().__init__(path.rstrip("/") or "/", handler, methods=[method])
        self.methods = {method}
        self.serve = serve
        # Starlette would answer the other form with a redirect; the vendors' docs spell their
        # paths both ways (v1's end with a slash), and clients send what they read.
        self.path_regex = re.compile(
            self.path_regex.pattern.removesuffix("/$").removesuffix("$") + "/?$"
        )

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette hands a route the requests of its path: of its method when it is the
        # first route to take them, of another method when no route does (Match.PARTIAL).
        handler = self.endpoint if scope["method"] in (self.methods or ()) else None
        await self.serve(scope, receive, send, handler=handler, known=True)
