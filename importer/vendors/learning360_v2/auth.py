"""360Learning v2: a client-credentials token (1 hour) from the API host itself, kept and
renewed a minute before it expires, sent as ``Bearer`` with ``360-api-version: v2.0``."""

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


class _LearningToken(TokenAuth):
    host_name = "360Learning's token endpoint"

    def __init__(
        self,
        client: httpx.Client,
        url: str,
        client_id: Secret,
        secret: Secret,
        clock: Clock,
        tokens: Tokens,
        retry: RetryPolicy | None = None,
    ) -> None:
        account = account_key(url, client_id.reveal(), secret.reveal())
        super().__init__(clock, tokens, account, retry)
        self.client, self.url, self.client_id, self.secret = client, url, client_id, secret

    def fetch(self) -> tuple[str, float]:
        body = {
            "grant_type": "client_credentials",
            "client_id": self.client_id.reveal(),
            "client_secret": self.secret.reveal(),
        }
        status, answer = post_token(self.client, self.url, json=body)
        if 200 <= status < 300 and answer.get("access_token"):
            # expires_in comes as "3600" (a string) in the docs, a number in the schema.
            return str(answer["access_token"]), float(answer.get("expires_in") or 3600)
        if status in (400, 401):  # the documented refusals: invalid_client, invalid_request...
            raise FatalVendorError(
                f"360Learning refused the API credentials ({status} {error_code(answer)}): check "
                "IMPORTER_360L_CLIENT_ID and IMPORTER_360L_CLIENT_SECRET."
            )
        raise Transient(f"answered {status} without a token")


def auth(
    creds: Mapping[str, Secret],
    auth_url: str,
    client: httpx.Client,
    clock: Clock,
    tokens: Tokens | None = None,
    retry: RetryPolicy | None = None,
) -> TokenHeaders:
    """The bearer token of ``/api/v2/oauth2/token`` on the token host (the API host), its
    requests retried under ``retry`` (the run's policy)."""
    url = auth_url.rstrip("/") + "/api/v2/oauth2/token"
    token = _LearningToken(
        client,
        url,
        creds["IMPORTER_360L_CLIENT_ID"],
        creds["IMPORTER_360L_CLIENT_SECRET"],
        clock,
        tokens if tokens is not None else MemoryTokens(),
        retry,
    )
    return TokenHeaders(
        token, lambda value: {"Authorization": f"Bearer {value}", "360-api-version": "v2.0"}
    )
