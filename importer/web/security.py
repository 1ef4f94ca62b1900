"""Sessions, the password (or token), CSRF and the browser's safety headers.

- Sessions are held in memory, named by a random cookie (HttpOnly, SameSite=Strict, and
  Secure whenever the page is reached over HTTPS).
- With a password (``IMPORTER_WEB_PASSWORD``), every page but the login form asks for it;
  scripts may send it as ``Authorization: Bearer <password>`` instead.
- Every form carries the session's CSRF token, checked on every POST; a POST whose
  ``Origin`` is another site is refused before that.
- Content-Security-Policy allows scripts and styles from the page's own origin only, so even
  a cell that slipped past escaping could not run.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from importer.secret import Secret

__all__ = ["COOKIE", "CsrfError", "Guard", "Session", "check_csrf"]

COOKIE = "importer_session"
_OPEN_PATHS = ("/login", "/static/")
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class CsrfError(Exception):
    """A form came without this session's token."""


@dataclass
class Session:
    """One browser's session."""

    id: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    authed: bool = False
    who: str = ""
    seen: float = field(default_factory=time.time)


class Guard:
    """The middleware: session cookie, login, cross-site refusal, safety headers."""

    def __init__(self, password: Secret | None, max_sessions: int = 10_000) -> None:
        self.password = password
        self.sessions: dict[str, Session] = {}
        self.max_sessions = max_sessions

    def login(self, request: Request, password: str, who: str) -> Session | None:
        """Check the password; a new session (new id: no fixation) when it is right."""
        if self.password is None or not _same(password, self.password.reveal()):
            return None
        session = Session(authed=True, who=who.strip()[:80])
        self._keep(session)
        self.sessions.pop(request.state.session.id, None)
        request.state.session = session
        return session

    def _keep(self, session: Session) -> None:
        if len(self.sessions) >= self.max_sessions:
            oldest = min(self.sessions.values(), key=lambda s: s.seen)
            del self.sessions[oldest.id]
        self.sessions[session.id] = session

    async def __call__(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Starlette's ``http`` middleware hook."""
        session = self.sessions.get(request.cookies.get(COOKIE, ""))
        if session is None:
            session = Session(authed=self.password is None)
            self._keep(session)
        session.seen = time.time()
        request.state.session = session
        response = await self._guarded(request, session, call_next)
        final = request.state.session  # a login replaces it
        if request.cookies.get(COOKIE) != final.id:
            response.set_cookie(
                COOKIE,
                final.id,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    async def _guarded(
        self,
        request: Request,
        session: Session,
        call_next: Callable[[Request], Awaitable[Response]],
    ) -> Response:
        if request.method not in ("GET", "HEAD", "OPTIONS") and not _same_origin(request):
            return PlainTextResponse("cross-site request refused", status_code=403)
        if not session.authed and not request.url.path.startswith(_OPEN_PATHS):
            bearer = request.headers.get("authorization", "")
            token = bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else ""
            if self.password is not None and token and _same(token, self.password.reveal()):
                request.state.bearer = True
                return await call_next(request)
            if request.method in ("GET", "HEAD"):
                return RedirectResponse("/login", status_code=303)
            return PlainTextResponse("log in first", status_code=401)
        return await call_next(request)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _same_origin(request: Request) -> bool:
    """Whether an unsafe request comes from this site (no Origin/Referer: a script or old
    browser, judged by its CSRF token alone)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def check_csrf(request: Request, max_files: int = 0) -> FormData:
    """Read the form of a POST and check its CSRF token (bearer-token scripts need none).

    Raises:
        CsrfError: the token is missing or is not this session's.
    """
    form = await request.form(max_files=max_files, max_fields=50, max_part_size=64 * 1024)
    if getattr(request.state, "bearer", False):
        return form
    token = str(form.get("csrf") or request.headers.get("x-csrf-token") or "")
    if not token or not _same(token, request.state.session.csrf):
        raise CsrfError
    return form
