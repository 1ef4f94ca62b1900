"""The embedded store: SQLite files on one machine, the default.

Nothing new here: the journal, the rate schedule and the tokens are the SQLite classes
the importer always used (:class:`~importer.store.journal.Journal`,
:class:`~importer.store.slots.SharedSlots`, :class:`~importer.store.tokens.TokenStore`), kept in the
state folder; this class only hands them out behind the :class:`~importer.store.Store`
interface.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Collection
from pathlib import Path
from typing import Any

from importer.core.clock import Clock, SystemClock
from importer.sending.ports import Sharer
from importer.store.journal import Journal
from importer.store.slots import SharedSlots
from importer.store.tokens import TokenStore

__all__ = ["SqliteStore"]


class SqliteStore:
    """SQLite files in ``folder`` (journals named by a path are kept where the path says)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.description = f"sqlite:{folder}"

    def journal_path(self, name: str) -> Path:
        """Where the journal ``name`` lives: ``name`` itself when it is a file path."""
        if name.endswith(".sqlite") or "/" in name:
            return Path(name)
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:60]
        return self.folder / "journals" / f"{safe}-{digest}.sqlite"

    def journal(self, name: str, vendor: str, clock: Clock | None = None) -> Journal:
        """The journal file for ``name``."""
        return Journal(self.journal_path(name), vendor, clock)

    def slots(self, account: str, clock: Clock) -> SharedSlots:
        """The account's schedule file in the state folder."""
        return SharedSlots(self.folder, account, clock)

    def tokens(self, clock: Clock) -> TokenStore:
        """The state folder's token file (0600)."""
        return TokenStore(self.folder, clock)

    def in_progress(self, schedules: Collection[str] | None = None) -> list[Sharer]:
        """The runs in progress on the accounts' schedules of the state folder (``schedules``:
        those only, by :func:`~importer.sending.ports.schedule_id`)."""
        return SharedSlots.in_progress(self.folder, SystemClock(), schedules)

    def status(self) -> dict[str, Any]:
        """The journals of the state folder, with their rows per state."""
        journals = []
        for path in sorted((self.folder / "journals").glob("*.sqlite")):
            try:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                    counts = dict(db.execute("SELECT state, COUNT(*) FROM rows GROUP BY state"))
            except sqlite3.DatabaseError:
                continue
            journals.append({"name": str(path), "rows": counts})
        return {"store": self.description, "schema_version": None, "journals": journals}

    def close(self) -> None:
        """Nothing to close: each file is closed by its user."""
