"""One keep-alive HTTP/1.1 connection per sending thread: the run's transport (issue 15).

httpx's own transport (httpcore) keeps one connection pool behind one lock. With 16
threads sending, they queue on that lock and on each other's wake-ups: measured on the
2-core project machine against the sandbox, 0.65 ms of our CPU a request at 16 threads
(0.30 ms at one), where :mod:`http.client` on a connection of each thread's own costs
0.08-0.12 ms (``benchmarks/transport.py`` prints both). A sending thread only ever has one
request on the wire, so it needs no pool: :class:`ThreadConnections` gives each thread its
own connection to each origin, kept alive, with no lock on the way.

It is an :class:`httpx.BaseTransport`: requests and answers stay httpx's (the vendor code,
the sender and the tests' mock transports are unchanged), and its failures are httpx's
exceptions with the same meaning as httpcore's, which the sender relies on to tell a
request that never left (:class:`httpx.ConnectError`, :class:`httpx.ConnectTimeout`: safe
to send again) from one that may have arrived (every other :class:`httpx.TransportError`).

http.client opens the connections (TLS included) and reads the answers; a request is written
in one piece (one write a request instead of http.client's two: issue 27, 0.49 -> 0.39 ms of
our CPU a row at 16 in flight). Reading answers with a parser of our own would save some
20 us more an answer (http.client passes headers through the email package): measured, and
left out: an HTTP parser is not code to own for 4 % of a row's CPU.

A connection is reused only when the server has not closed it meanwhile (its socket reads
as at end of file, or has unasked bytes waiting): such a connection is dropped before the
request is written, as httpcore does, so an idle-timeout on the vendor's side costs a new
connection, not a request in doubt.
"""

from __future__ import annotations

import http.client
import re
import select
import socket
import ssl
import threading
import urllib.request
from typing import Any

import httpx

__all__ = ["ThreadConnections", "direct_transport", "run_client"]

_Connection = http.client.HTTPConnection


class ThreadConnections(httpx.BaseTransport):
    """Each thread's own keep-alive connection to each origin (scheme, host, port).

    Args:
        ssl_context: for https origins (default: httpx's, with the same trust store).
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._local = threading.local()
        self._every: list[_Connection] = []  # for close(): appended under the lock only
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on this thread's connection to its origin; the whole answer."""
        timeout = request.extensions.get("timeout", {})
        connection = self._connection(request.url, timeout)
        try:
            return self._exchange(connection, request, timeout)
        except BaseException:
            connection.close()  # half a request or half an answer: never reused
            raise

    def close(self) -> None:
        """Close every thread's connections."""
        with self._lock:
            every, self._every = self._every, []
        for connection in every:
            connection.close()

    def _connection(self, url: httpx.URL, timeout: dict[str, Any]) -> _Connection:
        """This thread's connection to ``url``'s origin, open and not closed by the server."""
        mine: dict[tuple[str, str, int], _Connection] | None = getattr(self._local, "mine", None)
        if mine is None:
            mine = self._local.mine = {}
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        connection = mine.get(origin)
        if connection is None:
            connection = mine[origin] = self._new(*origin)
            with self._lock:
                self._every.append(connection)
        if connection.sock is not None and _closed_by_peer(connection.sock):
            connection.close()
        if connection.sock is None:
            connection.timeout = timeout.get("connect")
            try:
                connection.connect()
            except TimeoutError as error:
                connection.close()
                raise httpx.ConnectTimeout(f"connect timed out: {error}") from None
            except OSError as error:  # refused, unreachable, name unknown, TLS refused
                connection.close()
                raise httpx.ConnectError(f"could not connect: {_reason(error)}") from None
        return connection

    def _new(self, scheme: str, host: str, port: int) -> _Connection:
        if scheme == "https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            return http.client.HTTPSConnection(host, port, context=self._ssl)
        if scheme != "http":
            raise httpx.UnsupportedProtocol(f"{scheme!r} is not http or https")
        return http.client.HTTPConnection(host, port)

    @staticmethod
    def _exchange(
        connection: _Connection, request: httpx.Request, timeout: dict[str, Any]
    ) -> httpx.Response:
        sock = connection.sock
        assert sock is not None  # opened by _connection
        # The head and the body in one write (http.client writes them apart: two segments,
        # two wake-ups of the server, twice the system calls; issue 27).
        message = _head(request) + request.read()
        sock.settimeout(timeout.get("write"))
        try:
            sock.sendall(message)
        except TimeoutError:
            raise httpx.WriteTimeout("the request could not be written in time") from None
        except OSError as error:
            raise httpx.WriteError(f"the request could not be written: {_reason(error)}") from None
        sock.settimeout(timeout.get("read"))
        answer = http.client.HTTPResponse(sock, method=request.method)
        try:
            answer.begin()
            content = answer.read()
        except TimeoutError:
            raise httpx.ReadTimeout("no answer in time") from None
        except (http.client.HTTPException, ValueError) as error:
            # The server closed the connection, or answered something that is not HTTP.
            raise httpx.RemoteProtocolError(f"no well-formed answer: {_reason(error)}") from None
        except OSError as error:
            raise httpx.ReadError(f"the answer could not be read: {_reason(error)}") from None
        finally:
            answer.close()
        if answer.will_close:  # "Connection: close", HTTP/1.0, a body up to the end of file
            connection.close()
        version = b"HTTP/1.0" if answer.version == 10 else b"HTTP/1.1"
        return httpx.Response(
            answer.status,
            headers=answer.getheaders(),
            stream=httpx.ByteStream(content),
            extensions={"http_version": version, "reason_phrase": answer.reason.encode("latin-1")},
            request=request,
        )


#: What http.client refuses in a request before writing a byte (its own checks, which
#: ``putrequest`` and ``putheader`` made before the request was written here in one piece):
#: a control character or space in the method or target, a header name that is empty or holds
#: a colon or white space, a line break in a value not followed by a space or tab.
_BAD_METHOD = re.compile("[\x00-\x20\x7f]")
_BAD_TARGET = re.compile("[\x00-\x20\x7f]")
_GOOD_NAME = re.compile(rb"[^:\s][^:\r\n]*").fullmatch
_BAD_VALUE = re.compile(rb"\n(?![ \t])|\r(?![ \t\n])").search


def _head(request: httpx.Request) -> bytes:
    """The request line and headers of ``request``, as http.client would write them.

    Raises:
        httpx.LocalProtocolError: a character HTTP does not allow (never quoted: a header
            value is most likely a credential); nothing was written.
    """
    method, target = request.method, request.url.raw_path.decode("ascii")
    lines = [f"{method} {target} HTTP/1.1".encode("ascii")]
    bad = bool(_BAD_METHOD.search(method) or _BAD_TARGET.search(target))
    for name, value in request.headers.raw:
        bad = bad or not _GOOD_NAME(name) or bool(_BAD_VALUE(value))
        lines.append(name + b": " + value)
    if bad:
        raise httpx.LocalProtocolError(
            "the request was not written: a header or the URL holds a character HTTP does not allow"
        )
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether an idle connection's socket is readable: the server closed it (end of file)
    or sent bytes no request asked for; either way it must not carry a request."""
    try:
        if hasattr(select, "poll"):  # any descriptor number (select() stops at 1024)
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)  # Windows
    except (OSError, ValueError):
        return True
    return bool(readable)


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__


def direct_transport(base_url: str) -> ThreadConnections | None:
    """The run's transport for ``base_url``, or ``None`` when a proxy from the environment
    (``HTTPS_PROXY``, ``ALL_PROXY``..., not bypassed by ``NO_PROXY``) applies to it: requests
    then go through the httpx client, which honours it."""
    url = httpx.URL(base_url)
    proxies = urllib.request.getproxies_environment()
    wanted = proxies.get(url.scheme) or proxies.get("all")
    if wanted and not urllib.request.proxy_bypass(url.host):
        return None
    return ThreadConnections()


def run_client(base_url: str, timeout: float) -> tuple[httpx.Client, ThreadConnections | None]:
    """The client a run (or an undo) makes for itself, and its transport for the sender to
    send straight to: each thread's own connection (:func:`direct_transport`), or ``None``
    and httpx's own transport (no retries: the sender has its policy) when a proxy applies."""
    transport = direct_transport(base_url)
    client = httpx.Client(timeout=timeout, transport=transport or httpx.HTTPTransport(retries=0))
    return client, transport
