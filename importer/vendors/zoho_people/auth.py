"""Zoho: an access token from the refresh token (1 hour; Zoho allows 10 per 10 minutes per
refresh token, so never one per row, and the budget is shared by every process), sent as
``Zoho-oauthtoken``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from importer.core.clock import Clock
from importer.core.errors import FatalVendorError
from importer.core.secret import Secret
from importer.sending.auth import TokenAuth, TokenHeaders, Transient, error_code, post_token
from importer.sending.retry import RetryPolicy
from importer.store.tokens import MemoryTokens, Tokens, account_key

if TYPE_CHECKING:
    import httpx  # the client is handed in: `vendors` and `--help` build plugins

__all__ = ["auth"]


class _ZohoToken(TokenAuth):
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
        retry: RetryPolicy | None = None,
    ) -> None:
        identity = [creds[name].reveal() for name in sorted(creds)]
        super().__init__(clock, tokens, account_key(url, *identity), retry)
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
        status, answer = post_token(self.client, self.url, data=form)
        if answer.get("access_token"):
            return str(answer["access_token"]), float(answer.get("expires_in") or 3600)
        if answer.get("error") == "Access Denied":
            # Too many tokens in 10 minutes (another tool on the same refresh token): the
            # window frees within 10 minutes, so this is worth waiting for.
            raise Transient("too many access tokens in 10 minutes", 600.0)
        raise FatalVendorError(
            f"Zoho refused the credentials ({status} {error_code(answer)}): check "
            "IMPORTER_ZOHO_CLIENT_ID, IMPORTER_ZOHO_CLIENT_SECRET and "
            "IMPORTER_ZOHO_REFRESH_TOKEN (all from the same data centre)."
        )


def auth(
    creds: Mapping[str, Secret],
    auth_url: str,
    client: httpx.Client,
    clock: Clock,
    tokens: Tokens | None = None,
    retry: RetryPolicy | None = None,
) -> TokenHeaders:
    """The access token of ``/oauth/v2/token`` on Zoho's accounts server, its requests
    retried under ``retry`` (the run's policy) and kept within Zoho's token budget."""
    url = auth_url.rstrip("/") + "/oauth/v2/token"
    kept = tokens if tokens is not None else MemoryTokens()
    token = _ZohoToken(client, url, creds, clock, kept, retry)
    return TokenHeaders(token, lambda value: {"Authorization": f"Zoho-oauthtoken {value}"})
