"""`session-importer run`: one sheet, or every new sheet of a job's inbox, into a vendor.

The command line's side of the import: job files, the journal and its lock, the inbox
folder, the log file, and the one JSON line for schedulers. The work itself is
:func:`importer.pipeline.run_import`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from importer.api import write_report
from importer.cli import EXIT_INVALID_ROWS, EXIT_OK, sheet_defaults
from importer.errors import ConfigurationError, ImporterError
from importer.files import open_private_append
from importer.journal import Journal
from importer.results import default_result_path
from importer.validation import ValidationReport, validate
from importer.vendors import Vendor, get_vendor

__all__ = ["run_command"]

_SHEET_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods"}


def run_command(args: argparse.Namespace) -> int:
    """`run`: one file, or every new file of a job's inbox folder; one JSON line with --json."""
    from importer.config import load_job

    job = load_job(args.config) if args.config else None
    section = (job or {}).get("job", {})
    args.job, args.section = job, section
    log_path = args.log or section.get("log")
    args.log_file = open_private_append(Path(log_path)) if log_path else None
    try:
        source = args.file or (Path(section["input"]) if section.get("input") else None)
        if source is None:
            raise ConfigurationError(
                "give a FILE to import (or input in the job file's [job] table)."
            )
        output = Path(section["output"]) if section.get("output") else None
        if args.journal is None and section.get("journal"):
            args.journal = Path(section["journal"])
        if not source.is_dir():
            if args.result is None and output is not None:
                args.result = output / default_result_path(source).name
            code, summary = _run_file(args, source)
            if args.json:
                print(json.dumps(summary))
            return code
        return _run_inbox(args, source, output)
    finally:
        if args.log_file is not None:
            args.log_file.close()


def _log(args: argparse.Namespace, message: str) -> None:
    """Append a line to the job's log file, if it has one (messages carry no secret)."""
    if getattr(args, "log_file", None) is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        args.log_file.write(f"{stamp} {message}\n")
        args.log_file.flush()


def _run_inbox(args: argparse.Namespace, inbox: Path, output: Path | None) -> int:
    """Import every sheet waiting in ``inbox``; move each to done/ or failed/ after."""
    import shutil

    files = sorted(
        p for p in inbox.iterdir() if p.is_file() and p.suffix.lower() in _SHEET_SUFFIXES
    )
    output = output or inbox / "results"
    if args.journal is None:
        name = args.config.stem if args.config else inbox.name
        args.journal = output / f"{name}.journal.sqlite"
    summaries, worst = [], EXIT_OK
    _log(args, f"inbox {inbox}: {len(files)} file(s)")
    for path in files:
        args.result = output / default_result_path(path).name
        try:
            code, summary = _run_file(args, path)
        except ImporterError as error:
            code, summary = (
                error.exit_code,
                {"file": str(path), "error": str(error), "exit_code": error.exit_code},
            )
            print(f"session-importer: error: {error}", file=sys.stderr)
            _log(args, f"{path.name}: could not run: {error}")
        worst = max(worst, code) if code != 130 else 130
        if code == 130:
            summaries.append(summary)
            break  # interrupted: the file stays in the inbox for the next run
        folder = inbox / ("done" if code in (EXIT_OK, EXIT_INVALID_ROWS) else "failed")
        folder.mkdir(exist_ok=True)
        target = folder / path.name
        if target.exists():
            target = folder / f"{path.stem}-{time.strftime('%Y%m%d-%H%M%S')}{path.suffix}"
        shutil.move(str(path), target)
        summary["moved_to"] = str(target)
        summaries.append(summary)
    if args.json:
        print(
            json.dumps(
                {"command": "run", "inbox": str(inbox), "files": summaries, "exit_code": worst}
            )
        )
    elif not files:
        print(f"{inbox}: no new sheet to import.")
    return worst


def _run_file(args: argparse.Namespace, source: Path) -> tuple[int, dict[str, Any]]:
    from importer.config import resolve_settings
    from importer.pipeline import JournalOptions, run_import

    job, section = args.job, args.section
    args.file = source
    name = args.vendor or section.get("vendor")
    if not name:
        raise ConfigurationError("give --vendor (or vendor in the job file's [job] table).")
    vendor = get_vendor(name)
    env = dict(os.environ)
    flags = {
        "base_url": args.base_url,
        "auth_url": args.auth_url,
        "concurrency": args.concurrency,
        "rate": args.rate,
    }
    server = None
    if args.sandbox:
        from importer.sandbox import Sandbox, SandboxServer, describe

        sandbox = Sandbox()
        server = SandboxServer(sandbox.app).start()
        endpoint = describe(server.url, sandbox.state)[vendor.name]
        env.update(endpoint["env"])
        flags.update(
            base_url=endpoint["base_url"], auth_url=endpoint["auth_url"] or endpoint["base_url"]
        )
        if not args.json:
            print(f"Importing into the embedded sandbox at {server.url}, not the real vendor.")
    try:
        settings = resolve_settings(vendor.name, flags=flags, env=env, job=job)
        report = validate(
            args.file,
            vendor,
            sheet=args.sheet,
            timezone=args.timezone or section.get("timezone"),
            date_order=args.date_order,
            defaults=sheet_defaults(args, vendor),
        )
        if args.resolve_only:
            return _resolve_only(args, report, settings)
        plan = _plan(args, report, vendor)
        _log(args, plan)
        if not args.json:
            print(plan)
        journal = _open_journal(args, report, vendor.name, settings.base_url)
        options = JournalOptions(
            journal, args.key or section.get("key"), args.retry_rejected, args.resend_unknown
        )
        try:
            journal.lock_job(wait=args.wait)
            for name in ("timezone", "date_order", "key", "path_id", "sheet"):
                value = getattr(args, name, None) or (
                    section.get(name) if name != "sheet" else None
                )
                journal.set_meta(name, str(value or ""))
            run_id = journal.start_run(str(Path(args.file).resolve()))
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
            journal.finish_run(run_id, {"counts": run.counts(), "stopped": run.stopped})
        finally:
            journal.close()
    finally:
        if server is not None:
            server.stop()
    written = write_report(run.validation, args.result, run)
    counts = run.counts()
    summary = {
        "command": "run",
        "file": str(args.file),
        "vendor": vendor.name,
        "rows": report.row_count,
        "counts": counts,
        "requests": run.requests,
        "stopped": run.stopped,
        "dry_run": run.dry_run,
        "result": str(written),
        "exit_code": run.exit_code,
    }
    said = ", ".join(f"{count} {status}" for status, count in counts.items())
    _log(args, f"{args.file}: {said or 'no rows'}; result sheet {written}; exit {run.exit_code}")
    if run.stopped:
        _log(args, f"stopped early: {run.stopped}")
    if not args.json:
        print(f"Done: {said}.")
        print(f"Result sheet: {written}")
    if run.stopped:
        print(f"Stopped early: {run.stopped}", file=sys.stderr)
    return run.exit_code, summary


def _resolve_only(
    args: argparse.Namespace, report: ValidationReport, settings: Any
) -> tuple[int, dict[str, Any]]:
    """Write the sheet with IDs looked up from the email columns, for a coordinator to check."""
    import dataclasses

    from importer.people import EMAIL_FIELDS
    from importer.pipeline import resolve_only

    resolved, figures = resolve_only(report, settings)
    frame = resolved.table.frame.copy()
    for _, id_field, _ in EMAIL_FIELDS.get(report.vendor.name, ()):
        header = resolved.columns.fields.get(id_field, report.vendor.field(id_field).label)
        filled = resolved.values[id_field].fillna("").astype(str)
        frame[header] = filled.where(filled != "", frame.get(header, ""))
    table = dataclasses.replace(resolved.table, frame=frame)
    target = args.result or report.table.source.with_name(
        f"{report.table.source.stem}.resolved{'.csv' if report.table.delimiter else '.xlsx'}"
    )
    written = write_report(dataclasses.replace(resolved, table=table), target)
    code = EXIT_OK if resolved.ok else EXIT_INVALID_ROWS
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
    print(f"session-importer: {message}", file=sys.stderr)
    _log(args, message)


def _open_journal(
    args: argparse.Namespace, report: ValidationReport, vendor: str, target: str
) -> Journal:
    """The job's journal: --journal, else beside the result sheet (a fresh one for --sandbox)."""
    import tempfile

    path = args.journal
    if path is None and args.sandbox:
        path = Path(tempfile.mkdtemp(prefix="importer-sandbox-")) / "journal.sqlite"
    if path is None:
        result = args.result or default_result_path(report.table.source)
        path = result.with_name(f"{report.table.source.stem}.journal.sqlite")
    journal = Journal(path, vendor)
    known = journal.meta("target")
    if known is None:
        journal.set_meta("target", target)
    elif known != target and not args.sandbox:
        journal.close()
        raise ConfigurationError(
            f"{path} records imports into {known}, not {target}; give another --journal."
        )
    return journal


def _plan(args: argparse.Namespace, report: ValidationReport, vendor: Vendor) -> str:
    """One line before sending: rows, what will be sent, and how long the vendor's pace takes."""
    from importer.adapters import ADAPTERS
    from importer.pipeline import estimate_seconds

    valid = report.row_count - report.invalid_count
    to_send = valid if args.limit is None else min(valid, max(args.limit, 0))
    policy = ADAPTERS[vendor.name].rate
    eta = estimate_seconds(to_send, 1.0, policy)
    pace = f"; about {_duration(eta)} at {policy.description}" if eta and eta > 60 else ""
    verb = "checking" if args.dry_run else "sending"
    counts = f"{report.row_count} rows, {valid} valid, {report.invalid_count} invalid"
    return f"{args.file}: {counts}; {verb} {to_send}{pace}."


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
