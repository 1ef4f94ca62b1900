"""The accounts a server imports into, configured by whoever runs it; never by the page.

An accounts file (``--config accounts.toml``) lists them::

    [[account]]
    name = "Acme 360Learning"
    vendor = "360learning-v2"
    timezone = "Europe/Paris"
    base_url = "https://app.360learning.com"     # optional: the vendor's real host
    key = "Ref"                                  # optional: the column identifying a row

    [account.credentials]       # our variable = the environment variable holding it
    IMPORTER_360L_CLIENT_ID = "ACME_360_CLIENT_ID"
    IMPORTER_360L_CLIENT_SECRET = "ACME_360_CLIENT_SECRET"

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
from importer.vendors import REGISTRY
from importer.vendors import plugin as plugin_named
from importer.vendors.plugin import Plugin

__all__ = ["Account", "load_accounts", "sandbox_accounts"]


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


def load_accounts(path: Path) -> list[Account]:
    """Read an accounts file; a clear :class:`ConfigurationError` for anything wrong in it."""
    data = read_toml(path, "accounts file")
    entries = data.get("account")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{path}: no [[account]] table; see docs/web.md.")
    accounts = [_account(path, number, entry) for number, entry in enumerate(entries, 1)]
    slugs = [account.slug for account in accounts]
    if len(set(slugs)) != len(slugs):
        raise ConfigurationError(f"{path}: two accounts have the same name.")
    return accounts


def _account(path: Path, number: int, entry: Any) -> Account:
    where = f"{path}, account {number}"
    if not isinstance(entry, dict) or not entry.get("name") or not entry.get("vendor"):
        raise ConfigurationError(f"{where}: give at least name and vendor.")
    if entry["vendor"] not in REGISTRY:
        raise ConfigurationError(
            f"{where}: unknown vendor {entry['vendor']!r}; one of: {', '.join(REGISTRY)}."
        )
    credentials = entry.get("credentials", {})
    if not isinstance(credentials, dict):
        raise ConfigurationError(f"{where}: credentials must be a table of variable names.")
    return Account(
        name=str(entry["name"]),
        vendor=str(entry["vendor"]),
        timezone=str(entry["timezone"]) if entry.get("timezone") else None,
        base_url=entry.get("base_url"),
        auth_url=entry.get("auth_url"),
        key=entry.get("key"),
        credentials={str(k): str(v) for k, v in credentials.items()},
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
