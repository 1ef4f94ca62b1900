"""Settings of an import run, resolved once: flags > IMPORTER_* environment > job file > defaults.

Credentials come from environment variables (or a job file that names the
variables to read them from), never from the command line, so they stay out of
shell history and process lists. They are held as :class:`~importer.core.secret.Secret`.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from importer.core.errors import ConfigurationError
from importer.core.hosts import is_local
from importer.core.secret import Secret
from importer.core.settings import RunSettings
from importer.jobs.notify import NotifySettings, notify_settings
from importer.sheet.schema import Vendor
from importer.vendors import declarations
from importer.vendors.declarations import SheetDefault
from importer.vendors.plugin import Plugin

__all__ = [
    "JOB_KEYS",
    "JobFile",
    "RunFlags",
    "check_url",
    "chosen_columns",
    "job_keys",
    "load_job",
    "parse_map",
    "read_toml",
    "resolve_settings",
    "sheet_default_keys",
    "sheet_defaults",
]

_T = TypeVar("_T")

#: The keys of a job file's [job] table every vendor takes, with their types (a vendor's own
#: keys are its declared options and sheet defaults: :func:`job_keys`). Paths are read
#: relative to the job file (cron runs from $HOME, not from where the job file is).
JOB_KEYS: dict[str, tuple[type, ...]] = {
    "vendor": (str,),
    "input": (str,),
    "output": (str,),
    "journal": (str,),
    "log": (str,),
    "timezone": (str,),
    "date_order": (str,),
    "key": (str,),
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
    "store": (str,),  # issue 14: postgresql://… shared by many hosts
    "mode": (str,),  # issue 16: "create" (default) or "sync" (as run --update)
    "guard_share": (int, float),  # issue 16: the mass-change guard's percent
    "guard_rows": (int,),  # issue 16: the mass-change guard's rows
}
_JOB_PATHS = ("input", "output", "journal", "log")
_LOWEST = {"concurrency": 1, "max_tries": 1, "guard_rows": 0, "guard_share": 0, "settle": 0}
_ABOVE_ZERO = ("rate", "timeout")
#: How a web address is written, for a message about one that is not (no vendor known).
_EXAMPLE_URL = "https://api.example.com"


@dataclass(frozen=True)
class JobFile:
    """A job file, checked: its ``[job]`` values and its ``[credentials]`` indirection.

    Attributes:
        vendor ... guard_rows: the ``[job]`` keys every vendor takes (see :data:`JOB_KEYS`;
            paths already relative to the job file's folder), ``None`` where not given.
        vendor_values: the ``[job]`` keys vendors declare (their options and sheet
            defaults: :func:`job_keys`), as text, by key.
        credentials: credential -> the environment variable to read it from
            (``IMPORTER_ZOHO_REFRESH_TOKEN = "ACME_ZOHO_TOKEN"`` reads the token from
            ``$ACME_ZOHO_TOKEN``).
        notify: the ``[notify]`` table: who is told of the run's result by email, and how
            (``None``: nobody).
    """

    vendor: str | None = None
    input: Path | None = None
    output: Path | None = None
    journal: Path | None = None
    log: Path | None = None
    timezone: str | None = None
    date_order: str | None = None
    key: str | None = None
    sheet: str | None = None
    settle: float | None = None
    base_url: str | None = None
    auth_url: str | None = None
    concurrency: int | None = None
    rate: float | None = None
    timeout: float | None = None
    max_tries: int | None = None
    beyond_documented_rate: bool | None = None
    allow_http: bool | None = None
    store: str | None = None
    mode: Literal["create", "sync"] = "create"
    guard_share: float | None = None
    guard_rows: int | None = None
    vendor_values: Mapping[str, str] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=dict)
    columns: Mapping[str, str] = field(default_factory=dict)
    notify: NotifySettings | None = None

    @classmethod
    def of(cls, tables: Mapping[str, object]) -> JobFile:
        """A job file from its tables as TOML gives them (``{"job": {...}, "credentials":
        {...}}``), taken as they are: :func:`load_job` checks them first."""
        job = _table(tables.get("job"))
        return cls(
            vendor=_text(job.get("vendor")),
            input=_path(job.get("input")),
            output=_path(job.get("output")),
            journal=_path(job.get("journal")),
            log=_path(job.get("log")),
            timezone=_text(job.get("timezone")),
            date_order=_text(job.get("date_order")),
            key=_text(job.get("key")),
            sheet=_text(job.get("sheet")),
            settle=_number(job.get("settle")),
            base_url=_text(job.get("base_url")),
            auth_url=_text(job.get("auth_url")),
            concurrency=_whole(job.get("concurrency")),
            rate=_number(job.get("rate")),
            timeout=_number(job.get("timeout")),
            max_tries=_whole(job.get("max_tries")),
            beyond_documented_rate=_flag(job.get("beyond_documented_rate")),
            allow_http=_flag(job.get("allow_http")),
            store=_text(job.get("store")),
            mode="sync" if job.get("mode") == "sync" else "create",
            guard_share=_number(job.get("guard_share")),
            guard_rows=_whole(job.get("guard_rows")),
            vendor_values={
                k: str(v) for k, v in job.items() if k not in JOB_KEYS and v is not None
            },
            credentials={k: str(v) for k, v in _table(tables.get("credentials")).items()},
            columns={k: str(v) for k, v in _table(tables.get("columns")).items()},
        )

    def sheet_value(self, key: str) -> str | None:
        """A sheet setting of the job file by its key: ``timezone``, ``date_order``, ``key``,
        ``sheet``, or a vendor's sheet default (``path_id``)."""
        generic = {
            "timezone": self.timezone,
            "date_order": self.date_order,
            "key": self.key,
            "sheet": self.sheet,
        }
        return generic[key] if key in generic else self.vendor_values.get(key)


@dataclass(frozen=True)
class RunFlags:
    """What the command line (or a caller of the API) gives for a run's settings; ``None``:
    not given, so the environment, then the job file, then the default is used.

    Attributes:
        options: the vendors' declared options given (``--zoho-session-data body``), as
            text, by name.
    """

    base_url: str | None = None
    auth_url: str | None = None
    allow_http: bool | None = None
    concurrency: int | None = None
    rate: float | None = None
    timeout: float | None = None
    max_tries: int | None = None
    beyond_documented_rate: bool | None = None
    store: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, flags: Mapping[str, object]) -> RunFlags:
        """Flags by name (``{"base_url": ..., "concurrency": 1, "zoho_session_data": "body"}``):
        a name that is not a setting is a vendor option."""
        known = set(cls.__dataclass_fields__) - {"options"}
        return cls(
            base_url=_text(flags.get("base_url")),
            auth_url=_text(flags.get("auth_url")),
            allow_http=_flag(flags.get("allow_http")),
            concurrency=_whole(flags.get("concurrency")),
            rate=_number(flags.get("rate")),
            timeout=_number(flags.get("timeout")),
            max_tries=_whole(flags.get("max_tries")),
            beyond_documented_rate=_flag(flags.get("beyond_documented_rate")),
            store=_text(flags.get("store")),
            options={k: str(v) for k, v in flags.items() if k not in known and v is not None},
        )


def _table(value: object) -> dict[str, object]:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _path(value: object) -> Path | None:
    return None if value is None else Path(str(value))


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float | str) else None


def _whole(value: object) -> int | None:
    return int(value) if isinstance(value, int | float | str) else None


def _flag(value: object) -> bool | None:
    return None if value is None else bool(value)


def _first(*values: _T | None) -> _T | None:
    """The first value given (not ``None``)."""
    return next((value for value in values if value is not None), None)


def job_keys(plugins: Mapping[str, Plugin]) -> dict[str, tuple[type, ...]]:
    """Every key a job file's [job] table takes, with its types: :data:`JOB_KEYS`, then the
    options and sheet defaults the vendors of ``plugins`` declare."""
    keys = dict(JOB_KEYS)
    for chosen in plugins.values():
        keys.update({option.name: option.job_types for option in chosen.declared.options})
        keys.update({default.key: (str,) for default in chosen.declared.sheet_defaults})
    return keys


def _sheet_defaults() -> dict[str, SheetDefault]:
    """Every vendor's sheet defaults, by key (the first declaration of a key)."""
    found: dict[str, SheetDefault] = {}
    for declared in declarations().values():
        for default in declared.sheet_defaults:
            found.setdefault(default.key, default)
    return found


def sheet_default_keys() -> tuple[str, ...]:
    """The keys of every vendor's sheet defaults (``path_id``): job keys, flags' ``dest``,
    and names in the journal's run settings."""
    return tuple(_sheet_defaults())


def _closest(name: str, known: list[str]) -> str:

    found = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f"; did you mean {found[0]!r}?" if found else f" (known: {', '.join(known)})."


def sheet_defaults(given: Mapping[str, str | None], vendor: Vendor) -> dict[str, str] | None:
    """Values given once for the whole sheet (a vendor's declared flags, e.g. ``--path-id``),
    by their key (``path_id``), as field -> value; a value for a vendor that has no such
    field is a :class:`ConfigurationError`."""
    found: dict[str, str] = {}
    names = {f.name for f in vendor.fields}
    for key, default in _sheet_defaults().items():
        value = given.get(key)
        if not value:
            continue
        if default.field not in names:
            raise ConfigurationError(f"{default.flag} does not apply to {vendor.name}.")
        found[default.field] = value
    return found or None


def check_url(url: str, what: str, allow_http: bool = False, example: str = _EXAMPLE_URL) -> None:
    """A vendor host must be https (plain http only to this machine, or with ``allow_http``);
    ``example``: how one is written, for the message.

    Raises:
        ConfigurationError: not a web address, another scheme, or http to another host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{what} {url!r} is not a web address: give it like {example}.")
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


#: The tables of a job file: the run's settings, where its credentials are, and the sheet's
#: columns chosen by hand (header = field, as ``--map``), and who is told when a run ends.
_SECTIONS = ("job", "credentials", "columns", "notify")


def parse_map(given: Sequence[str]) -> dict[str, str]:
    """``--map "HEADER=FIELD"`` values as header -> field text (the last ``=`` splits them).

    Raises:
        ConfigurationError: one without ``=``, or with nothing on one side.
    """
    found: dict[str, str] = {}
    for text in given:
        header, sep, named = text.rpartition("=")
        if not sep or not header.strip() or not named.strip():
            example = '--map "Formateur (ID)=Trainer erecno"'
            raise ConfigurationError(f"--map {text!r}: write it HEADER=FIELD, e.g. {example}.")
        found[header.strip()] = named.strip()
    return found


def chosen_columns(schema: Vendor, given: Mapping[str, str], where: str) -> dict[str, str]:
    """Header -> field text (``--map``, a job's ``[columns]``) as field name -> header.

    Raises:
        ConfigurationError: a field the vendor does not have, or two headers for one field.
    """
    from importer.sheet.headers import field_named

    chosen: dict[str, str] = {}
    for header, text in given.items():
        name = field_named(schema, text)
        if name is None:
            labels = ", ".join(f.label for f in schema.fields)
            raise ConfigurationError(
                f"{where}: {text!r} is not a column of {schema.title}; one of: {labels}."
            )
        if name in chosen:
            raise ConfigurationError(
                f"{where}: {chosen[name]!r} and {header!r} are both given for "
                f"{schema.field(name).label!r}."
            )
        chosen[name] = header
    return chosen


def load_job(path: Path, plugins: Mapping[str, Plugin]) -> JobFile:
    """Read a TOML job file and check it against its schema (``plugins``: the vendors it may
    name, by name: the registry; their declared options and sheet defaults are keys too).

    Unknown sections and keys are refused with the closest valid name (a typo such as
    ``time_zone`` must not silently run with defaults); values are type- and
    range-checked; relative paths become paths relative to the job file's folder.

    Raises:
        ConfigurationError: the file is missing, not TOML, or not a valid job file.
    """
    data = read_toml(path, "job file")
    tables: dict[str, dict[str, object]] = {}
    for section, value in data.items():
        if section not in _SECTIONS:
            raise ConfigurationError(
                f"{path}: unknown section [{section}]{_closest(section, list(_SECTIONS))}"
            )
        if not isinstance(value, dict):
            raise ConfigurationError(f"{path}: {section} must be a [{section}] table.")
        tables[section] = dict(value)
    job = tables.get("job", {})
    keys = job_keys(plugins)
    for key, value in job.items():
        if key not in keys:
            raise ConfigurationError(
                f"{path}: unknown key {key!r} in [job]{_closest(key, list(keys))}"
            )
        types = keys[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            kind = "a number" if str not in types else "text in quotes"
            raise ConfigurationError(f"{path}: [job] {key} must be {kind}, not {value!r}.")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if key in _LOWEST and value < _LOWEST[key]:
                raise ConfigurationError(f"{path}: [job] {key} must be {_LOWEST[key]} or more.")
            if key in _ABOVE_ZERO and not value > 0:
                raise ConfigurationError(f"{path}: [job] {key} must be above 0.")
    _check_job_values(path, job, plugins)
    for header, named in tables.get("columns", {}).items():
        if not isinstance(named, str) or not named.strip():
            raise ConfigurationError(
                f'{path}: [columns] {header!r} must name a field in quotes ("Trainer erecno").'
            )
    for key in _JOB_PATHS:
        if key in job:
            job[key] = str((path.parent / Path(str(job[key])).expanduser()).resolve())
    known = sorted({name for p in plugins.values() for name in p.credentials})
    credentials = tables.get("credentials", {})
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
    if isinstance(vendor, str):
        wrong = [k for k in credentials if k not in plugins[vendor].credentials]
        if wrong:
            raise ConfigurationError(
                f"{path}: [credentials] {wrong[0]} is not a credential of {vendor} "
                f"(its credentials: {', '.join(plugins[vendor].credentials)})."
            )
    notify = notify_settings(tables["notify"], path, job=True) if "notify" in tables else None
    made = JobFile.of(
        {"job": job, "credentials": credentials, "columns": tables.get("columns", {})}
    )
    return dataclasses.replace(made, notify=notify)


def _check_job_values(path: Path, job: Mapping[str, object], plugins: Mapping[str, Plugin]) -> None:
    """The [job] values that must be one of a list, a real time zone or a web address (their
    types are checked already: text where text is due)."""
    vendor = job.get("vendor")
    if isinstance(vendor, str) and vendor not in plugins:
        raise ConfigurationError(
            f"{path}: [job] vendor {vendor!r} is not a vendor{_closest(vendor, list(plugins))}"
        )
    if job.get("mode", "create") not in ("create", "sync"):
        raise ConfigurationError(f'{path}: [job] mode must be "create" or "sync".')
    if str(job.get("date_order", "DMY")).upper() not in ("DMY", "MDY"):
        raise ConfigurationError(f'{path}: [job] date_order must be "DMY" or "MDY".')
    if "timezone" in job:
        try:
            ZoneInfo(str(job["timezone"]))
        except (ValueError, KeyError, OSError):
            raise ConfigurationError(
                f"{path}: [job] timezone {job['timezone']!r} is not an IANA time zone "
                '(e.g. "Europe/Paris").'
            ) from None
    for key in ("base_url", "auth_url"):
        if key in job:
            parts = urlsplit(str(job[key]))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigurationError(
                    f"{path}: [job] {key} {job[key]!r} is not a web address (https://...)."
                )


def resolve_settings(
    plugin: Plugin,
    *,
    flags: RunFlags | Mapping[str, object],
    env: Mapping[str, str],
    job: JobFile | Mapping[str, object] | None = None,
    require_credentials: bool = True,
) -> RunSettings:
    """Resolve a run's settings; missing credentials or hosts raise :class:`ConfigurationError`.

    Each setting is the flag's, else the environment's (``IMPORTER_<NAME>``), else the job
    file's, else the default. ``flags`` and ``job`` may be given as plain mappings (the Python
    API's callers: see :meth:`RunFlags.of` and :meth:`JobFile.of`). With
    ``require_credentials`` false (a dry run), missing credentials are left out.

    In the job file, ``[credentials]`` maps each variable to the name of another
    environment variable to read it from (see :attr:`JobFile.credentials`).
    """
    given = flags if isinstance(flags, RunFlags) else RunFlags.of(flags)
    file = job if isinstance(job, JobFile) else JobFile.of(job or {})
    vendor = plugin.name
    api_host, token_host = plugin.api_host, plugin.token_host
    base_url = _first(given.base_url, env.get("IMPORTER_BASE_URL") or None, file.base_url)
    base_url = base_url or api_host
    # A vendor whose tokens come from its API host (or that has none): the token host follows
    # --base-url unless given. Another token host stays where it is.
    follows = token_host is None or token_host == api_host
    auth_url = _first(given.auth_url, env.get("IMPORTER_AUTH_URL") or None, file.auth_url)
    auth_url = auth_url or (base_url if follows else token_host)
    allow_http = bool(_first(given.allow_http, file.allow_http))
    example = plugin.declared.host_example or api_host or _EXAMPLE_URL
    for what, url in (("base_url", base_url), ("auth_url", auth_url)):
        if url:
            check_url(url, what, allow_http, example)
    if not base_url:
        raise ConfigurationError(
            f"{vendor} needs its API host: give --base-url {example} "
            "(or IMPORTER_BASE_URL, or base_url in the job file)."
        )
    credentials: dict[str, Secret] = {}
    missing = []
    for name in plugin.credentials:
        source = file.credentials.get(name, name)
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
    concurrency = _first(given.concurrency, file.concurrency) or 4
    if concurrency < 1:
        raise ConfigurationError("--concurrency must be 1 or more.")
    options: dict[str, str] = {}
    for option in plugin.declared.options:
        picked = _first(
            given.options.get(option.name),
            env.get(option.env) or None,
            file.vendor_values.get(option.name),
        )
        if picked is not None:
            options[option.name] = picked
    return RunSettings(
        vendor=vendor,
        account_fields=plugin.account_fields,
        base_url=base_url,
        auth_url=str(auth_url),
        credentials=credentials,
        concurrency=concurrency,
        rate=_first(given.rate, file.rate),
        timeout=_first(given.timeout, file.timeout) or 30.0,
        max_tries=_first(given.max_tries, file.max_tries) or 5,
        beyond_documented_rate=bool(
            _first(given.beyond_documented_rate, file.beyond_documented_rate)
        ),
        store=_first(given.store, env.get("IMPORTER_STORE") or None, file.store) or None,
        vendor_options=options,
    )
