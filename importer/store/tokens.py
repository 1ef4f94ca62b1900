"""Access tokens shared by every run on the machine, and the budget of token requests.

Zoho allows 10 access tokens per 10 minutes per refresh token; an inbox of 11
sheets, or three runs at once, each fetching its own token, reach that and are
refused ("Access Denied"). So a token is kept per account (the token host and
the credentials' identity, hashed) in a small SQLite file of the state folder,
created readable by its owner alone (0600), and every process adopts it while
it is valid. Each token request is recorded there too, so that together the
processes stay under the vendor's token budget: a request that would exceed it
waits for the oldest one to leave the window instead of being refused.

:class:`~importer.sending.ports.MemoryTokens` is the same, for one process (the Python API's
default).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from importer.core.clock import Clock
from importer.core.files import touch_private
from importer.sending.ports import MemoryTokens, Tokens, account_key

__all__ = ["MemoryTokens", "TokenStore", "Tokens", "account_key"]

# The port and the one-process keeper are defined by their consumer (sending), re-exported.


class TokenStore:
    """Tokens shared by every process of this user on the machine (see the module docstring)."""

    def __init__(self, folder: Path, clock: Clock) -> None:
        self.path = folder / "tokens.sqlite"
        # Created 0600 (its folder 0700) before SQLite opens it: a token at rest is readable
        # by its owner only.
        touch_private(self.path)
        os.chmod(self.path, 0o600)
        self.clock = clock
        self.db = sqlite3.connect(
            str(self.path), timeout=30, isolation_level=None, check_same_thread=False
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS tokens (account TEXT PRIMARY KEY, value TEXT NOT NULL,"
            " expires REAL NOT NULL)"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS requests (account TEXT, at REAL NOT NULL)")
        self._lock = threading.Lock()

    def get(self, account: str) -> tuple[str, float] | None:
        with self._lock:
            row = self.db.execute(
                "SELECT value, expires FROM tokens WHERE account = ?", (account,)
            ).fetchone()
        return (str(row[0]), float(row[1])) if row else None

    def put(self, account: str, value: str, expires: float) -> None:
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)", (account, value, expires)
            )

    def forget(self, account: str, value: str) -> None:
        with self._lock:
            self.db.execute("DELETE FROM tokens WHERE account = ? AND value = ?", (account, value))

    def requested(self, account: str, at: float) -> None:
        with self._lock:
            self.db.execute("INSERT INTO requests VALUES (?, ?)", (account, at))
            # A day of history is more than any vendor's token window.
            self.db.execute("DELETE FROM requests WHERE at < ?", (at - 86400,))

    def requests_since(self, account: str, since: float) -> list[float]:
        with self._lock:
            rows = self.db.execute(
                "SELECT at FROM requests WHERE account = ? AND at > ? ORDER BY at",
                (account, since),
            ).fetchall()
        return [float(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self.db.close()
