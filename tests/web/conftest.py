"""The real `session-importer serve --sandbox` in a subprocess, and an HTTP client for it."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import ROOT

if TYPE_CHECKING:
    from tests.web.browsing import Page

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


class WebServer:
    """A running `serve` process: its page's URL, the embedded sandbox's URL (``""``
    without one), its data folder."""

    def __init__(self, process: subprocess.Popen[str], data: Path, sandbox: bool = True) -> None:
        assert process.stdout is not None
        self.process, self.data = process, data
        # serve prints the embedded sandbox's line (with --sandbox), then the page's
        lines = [process.stdout.readline() for _ in range(2 if sandbox else 1)]
        found = re.search(r"http://127\.0\.0\.1:\d+", lines[-1])
        assert found and "Serving" in lines[-1], lines
        self.url = found.group(0)
        self.sandbox_url = ""
        if sandbox:
            embedded = re.search(r"http://127\.0\.0\.1:\d+", lines[0])
            assert embedded, lines
            self.sandbox_url = embedded.group(0)
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
        assert self.sandbox_url, "served without --sandbox: ask the test's own sandbox"
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


def start_server(
    data: Path, *extra: str, env: dict[str, str] | None = None, sandbox: bool = True
) -> WebServer:
    """`session-importer serve --sandbox --port 0` with ``extra`` options (without
    ``sandbox``: no embedded sandbox, only the accounts of ``extra``'s --config)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "importer",
            "serve",
            *(["--sandbox"] if sandbox else []),
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
    return WebServer(process, data, sandbox)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium, off the network, with a fresh profile and a download folder."""
    driver = chromium(tmp_path)
    try:
        yield driver
    finally:
        driver.quit()


def chromium(folder: Path) -> Any:
    """A headless Chromium (quit it when done), its profile in ``folder``/profile and its
    downloads in ``folder``/downloads; skipped without one, failed in CI (CI=true)."""
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
        f"--user-data-dir={folder / 'profile'}",
        # Nothing but localhost and 127.0.0.1 resolves: a page (the OIDC provider's imports
        # a web font) cannot make the browser leave this machine.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    (folder / "downloads").mkdir()
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(folder / "downloads"),
            "download.prompt_for_download": False,
        },
    )
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe.min.js for the session (see :func:`tests.web.browsing.axe_script`)."""
    # lazy: selenium (which browsing needs) is for the browser tests only
    from tests.web.browsing import AXE, axe_script

    return axe_script(AXE, shutil.which("npm"))


@pytest.fixture
def page(browser: Any, tmp_path: Path, axe_source: str) -> Iterator[Page]:
    """The browser with this test's screenshot folder; prints the axe findings afterwards."""
    from tests.web.browsing import Page

    shown = Page(browser, tmp_path / "screenshots", axe_source)
    yield shown
    print(f"\naxe findings:\n{shown.report()}")


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


# --- a real nginx in front (the proxy mode's tests): auth_basic stands in for a sign-on ----

_NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 25m;
        auth_basic "Session importer";
        auth_basic_user_file {tmp}/htpasswd;
        location / {{
            proxy_pass {upstream};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-User $remote_user;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    """Debian's nginx; outside CI a machine without it skips, in CI (CI=true) it fails."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )
    if found is None:
        reason = "no nginx: install Debian's nginx (apt-get install nginx) for the proxy tests"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI must provide it (.ci/run installs it)")
        pytest.skip(reason)
    return found


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on now (for a server that must know its own)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def nginx(folder: Path, users: Mapping[str, str], upstream: str, port: int) -> Iterator[str]:
    """Debian's nginx on 127.0.0.1:``port`` in front of ``upstream``, its files in ``folder``:
    ``auth_basic`` with ``users`` (name: password) stands in for the company's sign-on, the
    name it signed in passed on as ``X-Forwarded-User``. Yields nginx's URL once it answers."""
    binary = nginx_binary()
    (folder / "htpasswd").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in users.items()))
    conf = folder / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(tmp=folder, port=port, upstream=upstream))
    log = folder / "error.log"
    process = subprocess.Popen(
        [binary, "-p", str(folder), "-c", str(conf), "-e", str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:  # until nginx answers (or has ended: its error log says why)
            if process.poll() is not None:
                said = log.read_text() if log.exists() else ""
                raise AssertionError(f"nginx ended ({process.returncode}): {said}")
            try:
                if httpx.get(url, timeout=5).status_code == 401:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "nginx did not answer"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(20)
