"""Authentication per vendor: headers for each request, tokens fetched once and renewed.

* 360Learning v1: ``X-company-id`` and ``X-apiKey`` headers (the key stays out of URLs).
* 360Learning v2: a client-credentials token (1 hour), cached and renewed a minute before
  it expires, sent as ``Bearer`` with ``360-api-version: v2.0``.
* Zoho: an access token from the refresh token (1 hour; Zoho allows 10 per 10 minutes, so
  never one per row), sent as ``Zoho-oauthtoken``.
* Coursepath: a new HS256 JWT for every request and every retry (``iat`` now, fresh ``jti``).

Only a token host's documented refusals (400/401, Zoho's error fields) mean the
credentials are wrong: they raise :class:`FatalVendorError` with a message naming the
variables to check, never their values. A 429, a 5xx, a dead connection or an
undocumented answer is retried; if it persists it is :class:`VendorUnavailableError`.
Tokens are kept per account and shared between processes (:mod:`importer.tokens`).
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

import httpx
import jwt

from importer.adapters.base import Answer, retry_after_header, snippet
from importer.clock import Clock
from importer.errors import FatalVendorError, VendorUnavailableError
from importer.secret import Secret
from importer.throttle import MAX_WAIT
from importer.tokens import MemoryTokens, Tokens, account_key

__all__ = ["Auth", "make_auth"]

_RENEW_MARGIN = 60.0
_TOKEN_TRIES = 5


class Auth(Protocol):
    """Gives each request its credentials."""

    def headers(self) -> dict[str, str]:
        """Headers for the next request (fetching or renewing a token if needed)."""
        ...

    def invalidate(self) -> None:
        """Forget the current token (it was refused); the next request gets a new one."""
        ...


class _ApiKey:
    def __init__(self, company: Secret, key: Secret) -> None:
        self.company, self.key = company, key

    def headers(self) -> dict[str, str]:
        return {"X-company-id": self.company.reveal(), "X-apiKey": self.key.reveal()}

    def invalidate(self) -> None:
        """Nothing to renew: a refused key is fatal."""


class _Token:
    """An access token, kept in ``tokens`` (shared by every process when it is a TokenStore).

    Subclasses give ``fetch() -> (token, lifetime seconds)`` and, where the vendor has
    one, a ``budget`` of token requests per window. A transient failure of the token
    host (429, 5xx, a dead connection, an undocumented answer) is retried under the
    same rules as any call; when it persists, a token still valid is kept, and only
    then is the run stopped as "vendor unavailable", never as "credentials refused".
    """

    #: (requests, seconds) the vendor allows per account; ``None``: no documented budget.
    budget: tuple[int, float] | None = None
    #: What the token host is called, for messages.
    host_name = "the token host"

    def __init__(self, clock: Clock, tokens: Tokens, account: str) -> None:
        self.clock = clock
        self.tokens = tokens
        self.account = account
        self.value: str | None = None
        self.expires = 0.0
        self.renew_at = 0.0
        self.fetches = 0
        self.lock = threading.Lock()
        self.rng = random.Random()

    def get(self) -> str:
        with self.lock:
            now = self.clock.time()
            if self.value is not None and now < self.renew_at:
                return self.value
            kept = self.tokens.get(self.account)  # another process's token, if fresh
            if kept is not None and now < kept[1]:
                self.value, self.renew_at = kept
                self.expires = max(self.expires, kept[1])
                return kept[0]
            try:
                token, lifetime = self._fetch_with_retries()
            except VendorUnavailableError:
                if self.value is not None and self.clock.time() < self.expires - 5:
                    return self.value  # renewal failed, but the token still works: keep it
                raise
            now = self.clock.time()
            # Renew a minute early (a tenth of the lifetime for short-lived tokens).
            self.value, self.expires = token, now + lifetime
            self.renew_at = self.expires - min(_RENEW_MARGIN, lifetime / 10)
            self.tokens.put(self.account, token, self.renew_at)
            return token

    def invalidate(self) -> None:
        with self.lock:
            if self.value is not None:
                self.tokens.forget(self.account, self.value)
            self.value = None

    def _fetch_with_retries(self) -> tuple[str, float]:
        cause = ""
        for tries in range(1, _TOKEN_TRIES + 1):
            self._wait_for_budget()
            self.tokens.requested(self.account, self.clock.time())
            self.fetches += 1
            try:
                return self.fetch()
            except _Transient as error:
                cause = str(error)
                delay = error.retry_after
                if delay is None or delay > MAX_WAIT:
                    delay = 2.0 ** (tries - 1) * (0.5 + self.rng.random())
                if tries < _TOKEN_TRIES:
                    self.clock.sleep(delay)
        raise VendorUnavailableError(
            f"could not get an access token from {self.host_name} after {_TOKEN_TRIES} tries "
            f"({cause}). The credentials were not refused; nothing was changed: re-run later."
        )

    def _wait_for_budget(self) -> None:
        """Stay under the vendor's token budget, counting every process's requests."""
        if self.budget is None:
            return
        limit, seconds = self.budget
        while True:
            now = self.clock.time()
            recent = self.tokens.requests_since(self.account, now - seconds)
            if len(recent) < limit:
                return
            self.clock.sleep(min(recent[0] + seconds - now + 0.5, 1.0))

    def fetch(self) -> tuple[str, float]:
        raise NotImplementedError


class _Transient(Exception):
    """A token host failure that a later try may not meet."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _post(client: httpx.Client, url: str, **kwargs: Any) -> tuple[int, Any]:
    """POST to a token endpoint: the status and JSON body, or :class:`_Transient`."""
    try:
        answer = client.post(url, **kwargs)
    except httpx.HTTPError as error:
        raise _Transient(f"{type(error).__name__} from {url}") from None
    wait = retry_after_header(Answer(answer.status_code, None, answer.headers))
    if answer.status_code == 429 or answer.status_code >= 500:
        raise _Transient(f"answered {answer.status_code}", wait)
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        shown = snippet(Answer(answer.status_code, answer.text))
        raise _Transient(f"answered {answer.status_code} without a token{shown}", wait)
    return answer.status_code, body


class _LearningToken(_Token):
    host_name = "360Learning's token endpoint"

    def __init__(
        self,
        client: httpx.Client,
        url: str,
        client_id: Secret,
        secret: Secret,
        clock: Clock,
        tokens: Tokens,
    ) -> None:
        super().__init__(clock, tokens, account_key(url, client_id.reveal(), secret.reveal()))
        self.client, self.url, self.client_id, self.secret = client, url, client_id, secret

    def fetch(self) -> tuple[str, float]:
        body = {
            "grant_type": "client_credentials",
            "client_id": self.client_id.reveal(),
            "client_secret": self.secret.reveal(),
        }
        status, answer = _post(self.client, self.url, json=body)
        if 200 <= status < 300 and answer.get("access_token"):
            # expires_in comes as "3600" (a string) in the docs, a number in the schema.
            return str(answer["access_token"]), float(answer.get("expires_in") or 3600)
        if status in (400, 401):  # the documented refusals: invalid_client, invalid_request...
            raise FatalVendorError(
                f"360Learning refused the API credentials ({status} {_code(answer)}): check "
                "IMPORTER_360L_CLIENT_ID and IMPORTER_360L_CLIENT_SECRET."
            )
        raise _Transient(f"answered {status} without a token")


class _Bearer360:
    def __init__(self, token: _LearningToken) -> None:
        self.token = token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.get()}", "360-api-version": "v2.0"}

    def invalidate(self) -> None:
        self.token.invalidate()


class _ZohoToken(_Token):
    host_name = "Zoho's accounts server"
    # 10 access tokens per 10 minutes per refresh token: we keep one in reserve.
    budget = (9, 600.0)

    def __init__(
        self,
        client: httpx.Client,
        url: str,
        creds: Mapping[str, Secret],
        clock: Clock,
        tokens: Tokens,
    ) -> None:
        identity = [creds[name].reveal() for name in sorted(creds)]
        super().__init__(clock, tokens, account_key(url, *identity))
        self.client, self.url, self.creds = client, url, creds

    def fetch(self) -> tuple[str, float]:
        # Sent as a form body rather than the documented query string: same parameters,
        # but the secrets stay out of URLs and access logs.
        form = {
            "grant_type": "refresh_token",
            "client_id": self.creds["IMPORTER_ZOHO_CLIENT_ID"].reveal(),
            "client_secret": self.creds["IMPORTER_ZOHO_CLIENT_SECRET"].reveal(),
            "refresh_token": self.creds["IMPORTER_ZOHO_REFRESH_TOKEN"].reveal(),
        }
        status, answer = _post(self.client, self.url, data=form)
        if answer.get("access_token"):
            return str(answer["access_token"]), float(answer.get("expires_in") or 3600)
        if answer.get("error") == "Access Denied":
            # Too many tokens in 10 minutes (another tool on the same refresh token): the
            # window frees within 10 minutes, so this is worth waiting for.
            raise _Transient("too many access tokens in 10 minutes", 600.0)
        raise FatalVendorError(
            f"Zoho refused the credentials ({status} {_code(answer)}): check "
            "IMPORTER_ZOHO_CLIENT_ID, IMPORTER_ZOHO_CLIENT_SECRET and "
            "IMPORTER_ZOHO_REFRESH_TOKEN (all from the same data centre)."
        )


class _ZohoAuth:
    def __init__(self, token: _ZohoToken) -> None:
        self.token = token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Zoho-oauthtoken {self.token.get()}"}

    def invalidate(self) -> None:
        self.token.invalidate()


class _CoursepathJWT:
    def __init__(self, key: Secret, email: Secret, clock: Clock) -> None:
        self.key, self.email, self.clock = key, email, clock

    def headers(self) -> dict[str, str]:
        claims = {
            "email": self.email.reveal(),
            "iat": int(self.clock.time()),
            "jti": uuid.uuid4().hex,
        }
        return {
            "Authorization": f"Bearer {jwt.encode(claims, self.key.reveal(), algorithm='HS256')}"
        }

    def invalidate(self) -> None:
        """Every request has a new token already."""


def _code(answer: Any) -> str:
    if isinstance(answer, dict):
        error = answer.get("error")
        return str(error.get("code") if isinstance(error, dict) else error or "")
    return ""


def make_auth(
    kind: str,
    creds: Mapping[str, Secret],
    auth_url: str,
    client: httpx.Client,
    clock: Clock,
    tokens: Tokens | None = None,
) -> Auth:
    """The authentication of an adapter (``Adapter.auth``), given its credentials.

    ``tokens`` keeps access tokens (a :class:`~importer.tokens.TokenStore` shares them
    with every process on the machine); a fresh in-memory store by default.
    """
    tokens = tokens if tokens is not None else MemoryTokens()
    if kind == "360l-v1":
        return _ApiKey(creds["IMPORTER_360L_COMPANY"], creds["IMPORTER_360L_API_KEY"])
    if kind == "360l-v2":
        url = auth_url.rstrip("/") + "/api/v2/oauth2/token"
        token = _LearningToken(
            client,
            url,
            creds["IMPORTER_360L_CLIENT_ID"],
            creds["IMPORTER_360L_CLIENT_SECRET"],
            clock,
            tokens,
        )
        return _Bearer360(token)
    if kind == "zoho":
        url = auth_url.rstrip("/") + "/oauth/v2/token"
        return _ZohoAuth(_ZohoToken(client, url, creds, clock, tokens))
    if kind == "coursepath":
        return _CoursepathJWT(
            creds["IMPORTER_COURSEPATH_API_KEY"], creds["IMPORTER_COURSEPATH_EMAIL"], clock
        )
    raise ValueError(f"unknown auth kind {kind!r}")
