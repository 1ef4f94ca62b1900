"""The sandbox server: loopback only by default, keep-alive, and the command line around it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from importer.core.errors import ConfigurationError
from importer.sandbox import Sandbox, SandboxServer, SandboxState, is_loopback, load_seed
from importer.vendors import sandbox_parts
from tests.conftest import spawn_cli
from tests.sandbox.conftest import Env


@pytest.mark.parametrize(("host", "ok"), [("127.0.0.1", True), ("127.5.0.1", True), ("::1", True),
                                          ("localhost", True), ("0.0.0.0", False), ("10.0.0.2", False)])  # fmt: skip
def test_loopback_only_unless_asked(host: str, ok: bool) -> None:
    """Only loopback addresses are served without --allow-remote."""
    assert is_loopback(host) is ok
    if not ok:
        with pytest.raises(ConfigurationError, match="refusing"):
            SandboxServer(Sandbox(sandbox_parts()).app, host=host)


def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    """Several requests share one TCP connection; unknown routes answer JSON 404/405."""
    with (
        SandboxServer(Sandbox(sandbox_parts()).app) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        answers = [client.get("/_sandbox/health") for _ in range(5)]
        assert all(a.status_code == 200 for a in answers)
        assert client.get("/nowhere").status_code == 404
        assert client.delete("/zoho/oauth/v2/token").status_code == 404
        assert client.delete("/zoho-accounts/oauth/v2/token").status_code == 405


def test_a_head_answer_keeps_the_connection_for_the_next_request() -> None:
    """A HEAD answer carries headers only and leaves the connection open: the request after it on
    the same socket is answered (the server used to write the JSON body h11 refuses on a HEAD,
    fail, and close the socket after the headers, so a keep-alive client's next request was reset)."""
    with (
        SandboxServer(Sandbox(sandbox_parts()).app) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
    ):
        raw.sendall(b"HEAD /coursepath/api/v1/members/me HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"GET /_sandbox/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")  # fmt: skip
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405") and b"content-length: " in head.lower()
    assert rest.startswith(b"HTTP/1.1 200"), received


def test_raw_socket_sees_no_bytes_on_a_drop() -> None:
    """On a dropped create the server closes the socket without sending a single byte."""
    sandbox = Sandbox(sandbox_parts())
    sandbox.state.faults["360learning-v1"] = sandbox.state.fault("360learning-v1")
    sandbox.state.faults["360learning-v1"].drop = 1.0
    account = sandbox.state.seed["360learning"]
    body = json.dumps({"sessionName": "x", "startDate": "2025-07-01T13:00:00Z",
                       "sessionOwnerGroup": "624c5526204fc7207e603ea6"}).encode()  # fmt: skip
    with SandboxServer(sandbox.app) as server:
        request = (
            f"POST /360learning/api/v1/paths/6853f6de567dc5f80528f80d/sessions/?company={account['company']}"
            f"&apiKey={account['api_key']} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            raw.sendall(request)
            assert raw.recv(1024) == b""
    assert len(sandbox.state.objects("360learning-v1", "session")) == 1


@pytest.fixture
def cli_sandbox() -> Iterator[tuple[subprocess.Popen[str], dict[str, dict[str, object]]]]:
    """The real `session-importer sandbox --json --fake-clock` in a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--port", "0", "--json", "--fake-clock",
         "--faults", "coursepath:500=1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        yield process, json.loads(line)
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()
        assert process.stderr is not None
        process.stderr.close()


def test_cli_prints_endpoints_as_json_and_serves(
    cli_sandbox: tuple[subprocess.Popen[str], dict[str, dict[str, object]]],
) -> None:
    """The first stdout line is the endpoints under the importer's variable names; it serves."""
    _, info = cli_sandbox
    assert set(info) == {"360learning-v1", "360learning-v2", "zoho-people", "coursepath"}
    names = {name for vendor in info.values() for name in vendor["env"]}  # type: ignore[attr-defined]
    assert names == {"IMPORTER_360L_COMPANY", "IMPORTER_360L_API_KEY", "IMPORTER_360L_CLIENT_ID",
                     "IMPORTER_360L_CLIENT_SECRET", "IMPORTER_ZOHO_CLIENT_ID", "IMPORTER_ZOHO_CLIENT_SECRET",
                     "IMPORTER_ZOHO_REFRESH_TOKEN", "IMPORTER_COURSEPATH_API_KEY", "IMPORTER_COURSEPATH_EMAIL"}  # fmt: skip
    base = str(info["coursepath"]["base_url"]).removesuffix("/coursepath")
    assert base.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=base) as client:
        assert client.get("/_sandbox/health").json()["ok"] is True
        assert client.get("/coursepath/api/v1/members/me").status_code == 500  # --faults applied
        before = client.post("/_sandbox/clock", json={"advance": 0}).json()["time"]
        after = client.post("/_sandbox/clock", json={"advance": 300}).json()["time"]
        assert after - before == 300


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "refusing to serve"),
        (["--faults", "moodle:500=1"], "unknown vendor"),
    ],
)
def test_cli_refusals_exit_2(args: list[str], message: str) -> None:
    """A non-loopback host or a bad fault spec stops the sandbox with one line, exit 2."""
    done = spawn_cli("sandbox", "--port", "0", *args, timeout=60)  # a server: its own process
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_request_log_redacts_form_secrets_and_bounds_bodies() -> None:
    """Zoho's form-encoded secrets never reach the request log; a huge body is not kept."""
    sandbox = Sandbox(sandbox_parts())
    zoho = sandbox.state.seed["zoho"]
    form = {"grant_type": "refresh_token", "client_id": zoho["client_id"],
            "client_secret": zoho["client_secret"], "refresh_token": zoho["refresh_token"]}  # fmt: skip
    with SandboxServer(sandbox.app) as server, httpx.Client(base_url=server.url) as client:
        assert client.post("/zoho-accounts/oauth/v2/token", data=form).status_code == 200
        client.post("/zoho-accounts/oauth/v2/token", params={"client_secret": "in-the-url"})
        client.post("/360learning/api/v2/oauth2/token",
                    json={"client_id": "c", "nested": {"password": "hunter2"}})  # fmt: skip
        client.post("/coursepath/api/v1/members", content=b"x=" + b"A" * 100_000)
        log = client.get("/_sandbox/requests").text
    for secret in (zoho["client_secret"], zoho["refresh_token"], "in-the-url", "hunter2"):
        assert secret not in log
    entries = list(sandbox.state.requests)
    assert entries[0]["body"]["client_secret"] == "***"
    assert entries[0]["body"]["grant_type"] == "refresh_token"  # the rest stays readable
    assert str(entries[-1]["body"]).endswith(" bytes, not kept>")
    assert sandbox.state.requests.maxlen == 20_000


def test_remote_bind_warns_loudly() -> None:
    """--allow-remote on a non-loopback address prints a warning on stderr before serving."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--host", "0.0.0.0", "--allow-remote",
         "--port", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        json.loads(process.stdout.readline())  # serving
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert stderr.startswith("WARNING: the sandbox listens on http://0.0.0.0:")
    assert "reachable from other machines" in stderr


def test_routes_match_as_the_vendors_paths_are_written(sbx: Env) -> None:
    """A trailing slash is optional, a path parameter is percent-decoded and may be empty (the
    handler answers), HEAD is not GET, and a wrong method on a control route is 404."""
    creds = {
        "company": sbx.env("360learning-v1", "IMPORTER_360L_COMPANY"),
        "apiKey": sbx.env("360learning-v1", "IMPORTER_360L_API_KEY"),
    }
    program = sbx.sandbox.state.seed["360learning"]["programSessions"][0]["_id"]
    base = sbx.url("360learning-v1", "/api/v1/programs/sessions/")
    for written in (f"{program}/", program, f"%{ord(program[0]):02X}{program[1:]}/"):
        answer = sbx.http.get(base + written, params=creds)
        assert answer.status_code == 200 and answer.json()["_id"] == program, written
    empty = sbx.http.get(base + "/", params=creds)
    assert (empty.status_code, empty.json()) == (404, {"error": "program_session_not_found"})
    assert sbx.http.head(sbx.url("coursepath", "/api/v1/members/me")).status_code == 405
    wrong = sbx.http.delete(sbx.server.url + "/_sandbox/health")
    assert (wrong.status_code, wrong.json()) == (404, {"error": "no such sandbox route"})


def test_a_seed_without_a_parts_section_is_refused() -> None:
    """Each part names its section of the seed; a sandbox whose seed lacks one is not built."""
    seed = load_seed()
    del seed["coursepath"]
    with pytest.raises(ConfigurationError, match="no 'coursepath' section"):
        Sandbox(sandbox_parts(), SandboxState.fresh(seed))
