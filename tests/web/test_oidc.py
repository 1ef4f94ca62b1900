"""``serve --auth oidc`` (issue 24) in process: the page's app against a fake OpenID Connect
provider on a mock httpx transport, its keys and ID tokens made with joserfc (Authlib's JOSE
library). Every ID token check refuses what it must, a state is taken once, the client secret
appears nowhere; and serve's options."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from importer.core.clock import FakeClock
from importer.core.errors import ConfigurationError
from importer.core.secret import HELD, Redactor
from importer.web.accounts import Account
from importer.web.app import create_app
from importer.web.hosts import allowed_hosts
from importer.web.oidc import PendingSignIns, local_path
from importer.web.oidc_provider import OidcProvider, oidc_settings

ISSUER = "https://idp.test/realms/company"
CLIENT = "import-page"
SECRET = "Oidc-Client-Secret-7f3a9c2e51"
PAGE = "http://127.0.0.1:8000"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def keys() -> tuple[RSAKey, RSAKey]:
    """The provider's signing key, and an impostor's of the same kid."""
    made = [RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"}) for _ in range(2)]
    return made[0], made[1]


@pytest.fixture(autouse=True)
def _held() -> Iterator[None]:
    """No secret held when the test starts (as in a new process: another test's "secret" would
    mask words of these messages), and the ones held before it back after it."""
    kept = {k: (v.copy() if isinstance(v, dict | set | list) else v) for k, v in vars(HELD).items()}
    vars(HELD).update({k: v for k, v in vars(Redactor()).items() if k != "_lock"})
    yield
    vars(HELD).update(kept)


class FakeProvider:
    """An OpenID Connect provider on a mock transport: discovery, JWKS, token (checking the
    client's secret, the code, the redirect URI and PKCE), UserInfo. ``claims`` changes the
    ID token it signs; ``signer`` signs it with another key."""

    def __init__(self, clock: FakeClock, key: RSAKey) -> None:
        self.clock, self.key, self.signer = clock, key, key
        self.published: list[RSAKey] = [key]
        self.discovery: dict[str, Any] = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/auth",
            "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/jwks",
            "userinfo_endpoint": f"{ISSUER}/userinfo",
            "end_session_endpoint": f"{ISSUER}/logout",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        self.claims: dict[str, Any] = {}  # overrides of the ID token's claims (None: left out)
        self.userinfo: dict[str, Any] = {}
        self.codes: dict[str, dict[str, str]] = {}
        self.token_requests: list[httpx.Request] = []
        self.token_answer: httpx.Response | None = None
        self.asked: list[str] = []

    def authorize(self, url: str, user: str = "ana") -> str:
        """The provider's side of the browser's visit: a code for ``user``."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert url.startswith(f"{ISSUER}/auth?")
        assert query["response_type"] == "code" and query["client_id"] == CLIENT
        assert query["redirect_uri"] == f"{PAGE}/oidc/callback"
        assert query["code_challenge_method"] == "S256" and "openid" in query["scope"].split()
        code = f"code-{len(self.codes)}"
        self.codes[code] = {**query, "user": user}
        return code

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(urlsplit(ISSUER).path)
        self.asked.append(path)
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.discovery)
        if path == "/jwks":
            return httpx.Response(200, json=KeySet(self.published).as_dict(private=False))  # type: ignore[arg-type]
        if path == "/token":
            return self._token(request)
        if path == "/userinfo":
            assert request.headers["authorization"] == "Bearer access-ana"
            return httpx.Response(200, json={"sub": "ana-sub", **self.userinfo})
        return httpx.Response(404)

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests.append(request)
        if self.token_answer is not None:
            return self.token_answer
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        basic = base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {basic}" and (
            form.get("client_id"),
            form.get("client_secret"),
        ) != (CLIENT, SECRET):
            return httpx.Response(401, json={"error": "invalid_client"})
        asked = self.codes.pop(form.get("code", ""), None)
        if asked is None or form.get("redirect_uri") != asked["redirect_uri"]:
            return httpx.Response(400, json={"error": "invalid_grant"})
        digest = hashlib.sha256(form["code_verifier"].encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != asked["code_challenge"]:
            return httpx.Response(400, json={"error": "invalid_grant"})  # PKCE
        now = int(self.clock.time())
        claims = {
            "iss": ISSUER,
            "sub": f"{asked['user']}-sub",
            "aud": CLIENT,
            "exp": now + 300,
            "iat": now,
            "nonce": asked["nonce"],
            "email": f"{asked['user']}@example.com",
            "email_verified": True,
            "groups": ["team-a", "coordinators"],
        }
        claims.update(self.claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        header = {"alg": "RS256", "kid": self.signer.kid}
        token = jwt.encode(header, claims, self.signer)
        answer = {"access_token": f"access-{asked['user']}", "token_type": "Bearer"}
        return httpx.Response(200, json={**answer, "id_token": token, "expires_in": 300})


class Page:
    """The page's app with the fake provider, and a browser (an httpx client with cookies)."""

    def __init__(
        self,
        tmp: Path,
        provider: FakeProvider,
        clock: FakeClock,
        accounts: list[Account] | None = None,
    ) -> None:
        from importer.web.workspace import Workspace

        self.tmp, self.provider, self.clock = tmp, provider, clock
        accounts = accounts or [Account(name="Team A", vendor="360learning-v2", timezone="UTC")]
        self.workspace = Workspace(accounts, tmp / "data", max_rows=10, max_bytes=10**6)
        settings = oidc_settings(ISSUER, CLIENT, SECRET, public_url=PAGE)
        self.oidc = OidcProvider(
            settings, transport=httpx.MockTransport(provider.handle), clock=clock
        )
        self.app = create_app(
            self.workspace, None, None, allowed_hosts("127.0.0.1", 8000), None, oidc=self.oidc
        )

    def run(
        self, steps: Callable[[httpx.AsyncClient], Awaitable[Any]], peer: str = "127.0.0.1"
    ) -> Any:
        async def go() -> Any:
            transport = httpx.ASGITransport(app=self.app, client=(peer, 40000))
            async with httpx.AsyncClient(transport=transport, base_url=PAGE) as browser:
                return await steps(browser)

        return asyncio.run(go())

    def audit(self) -> list[dict[str, Any]]:
        log = self.tmp / "data" / "audit.log"
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        return [json.loads(line) for line in lines]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def provider(clock: FakeClock, keys: tuple[RSAKey, RSAKey]) -> FakeProvider:
    return FakeProvider(clock, keys[0])


@pytest.fixture
def page(tmp_path: Path, provider: FakeProvider, clock: FakeClock) -> Page:
    return Page(tmp_path, provider, clock)


async def to_provider(browser: httpx.AsyncClient, wanted: str = "/history") -> str:
    """A visitor asks for ``wanted``: sent to /login?next=..., then to the provider."""
    first = await browser.get(wanted)
    assert first.status_code == 303, first.status_code
    assert first.headers["location"].startswith("/login?next=")
    login = await browser.get(first.headers["location"])
    assert login.status_code == 303, login.text
    return str(login.headers["location"])


async def callback(
    browser: httpx.AsyncClient, provider: FakeProvider, url: str, user: str = "ana"
) -> httpx.Response:
    state = parse_qs(urlsplit(url).query)["state"][0]
    code = provider.authorize(url, user)
    return await browser.get("/oidc/callback", params={"code": code, "state": state})


def test_a_good_sign_in_makes_a_new_session_with_the_user_and_groups(
    page: Page, provider: FakeProvider
) -> None:
    """Asked for /history; the provider's code is exchanged (client_secret_basic, PKCE), its ID
    token verified: a new session (not the visitor's), signed in as the email with the groups,
    back on /history by a same-site step, one sign-in line in the audit log."""

    async def steps(browser: httpx.AsyncClient) -> tuple[httpx.Response, str, httpx.Response]:
        await browser.get("/")
        visitor = browser.cookies["importer_session"]
        url = await to_provider(browser)
        done = await callback(browser, provider, url)
        return done, visitor, await browser.get("/history")

    done, visitor, history = page.run(steps)
    assert done.status_code == 200, done.text
    assert '<meta http-equiv="refresh" content="0;url=/history">' in done.text
    assert done.headers["cache-control"] == "no-store"
    session_cookie = re.search(r"importer_session=([^;]+)", done.headers["set-cookie"])
    assert session_cookie and session_cookie.group(1) != visitor, "a new session id"
    assert "samesite=strict" in done.headers["set-cookie"].lower()
    assert history.status_code == 200
    assert '<span class="who">Signed in as ana@example.com</span>' in history.text
    assert 'action="/logout"' in history.text  # a sign-out button
    session = page.app.state.guard.sessions.get(session_cookie.group(1))
    assert session.authed and session.groups == frozenset({"team-a", "coordinators"})
    (asked,) = provider.token_requests
    assert asked.headers["authorization"].startswith("Basic ")
    assert b"client_secret" not in asked.content and b"code_verifier=" in asked.content
    (line,) = page.audit()
    assert line["event"] == "sign-in" and line["who"] == "ana@example.com"
    assert line["groups"] == ["coordinators", "team-a"]


def test_the_groups_claim_decides_which_accounts_the_user_sees(
    tmp_path: Path, provider: FakeProvider, clock: FakeClock
) -> None:
    """An account for group:team-a and one for group:team-b: ana, whose groups claim says
    team-a, sees the first only; with no groups claim, neither."""

    def account(name: str, group: str) -> Account:
        return Account(name=name, vendor="360learning-v2", timezone="UTC", users=(group,))

    teams = [account("Team A", "group:team-a"), account("Team B", "group:team-b")]

    async def steps(browser: httpx.AsyncClient) -> str:
        await callback(browser, provider, await to_provider(browser))
        return (await browser.get("/")).text

    home = Page(tmp_path / "1", provider, clock, teams).run(steps)
    assert "Team A" in home and "Team B" not in home
    provider.claims = {"groups": None}
    home = Page(tmp_path / "2", provider, clock, teams).run(steps)
    assert "Signed in as ana@example.com" in home
    assert "Team A" not in home and "Team B" not in home


def _impostor(provider: FakeProvider, keys: tuple[RSAKey, RSAKey]) -> None:
    provider.signer = keys[1]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"aud": "another-client"}, "issued for another client"),
        ({"aud": ["another-client", "third"]}, "issued for another client"),
        ({"iss": "https://evil.test"}, "comes from another issuer"),
        ({"exp": -120}, "has expired"),  # seconds from now, past the 60 s leeway
        ({"iat": 3600}, "issue time"),
        ({"nonce": "not-this-sign-in"}, "does not answer this sign-in"),
        ({"nonce": None}, "has no nonce claim"),
        ({"sub": None}, "has no sub claim"),
        ({"email_verified": False}, "has not verified this email address"),
        ({"email_verified": "false"}, "has not verified this email address"),
        ({"groups": "team-a"}, "groups claim is not a list of group names"),
        ({"email": "ana\u2028@example.com"}, "not a user name"),
        ("impostor", "signature does not verify"),
    ],
)
def test_an_id_token_that_fails_a_check_signs_nobody_in(
    page: Page,
    provider: FakeProvider,
    clock: FakeClock,
    keys: tuple[RSAKey, RSAKey],
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Any] | str,
    said: str,
) -> None:
    """400, a plain page saying why, no session, a refused line in the audit log; the secret
    nowhere (page, log, stderr)."""
    if change == "impostor":
        _impostor(provider, keys)
    else:
        assert isinstance(change, dict)
        now = int(clock.time())
        provider.claims = {k: (now + v if k in ("exp", "iat") else v) for k, v in change.items()}

    async def steps(browser: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        done = await callback(browser, provider, await to_provider(browser))
        return done, await browser.get("/")

    done, after = page.run(steps)
    assert done.status_code == 400, done.text
    assert said in done.text and "Traceback" not in done.text
    assert after.status_code == 303 and after.headers["location"].startswith("/login")
    (line,) = page.audit()
    assert line["event"] == "refused" and said in line["reason"] and line["who"] == ""
    everything = done.text + json.dumps(page.audit()) + "".join(capsys.readouterr())
    assert SECRET not in everything and "eyJ" not in everything  # nor a token


def test_a_state_is_taken_once_and_expires_and_belongs_to_its_browser(
    page: Page, provider: FakeProvider, clock: FakeClock
) -> None:
    """The same callback twice: the second is refused (the state is used); a state 10 minutes
    old, an unknown one, or one started in another browser: refused, 400, no traceback."""

    async def replayed(browser: httpx.AsyncClient) -> list[httpx.Response]:
        url = await to_provider(browser)
        state = parse_qs(urlsplit(url).query)["state"][0]
        code = provider.authorize(url)
        first = await browser.get("/oidc/callback", params={"code": code, "state": state})
        again = await browser.get("/oidc/callback", params={"code": code, "state": state})
        unknown = await browser.get("/oidc/callback", params={"code": code, "state": "x" * 43})
        missing = await browser.get("/oidc/callback")
        return [first, again, unknown, missing]

    async def late(browser: httpx.AsyncClient) -> httpx.Response:
        url = await to_provider(browser)
        clock.advance(601)
        return await callback(browser, provider, url)

    first, *refused = page.run(replayed)
    refused.append(page.run(late))
    assert first.status_code == 200
    for answer in refused:
        assert (
            answer.status_code == 400 and "unknown, used already or over 10 minutes" in answer.text
        )

    async def started(browser: httpx.AsyncClient) -> str:
        return await to_provider(browser)

    url = page.run(started)  # one browser starts, another (no cookie of its own) finishes

    async def finished(browser: httpx.AsyncClient) -> httpx.Response:
        return await callback(browser, provider, url)

    stolen = page.run(finished)
    assert stolen.status_code == 400 and "started in another browser" in stolen.text
    reasons = [line["reason"] for line in page.audit() if line["event"] == "refused"]
    assert len(reasons) == 5


def test_the_provider_s_error_and_another_issuer_s_answer_are_refused(
    page: Page, provider: FakeProvider
) -> None:
    """?error=access_denied (the user said no), an RFC 9207 iss of another provider, a
    refused code (invalid_grant): 400, and the provider's free text is never shown."""

    async def steps(browser: httpx.AsyncClient) -> list[httpx.Response]:
        answers = []
        for extra in (
            {"error": "access_denied", "error_description": "<script>x</script>"},
            {"iss": "https://other.test", "code": "c"},
            {"code": "a-code-never-issued"},
        ):
            url = await to_provider(browser)
            state = parse_qs(urlsplit(url).query)["state"][0]
            answers.append(await browser.get("/oidc/callback", params={"state": state, **extra}))
        return answers

    denied, other, invalid = page.run(steps)
    assert denied.status_code == 400 and "did not sign you in (access_denied)" in denied.text
    assert "<script>" not in denied.text
    assert other.status_code == 400 and "another provider" in other.text
    assert invalid.status_code == 400 and "refused the sign-in code (invalid_grant)" in invalid.text


def test_claims_the_id_token_lacks_come_from_userinfo_for_its_subject(
    page: Page, provider: FakeProvider
) -> None:
    """A provider that puts scope claims in UserInfo only (oidc-provider's default): the
    email and groups come from there; UserInfo about another subject is refused."""
    provider.claims = {"email": None, "email_verified": None, "groups": None}
    provider.userinfo = {"email": "ana@example.com", "email_verified": True, "groups": ["x"]}

    async def steps(browser: httpx.AsyncClient) -> httpx.Response:
        await callback(browser, provider, await to_provider(browser))
        return await browser.get("/")

    home = page.run(steps)
    assert "Signed in as ana@example.com" in home.text and "/userinfo" in provider.asked
    provider.userinfo = {"sub": "ben-sub", "email": "ben@example.com"}

    async def other(browser: httpx.AsyncClient) -> httpx.Response:
        return await callback(browser, provider, await to_provider(browser))

    refused = page.run(other)
    assert refused.status_code == 400 and "about another user" in refused.text
    provider.userinfo = {"email": "ana@example.com", "email_verified": False}
    refused = page.run(other)
    assert refused.status_code == 400 and "not verified" in refused.text


def test_client_secret_post_when_the_provider_takes_only_that(
    page: Page, provider: FakeProvider
) -> None:
    provider.discovery["token_endpoint_auth_methods_supported"] = ["client_secret_post"]

    async def steps(browser: httpx.AsyncClient) -> httpx.Response:
        return await callback(browser, provider, await to_provider(browser))

    assert page.run(steps).status_code == 200
    (asked,) = provider.token_requests
    assert "authorization" not in asked.headers
    assert f"client_secret={SECRET}".encode() in asked.content


def test_a_key_rotated_in_is_fetched_again(
    page: Page, provider: FakeProvider, keys: tuple[RSAKey, RSAKey]
) -> None:
    """A first sign-in caches the JWKS; the provider rotates to a new key (new kid): the next
    ID token's kid is unknown, so the keys are read again, and it verifies."""

    async def steps(browser: httpx.AsyncClient) -> httpx.Response:
        return await callback(browser, provider, await to_provider(browser))

    assert page.run(steps).status_code == 200
    rotated = RSAKey.import_key(keys[1].as_dict(private=True) | {"kid": "k2"})
    provider.published, provider.signer = [provider.key, rotated], rotated
    assert page.run(steps).status_code == 200
    assert provider.asked.count("/jwks") == 2


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"issuer": "https://idp.test/realms/company/"}, "must match exactly"),
        ({"token_endpoint": "http://idp.test/token"}, "no https token_endpoint"),
        ({"code_challenge_methods_supported": ["plain"]}, "PKCE with S256"),
        ({"token_endpoint_auth_methods_supported": ["private_key_jwt"]}, "client_secret_post"),
        ({"id_token_signing_alg_values_supported": ["HS256", "none"]}, "no public-key"),
    ],
)
def test_an_unfit_discovery_is_a_502_that_names_no_secret(
    page: Page,
    provider: FakeProvider,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Any],
    said: str,
) -> None:
    """The browser gets a plain 502 (try again), the operator the reason on stderr."""
    provider.discovery.update(change)

    async def steps(browser: httpx.AsyncClient) -> httpx.Response:
        return await browser.get("/login")

    answer = page.run(steps)
    assert answer.status_code == 502 and "try again" in answer.text
    err = capsys.readouterr().err
    assert said in err and SECRET not in err + answer.text


def test_unreachable_provider_is_a_502(tmp_path: Path, clock: FakeClock) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    page = Page(tmp_path, FakeProvider(clock, RSAKey.generate_key(2048)), clock)
    page.oidc._transport = httpx.MockTransport(down)

    async def steps(browser: httpx.AsyncClient) -> httpx.Response:
        return await browser.get("/login")

    assert page.run(steps).status_code == 502


def test_unsigned_visitors_go_to_sign_in_and_forms_get_401(page: Page) -> None:
    """A GET is sent to /login with the page (and its query) to come back to; a POST is 401;
    the callback and signed-out pages are open."""

    async def steps(browser: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await browser.get("/history?page=2"),
            await browser.post("/upload"),
            await browser.get("/oidc/signed-out"),
        ]

    get, post, signed_out = page.run(steps)
    assert get.status_code == 303 and get.headers["location"] == "/login?next=%2Fhistory%3Fpage%3D2"
    assert post.status_code == 401
    assert signed_out.status_code == 200 and 'href="/login"' in signed_out.text


def test_sign_out_ends_the_session_and_goes_to_the_provider_s_sign_out(
    page: Page, provider: FakeProvider
) -> None:
    async def steps(browser: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        await callback(browser, provider, await to_provider(browser))
        token = _CSRF.search((await browser.get("/")).text)
        assert token
        out = await browser.post("/logout", data={"csrf": token.group(1)})
        return out, await browser.get("/")

    out, after = page.run(steps)
    assert out.status_code == 200  # a page that moves on: no redirect of a form to another site
    found = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', out.text)
    assert found
    where = urlsplit(html.unescape(found.group(1)))
    assert f"{where.scheme}://{where.netloc}{where.path}" == f"{ISSUER}/logout"
    query = parse_qs(where.query)
    assert query == {"client_id": [CLIENT], "post_logout_redirect_uri": [f"{PAGE}/oidc/signed-out"]}
    assert after.status_code == 303 and after.headers["location"] == "/login?next=%2F"
    assert len(page.app.state.guard.sessions) == 0
    del provider.discovery["end_session_endpoint"]
    page.oidc._endpoints = None

    async def without(browser: httpx.AsyncClient) -> httpx.Response:
        await callback(browser, provider, await to_provider(browser))
        token = _CSRF.search((await browser.get("/")).text)
        assert token
        return await browser.post("/logout", data={"csrf": token.group(1)})

    assert page.run(without).headers["location"] == "/oidc/signed-out"


def test_an_authed_visit_to_login_goes_back_and_next_is_never_another_site(
    page: Page, provider: FakeProvider
) -> None:
    async def steps(browser: httpx.AsyncClient) -> list[httpx.Response]:
        await callback(browser, provider, await to_provider(browser))
        again = await browser.get("/login", params={"next": "/history"})
        evil = await browser.get("/login", params={"next": "//evil.example/x"})
        return [again, evil]

    again, evil = page.run(steps)
    assert again.status_code == 303 and again.headers["location"] == "/history"
    assert evil.headers["location"] == "/"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/history", "/history"),
        ("/uploads/abc?page=2", "/uploads/abc?page=2"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/login?next=/x", "/"),
        ("/oidc/callback?state=x", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("", "/"),
    ],
)
def test_the_page_to_return_to_is_a_path_of_this_site(given: str, kept: str) -> None:
    assert local_path(given) == kept


def test_pending_sign_ins_are_bounded_per_address_and_in_all_and_expire() -> None:
    clock = FakeClock()
    pending = PendingSignIns(clock, ttl=600, per_address=3, total=5)
    flood = [pending.add("203.0.113.7", "/", "b")[0] for _ in range(10)]
    assert len(pending) == 3 and pending.take(flood[0]) is None
    mine, kept = pending.add("198.51.100.2", "/history", "mine")
    others = [pending.add(f"192.0.2.{n}", "/", "b")[0] for n in range(2)]
    assert len(pending) == 5
    assert pending.take(mine) == kept and pending.take(mine) is None  # once
    pending.add("192.0.2.9", "/", "b")
    pending.add("192.0.2.10", "/", "b")
    assert len(pending) == 5 and pending.take(flood[-3]) is None  # the oldest went first
    clock.advance(601)
    assert pending.take(others[0]) is None
    pending.add("192.0.2.11", "/", "b")
    assert len(pending) == 1  # the expired are dropped as new ones come


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ({"issuer": None}, "needs --oidc-issuer"),
        ({"client_id": ""}, "needs --oidc-client-id"),
        ({"secret": None}, "IMPORTER_OIDC_CLIENT_SECRET"),
        ({"issuer": "http://idp.example.com"}, "plain http"),
        ({"issuer": "idp.example.com"}, "not an http(s) URL"),
        ({"public_url": "http://import.example.com"}, "plain http"),
        ({"public_url": "https://import.example.com/importer"}, "root of its host"),
        ({"user_claim": "e mail"}, "not a claim name"),
        ({"scope": "email profile"}, "must include openid"),
    ],
)
def test_wrong_oidc_settings_are_refused(arguments: dict[str, Any], said: str) -> None:
    given: dict[str, Any] = {"issuer": ISSUER, "client_id": CLIENT, "secret": SECRET}
    given.update(arguments)
    with pytest.raises(ConfigurationError, match=re.escape(said)) as refused:
        oidc_settings(given.pop("issuer"), given.pop("client_id"), given.pop("secret"), **given)
    assert SECRET not in str(refused.value)


def test_settings_trim_the_public_url_and_keep_the_issuer_exact() -> None:
    made = oidc_settings(
        "http://localhost:9000/", CLIENT, SECRET, public_url="https://import.example.com/"
    )
    assert made.issuer == "http://localhost:9000/" and made.https
    assert made.redirect_uri == "https://import.example.com/oidc/callback"
    assert SECRET not in repr(made)


@pytest.mark.parametrize(
    ("argv", "env", "said"),
    [
        (["--oidc-issuer", ISSUER], {}, "--oidc-issuer: for --auth oidc"),
        (["--auth", "proxy", "--public-url", "https://x.example"], {}, "--public-url: for --auth"),
        (
            ["--auth", "oidc", "--oidc-issuer", ISSUER, "--oidc-client-id", CLIENT],
            {"IMPORTER_OIDC_CLIENT_SECRET": SECRET, "IMPORTER_WEB_PASSWORD": "a long password"},
            "does not ask for it",
        ),
        (
            ["--auth", "oidc", "--oidc-issuer", ISSUER, "--oidc-client-id", CLIENT],
            {},
            "in IMPORTER_OIDC_CLIENT_SECRET",
        ),
        (
            ["--auth", "oidc", "--oidc-issuer", ISSUER, "--oidc-client-id", CLIENT, "--host", "::"],
            {"IMPORTER_OIDC_CLIENT_SECRET": SECRET},
            "needs --public-url",
        ),
    ],
)
def test_serve_refuses_wrong_oidc_options(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    said: str,
) -> None:
    """One line, exit 2, nothing served or written; the secret never repeated."""
    from importer.cli.main import main

    for name in ("IMPORTER_WEB_PASSWORD", "IMPORTER_OIDC_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    data = tmp_path / "data"
    assert main(["serve", "--sandbox", "--port", "0", "--data", str(data), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert said in err and SECRET not in err
    assert not data.exists(), "nothing is served, nothing is written"


def test_a_missing_node_skips_outside_ci_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real provider's test needs Node and npm: CI (CI=true) must have them."""
    import shutil

    from tests.web.test_oidc_browser import _node

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must provide them"):
        _node()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install nodejs npm"):
        _node()
