"""The real `session-importer serve --sandbox` in a subprocess, and an HTTP client for it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


class WebServer:
    """A running `serve` process: its page's URL, the sandbox's URL, its data folder."""

    def __init__(self, process: subprocess.Popen[str], data: Path) -> None:
        assert process.stdout is not None
        self.process, self.data = process, data
        lines = [process.stdout.readline() for _ in range(2)]
        found = re.search(r"http://127\.0\.0\.1:\d+", lines[1])
        sandbox = re.search(r"http://127\.0\.0\.1:\d+", lines[0])
        assert found and sandbox, lines
        self.url, self.sandbox_url = found.group(0), sandbox.group(0)
        self.clients: list[httpx.Client] = []

    def client(self, **options: Any) -> httpx.Client:
        """A fresh browser-like client (its own session cookie), closed after the test."""
        client = httpx.Client(base_url=self.url, timeout=30, **options)
        self.clients.append(client)
        return client

    def close_clients(self) -> None:
        while self.clients:
            self.clients.pop().close()

    def created(self, vendor: str) -> list[dict[str, Any]]:
        """What the sandbox holds as created for ``vendor``."""
        found = httpx.get(f"{self.sandbox_url}/_sandbox/created", params={"vendor": vendor})
        return list(found.json())

    def count(self, vendor: str, marker: str) -> int:
        """How many things created at ``vendor`` mention ``marker`` (a test's session names)."""
        return sum(marker in json.dumps(item) for item in self.created(vendor))

    def stop(self) -> None:
        self.close_clients()
        self.process.terminate()
        self.process.wait(20)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_server(data: Path, *extra: str, env: dict[str, str] | None = None) -> WebServer:
    """`session-importer serve --sandbox --port 0` with ``extra`` options."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "importer",
            "serve",
            "--sandbox",
            "--port",
            "0",
            "--data",
            str(data),
            *list(extra),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env={**base, "IMPORTER_STATE_DIR": str(data / "state"), **(env or {})},
    )
    return WebServer(process, data)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium, off the network, with a fresh profile and a download folder."""
    if not (shutil.which(CHROMIUM) and shutil.which(DRIVER)):
        # As the PostgreSQL tests: outside CI a machine without the browser skips; CI
        # (CI=true, which .ci/run sets) installs it, so there its absence is a failure.
        reason = f"no {CHROMIUM} and {DRIVER}: install Debian's chromium and chromium-driver"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (.ci/run does)")
        pytest.skip(reason)
    # lazy: selenium is a test dependency of the browser tests only
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'profile'}",
        # Nothing but localhost and 127.0.0.1 resolves: a page (the OIDC provider's imports
        # a web font) cannot make the browser leave this machine.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    (tmp_path / "downloads").mkdir()
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(tmp_path / "downloads"),
            "download.prompt_for_download": False,
        },
    )
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """One `serve --sandbox` for the session: 200 kB uploads, 300 rows a sheet at most."""
    server = start_server(
        tmp_path_factory.mktemp("web"), "--max-upload-mb", "0.2", "--max-rows", "300"
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _close_clients(request: pytest.FixtureRequest) -> Iterator[None]:
    """Close the clients a test opened on the shared server."""
    yield
    if "web" in request.fixturenames:
        request.getfixturevalue("web").close_clients()


def csrf(client: httpx.Client, path: str = "/") -> str:
    """The session's CSRF token, as a page's form carries it."""
    found = _CSRF.search(client.get(path).text)
    assert found, "no CSRF token in the page"
    return found.group(1)


def upload(
    client: httpx.Client, sheet: Path, account: str = "", name: str | None = None
) -> httpx.Response:
    """Upload a sheet through the page's form (following the redirect to the sheet's page)."""
    token = csrf(client)
    with sheet.open("rb") as handle:
        return client.post(
            "/upload",
            data={"csrf": token, "account": account},
            files={"sheet": (name or sheet.name, handle)},
            follow_redirects=True,
        )
