"""The accounts a server imports into, configured by whoever runs it; never by the page.

An accounts file (``--config accounts.toml``) lists them::

    [[account]]
    name = "Acme 360Learning"
    vendor = "360learning-v2"
    timezone = "Europe/Paris"
    base_url = "https://app.360learning.com"     # optional: the vendor's real host
    key = "Ref"                                  # optional: the column identifying a row

    users = ["ana@acme.example", "group:trainers"]   # optional: who may use it (default: all)
    managers = ["group:training-leads"]   # optional: may undo and update others' runs here
    private_runs = false                  # optional: true, each sees only their own runs here

    [account.credentials]       # our variable = the environment variable holding it
    IMPORTER_360L_CLIENT_ID = "ACME_360_CLIENT_ID"
    IMPORTER_360L_CLIENT_SECRET = "ACME_360_CLIENT_SECRET"

and, at the top of the file, before any table, who sees and manages everything::

    admins = ["it-ops@acme.example", "group:importer-admins"]

and, anywhere, how the person who started a run is told its result by email when it ends
(:mod:`importer.jobs.notify`; the page writes to the user's sign-in name when it is an email
address)::

    [notify]
    host = "smtp.acme.example"
    user = "importer@acme.example"
    password_env = "SMTP_PASSWORD"
    from = "Session importer <importer@acme.example>"

Who may touch what is :mod:`importer.web.access`'s; users, managers and admins need a sign-in
that names the user (``--auth proxy`` or ``oidc``), checked when the server starts.

Settings are resolved by :func:`importer.jobs.config.resolve_settings`, as ``run --config`` does;
the page only ever shows an account's name, vendor, host and time zone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer.core.errors import ConfigurationError
from importer.core.settings import RunSettings
from importer.jobs.config import JobFile, RunFlags, read_toml, resolve_settings
from importer.jobs.notify import NotifySettings, notify_settings
from importer.vendors import REGISTRY
from importer.vendors import plugin as plugin_named
from importer.vendors.plugin import Plugin

__all__ = ["Account", "AccountsFile", "load_accounts", "sandbox_accounts"]


@dataclass(frozen=True)
class Account:
    """One account the page can import into.

    Attributes:
        name: what coordinators see.
        vendor: the vendor's name.
        timezone: IANA zone of dates typed without one (``None``: not given, so a sheet
            whose times have no zone is refused, as ``run`` refuses it without --timezone).
        base_url: the vendor's API host (``None``: the vendor's real host).
        auth_url: the token host, where separate.
        key: the sheet column identifying a row across runs (``None``: the row's content).
        credentials: our variable -> the environment variable to read it from.
        env: extra environment (the embedded sandbox's own test credentials).
        sandbox: whether this is an account of the embedded sandbox.
        users: who may use it: user names and ``group:NAME`` entries (``None``: every
            signed-in user).
        managers: who may undo and update the runs of others in it (besides admins).
        private_runs: each user sees only their own runs of it (admins see all).
    """

    name: str
    vendor: str
    timezone: str | None = None
    base_url: str | None = None
    auth_url: str | None = None
    key: str | None = None
    credentials: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    sandbox: bool = False
    users: tuple[str, ...] | None = None
    managers: tuple[str, ...] = ()
    private_runs: bool = False
    #: The vendor's plugin, looked up once, when the account is made: passed down from here.
    plugin: Plugin = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plugin", plugin_named(self.vendor))

    @property
    def slug(self) -> str:
        """A file-name-safe identifier (the journal's name)."""
        return re.sub(r"[^a-z0-9]+", "-", self.name.casefold()).strip("-") or "account"

    @property
    def host(self) -> str:
        """The API host imports go to (the vendor's real one unless configured)."""
        return self.base_url or self.plugin.api_host or "(base_url missing)"

    @property
    def title(self) -> str:
        """The vendor's title."""
        return self.plugin.schema.title

    def settings(self) -> RunSettings:
        """The run settings, credentials read from the environment now (never stored)."""
        flags = RunFlags(base_url=self.base_url, auth_url=self.auth_url)
        env = {**os.environ, **self.env}
        return resolve_settings(
            self.plugin, flags=flags, env=env, job=JobFile(credentials=dict(self.credentials))
        )


@dataclass(frozen=True)
class AccountsFile:
    """What an accounts file says: its accounts, who administers the page, and how a run's
    result is emailed to whoever started it (``notify``; ``None``: it is not)."""

    accounts: list[Account]
    admins: tuple[str, ...] = ()
    notify: NotifySettings | None = None


def load_accounts(path: Path) -> AccountsFile:
    """Read an accounts file; a clear :class:`ConfigurationError` for anything wrong in it."""
    data = read_toml(path, "accounts file")
    entries = data.get("account")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{path}: no [[account]] table; see docs/web.md.")
    known = {"account", "admins", "notify"}
    if unknown := sorted(set(data) - known):
        raise ConfigurationError(
            f"{path}: unknown setting {unknown[0]!r} at the top (admins, a [notify] table, or "
            "[[account]] tables; an account's settings go under its [[account]])."
        )
    notify = notify_settings(data["notify"], path, job=False) if "notify" in data else None
    accounts = [_account(path, number, entry) for number, entry in enumerate(entries, 1)]
    slugs = [account.slug for account in accounts]
    if len(set(slugs)) != len(slugs):
        raise ConfigurationError(f"{path}: two accounts have the same name.")
    admins = _names(data.get("admins"), f"{path}: admins") or ()
    return AccountsFile(accounts, admins, notify)


def _names(given: Any, where: str) -> tuple[str, ...] | None:
    """A list of user names and ``group:NAME`` entries (``None`` when not given)."""
    if given is None:
        return None
    if not isinstance(given, list) or not all(isinstance(n, str) and n.strip() for n in given):
        raise ConfigurationError(
            f'{where} must be a list of user names or "group:NAME" entries, '
            'e.g. ["ana@acme.example", "group:trainers"].'
        )
    names = tuple(name.strip() for name in given)
    if bad := [name for name in names if name.startswith("group:") and not name[6:].strip()]:
        raise ConfigurationError(f"{where}: {bad[0]!r} names no group.")
    return names


_ACCOUNT_KEYS = frozenset(
    {"name", "vendor", "timezone", "base_url", "auth_url", "key", "credentials", "users",
     "managers", "private_runs"}
)  # fmt: skip


def _account(path: Path, number: int, entry: Any) -> Account:
    where = f"{path}, account {number}"
    if not isinstance(entry, dict) or not entry.get("name") or not entry.get("vendor"):
        raise ConfigurationError(f"{where}: give at least name and vendor.")
    if unknown := sorted(set(entry) - _ACCOUNT_KEYS):  # a typo (user = [...]) opens nothing
        raise ConfigurationError(
            f"{where}: unknown setting {unknown[0]!r}; an account takes "
            f"{', '.join(sorted(_ACCOUNT_KEYS))}."
        )
    if entry["vendor"] not in REGISTRY:
        raise ConfigurationError(
            f"{where}: unknown vendor {entry['vendor']!r}; one of: {', '.join(REGISTRY)}."
        )
    credentials = entry.get("credentials", {})
    if not isinstance(credentials, dict):
        raise ConfigurationError(f"{where}: credentials must be a table of variable names.")
    private = entry.get("private_runs", False)
    if not isinstance(private, bool):
        raise ConfigurationError(f"{where}: private_runs must be true or false.")
    return Account(
        name=str(entry["name"]),
        vendor=str(entry["vendor"]),
        timezone=str(entry["timezone"]) if entry.get("timezone") else None,
        base_url=entry.get("base_url"),
        auth_url=entry.get("auth_url"),
        key=entry.get("key"),
        credentials={str(k): str(v) for k, v in credentials.items()},
        users=_names(entry.get("users"), f"{where}: users"),
        managers=_names(entry.get("managers"), f"{where}: managers") or (),
        private_runs=private,
    )


def sandbox_accounts(endpoints: Mapping[str, Mapping[str, Any]]) -> list[Account]:
    """One account per vendor of the embedded sandbox (``describe()``'s output)."""
    return [
        Account(
            name=f"Sandbox {vendor}",
            vendor=vendor,
            timezone="Europe/Paris",
            base_url=str(info["base_url"]),
            auth_url=str(info["auth_url"] or info["base_url"]),
            env=dict(info["env"]),
            sandbox=True,
        )
        for vendor, info in endpoints.items()
    ]
