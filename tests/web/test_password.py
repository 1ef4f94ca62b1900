"""The password mode's bounds, in process on a fake clock: the wait after wrong passwords per
client address, the sessions kept per address, signing out, and the password's length."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from importer.core.clock import FakeClock
from importer.core.secret import Secret
from importer.web.accounts import Account
from importer.web.app import create_app
from importer.web.security import Session, Sessions
from importer.web.workspace import Workspace

SECRET = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def page_app(tmp_path: Path, clock: FakeClock) -> Any:
    """The page's app with a password, on ``clock``."""
    space = Workspace([Account("a", "coursepath")], tmp_path, max_rows=10, max_bytes=1000)
    return create_app(space, Secret(SECRET), clock)


def browser(app: Any, address: str) -> httpx.AsyncClient:
    """A browser at ``address`` (the connection's own peer address)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://page.test")


async def sign_in(client: httpx.AsyncClient, password: str) -> httpx.Response:
    """Post the login form, its CSRF token taken from the login page."""
    found = _CSRF.search((await client.get("/login")).text)
    assert found
    form = {"csrf": found.group(1), "password": password, "who": "Ana"}
    return await client.post("/login", data=form)


async def anonymous(guard: Any, address: str) -> Response:
    """A request without a cookie from ``address``, through the guard alone."""
    scope = {
        "type": "http", "method": "HEAD", "path": "/", "raw_path": b"/", "query_string": b"",
        "headers": [(b"host", b"page.test")], "client": (address, 40000),
        "server": ("page.test", 80), "scheme": "http", "root_path": "",
    }  # fmt: skip

    async def page(request: Request) -> Response:
        return Response("home")

    return await guard(Request(scope), page)  # type: ignore[no-any-return]


def run(test: Callable[[], Awaitable[None]]) -> None:
    """Run an async test body."""
    asyncio.run(test())


def test_wrong_passwords_wait_doubling_per_address(tmp_path: Path) -> None:
    """Each wrong password from an address doubles its wait (1, 2, 4 ... 60 s at most); a
    guess during the wait is refused unread with 429 and Retry-After, even the right one;
    another address is not held up; the right password clears the count."""
    clock = FakeClock()
    app = page_app(tmp_path, clock)

    async def test() -> None:
        async with browser(app, "203.0.113.7") as eve, browser(app, "198.51.100.2") as ana:
            waits = []
            for _ in range(8):
                wrong = await sign_in(eve, "guess")
                assert wrong.status_code == 401, wrong.text
                waits.append(int(wrong.headers["retry-after"]))
                held = await sign_in(eve, SECRET)  # during the wait: not even read
                assert held.status_code == 429
                assert int(held.headers["retry-after"]) == waits[-1]
                assert "try again in" in held.text
                bearer = await eve.get("/history", headers={"Authorization": f"Bearer {SECRET}"})
                assert bearer.status_code == 429
                clock.advance(waits[-1] - 0.5)
                assert (await sign_in(eve, SECRET)).status_code == 429
                clock.advance(0.5)
            assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
            assert (await sign_in(ana, SECRET)).status_code == 303, "another address is free"
            assert (await sign_in(eve, SECRET)).status_code == 303, "the wait is over"
            assert (await eve.get("/")).status_code == 200
            again = await sign_in(eve, "guess")
            assert again.headers["retry-after"] == "1", "the right password cleared the count"

    run(test)


def test_wrong_bearer_tokens_wait_too(tmp_path: Path) -> None:
    """A script guessing the bearer token meets the same wait as the login form."""
    clock = FakeClock()
    app = page_app(tmp_path, clock)

    async def test() -> None:
        async with browser(app, "203.0.113.9") as script:
            guess = await script.get("/history", headers={"Authorization": "Bearer guess"})
            assert guess.status_code == 303
            right = await script.get("/history", headers={"Authorization": f"Bearer {SECRET}"})
            assert right.status_code == 429 and right.headers["retry-after"] == "1"
            clock.advance(1)
            right = await script.get("/history", headers={"Authorization": f"Bearer {SECRET}"})
            assert right.status_code == 200

    run(test)


def test_anonymous_flood_keeps_nobody_out(tmp_path: Path) -> None:
    """10,400 requests without a cookie, from one address or from Ana's own, store no
    session: Ana stays signed in (the sessions were one global LRU of 10,000)."""
    app = page_app(tmp_path, FakeClock())
    guard = app.state.guard

    async def test() -> None:
        async with browser(app, "198.51.100.2") as ana:
            assert (await sign_in(ana, SECRET)).status_code == 303
            # Straight through the guard (the middleware every request meets): the HTTP
            # client's own cost would make this 25 s.
            for address in ("203.0.113.7", "198.51.100.2"):
                for _ in range(5200):
                    assert (await anonymous(guard, address)).status_code == 303
            assert len(guard.sessions) == 1
            home = await ana.get("/")
            assert home.status_code == 200 and "Signed in as Ana" in home.text

    run(test)


def test_sessions_are_bounded_per_address() -> None:
    """Sessions over an address's cap push out that address's least recently used one,
    never another address's."""
    sessions = Sessions(per_address=3, addresses=2)
    ana = Session("ana", "t", True)
    sessions.keep(ana, "10.0.0.1")
    made = [Session(f"eve{n}", "t", True) for n in range(10)]
    for n, session in enumerate(made):
        sessions.keep(session, "10.0.0.2")
        if n == 1:
            assert sessions.get("eve0") is made[0]  # used: the least recent is now eve1
    assert sessions.get("ana") is ana
    assert [s.id for s in made if sessions.get(s.id)] == ["eve7", "eve8", "eve9"]
    assert len(sessions) == 4
    sessions.keep(Session("bob", "t", True), "10.0.0.3")  # a third address: the oldest goes
    assert sessions.get("ana") is None and sessions.get("eve9") is not None
    sessions.drop("eve9")
    assert sessions.get("eve9") is None and len(sessions) == 3


def test_sign_out_ends_the_session(tmp_path: Path) -> None:
    """Sign out (a POST with the CSRF token) ends the session: its cookie no longer lets in."""
    app = page_app(tmp_path, FakeClock())

    async def test() -> None:
        async with browser(app, "198.51.100.2") as ana:
            assert (await sign_in(ana, SECRET)).status_code == 303
            home = await ana.get("/")
            assert 'action="/logout"' in home.text and "Sign out" in home.text
            old = dict(ana.cookies)
            assert (await ana.post("/logout", data={})).status_code == 403, "CSRF checked"
            found = _CSRF.search(home.text)
            assert found
            out = await ana.post("/logout", data={"csrf": found.group(1)})
            assert out.status_code == 303 and out.headers["location"] == "/login"
            assert (await ana.get("/")).headers["location"] == "/login"
            ana.cookies.clear()
            ana.cookies.update(old)  # the cookie of before, kept by someone
            assert (await ana.get("/")).headers["location"] == "/login"

    run(test)


@pytest.mark.parametrize("password", ["x", "eleven char"])
def test_a_short_password_refuses_to_start(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    password: str,
) -> None:
    """serve with a password under 12 characters exits 2 with one line naming the variable."""
    from importer.cli.main import main

    monkeypatch.setenv("IMPORTER_WEB_PASSWORD", password)
    data = tmp_path / "data"
    assert main(["serve", "--sandbox", "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"IMPORTER_WEB_PASSWORD has {len(password)} character(s)" in err
    assert "at least 12" in err and "eleven char" not in err
    assert not data.exists(), "nothing is served, nothing is written"
