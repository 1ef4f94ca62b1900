"""`session-importer store init|status|copy`: the operator's side of the store.

* ``store init [URL]``: create or upgrade the schema (every run does it too, once).
* ``store status [URL]``: schema version, journals with rows per state and the run holding
  each one's lock, paused rate schedules.
* ``store copy SRC DST``: take a SQLite journal into a store (when a team outgrows one
  machine). Rows the destination already knows are kept as they are.

``URL`` defaults to ``$IMPORTER_STORE``, else this machine's SQLite state folder.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from importer.core.errors import ConfigurationError, InputError

__all__ = ["add_store_parser", "copy_journal", "store_command"]


def add_store_parser(commands: Any) -> None:
    """Add the ``store`` command to the command line's subcommands."""
    store = commands.add_parser(
        "store",
        help="set up, inspect or fill the store shared by several hosts",
        description="The store keeps journals, runs, job locks, the rate schedule and tokens: "
        "SQLite files on this machine (the default), or PostgreSQL for several hosts importing "
        "into one account. URL defaults to $IMPORTER_STORE.",
    )
    actions = store.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser("init", help="create or upgrade the store's schema")
    status = actions.add_parser("status", help="what the store holds")
    for parser in (init, status):
        parser.add_argument("url", nargs="?", metavar="URL", help="postgresql://… or sqlite:DIR")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    copy = actions.add_parser("copy", help="copy a SQLite journal into a store")
    copy.add_argument("source", type=Path, metavar="SRC", help="a .journal.sqlite file")
    copy.add_argument("destination", metavar="DST", help="the store's URL (postgresql://…)")
    copy.add_argument(
        "--journal",
        metavar="NAME",
        help="the journal's name in DST (default: the vendor account's, from the journal's "
        "vendor and host and the credentials in the environment, as a run names it)",
    )


def store_command(args: argparse.Namespace) -> int:
    """Run ``store init|status|copy``; 0 when done."""
    if args.action == "copy":
        return _copy(args)
    # lazy: this module's parser half is read by every command (issue 27: start-up)
    from importer.store import open_store

    url = args.url or os.environ.get("IMPORTER_STORE") or None
    store = open_store(url)
    try:
        if args.action == "init":
            applied = getattr(store, "applied", [])
            version = getattr(store, "version", None)
            done = f"applied steps {', '.join(map(str, applied))}" if applied else "up to date"
            print(
                f"{store.description}: schema version {version} ({done})."
                if version is not None
                else f"{store.description}: SQLite files need no schema set-up."
            )
            return 0
        status = store.status()
    finally:
        store.close()
    if args.json:
        print(json.dumps(status))
        return 0
    print(f"Store {status['store']}, schema version {status['schema_version'] or '-'}")
    for journal in status["journals"]:
        rows = ", ".join(f"{n} {s}" for s, n in journal["rows"].items()) or "no rows"
        running = f"; running: {journal['running']}" if journal.get("running") else ""
        print(f"  {journal['name']}: {rows}{running}")
    for pause in status.get("paused", []):
        print(
            f"  paused {pause['seconds']} s ({pause['reason'] or 'no reason'}): {pause['account']}"
        )
    return 0


def _copy(args: argparse.Namespace) -> int:
    from importer.store import is_postgres, redact  # lazy: see store_command

    if not is_postgres(args.destination):
        raise ConfigurationError(
            f"store copy: DST must be postgresql://…, not {redact(args.destination)}."
        )
    meta = _read_sqlite(args.source)[0]
    name = args.journal or _account_of(meta)
    added, total = copy_journal(args.source, args.destination, name)
    print(
        f"Copied {args.source} into journal {name!r} of {redact(args.destination)}: "
        f"{added} row(s) added, {total - added} already there."
    )
    return 0


def _account_of(meta: dict[str, str]) -> str:
    """The journal name a run with this environment uses for the journal's account."""
    from importer.jobs.config import RunFlags, resolve_settings  # lazy: read by every parser
    from importer.store import account_name
    from importer.vendors import plugin

    vendor, target = meta.get("vendor", ""), meta.get("target", "")
    flags = RunFlags(base_url=target or None)
    settings = resolve_settings(plugin(vendor), flags=flags, env=os.environ)
    if settings.account is None:
        raise ConfigurationError(
            f"store copy: the environment gives no {vendor} credentials to tell the account; "
            "set them as for the job's runs, or give --journal NAME."
        )
    return account_name(vendor, settings.base_url, settings.account)


def _read_sqlite(path: Path) -> tuple[dict[str, str], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """A SQLite journal's meta, rows and runs (read-only)."""
    if not path.is_file():
        raise InputError(f"{path}: no such journal file.")
    import sqlite3  # lazy: see store_command

    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            meta = {str(k): str(v) for k, v in db.execute("SELECT key, value FROM meta")}
            rows = db.execute(
                "SELECT key, fingerprint, sheet_row, state, created_id, message, attempts,"
                " payload, first_seen, updated FROM rows"
            ).fetchall()
            runs = db.execute("SELECT started, finished, source, summary FROM runs").fetchall()
    except sqlite3.DatabaseError as error:
        raise InputError(f"{path}: not a journal this tool can use ({error}).") from None
    if "vendor" not in meta:
        raise InputError(f"{path}: not a journal this tool can use (no vendor recorded).")
    return meta, rows, runs


def copy_journal(source: Path, url: str, name: str) -> tuple[int, int]:
    """Copy a SQLite journal into journal ``name`` of the store ``url``, under both job locks.

    Rows the destination knows are kept; meta it lacks is added; runs are appended (once: a
    second copy of the same file adds no run). Returns (rows added, rows in the source).
    """
    # lazy: the parser half of this module is read by every command (validate's start-up)
    from importer.store.journal import Journal
    from importer.store.postgres import PostgresStore

    meta, _, _ = _read_sqlite(source)
    local = Journal(source, meta["vendor"])
    store = PostgresStore(url)
    try:
        local.lock_job()
        journal = store.journal(name, meta["vendor"])
        journal.lock_job()
        try:
            meta, rows, runs = _read_sqlite(source)
            mark = f"copied:{source.resolve()}"
            with store.connection() as conn, conn.transaction():
                before = _count(conn, journal.id)
                conn.cursor().executemany(
                    "INSERT INTO importer_rows (journal_id, key, fingerprint, sheet_row, state,"
                    " created_id, message, attempts, payload, first_seen, updated) VALUES"
                    " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    [(journal.id, *row) for row in rows],
                )
                added = _count(conn, journal.id) - before
                for key, value in meta.items():
                    conn.execute(
                        "INSERT INTO importer_meta (journal_id, key, value) VALUES (%s, %s, %s)"
                        " ON CONFLICT DO NOTHING",
                        (journal.id, key, value),
                    )
                fresh = conn.execute(
                    "INSERT INTO importer_meta (journal_id, key, value) VALUES (%s, %s, '')"
                    " ON CONFLICT DO NOTHING RETURNING key",
                    (journal.id, mark),
                ).fetchone()
                if fresh is not None:
                    conn.cursor().executemany(
                        "INSERT INTO importer_runs (journal_id, started, finished, source,"
                        " summary) VALUES (%s, %s, %s, %s, %s)",
                        [(journal.id, *run) for run in runs],
                    )
        finally:
            journal.close()
    finally:
        local.close()
        store.close()
    return added, len(rows)


def _count(conn: Any, journal_id: int) -> int:
    found = conn.execute(
        "SELECT COUNT(*) FROM importer_rows WHERE journal_id = %s", (journal_id,)
    ).fetchone()
    return int(found[0])
