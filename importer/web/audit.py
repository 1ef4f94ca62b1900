"""The page's audit log: one JSON line per sign-in, upload, run, stop, undo and refusal.

Each line says who, when (UTC), what, and the account, file and counts it concerns, every
secret the process holds masked. It is kept in the data folder as ``audit.log``, readable by
the server user alone (0600), and rotated by size by the standard library's
``RotatingFileHandler`` (``audit.log.1`` … ``audit.log.N``, the oldest dropped), so a flood
of refused requests cannot fill the disk.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler
from pathlib import Path

from importer.core.files import FILE_MODE, make_private_dir
from importer.core.secret import scrub

__all__ = ["Audit"]


class _PrivateRotating(RotatingFileHandler):
    """A rotating file whose every generation is created 0600."""

    def _open(self) -> TextIOWrapper:  # type: ignore[type-arg,unused-ignore]
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        return os.fdopen(os.open(self.baseFilename, flags, FILE_MODE), "a", encoding="utf-8")


class Audit:
    """Where the page writes what each person did (see the module docstring).

    Args:
        folder: the data folder (``audit.log`` goes there).
        max_bytes: the size at which the file is rotated.
        backups: how many rotated files are kept.
    """

    def __init__(self, folder: Path, max_bytes: int = 5_000_000, backups: int = 5) -> None:
        make_private_dir(folder)
        self.path = folder / "audit.log"
        # Opened for each line and closed after it (delay: not before the first): the file
        # is never held open between actions, so no server or test leaves it open.
        self._handler = _PrivateRotating(
            self.path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True
        )
        self._handler.setFormatter(logging.Formatter("%(message)s"))

    def record(self, event: str, who: str, **facts: object) -> None:
        """Write one line: ``event`` (sign-in, upload, run, run-ended, stop, undo, refused)
        by ``who``, with ``facts`` (account, file, counts...)."""
        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        line = json.dumps(
            {"at": at, "event": event, "who": who or "", **facts},
            ensure_ascii=False,
            default=str,
        )
        self._handler.handle(logging.makeLogRecord({"msg": scrub(line), "args": None}))
        self._handler.close()  # the next line opens it again (append mode)

    def close(self) -> None:
        """Close the file (the server is stopping)."""
        self._handler.close()
