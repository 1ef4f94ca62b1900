"""Authentication per vendor: headers for each request, tokens fetched once and renewed.

* 360Learning v1: ``X-company-id`` and ``X-apiKey`` headers (the key stays out of URLs).
* 360Learning v2: a client-credentials token (1 hour), cached and renewed a minute before
  it expires, sent as ``Bearer`` with ``360-api-version: v2.0``.
* Zoho: an access token from the refresh token (1 hour; Zoho allows 10 per 10 minutes, so
  never one per row), sent as ``Zoho-oauthtoken``.
* Coursepath: a new HS256 JWT for every request and every retry (``iat`` now, fresh ``jti``).

Token endpoint failures that no retry can fix raise :class:`FatalVendorError` with a
message naming the variables to check, never their values.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

import httpx
import jwt

from importer.clock import Clock
from importer.errors import FatalVendorError
from importer.secret import Secret

__all__ = ["Auth", "make_auth"]

_RENEW_MARGIN = 60.0


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
    """A cached access token, fetched by ``fetch() -> (token, lifetime seconds)``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.value: str | None = None
        self.renew_at = 0.0
        self.fetches = 0
        self.lock = threading.Lock()

    def get(self) -> str:
        with self.lock:
            if self.value is None or self.clock.monotonic() >= self.renew_at:
                token, lifetime = self.fetch()
                self.fetches += 1
                now = self.clock.monotonic()
                # Renew a minute early (a tenth of the lifetime for short-lived tokens).
                self.value, self.renew_at = (
                    token,
                    now + lifetime - min(_RENEW_MARGIN, lifetime / 10),
                )
            return self.value

    def invalidate(self) -> None:
        with self.lock:
            self.value = None

    def fetch(self) -> tuple[str, float]:
        raise NotImplementedError


def _post(client: httpx.Client, url: str, what: str, **kwargs: Any) -> tuple[int, Any]:
    """POST to a token endpoint; connection trouble after 3 tries is fatal."""
    last = ""
    for _ in range(3):
        try:
            answer = client.post(url, **kwargs)
        except httpx.HTTPError as error:
            last = type(error).__name__
            continue
        try:
            return answer.status_code, answer.json()
        except ValueError:
            return answer.status_code, {}
    raise FatalVendorError(f"cannot reach {what} at {url} ({last}).")


class _LearningToken(_Token):
    def __init__(
        self, client: httpx.Client, url: str, client_id: Secret, secret: Secret, clock: Clock
    ) -> None:
        super().__init__(clock)
        self.client, self.url, self.client_id, self.secret = client, url, client_id, secret

    def fetch(self) -> tuple[str, float]:
        body = {
            "grant_type": "client_credentials",
            "client_id": self.client_id.reveal(),
            "client_secret": self.secret.reveal(),
        }
        status, answer = _post(self.client, self.url, "360Learning's token endpoint", json=body)
        if status == 200 and isinstance(answer, dict) and answer.get("access_token"):
            # expires_in comes as "3600" (a string) in the docs, a number in the schema.
            return str(answer["access_token"]), float(answer.get("expires_in") or 3600)
        raise FatalVendorError(
            f"360Learning refused the API credentials ({status} {_code(answer)}): check "
            "IMPORTER_360L_CLIENT_ID and IMPORTER_360L_CLIENT_SECRET."
        )


class _Bearer360:
    def __init__(self, token: _LearningToken) -> None:
        self.token = token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.get()}", "360-api-version": "v2.0"}

    def invalidate(self) -> None:
        self.token.invalidate()


class _ZohoToken(_Token):
    def __init__(
        self, client: httpx.Client, url: str, creds: Mapping[str, Secret], clock: Clock
    ) -> None:
        super().__init__(clock)
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
        status, answer = _post(self.client, self.url, "Zoho's accounts server", data=form)
        if isinstance(answer, dict) and answer.get("access_token"):
            return str(answer["access_token"]), float(answer.get("expires_in") or 3600)
        if isinstance(answer, dict) and answer.get("error") == "Access Denied":
            raise FatalVendorError(
                "Zoho refused a new access token: too many in 10 minutes (it allows 10). "
                "Wait 10 minutes, and check no other tool refreshes the same token."
            )
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
    kind: str, creds: Mapping[str, Secret], auth_url: str, client: httpx.Client, clock: Clock
) -> Auth:
    """The authentication of an adapter (``Adapter.auth``), given its credentials."""
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
        )
        return _Bearer360(token)
    if kind == "zoho":
        return _ZohoAuth(_ZohoToken(client, auth_url.rstrip("/") + "/oauth/v2/token", creds, clock))
    if kind == "coursepath":
        return _CoursepathJWT(
            creds["IMPORTER_COURSEPATH_API_KEY"], creds["IMPORTER_COURSEPATH_EMAIL"], clock
        )
    raise ValueError(f"unknown auth kind {kind!r}")
