"""360Learning v1: the company ID and a v1 API key, as headers (the key stays out of URLs)."""

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


class _ApiKey:
    def __init__(self, company: Secret, key: Secret) -> None:
        self.company, self.key = company, key

    def headers(self) -> dict[str, str]:
        return {"X-company-id": self.company.reveal(), "X-apiKey": self.key.reveal()}

    def invalidate(self) -> None:
        """Nothing to renew: a refused key is fatal."""


def auth(
    creds: Mapping[str, Secret],
    auth_url: str,
    client: httpx.Client,
    clock: Clock,
    tokens: Tokens | None = None,
    retry: RetryPolicy | None = None,
) -> Auth:
    """``X-company-id`` and ``X-apiKey`` on every request."""
    return _ApiKey(creds["IMPORTER_360L_COMPANY"], creds["IMPORTER_360L_API_KEY"])
