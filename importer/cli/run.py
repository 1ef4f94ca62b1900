"""`session-importer run`: one sheet, or every new sheet of a job's inbox, into a vendor.

The command line's side of the import: job files, the journal and its lock, the paths
checked before any call, the log file, signals, and the one JSON line for schedulers.
The work itself is :func:`importer.jobs.pipeline.run_import`; the inbox is
:mod:`importer.cli.inbox`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from importer.cli.journal import journal_place
from importer.cli.undo import guard_of, updating
from importer.core.errors import ConfigurationError, ImporterError
from importer.core.files import open_sheet
from importer.core.joblog import JOB_LOG, job_log
from importer.core.outcomes import Status
from importer.core.secret import scrub
from importer.jobs.config import (
    JobFile,
    RunFlags,
    chosen_columns,
    parse_map,
    sheet_default_keys,
    sheet_defaults,
)
from importer.jobs.notify import RunSummary, summary_of
from importer.jobs.who import command_line_user
from importer.results.sheet import check_writable, default_result_path, result_path
from importer.sheet.validation import ValidationReport
from importer.vendors import PLUGINS, declarations, plugin

if TYPE_CHECKING:
    from importer.core.settings import RunSettings
    from importer.jobs.import_sheet import Imported
    from importer.vendors.plugin import Plugin

__all__ = ["could_not_run", "email_result", "resolve_emails", "run_command", "run_file"]

_SHOWN_PROBLEMS = 20
#: The rows a run lists on the terminal (the first 20): the ones a coordinator looks at.
_SHOWN_STATUSES = (Status.REJECTED, Status.UNKNOWN, Status.CHANGED, Status.UPDATED)
#: The job's log file (``--log``): attached by :func:`run_command` for the run.
_log = logging.getLogger(JOB_LOG)


def run_command(args: argparse.Namespace) -> int:
    """`run`: one file, or every new file of a job's inbox folder; one JSON line with --json."""
    from importer.jobs.config import load_job

    job = load_job(args.config, PLUGINS) if args.config else JobFile()
    if args.sandbox:
        # A rehearsal: the sandbox's hosts and credentials, not the ones the job names, and
        # nobody emailed about the sandbox's rows.
        job = dataclasses.replace(job, base_url=None, auth_url=None, credentials={}, notify=None)
    args.job = job
    args.mailer = None
    if job.notify is not None:  # its password read now: a missing one refused before a row
        from importer.jobs.mailer import Mailer

        args.mailer = Mailer.of(job.notify, os.environ)
    source = args.file or job.input
    if source is None:
        raise ConfigurationError("give a FILE to import (or input in the job file's [job] table).")
    output = job.output
    if args.journal is None and job.journal is not None and not args.sandbox:
        args.journal = job.journal
    log_path = args.log or job.log
    if log_path is not None:
        check_writable(Path(log_path), "the log file")
    with job_log(log_path):
        try:  # who the journal records with each run (refused before anything is read)
            args.who = command_line_user(os.environ)
        except ImporterError as error:
            _could_not_run(args, source, error)
            raise
        if args.check:
            from importer.cli.check import check_job

            return check_job(args, source, output)
        if source.is_dir():
            from importer.cli.inbox import run_inbox

            return run_inbox(args, source, output)
        if args.result is None and output is not None:
            args.result = output / default_result_path(source).name
        try:
            code, summary = run_file(args, source)
        except ImporterError as error:
            _could_not_run(args, source, error)
            raise
        if args.json:
            print(json.dumps(summary), flush=True)
        return code


def _could_not_run(args: argparse.Namespace, source: Path, error: ImporterError) -> None:
    """Say why a run could not run at all in the scheduler's log, and by email."""
    _log.info("%s: could not run: %s", source, error)
    said, code = str(error), error.exit_code
    email_result(args, lambda: could_not_run(args, source, said, code))


def _paths(args: argparse.Namespace, source: Path) -> Path:
    """Check the input and where the result goes before anything is read or sent."""
    read = getattr(args, "read_from", None) or source
    if not read.is_file():
        if read.exists() and not read.is_dir():
            open_sheet(read).close()  # a pipe, a device, a socket: refused, saying which
        what = "is a folder" if source.is_dir() else "does not exist"
        raise ConfigurationError(f"{source}: the sheet {what}.")
    return result_path(source, args.result)


def run_file(args: argparse.Namespace, source: Path) -> tuple[int, dict[str, Any]]:
    """Import one sheet; return the exit code and the JSON summary."""
    args.file = source
    name = args.vendor or args.job.vendor
    if not name:
        raise ConfigurationError("give --vendor (or vendor in the job file's [job] table).")
    chosen = plugin(name)  # the one look-up by name: the plugin is passed down from here
    args.result = _paths(args, source)
    with _sandbox(args, chosen.name) as (flags, env):
        return _import(args, chosen, flags, env)


@contextlib.contextmanager
def _sandbox(args: argparse.Namespace, vendor: str) -> Iterator[tuple[RunFlags, dict[str, str]]]:
    """The settings' flags and environment; with --sandbox, an embedded sandbox (its hosts
    and credentials) and a throw-away journal."""
    options = {
        option.name: str(value)
        for declared in declarations().values()
        for option in declared.options
        if (value := getattr(args, option.name, None)) is not None
    }
    flags = RunFlags(
        base_url=args.base_url,
        auth_url=args.auth_url,
        allow_http=args.allow_http or None,
        concurrency=args.concurrency,
        rate=args.rate,
        beyond_documented_rate=args.beyond_documented_rate or None,
        store=getattr(args, "store", None),
        options=options,
    )
    env = dict(os.environ)
    if not args.sandbox:
        yield flags, env
        return
    from importer.sandbox import Sandbox, SandboxServer
    from importer.vendors import sandbox_parts

    sandbox = Sandbox(sandbox_parts())
    server = SandboxServer(sandbox.app).start()
    try:
        with tempfile.TemporaryDirectory(prefix="importer-sandbox-") as scratch:
            endpoint = sandbox.describe(server.url)[vendor]
            env.update(endpoint["env"])
            flags = dataclasses.replace(
                flags,
                base_url=endpoint["base_url"],
                auth_url=endpoint["auth_url"] or endpoint["base_url"],
            )
            args.scratch = Path(scratch)
            if not args.json:
                print(f"Importing into the embedded sandbox at {server.url}, not the real vendor.")
            yield flags, env
    finally:
        server.stop()


def _setting(args: argparse.Namespace, name: str) -> str | None:
    """A sheet setting: the flag, else the job file's [job] value."""
    value: str | None = getattr(args, name, None) or args.job.sheet_value(name)
    return value


def _import(
    args: argparse.Namespace, chosen: Plugin, flags: RunFlags, env: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    from importer.jobs import import_sheet as job
    from importer.jobs.config import resolve_settings
    from importer.jobs.memory import recall_columns

    settings = resolve_settings(
        chosen, flags=flags, env=env, job=args.job, require_credentials=not args.dry_run
    )
    given = {key: _setting(args, key) for key in sheet_default_keys()}
    typed = {**args.job.columns, **parse_map(args.map or [])}
    columns = chosen_columns(chosen.schema, typed, "--map" if args.map else "the job's [columns]")
    sheet = job.SheetSpec(
        path=Path(args.file),
        # The inbox reads its private copy of the sheet, taken from the file it checked: the
        # name may have been swapped for a link since; the sheet is still args.file.
        read_from=getattr(args, "read_from", None),
        sheet=_setting(args, "sheet"),
        timezone=_setting(args, "timezone"),
        date_order=(_setting(args, "date_order") or "").upper() or None,
        defaults=sheet_defaults(given, chosen.schema),
        key=_setting(args, "key"),
        columns=dict(columns) or None,
    )
    place = journal_place(args)
    report = job.read_sheet(sheet, chosen, recall_columns(place, chosen, settings))
    args.validated_at = time.time()  # for the summary: how soon the first request follows
    args.sheet_read = report.table.which_sheet()
    if args.sheet_read is not None:
        _log.info("%s: read %s", args.file, args.sheet_read)
        if not args.json:
            print(f"{args.file}: read {args.sheet_read}.")
    if args.resolve_only:
        return resolve_emails(args, report, chosen, settings)
    job.refuse_zoneless(
        report, sheet, "give --timezone (e.g. Europe/Paris) or timezone in the job file"
    )
    two_ways = report.two_ways.sentence(f"add --date-order {_other_order(report)}")
    if two_ways:
        _log.info("%s: %s", args.file, two_ways)
        if not args.json:
            print(f"{args.file}: {two_ways}.")
    if not args.json:
        _print_problems(args, report)
    names = ("timezone", "date_order", "key", *sheet_default_keys(), "sheet")
    spec = job.ImportSpec(
        sheet=sheet,
        result=Path(args.result),
        journal=journal_place(args),
        label=str(Path(args.file).resolve()),
        recorded={name: str(_setting(args, name) or "") for name in names},
        limit=args.limit,
        dry_run=args.dry_run,
        retry_rejected=args.retry_rejected,
        resend_unknown=args.resend_unknown,
        update=updating(args, sheet.key),
        guard=guard_of(args),
        wait=args.wait,
        shared_budget=not args.sandbox,
        who=getattr(args, "who", None),
    )
    hooks = job.Hooks(
        notify=lambda message: _notify(args, message),
        plan=lambda line: _plan(args, line),
        waiting=_waiting,
        progress=not args.json,
    )
    # What the email names as the account: the vendor and the host imported into.
    args.account = f"{chosen.name} at {urlsplit(settings.base_url).hostname}"
    imported = job.import_sheet(report, spec, chosen, settings, hooks)
    args.run_id = imported.run_id or None  # for the JSON line: `undo RUN` takes it back
    return _finish(args, imported)


def _plan(args: argparse.Namespace, line: str) -> None:
    _log.info(line)
    if not args.json:
        print(line)


def _waiting() -> None:
    print(
        "Waiting for the import in progress on this account to finish (--wait).",
        file=sys.stderr,
        flush=True,
    )


def _other_order(report: ValidationReport) -> str:
    return "MDY" if report.context.order == "DMY" else "DMY"


def _finish(args: argparse.Namespace, imported: Imported) -> tuple[int, dict[str, Any]]:
    """Say what happened (the result sheet is written); the summary for --json."""
    report, run, written = imported.report, imported.run, imported.result
    counts = run.counts()
    summary = {
        "command": "run",
        "file": str(args.file),
        "vendor": report.vendor.name,
        "rows": report.row_count,
        "counts": counts,
        "requests": run.requests,
        "stopped": run.stopped,
        "dry_run": run.dry_run,
        "result": str(written),
        # A --sandbox run's journal is thrown away with its temporary folder.
        "journal": imported.journal,
        "run_id": getattr(args, "run_id", None),
        "who": getattr(args, "who", None),
        "unreachable": any("could not connect" in r.message for r in run.results.values()),
        "exit_code": run.exit_code,
        "validated_at": getattr(args, "validated_at", None),
        "dates_read_two_ways": report.two_ways.count,
    }
    if report.table.sheet is not None:
        summary["sheet"] = report.table.sheet
    said = ", ".join(f"{count} {status}" for status, count in counts.items())
    _log.info(
        "%s: %s; result sheet %s; exit %s", args.file, said or "no rows", written, run.exit_code
    )
    if run.stopped:
        _log.info("stopped early: %s", run.stopped)
    if not args.json:
        shown = 0
        for row, result in sorted(run.results.items()):
            if result.status in _SHOWN_STATUSES and shown < _SHOWN_PROBLEMS:
                print(f"  {args.file}: row {row}: {result.status}: {scrub(result.message)}")
                shown += 1
        print(f"Done: {said}.")
        print(f"Result sheet: {written}")
    if run.stopped:
        print(f"Stopped early: {scrub(run.stopped)}", file=sys.stderr)
    account = getattr(args, "account", None) or report.vendor.name
    name = Path(args.file).name
    email_result(args, lambda: summary_of(run, written, file=name, account=account))
    return run.exit_code, summary


def could_not_run(args: argparse.Namespace, source: Path, said: str, code: int) -> RunSummary:
    """What the email about a sheet that could not be imported at all says (``said``: why;
    ``code``: the exit code)."""
    account = getattr(args, "account", None) or args.vendor or args.job.vendor or "the account"
    return RunSummary(
        file=source.name,
        account=account,
        counts={},
        rows=0,
        exit_code=code,
        stopped=f"could not run: {said}",
    )


def email_result(args: argparse.Namespace, summary: Callable[[], RunSummary]) -> None:
    """Email a sheet's result (``summary`` makes what it says) to the job's [notify]
    recipients, when its ``on`` says so, the result sheet written; what came of it is said on
    stderr and in the log, and changes nothing of the run's outcome or exit code."""
    mailer = getattr(args, "mailer", None)
    if mailer is None:
        return
    try:
        said = summary()
        if mailer.settings.on == "failure" and not said.went_wrong:
            return
        told = mailer.tell(said, mailer.settings.to).said
    except Exception as error:  # whatever it is, the email's problem is not the run's
        told = f"the result could not be sent by email: internal error ({type(error).__name__})"
    _notify(args, told)


def _print_problems(args: argparse.Namespace, report: ValidationReport) -> None:
    """The invalid rows, as `validate` shows them (the first 20)."""
    for number, error in enumerate(report.all_errors()):
        if number == _SHOWN_PROBLEMS:
            print("  ... and more: every problem is in the result sheet.")
            break
        print(f"  {args.file}: {error}")


def resolve_emails(
    args: argparse.Namespace, report: ValidationReport, chosen: Plugin, settings: RunSettings
) -> tuple[int, dict[str, Any]]:
    """Write the sheet with IDs looked up from the email columns, for a coordinator to check."""
    from importer.jobs.import_sheet import resolve_emails as resolve

    done = resolve(report, chosen, settings, args.result)
    figures = done.people
    summary = {
        "command": "run",
        "resolve_only": True,
        "file": str(args.file),
        "people": dict(figures),
        "counts": dict(done.counts),
        "result": str(done.result),
        "exit_code": done.exit_code,
    }
    if not args.json:
        print(
            f"Looked up {figures.get('emails', 0)} email(s): {figures.get('found', 0)} found, "
            f"{figures.get('unknown', 0)} unknown. Sheet with IDs filled in: {done.result}"
        )
    return done.exit_code, summary


def _notify(args: argparse.Namespace, message: str) -> None:
    print(f"session-importer: {scrub(message)}", file=sys.stderr)
    _log.info(message)
