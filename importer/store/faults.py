"""What is wrong with a journal file, in words that lead to the right next step.

Three faults look alike to SQLite's caller and call for opposite acts:

* **the disk is full** (``SQLITE_FULL``: ENOSPC; an I/O error on a write when the disk has
  no room; EDQUOT and EFBIG come back as a plain I/O error): nothing in the journal is wrong.
  Free space and run again; moving the journal would make the next run send every row it
  holds a second time.
* **the journal is damaged** (``SQLITE_CORRUPT``, or ``SQLITE_NOTADB`` on a file that starts
  as an SQLite file): write out what it still holds first (``session-importer report``), and
  only then move it away, knowing from that sheet which rows exist at the vendor.
* **the file is not a journal** (empty, another program's SQLite database, any other file):
  refused before SQLite writes a byte in it. A journal whose content was lost must not be
  taken as a new one (every row would be sent again), and another program's file must not
  get our tables.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from types import TracebackType

from importer.core.errors import InputError, OutputError

__all__ = [
    "CLAIM_TABLES",
    "JOURNAL_TABLES",
    "JournalDamagedError",
    "JournalFullError",
    "NotAJournalError",
    "TranslatingLock",
    "check_journal_file",
    "check_journal_tables",
    "journal_error",
]

#: The tables of a journal (``sqlite_sequence`` is SQLite's own, for ``runs``' AUTOINCREMENT);
#: since issue 25 also who holds which rows (a journal of an earlier version gains them).
JOURNAL_TABLES = frozenset({"meta", "rows", "runs"})
CLAIM_TABLES = frozenset({"holders"})
_SQLITE_MAGIC = b"SQLite format 3\x00"
# SQLite's primary result codes (an extended code keeps them in its low byte).
_CORRUPT, _FULL, _IOERR, _NOTADB = 11, 13, 10, 26
#: Free space under which an I/O error on a write is taken for a full disk.
_NEARLY_FULL = 16 * 1024 * 1024


class JournalFullError(OutputError):
    """The disk holding a journal has no room left: nothing is wrong with the journal."""


class JournalDamagedError(InputError):
    """A journal's file is damaged: what it still holds must be written out before it goes.

    ``cause``: SQLite's own words (``database disk image is malformed``).
    """

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause


class NotAJournalError(InputError):
    """The file at a journal's path is not a journal (empty, another program's, any other)."""


def _where(path: Path | str | None, what: str = "journal") -> str:
    return f"the {what} {path}" if path is not None else "a journal or state file"


def full_disk(error: sqlite3.Error) -> bool:
    """Whether ``error`` is SQLite's full disk, or an I/O error (a full disk, a quota, a
    failing disk: :func:`journal_error` tells which it can)."""
    return getattr(error, "sqlite_errorcode", 0) & 0xFF in (_FULL, _IOERR)


def journal_error(
    error: sqlite3.Error, path: Path | str | None, what: str = "journal"
) -> InputError | OutputError:
    """What ``error``, met while using the journal at ``path`` (or another of the importer's
    files, ``what``), means and what to do next."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    where = _where(path, what)
    if code == _FULL or (code == _IOERR and _nearly_full(path)):
        return JournalFullError(
            f"the disk holding {where} is full ({error}): free some space and run again; "
            "nothing is lost (a row in doubt is never resent blindly); do not move the "
            "journal."
        )
    if code == _IOERR:
        return JournalFullError(
            f"{where} could not be written ({error}): the disk may be full, over its quota "
            "or failing; free some space (or check the disk) and run again; nothing is lost; "
            "do not move the journal."
        )
    if code == _CORRUPT or (code == _NOTADB and _starts_as_sqlite(path)):
        report = f"session-importer report {path if path is not None else 'JOURNAL'}"
        return JournalDamagedError(
            f"{where} is damaged ({error}): first run `{report} --result FILE` to write out "
            "what it still holds; only then move the journal away, and take the rows that "
            "sheet shows created or sending (they exist at the vendor) out of the sheet "
            "before running again.",
            str(error),
        )
    if code == _NOTADB:
        return NotAJournalError(f"{path}: not a journal (not an SQLite file); give another one.")
    return OutputError(
        f"{where} could not be used ({error}); nothing is lost: fix the cause and run again; "
        "do not move the journal."
    )


class TranslatingLock:
    """A journal connection's lock: its blocks raise SQLite's errors as what they mean for
    the journal at ``path`` (see :func:`journal_error`). Every use of the connection is in
    such a block, so no fault escapes as a bare ``sqlite3`` error without the path."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def __enter__(self) -> TranslatingLock:
        self._lock.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._lock.release()
        if isinstance(error, sqlite3.DatabaseError):
            raise journal_error(error, self.path) from None


def check_journal_file(path: Path) -> None:
    """Refuse, before SQLite opens it, a file at a journal's path that cannot be a journal.

    A missing file is fine (a new journal). An empty one is refused: SQLite writes a
    journal's first page as it creates it (before any row), so an empty file at a journal's
    path is one whose content was lost, or someone else's.

    Raises:
        NotAJournalError: a folder, an empty file, a file that is not an SQLite database.
    """
    if not path.exists():
        return
    if path.is_dir():
        raise NotAJournalError(f"{path}: a folder, not a journal; give a file.")
    if path.stat().st_size == 0:
        raise NotAJournalError(
            f"{path}: an empty file (0 bytes), not a journal. If it was one, its content is "
            "lost: restore it from a backup (a run without it would send every row again); "
            "else give another --journal."
        )
    if not _starts_as_sqlite(path):
        raise NotAJournalError(f"{path}: not a journal (not an SQLite file); give another one.")


def check_journal_tables(path: Path, db: sqlite3.Connection) -> None:
    """Refuse an SQLite database that is not a journal: tables of its own, or none at all.

    Raises:
        NotAJournalError: another program's database, or one without a journal's tables.
    """
    tables = {
        str(name)
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not str(name).startswith("sqlite_")
    }
    if tables in (JOURNAL_TABLES, JOURNAL_TABLES | CLAIM_TABLES):
        return
    found = ", ".join(sorted(tables)) or "no tables"
    raise NotAJournalError(
        f"{path}: an SQLite database that is not a journal ({found}); left as it is: give "
        "another --journal."
    )


def _starts_as_sqlite(path: Path | str | None) -> bool:
    if path is None:
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == _SQLITE_MAGIC
    except OSError:
        return False


def _nearly_full(path: Path | str | None) -> bool:
    """Whether the disk holding ``path`` has (nearly) no room left (unknown: no)."""
    if path is None:
        return False
    try:
        stats = os.statvfs(Path(path).parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < _NEARLY_FULL
