"""The settings of one import run, as a value: hosts, credentials, pace, where state is shared.

Resolved once from flags, the environment and the job file by
:func:`importer.jobs.config.resolve_settings`; everything below takes them as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from importer.core.secret import Secret

__all__ = ["RunSettings"]


@dataclass(frozen=True)
class RunSettings:
    """Everything an import run needs besides the sheet.

    Attributes:
        vendor: the vendor's name.
        base_url: the vendor's API host.
        auth_url: the token host (360Learning v2, Zoho).
        credentials: by environment variable name.
        concurrency: requests in flight at most (capped by what the vendor allows).
        rate: calls per second at most, overriding the vendor's default ceiling.
        timeout: seconds to wait for an answer.
        max_tries: tries per call for retryable failures.
        beyond_documented_rate: let ``rate`` go above the vendor's documented limit.
        vendor_options: choices where a vendor's docs are ambiguous, by name, as text: the
            options its declarations name (:class:`importer.vendors.declarations.Option`).
        store: where journals, locks, the rate schedule and tokens are shared
            (``postgresql://…`` for several hosts; ``None``: this machine's SQLite files).
        account_fields: the credentials that tell accounts apart on one host (the
            vendor's declaration, copied here when the settings are resolved).
        priority: how the run takes turns with other runs on the account (issue 25):
            ``"interactive"`` (someone waits for it: the page's runs), ``"batch"``, or
            ``None``: interactive when it has at most ``interactive_rows`` rows to send.
        interactive_rows: the most rows to send of a run counted interactive by its size.
    """

    vendor: str
    base_url: str
    auth_url: str
    credentials: Mapping[str, Secret] = field(repr=False)
    concurrency: int = 4
    rate: float | None = None
    timeout: float = 30.0
    max_tries: int = 5
    beyond_documented_rate: bool = False
    vendor_options: Mapping[str, str] = field(default_factory=dict)
    store: str | None = field(default=None, repr=False)  # a URL may hold a password
    account_fields: tuple[str, ...] = ()
    priority: str | None = None
    interactive_rows: int = 50

    @property
    def account(self) -> str | None:
        """What identifies the account on its host (``None``: credentials not given)."""
        names = self.account_fields
        if any(name not in self.credentials for name in names):
            return None
        return "|".join(self.credentials[name].reveal() for name in names)
