"""Read sessions back from a vendor into a spreadsheet, for checking.

What is listed and how a created object is found again is each vendor's read-back
(:class:`~importer.sending.readback.ReadBack`, in its package): 360Learning v1 program sessions by
ID, v2 the sessions of a path, Zoho the sessions of a module, Coursepath the members of a
course. Lists come out as readable text.

``--from-result`` reads back exactly the sessions a run created (the IDs of a result
sheet) and marks every field that differs from what was sent.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pandas as pd

from importer.core.clock import Clock, SystemClock
from importer.core.errors import ConfigurationError
from importer.core.settings import RunSettings
from importer.sending.readback import ReadBack
from importer.vendors.plugin import Plugin

__all__ = ["compare_created", "export_sessions", "flatten"]


def flatten(item: Mapping[str, Any]) -> dict[str, str]:
    """One spreadsheet row from a JSON object: lists as "a; b", objects as compact JSON."""
    row = {}
    for key, value in item.items():
        if isinstance(value, list):
            row[key] = "; ".join(
                v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for v in value
            )
        elif isinstance(value, dict):
            row[key] = json.dumps(value, separators=(",", ":"))
        else:
            row[key] = "" if value is None else str(value)
    return row


def _client(
    settings: RunSettings, given: httpx.Client | None
) -> contextlib.AbstractContextManager[httpx.Client]:
    """The caller's client (left open), or a new one closed after use."""
    if given is not None:
        return contextlib.nullcontext(given)
    return httpx.Client(timeout=settings.timeout)


def _reader(plugin: Plugin) -> ReadBack:
    if plugin.readback is None:
        raise ConfigurationError(f"{plugin.name} gives no way to read its objects back.")
    return plugin.readback


def export_sessions(
    plugin: Plugin,
    settings: RunSettings,
    target: Mapping[str, str],
    *,
    client: httpx.Client | None = None,
    clock: Clock | None = None,
    notify: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Every object the target names, as the vendor's read endpoints return them.

    ``client`` and ``clock``: the HTTP client and the clock to use (new ones by default);
    ``notify``: told what is worth telling (a lock waited out, a paging loop stopped).
    """
    readback = _reader(plugin)
    with _client(settings, client) as http:
        sender = plugin.sender(settings, http, clock or SystemClock(), notify=notify)
        return readback.export(sender, target)


def compare_created(
    plugin: Plugin,
    settings: RunSettings,
    created: Mapping[str, Mapping[str, Any]],
    context: Mapping[str, str],
    *,
    client: httpx.Client | None = None,
    clock: Clock | None = None,
) -> pd.DataFrame:
    """Read back each created object (ID -> what was sent) and mark the fields that differ."""
    readback = _reader(plugin)
    fields = readback.fields
    with _client(settings, client) as http:
        sender = plugin.sender(settings, http, clock or SystemClock())
        found = readback.find(sender, created, context)
    rows = []
    for ident, sent in created.items():
        back = found.get(ident)
        differences = []
        if back is None:
            differences.append("not found at the vendor")
        else:
            for sent_field, read_field in fields.items():
                if sent.get(sent_field) in (None, "") or pd.isna(sent.get(sent_field)):
                    continue
                if str(back.get(read_field, "")) != str(sent[sent_field]):
                    held = back.get(read_field)
                    differences.append(
                        f"{sent_field}: sent {sent[sent_field]!r}, vendor has {held!r}"
                    )
        rows.append(
            {
                "Created ID": ident,
                "Check": "differs" if differences else "same",
                "Differences": "\n".join(differences),
                **flatten(back or {}),
            }
        )
    return pd.DataFrame(rows, dtype="str")
