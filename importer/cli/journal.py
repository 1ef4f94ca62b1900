"""Which journal a command uses: ``--journal``, the job's, the account's, or the shared store's.

Shared by ``run``, ``run --check`` and ``undo`` (and the web page through ``run``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from importer.store import JournalLike, shared_journal
from importer.store.base import account_journal_path
from importer.store.slots import SharedSlots

__all__ = ["journal_path", "store_journal"]


def journal_path(args: argparse.Namespace, vendor: str, settings: Any) -> Path | None:
    """Where the run's journal is: --journal (or the job's), else the account's journal.

    ``None`` for a dry run without credentials (no account to know).
    """
    if args.journal is not None:
        return Path(args.journal)
    if getattr(args, "scratch", None) is not None:
        return Path(args.scratch) / "journal.sqlite"
    if settings.account is None:
        return None
    return account_journal_path(
        SharedSlots.default_folder(), vendor, settings.base_url, settings.account
    )


def store_journal(args: argparse.Namespace, settings: Any) -> JournalLike | None:
    """With a PostgreSQL store (issue 14), the account's journal there (or --journal NAME)."""
    if getattr(args, "scratch", None) is not None:
        return None
    return shared_journal(settings, str(args.journal) if args.journal is not None else None)
