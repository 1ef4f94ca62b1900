"""Every exception the importer raises, grouped by what the caller does next.

::

    ImporterError                 root: catch this to catch everything we raise
    ├── InputError                the input cannot be used at all: fix the file, run again (exit 2)
    │   ├── UnreadableFileError   missing, empty, not a spreadsheet, undecodable
    │   ├── UnsafeFileError       a workbook built to exhaust memory (zip bomb, huge sheet)
    │   ├── SheetNotFoundError    ``--sheet`` names no sheet of the workbook
    │   └── MissingColumnsError   a required column is absent (names it and the closest header)
    ├── ConfigurationError        bad options, missing credentials (exit 2)
    ├── OutputError               a file we write cannot be written: full disk, read-only
    │                             folder; the previous file is left whole (exit 2)
    └── FatalVendorError          the vendor refuses every call: bad credentials, missing
        │                         scope, repeated locks; stop sending (exit 3)
        └── VendorUnavailableError  the vendor kept failing (5xx, 429, timeouts, a dead
                                  host) after every retry: nothing more was changed,
                                  safe to re-run later (exit 3)

Problems with single rows are *not* exceptions: they are data, carried by
:class:`importer.core.outcomes.RowResult`, so that one bad row never stops the others.
"""

from __future__ import annotations

import errno

from importer.core.outcomes import ExitCode

__all__ = [
    "ConfigurationError",
    "FatalVendorError",
    "ImporterError",
    "InputError",
    "MissingColumnsError",
    "OutputError",
    "SheetNotFoundError",
    "UnreadableFileError",
    "UnsafeFileError",
    "VendorUnavailableError",
    "describe_os_error",
]


class ImporterError(Exception):
    """Root of every error the importer raises on purpose.

    ``str(error)`` is a complete, one-line sentence written for the person
    running the import; it never contains a secret.
    """

    exit_code: int = ExitCode.CANNOT_RUN

    @property
    def on_page(self) -> str:
        """The same sentence for the web page, where it differs (a page has fields, not
        flags); by default the sentence itself."""
        return str(self)


class InputError(ImporterError):
    """The input file cannot be used; nothing was validated or sent."""


class UnreadableFileError(InputError):
    """The file is missing, empty, or not a spreadsheet we can decode."""


class UnsafeFileError(InputError):
    """The workbook would need unreasonable memory or time to open (zip bomb, huge sheet)."""


class SheetNotFoundError(InputError):
    """The requested worksheet does not exist in the workbook."""


class MissingColumnsError(InputError):
    """One or more required columns are missing from the header row."""


class ConfigurationError(ImporterError):
    """An option or setting is invalid (unknown vendor, time zone, path ID...)."""


class OutputError(ImporterError):
    """A result sheet, journal or log cannot be written (full disk, read-only, permissions)."""


class FatalVendorError(ImporterError):
    """The vendor refuses every call (credentials, scope, lock): no row can succeed now."""

    exit_code = ExitCode.FATAL


class VendorUnavailableError(FatalVendorError):
    """The vendor kept failing after every retry: a fact about the vendor, not the data."""


_WHAT_TO_DO = {
    errno.ENOENT: ("does not exist", "create the folder, or give another path"),
    errno.ENOTDIR: ("is under a file, not a folder", "give a path inside a folder"),
    errno.EISDIR: ("is a folder, not a file", "give a file name"),
    errno.EACCES: ("cannot be written or read by this user", "change its permissions or the path"),
    errno.EPERM: ("cannot be written or read by this user", "change its permissions or the path"),
    errno.EROFS: ("is on a read-only disk", "give a path on a writable disk"),
    errno.ENOSPC: ("cannot be written: the disk is full", "free some space, then run again"),
    errno.EDQUOT: ("cannot be written: the disk quota is used up", "free some space"),
    errno.EEXIST: ("is in the way: a file where a folder should be", "move or rename it"),
    errno.ELOOP: ("is a symbolic link loop", "give the real path"),
    errno.ENAMETOOLONG: ("has too long a name", "give a shorter path"),
}


def describe_os_error(error: OSError) -> str:
    """One plain line for an error of the operating system: which file, what is wrong, what to do.

    The one place where ``FileNotFoundError``, ``PermissionError``, a full disk... become
    words for the person running the command (exit 2), instead of an "internal error".
    """
    name = error.filename if error.filename is not None else "a file"
    problem, action = _WHAT_TO_DO.get(
        error.errno or 0, (f"could not be used ({error.strerror or error})", "check the path")
    )
    return f"{name}: {problem}; {action}."
