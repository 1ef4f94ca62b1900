"""Files we write: private, replaced atomically; the sheets we read: files, read safely.

Result sheets, journals and logs hold learners' names and emails, so every
file we create is ``0600`` and every folder we create ``0700`` (existing
folders and files keep the permissions their owner gave them). A result sheet
is written to a temporary file in the same folder, flushed to disk, then
renamed over the old one: a full disk, a read-only folder or a kill mid-write
leave the previous result untouched, never a truncated file. Failures become
:class:`~importer.core.errors.OutputError`, one plain sentence.

A sheet found in a folder others can write to is opened without following a link and
checked on the opened file (:func:`open_own_file`), then read from a private copy of that
file (:func:`copy_private`), never through its name again.

Every reader opens the sheet it is given through :func:`open_sheet` (the command line's
``validate`` and ``run``, the inbox, the web page's upload): a named pipe, a device, a
folder or a socket is refused there at once, from the opened descriptor's own type,
instead of hanging on a pipe nobody writes or reading ``/dev/zero`` until memory runs out.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from importer.core.errors import OutputError, UnreadableFileError

__all__ = [
    "FILE_MODE",
    "FOLDER_MODE",
    "NotOwnFileError",
    "atomic_write",
    "copy_private",
    "make_private_dir",
    "open_own_file",
    "open_private_append",
    "open_sheet",
    "output_error",
    "touch_private",
]

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def output_error(path: Path, error: OSError, what: str = "write") -> OutputError:
    """The one-line error for a file we could not write (no traceback, no errno soup)."""
    reason = error.strerror or type(error).__name__
    return OutputError(f"cannot {what} {path}: {reason}.")


def make_private_dir(folder: Path) -> None:
    """Create ``folder`` (and missing parents) as ``0700``; an existing folder is left as is."""
    missing, current = [], folder
    while not current.is_dir() and current != current.parent:
        missing.append(current)
        current = current.parent
    try:
        for each in reversed(missing):  # parents=True would give the parents the umask's mode
            each.mkdir(mode=FOLDER_MODE, exist_ok=True)
    except OSError as error:
        raise output_error(folder, error, "create the folder") from None


def touch_private(path: Path) -> None:
    """Create ``path`` empty as ``0600`` if it does not exist (before SQLite opens it)."""
    make_private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    except OSError as error:
        raise output_error(path, error, "create") from None


def open_private_append(path: Path) -> TextIO:
    """Open a log file for appending, creating it ``0600``."""
    make_private_dir(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    except OSError as error:
        raise output_error(path, error, "open the log file") from None
    return os.fdopen(descriptor, "a", encoding="utf-8")


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; once the block succeeds, it replaces ``path``.

    The temporary file is ``0600`` (it is created by :func:`tempfile.mkstemp`)
    and keeps the target's suffix, for writers that look at it. On any failure
    it is removed and ``path`` is left as it was.

    Raises:
        OutputError: the folder or the file cannot be written (full disk, read-only).
    """
    make_private_dir(path.parent)
    try:
        descriptor, name = tempfile.mkstemp(
            prefix=f".{path.stem[:40]}.", suffix=path.suffix, dir=path.parent
        )
    except OSError as error:
        raise output_error(path, error) from None
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        raise output_error(path, error) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


#: How a sheet is opened to read, by both doors (:func:`open_sheet`, :func:`open_own_file`):
#: without blocking (a FIFO with no writer would block the open itself), never as this
#: process's terminal, not inherited by child processes.
_READ_SHEET = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


class NotOwnFileError(OSError):
    """A link, or not a regular file of the expected owner (as the opened file shows)."""


def open_own_file(path: Path, owner: int) -> tuple[int, os.stat_result]:
    """Open ``path`` to read, without following a link; the descriptor and what it is.

    The checks are made on the opened file (``fstat``), never on the name again: a name
    checked then opened can be swapped in between for a link to another's file.
    ``O_NONBLOCK`` keeps a FIFO swapped in from blocking the open; it changes nothing
    for a regular file's reads. The caller closes the descriptor.

    Raises:
        NotOwnFileError: a link, or not a regular file owned by ``owner`` (a FIFO, a
            device, a folder, another user's file).
        OSError: the file cannot be opened.
    """
    try:
        descriptor = os.open(path, _READ_SHEET | os.O_NOFOLLOW)
    except OSError as error:
        if os.path.islink(path):  # ELOOP (Linux) or EMLINK (FreeBSD): the name is a link
            raise NotOwnFileError(f"{path}: a symbolic link") from None
        raise error from None
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != owner:
        os.close(descriptor)
        raise NotOwnFileError(f"{path}: not a regular file owned by user {owner}")
    return descriptor, info


def copy_private(descriptor: int, target: Path) -> None:
    """Copy the open file ``descriptor`` from its start to the new file ``target``, ``0600``.

    ``target`` must not exist (it is created exclusively): the copy is what is read after,
    so nobody can have put something else there first.
    """
    os.lseek(descriptor, 0, os.SEEK_SET)
    made = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(descriptor, "rb", closefd=False) as source, os.fdopen(made, "wb") as copy:
        shutil.copyfileobj(source, copy, 1 << 20)


#: What each kind of file that is not a regular file is called in a refusal.
_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_a_file(path: Path, mode: int) -> UnreadableFileError | None:
    """The refusal of anything but a regular file, or ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return UnreadableFileError(f"{path}: is {kind}, not a spreadsheet file.")


def open_sheet(path: Path) -> BinaryIO:
    """Open the sheet to read, refusing anything but a regular file (one line, at once).

    The file is opened without blocking (a FIFO with no writer would otherwise block the
    open itself forever) and the *opened descriptor* is checked with ``fstat``, so what is
    read is what was checked, even if the name is swapped in between. A regular file is
    then read as usual (blocking).

    Raises:
        UnreadableFileError: missing, not a regular file, or not readable.
    """
    try:
        descriptor = os.open(path, _READ_SHEET)
    except FileNotFoundError:
        raise UnreadableFileError(f"{path}: no such file.") from None
    except OSError as error:
        # A socket cannot be opened at all (ENXIO): say what it is rather than the errno.
        refusal = None
        if error.errno == errno.ENXIO:
            with contextlib.suppress(OSError):
                refusal = _not_a_file(path, os.stat(path).st_mode)
        reason = error.strerror or type(error).__name__
        raise refusal or UnreadableFileError(f"{path}: cannot be opened ({reason}).") from None
    try:
        refusal = _not_a_file(path, os.fstat(descriptor).st_mode)
        if refusal is not None:
            raise refusal
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
