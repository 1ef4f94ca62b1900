"""A vendor's sender under its pace: the account's schedule and tokens shared through the
store, the client, and their closing: what an import and an undo both send through."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from importer.core.clock import Clock
from importer.core.settings import RunSettings
from importer.sending.ports import Share, Slots
from importer.sending.protocol import Adapter
from importer.sending.sender import Sender
from importer.sending.throttle import Pacer
from importer.sending.transport import run_client
from importer.store import open_store
from importer.vendors.plugin import Plugin

__all__ = ["Paced", "account_label", "journal_name", "paced", "run_share", "schedule_name"]


@dataclass(frozen=True)
class Paced:
    """What :func:`paced` gives: the configured adapter, its pacer, the sender, and the
    account's shared schedule (``None``: this process paces alone)."""

    adapter: Adapter
    pacer: Pacer
    sender: Sender
    shared: Slots | None


def schedule_name(plugin: Plugin, settings: RunSettings) -> str:
    """The account's rate schedule in the store: vendor, host and the credentials' hash (the
    credentials themselves are never written)."""
    identity = "|".join(s.reveal() for s in settings.credentials.values())
    digest = hashlib.sha256(identity.encode()).hexdigest()
    return f"{plugin.name}|{settings.base_url}|{digest}"


def account_label(plugin: Plugin, settings: RunSettings) -> str:
    """The account as ``status`` and the page show a run on it: the vendor and the API
    host (never the credentials, nor a user or password written in the URL)."""
    parts = urlsplit(settings.base_url)
    host = parts.hostname or settings.base_url
    where = f"{host}:{parts.port}" if parts.port else host
    return f"{plugin.name} at {where}{parts.path.rstrip('/')}"


def journal_name(path: Path | str) -> str:
    """A journal as a run on the account names it (:attr:`Share.journal`): a file's absolute
    path, a store's journal name."""
    return str(path.resolve()) if isinstance(path, Path) else str(path)


def run_share(
    settings: RunSettings,
    rows: int,
    run: str,
    *,
    who: str | None = None,
    journal: str = "",
    run_id: int | None = None,
) -> Share:
    """How a run of ``rows`` rows to send takes turns on its account: as ``settings.priority``
    says, else interactive with at most ``settings.interactive_rows`` rows (a coordinator's
    few corrected sessions), batch above (a backfill). ``run``: what it is, ``who`` started
    it, its ``journal`` and ``run_id`` there: for ``status`` and the page
    (:meth:`~importer.sending.ports.Slots.sharing`)."""
    interactive = (
        settings.priority == "interactive"
        if settings.priority is not None
        else rows <= settings.interactive_rows
    )
    return Share(run, interactive, who=who, journal=journal, run_id=run_id)


@contextlib.contextmanager
def paced(
    plugin: Plugin,
    settings: RunSettings,
    clock: Clock,
    *,
    client: httpx.Client | None = None,
    shared_budget: bool = True,
    notify: Callable[[str], None] | None = None,
    share: Share | None = None,
) -> Iterator[Paced]:
    """A sender for ``plugin`` at its pace under ``settings``' ceiling.

    With ``shared_budget``, the pace and the tokens are shared with every importer process
    using the same store (``settings.store``: PostgreSQL for many hosts, else this
    machine's files), and ``share`` says how this run takes turns with the others on the
    account (default: a batch run; see :func:`run_share`). ``client``: the caller's HTTP
    client (left open); else one is made for the run and closed after it, as the schedule,
    the tokens and the store are.
    """
    adapter = plugin.wire.configured(settings.vendor_options)
    store = open_store(settings.store) if shared_budget else None
    shared: Slots | None = None
    tokens = None
    try:
        if store is not None:
            tokens = store.tokens(clock)
            if adapter.rate.rate:
                shared = store.slots(schedule_name(plugin, settings), clock)
                if share is not None:
                    shared.join(dataclasses.replace(share, account=account_label(plugin, settings)))
        pacer = Pacer(
            adapter.rate.capped(settings.rate, settings.beyond_documented_rate), clock, shared
        )
        http, transport = (
            (client, None)
            if client is not None
            else run_client(settings.base_url, settings.timeout)
        )
        try:
            sender = plugin.sender(
                settings, http, clock, pacer, notify, tokens, transport, adapter=adapter
            )
            yield Paced(adapter, pacer, sender, shared)
        finally:
            if client is None:
                http.close()
    finally:
        for closing in (shared, tokens, store):
            if closing is not None:
                closing.close()
