"""What an account's journal remembers of people's choices, for both faces: the columns chosen
for sheets with given headers, and the cells corrected on the page.

Both live in the journal's ``meta`` table (every store has it; nothing to migrate), so a
choice made on the page holds for the command line and for every host sharing the account:

- ``columns:<digest of the headers>`` -> ``{field: header or null}``: a sheet with the same
  headers (folded as matching folds them, in any order) gets the same columns;
- ``corrections`` -> ``{raw print: {"cells": [{"column", "old", "new"}], "who", "at"}}``: a row
  of a sheet as typed (see :func:`importer.sheet.corrections.raw_prints`) that someone
  corrected before it was imported, so that a later upload of the uncorrected sheet is
  corrected the same way (and found already created), never created again nor refused again.

The corrections are one JSON value, rewritten whole: two servers recording corrections in
the same instant can lose one's record (the rows stay created; the later upload then shows the
uncorrected row as it is), a trade for needing no new table in every store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from importer.core.settings import RunSettings
from importer.jobs.journals import JournalPlace, peek_journal
from importer.sheet.corrections import Correction
from importer.sheet.headers import header_key
from importer.store import JournalLike
from importer.vendors.plugin import Plugin

__all__ = [
    "EarlierCorrection",
    "recall_columns",
    "remember_columns",
    "remember_corrections",
    "remembered_columns",
    "remembered_corrections",
]

_CORRECTIONS = "corrections"
#: The most corrected rows remembered (the oldest go first).
_KEPT = 20_000

EarlierCorrection = dict[str, Any]


def _headers_key(headers: Sequence[str]) -> str:
    folded = sorted(header_key(h) or h.strip().casefold() for h in headers)
    return "columns:" + hashlib.sha256("\x1f".join(folded).encode()).hexdigest()[:32]


def remembered_columns(journal: JournalLike, headers: Sequence[str]) -> dict[str, str | None]:
    """The columns chosen earlier for a sheet with these ``headers`` (empty: none), each
    still one of the headers."""
    found = journal.meta(_headers_key(headers))
    if not found:
        return {}
    chosen = json.loads(found)
    return {
        str(field): header
        for field, header in chosen.items()
        if header is None or header in headers
    }


def recall_columns(
    place: JournalPlace, plugin: Plugin, settings: RunSettings
) -> Callable[[list[str]], dict[str, str | None]]:
    """The columns chosen earlier for a sheet's headers, as :func:`read_sheet
    <importer.jobs.import_sheet.read_sheet>` asks for them: from the account's journal, if
    it has one (read only when asked)."""

    def recall(headers: list[str]) -> dict[str, str | None]:
        journal = peek_journal(place, plugin, settings)
        if journal is None:
            return {}
        try:
            return remembered_columns(journal, headers)
        finally:
            journal.close()

    return recall


def remember_columns(
    journal: JournalLike, headers: Sequence[str], chosen: Mapping[str, str | None]
) -> None:
    """Keep the columns chosen for a sheet with these ``headers``."""
    journal.set_meta(_headers_key(headers), json.dumps(dict(chosen), sort_keys=True))


def remembered_corrections(journal: JournalLike) -> dict[str, EarlierCorrection]:
    """Raw print of a row as typed -> how it was corrected before it was imported."""
    found = journal.meta(_CORRECTIONS)
    return dict(json.loads(found)) if found else {}


def remember_corrections(
    journal: JournalLike, rows: Iterable[tuple[str, Sequence[Correction]]]
) -> int:
    """Keep, for each row (its raw print as typed, its corrections in force), how it was
    corrected; the number of rows kept."""
    kept = remembered_corrections(journal)
    added = 0
    for print_, corrections in rows:
        if not corrections:
            continue
        cells = [{"column": c.column, "old": c.old, "new": c.new} for c in corrections]
        last = max(corrections, key=lambda c: c.at)
        kept.pop(print_, None)  # re-inserted last: the newest kept longest
        kept[print_] = {"cells": cells, "who": last.who, "at": last.at}
        added += 1
    if added:
        while len(kept) > _KEPT:
            kept.pop(next(iter(kept)))
        journal.set_meta(_CORRECTIONS, json.dumps(kept, ensure_ascii=False))
    return added
