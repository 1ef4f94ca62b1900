"""A full disk is not damage, damage is written out before anything moves, and a file that is
not a journal is refused untouched (issue 22)."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from importer.cli.main import main
from importer.store.faults import JournalDamagedError, JournalFullError, NotAJournalError
from importer.store.journal import Journal
from tests.conftest import ROOT, run_cli
from tests.run.conftest import SandboxProcess
from tests.run.test_journal import creates, v2_sheet


def _sqlite_of_another_program(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE people (name TEXT)")
        db.execute("INSERT INTO people VALUES ('Ann')")
    db.close()


def _damage(path: Path) -> None:
    """Make nonsense of the type byte of the page at the root of the journal's rows."""
    with sqlite3.connect(path) as db:
        (page,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'rows'").fetchone()
        size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with open(path, "r+b") as handle:  # the rows table's root page: its type byte made nonsense
        handle.seek((page - 1) * size)
        handle.write(b"\xff" * 16)


NOT_JOURNALS: dict[str, tuple[Callable[[Path], object], str]] = {
    "empty": (lambda p: p.write_bytes(b""), "an empty file (0 bytes), not a journal"),
    "another program's": (_sqlite_of_another_program, "not a journal (people)"),
    "text": (lambda p: p.write_text("name,email\nAnn,ann@example.com\n"), "not an SQLite file"),
}


@pytest.mark.parametrize("kind", list(NOT_JOURNALS))
def test_a_file_that_is_not_a_journal_is_refused_untouched(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty file, another program's SQLite database, a text file: exit 2, one line, and
    the file left byte for byte (no tables created in it)."""
    make, said = NOT_JOURNALS[kind]
    journal = tmp_path / "job.sqlite"
    make(journal)
    before = journal.read_bytes()
    sheet = v2_sheet(tmp_path, ["A"])
    code = main(["run", str(sheet), "--vendor", "360learning-v2", "--sandbox",
                 "--journal", str(journal), "--timezone", "UTC"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert said in err and str(journal) in err and "Traceback" not in err
    assert journal.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.sqlite", "v2.csv"]


def test_a_damaged_journal_says_write_it_out_first(
    tmp_path: Path, sandbox: SandboxProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """A corrupted page: exit 2, one line saying to run `report` first, before any move; and
    where `report` cannot read it either, what to do instead."""
    journal = tmp_path / "job.sqlite"
    sheet = v2_sheet(tmp_path, [f"Session {i}" for i in range(40)])
    flags = ["--journal", str(journal), "--timezone", "UTC"]
    assert sandbox.run(sheet, "360learning-v2", *flags).returncode == 0
    _damage(journal)
    with pytest.raises(JournalDamagedError):
        list(Journal(journal, "360learning-v2").entries())
    done = sandbox.run(sheet, "360learning-v2", *flags)
    err = done.stderr.strip()
    assert done.returncode == 2 and len(err.splitlines()) == 1, err
    assert "is damaged" in err and f"first run `session-importer report {journal}" in err
    assert err.index("report") < err.index("move the journal away")
    assert creates(sandbox, "360learning-v2") == 40  # nothing sent by the refused run
    # Where even `report` cannot read it, it says what to do instead (not "run report").
    out = str(tmp_path / "o.csv")
    assert main(["report", str(journal), "--file", str(sheet), "--result", out]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "damaged past what `report` can read" in err, err
    assert "keep the file" in err and "session-importer export" in err


def test_a_full_disk_is_not_damage(tmp_path: Path) -> None:
    """SQLITE_FULL (SQLite's answer to ENOSPC) says the disk is full and not to move the
    journal; once there is room again, the journal holds every row written before."""
    path = tmp_path / "job.sqlite"
    journal = Journal(path, "coursepath")
    journal.remember_many([(f"a{i}", "p", i, {"n": "x" * 100}) for i in range(5)])
    with journal._lock:  # the disk is full: no page beyond those the file has
        (pages,) = journal.db.execute("PRAGMA page_count").fetchone()
        journal.db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(JournalFullError) as caught:
        journal.remember_many([(f"b{i}", "p", i, {"n": "x" * 1000}) for i in range(50)])
    said = str(caught.value)
    assert "is full" in said and "do not move the journal" in said and "damaged" not in said
    journal.close()
    again = Journal(path, "coursepath")
    assert len(again.get_many([f"a{i}" for i in range(5)])) == 5
    again.close()


def _file_size_cap(limit: int) -> None:
    # The disk fills for this process only: a write past `limit` bytes fails (EFBIG), as
    # tests/test_files.py does; SQLite reports it as an I/O error on a write.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_disk_full_mid_run_then_freed_sends_each_session_once(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """The journal's disk fills mid-run: exit 2 with "do not move the journal"; once there
    is room (the advice followed), the re-run ends the job with each session created once."""
    names = [f"Full disk {i}" for i in range(30)]
    sheet = v2_sheet(tmp_path, names)
    journal = tmp_path / "job.sqlite"
    info = sandbox.info["360learning-v2"]
    args = [sys.executable, "-m", "importer", "run", str(sheet), "--vendor", "360learning-v2",
            "--base-url", info["base_url"], "--auth-url", info["auth_url"],
            "--journal", str(journal), "--result", str(tmp_path / "out.csv"), "--timezone", "UTC"]  # fmt: skip
    # Coverage (when the tests are measured) could not save its data under the cap.
    env = {k: v for k, v in sandbox.env("360learning-v2").items() if not k.startswith("COVERAGE")}
    full = subprocess.run(
        args, capture_output=True, text=True, env=env, timeout=120, cwd=ROOT,
        preexec_fn=lambda: _file_size_cap(192 * 1024),
    )  # fmt: skip
    lines = full.stderr.strip().splitlines()
    assert full.returncode == 2 and len(lines) == 1, full.stderr
    # The cap is every file's: the journal or the account's rate schedule fills first (their
    # write-ahead logs grow side by side); either is named, neither is said damaged.
    filled = str(journal) if str(journal) in lines[0] else "the account's rate schedule "
    assert filled in lines[0] and "do not move the journal" in lines[0], lines[0]
    assert "free some space" in lines[0] and "damaged" not in lines[0]
    sent = creates(sandbox, "360learning-v2")
    assert 0 < sent < len(names)  # it stopped mid-run
    again = run_cli(*args[3:], env=env, cwd=ROOT)  # the re-run: no cap, in this process
    assert again.returncode == 0, again.stderr
    created = [s["request"]["name"] for s in sandbox.created("360learning-v2", "session")]
    assert sorted(created) == sorted(names)  # each session exactly once at the vendor
    assert os.path.getsize(journal) > 0


def test_what_each_sqlite_fault_is_said_to_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An I/O error on a nearly full disk is a full disk; a read-only journal is neither full
    nor damaged; a folder or a text file given as a journal is not one (`status` too)."""
    from importer.store.faults import journal_error

    write_error = sqlite3.OperationalError("disk I/O error")
    write_error.sqlite_errorcode = 778  # SQLITE_IOERR_WRITE, as EDQUOT or EFBIG give it
    job = tmp_path / "job.sqlite"

    class _NoRoom:
        f_bavail, f_frsize = 10, 4096

    monkeypatch.setattr(os, "statvfs", lambda folder: _NoRoom())
    assert "the disk holding the journal" in str(journal_error(write_error, job))
    monkeypatch.undo()
    assert "may be full, over its quota or failing" in str(journal_error(write_error, job))
    readonly = sqlite3.OperationalError("attempt to write a readonly database")
    readonly.sqlite_errorcode = 8  # SQLITE_READONLY
    said = str(journal_error(readonly, job))
    assert "could not be used" in said and "do not move the journal" in said
    assert "full" not in said and "damaged" not in said
    (tmp_path / "folder.sqlite").mkdir()
    with pytest.raises(NotAJournalError, match="a folder, not a journal"):
        Journal(tmp_path / "folder.sqlite", "coursepath")
    text = tmp_path / "notes.sqlite"
    text.write_text("not a journal at all, just some notes\n")
    assert main(["status", str(text)]) == 2
    assert "not a journal (not an SQLite file)" in capsys.readouterr().err
