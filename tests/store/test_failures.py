"""The PostgreSQL store when the network or the server lets go: reconnect, fence, one line."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from importer.store import JobLockLostError, StoreUnavailableError
from importer.store.postgres import PostgresStore


def _terminate(url: str, pids: list[int]) -> None:
    """End these server processes, as a dropped network does, and wait until they are gone:
    a backend told to end lets go of its locks a moment later (the timeout argument, in ms,
    makes pg_terminate_backend wait for that, PostgreSQL 14+)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for pid in pids:
            ended = conn.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()
            assert ended is not None and ended[0], f"backend {pid} did not end within 10 s"


def test_a_dropped_connection_is_replaced(pg_url: str) -> None:
    """The server drops the pool's connections (a restart, a failover): the next call works."""
    store = PostgresStore(pg_url)
    journal = store.journal("acct", "360learning-v2")
    journal.remember("k", "fp", 2, {})
    with store.connection() as conn:
        pid = conn.info.backend_pid
    _terminate(pg_url, [pid])
    assert journal.counts() == {"pending": 1}
    store.close()


def test_a_run_that_lost_its_hold_sends_nothing_more(pg_url: str) -> None:
    """The run's own connection (its hold on its rows) dropped while the run lives on: the
    next claim and the next 'sending' mark are refused (the run stops), another run takes
    the rows it left in flight for a dead run's, and can take the journal whole."""
    store = PostgresStore(pg_url)
    journal = store.journal("acct", "360learning-v2")
    journal.lock_job(shared=True)
    journal.hold("run 1")
    for key, row in (("a", 2), ("b", 3), ("c", 4), ("d", 5)):
        journal.remember(key, "fp", row, {})
    for key in ("a", "d"):  # while the hold holds
        assert journal.claim(key, "pending", "sending", "fp", {}).held
    assert journal.session.pid is not None
    _terminate(pg_url, [journal.session.pid])
    with pytest.raises(JobLockLostError, match="lost"):
        journal.claim("b", "pending", "sending", "fp", {})
    with pytest.raises(JobLockLostError, match="lost"):
        journal.sending("c", "fp", {})
    for key in ("b", "c"):
        entry = journal.get(key)
        assert entry is not None and entry.state == "pending"
    journal.outcome("a", "created", "ID-1")  # an answer is still recorded
    for mark in ("updating", "deleting"):  # the marks before an update or a delete are fenced
        with pytest.raises(JobLockLostError, match="lost"):
            journal.outcome("a", mark, "ID-1")
    entry = journal.get("a")
    assert entry is not None and entry.state == "created"
    other = store.journal("acct", "360learning-v2")
    other.hold("run 2")
    assert other.busy("d") is None  # in flight for a run taken for dead now: reconciled
    taken = other.claim("d", "sending", "sending")
    assert taken.held and taken.entry is not None and taken.entry.state == "sending"
    other.lock_job()  # exclusive: the lost run's shared lock went with its connection
    other.close()
    journal.close()
    store.close()


class _Proxy:
    """A TCP relay on 127.0.0.1 to the test server, that can be cut like a network."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = [self.server]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture
def proxied(pg_url: str) -> Iterator[tuple[str, _Proxy]]:
    parts = urlsplit(pg_url)
    proxy = _Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    netloc = f"{parts.username + '@' if parts.username else ''}127.0.0.1:{proxy.port}"
    yield urlunsplit(parts._replace(netloc=netloc)), proxy
    proxy.cut()


def test_a_store_that_stops_answering_is_one_plain_error(
    proxied: tuple[str, _Proxy],
) -> None:
    """The network to the store is cut mid-run: the next call is a StoreUnavailableError
    naming the store, not a driver traceback."""
    url, proxy = proxied
    store = PostgresStore(url)
    store.pool.timeout = 3  # how long a call waits for a connection before giving up
    journal = store.journal("acct", "360learning-v2")
    journal.remember("k", "fp", 2, {})
    proxy.cut()
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="stopped answering") as caught:
        journal.outcome("k", "created", "ID1")
    assert f"127.0.0.1:{proxy.port}" in str(caught.value)
    assert time.monotonic() - started < 15
    store.pool.close(timeout=1)
