"""What a journal's runs record beside its rows, read alike from every store: who ran each
one, whether it was an undo, and the facts ``status`` shows of it.

A run is an item of a journal's ``runs()`` (the SQLite journal's and the PostgreSQL store's
have one shape): ``id``, ``started`` and ``finished`` (epoch seconds, ``finished`` ``None``
while it runs or after a crash), ``source`` (the sheet, or ``undo of run N``) and
``summary``: the ``settings`` its start recorded (``who`` among them), then what its end
recorded (``counts``, ``stopped``, ``dry_run``, ``result``, ``who``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from importer.jobs.who import plain_who

__all__ = ["UNDO", "is_undo", "recorded_who", "run_detail"]

#: The setting that marks an undo's run (its value: what it takes back, ``run N`` or a
#: result sheet's path).
UNDO = "undo"


def _settings(run: Mapping[str, Any]) -> Mapping[str, Any]:
    summary = run.get("summary") or {}
    return summary.get("settings") or {}


def is_undo(run: Mapping[str, Any]) -> bool:
    """Whether ``run`` is an undo: it read no sheet and created nothing, so ``report``, the
    time zones of earlier runs and ``undo`` itself pass over it."""
    return UNDO in _settings(run)


def recorded_who(run: Mapping[str, Any]) -> str | None:
    """Who ran ``run``, as its journal recorded it (``None``: a run from before names were
    kept, or a script's through the Python API that named nobody)."""
    found = _settings(run).get("who") or (run.get("summary") or {}).get("who")
    return plain_who(str(found)) if found else None


def run_detail(run: Mapping[str, Any]) -> dict[str, Any]:
    """One run as ``status --json`` lists it in ``runs_detail``: its ID, times, source, who
    ran it, the rows per status it ended with, why it stopped early, whether it was a dry
    run, and what it undid (``None`` for an import)."""
    summary = run.get("summary") or {}
    return {
        "id": run["id"],
        "started": run["started"],
        "finished": run["finished"],
        "source": run["source"],
        "who": recorded_who(run),
        "counts": dict(summary.get("counts") or {}),
        "stopped": summary.get("stopped"),
        "dry_run": bool(summary.get("dry_run")),
        "undo": _settings(run).get(UNDO),
    }
