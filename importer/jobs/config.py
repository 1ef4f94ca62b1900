"""Settings of an import run, resolved once: flags > IMPORTER_* environment > job file > defaults.

Credentials come from environment variables (or a job file that names the
variables to read them from), never from the command line, so they stay out of
shell history and process lists. They are held as :class:`~importer.core.secret.Secret`.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from importer.core.errors import ConfigurationError
from importer.core.hosts import is_local
from importer.core.secret import Secret
from importer.core.settings import RunSettings
from importer.vendors.plugin import Plugin

__all__ = [
    "JOB_KEYS",
    "VENDOR_OPTIONS",
    "check_url",
    "load_job",
    "read_toml",
    "resolve_settings",
    "sheet_defaults",
]

#: Choices where a vendor's docs are ambiguous (flags, IMPORTER_<NAME>, or the job file).
VENDOR_OPTIONS = ("zoho_session_data", "v2_marker")


#: The keys of a job file's [job] table, with their types. Paths are read relative to the
#: job file (cron runs from $HOME, not from where the job file is).
JOB_KEYS: dict[str, tuple[type, ...]] = {
    "vendor": (str,),
    "input": (str,),
    "output": (str,),
    "journal": (str,),
    "log": (str,),
    "timezone": (str,),
    "date_order": (str,),
    "key": (str,),
    "path_id": (str,),
    "sheet": (str,),
    "settle": (int, float),
    "base_url": (str,),
    "auth_url": (str,),
    "concurrency": (int,),
    "rate": (int, float),
    "timeout": (int, float),
    "max_tries": (int,),
    "beyond_documented_rate": (bool,),
    "allow_http": (bool,),
    "zoho_session_data": (str,),
    "v2_marker": (bool, str),
    "store": (str,),  # issue 14: postgresql://… shared by many hosts
    "mode": (str,),  # issue 16: "create" (default) or "sync" (as run --update)
    "guard_share": (int, float),  # issue 16: the mass-change guard's percent
    "guard_rows": (int,),  # issue 16: the mass-change guard's rows
}
_JOB_PATHS = ("input", "output", "journal", "log")
_LOWEST = {"concurrency": 1, "max_tries": 1, "guard_rows": 0, "guard_share": 0, "settle": 0}
_ABOVE_ZERO = ("rate", "timeout")


def _closest(name: str, known: list[str]) -> str:

    found = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f"; did you mean {found[0]!r}?" if found else f" (known: {', '.join(known)})."


def sheet_defaults(args: Any, vendor: Any) -> dict[str, str] | None:
    """Values given once for the whole sheet (``--path-id``), for the vendors they apply to."""
    if not getattr(args, "path_id", None):
        return None
    if "pathId" not in {f.name for f in vendor.fields}:
        raise ConfigurationError(f"--path-id does not apply to {vendor.name}.")
    return {"pathId": args.path_id}


def check_url(url: str, what: str, allow_http: bool = False) -> None:
    """A vendor host must be https (plain http only to this machine, or with ``allow_http``).

    Raises:
        ConfigurationError: not a web address, another scheme, or http to another host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{what} {url!r} is not a web address: give it like https://people.zoho.eu."
        )
    if parts.scheme == "http" and not allow_http and not is_local(url):
        raise ConfigurationError(
            f"{what} {url!r} is plain http: credentials would travel unencrypted. Use https "
            "(or --allow-http for a test proxy)."
        )


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's tables; one plain :class:`ConfigurationError` line when it cannot be read."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: no such {what}.") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"{path}: not a valid TOML {what} ({error}).") from None


def load_job(path: Path, plugins: Mapping[str, Plugin]) -> dict[str, Any]:
    """Read a TOML job file and check it against its schema (``plugins``: the vendors it may
    name, by name: the registry).

    Unknown sections and keys are refused with the closest valid name (a typo such as
    ``time_zone`` must not silently run with defaults); values are type- and
    range-checked; relative paths become paths relative to the job file's folder.

    Raises:
        ConfigurationError: the file is missing, not TOML, or not a valid job file.
    """
    data = read_toml(path, "job file")
    for section, value in data.items():
        if section not in ("job", "credentials"):
            raise ConfigurationError(
                f"{path}: unknown section [{section}]{_closest(section, ['job', 'credentials'])}"
            )
        if not isinstance(value, dict):
            raise ConfigurationError(f"{path}: {section} must be a [{section}] table.")
    job: dict[str, Any] = dict(data.get("job", {}))
    for key, value in job.items():
        if key not in JOB_KEYS:
            raise ConfigurationError(
                f"{path}: unknown key {key!r} in [job]{_closest(key, list(JOB_KEYS))}"
            )
        types = JOB_KEYS[key]
        if isinstance(value, bool) or not isinstance(value, types):
            kind = "a number" if str not in types else "text in quotes"
            raise ConfigurationError(f"{path}: [job] {key} must be {kind}, not {value!r}.")
        number: Any = value
        if key in _LOWEST and number < _LOWEST[key]:
            raise ConfigurationError(f"{path}: [job] {key} must be {_LOWEST[key]} or more.")
        if key in _ABOVE_ZERO and not number > 0:
            raise ConfigurationError(f"{path}: [job] {key} must be above 0.")
    _check_job_values(path, job, plugins)
    for key in _JOB_PATHS:
        if key in job:
            job[key] = str((path.parent / Path(job[key]).expanduser()).resolve())
    known = sorted({name for p in plugins.values() for name in p.credentials})
    credentials = dict(data.get("credentials", {}))
    for key, value in credentials.items():
        if key not in known:
            raise ConfigurationError(
                f"{path}: unknown credential {key!r} in [credentials]{_closest(key, known)}"
            )
        if not isinstance(value, str) or not value:
            raise ConfigurationError(
                f"{path}: [credentials] {key} must name an environment variable, in quotes."
            )
    vendor = job.get("vendor")
    if vendor is not None:
        wrong = [k for k in credentials if k not in plugins[vendor].credentials]
        if wrong:
            raise ConfigurationError(
                f"{path}: [credentials] {wrong[0]} is not a credential of {vendor} "
                f"(its credentials: {', '.join(plugins[vendor].credentials)})."
            )
    return {"job": job, "credentials": credentials}


def _check_job_values(path: Path, job: Mapping[str, Any], plugins: Mapping[str, Plugin]) -> None:
    """The [job] values that must be one of a list, a real time zone or a web address."""

    vendor = job.get("vendor")
    if vendor is not None and vendor not in plugins:
        raise ConfigurationError(
            f"{path}: [job] vendor {vendor!r} is not a vendor{_closest(vendor, list(plugins))}"
        )
    if job.get("mode", "create") not in ("create", "sync"):
        raise ConfigurationError(f'{path}: [job] mode must be "create" or "sync".')
    if job.get("date_order", "DMY").upper() not in ("DMY", "MDY"):
        raise ConfigurationError(f'{path}: [job] date_order must be "DMY" or "MDY".')
    if "timezone" in job:
        try:
            ZoneInfo(job["timezone"])
        except (ValueError, KeyError, OSError):
            raise ConfigurationError(
                f"{path}: [job] timezone {job['timezone']!r} is not an IANA time zone "
                '(e.g. "Europe/Paris").'
            ) from None
    for key in ("base_url", "auth_url"):
        if key in job:
            parts = urlsplit(job[key])
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigurationError(
                    f"{path}: [job] {key} {job[key]!r} is not a web address (https://...)."
                )


def resolve_settings(
    plugin: Plugin,
    *,
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    job: Mapping[str, Any] | None = None,
    require_credentials: bool = True,
) -> RunSettings:
    """Resolve a run's settings; missing credentials or hosts raise :class:`ConfigurationError`.

    With ``require_credentials`` false (a dry run), missing credentials are left out.

    In the job file, ``[credentials]`` maps each variable to the name of another
    environment variable to read it from (``IMPORTER_ZOHO_REFRESH_TOKEN = "ACME_ZOHO_TOKEN"``).
    """
    vendor = plugin.name
    section = dict((job or {}).get("job", {}))
    indirection = dict((job or {}).get("credentials", {}))

    def pick(name: str, env_name: str | None = None) -> Any:
        if flags.get(name) is not None:
            return flags[name]
        if env_name and env.get(env_name):
            return env[env_name]
        return section.get(name)

    api_host, token_host = plugin.api_host, plugin.token_host
    base_url = pick("base_url", "IMPORTER_BASE_URL") or api_host
    # 360Learning serves its tokens from the API host itself (EU or US): the token host
    # follows --base-url unless given. Zoho's accounts server is another host.
    follows = token_host is None or token_host == api_host
    auth_url = pick("auth_url", "IMPORTER_AUTH_URL") or (base_url if follows else token_host)
    allow_http = bool(pick("allow_http"))
    for what, url in (("base_url", base_url), ("auth_url", auth_url)):
        if url:
            check_url(str(url), what, allow_http)
    if not base_url:
        raise ConfigurationError(
            f"{vendor} needs its API host: give --base-url https://<academy>.coursepath.com "
            "(or IMPORTER_BASE_URL, or base_url in the job file)."
        )
    credentials: dict[str, Secret] = {}
    missing = []
    for name in plugin.credentials:
        source = str(indirection.get(name, name))
        value = env.get(source, "")
        if value:
            credentials[name] = Secret(value)
        else:
            missing.append(name if source == name else f"{name} (read from {source})")
    if missing and require_credentials:
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
        account_fields=plugin.account_fields,
        base_url=str(base_url),
        auth_url=str(auth_url),
        credentials=credentials,
        concurrency=concurrency,
        rate=float(rate) if rate is not None else None,
        timeout=float(pick("timeout") or 30.0),
        max_tries=int(pick("max_tries") or 5),
        beyond_documented_rate=bool(pick("beyond_documented_rate")),
        store=pick("store", "IMPORTER_STORE") or None,
        vendor_options={
            name: str(value)
            for name in VENDOR_OPTIONS
            if (value := pick(name, f"IMPORTER_{name.upper()}")) is not None
        },
    )
