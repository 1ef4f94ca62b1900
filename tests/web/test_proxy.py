"""``serve --auth proxy`` (issue 24): the user is the sign-on proxy's header, believed only
from the proxy's addresses. Behind a real nginx from Debian's packages (``auth_basic`` stands
in for the company's sign-on), and straight to the server from an address it does not trust."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from importer.core.errors import ConfigurationError
from importer.web.accounts import Account
from importer.web.app import create_app
from importer.web.hosts import allowed_hosts
from importer.web.proxy import MAX_USER, ProxyUsers, Unidentified
from importer.web.workspace import Workspace
from tests.conftest import V2_HEADERS, V2_ROW, write_csv
from tests.web.conftest import WebServer, csrf, free_port, nginx, nginx_binary, start_server
from tests.web.test_hosts import _paths
from tests.web.test_pages import finish, history_row, start

SANDBOX_V2 = "sandbox-360learning-v2"
USERS = {"ana": "ana's password", "ben": "ben's password"}


# --- the header, in process ----------------------------------------------------------------


def _headers(*values: bytes, name: bytes = b"x-forwarded-user") -> list[tuple[bytes, bytes]]:
    return [(b"host", b"page.test"), *((name, value) for value in values)]


def test_the_user_is_the_header_of_a_trusted_peer_stripped() -> None:
    users = ProxyUsers()
    assert users.user("127.0.0.1", _headers(b"  ana@example.com ")) == "ana@example.com"
    assert users.user("::1", _headers("zoë".encode())) == "zoë"
    assert users.user("::ffff:127.0.0.1", _headers(b"ana")) == "ana"
    other = ProxyUsers("Remote-User", ["10.1.2.0/24", "[fd00::1]"])
    assert other.user("10.1.2.77", _headers(b"ben", name=b"remote-user")) == "ben"
    assert other.user("fd00::1", _headers(b"ben", name=b"remote-user")) == "ben"
    with pytest.raises(Unidentified, match="no Remote-User header"):
        other.user("10.1.2.77", _headers(b"ben"))  # X-Forwarded-User is not this one's


@pytest.mark.parametrize(
    ("peer", "values", "said"),
    [
        ("127.0.0.2", [b"ana"], "sign-on proxy only"),
        ("10.0.0.1", [b"ana"], "sign-on proxy only"),
        ("unknown", [b"ana"], "sign-on proxy only"),
        ("127.0.0.1", [], "no X-Forwarded-User header"),
        ("127.0.0.1", [b""], "is empty"),
        ("127.0.0.1", [b"   "], "is empty"),
        ("127.0.0.1", [b"ana", b"ben"], "2 X-Forwarded-User headers"),
        ("127.0.0.1", [b"ana\x00admin"], "control characters"),
        ("127.0.0.1", [b"ana\x1b[31m"], "control characters"),
        ("127.0.0.1", ["ana\u2028ben".encode()], "control characters"),
        ("127.0.0.1", [b"\xff\xfe"], "not UTF-8"),
        ("127.0.0.1", [b"a" * (MAX_USER + 1)], f"longer than {MAX_USER}"),
    ],
)
def test_a_request_the_proxy_does_not_vouch_for_names_nobody(
    peer: str, values: list[bytes], said: str
) -> None:
    with pytest.raises(Unidentified, match=re.escape(said)) as refused:
        ProxyUsers().user(peer, _headers(*values))
    assert "ana" not in str(refused.value) and "ben" not in str(refused.value)


@pytest.mark.parametrize(
    ("header", "trusted", "said"),
    [
        ("X Forwarded User", ["127.0.0.1"], "not an HTTP header name"),
        ("", ["127.0.0.1"], "not an HTTP header name"),
        ("X-Forwarded-User", ["proxy.example"], "neither an IP address nor a network"),
        ("X-Forwarded-User", [], "at least one --trusted-proxy"),
    ],
)
def test_a_wrong_proxy_setting_is_refused(header: str, trusted: list[str], said: str) -> None:
    with pytest.raises(ConfigurationError, match=said):
        ProxyUsers(header, trusted)


@pytest.fixture(scope="module")
def proxy_app(tmp_path_factory: pytest.TempPathFactory) -> object:
    data = tmp_path_factory.mktemp("proxy-page")
    accounts = [Account(name="Team A", vendor="360learning-v2", timezone="UTC")]
    workspace = Workspace(accounts, data, max_rows=10, max_bytes=10**6)
    return create_app(workspace, None, None, allowed_hosts("127.0.0.1", 8000), ProxyUsers())


def _ask_from(
    app: object, peer: str, requests: list[tuple[str, str]], user: str = "ana"
) -> list[httpx.Response]:
    async def ask() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://127.0.0.1:8000",
            headers={"X-Forwarded-User": user},
        ) as client:
            return [await client.request(method, path) for method, path in requests]

    return asyncio.run(ask())


def test_every_route_refuses_a_peer_that_is_not_the_proxy(proxy_app: object) -> None:
    """Listed from the router, so a new route cannot forget it: the header from an address
    that is not a trusted proxy gets 401, a sentence, no cookie and nothing of the page."""
    paths = _paths(proxy_app)
    assert len(paths) >= 15
    for (method, path), answer in zip(paths, _ask_from(proxy_app, "127.0.0.2", paths), strict=True):
        assert answer.status_code == 401, (method, path, answer.status_code)
        assert answer.headers["content-type"].startswith("text/plain")
        assert "sign-on proxy only" in answer.text and "Team A" not in answer.text
        assert "set-cookie" not in answer.headers
    (home,) = _ask_from(proxy_app, "127.0.0.1", [("GET", "/")])
    assert home.status_code == 200 and "Team A" in home.text and "Signed in as ana" in home.text


def test_the_cookie_is_secure_when_the_proxy_says_https(proxy_app: object) -> None:
    """TLS ends at the proxy: its X-Forwarded-Proto (believed from it alone) makes the
    session cookie Secure."""

    async def ask(proto: str | None) -> str:
        transport = httpx.ASGITransport(app=proxy_app, client=("127.0.0.1", 1))  # type: ignore[arg-type]
        headers = {"X-Forwarded-User": "ana"}
        if proto:
            headers["X-Forwarded-Proto"] = proto
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
            return (await c.get("/", headers=headers)).headers["set-cookie"].lower()

    assert "; secure" in asyncio.run(ask("https"))
    assert "; secure" not in asyncio.run(ask("http")) and "; secure" not in asyncio.run(ask(None))


def test_a_missing_nginx_skips_outside_ci_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must provide it"):
        nginx_binary()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install nginx"):
        nginx_binary()


def test_proxy_mode_has_no_password_form_and_no_name_field(proxy_app: object) -> None:
    login, home = _ask_from(proxy_app, "127.0.0.1", [("GET", "/login"), ("GET", "/")])
    assert login.status_code == 303 and login.headers["location"] == "/"
    assert 'name="who"' not in home.text and 'name="password"' not in home.text


# --- serve's options --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "password", "said"),
    [
        (["--auth", "password"], None, "--auth password needs the page's password"),
        (["--auth", "password"], "short", "IMPORTER_WEB_PASSWORD has 5 character(s)"),
        (["--auth", "proxy"], "long enough password", "does not ask for it"),
        (["--auth", "none"], "long enough password", "does not ask for it"),
        (["--user-header", "Remote-User"], None, "are for --auth proxy"),
        (["--auth", "password", "--trusted-proxy", "::1"], "a long password", "for --auth proxy"),
        (["--auth", "proxy", "--trusted-proxy", "proxy.example"], None, "nor a network"),
        (["--auth", "proxy", "--user-header", "a:b"], None, "not an HTTP header name"),
        (["--auth", "none", "--host", "0.0.0.0"], None, "without a password"),
    ],
)
def test_serve_refuses_a_contradictory_sign_in(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    password: str | None,
    said: str,
) -> None:
    """One line, exit 2, nothing served or written; a password is never repeated."""
    from importer.cli.main import main

    if password is None:
        monkeypatch.delenv("IMPORTER_WEB_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("IMPORTER_WEB_PASSWORD", password)
    data = tmp_path / "data"
    assert main(["serve", "--sandbox", "--port", "0", "--data", str(data), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert said in err
    if password is not None:
        assert password not in err
    assert not data.exists(), "nothing is served, nothing is written"


# --- behind a real nginx ----------------------------------------------------------------------


@dataclass
class Proxied:
    """``serve --auth proxy`` behind nginx: nginx's URL, and the server itself."""

    url: str
    server: WebServer

    def client(self, user: str | None, **options: object) -> httpx.Client:
        """A browser of ``user`` (signed in at nginx with basic auth), its own cookies."""
        auth = (user, USERS[user]) if user is not None else None
        client = httpx.Client(base_url=self.url, timeout=30, auth=auth, **options)  # type: ignore[arg-type]
        self.server.clients.append(client)
        return client


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    nginx_binary()  # skipped (or failed, in CI) before anything starts
    port = free_port()
    server = start_server(
        tmp_path_factory.mktemp("proxy-data"),
        *("--auth", "proxy", "--trusted-proxy", "127.0.0.1"),
        *("--allowed-host", f"127.0.0.1:{port}"),
    )
    try:
        with nginx(tmp_path_factory.mktemp("nginx"), USERS, server.url, port) as url:
            yield Proxied(url, server)
    finally:
        server.stop()


def _signed_in_as(page: httpx.Response) -> str:
    found = re.search(r'<span class="who">Signed in as ([^<]*)</span>', page.text)
    assert found, page.text[:300]
    return found.group(1)


def _upload(client: httpx.Client, sheet: Path, who: str = "") -> httpx.Response:
    token = csrf(client)
    with sheet.open("rb") as handle:
        return client.post(
            "/upload",
            data={"csrf": token, "account": SANDBOX_V2, "who": who},
            files={"sheet": (sheet.name, handle)},
            follow_redirects=True,
        )


def test_two_users_behind_nginx_each_see_their_name_and_their_runs_record_it(
    tmp_path: Path, proxied: Proxied
) -> None:
    """Each sees "signed in as" their own name, no name field; their import's run records
    them as its user (history's Who), even when the form names someone else."""
    runs = {}
    for user in USERS:
        client = proxied.client(user)
        home = client.get("/")
        assert home.status_code == 200 and _signed_in_as(home) == user
        assert 'name="who"' not in home.text and "Sign out" not in home.text
        row = [V2_ROW[0], f"Proxy {user}", *V2_ROW[2:]]
        sheet = write_csv(tmp_path / f"proxy-{user}.csv", [V2_HEADERS, row])
        page = _upload(client, sheet, who="mallory")  # a typed name counts for nothing here
        assert page.status_code == 200 and _signed_in_as(page) == user
        run = start(client, page, "import")
        assert finish(client, run)["counts"] == {"created": 1}
        assert f"started by {user}" in client.get(run).text
        runs[user] = client
    for user, client in runs.items():
        row = history_row(client, f"proxy-{user}.csv")
        assert re.search(rf'<td data-label="Who">{user}</td>', row), row
        assert "mallory" not in client.get("/history").text


def test_nginx_replaces_a_user_header_the_browser_writes(proxied: Proxied) -> None:
    """Through nginx, a browser's own X-Forwarded-User (and X-Forwarded-For) change
    nothing: the user is the one nginx signed in; without signing in, nginx's 401."""
    forged = {"X-Forwarded-User": "ben", "X-Forwarded-For": "10.9.9.9"}
    page = proxied.client("ana").get("/", headers=forged)
    assert page.status_code == 200 and _signed_in_as(page) == "ana"
    anonymous = proxied.client(None).get("/", headers={"X-Forwarded-User": "ana"})
    assert anonymous.status_code == 401 and "Session importer" not in anonymous.text


def test_a_session_is_not_carried_across_users(proxied: Proxied) -> None:
    """ana's cookie sent by ben: ben gets a session of his own (a new cookie), and a form of
    ana's session is refused; ana's session is still hers."""
    ana = proxied.client("ana")
    page = ana.get("/")
    cookie, token = ana.cookies["importer_session"], csrf(ana)
    ben = proxied.client("ben")
    ben.cookies.set("importer_session", cookie)
    answer = ben.post("/upload", data={"csrf": token, "account": SANDBOX_V2})
    assert answer.status_code == 403 and "form expired" in answer.text
    mine = re.search(r"importer_session=([^;]+)", answer.headers["set-cookie"])
    assert mine and mine.group(1) != cookie
    assert _signed_in_as(ben.get("/")) == "ben"
    again = ana.get("/")
    assert _signed_in_as(again) == "ana" and "set-cookie" not in again.headers
    assert csrf(ana) == token and _signed_in_as(page) == "ana"


def test_straight_to_the_server_only_the_proxy_is_believed(proxied: Proxied) -> None:
    """Bypassing nginx: the header from 127.0.0.2 (not a trusted proxy) gets 401, a plain
    sentence; from the trusted 127.0.0.1 without the header, or an empty one, 401 too; a
    foreign Host is still 421."""
    url = proxied.server.url
    host = {"Host": f"127.0.0.1:{proxied.url.rsplit(':', 1)[1]}"}
    untrusted = httpx.Client(
        base_url=url,
        timeout=30,
        transport=httpx.HTTPTransport(local_address="127.0.0.2"),
        headers={**host, "X-Forwarded-User": "ana"},
    )
    proxied.server.clients.append(untrusted)
    for answer in (untrusted.get("/"), untrusted.get("/history"), untrusted.post("/upload")):
        assert answer.status_code == 401, answer.status_code
        assert answer.headers["content-type"].startswith("text/plain")
        assert "sign-on proxy only" in answer.text and "Session importer" not in answer.text
        assert "set-cookie" not in answer.headers
    direct = httpx.Client(base_url=url, timeout=30)
    proxied.server.clients.append(direct)
    assert direct.get("/", headers=host).status_code == 401
    empty = direct.get("/", headers={**host, "X-Forwarded-User": ""})
    assert empty.status_code == 401 and "is empty" in empty.text
    trusted = direct.get("/", headers={**host, "X-Forwarded-User": "ana"})
    assert trusted.status_code == 200 and _signed_in_as(trusted) == "ana"
    foreign = direct.get("/", headers={"Host": "evil.example", "X-Forwarded-User": "ana"})
    assert foreign.status_code == 421
