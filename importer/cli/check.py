"""`session-importer run --config job.toml --check`: is the job ready? Imports nothing.

Checks, in order, and stops at the first problem (exit 2, one line): the job file
(already checked against its schema when read), the vendor, its time zone where the
vendor takes instants, the input (a sheet, or an
inbox folder), the output, log and journal paths, the credentials, with a token
request where the vendor has tokens (360Learning v2, Zoho People), and the [notify] email
server (connected to and signed in to; nothing sent).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import httpx

from importer.cli.journal import journal_path
from importer.core.clock import SystemClock
from importer.core.errors import ConfigurationError
from importer.core.outcomes import ExitCode
from importer.jobs.config import RunFlags, resolve_settings
from importer.results.sheet import check_writable, default_result_path
from importer.vendors import plugin

__all__ = ["check_job"]


def check_job(args: argparse.Namespace, source: Path, output: Path | None) -> int:
    """Check everything a run of this job needs; say what was checked."""

    checked: list[str] = []
    name = args.vendor or args.job.vendor
    if not name:
        raise ConfigurationError("give --vendor (or vendor in the job file's [job] table).")
    chosen = plugin(name)  # the one look-up by name
    vendor = chosen.schema
    checked.append(f"job: {args.config or '(no job file)'}, vendor {vendor.name}")
    zone = getattr(args, "timezone", None) or args.job.timezone
    if vendor.reads_time_zones and not zone:
        # The run would refuse every sheet whose times carry no zone, at night: said now.
        raise ConfigurationError(
            f"no time zone: {vendor.name} takes instants, and a sheet's times typed without a "
            "zone cannot be read without one; give timezone in the job file's [job] table "
            '(or --timezone, or $IMPORTER_TIMEZONE), e.g. timezone = "Europe/Paris".'
        )
    if zone:
        checked.append(f"time zone: {zone}")
    if not source.exists():
        raise ConfigurationError(f"{source}: the input does not exist.")
    if source.is_dir():
        if not os.access(source, os.W_OK):
            raise ConfigurationError(
                f"{source}: the inbox cannot be written by this user (sheets are moved to "
                "done/ and failed/ in it)."
            )
        check_writable((output or source / "results") / "x.result.xlsx", "the output folder")
        checked.append(f"inbox: {source}")
    else:
        result = args.result or (output / default_result_path(source).name if output else None)
        check_writable(result or default_result_path(source), "the result sheet")
        checked.append(f"sheet: {source}")
    flags = RunFlags(
        base_url=args.base_url, auth_url=args.auth_url, allow_http=args.allow_http or None
    )
    settings = resolve_settings(chosen, flags=flags, env=dict(os.environ), job=args.job)
    path = journal_path(args, chosen, settings)
    if path is not None:
        check_writable(path, "the journal")
        checked.append(f"journal: {path}")
    if chosen.token_host is not None:  # a vendor with a token host: ask it for a token
        with httpx.Client(timeout=settings.timeout) as http:
            chosen.sender(settings, http, SystemClock()).auth.headers()
        checked.append(f"credentials: a token was granted by {settings.auth_url}")
    else:
        checked.append(
            f"credentials: present ({vendor.name} has no token to ask for; they are first "
            "used by the import's first call)"
        )
    if getattr(args, "mailer", None) is not None:
        checked.append(args.mailer.check())
    if args.json:
        print(json.dumps({"command": "run", "check": "ok", "checked": checked, "exit_code": 0}))
    else:
        for line in checked:
            print(f"ok  {line}")
        print("The job is ready; nothing was imported.")
    return ExitCode.OK
