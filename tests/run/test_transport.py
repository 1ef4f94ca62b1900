"""The run's transport (importer.sending.transport) against raw sockets on 127.0.0.1.

Each test's server is a few lines of socket code that answers as a vendor might, well or
badly: what must hold is that connections are kept and never shared between threads, and
that every failure is the httpx exception that tells the sender whether the request may
have arrived (ConnectError: it never left; the others: in doubt).
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from importer.sending.transport import ThreadConnections, direct_transport

Handler = Callable[[socket.socket, int], None]

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"id": 42}\n'


class Server:
    """A TCP server on 127.0.0.1; each accepted connection is given to ``handler`` with its
    number (0, 1, ...), in a thread of its own."""

    def __init__(self, handler: Handler) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                number, self.connections = self.connections, self.connections + 1
            threading.Thread(target=self._serve, args=(sock, number), daemon=True).start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        with sock, contextlib.suppress(OSError):
            self.handler(sock, number)

    def read_request(self, sock: socket.socket) -> bytes:
        """One request's head and body (by Content-Length); b"" at end of file."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return b""
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += sock.recv(65536)
        with self._lock:
            self.requests.append(head + b"\r\n\r\n" + body)
        return data


def keep_alive(server_box: list[Server], answer: bytes = OK) -> Handler:
    def handler(sock: socket.socket, number: int) -> None:
        while server_box[0].read_request(sock):
            sock.sendall(answer)

    return handler


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(make: Callable[[list[Server]], Handler]) -> Server:
        box: list[Server] = []
        server = Server(lambda sock, number: make(box)(sock, number))
        box.append(server)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.listener.close()


@pytest.fixture
def transport() -> Iterator[ThreadConnections]:
    made = ThreadConnections()
    yield made
    made.close()


def post(transport: httpx.BaseTransport, url: str, timeout: float = 5.0) -> httpx.Response:
    request = httpx.Request(
        "POST", url + "/api/v1/paths/p/sessions/?x=1", json={"name": "Onboarding"},
        extensions={"timeout": httpx.Timeout(timeout).as_dict()},
    )  # fmt: skip
    answer = transport.handle_request(request)
    answer.read()
    return answer


def test_one_thread_keeps_one_connection_and_sends_the_request_as_given(serve, transport) -> None:
    server = serve(keep_alive)
    answers = [post(transport, server.url) for _ in range(5)]
    assert [a.json() for a in answers] == [{"id": 42}] * 5
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /api/v1/paths/p/sessions/?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}".encode() in first
    assert first.endswith(b'{"name":"Onboarding"}')


class _Writes:
    """A socket that counts its writes (everything else is the socket's own)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.writes = sock, 0

    def sendall(self, data: bytes) -> None:
        self.writes += 1
        self.sock.sendall(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.sock, name)


def test_a_request_is_written_in_one_piece(serve, transport) -> None:
    """The head and the body leave in one write (one segment, one wake-up of the server)."""
    server = serve(keep_alive)
    post(transport, server.url)
    (connection,) = transport._local.mine.values()
    counted = connection.sock = _Writes(connection.sock)
    assert post(transport, server.url).json() == {"id": 42}
    assert counted.writes == 1 and server.connections == 1
    assert server.requests[1].endswith(b'{"name":"Onboarding"}')


def test_a_header_http_does_not_allow_is_refused_before_a_byte_is_written(serve, transport) -> None:
    """A line break in a value, or a colon in a name: LocalProtocolError, nothing written."""
    server = serve(keep_alive)
    for headers in ({"X-apiKey": "abc\r\nX-Evil: 1"}, {"X:bad": "1"}):
        request = httpx.Request("POST", server.url + "/x", headers=headers, json={})
        with pytest.raises(httpx.LocalProtocolError) as raised:
            transport.handle_request(request)
        assert "abc" not in str(raised.value)
    assert server.requests == []


def test_each_thread_has_its_own_connection(serve, transport) -> None:
    server = serve(keep_alive)
    started = threading.Barrier(4)

    def send() -> None:
        started.wait()
        for _ in range(10):
            assert post(transport, server.url).status_code == 200

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.requests) == 40
    assert server.connections == 4  # kept, one a thread: no pool, no lock between them


def test_a_connection_the_server_closed_while_idle_is_replaced_before_writing(
    serve, transport
) -> None:
    def make(box: list[Server]) -> Handler:
        def handler(sock: socket.socket, number: int) -> None:
            box[0].read_request(sock)
            sock.sendall(OK)  # then closes: an idle timeout on the vendor's side

        return handler

    server = serve(make)
    assert post(transport, server.url).status_code == 200
    threading.Event().wait(0.1)  # the server's close reaches us
    assert post(transport, server.url).status_code == 200  # not an error, not in doubt
    assert server.connections == 2
    assert len(server.requests) == 2


def test_connection_close_answers_are_honoured(serve, transport) -> None:
    closing = OK.replace(b"Content-Length", b"Connection: close\r\nContent-Length")

    def make(box: list[Server]) -> Handler:
        def handler(sock: socket.socket, number: int) -> None:
            box[0].read_request(sock)
            sock.sendall(closing)

        return handler

    server = serve(make)
    assert [post(transport, server.url).status_code for _ in range(3)] == [200] * 3
    assert server.connections == 3


def test_a_refused_connection_is_a_connect_error_the_request_never_left(transport) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(httpx.ConnectError, match="could not connect"):
        post(transport, f"http://127.0.0.1:{port}")


def test_no_answer_in_time_is_a_read_timeout(serve, transport) -> None:
    def make(box: list[Server]) -> Handler:
        def handler(sock: socket.socket, number: int) -> None:
            box[0].read_request(sock)
            threading.Event().wait(2)

        return handler

    server = serve(make)
    with pytest.raises(httpx.ReadTimeout):
        post(transport, server.url, timeout=0.3)
    assert len(server.requests) == 1  # it arrived: in doubt, as the sender takes it


@pytest.mark.parametrize(
    "reply",
    [b"", b"garbage that is not HTTP\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"],
    ids=["closed without a word", "not HTTP", "answer cut short"],
)
def test_a_broken_answer_is_a_transport_error_in_doubt(serve, transport, reply: bytes) -> None:
    def make(box: list[Server]) -> Handler:
        def handler(sock: socket.socket, number: int) -> None:
            box[0].read_request(sock)
            sock.sendall(reply)

        return handler

    server = serve(make)
    with pytest.raises(httpx.TransportError) as raised:
        post(transport, server.url)
    assert not isinstance(raised.value, httpx.ConnectError | httpx.ConnectTimeout)
    # The broken connection is not reused: the next request opens a new one.
    with pytest.raises(httpx.TransportError):
        post(transport, server.url)
    assert server.connections == 2


def test_gzip_and_chunked_answers_are_decoded(serve, transport) -> None:
    body = gzip.compress(b'{"id": "abc"}')
    chunked = (
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    )  # fmt: skip
    server = serve(lambda box: keep_alive(box, chunked))
    answer = post(transport, server.url)
    assert answer.status_code == 201
    assert answer.json() == {"id": "abc"}
    assert answer.reason_phrase == "Created"


def test_a_proxy_in_the_environment_sends_requests_through_httpx(monkeypatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(direct_transport("https://app.360learning.com"), ThreadConnections)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    assert direct_transport("https://app.360learning.com") is None
    monkeypatch.setenv("NO_PROXY", "360learning.com")
    assert isinstance(direct_transport("https://app.360learning.com"), ThreadConnections)


@pytest.fixture
def certificate(tmp_path) -> tuple[str, str]:
    """A self-signed certificate for localhost and 127.0.0.1 (openssl's command)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def tls(serve: Callable[..., Server], cert: str, key: str) -> Server:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def make(box: list[Server]) -> Handler:
        def handler(sock: socket.socket, number: int) -> None:
            with context.wrap_socket(sock, server_side=True) as wrapped:
                keep_alive(box)(wrapped, number)

        return handler

    return serve(make)


def test_https_checks_the_vendors_certificate(serve, transport, certificate) -> None:
    server = tls(serve, *certificate)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        post(transport, f"https://localhost:{server.port}")
    assert server.requests == []  # nothing, the token least of all, went to it


def test_https_to_a_trusted_certificate_keeps_its_connection(serve, certificate) -> None:
    server = tls(serve, *certificate)
    trusted = ThreadConnections(ssl.create_default_context(cafile=certificate[0]))
    try:
        assert [post(trusted, f"https://localhost:{server.port}").json() for _ in range(3)] == [
            {"id": 42}
        ] * 3
    finally:
        trusted.close()
    assert server.connections == 1
