"""What every journal is and keeps, whichever store holds it: a row's key and fingerprint, its
record (:class:`Entry`), the calls an import makes of a journal (:class:`RowStore`), where an
account's journal file lives, and the settings its runs read sheets with.

The SQLite journal is :class:`importer.store.journal.Journal`; the PostgreSQL store's is
:class:`importer.store.postgres.PgJournal`. Both keep these rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from importer.core.errors import InputError
from importer.core.outcomes import JournalState

__all__ = [
    "EARLIER_ZONES",
    "IN_FLIGHT",
    "ROW_IDENTITY",
    "Claim",
    "Entry",
    "Holder",
    "JobLockedError",
    "RowStore",
    "account_journal_path",
    "fingerprint",
    "holder_label",
    "row_key",
    "settings_of_runs",
]


#: The note saying how a journal's rows are keyed: ``wall-clock`` (by their cells as typed,
#: whatever the zone and date order) in a journal this version started; otherwise rows of
#: earlier versions may be keyed by what was sent (see ``importer.jobs.journaling``).
ROW_IDENTITY = "row_identity"
#: The time zones the runs of older journals taken in used (comma-separated).
EARLIER_ZONES = "earlier_zones"


class JobLockedError(InputError):
    """Another run of the same job holds its lock."""


def fingerprint(values: Mapping[str, Any]) -> str:
    """A stable hash of a row's normalised values (what would be sent, and where)."""
    # sort_keys: the same text whatever the order the columns came in (and the same hashes
    # as earlier versions, which sorted twice).
    data = _ENCODE(values)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


_ENCODE = json.JSONEncoder(sort_keys=True, default=str).encode


def row_key(
    vendor: str,
    values: Mapping[str, Any],
    key_field: str | None,
    raw_key: str | None,
    print_: str | None = None,
) -> str:
    """The row's identity in the journal: the user's key column, else the fingerprint
    (``print_``, when the caller has already made it)."""
    if key_field and raw_key:
        return f"{vendor}:{key_field}:{raw_key.strip()}"
    return f"{vendor}:fp:{print_ or fingerprint(values)}"


def account_journal_path(folder: Path, vendor: str, host: str, identity: str) -> Path:
    """The default journal of one vendor account: ``journals/VENDOR-HOST-HASH.sqlite``.

    Args:
        folder: the state folder.
        vendor: the vendor's name.
        host: the vendor's API host (a URL).
        identity: what tells accounts apart on one host (a client or company ID); only its
            hash is in the name.
    """

    parts = urlsplit(host)
    place = (parts.hostname or "host") + (f"_{parts.port}" if parts.port else "")
    place += parts.path.rstrip("/").replace("/", "_")
    digest = hashlib.sha256(f"{vendor}|{host.rstrip('/')}|{identity}".encode()).hexdigest()
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in place)
    return folder / "journals" / f"{vendor}-{safe}-{digest[:16]}.sqlite"


@dataclass(frozen=True)
class Entry:
    """One row's record in the journal."""

    key: str
    fingerprint: str
    sheet_row: int | None
    state: str
    created_id: str
    message: str
    attempts: int
    payload: dict[str, Any]
    first_seen: float
    updated: float


#: The states in which a request of the row may be on the wire. A row in one of them is held
#: by the run (or undo) that marked it: no other sends it while that one lives; one that died
#: left it in doubt, and the next claim reconciles it (looked up before anything is resent).
IN_FLIGHT = frozenset({JournalState.SENDING, JournalState.UPDATING, JournalState.DELETING})


@dataclass(frozen=True)
class Holder:
    """A run (or an undo) that holds rows of a journal while its process lives.

    Attributes:
        id: the holder's number in the journal (its liveness is keyed by it: a lock file
            beside a SQLite journal, an advisory lock in PostgreSQL).
        run: the journal's run it works for (``None``: an undo, which records no run).
        label: what messages call it: ``run 12 (started by ana)``, ``run 13 (pid 4242 on
            sched-1)``.
    """

    id: int
    run: int | None
    label: str


def holder_label(what: str, who: str | None, pid: int, host: str) -> str:
    """``what (started by WHO)`` when the page's user is known, else ``what (pid N on HOST)``."""
    return f"{what} (started by {who})" if who else f"{what} (pid {pid} on {host})"


@dataclass(frozen=True)
class Claim:
    """What :meth:`RowStore.claim` found and did.

    Attributes:
        entry: the row as it was just before the claim (``None``: no such row).
        held: the row is now in the state asked, held by this journal's holder.
        busy: not claimed because a live holder (another run, another undo) has the row in
            flight: that one.
    """

    entry: Entry | None
    held: bool
    busy: Holder | None = None


class RowStore(Protocol):
    """What an import needs of a journal: each row's record, kept the moment it changes.

    :class:`importer.store.journal.Journal` (one SQLite file) and
    :class:`importer.store.postgres.PgJournal` (a PostgreSQL store) keep the same rules.
    """

    def meta(self, key: str) -> str | None:
        """A note the journal keeps (the job's target, a confirmed change)."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Keep a note."""
        ...

    def get(self, key: str) -> Entry | None:
        """The record of a row, if known."""
        ...

    def get_many(self, keys: Sequence[str]) -> dict[str, Entry]:
        """The records of the rows of ``keys`` that are known, by key."""
        ...

    def remember(self, key: str, print_: str, sheet_row: int, payload: Mapping[str, Any]) -> Entry:
        """Record a row as ``pending`` if new; return its record."""
        ...

    def remember_many(self, rows: Sequence[tuple[str, str, int, Mapping[str, Any]]]) -> list[Entry]:
        """:meth:`remember` for many rows (key, fingerprint, sheet row, payload), in bulk."""
        ...

    def sending(self, key: str, print_: str, payload: Mapping[str, Any]) -> None:
        """Durably mark a row as on the wire, before its request leaves (a row this journal's
        holder already claimed: see :meth:`claim`)."""
        ...

    def hold(self, what: str, who: str | None = None, run: int | None = None) -> Holder:
        """Become the holder of the rows this journal claims from now on, alive while this
        process keeps the journal open (once: later calls return the same holder).

        Args:
            what: what messages call it (``run 12``, ``an undo of run 3``).
            who: who started it (the page's user), if known.
            run: the journal's run it works for.
        """
        ...

    def claim(
        self,
        key: str,
        expect: str,
        state: str,
        print_: str | None = None,
        payload: Mapping[str, Any] | None = None,
        message: str | None = None,
    ) -> Claim:
        """Take a row for this journal's holder before a request of it leaves: one transaction.

        The row becomes ``state``, held by this holder, only if its state is still
        ``expect`` and it is not in flight (:data:`IN_FLIGHT`) for another holder that lives;
        with ``print_`` and ``payload``, it is also the send mark :meth:`sending` makes (the
        values sent, one attempt more); with ``message``, that message is kept.

        Returns:
            the row as it was, whether it was claimed, and its live holder if that is why not.
        """
        ...

    def busy(self, key: str) -> Holder | None:
        """The live holder (not this one) of the row, if the row is in flight."""
        ...

    def outcome(self, key: str, state: str, created_id: str = "", message: str = "") -> None:
        """Durably record a row's outcome as soon as it is known."""
        ...

    def rewrite(
        self, key: str, print_: str, payload: Mapping[str, Any], state: str, message: str = ""
    ) -> None:
        """Durably record a row's new values once an update is done."""
        ...

    def answered(self, key: str, state: str, created_id: str = "", message: str = "") -> None:
        """Record the answer to a row's request; it may reach the disk with the next write.

        Until it does, a crash leaves the row ``sending``: reconciled by the next run, never
        resent blindly. Every read and :meth:`outcome` see it at once.
        """
        ...

    def flush(self) -> None:
        """Write what :meth:`answered` left for the next write (the end of a run)."""
        ...


def settings_of_runs(
    runs: list[dict[str, Any]], source: Path | None, result: Path | None
) -> dict[str, Any]:
    """The settings of the last of ``runs`` that read ``source`` (or wrote ``result``); with
    neither given, the last run's; ``{}`` when none matches (every store keeps runs alike)."""
    for run in reversed(runs):
        settings = run["summary"].get("settings") or {}
        if source is not None and run["source"] == str(source.resolve()):
            return dict(settings)
        if result is not None and settings.get("result") == str(result.resolve()):
            return dict(settings)
    if source is None and result is None and runs:
        return dict(runs[-1]["summary"].get("settings") or {})
    return {}
