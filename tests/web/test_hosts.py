"""The page answers only the names it was given (DNS rebinding), on every route, and what it
keeps under its data folder is the server user's alone (issue 24, safe by default)."""

from __future__ import annotations

import asyncio
import re
import stat
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route

from importer.web.accounts import Account
from importer.web.app import create_app
from importer.web.hosts import allowed_hosts
from importer.web.workspace import Workspace
from tests.conftest import V2_HEADERS, V2_ROW, write_csv
from tests.web.conftest import WebServer, start_server, upload
from tests.web.test_pages import finish, start

ALLOWED = allowed_hosts("127.0.0.1", 8000, ["imports.example.com"])


def _ask(app: object, base: str, requests: list[tuple[str, str]]) -> list[httpx.Response]:
    """The app's answers, in process (httpx's ASGI transport), to requests sent to ``base``:
    its host name is the request's ``Host``."""

    async def ask() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url=base) as client:
            return [await client.request(method, path) for method, path in requests]

    return asyncio.run(ask())


def test_the_default_names_are_loopback_and_the_bind_address_with_the_port() -> None:
    assert allowed_hosts("127.0.0.1", 8000) == {"localhost:8000", "127.0.0.1:8000", "[::1]:8000"}
    assert "10.0.0.5:8000" in allowed_hosts("10.0.0.5", 8000)
    assert "0.0.0.0:8000" not in allowed_hosts("0.0.0.0", 8000)
    given = allowed_hosts("127.0.0.1", 8000, ["Imports.Example.com", "other.example:8443"])
    assert {"imports.example.com", "imports.example.com:8000", "other.example:8443"} <= given
    assert "other.example" not in given and "other.example:8000" not in given


def _paths(app: object) -> list[tuple[str, str]]:
    """Every route of the page, from its router: (method, a path that matches it)."""
    found = []
    for route in app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            found.append(("GET", f"{route.path}/style.css"))
            continue
        assert isinstance(route, Route)
        path = re.sub(r"\{number:int\}", "1", route.path)
        path = re.sub(r"\{[^}]+\}", "x", path)
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                found.append((method, path))
    return found


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> object:
    data = tmp_path_factory.mktemp("page")
    accounts = [Account(name="Team A", vendor="360learning-v2", timezone="UTC")]
    return create_app(Workspace(accounts, data, max_rows=10, max_bytes=10**6), None, None, ALLOWED)


def test_every_route_refuses_a_foreign_host(app: object) -> None:
    """Listed from the router, so a new route cannot forget the check: a rebinding site's
    request (its own name, this port) gets 421 and nothing of the page, GET or POST."""
    paths = _paths(app)
    assert len(paths) >= 15
    answers = _ask(app, "http://evil.example:8000", paths)
    for (method, path), answer in zip(paths, answers, strict=True):
        assert answer.status_code == 421, (method, path, answer.status_code)
        assert "misdirected request" in answer.text and "Team A" not in answer.text
        assert "set-cookie" not in answer.headers


@pytest.mark.parametrize(
    "base",
    [
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://[::1]:8000",
        "http://imports.example.com",
    ],
)
def test_the_names_given_are_answered(app: object, base: str) -> None:
    (home,) = _ask(app, base, [("GET", "/")])
    assert home.status_code == 200 and "Team A" in home.text


def test_the_served_page_refuses_a_rebinding_host(web: WebServer) -> None:
    """The real `serve`: the same request under a foreign Host is refused, under its own
    address answered (the port is the one it bound)."""
    port = web.url.rsplit(":", 1)[1]
    foreign = httpx.get(f"{web.url}/", headers={"Host": f"evil.example:{port}"})
    assert foreign.status_code == 421
    for name in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert httpx.get(f"{web.url}/", headers={"Host": name}).status_code == 200
    assert httpx.get(f"{web.url}/", headers={"Host": "127.0.0.1"}).status_code == 421


def test_an_allowed_host_is_answered_behind_a_proxy(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--allowed-host", "imports.example.com")
    try:
        named = httpx.get(f"{server.url}/", headers={"Host": "imports.example.com"})
        other = httpx.get(f"{server.url}/", headers={"Host": "imports.example.org"})
    finally:
        server.stop()
    assert named.status_code == 200 and other.status_code == 421


def test_the_data_folder_is_the_server_users_alone(tmp_path: Path, web: WebServer) -> None:
    """After an upload, its import and a template download: every folder under the data
    folder 0700, every file 0600 (uploads, journals, results, templates)."""
    client = web.client()
    sheet = write_csv(tmp_path / "modes.csv", [V2_HEADERS, [V2_ROW[0], "Modes 1", *V2_ROW[2:]]])
    page = upload(client, sheet, "sandbox-360learning-v2")
    assert page.status_code == 200
    assert finish(client, start(client, page, "import"))["counts"] == {"created": 1}
    assert client.get("/templates/360learning-v2").status_code == 200
    found = [p for p in web.data.rglob("*") if "state" not in p.relative_to(web.data).parts]
    kinds = {p.relative_to(web.data).parts[0] for p in found if p.is_file()}
    assert {"uploads", "results", "journals", "templates"} <= kinds
    for path in [web.data, *found]:
        mode = stat.S_IMODE(path.stat().st_mode)
        expected = 0o700 if path.is_dir() else 0o600
        assert mode == expected, f"{path.relative_to(web.data)}: {oct(mode)}"
