"""Whether the holder of a SQLite journal's rows still lives: a lock file it holds while it does.

A run (or an undo) that claims rows of a journal holds an exclusive ``flock`` on
``JOURNAL.holder-N.lock`` beside the journal for its whole life (N: its number in the
journal's ``holders`` table). The kernel releases the lock the moment the process ends,
however it ends (``kill -9`` included), and a lock is held by an open file, not a process
number, so a number the system reuses for another process never looks alive. "Is holder N
alive?" is then "does taking a shared lock on its file fail?": one open and one ``flock``,
taken and let go at once (two checkers never stop each other).

Files of holders that ended cleanly are removed by them; those of killed ones are removed by
the next holder that starts (:func:`sweep`), under the lock, so that a holder starting at
that moment never ends up locking a file no longer at its path (see :class:`HeldFile`).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
from pathlib import Path

from importer.core.files import touch_private

__all__ = ["HeldFile", "alive", "holder_path", "sweep"]


def holder_path(journal: Path, holder: int) -> Path:
    """The lock file of ``holder`` of ``journal``: ``JOURNAL.holder-N.lock`` beside it."""
    return journal.with_name(f"{journal.name}.holder-{holder}.lock")


class HeldFile:
    """An exclusive ``flock`` on ``path``, held until :meth:`release` or the process's end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        while True:
            touch_private(path)
            descriptor = os.open(path, os.O_RDWR)
            # Blocking: a checker holds a shared lock on it for a moment at most.
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(descriptor).st_ino
            except FileNotFoundError:
                same = False
            if same:  # else a sweep removed the file before we locked it: a new one
                self._descriptor: int | None = descriptor
                return
            os.close(descriptor)

    def release(self) -> None:
        """Remove the file (still locked: nobody takes the holder for dead before), then let go."""
        if self._descriptor is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._descriptor)
        self._descriptor = None


def alive(path: Path) -> bool:
    """Whether the holder of lock file ``path`` lives (its file is locked).

    A file that cannot be opened for another reason than its absence (another user's) is
    taken as alive: a row is never resent on a guess.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def sweep(journal: Path, keep: Path) -> int:
    """Remove the lock files of ``journal``'s dead holders (all but ``keep``); how many.

    Each is removed while this process holds a lock on it: a holder starting now either
    locked it first (then it is alive and stays) or finds it gone and makes another.
    """
    removed = 0
    for path in journal.parent.glob(f"{glob.escape(journal.name)}.holder-*.lock"):
        if path == keep:
            continue
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                path.unlink()
                removed += 1
        except OSError:  # alive (locked), or already gone
            pass
        finally:
            os.close(descriptor)
    return removed
