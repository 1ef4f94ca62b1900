"""The SQLite journal's holders (issue 25): lock files that say who lives, and journals of
earlier versions taking the new columns in."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from importer.store.journal import Journal
from importer.store.liveness import HeldFile, alive, holder_path, sweep
from tests.conftest import ROOT

#: A journal as versions before issue 25 wrote it: three tables, rows without a holder.
_EARLIER = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE rows (
    key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, sheet_row INTEGER, state TEXT NOT NULL,
    created_id TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0, payload TEXT NOT NULL, first_seen REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, finished REAL,
    source TEXT NOT NULL, summary TEXT NOT NULL DEFAULT ''
);
INSERT INTO meta VALUES ('vendor', '360learning-v2'), ('keys', '2');
"""


def _earlier(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.executescript(_EARLIER)
        db.execute(
            "INSERT INTO rows VALUES ('k', 'fp', 2, 'sending', '', '', 1, ?, 1.0, 1.0)",
            (json.dumps({"name": "A"}),),
        )
    return path


def test_an_earlier_journal_takes_the_holders_in_once_and_its_rows_in_flight_are_lost_answers(
    tmp_path: Path,
) -> None:
    """A journal of an earlier version, opened by two handles at once, gains the holders
    table and each row's holder once; a row it left 'sending' (no holder) is a dead run's:
    claimed by the next run (to be looked up), nobody's busy row."""
    path = _earlier(tmp_path / "old.journal.sqlite")
    opened: list[Journal] = []
    threads = [
        threading.Thread(target=lambda: opened.append(Journal(path, "360learning-v2")))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(opened) == 2
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        columns = [row[1] for row in db.execute("PRAGMA table_info(rows)")]
    assert {"holders", "meta", "rows", "runs"} <= tables and columns.count("holder") == 1
    journal = opened[0]
    journal.hold("run 1")
    assert opened[1].busy("k") is None
    taken = journal.claim("k", "sending", "sending")
    assert taken.held and taken.entry is not None and taken.entry.payload == {"name": "A"}
    assert opened[1].busy("k") is not None  # now run 1's, which lives
    for handle in opened:
        handle.close()


def test_a_holder_file_is_alive_while_held_and_gone_when_released(tmp_path: Path) -> None:
    """HeldFile: alive while held (a shared lock on it fails), removed and dead once released;
    no file at all is a dead holder."""
    path = holder_path(tmp_path / "j.sqlite", 3)
    assert path.name == "j.sqlite.holder-3.lock" and not alive(path)
    held = HeldFile(path)
    assert alive(path) and oct(path.stat().st_mode & 0o777) == "0o600"
    held.release()
    assert not path.exists() and not alive(path)
    held.release()  # twice: nothing more


_KILLED = """
import sys, time
from pathlib import Path

import pytest
from importer.store.liveness import HeldFile
HeldFile(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(120)
"""


def test_a_killed_holders_file_is_dead_and_swept_a_live_one_is_not(tmp_path: Path) -> None:
    """kill -9 of a holder: its file stays but is dead at once (the kernel let go of the
    lock); the next holder's sweep removes it, and never a live holder's file."""
    journal = tmp_path / "j.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    killed = subprocess.Popen(
        [sys.executable, "-c", _KILLED, str(holder_path(journal, 1))],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert killed.stdout is not None
    try:
        assert killed.stdout.readline().strip() == "held"
        assert alive(holder_path(journal, 1))
    finally:
        killed.kill()
        killed.wait(10)
        killed.stdout.close()
    assert holder_path(journal, 1).exists() and not alive(holder_path(journal, 1))
    live = HeldFile(holder_path(journal, 2))
    mine = HeldFile(holder_path(journal, 3))
    assert sweep(journal, keep=mine.path) == 1
    assert not holder_path(journal, 1).exists() and alive(holder_path(journal, 2))
    live.release()
    mine.release()


def test_the_whole_lock_let_go_in_two_threads_at_once_is_let_go_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """unlock_job from a timer's thread while close() lets go too (the journal suite's wait
    test, flaky in CI: "I/O operation on closed file"): another unlock arriving while one is
    under way finds the lock let go, and the file is closed once."""
    import fcntl

    from importer.store import journal as module

    journal = Journal(tmp_path / "job.journal.sqlite", "360learning-v2")
    journal.lock_job()
    real = fcntl.flock
    calls: list[int] = []

    def flock(handle: object, operation: int) -> None:
        calls.append(operation)
        if operation == fcntl.LOCK_UN and len(calls) == 1:
            journal.unlock_job()  # the other thread's, in the middle of this one's
        real(handle, operation)  # type: ignore[arg-type]

    monkeypatch.setattr(module.fcntl, "flock", flock)
    journal.unlock_job()
    assert calls == [fcntl.LOCK_UN]
    monkeypatch.undo()
    other = Journal(tmp_path / "job.journal.sqlite", "360learning-v2")
    other.lock_job()  # let go for good: another handle takes it at once
    other.close()
    journal.close()
