"""The runs in progress on an account, as ``status`` and the page show them (issue 25).

Runs on one account meet on its shared schedule (:mod:`importer.store.turns`), whatever
their process, host or journal: each publishes there who started it, its journal and run,
rows done and left, its ETA and whether it waits for its turn, and the schedule measures its
share of the account's budget. This reads them back, a dead run's left out
(:meth:`importer.store.Store.in_progress`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from importer.core.settings import RunSettings
from importer.sending.ports import Sharer, schedule_id
from importer.vendors.plugin import Plugin

__all__ = ["account_schedule", "as_json", "on_journal"]


def account_schedule(plugin: Plugin, settings: RunSettings) -> str:
    """The opaque name of the account's schedule (what :class:`Sharer.schedule` says)."""
    from importer.jobs.pacing import schedule_name  # the sender's side: not for `status`

    return schedule_id(schedule_name(plugin, settings))


def on_journal(found: Sequence[Sharer], journal: str) -> list[Sharer]:
    """The runs in progress on the accounts a run of ``journal`` (its absolute path, or a
    store's journal name) is sending to: its own and the others sharing those accounts."""
    schedules = {s.schedule for s in found if s.journal == journal}
    return [s for s in found if s.schedule in schedules]


def as_json(found: Iterable[Sharer]) -> list[dict[str, Any]]:
    """The runs as ``status --json`` and the page give them (keys documented in
    docs/journal.md): account, run, who, journal, run_id, interactive, rows_done,
    rows_left, share, eta_seconds, waiting_for_turn."""
    return [
        {
            "account": s.account,
            "run": s.run,
            "who": s.who,
            "journal": s.journal,
            "run_id": s.run_id,
            "interactive": s.interactive,
            "rows_done": s.done,
            "rows_left": s.left,
            "share": round(s.share, 3),
            "eta_seconds": None if s.eta is None else round(s.eta, 1),
            "waiting_for_turn": s.behind,
        }
        for s in found
    ]
