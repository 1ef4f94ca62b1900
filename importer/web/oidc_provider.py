"""The company's OpenID Connect provider as the page talks to it (``serve --auth oidc``):
discovery, its keys, the code's exchange and the ID token's checks.

Authlib makes the requests' parameters (PKCE's S256 challenge, the token request, the client's
``client_secret_basic`` or ``_post`` authentication) and checks the ID token's claims
(``CodeIDToken``: ``iss``, ``aud``, ``exp``, ``iat``, ``nonce``, ``azp``, ``at_hash``) once
joserfc, Authlib's JOSE library, has verified its signature against the provider's JWKS with
a public-key algorithm the discovery announces. Nothing here is hand-written JWT code.

Errors, by what the page does next::

    SignInRefused        the answer signs nobody in: 400, a plain page, the audit log's refused
    ProviderUnavailable  the provider cannot be asked now: 502, try again later
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from importer.core.clock import Clock, SystemClock
from importer.core.errors import ConfigurationError
from importer.core.hosts import is_loopback
from importer.core.secret import HELD, Secret

__all__ = [
    "CALLBACK",
    "CONTROL",
    "SECRET_VARIABLE",
    "SIGNED_OUT",
    "Identity",
    "OidcProvider",
    "OidcSettings",
    "ProviderUnavailable",
    "SignInRefused",
    "error_code",
    "oidc_settings",
]

SECRET_VARIABLE = "IMPORTER_OIDC_CLIENT_SECRET"
#: Where the provider sends the browser back (``<public-url>/oidc/callback``: register it).
CALLBACK = "/oidc/callback"
#: Where the provider's sign-out sends the browser back (register it too, if it asks).
SIGNED_OUT = "/oidc/signed-out"
#: The longest user name or group taken (longer is refused, not cut).
MAX_NAME = 200
_MAX_GROUPS = 1000
_LEEWAY = 60  # seconds of clock skew allowed between the provider and this server
#: ID token signatures taken: the provider's public keys only (an HMAC would be keyed with
#: the client secret, and "none" is no signature at all).
_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
    | {"EdDSA", "Ed25519", "Ed448"}
)
#: Characters no user name, group or path to return to may hold.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CLAIM_NAME = re.compile(r"[A-Za-z0-9_.:/-]{1,100}")
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class SignInRefused(Exception):
    """The provider's answer signs nobody in; the message says why, for the page and the audit
    log (never a token, a code or the secret)."""


class ProviderUnavailable(Exception):
    """The provider cannot be asked now (unreachable, or its discovery is not what this page
    needs); the message says which, for the operator."""


@dataclass(frozen=True)
class OidcSettings:
    """What ``serve --auth oidc`` was given (see :func:`oidc_settings`)."""

    issuer: str
    client_id: str
    client_secret: Secret
    #: The page's external base URL (``https://import.example.com``), no trailing slash.
    public_url: str = ""
    user_claim: str = "email"
    groups_claim: str = "groups"
    scope: str = "openid email profile"

    @property
    def redirect_uri(self) -> str:
        """The callback to register at the provider."""
        return self.public_url + CALLBACK

    @property
    def https(self) -> bool:
        """Whether browsers reach the page over HTTPS (its cookies are then Secure)."""
        return self.public_url.startswith("https://")


def oidc_settings(
    issuer: str | None,
    client_id: str | None,
    secret: str | None,
    *,
    public_url: str | None = None,
    user_claim: str = "email",
    groups_claim: str = "groups",
    scope: str = "openid email profile",
) -> OidcSettings:
    """Check ``serve``'s OIDC options; ``public_url`` None: filled in once the port is known.

    Raises:
        ConfigurationError: a missing issuer, client ID or secret (naming its variable, never
            its value); an issuer or public URL that is not an http(s) base URL, or is plain
            http to a host that is not loopback; a claim name that is not one; a scope
            without ``openid``.
    """
    if not issuer:
        raise ConfigurationError("--auth oidc needs --oidc-issuer (the provider's issuer URL).")
    if not client_id or CONTROL.search(client_id):
        raise ConfigurationError("--auth oidc needs --oidc-client-id (this page's client ID).")
    if not secret:
        raise ConfigurationError(
            f"--auth oidc needs the client secret the provider gave this page in {SECRET_VARIABLE}."
        )
    for flag, claim in (("--oidc-user-claim", user_claim), ("--oidc-groups-claim", groups_claim)):
        if not _CLAIM_NAME.fullmatch(claim):
            raise ConfigurationError(f"{flag} {claim!r} is not a claim name.")
    if "openid" not in scope.split():
        raise ConfigurationError(f"--oidc-scope {scope!r} must include openid.")
    return OidcSettings(
        _base_url(issuer, "--oidc-issuer", path=True),
        client_id,
        Secret(secret),
        _base_url(public_url, "--public-url", path=False) if public_url is not None else "",
        user_claim,
        groups_claim,
        " ".join(scope.split()),
    )


def _base_url(url: str, flag: str, *, path: bool) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigurationError(f"{flag} {url!r} is not an http(s) URL without a query.")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"{flag} {url!r} is plain http: sign-in codes and cookies would cross the network "
            "readable. Use https (http is for loopback only)."
        )
    if not path and parts.path.strip("/"):
        raise ConfigurationError(f"{flag} {url!r}: the page is served at the root of its host.")
    # An issuer is compared exactly (OIDC Discovery 4.3): only the page's own URL is trimmed.
    return url.strip() if path else f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class Identity:
    """Who the provider vouched for."""

    who: str
    groups: frozenset[str]


@dataclass(frozen=True)
class _Endpoints:
    """The provider's discovery, as this page uses it (checked by :func:`_endpoints`)."""

    authorization: str
    token: str
    jwks: str
    userinfo: str | None
    end_session: str | None
    auth_method: str  # client_secret_basic or client_secret_post
    algorithms: tuple[str, ...]


class OidcProvider:
    """The provider as this server talks to it: discovery, keys, the code's exchange and the
    ID token's checks. ``transport`` and ``clock``: the tests' fake provider and time."""

    def __init__(
        self,
        settings: OidcSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.settings, self.clock = settings, clock or SystemClock()
        self._transport, self._timeout = transport, timeout
        self._endpoints: _Endpoints | None = None
        self._keys: KeySet | None = None
        HELD.add(settings.client_secret)  # masked wherever anything is written

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self._transport, timeout=self._timeout)

    async def _discover(self, client: httpx.AsyncClient) -> _Endpoints:
        """The discovery document, read once (again after a failure)."""
        if self._endpoints is None:
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            found = await _get_json(client, url, "discovery document")
            self._endpoints = _endpoints(found, self.settings.issuer)
        return self._endpoints

    async def authorization_url(self, state: str, nonce: str, verifier: str) -> str:
        """Where to send the browser to sign in.

        Raises:
            ProviderUnavailable: the discovery document cannot be read or is unfit.
        """
        async with self._client() as client:
            endpoints = await self._discover(client)
        return str(
            prepare_grant_uri(
                endpoints.authorization,
                self.settings.client_id,
                "code",
                redirect_uri=self.settings.redirect_uri,
                scope=self.settings.scope,
                state=state,
                nonce=nonce,
                code_challenge=create_s256_code_challenge(verifier),
                code_challenge_method="S256",
            )
        )

    async def logout_url(self) -> str | None:
        """The provider's sign-out (RP-initiated logout), returning to this page's
        :data:`SIGNED_OUT`; None when its discovery has no ``end_session_endpoint``."""
        async with self._client() as client:
            endpoints = await self._discover(client)
        if endpoints.end_session is None:
            return None
        back = self.settings.public_url + SIGNED_OUT
        params = [("client_id", self.settings.client_id), ("post_logout_redirect_uri", back)]
        return str(add_params_to_uri(endpoints.end_session, params))

    async def identify(self, code: str, verifier: str, nonce: str) -> Identity:
        """Exchange ``code`` (with the PKCE ``verifier``) and verify the ID token it brings.

        Raises:
            SignInRefused: the provider refused the code, or its ID token or claims fail a check.
            ProviderUnavailable: the provider cannot be reached or answers with a server error.
        """
        async with self._client() as client:
            endpoints = await self._discover(client)
            tokens = await self._redeem(client, endpoints, code, verifier)
            claims = await self._verified(client, endpoints, tokens, nonce)
            wanted = (self.settings.user_claim, self.settings.groups_claim)
            userinfo: Mapping[str, Any] = {}
            access = tokens.get("access_token")
            if any(name not in claims for name in wanted) and endpoints.userinfo and access:
                userinfo = await self._userinfo(client, endpoints.userinfo, str(access))
                if userinfo.get("sub") != claims.get("sub"):
                    raise SignInRefused("the provider's UserInfo answer is about another user")
        return self._identity(claims, userinfo)

    async def _redeem(
        self, client: httpx.AsyncClient, endpoints: _Endpoints, code: str, verifier: str
    ) -> Mapping[str, Any]:
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=self.settings.redirect_uri,
            code_verifier=verifier,
        )
        client_id, secret = self.settings.client_id, self.settings.client_secret.reveal()
        if endpoints.auth_method == "client_secret_basic":
            # RFC 6749 2.3.1: both form-encoded before they are joined (Authlib joins them raw).
            client_id, secret = quote_plus(client_id), quote_plus(secret)
        auth = ClientAuth(client_id, secret, endpoints.auth_method)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        url, headers, body = auth.prepare("POST", endpoints.token, headers, body)
        try:
            answer = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise ProviderUnavailable(_unreachable("token endpoint", error)) from None
        if answer.status_code >= 500:
            raise ProviderUnavailable(
                f"the provider's token endpoint answered {answer.status_code}"
            )
        tokens = _json(answer)
        if answer.status_code != 200 or tokens is None:
            code_said = error_code(tokens)
            raise SignInRefused(f"the provider refused the sign-in code ({code_said})")
        if not isinstance(tokens.get("id_token"), str):
            raise SignInRefused("the provider's answer has no ID token")
        if isinstance(tokens.get("access_token"), str):
            HELD.add(tokens["access_token"], token=True)
        return tokens

    async def _verified(
        self,
        client: httpx.AsyncClient,
        endpoints: _Endpoints,
        tokens: Mapping[str, Any],
        nonce: str,
    ) -> CodeIDToken:
        registry = JWSRegistry(algorithms=list(endpoints.algorithms), strict_check_header=False)
        try:
            try:
                token = jwt.decode(tokens["id_token"], await self._key_set(client, endpoints),
                                   registry=registry)  # fmt: skip
            except InvalidKeyIdError:  # a key the provider has rotated in since: read them again
                self._keys = None
                token = jwt.decode(tokens["id_token"], await self._key_set(client, endpoints),
                                   registry=registry)  # fmt: skip
            claims = CodeIDToken(
                token.claims,
                token.header,
                {
                    "iss": {"essential": True, "value": self.settings.issuer},
                    "aud": {"essential": True, "value": self.settings.client_id},
                },
                {
                    "nonce": nonce,
                    "client_id": self.settings.client_id,
                    "access_token": tokens.get("access_token"),
                },
            )
            claims.validate(now=int(self.clock.time()), leeway=_LEEWAY)
        except (JoseError, ValueError, TypeError) as error:
            raise SignInRefused(_token_fault(error)) from None
        return claims

    async def _key_set(self, client: httpx.AsyncClient, endpoints: _Endpoints) -> KeySet:
        if self._keys is None:
            found = await _get_json(client, endpoints.jwks, "keys (jwks_uri)")
            try:
                self._keys = KeySet.import_key_set(found)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError):
                raise ProviderUnavailable(
                    "the provider's keys (jwks_uri) are not a JWK set"
                ) from None
        return self._keys

    async def _userinfo(
        self, client: httpx.AsyncClient, url: str, access: str
    ) -> Mapping[str, Any]:
        try:
            answer = await client.get(
                url, headers={"Authorization": f"Bearer {access}", "Accept": "application/json"}
            )
        except httpx.HTTPError as error:
            raise ProviderUnavailable(_unreachable("UserInfo endpoint", error)) from None
        found = _json(answer)
        if answer.status_code != 200 or found is None:
            raise SignInRefused(f"the provider's UserInfo endpoint answered {answer.status_code}")
        return found

    def _identity(self, claims: Mapping[str, Any], userinfo: Mapping[str, Any]) -> Identity:
        user_claim, groups_claim = self.settings.user_claim, self.settings.groups_claim
        source = claims if user_claim in claims else userinfo
        who = source.get(user_claim)
        if not isinstance(who, str) or not who.strip():
            raise SignInRefused(f"the provider gave no {user_claim} claim for this user")
        who = who.strip()
        if CONTROL.search(who) or len(who) > MAX_NAME:
            raise SignInRefused(f"the {user_claim} claim is not a user name this page takes")
        if user_claim == "email" and source.get("email_verified") in (False, "false"):
            raise SignInRefused("the provider has not verified this email address")
        raw = (claims if groups_claim in claims else userinfo).get(groups_claim)
        if raw is None:
            return Identity(who, frozenset())
        if (
            not isinstance(raw, list)
            or len(raw) > _MAX_GROUPS
            or not all(isinstance(g, str) and g and len(g) <= MAX_NAME for g in raw)
            or any(CONTROL.search(g) for g in raw)
        ):
            raise SignInRefused(f"the {groups_claim} claim is not a list of group names")
        return Identity(who, frozenset(raw))


def _endpoints(found: Mapping[str, Any], issuer: str) -> _Endpoints:
    """The discovery document checked (OIDC Discovery 1.0 section 4.3, and what this page needs).

    Raises:
        ProviderUnavailable: another issuer, a missing or plain-http endpoint, no ``code``
            response type, no PKCE S256, neither client_secret_basic nor _post, or no ID token
            signature taken.
    """
    if found.get("issuer") != issuer:
        raise ProviderUnavailable(
            f"the provider's discovery names the issuer {str(found.get('issuer'))[:200]!r}, "
            f"not {issuer!r} as --oidc-issuer says (they must match exactly)"
        )

    def url(name: str, required: bool = True) -> str | None:
        value = found.get(name)
        if value is None and not required:
            return None
        parts = urlsplit(value) if isinstance(value, str) else None
        if (
            parts is None
            or not parts.hostname
            or not (
                parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))
            )
        ):
            raise ProviderUnavailable(f"the provider's discovery has no https {name}")
        return str(value)

    def offered(name: str, default: list[str]) -> list[str]:
        value = found.get(name, default)
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    if "code" not in offered("response_types_supported", ["code"]):
        raise ProviderUnavailable("the provider does not offer the authorization code flow")
    if "S256" not in offered("code_challenge_methods_supported", ["S256"]):
        raise ProviderUnavailable("the provider does not offer PKCE with S256")
    methods = offered("token_endpoint_auth_methods_supported", ["client_secret_basic"])
    method = next((m for m in ("client_secret_basic", "client_secret_post") if m in methods), None)
    if method is None:
        raise ProviderUnavailable(
            "the provider takes neither client_secret_basic nor client_secret_post"
        )
    algorithms = tuple(
        alg
        for alg in offered("id_token_signing_alg_values_supported", ["RS256"])
        if alg in _ALGORITHMS
    )
    if not algorithms:
        raise ProviderUnavailable("the provider signs ID tokens with no public-key algorithm")
    return _Endpoints(
        str(url("authorization_endpoint")),
        str(url("token_endpoint")),
        str(url("jwks_uri")),
        url("userinfo_endpoint", required=False),
        url("end_session_endpoint", required=False),
        method,
        algorithms,
    )


async def _get_json(client: httpx.AsyncClient, url: str, what: str) -> Mapping[str, Any]:
    try:
        answer = await client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as error:
        raise ProviderUnavailable(_unreachable(what, error)) from None
    found = _json(answer)
    if answer.status_code != 200 or found is None:
        raise ProviderUnavailable(f"the provider's {what} ({url}) answered {answer.status_code}")
    return found


def _json(answer: httpx.Response) -> dict[str, Any] | None:
    try:
        found = answer.json()
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _unreachable(what: str, error: httpx.HTTPError) -> str:
    return f"the provider's {what} cannot be reached ({type(error).__name__})"


def error_code(answer: Mapping[str, Any] | None) -> str:
    """An OAuth error code the provider sent, if it is one (never its free text)."""
    code = (answer or {}).get("error")
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else "no reason given"


_CLAIM_FAULTS = {
    "iss": "the ID token comes from another issuer",
    "aud": "the ID token was issued for another client",
    "azp": "the ID token was issued for another client (azp)",
    "nonce": "the ID token does not answer this sign-in (nonce)",
    "iat": "the ID token's issue time is wrong",
    "at_hash": "the ID token does not match its access token (at_hash)",
}


def _token_fault(error: Exception) -> str:
    """Why an ID token was refused, in words (never the token or its claims' values)."""
    if isinstance(error, BadSignatureError):
        return "the ID token's signature does not verify with the provider's keys"
    if isinstance(error, ExpiredTokenError):
        return "the ID token has expired"
    if isinstance(error, MissingClaimError):
        return f"the ID token has no {error.claim} claim"
    if isinstance(error, ClaimError):
        return _CLAIM_FAULTS.get(error.claim, f"the ID token's {error.claim} claim is wrong")
    if isinstance(error, UnsupportedAlgorithmError):
        return "the ID token is signed with an algorithm the provider does not announce"
    if isinstance(error, JoseError):
        return f"the ID token is not valid ({error.error})"
    return "the ID token is not a signed JWT"
