"""Which journal a command uses, from its flags: ``--journal``, the job's, the account's, or
the shared store's (:class:`~importer.jobs.journals.JournalPlace`).

Shared by ``run``, ``run --check`` and ``undo``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from importer.jobs.journals import JournalPlace

if TYPE_CHECKING:
    from importer.core.settings import RunSettings
    from importer.vendors.plugin import Plugin

__all__ = ["journal_path", "journal_place"]


def journal_place(args: argparse.Namespace) -> JournalPlace:
    """Where the flags say the journal is; with a sheet (``args.file``), the earlier
    versions' per-file journals beside it or its result are taken in."""
    given = Path(args.journal) if args.journal is not None else None
    scratch = getattr(args, "scratch", None)
    older: list[Path] = []
    if getattr(args, "file", None) is not None:
        source = Path(args.file)
        older = [source.with_name(f"{source.stem}.journal.sqlite")]
        if getattr(args, "result", None) is not None:
            older.append(Path(args.result).with_name(f"{source.stem}.journal.sqlite"))
        older.append(Path(getattr(args, "legacy_journal", None) or source))
    return JournalPlace(
        path=given,
        store_name=str(args.journal) if args.journal is not None else None,
        scratch=Path(scratch) if scratch is not None else None,
        older=tuple(dict.fromkeys(older)),
    )


def journal_path(args: argparse.Namespace, chosen: Plugin, settings: RunSettings) -> Path | None:
    """Where the run's journal file is: --journal (or the job's), else the account's journal
    (``None`` for a dry run without credentials: no account to know)."""
    from importer.jobs.journals import journal_path as where

    return where(journal_place(args), chosen, settings)
