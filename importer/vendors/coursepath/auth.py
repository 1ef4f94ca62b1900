"""Coursepath: a new HS256 JWT for every request and every retry (``iat`` now, a fresh
``jti``), signed with the academy's API key, acting as the admin member named by email."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from importer.core.clock import Clock
from importer.core.secret import Secret
from importer.sending.auth import Auth
from importer.sending.retry import RetryPolicy
from importer.store.tokens import Tokens

if TYPE_CHECKING:
    import httpx  # the client is handed in: `vendors` and `--help` build plugins

__all__ = ["auth"]


class _CoursepathJWT:
    def __init__(self, key: Secret, email: Secret, clock: Clock) -> None:
        self.key, self.email, self.clock = key, email, clock

    def headers(self) -> dict[str, str]:
        # PyJWT and uuid (platform under it) load when a request is signed, not when the
        # plugin is built: `vendors` and `run --help` build it (issue 27: start-up)
        import uuid

        import jwt

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


def auth(
    creds: Mapping[str, Secret],
    auth_url: str,
    client: httpx.Client,
    clock: Clock,
    tokens: Tokens | None = None,
    retry: RetryPolicy | None = None,
) -> Auth:
    """A fresh JWT on every request."""
    return _CoursepathJWT(
        creds["IMPORTER_COURSEPATH_API_KEY"], creds["IMPORTER_COURSEPATH_EMAIL"], clock
    )
