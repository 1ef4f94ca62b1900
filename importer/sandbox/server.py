"""A small HTTP/1.1 server for the sandbox's ASGI app (asyncio + h11, keep-alive).

Why not uvicorn: the sandbox must be able to *process* a request and then
close the connection without a single byte of answer, the hardest fault a
client meets. A general server answers 500 when the app raises; this one
closes the socket on :class:`~importer.sandbox.http.DropConnection`.

It refuses to bind anything but a loopback address unless told to.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import MutableMapping
from typing import Any

import h11

from importer.core.errors import ConfigurationError
from importer.core.hosts import is_loopback
from importer.sandbox.http import ASGIApp, DropConnection

__all__ = ["SandboxServer", "is_loopback"]

_READ_SIZE = 65536


class SandboxServer:
    """Serve an ASGI app on a TCP port, in a background thread or in the foreground.

    Example::

        with SandboxServer(app) as server:      # port 0: an ephemeral port
            httpx.get(server.url + "/_sandbox/health")
    """

    def __init__(
        self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, allow_remote: bool = False
    ) -> None:
        if not is_loopback(host) and not allow_remote:
            raise ConfigurationError(
                f"refusing to serve the sandbox on {host}: it holds test credentials. "
                "Use 127.0.0.1, or pass --allow-remote if you really mean it."
            )
        self.app = app
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        asyncio.run(self._forever())

    async def _forever(self) -> None:
        await self._start()
        assert self._server is not None
        self._ready.set()
        async with self._server:
            await self._server.serve_forever()

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; return once the port is bound."""

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self._start())
            except BaseException as error:  # reported to the starting thread
                self._failure = error
                self._loop.close()
                self._ready.set()
                return
            self._ready.set()
            try:
                self._loop.run_forever()
            finally:
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
                self._loop.close()

        self._thread = threading.Thread(target=run, name="sandbox-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._failure is not None:
            raise ConfigurationError(
                f"cannot serve the sandbox on {self.host}:{self.port}: {self._failure}"
            )
        return self

    def stop(self) -> None:
        """Stop a server started with :meth:`start`."""
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def close() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER)
        try:
            while True:
                request, body = await self._read_request(connection, reader)
                if request is None:
                    break
                keep = await self._answer(connection, writer, request, body)
                if not keep or connection.our_state is h11.MUST_CLOSE:
                    break
                connection.start_next_cycle()
        except (ConnectionError, h11.RemoteProtocolError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(
        self, connection: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[h11.Request | None, bytes]:
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await reader.read(_READ_SIZE))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return request, bytes(body)
            else:  # ConnectionClosed, or PAUSED on a client that pipelines too far
                return None, b""

    async def _answer(
        self,
        connection: h11.Connection,
        writer: asyncio.StreamWriter,
        request: h11.Request,
        body: bytes,
    ) -> bool:
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": request.http_version.decode(),
            "method": request.method.decode(),
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode("latin-1"),
            "headers": [(k.lower(), v) for k, v in request.headers],
            "server": (self.host, self.port),
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 500
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, receive, send)
        except DropConnection:
            return False
        except Exception:  # an app bug: answer 500 like a real server would
            status, headers, chunks = 500, [(b"content-length", b"0")], []
        payload = b"".join(chunks)
        if not any(k.lower() == b"content-length" for k, _ in headers):
            headers.append((b"content-length", str(len(payload)).encode()))
        writer.write(connection.send(h11.Response(status_code=status, headers=headers)) or b"")
        if request.method != b"HEAD":  # a HEAD answer: GET's headers, no content (RFC 9110 9.3.2)
            writer.write(connection.send(h11.Data(data=payload)) or b"")
        writer.write(connection.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        return True
