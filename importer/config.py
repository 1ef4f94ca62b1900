"""Settings of an import run, resolved once: flags > IMPORTER_* environment > job file > defaults.

Credentials come from environment variables (or a job file that names the
variables to read them from), never from the command line, so they stay out of
shell history and process lists. They are held as :class:`~importer.secret.Secret`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer.errors import ConfigurationError
from importer.secret import Secret
from importer.vendors import PLUGINS

__all__ = [
    "VENDOR_OPTIONS",
    "RunSettings",
    "load_job",
    "resolve_settings",
]

#: Choices where a vendor's docs are ambiguous (flags, IMPORTER_<NAME>, or the job file).
VENDOR_OPTIONS = ("zoho_session_data", "v2_marker")


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
        vendor_options: choices where a vendor's docs are ambiguous
            (``zoho_session_data``: ``param`` or ``body``; ``v2_marker``: ``true``).
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


def load_job(path: Path) -> dict[str, Any]:
    """Read a TOML job file (``[job]`` settings and a ``[credentials]`` table)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: no such job file.") from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"{path}: not a valid TOML job file ({error}).") from None
    return data


def resolve_settings(
    vendor: str,
    *,
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    job: Mapping[str, Any] | None = None,
) -> RunSettings:
    """Resolve a run's settings; missing credentials or hosts raise :class:`ConfigurationError`.

    In the job file, ``[credentials]`` maps each variable to the name of another
    environment variable to read it from (``IMPORTER_ZOHO_REFRESH_TOKEN = "ACME_ZOHO_TOKEN"``).
    """
    section = dict((job or {}).get("job", {}))
    indirection = dict((job or {}).get("credentials", {}))

    def pick(name: str, env_name: str | None = None) -> Any:
        if flags.get(name) is not None:
            return flags[name]
        if env_name and env.get(env_name):
            return env[env_name]
        return section.get(name)

    api_host, token_host = PLUGINS[vendor].api_host, PLUGINS[vendor].token_host
    base_url = pick("base_url", "IMPORTER_BASE_URL") or api_host
    # 360Learning serves its tokens from the API host itself (EU or US): the token host
    # follows --base-url unless given. Zoho's accounts server is another host.
    follows = token_host is None or token_host == api_host
    auth_url = pick("auth_url", "IMPORTER_AUTH_URL") or (base_url if follows else token_host)
    if not base_url:
        raise ConfigurationError(
            f"{vendor} needs its API host: give --base-url https://<academy>.coursepath.com "
            "(or IMPORTER_BASE_URL, or base_url in the job file)."
        )
    credentials: dict[str, Secret] = {}
    missing = []
    for name in PLUGINS[vendor].credentials:
        source = str(indirection.get(name, name))
        value = env.get(source, "")
        if value:
            credentials[name] = Secret(value)
        else:
            missing.append(name if source == name else f"{name} (read from {source})")
    if missing:
        raise ConfigurationError(
            f"missing credentials for {vendor}: set the environment variable"
            f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}."
        )
    concurrency = int(pick("concurrency") or 4)
    rate = pick("rate")
    if concurrency < 1:
        raise ConfigurationError("--concurrency must be 1 or more.")
    return RunSettings(
        vendor=vendor,
        base_url=str(base_url),
        auth_url=str(auth_url),
        credentials=credentials,
        concurrency=concurrency,
        rate=float(rate) if rate is not None else None,
        timeout=float(pick("timeout") or 30.0),
        max_tries=int(pick("max_tries") or 5),
        beyond_documented_rate=bool(pick("beyond_documented_rate")),
        vendor_options={
            name: str(value)
            for name in VENDOR_OPTIONS
            if (value := pick(name, f"IMPORTER_{name.upper()}")) is not None
        },
    )
