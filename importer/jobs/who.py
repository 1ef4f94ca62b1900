"""Who ran a run: the name kept with each import, update and undo in the account's journal,
shown by ``status`` and the page's history.

The page passes its signed-in user. The command line passes :func:`command_line_user`:
``$IMPORTER_USER`` when set (a scheduler running as a service account names the person or the
job, e.g. ``nightly:acme``), else the operating-system user, else the process's uid.

The name is written into the journal and shown on terminals and pages, so it is kept plain:
no control, format or line-separator characters (a terminal escape, a bidirectional override
or a line break would change what a reader sees), its ends stripped, at most
:data:`MAX_LENGTH` characters. A name the operator gave (``$IMPORTER_USER``) that breaks
these rules is refused, saying why; one taken from the system is cleaned.
"""

from __future__ import annotations

import getpass
import os
import unicodedata
from collections.abc import Callable, Mapping

from importer.core.errors import ConfigurationError

__all__ = ["MAX_LENGTH", "USER_VARIABLE", "command_line_user", "plain_who"]

#: The longest name kept (longer ones are refused from ``$IMPORTER_USER``, cut otherwise).
MAX_LENGTH = 200
#: The environment variable naming who runs the command line (over the system's user).
USER_VARIABLE = "IMPORTER_USER"
#: Unicode categories never kept: controls, formats (bidirectional overrides, zero-width
#: characters), surrogates (undecodable bytes of the environment), line and paragraph breaks.
_UNSHOWN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: The process's uid (none on Windows).
_GETUID: Callable[[], int] | None = getattr(os, "getuid", None)


def _unshown(char: str) -> bool:
    return unicodedata.category(char) in _UNSHOWN


def plain_who(name: str | None) -> str | None:
    """``name`` fit to keep and show: unshown characters removed, ends stripped, at most
    :data:`MAX_LENGTH` characters; ``None`` when nothing is left."""
    if name is None:
        return None
    kept = "".join(" " if char in "\t\n\r" else char for char in name)
    kept = "".join(char for char in kept if not _unshown(char)).strip()
    return kept[:MAX_LENGTH].rstrip() or None


def _system_user(getuser: Callable[[], str], uid: Callable[[], int] | None) -> str:
    """The operating-system user; ``uid N`` when the system has no name for the process's
    uid (a container started with ``--user 1234``), ``unknown`` without uids either."""
    try:
        name = plain_who(getuser())
    except (OSError, KeyError, ImportError):  # 3.11-3.12: KeyError (pwd); 3.13+: OSError
        name = None
    if name:
        return name
    return f"uid {uid()}" if uid is not None else "unknown"


def command_line_user(
    env: Mapping[str, str],
    *,
    getuser: Callable[[], str] = getpass.getuser,
    uid: Callable[[], int] | None = _GETUID,
) -> str:
    """Who runs the command line: ``$IMPORTER_USER``, else the operating-system user
    (:func:`getpass.getuser`), else ``uid N``.

    Raises:
        ConfigurationError: ``$IMPORTER_USER`` holds a control, format or line-break
            character, or is longer than :data:`MAX_LENGTH` characters.
    """
    given = env.get(USER_VARIABLE, "").strip()
    if not given:  # unset or blank: the system's user
        return _system_user(getuser, uid)
    if any(_unshown(char) for char in given):
        raise ConfigurationError(
            f"${USER_VARIABLE} holds control or invisible characters (a line break, a terminal "
            "escape...): give a plain name, e.g. nightly:acme. Nothing was sent."
        )
    if len(given) > MAX_LENGTH:
        raise ConfigurationError(
            f"${USER_VARIABLE} is {len(given)} characters long: give a name of at most "
            f"{MAX_LENGTH}. Nothing was sent."
        )
    return given
