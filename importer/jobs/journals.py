"""Which journal a run keeps, and opening it: the account's (in the state folder or the
PostgreSQL store), one given by name or path, or a throw-away one for a sandbox rehearsal.

Both faces say where with a :class:`JournalPlace` (the command line from ``--journal``, the
job file and ``--sandbox``; the page from the account), and :func:`open_journal` opens it,
taking in the rows of an earlier version's per-file journals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from importer.core.errors import ConfigurationError
from importer.core.settings import RunSettings
from importer.store import JournalLike, shared_journal
from importer.store.base import account_journal_path
from importer.store.journal import Journal
from importer.store.slots import SharedSlots
from importer.vendors.plugin import Plugin

__all__ = ["JournalPlace", "journal_path", "open_journal", "peek_journal", "store_journal"]


@dataclass(frozen=True)
class JournalPlace:
    """Where a run's journal is.

    Attributes:
        path: a journal file given (``--journal``, the job file's, the page's account's);
            ``None``: the account's journal in the state folder.
        store_name: with a PostgreSQL store, the journal's name there (``--journal NAME``);
            ``None``: the account's.
        scratch: a throw-away folder (``--sandbox``): the journal is kept there, never in the
            store, and goes with it.
        shared: whether the PostgreSQL store (``settings.store``) may hold it.
        older: earlier versions' per-file journals whose rows are taken in.
    """

    path: Path | None = None
    store_name: str | None = None
    scratch: Path | None = None
    shared: bool = True
    older: tuple[Path, ...] = ()


def journal_path(place: JournalPlace, plugin: Plugin, settings: RunSettings) -> Path | None:
    """Where the journal file is: the one given, else the account's in the state folder.

    ``None`` for a run without credentials (a dry run: no account to know).
    """
    if place.path is not None:
        return place.path
    if place.scratch is not None:
        return place.scratch / "journal.sqlite"
    if settings.account is None:
        return None
    return account_journal_path(
        SharedSlots.default_folder(), plugin.name, settings.base_url, settings.account
    )


def store_journal(place: JournalPlace, settings: RunSettings) -> JournalLike | None:
    """With a PostgreSQL store (issue 14), the account's journal there (or the one named)."""
    if place.scratch is not None or not place.shared:
        return None
    return shared_journal(settings, place.store_name)


def peek_journal(place: JournalPlace, plugin: Plugin, settings: RunSettings) -> JournalLike | None:
    """The account's journal as it is, to read from (``None``: there is none yet); nothing is
    written to it, nor is it made."""
    found = store_journal(place, settings)
    if found is not None:
        return found
    path = journal_path(place, plugin, settings)
    if path is None or not path.exists():
        return None
    return Journal(path, plugin.name)


def open_journal(
    place: JournalPlace,
    plugin: Plugin,
    settings: RunSettings,
    *,
    dry_run: bool = False,
    notify: Callable[[str], None] = lambda message: None,
) -> JournalLike | None:
    """The run's journal, opened (``None``: a dry run with no journal yet, or no account).

    A journal file records the host it imports into: another host is refused (another
    ``--journal`` is needed). The rows of ``place.older`` journals are taken in, once.

    Raises:
        ConfigurationError: the journal records another host.
    """
    found = store_journal(place, settings)
    if found is not None:
        return found
    path = journal_path(place, plugin, settings)
    if path is None or (dry_run and not path.exists()):
        return None
    journal = Journal(path, plugin.name)
    target = settings.base_url
    known = journal.meta("target")
    if known is None:
        journal.set_meta("target", target)
    elif known != target:
        journal.close()
        raise ConfigurationError(
            f"{path} records imports into {known}, not {target}; give another --journal."
        )
    for old in place.older:
        if old.name.endswith(".journal.sqlite") and old.is_file() and old != path:
            taken = journal.absorb(old)
            if taken:
                notify(f"took {taken} row(s) of the older journal {old} into {path}")
    return journal
