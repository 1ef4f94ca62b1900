"""Sessions, signing in, CSRF and the browser's safety headers.

- A browser is named by a random cookie (HttpOnly, SameSite=Strict, and Secure whenever the
  page is reached over HTTPS). Its CSRF token is derived from that name with a key of this
  process (an HMAC), so a visitor who has not signed in costs the server nothing: only
  sessions that hold something (signed in, or a name given on the page) are kept, in memory,
  at most ``per_address`` a client address (the least recently used of that address goes
  first). A flood from one address cannot push out anyone else's session.
- With a way of signing in (:class:`SignIn`: the password of ``IMPORTER_WEB_PASSWORD``, see
  :mod:`importer.web.password`), every page but the login form asks for it; scripts may
  send it as ``Authorization: Bearer <password>`` instead. Signing out ends the session.
- Behind the company's sign-on proxy (:class:`~importer.web.proxy.ProxyUsers`), the user is the
  proxy's header: a request without one the proxy vouches for is refused (401) before any
  route, and a session belongs to one user: a request whose user is not its session's gets a
  new session (a new name, hence a new CSRF token), kept among that user's own.
- With the company's OpenID Connect provider (:mod:`importer.web.oidc`, ``external``), a
  visitor is not signed in: a page asked for sends the browser to ``/login?next=PAGE``, which
  starts the provider's sign-in; its callback makes the signed-in session (:meth:`Guard.sign_on`),
  kept among its user's own as behind the proxy.
- Every form carries the CSRF token, checked on every POST; a POST whose ``Origin`` is
  another site is refused before that.
- Content-Security-Policy allows scripts and styles from the page's own origin only, so even
  a cell that slipped past escaping could not run.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from urllib.parse import quote, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from importer.web.proxy import ProxyUsers, Unidentified

__all__ = [
    "COOKIE",
    "Attempt",
    "CsrfError",
    "Guard",
    "Session",
    "Sessions",
    "SignIn",
    "Verdict",
    "check_csrf",
    "client_address",
    "same_secret",
    "too_many",
]

COOKIE = "importer_session"
_OPEN_PATHS = ("/login", "/static/", "/oidc/")
_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class CsrfError(Exception):
    """A form came without this session's token."""


class Verdict(StrEnum):
    """What a sign-in attempt came to."""

    OK = "ok"
    WRONG = "wrong"  # checked, and wrong: the address now waits
    WAIT = "wait"  # not checked: the address is still waiting after a wrong guess


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt's verdict, and how long the address must wait before the next."""

    verdict: Verdict
    retry_after: float = 0.0

    @property
    def seconds(self) -> int:
        """The wait in whole seconds, rounded up (``Retry-After``'s unit)."""
        return max(1, math.ceil(self.retry_after))


class SignIn(Protocol):
    """A way of signing in: checks what a client gave, from its address."""

    def attempt(self, address: str, given: str) -> Attempt:
        """The verdict on ``given`` (a password, a bearer token) from ``address``."""
        ...


@dataclass
class Session:
    """One browser's session."""

    id: str
    csrf: str
    authed: bool = False
    who: str = ""
    #: The groups the sign-on vouches for (the proxy's groups header, the provider's claim):
    #: what an account's ``users = ["group:NAME"]`` is matched against.
    groups: frozenset[str] = frozenset()


class Sessions:
    """The sessions kept: at most ``per_address`` for each client address (least recently
    used first out), and at most ``addresses`` addresses (the least recently seen first out)."""

    def __init__(self, per_address: int = 20, addresses: int = 10_000) -> None:
        self.per_address, self.addresses = per_address, addresses
        self._by_address: OrderedDict[str, OrderedDict[str, Session]] = OrderedDict()
        self._address: dict[str, str] = {}  # session id -> the address it is kept under

    def get(self, ident: str) -> Session | None:
        """The session named ``ident``, if kept (it becomes its address's most recent)."""
        address = self._address.get(ident)
        if address is None:
            return None
        kept = self._by_address[address]
        kept.move_to_end(ident)
        self._by_address.move_to_end(address)
        return kept[ident]

    def keep(self, session: Session, address: str) -> None:
        """Keep ``session``, under ``address`` unless it is kept already."""
        if session.id in self._address:
            return
        kept = self._by_address.setdefault(address, OrderedDict())
        self._by_address.move_to_end(address)
        kept[session.id] = session
        self._address[session.id] = address
        while len(kept) > self.per_address:
            old, _ = kept.popitem(last=False)
            del self._address[old]
        while len(self._by_address) > self.addresses:
            _, dropped = self._by_address.popitem(last=False)
            for old in dropped:
                del self._address[old]

    def drop(self, ident: str) -> None:
        """Forget the session named ``ident`` (signing out)."""
        address = self._address.pop(ident, None)
        if address is not None:
            kept = self._by_address[address]
            del kept[ident]
            if not kept:
                del self._by_address[address]

    def __len__(self) -> int:
        return len(self._address)


def client_address(request: Request) -> str:
    """The connection's peer address (never a header a client writes)."""
    return request.client.host if request.client else "unknown"


class Guard:
    """The middleware: session cookie, signing in and out, cross-site refusal, headers."""

    def __init__(
        self,
        sign_in: SignIn | None,
        sessions: Sessions | None = None,
        proxy: ProxyUsers | None = None,
        *,
        external: bool = False,
        secure: bool = False,
    ) -> None:
        """``external``: users sign in at an identity provider (OIDC), see :meth:`sign_on`;
        ``secure``: the page is reached over HTTPS (its public URL says so), whatever the
        request's own scheme behind a TLS proxy: cookies are always Secure."""
        if sum((sign_in is not None, proxy is not None, external)) > 1:
            raise ValueError("one way of signing in: a password, the proxy's header or OIDC")
        self.sign_in, self.proxy = sign_in, proxy
        self.external, self.secure = external, secure
        self._open = sign_in is None and not external  # a visitor is signed in (auth none)
        self.sessions = sessions or Sessions()
        self._key = secrets.token_bytes(32)  # this process's: its CSRF tokens end with it

    def _new(self, ident: str | None = None, authed: bool = False, who: str = "") -> Session:
        ident = ident or secrets.token_urlsafe(32)
        token = hmac.new(self._key, ident.encode(), hashlib.sha256).hexdigest()
        return Session(ident, token, authed, who)

    def login(self, request: Request, given: str, who: str) -> Attempt:
        """Check the password; when right, a new session (new id: no fixation), kept."""
        if self.sign_in is None:
            return Attempt(Verdict.WRONG)
        attempt = self.sign_in.attempt(client_address(request), given)
        if attempt.verdict == Verdict.OK:
            session = self._new(authed=True, who=who.strip()[:80])
            self.sessions.drop(request.state.session.id)
            self.sessions.keep(session, client_address(request))
            request.state.session = session
        return attempt

    def sign_on(self, request: Request, who: str, groups: frozenset[str]) -> Session:
        """The identity provider vouched for ``who`` (and ``groups``): a new session (new
        id: no fixation), kept among that user's own (bounded per user, as the proxy's)."""
        session = self._new(authed=True, who=who)
        session.groups = groups
        self.sessions.drop(request.state.session.id)
        self.sessions.keep(session, f"user {who}")
        request.state.session = session
        return session

    def logout(self, request: Request) -> None:
        """End the request's session: forgotten here, and the browser gets a new name."""
        self.sessions.drop(request.state.session.id)
        request.state.session = self._new(authed=self._open)

    def remember(self, request: Request) -> None:
        """Keep the request's session (it now holds something: the name given on the page)."""
        self.sessions.keep(request.state.session, client_address(request))

    async def __call__(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Starlette's ``http`` middleware hook."""
        cookie = request.cookies.get(COOKIE, "")
        session = self.sessions.get(cookie)
        if self.proxy is not None:
            try:
                user = self.proxy.user(client_address(request), request.scope["headers"])
                groups = self.proxy.groups(request.scope["headers"])
            except Unidentified as refusal:
                response: Response = PlainTextResponse(f"{refusal}\n", status_code=401)
                return _with_headers(response)
            if session is None or session.who != user:  # never a session across users
                session = self._new(authed=True, who=user)
                self.sessions.keep(session, f"user {user}")  # bounded per user, not per proxy
            session.groups = groups  # as the proxy says now: a group left is left at once
        elif session is None:  # not kept: a visitor's, made again from its name (nothing kept)
            named = cookie if _ID.fullmatch(cookie) else None
            session = self._new(named, authed=self._open)
        request.state.session = session
        response = await self._guarded(request, session, call_next)
        final = request.state.session  # a login or a logout replaces it
        if request.cookies.get(COOKIE) != final.id:
            response.set_cookie(
                COOKIE,
                final.id,
                httponly=True,
                samesite="strict",
                secure=self._over_https(request),
            )
        return _with_headers(response)

    def _over_https(self, request: Request) -> bool:
        """Whether the browser reached the page over HTTPS: the request's scheme, or, behind
        the sign-on proxy (whose requests alone get this far), its ``X-Forwarded-Proto``."""
        if self.secure or request.url.scheme == "https":
            return True
        forwarded = request.headers.get("x-forwarded-proto", "")
        return self.proxy is not None and forwarded.strip().lower() == "https"

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
            if self.sign_in is not None and token:
                attempt = self.sign_in.attempt(client_address(request), token)
                if attempt.verdict == Verdict.OK:
                    request.state.bearer = True
                    return await call_next(request)
                if attempt.verdict == Verdict.WAIT:
                    return too_many(attempt)
            if request.method in ("GET", "HEAD"):
                if self.external:  # back to this page once the provider has signed them in
                    asked = request.url.path + (
                        f"?{request.url.query}" if request.url.query else ""
                    )
                    return RedirectResponse(f"/login?next={quote(asked, safe='')}", 303)
                return RedirectResponse("/login", status_code=303)
            return PlainTextResponse("log in first", status_code=401)
        return await call_next(request)


def _with_headers(response: Response) -> Response:
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def too_many(attempt: Attempt) -> Response:
    """429, with how long to wait, for a guess made during an address's wait."""
    return PlainTextResponse(
        f"too many wrong passwords from this address: try again in {attempt.seconds} s",
        status_code=429,
        headers={"Retry-After": str(attempt.seconds)},
    )


def same_secret(given: str, expected: str) -> bool:
    """Whether ``given`` is ``expected``, in time that does not tell how much of it matched."""
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
    if not token or not same_secret(token, request.state.session.csrf):
        raise CsrfError
    return form
