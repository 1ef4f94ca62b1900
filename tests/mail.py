"""A real SMTP server on 127.0.0.1 for the tests of ``[notify]`` (aiosmtpd, in a thread), and
certificates made for it with Debian's ``openssl`` (a private CA and the server's)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword


@dataclass(frozen=True)
class Received:
    """One message the server took: who it was for, and the message as the email package reads it."""

    to: list[str]
    sender: str
    message: EmailMessage


class _Handler:
    """Keeps every message (or refuses them all with ``refuse``, e.g. "550 ..."; and the
    recipients in ``unknown``)."""

    def __init__(self, refuse: str | None, unknown: tuple[str, ...] = ()) -> None:
        self.refuse, self.unknown = refuse, unknown
        self.received: list[Received] = []
        self.arrived = threading.Condition()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.unknown:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        if self.refuse:
            return self.refuse
        data = envelope.original_content or b""
        parsed = message_from_bytes(data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.arrived:
            self.received.append(Received(list(envelope.rcpt_tos), str(envelope.mail_from), parsed))
            self.arrived.notify_all()
        return "250 OK"


class _Controller(Controller):
    """aiosmtpd's controller on a free port: it binds port 0, then reads the one it got."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class MailServer:
    """An SMTP server on 127.0.0.1 that keeps what it is sent.

    Args:
        refuse: answer every message with this (a 5xx line) instead of taking it.
        unknown: recipients refused (550 no such mailbox).
        password: ask for a sign-in (any user name, this password); AUTH over plain SMTP too.
        starttls: offer STARTTLS with this context (and require it).
        implicit: TLS from the start with this context (SMTPS).
    """

    def __init__(
        self,
        *,
        refuse: str | None = None,
        unknown: tuple[str, ...] = (),
        password: str | None = None,
        starttls: ssl.SSLContext | None = None,
        implicit: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = _Handler(refuse, unknown)
        self.password = password
        self.attempts: list[tuple[str, str]] = []  # (user, password) of every sign-in tried
        options: dict[str, Any] = {}
        if password is not None:
            options.update(authenticator=self._authenticate, auth_require_tls=False)
        if starttls is not None:
            options.update(tls_context=starttls, require_starttls=True)
        self.controller = _Controller(
            self.handler, hostname="127.0.0.1", port=0, ssl_context=implicit, **options
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, given = data.login.decode(), data.password.decode()
        self.attempts.append((user, given))
        return AuthResult(success=given == self.password, handled=False)

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def received(self) -> list[Received]:
        return list(self.handler.received)

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        """The messages once ``count`` have arrived (fails after ``timeout`` seconds)."""
        with self.handler.arrived:
            self.handler.arrived.wait_for(lambda: len(self.handler.received) >= count, timeout)
        assert len(self.handler.received) >= count, self.handler.received
        return self.received

    def __enter__(self) -> MailServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SilentServer:
    """Takes connections on 127.0.0.1 and never says a word (a server that hangs)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = int(self.listener.getsockname()[1])

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()


@dataclass(frozen=True)
class Certificates:
    """A private CA, and a certificate it signed for 127.0.0.1 and localhost."""

    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificates(folder: Path) -> Certificates:
    """Made with Debian's openssl (no Python package needed); skipped where it is missing
    (CI installs it: .ci/run)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: the TLS tests need it to make certificates")
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, request = folder / "server.pem", folder / "server.key", folder / "server.csr"
    extensions = folder / "server.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        [openssl, "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=Test mail CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        [openssl, "req", *ec, "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"],
        [openssl, "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", extensions],
    ]  # fmt: skip
    for step in steps:
        subprocess.run([str(part) for part in step], check=True, capture_output=True, timeout=60)
    return Certificates(ca, cert, key)


def wait_until(condition: Any, timeout: float = 10) -> None:
    """Poll ``condition()`` until it is true (fails after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def attachments(message: EmailMessage) -> Iterator[tuple[str, str, bytes]]:
    """Each attachment: its file name, its content type, its bytes."""
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        yield str(part.get_filename()), part.get_content_type(), payload
