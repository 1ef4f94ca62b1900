"""The PostgreSQL store's schema, as numbered steps applied once, in order.

:func:`migrate` runs in one transaction under a transaction-scoped advisory lock, so two
hosts starting at the same moment never apply a step twice: the second waits, then finds
the steps recorded in ``importer_migrations`` and applies nothing. A step is never edited
once released; a change is a new step at the end.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

__all__ = ["MIGRATIONS", "applied_versions", "holder_space", "lock_key", "migrate"]

#: (version, description, SQL). Times are seconds since the epoch (``double precision``).
MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "journals, rows, runs and meta",
        """
        CREATE TABLE importer_journals (
            id BIGSERIAL PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            vendor TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE importer_meta (
            journal_id BIGINT NOT NULL REFERENCES importer_journals (id),
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (journal_id, key)
        );
        CREATE TABLE importer_rows (
            journal_id BIGINT NOT NULL REFERENCES importer_journals (id),
            key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            sheet_row INTEGER,
            state TEXT NOT NULL,
            created_id TEXT NOT NULL DEFAULT '',
            message TEXT NOT NULL DEFAULT '',
            attempts INTEGER NOT NULL DEFAULT 0,
            payload TEXT NOT NULL,
            first_seen DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (journal_id, key)
        );
        CREATE TABLE importer_runs (
            id BIGSERIAL PRIMARY KEY,
            journal_id BIGINT NOT NULL REFERENCES importer_journals (id),
            started DOUBLE PRECISION NOT NULL,
            finished DOUBLE PRECISION,
            source TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX importer_runs_journal ON importer_runs (journal_id, id);
        """,
    ),
    (
        2,
        "job lock holders, rate schedule, tokens",
        """
        CREATE TABLE importer_lock_holders (
            journal_id BIGINT PRIMARY KEY REFERENCES importer_journals (id),
            holder TEXT NOT NULL,
            since DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE importer_slots (
            account TEXT PRIMARY KEY,
            next DOUBLE PRECISION NOT NULL DEFAULT 0,
            paused DOUBLE PRECISION NOT NULL DEFAULT 0,
            reason TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE importer_calls (
            id BIGSERIAL PRIMARY KEY,
            account TEXT NOT NULL,
            start DOUBLE PRECISION NOT NULL,
            "end" DOUBLE PRECISION
        );
        CREATE INDEX importer_calls_account ON importer_calls (account, id DESC);
        CREATE TABLE importer_tokens (
            account TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            expires DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE importer_token_requests (
            account TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX importer_token_requests_account ON importer_token_requests (account, at);
        """,
    ),
    (
        3,
        "the caller of each call, to tell a dead host's open call at once",
        """
        ALTER TABLE importer_calls ADD COLUMN owner BIGINT;
        """,
    ),
    (
        4,
        "runs on one account take turns on its schedule (issue 25)",
        """
        CREATE TABLE importer_waiters (
            account TEXT NOT NULL,
            token TEXT NOT NULL,
            run TEXT NOT NULL,
            interactive BOOLEAN NOT NULL,
            weight DOUBLE PRECISION NOT NULL,
            spent DOUBLE PRECISION NOT NULL,
            polled DOUBLE PRECISION NOT NULL,
            served DOUBLE PRECISION NOT NULL,
            wants BOOLEAN NOT NULL,
            owner BIGINT,
            PRIMARY KEY (account, token)
        );
        ALTER TABLE importer_calls ADD COLUMN waiter TEXT;
        """,
    ),
    (
        5,
        "runs at once: who holds which rows in flight",
        """
        CREATE TABLE importer_holders (
            id BIGSERIAL PRIMARY KEY,
            journal_id BIGINT NOT NULL REFERENCES importer_journals (id),
            label TEXT NOT NULL,
            run BIGINT,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            since DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX importer_holders_journal ON importer_holders (journal_id, id);
        ALTER TABLE importer_rows ADD COLUMN holder BIGINT;
        """,
    ),
    (
        6,
        "runs at once, seen: who each run on an account is, how far, waiting for its turn",
        """
        ALTER TABLE importer_waiters
            ADD COLUMN who TEXT,
            ADD COLUMN journal TEXT,
            ADD COLUMN run_id BIGINT,
            ADD COLUMN label TEXT,
            ADD COLUMN done INTEGER,
            ADD COLUMN rows_left INTEGER,
            ADD COLUMN eta DOUBLE PRECISION,
            ADD COLUMN seen DOUBLE PRECISION,
            ADD COLUMN behind BOOLEAN NOT NULL DEFAULT false;
        """,
    ),
]

_TABLE = """
CREATE TABLE IF NOT EXISTS importer_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied DOUBLE PRECISION NOT NULL
)
"""


def lock_key(schema: str, what: str) -> int:
    """A 63-bit advisory lock key for ``what`` in ``schema`` (one namespace per schema)."""
    high = zlib.crc32(schema.encode())
    low = zlib.crc32(what.encode())
    return ((high & 0x7FFFFFFF) << 32) | low


def holder_space(schema: str) -> int:
    """The first key of the two-key advisory locks of the holders of ``schema``'s journals
    (the second is the holder's number): 31 bits, one space per schema."""
    return zlib.crc32(f"{schema}:holders".encode()) & 0x7FFFFFFF


def applied_versions(conn: Any) -> list[int]:
    """The versions already applied (empty when the store was never initialised)."""
    found = conn.execute("SELECT to_regclass('importer_migrations')").fetchone()
    if found is None or found[0] is None:
        return []
    return [int(r[0]) for r in conn.execute("SELECT version FROM importer_migrations ORDER BY 1")]


def migrate(conn: Any, schema: str) -> list[int]:
    """Apply every missing step, once, whoever else starts now; return the versions applied.

    Args:
        conn: a psycopg connection in autocommit mode.
        schema: the schema the tables live in (names the lock).
    """
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(schema, "migrations"),))
        conn.execute(_TABLE)
        done = set(applied_versions(conn))
        for version, description, sql in MIGRATIONS:
            if version in done:
                continue
            conn.execute(sql)
            conn.execute(
                "INSERT INTO importer_migrations (version, description, applied)"
                " VALUES (%s, %s, %s)",
                (version, description, time.time()),
            )
            applied.append(version)
    return applied
