"""The journal's batched writes keep the crash guarantee: a row is ``sending`` on disk before
its request reaches the vendor, however many rows leave at once (issue 15)."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from importer.api import resolve_settings, run_import, validate
from importer.jobs.journaling import JournalOptions
from importer.sandbox import Sandbox, SandboxServer
from importer.store.journal import Journal
from importer.vendors import sandbox_parts
from tests.conftest import write_csv

V1 = ["Path ID", "Session name", "Start date", "Owner group ID"]
PATH, GROUP = "6853f6de567dc5f80528f80d", "624c5526204fc7207e603ea6"


class JournalWitness:
    """ASGI middleware before the sandbox: on each create's arrival, reads the journal file
    through a connection of its own (as a process started after a crash would) and notes the
    state its row has there."""

    def __init__(self, app: Any, journal: Path) -> None:
        self.app, self.journal = app, journal
        self.seen: dict[str, str] = {}
        self.lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or "/sessions" not in scope["path"]:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        name = json.loads(body)["sessionName"]
        with sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True) as db:
            states = [
                state
                for state, payload in db.execute("SELECT state, payload FROM rows")
                if json.loads(payload).get("sessionName") == name
            ]
        with self.lock:
            self.seen[name] = ",".join(states) or "absent"
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def test_sending_is_on_disk_before_each_request_arrives_with_16_in_flight(tmp_path: Path) -> None:
    """300 rows, 16 in flight, real HTTP: every create finds its row 'sending' in the journal
    file (read by another connection) when it arrives; once the run returns, every row is
    'created' on disk."""
    names = [f"Session {i:03d}" for i in range(300)]
    sheet = write_csv(
        tmp_path / "v1.csv", [V1, *[[PATH, name, "2025-07-01 10:00", GROUP] for name in names]]
    )
    path = tmp_path / "job.journal.sqlite"
    journal = Journal(path, "360learning-v1")
    sandbox = Sandbox(sandbox_parts())
    witness = JournalWitness(sandbox.app, path)
    with SandboxServer(witness) as server:
        info = sandbox.describe(server.url)["360learning-v1"]
        settings = resolve_settings(
            "360learning-v1",
            flags={"base_url": info["base_url"], "concurrency": 16},
            env=info["env"],
        )
        run = run_import(
            validate(sheet, "360learning-v1"),
            settings,
            journal=JournalOptions(journal),
            notify=lambda _: None,
        )
    assert run.counts() == {"created": 300}
    assert sorted(witness.seen) == names
    assert set(witness.seen.values()) == {"sending"}
    # The run wrote its last answers before returning (the journal is still open).
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        assert dict(db.execute("SELECT state, COUNT(*) FROM rows GROUP BY state")) == {
            "created": 300
        }
    journal.close()


def test_answers_are_written_with_the_next_mark_and_on_close(tmp_path: Path) -> None:
    """An answer waits for the next write: another connection sees the row 'sending' until the
    next row's mark (or close) commits it, then 'created' with its ID."""
    path = tmp_path / "job.journal.sqlite"
    journal = Journal(path, "360learning-v1")
    journal.remember_many([("k1", "f1", 2, {"n": "1"}), ("k2", "f2", 3, {"n": "2"})])

    def on_disk() -> dict[str, tuple[str, str]]:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return {k: (s, i) for k, s, i in db.execute("SELECT key, state, created_id FROM rows")}

    journal.sending("k1", "f1", {"n": "1"})
    journal.answered("k1", "created", "ID1")
    assert on_disk()["k1"] == ("sending", "")  # a crash now: reconciled, never resent blindly
    journal.sending("k2", "f2", {"n": "2"})
    assert on_disk() == {"k1": ("created", "ID1"), "k2": ("sending", "")}
    journal.answered("k2", "rejected")
    assert on_disk()["k2"] == ("sending", "")
    found = journal.get("k2")  # a read sees it at once (and writes it)
    assert found is not None and found.state == "rejected"
    assert on_disk()["k2"] == ("rejected", "")
    journal.sending("k1", "f1", {"n": "1"})
    journal.answered("k1", "created", "ID9")
    journal.close()
    assert on_disk()["k1"] == ("created", "ID9")


def test_two_handles_writing_one_journal_wait_for_each_other(tmp_path: Path) -> None:
    """Two connections (two processes' worth) recording, marking and answering rows of one
    file at once: each waits for the other's write lock, none fails on a stale snapshot."""
    path = tmp_path / "job.journal.sqlite"
    handles = [Journal(path, "360learning-v1") for _ in range(2)]
    failures: list[BaseException] = []

    def write(journal: Journal, host: str) -> None:
        try:
            for chunk in range(20):
                rows = [(f"{host}{chunk}-{i}", "f", i, {"n": str(i)}) for i in range(25)]
                for entry in journal.remember_many(rows):
                    journal.sending(entry.key, "f", {"n": "x"})
                    journal.answered(entry.key, "created", "ID")
        except BaseException as error:
            failures.append(error)

    threads = [
        threading.Thread(target=write, args=(handle, host))
        for handle, host in zip(handles, "ab", strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for handle in handles:
        handle.close()
    assert failures == []
    with sqlite3.connect(path) as db:
        assert dict(db.execute("SELECT state, COUNT(*) FROM rows GROUP BY state")) == {
            "created": 1000
        }
