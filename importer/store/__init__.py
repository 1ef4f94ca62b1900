"""Where everything hosts share is kept: the journal, runs, row claims, the rate schedule, tokens.

One setting chooses the store (``--store URL``, ``IMPORTER_STORE``, ``store`` in the job
file):

* nothing, or ``sqlite:FOLDER``: the embedded SQLite files of one machine (the default:
  journals beside the sheets, the rate schedule and tokens in the state folder), exactly as
  before this package existed;
* ``postgresql://user@host:port/db``: a PostgreSQL database that every host importing into
  the same vendor account uses (a scheduler host, the coordinators' web page, a laptop).
  See :mod:`importer.store.postgres` for the locking that makes that safe.

The three things a run takes from a store follow the interfaces of the SQLite classes they
stand in for: :class:`JournalLike` (:class:`importer.store.journal.Journal`), :class:`Slots`
(:class:`importer.store.slots.SharedSlots`) and :class:`importer.store.tokens.Tokens`
(:class:`importer.store.tokens.TokenStore`), as :class:`StoreTokens`.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from importer.core.clock import Clock
from importer.core.errors import ConfigurationError, ImporterError
from importer.sending.ports import Sharer, Slots

if TYPE_CHECKING:
    from importer.store.base import Claim, Entry, Holder

__all__ = [
    "JobLockLostError",
    "JournalLike",
    "Slots",
    "Store",
    "StoreTokens",
    "StoreUnavailableError",
    "account_name",
    "is_postgres",
    "open_journal",
    "open_store",
    "redact",
    "shared_journal",
]


class StoreUnavailableError(ImporterError):
    """The shared store stopped answering mid-run (exit 2).

    Nothing is sent without its ``sending`` mark committed first, so what was on the wire
    stays ``sending`` and is reconciled by the next run, on any host.
    """


class JobLockLostError(ImporterError):
    """The run's hold on its rows was lost (its lock connection dropped): stop before sending
    more (exit 2).

    Other hosts now take this run for dead and reconcile the rows it left in flight; sending
    on would let two runs send one row.
    """


class StoreTokens(Protocol):
    """Kept tokens and token requests, closable.

    The methods are those of :class:`importer.store.tokens.Tokens`, where they are documented.
    """

    def get(self, account: str) -> tuple[str, float] | None: ...
    def put(self, account: str, value: str, expires: float) -> None: ...
    def forget(self, account: str, value: str) -> None: ...
    def requested(self, account: str, at: float) -> None: ...
    def requests_since(self, account: str, since: float) -> list[float]: ...
    def close(self) -> None: ...


class JournalLike(Protocol):
    """What the command line and the pipeline use of a journal
    (:class:`importer.store.journal.Journal`).

    The methods are those of :class:`importer.store.journal.Journal`, where they are documented.
    """

    @property
    def path(self) -> Path | str:
        """Where the journal is: its file, or its name in a store (for messages)."""
        ...

    def get(self, key: str) -> Entry | None: ...
    def get_many(self, keys: Sequence[str]) -> dict[str, Entry]: ...
    def entries(self) -> Iterator[Entry]: ...
    def remember(
        self, key: str, print_: str, sheet_row: int, payload: Mapping[str, Any]
    ) -> Entry: ...
    def remember_many(
        self, rows: Sequence[tuple[str, str, int, Mapping[str, Any]]]
    ) -> list[Entry]: ...
    def sending(self, key: str, print_: str, payload: Mapping[str, Any]) -> None: ...
    def claim(
        self,
        key: str,
        expect: str,
        state: str,
        print_: str | None = None,
        payload: Mapping[str, Any] | None = None,
        message: str | None = None,
    ) -> Claim: ...
    def busy(self, key: str) -> Holder | None: ...
    def hold(self, what: str, who: str | None = None, run: int | None = None) -> Holder: ...
    def outcome(self, key: str, state: str, created_id: str = "", message: str = "") -> None: ...
    def rewrite(
        self, key: str, print_: str, payload: Mapping[str, Any], state: str, message: str = ""
    ) -> None: ...
    def answered(self, key: str, state: str, created_id: str = "", message: str = "") -> None: ...
    def flush(self) -> None: ...
    def counts(self) -> dict[str, int]: ...
    def start_run(self, source: str, settings: Mapping[str, Any] | None = None) -> int: ...
    def finish_run(self, run_id: int, summary: Mapping[str, Any]) -> None: ...
    def runs(self) -> list[dict[str, Any]]: ...
    def meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def lock_job(self, wait: bool = False, shared: bool = False) -> None: ...
    def unlock_job(self) -> None: ...
    def close(self) -> None: ...


class Store(Protocol):
    """A place for everything the hosts of one vendor account share."""

    #: The store's URL with any password hidden (for messages and ``store status``).
    description: str

    def journal(self, name: str, vendor: str, clock: Clock | None = None) -> JournalLike:
        """The journal called ``name`` (created for ``vendor`` if new)."""
        ...

    def slots(self, account: str, clock: Clock) -> Slots:
        """The call schedule of ``account`` (a name that reveals no secret)."""
        ...

    def tokens(self, clock: Clock) -> StoreTokens:
        """Kept access tokens and the token-request budget."""
        ...

    def in_progress(self, schedules: Collection[str] | None = None) -> list[Sharer]:
        """The runs in progress on its accounts' schedules (``schedules``: those only, by
        :func:`~importer.sending.ports.schedule_id`), a dead run's left out."""
        ...

    def status(self) -> dict[str, Any]:
        """What the store holds, for ``session-importer store status``."""
        ...

    def close(self) -> None:
        """Close every connection."""
        ...


def is_postgres(url: str | None) -> bool:
    """Whether ``url`` names a PostgreSQL store."""
    return bool(url) and str(url).split(":", 1)[0] in ("postgresql", "postgres")


def redact(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def account_name(vendor: str, base_url: str, identity: str) -> str:
    """The name of a vendor account's journal in a shared store: readable, no secret in it.

    Args:
        vendor: the vendor's name.
        base_url: the vendor's API host.
        identity: what tells accounts apart on the host (``RunSettings.account``: a client
            or company ID); only its hash is kept.
    """
    import hashlib  # OpenSSL's, 2 ms: loaded where an account is named (issue 27: start-up)

    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return f"{vendor} {base_url.rstrip('/')} {digest}"


def open_store(url: str | None, *, folder: Path | None = None) -> Store:
    """Open the store ``url`` names (``None``: the SQLite files of this machine).

    Args:
        url: ``postgresql://…``, ``sqlite:FOLDER``, or ``None``.
        folder: the state folder for the SQLite store when ``url`` names none
            (default: ``$IMPORTER_STATE_DIR``, else ~/.cache/session-importer).

    Raises:
        ConfigurationError: the URL names no store this tool knows, or the server cannot be
            reached or used.
    """
    if is_postgres(url):
        from importer.store.postgres import PostgresStore

        return PostgresStore(str(url))
    if url and not str(url).startswith("sqlite:"):
        raise ConfigurationError(
            f"--store {redact(str(url))}: give postgresql://USER@HOST:PORT/DATABASE, or "
            "sqlite:FOLDER (the default is this machine's state folder)."
        )
    from importer.store.slots import SharedSlots
    from importer.store.sqlite import SqliteStore

    where = str(url)[len("sqlite:") :] if url else ""
    if where:
        return SqliteStore(Path(os.path.expanduser(where)))
    return SqliteStore(folder or SharedSlots.default_folder())


def open_journal(url: str, name: str, vendor: str, clock: Clock | None = None) -> JournalLike:
    """A journal of the store ``url`` that closes the store with itself (one run's journal)."""
    store = open_store(url)
    try:
        journal = store.journal(name, vendor, clock)
    except BaseException:
        store.close()
        raise
    if hasattr(journal, "owned"):
        journal.owned = store
    return journal


def shared_journal(settings: Any, name: str | None = None) -> JournalLike | None:
    """The account's journal in the PostgreSQL store ``settings.store`` names; else ``None``.

    Every host importing into the account finds the same journal: it is named after the
    vendor, the host and a hash of the account's identity (``settings.account``), as the
    SQLite journal of one machine is; ``name`` names another.

    Raises:
        ConfigurationError: the journal records imports into another host.
    """
    if not is_postgres(settings.store):
        return None
    if name is None:
        if settings.account is None:
            return None  # a dry run without credentials: no account to know
        name = account_name(settings.vendor, settings.base_url, settings.account)
    journal = open_journal(settings.store, name, settings.vendor)
    known = journal.meta("target")
    if known is None:
        journal.set_meta("target", settings.base_url)
    elif known != settings.base_url:
        journal.close()
        raise ConfigurationError(
            f"journal {name!r} records imports into {known}, not {settings.base_url}; "
            "give another --journal."
        )
    return journal
