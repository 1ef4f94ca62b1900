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
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from importer.api import validate
from importer.cli.journal import journal_path, store_journal
from importer.cli.undo import guard_of, updating
from importer.core.errors import ConfigurationError, ImporterError
from importer.core.files import open_private_append, open_sheet
from importer.core.outcomes import ExitCode
from importer.core.secret import scrub
from importer.jobs.changes import ConfirmationNeededError
from importer.jobs.config import sheet_defaults
from importer.results.sheet import check_writable, default_result_path, result_path
from importer.results.write import write_report
from importer.sheet.validation import ValidationReport
from importer.store import JournalLike
from importer.store.base import JobLockedError
from importer.store.journal import Journal
from importer.vendors import Vendor, get_vendor

__all__ = ["log", "printable", "run_command", "run_file", "zone_missing"]

_SHOWN_PROBLEMS = 20


def run_command(args: argparse.Namespace) -> int:
    """`run`: one file, or every new file of a job's inbox folder; one JSON line with --json."""
    from importer.jobs.config import load_job

    job = load_job(args.config) if args.config else None
    if job is not None and args.sandbox:
        # A rehearsal: the sandbox's hosts and credentials, not the ones the job names.
        section = {k: v for k, v in job["job"].items() if k not in ("base_url", "auth_url")}
        job = {"job": section, "credentials": {}}
    args.job, args.section = job, (job or {}).get("job", {})
    section = args.section
    source = args.file or (Path(section["input"]) if section.get("input") else None)
    if source is None:
        raise ConfigurationError("give a FILE to import (or input in the job file's [job] table).")
    output = Path(section["output"]) if section.get("output") else None
    if args.journal is None and section.get("journal") and not args.sandbox:
        args.journal = Path(section["journal"])
    log_path = args.log or section.get("log")
    if log_path is not None:
        check_writable(Path(log_path), "the log file")
    with _log_file(log_path) as args.log_file:
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
            log(args, f"{source}: could not run: {error}")  # the scheduler's log says why
            raise
        if args.json:
            print(json.dumps(summary), flush=True)
        return code


@contextlib.contextmanager
def _log_file(path: str | Path | None) -> Iterator[Any]:
    """The job's log file, opened for appending (its folder created), or ``None``."""
    if path is None:
        yield None
        return
    # Created 0600 in a folder made 0700 when new: the log names learners' sheets.
    with open_private_append(Path(path)) as handle:
        yield handle


def log(args: argparse.Namespace, message: str) -> None:
    """Append a line to the job's log file, if it has one, every secret the process holds
    masked.

    Control characters (a newline in a file name) are written escaped, so that no text
    from outside can forge a log line.
    """
    if getattr(args, "log_file", None) is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        args.log_file.write(f"{stamp} {printable(scrub(message))}\n")
        args.log_file.flush()


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``): one line, no escapes."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


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
    section = args.section
    args.file = source
    name = args.vendor or section.get("vendor")
    if not name:
        raise ConfigurationError("give --vendor (or vendor in the job file's [job] table).")
    vendor = get_vendor(name)
    args.result = _paths(args, source)
    with _sandbox(args, vendor) as flags:
        return _import(args, vendor, flags)


@contextlib.contextmanager
def _sandbox(args: argparse.Namespace, vendor: Vendor) -> Iterator[dict[str, Any]]:
    """The settings' flags; with --sandbox, an embedded sandbox and a throw-away journal."""

    flags: dict[str, Any] = {
        "base_url": args.base_url,
        "auth_url": args.auth_url,
        "allow_http": args.allow_http or None,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "beyond_documented_rate": args.beyond_documented_rate or None,
        "zoho_session_data": args.zoho_session_data,
        "v2_marker": args.v2_marker,
        "store": getattr(args, "store", None),
        "env": dict(os.environ),
    }
    if not args.sandbox:
        yield flags
        return
    from importer.sandbox import Sandbox, SandboxServer
    from importer.vendors import sandbox_parts

    sandbox = Sandbox(sandbox_parts())
    server = SandboxServer(sandbox.app).start()
    try:
        with tempfile.TemporaryDirectory(prefix="importer-sandbox-") as scratch:
            endpoint = sandbox.describe(server.url)[vendor.name]
            flags["env"].update(endpoint["env"])
            flags["base_url"] = endpoint["base_url"]
            flags["auth_url"] = endpoint["auth_url"] or endpoint["base_url"]
            args.scratch = Path(scratch)
            if not args.json:
                print(f"Importing into the embedded sandbox at {server.url}, not the real vendor.")
            yield flags
    finally:
        server.stop()


def _setting(args: argparse.Namespace, name: str) -> Any:
    """A sheet setting: the flag, else the job file's [job] value."""
    return getattr(args, name, None) or args.section.get(name)


def _import(
    args: argparse.Namespace, vendor: Vendor, flags: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    from importer.jobs.config import resolve_settings
    from importer.jobs.journaling import JournalOptions, flag_duplicates
    from importer.jobs.pipeline import run_import
    from importer.results.report import RunReport

    env = flags.pop("env")
    settings = resolve_settings(
        vendor.name, flags=flags, env=env, job=args.job, require_credentials=not args.dry_run
    )
    timezone = _setting(args, "timezone")
    if args.path_id is None:
        args.path_id = args.section.get("path_id")
    # The inbox reads its private copy of the sheet (args.read_from), taken from the file it
    # checked: the name may have been swapped for a link since; the sheet is still args.file.
    copy = getattr(args, "read_from", None)
    report = validate(
        copy or args.file,
        vendor,
        sheet=_setting(args, "sheet"),
        timezone=timezone,
        date_order=(_setting(args, "date_order") or "").upper() or None,
        defaults=sheet_defaults(args, vendor),
    )
    if copy is not None:
        table = dataclasses.replace(report.table, source=Path(args.file))
        report = dataclasses.replace(report, table=table)
    args.validated_at = time.time()  # for the summary: how soon the first request follows
    args.sheet_read = report.table.which_sheet()
    if args.sheet_read is not None:
        log(args, f"{args.file}: read {args.sheet_read}")
        if not args.json:
            print(f"{args.file}: read {args.sheet_read}.")
    if args.resolve_only:
        return resolve_emails(args, report, settings)
    if timezone is None and report.zoneless():
        # Read as UTC, they would be sent hours off, and a later run with the right zone
        # would see other times: refused before the journal or the vendor is touched.
        raise ConfigurationError(
            zone_missing(
                args.file,
                report.zoneless(),
                "give --timezone (e.g. Europe/Paris) or timezone in the job file",
            )
        )
    two_ways = report.two_ways.sentence(f"add --date-order {_other_order(report)}")
    if two_ways:
        log(args, f"{args.file}: {two_ways}")
        if not args.json:
            print(f"{args.file}: {two_ways}.")
    key = _setting(args, "key")
    prints: dict[tuple[Any, ...], str] = {}  # each row's fingerprint, made once
    report = flag_duplicates(report, key)
    if not args.json:
        _print_problems(args, report)
    journal: JournalLike | None = None
    run: RunReport | None = None
    run_id = 0
    try:
        try:
            journal = store_journal(args, settings) or run_journal(args, vendor.name, settings)
            if journal is not None:
                try:
                    journal.lock_job()
                except JobLockedError:
                    if not args.wait:
                        raise
                    # Said once, before waiting: a host held back is seen waiting, not hung.
                    print(
                        "Waiting for the import in progress on this account to finish (--wait).",
                        file=sys.stderr,
                        flush=True,
                    )
                    journal.lock_job(wait=True)
                names = ("timezone", "date_order", "key", "path_id", "sheet")
                settings_used = {name: str(_setting(args, name) or "") for name in names}
                for name, value in settings_used.items():
                    journal.set_meta(name, value)
                settings_used["result"] = str(Path(args.result).resolve())
                run_id = journal.start_run(str(Path(args.file).resolve()), settings_used)
                args.run_id = run_id  # for the JSON line: `undo RUN` takes it back
            options = (
                JournalOptions(
                    journal,
                    key,
                    args.retry_rejected,
                    args.resend_unknown,
                    prints,
                    update=updating(args, key),
                    run_id=run_id,
                    guard=guard_of(args),
                )
                if journal is not None
                else None
            )
            plan = plan_line(args, report, vendor, options)
            log(args, plan)
            if not args.json:
                print(plan)
            run = run_import(
                report,
                settings,
                limit=args.limit,
                dry_run=args.dry_run,
                progress=not args.json,
                journal=options,
                shared_budget=not args.sandbox,
                notify=lambda message: _notify(args, message),
            )
        except ConfirmationNeededError as error:  # the mass-change guard: nothing was sent
            if journal is not None and run_id:
                journal.finish_run(run_id, {"counts": {}, "stopped": str(error)})
            raise
        except KeyboardInterrupt as error:
            # A signal outside the sending loop (waiting for the lock, looking up emails,
            # planning): every row is still reported, as not sent.
            from importer.core.signals import signal_exit_code

            stop = "terminated" if signal_exit_code(error) == 143 else "interrupted"
            run = RunReport(report, stopped=stop)
        if journal is not None and run_id:
            journal.finish_run(run_id, {"counts": run.counts(), "stopped": run.stopped})
    finally:
        if journal is not None:
            journal.close()
    return _finish(args, report, run, journal)


def zone_missing(source: Path | str, rows: int, fix: str) -> str:
    """Why a run whose times have no time zone, and was given none, is refused (one line)."""
    many = "1 row has" if rows == 1 else f"{rows} rows have"
    return (
        f"{source}: {many} times without a time zone, and no time zone was given: {fix}. "
        "Nothing was sent."
    )


def _other_order(report: ValidationReport) -> str:
    return "MDY" if report.context.order == "DMY" else "DMY"


def _finish(
    args: argparse.Namespace, report: ValidationReport, run: Any, journal: JournalLike | None
) -> tuple[int, dict[str, Any]]:
    """Write the result sheet, say what happened; the summary for --json."""
    written = write_report(run.validation, args.result, run)
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
        "journal": str(journal.path) if journal and not getattr(args, "scratch", None) else None,
        "run_id": getattr(args, "run_id", None),
        "unreachable": any("could not connect" in r.message for r in run.results.values()),
        "exit_code": run.exit_code,
        "validated_at": getattr(args, "validated_at", None),
        "dates_read_two_ways": report.two_ways.count,
    }
    if report.table.sheet is not None:
        summary["sheet"] = report.table.sheet
    said = ", ".join(f"{count} {status}" for status, count in counts.items())
    log(args, f"{args.file}: {said or 'no rows'}; result sheet {written}; exit {run.exit_code}")
    if run.stopped:
        log(args, f"stopped early: {run.stopped}")
    if not args.json:
        shown = 0
        for row, result in sorted(run.results.items()):
            shown_statuses = ("rejected", "unknown", "changed", "updated")
            if result.status in shown_statuses and shown < _SHOWN_PROBLEMS:
                print(f"  {args.file}: row {row}: {result.status}: {scrub(result.message)}")
                shown += 1
        print(f"Done: {said}.")
        print(f"Result sheet: {written}")
    if run.stopped:
        print(f"Stopped early: {scrub(run.stopped)}", file=sys.stderr)
    return run.exit_code, summary


def _print_problems(args: argparse.Namespace, report: ValidationReport) -> None:
    """The invalid rows, as `validate` shows them (the first 20)."""
    for number, error in enumerate(report.all_errors()):
        if number == _SHOWN_PROBLEMS:
            print("  ... and more: every problem is in the result sheet.")
            break
        print(f"  {args.file}: {error}")


def resolve_emails(
    args: argparse.Namespace, report: ValidationReport, settings: Any
) -> tuple[int, dict[str, Any]]:
    """Write the sheet with IDs looked up from the email columns, for a coordinator to check."""

    from importer.jobs.people import email_fields
    from importer.jobs.pipeline import resolve_only

    resolved, figures = resolve_only(report, settings)
    frame = resolved.table.frame.copy()
    for _, id_field, _ in email_fields(report.vendor.name):
        header = resolved.columns.fields.get(id_field, report.vendor.field(id_field).label)
        filled = resolved.values[id_field].fillna("").astype(str)
        frame[header] = filled.where(filled != "", frame.get(header, ""))
    table = dataclasses.replace(resolved.table, frame=frame)
    target = args.result or report.table.source.with_name(
        f"{report.table.source.stem}.resolved{'.csv' if report.table.delimiter else '.xlsx'}"
    )
    written = write_report(dataclasses.replace(resolved, table=table), target)
    code = ExitCode.OK if resolved.ok else ExitCode.NOT_ALL_DONE
    summary = {
        "command": "run",
        "resolve_only": True,
        "file": str(args.file),
        "people": figures,
        "counts": resolved.counts(),
        "result": str(written),
        "exit_code": code,
    }
    if not args.json:
        print(
            f"Looked up {figures.get('emails', 0)} email(s): {figures.get('found', 0)} found, "
            f"{figures.get('unknown', 0)} unknown. Sheet with IDs filled in: {written}"
        )
    return code, summary


def _notify(args: argparse.Namespace, message: str) -> None:
    print(f"session-importer: {scrub(message)}", file=sys.stderr)
    log(args, message)


def run_journal(args: argparse.Namespace, vendor: str, settings: Any) -> Journal | None:
    """The run's journal, with the rows of an earlier version's per-file journal taken in."""
    path = journal_path(args, vendor, settings)
    if path is None or (args.dry_run and not path.exists()):
        return None
    journal = Journal(path, vendor)
    target = settings.base_url
    known = journal.meta("target")
    if known is None:
        journal.set_meta("target", target)
    elif known != target:
        journal.close()
        raise ConfigurationError(
            f"{path} records imports into {known}, not {target}; give another --journal."
        )
    source = Path(args.file)
    for old in {
        source.with_name(f"{source.stem}.journal.sqlite"),
        Path(args.result).with_name(f"{source.stem}.journal.sqlite"),
        getattr(args, "legacy_journal", None) or source,
    }:
        if old.name.endswith(".journal.sqlite") and old.is_file() and old != path:
            taken = journal.absorb(old)
            if taken:
                _notify(args, f"took {taken} row(s) of the older journal {old} into {path}")
    return journal


def plan_line(
    args: argparse.Namespace, report: ValidationReport, vendor: Vendor, options: Any
) -> str:
    """One line before sending: rows, what will be sent, and how long the vendor's pace takes."""
    from importer.jobs.journaling import journal_report
    from importer.sending.progress import estimate_seconds
    from importer.vendors import plugin

    valid = report.row_count - report.invalid_count
    done = changed = 0
    # Only a journal holding created rows can hold some of these: a first run of a sheet
    # does not key and look up every row twice before its first request (issue 15).
    counts = options.journal.counts() if options is not None and valid else {}
    if counts.get("created") or counts.get("updating"):
        recorded = journal_report(report, options, vendor.name).results.values()
        done = sum(1 for result in recorded if result.status == "created")
        changed = sum(1 for result in recorded if result.status == "changed")
    left = valid - done - changed
    to_send = left if args.limit is None else min(left, args.limit)
    policy = plugin(vendor.name).wire.rate
    eta = estimate_seconds(to_send, 1.0, policy)
    pace = f"; about {_duration(eta)} at {policy.description}" if eta and eta > 60 else ""
    verb = "would send" if args.dry_run else "sending"
    counts = f"{report.row_count} rows, {valid} valid, {report.invalid_count} invalid"
    already = f", {done} already created (not sent again)" if done else ""
    if changed:
        which = "to update" if options.update else "changed (not sent: see --update)"
        already += f", {changed} {which}"
    return f"{args.file}: {counts}{already}; {verb} {to_send}{pace}."


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
