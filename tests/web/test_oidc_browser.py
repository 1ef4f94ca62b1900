"""``serve --auth oidc`` against a real OpenID Connect provider, driven in headless Chromium.

The provider is the certified ``oidc-provider`` package on Node (tests/web/oidc_provider/:
its script, and its package.json and package-lock.json pinning the versions), started on
loopback with the page as its client; ``npm ci`` installs it when node_modules is missing
(.ci/run does it first). The provider is reached as ``localhost``, the page as ``127.0.0.1``:
two sites to the browser, as a company's provider and its page are. Screenshots of each step
are saved under the test's tmp folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.conftest import WebServer, free_port, start_server

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402

from tests.web.browsing import Patient  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PROVIDER = Path(__file__).parent / "oidc_provider"
CLIENT = "import-page"


def _node() -> tuple[str, str]:
    """Node and npm; outside CI a machine without them skips, in CI (CI=true) it fails."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        reason = "no node and npm: install Node.js (apt-get install nodejs npm) for the OIDC test"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI must provide them (.ci/run installs them)")
        pytest.skip(reason)
    return node, npm


def _installed(npm: str) -> None:
    """``npm ci`` into tests/web/oidc_provider when its node_modules is missing (once: the
    test workers take a lock)."""
    with (PROVIDER / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (PROVIDER / "node_modules" / "oidc-provider").is_dir():
            return
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=PROVIDER,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"npm ci failed: {done.stderr[-2000:]}"


@dataclass
class Signed:
    """The provider's issuer, and the page signing in at it."""

    issuer: str
    server: WebServer
    secret: str


@pytest.fixture
def signed(tmp_path: Path) -> Iterator[Signed]:
    node, npm = _node()
    _installed(npm)
    port = free_port()
    page = f"http://127.0.0.1:{port}"
    secret = secrets.token_urlsafe(24)
    log = (tmp_path / "provider.log").open("w")
    provider = subprocess.Popen(
        [node, "provider.mjs"],
        cwd=PROVIDER,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={
            "PATH": os.environ.get("PATH", ""),
            "OIDC_REDIRECT_URI": f"{page}/oidc/callback",
            "OIDC_SIGNED_OUT_URI": f"{page}/oidc/signed-out",
            "OIDC_CLIENT_SECRET": secret,
        },
    )
    server = None
    try:
        assert provider.stdout is not None
        line = provider.stdout.readline()  # printed once it listens; empty if it ended
        assert line, f"the provider ended: {(tmp_path / 'provider.log').read_text()[-2000:]}"
        issuer = json.loads(line)["issuer"]
        server = start_server(
            tmp_path / "data",
            *("--port", str(port), "--auth", "oidc", "--oidc-issuer", issuer),
            *("--oidc-client-id", CLIENT, "--oidc-scope", "openid email groups"),
            env={"IMPORTER_OIDC_CLIENT_SECRET": secret},
        )
        assert server.url == page
        yield Signed(issuer, server, secret)
    finally:
        if server is not None:
            server.stop()
        provider.terminate()
        provider.wait(20)
        if provider.stdout is not None:
            provider.stdout.close()
        log.close()


def _audit(server: WebServer) -> list[dict[str, Any]]:
    log = server.data / "audit.log"
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_sign_in_at_a_real_provider_see_the_user_sign_out(
    tmp_path: Path, browser: Any, signed: Signed
) -> None:
    """Asked for History: the provider's login and consent forms, back on History signed in
    as the email, the sign-in in the audit log; without the session a request is sent to sign
    in; signing out ends the session here and at the provider; an account whose email the
    provider has not verified is refused."""
    server, shots = signed.server, tmp_path / "screenshots"
    shots.mkdir()
    wait = Patient(browser)

    def shot(name: str) -> None:
        browser.save_screenshot(str(shots / f"{name}.png"))

    def sign_in_at_provider(user: str) -> None:
        wait.until(lambda b: b.current_url.startswith(signed.issuer + "/interaction/"))
        login = wait.until(lambda b: b.find_element(By.NAME, "login"))
        shot(f"{user}-1-provider-login")
        login.send_keys(user)
        browser.find_element(By.NAME, "password").send_keys("any password")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        consent = wait.until(
            lambda b: b.find_elements(By.XPATH, "//button[normalize-space()='Continue']")
        )
        shot(f"{user}-2-provider-consent")
        consent[0].click()

    # 1. A page asked for, signed out: the provider's forms, then back on that page.
    browser.get(f"{server.url}/history")
    sign_in_at_provider("ana")
    wait.until(lambda b: b.current_url == f"{server.url}/history")
    who = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, ".who"))
    assert who.text == "Signed in as ana@example.com"
    shot("ana-3-history-signed-in")
    (line,) = [entry for entry in _audit(server) if entry["event"] == "sign-in"]
    assert line["who"] == "ana@example.com" and line["via"] == "oidc"
    assert line["groups"] == ["team-a"]
    cookie = browser.get_cookie("importer_session")["value"]

    # 2. A request with the session is the user's; without it, it is sent to sign in.
    with httpx.Client(base_url=server.url, timeout=30) as client:
        mine = client.get("/history", headers={"Cookie": f"importer_session={cookie}"})
        assert mine.status_code == 200 and "Signed in as ana@example.com" in mine.text
        anonymous = client.get("/history")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/login?next=%2Fhistory"

    # 3. Sign out: the provider asks to confirm, then our signed-out page; the old session
    # cookie is worth nothing now.
    browser.find_element(By.CSS_SELECTOR, "form.signout button").click()
    confirm = wait.until(
        lambda b: b.find_elements(By.XPATH, "//button[normalize-space()='Yes, sign me out']")
    )
    shot("ana-4-provider-sign-out")
    confirm[0].click()
    wait.until(lambda b: b.current_url == f"{server.url}/oidc/signed-out")
    assert "You are signed out" in browser.find_element(By.TAG_NAME, "body").text
    shot("ana-5-signed-out")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        ended = client.get("/history", headers={"Cookie": f"importer_session={cookie}"})
        assert ended.status_code == 303 and ended.headers["location"].startswith("/login")

    # 4. Signed out at the provider too: the next sign-in shows its login form again; an
    # account whose email it has not verified is refused, in a plain page.
    browser.find_element(By.LINK_TEXT, "Sign in").click()
    sign_in_at_provider("carl")
    wait.until(lambda b: b.current_url.startswith(f"{server.url}/oidc/callback"))
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Not signed in\nThe provider has not verified this email address." in body
    shot("carl-3-refused")
    refused = [entry for entry in _audit(server) if entry["event"] == "refused"]
    assert [entry["reason"] for entry in refused] == [
        "the provider has not verified this email address"
    ]
    assert signed.secret not in (server.data / "audit.log").read_text(encoding="utf-8")
