"""The page's OpenID Connect sign-in (``serve --auth oidc``): the company's provider says who
the user is.

The Authorization Code flow with PKCE (S256), ``state`` and ``nonce``:

1. ``GET /login?next=PAGE`` (where the guard sends a visitor): a pending sign-in is kept here,
   in memory, under a random ``state``: its PKCE verifier, its nonce, the page to return to,
   and a random value this browser also holds in a cookie (``SameSite=Lax``, so that it comes
   back with the provider's redirect). The browser goes to the provider.
2. ``GET /oidc/callback?code=...&state=...``: the pending sign-in is taken, once: a state that
   is unknown, used already, older than 10 minutes or started in another browser signs nobody
   in. The code is exchanged for tokens by the server (``client_secret_basic`` or ``_post``,
   as the provider's discovery offers), and the ID token is verified by Authlib (joserfc's JWS
   against the provider's JWKS, Authlib's ``CodeIDToken`` claims): signature, ``iss``,
   ``aud``, ``exp``, ``iat``, ``nonce``, ``azp``, ``at_hash``. The user is its
   ``--oidc-user-claim`` (``email``: refused when ``email_verified`` is false), its groups the
   ``--oidc-groups-claim``; claims the ID token lacks come from the UserInfo endpoint, for the
   ID token's subject (where the spec puts scope claims when an access token is issued).
3. A new session (:meth:`~importer.web.security.Guard.sign_on`), and a small page that moves
   the browser on to the page first asked for: the session cookie is ``SameSite=Strict``, and
   a browser does not send it on a redirect the provider's site started.

Talking to the provider (discovery, keys, the code's exchange, the ID token's checks) is
:mod:`importer.web.oidc_provider`'s. Nothing of the flow lives in a cookie that could be
forged, and neither the client secret nor a token appears in a page, a message or a log.
"""

from __future__ import annotations

import html
import re
import secrets
import sys
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from importer.core.clock import Clock, SystemClock
from importer.web.audit import Audit
from importer.web.oidc_provider import (
    CALLBACK,
    CONTROL,
    SIGNED_OUT,
    OidcProvider,
    ProviderUnavailable,
    SignInRefused,
    error_code,
)
from importer.web.security import Guard, client_address, same_secret

__all__ = ["OidcSignOn", "Pending", "PendingSignIns", "local_path"]

_BROWSER_COOKIE = "importer_oidc"


def local_path(given: str) -> str:
    """``given`` if it is a path of this page to return to, else ``/`` (no open redirect: no
    other host, scheme, ``//`` or backslash; not the sign-in's own pages)."""
    if (
        not given.startswith("/")
        or given.startswith(("//", "/login", "/logout", "/oidc/"))
        or "\\" in given
        or CONTROL.search(given)
        or len(given) > 2000
    ):
        return "/"
    parts = urlsplit(given)
    return "/" if parts.scheme or parts.netloc else given


@dataclass(frozen=True)
class Pending:
    """A sign-in under way at the provider."""

    verifier: str  # PKCE's code_verifier: its S256 hash went to the provider
    nonce: str
    browser: str  # the value of the browser cookie that started it
    next: str  # the page to return to
    address: str
    started: float  # monotonic seconds


class PendingSignIns:
    """The sign-ins under way, by ``state``: at most ``per_address`` a client address (its
    oldest first out) and ``total`` in all, each for ``ttl`` seconds, taken once."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        ttl: float = 600.0,
        per_address: int = 100,
        total: int = 10_000,
    ) -> None:
        self.clock, self.ttl = clock or SystemClock(), ttl
        self.per_address, self.total = per_address, total
        self._all: OrderedDict[str, Pending] = OrderedDict()  # oldest first
        self._by_address: dict[str, OrderedDict[str, None]] = {}

    def add(self, address: str, next_page: str, browser: str) -> tuple[str, Pending]:
        """A new sign-in from ``address``, for ``browser``: its state, and what is kept."""
        now = self.clock.monotonic()
        while self._all and now - next(iter(self._all.values())).started > self.ttl:
            self._forget(next(iter(self._all)))
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)  # 64 of PKCE's unreserved characters
        pending = Pending(verifier, secrets.token_urlsafe(32), browser, next_page, address, now)
        self._all[state] = pending
        mine = self._by_address.setdefault(address, OrderedDict())
        mine[state] = None
        while len(mine) > self.per_address:
            self._forget(next(iter(mine)))
        while len(self._all) > self.total:
            self._forget(next(iter(self._all)))
        return state, pending

    def take(self, state: str) -> Pending | None:
        """The sign-in of ``state``, forgotten now; None if unknown, used or expired."""
        pending = self._all.get(state)
        if pending is None:
            return None
        self._forget(state)
        return pending if self.clock.monotonic() - pending.started <= self.ttl else None

    def _forget(self, state: str) -> None:
        pending = self._all.pop(state)
        mine = self._by_address[pending.address]
        del mine[state]
        if not mine:
            del self._by_address[pending.address]

    def __len__(self) -> int:
        return len(self._all)


class OidcSignOn:
    """The page's side of the flow: ``/login``, the callback, and after signing out."""

    def __init__(
        self,
        provider: OidcProvider,
        guard: Guard,
        audit: Audit,
        pending: PendingSignIns | None = None,
    ) -> None:
        self.provider, self.guard, self.audit = provider, guard, audit
        self.pending = pending or PendingSignIns(provider.clock)

    def routes(self) -> list[Route]:
        """The callback and the signed-out page (open: the guard lets ``/oidc/`` through)."""
        return [Route(CALLBACK, self.callback), Route(SIGNED_OUT, self.signed_out)]

    async def login(self, request: Request) -> Response:
        """``GET /login?next=PAGE``: off to the provider (back to PAGE if signed in already)."""
        if request.method != "GET":
            return PlainTextResponse("sign in with the company's provider: GET /login", 405)
        back = local_path(request.query_params.get("next", "/"))
        if request.state.session.authed:
            return RedirectResponse(back, status_code=303)
        browser = request.cookies.get(_BROWSER_COOKIE, "")  # one per browser: tabs share it
        if not re.fullmatch(r"[A-Za-z0-9_-]{43}", browser):
            browser = secrets.token_urlsafe(32)
        state, pending = self.pending.add(client_address(request), back, browser)
        try:
            url = await self.provider.authorization_url(state, pending.nonce, pending.verifier)
        except ProviderUnavailable as error:
            self.pending.take(state)
            return _unavailable(error)
        answer = RedirectResponse(url, status_code=303)
        answer.set_cookie(
            _BROWSER_COOKIE,
            browser,
            max_age=int(self.pending.ttl),
            httponly=True,
            samesite="lax",  # sent with the provider's redirect back (a top-level GET)
            secure=self.guard.secure,
        )
        return answer

    async def callback(self, request: Request) -> Response:
        """``GET /oidc/callback``: the provider's answer; a new session, or a plain refusal."""
        given = request.query_params
        pending = self.pending.take(given.get("state", ""))
        if pending is None:
            return self._refused("this sign-in is unknown, used already or over 10 minutes old")
        if not same_secret(request.cookies.get(_BROWSER_COOKIE, ""), pending.browser):
            return self._refused("this sign-in was started in another browser")
        issuer = self.provider.settings.issuer
        if "iss" in given and given["iss"] != issuer:  # RFC 9207: another provider's answer
            return self._refused("the answer comes from another provider")
        if "error" in given:
            said = error_code({"error": given["error"]})
            return self._refused(f"the provider did not sign you in ({said})")
        if not given.get("code"):
            return self._refused("the provider's answer has no code")
        try:
            identity = await self.provider.identify(given["code"], pending.verifier, pending.nonce)
        except SignInRefused as refusal:
            return self._refused(str(refusal))
        except ProviderUnavailable as error:
            self.audit.record("refused", "", what="sign-in", via="oidc", reason=str(error))
            return _unavailable(error)
        self.guard.sign_on(request, identity.who, identity.groups)
        self.audit.record("sign-in", identity.who, via="oidc", groups=sorted(identity.groups))
        # Onward from this page, not by a redirect: the new SameSite=Strict session cookie is
        # sent on a navigation this site starts, not on one the provider's redirect started.
        return _onward(pending.next, "Signed in", "Signed in.")

    async def after_logout(self) -> Response:
        """Where signing out goes: the provider's sign-out if it has one, else our page."""
        try:
            url = await self.provider.logout_url()
        except ProviderUnavailable:
            url = None
        if url is None:
            return RedirectResponse(SIGNED_OUT, status_code=303)
        # A page that moves on, not a redirect: the sign-out form's answer may not send the
        # browser to another site (the page's CSP has form-action 'self', which browsers apply
        # to a form's redirects too).
        return _onward(url, "Signing out", "Signed out of the import page.")

    async def signed_out(self, request: Request) -> Response:
        """``GET /oidc/signed-out``: a plain page with the way back in."""
        return _page("Signed out", "You are signed out of the import page.")

    def _refused(self, reason: str) -> Response:
        self.audit.record("refused", "", what="sign-in", via="oidc", reason=reason)
        return _page("Not signed in", f"{reason[:1].upper()}{reason[1:]}.", status=400)


def _onward(url: str, title: str, said: str) -> Response:
    """A page that moves the browser on to ``url`` by itself (a navigation it starts)."""
    where = html.escape(url, quote=True)
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0;url={where}"><title>{title}</title></head>'
        f'<body><p>{said} <a href="{where}">Continue</a></p></body></html>',
        headers={"Cache-Control": "no-store"},
    )


def _page(title: str, said: str, status: int = 200) -> Response:
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><h1>{title}</h1><p>{html.escape(said)}</p>"
        f'<p><a href="/login">Sign in</a></p></body></html>',
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _unavailable(error: ProviderUnavailable) -> Response:
    print(f"OIDC: {error}", file=sys.stderr)  # for the operator (nothing secret in it)
    return PlainTextResponse(
        "The sign-in provider cannot be reached right now: try again in a minute.\n", 502
    )
