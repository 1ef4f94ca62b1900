"""The ``session-importer`` command line: parse, call the API, map outcomes to exit codes.

Exit codes:
    0  every row is valid
    1  some rows are invalid (the result sheet says which and why)
    2  the command could not run: bad arguments, unreadable file, missing columns
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.api import __version__, write_report
from importer.errors import ConfigurationError, ImporterError
from importer.results import default_result_path
from importer.templates import write_template
from importer.validation import ValidationReport, validate

if TYPE_CHECKING:
    from importer.journal import Journal
from importer.vendors import REGISTRY, Vendor, get_vendor

__all__ = ["EXIT_CANNOT_RUN", "EXIT_INVALID_ROWS", "EXIT_OK", "build_parser", "main"]

EXIT_OK = 0
EXIT_INVALID_ROWS = 1
EXIT_CANNOT_RUN = 2
_SHOWN_ERRORS = 20


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 like every other failure."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_CANNOT_RUN, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render the README's help text)."""
    vendors = ", ".join(REGISTRY)
    parser = _Parser(
        prog="session-importer",
        description="Validate a spreadsheet of training sessions and import it into a "
        "learning platform.",
        epilog="Exit codes: 0 all rows valid, 1 some rows invalid, 2 could not run.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "validate",
        help="check every row of a sheet for a vendor and write a result sheet",
        description="Check every row of a CSV or Excel sheet against a vendor's rules, "
        "without sending anything, and write a result sheet with each row's status "
        "and problems.",
    )
    _sheet_arguments(check, vendor_required=True)
    check.add_argument(
        "--json",
        action="store_true",
        help="print one JSON summary line on stdout instead of the human summary",
    )

    run = commands.add_parser(
        "run",
        help="import a sheet: create every valid row at the vendor, under its rate limits",
        description="Validate a sheet, then create every valid row at the vendor, as fast as "
        "its documented limits allow, and write a result sheet with each row's outcome: "
        "created (with the vendor's ID), rejected (with the vendor's reason), invalid, "
        "unknown (the answer was lost: check before re-running) or not sent. Credentials come "
        "from IMPORTER_* environment variables (see README), never from the command line.",
        epilog="Exit codes: 0 every row created, 1 some rows not created, 2 could not run, "
        "3 stopped by a fatal vendor error (credentials, scope), 130 interrupted (Ctrl-C).",
    )
    _sheet_arguments(run, vendor_required=False, file_required=False)
    run.add_argument(
        "--config", type=Path, metavar="JOB.toml", help="a job file ([job], [credentials])"
    )
    run.add_argument(
        "--sandbox",
        action="store_true",
        help="import into the embedded sandbox (started in-process on 127.0.0.1), not the vendor",
    )
    run.add_argument("--dry-run", action="store_true", help="validate and plan, send nothing")
    run.add_argument(
        "--limit", type=int, metavar="N", help="send at most N rows (the first valid ones)"
    )
    run.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help="requests in flight at most (default 4; Zoho and Coursepath: always 1)",
    )
    run.add_argument(
        "--rate",
        type=float,
        metavar="PER_S",
        help="calls per second at most (default: the vendor's documented limit, with headroom)",
    )
    _host_arguments(run)
    run.add_argument(
        "--json", action="store_true", help="print one JSON summary line on stdout, no progress bar"
    )
    run.add_argument(
        "--journal",
        type=Path,
        metavar="FILE",
        help="the job's journal (default: NAME.journal.sqlite beside the result sheet; with "
        "--sandbox, a fresh one)",
    )
    run.add_argument(
        "--key",
        metavar="COLUMN",
        help="the column that identifies a row across runs (e.g. an external ID); default: "
        "the row's content",
    )
    run.add_argument(
        "--retry-rejected", action="store_true", help="send again rows rejected in an earlier run"
    )
    run.add_argument(
        "--resend-unknown",
        action="store_true",
        help="send again rows whose answer was lost, where the vendor gives no way to check",
    )
    run.add_argument(
        "--wait", action="store_true", help="wait for another run of the same job to finish"
    )
    run.add_argument(
        "--log", type=Path, metavar="FILE", help="append what happens to this log file"
    )
    run.add_argument(
        "--resolve-only",
        action="store_true",
        help="look up the email columns and write the sheet with the IDs filled in; create nothing",
    )

    convert = commands.add_parser(
        "convert",
        help="convert a 360Learning v1 sheet to a v2 sheet (the v1 API is being retired)",
        description="Convert a 360Learning v1 sheet into a v2 sheet that `run` takes, by the "
        "vendor's migration guide: names renamed, the first instructor email as main "
        "instructor and the others as co-instructors (looked up at import time), the owner "
        "group dropped (v2 picks it), registration validation added.",
    )
    convert.add_argument("file", type=Path, metavar="FILE", help="the v1 sheet")
    convert.add_argument(
        "--from",
        dest="source_vendor",
        default="360learning-v1",
        choices=["360learning-v1"],
        help="the sheet's vendor",
    )
    convert.add_argument(
        "--to",
        dest="target_vendor",
        default="360learning-v2",
        choices=["360learning-v2"],
        help="the vendor to convert to",
    )
    convert.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT",
        help="the v2 sheet (.xlsx or .csv; default NAME.v2.xlsx or .csv)",
    )
    convert.add_argument(
        "--registration-validation",
        default="disabled",
        metavar="VALUE",
        help="registrationRequestValidation of every row (default: disabled)",
    )
    convert.add_argument(
        "--default-instructor",
        metavar="EMAIL",
        help="main instructor for rows with no instructor (v1's platform owner)",
    )
    convert.add_argument("--sheet", metavar="NAME", help="the worksheet to read")
    convert.add_argument("--timezone", metavar="TZ", help="time zone of dates typed without one")
    convert.add_argument("--path-id", metavar="ID", help="the path of rows without a Path ID")

    export = commands.add_parser(
        "export",
        help="read sessions (or members) back from the vendor into a sheet",
        description="Read sessions back from the vendor into a spreadsheet for checking: "
        "360Learning v1 program sessions by ID, v2 sessions of a path, Zoho sessions of a "
        "module, Coursepath members of a course. --from-result reads back exactly the rows a "
        "run created and marks every field that differs from what was sent.",
    )
    export.add_argument("--vendor", required=True, help=f"one of: {vendors}")
    export.add_argument(
        "-o", "--output", type=Path, metavar="OUT", required=True, help="the sheet to write"
    )
    export.add_argument(
        "--from-result", type=Path, metavar="RESULT", help="a result sheet of a run"
    )
    export.add_argument("--path-id", metavar="ID", help="360Learning v2: the path")
    export.add_argument("--session-id", metavar="ID,ID", help="360Learning v1: program session IDs")
    export.add_argument(
        "--course-id", metavar="ID", help="Zoho: the course; Coursepath: the course"
    )
    export.add_argument("--batch-id", metavar="ID", help="Zoho: the batch")
    export.add_argument("--module-id", metavar="ID", help="Zoho: the module")
    _host_arguments(export)
    export.add_argument("--timezone", metavar="TZ", help="time zone of the result sheet's dates")

    status = commands.add_parser(
        "status",
        help="show what a job's journal holds",
        description="Show a job's journal: rows per state, the runs, and the rows needing a look.",
    )
    status.add_argument("journal", type=Path, metavar="JOURNAL", help="the job's .journal.sqlite")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    rewrite = commands.add_parser(
        "report",
        help="rewrite a result sheet from a job's journal",
        description="Write the result sheet of a job from its journal and its input file, "
        "sending nothing (after a crash killed a run before it wrote its sheet).",
    )
    rewrite.add_argument("journal", type=Path, metavar="JOURNAL", help="the job's .journal.sqlite")
    rewrite.add_argument(
        "--file", type=Path, metavar="FILE", help="the input (default: the last run's)"
    )
    rewrite.add_argument("--result", type=Path, metavar="OUT", help="where to write the sheet")

    template = commands.add_parser(
        "template",
        help="write a vendor's Excel template",
        description="Write an Excel template for a vendor: headers, an example row, "
        "dropdowns and an Instructions sheet.",
    )
    template.add_argument("vendor", metavar="VENDOR", help=f"one of: {vendors}, or 'all'")
    template.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT",
        help="file or folder (default: VENDOR-template.xlsx here)",
    )

    listing = commands.add_parser(
        "vendors",
        help="list the vendors, their columns, formats and limits",
        description="List every vendor with its columns (required or not, what to type) "
        "and its documented rate limits.",
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    sandbox = commands.add_parser(
        "sandbox",
        help="serve local copies of the vendors' APIs, to rehearse and to test against",
        description="Serve 360Learning v1/v2, Zoho People (with its accounts server) and "
        "Coursepath on one port, under path prefixes, following each vendor's documented "
        "contract. Prints the base URLs and the sandbox credentials, then serves until "
        "Ctrl-C.",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=8360, help="port (default: 8360; 0: any free)")
    sandbox.add_argument("--seed", type=Path, metavar="FILE", help="accounts to start with (JSON)")
    sandbox.add_argument(
        "--faults",
        metavar="SPEC",
        default="",
        help="e.g. 'zoho-people:500=0.1,latency=0.05;360learning-v2:429=0.2,drop=0.05' "
        "(shares from 0 to 1; drop = create processed, answer lost)",
    )
    sandbox.add_argument(
        "--zoho-lock-style",
        choices=["429", "7209", "422"],
        default="429",
        help="how Zoho refuses calls during its 5-minute lock (default: 429 + Retry-After)",
    )
    sandbox.add_argument(
        "--fake-clock",
        action="store_true",
        help="run on a clock that only moves through POST /_sandbox/clock (for tests)",
    )
    sandbox.add_argument(
        "--allow-remote", action="store_true", help="allow binding a non-loopback address"
    )
    sandbox.add_argument(
        "--json",
        action="store_true",
        help="first line on stdout: one JSON object, vendor -> base_url, auth_url, env",
    )
    return parser


def _host_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the vendor is: its API host and its token host."""
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="the vendor's API host (default: $IMPORTER_BASE_URL, else the real host)",
    )
    parser.add_argument(
        "--auth-url",
        metavar="URL",
        help="the token host, e.g. Zoho's accounts server ($IMPORTER_AUTH_URL)",
    )


def _sheet_arguments(
    parser: argparse.ArgumentParser, vendor_required: bool, file_required: bool = True
) -> None:
    """The arguments every command reading a sheet takes."""
    parser.add_argument(
        "file",
        type=Path,
        metavar="FILE",
        nargs=None if file_required else "?",
        help="the .csv, .xlsx, .xls or .ods file"
        + ("" if file_required else " (default: the job file's input: a file or an inbox folder)"),
    )
    vendors = ", ".join(REGISTRY)
    parser.add_argument(
        "--vendor",
        required=vendor_required,
        help=f"one of: {vendors}" + ("" if vendor_required else " (default: the job file's)"),
    )
    parser.add_argument(
        "--result",
        type=Path,
        metavar="OUT",
        help="where to write the result sheet (.xlsx or .csv); default: next to the input, "
        "as NAME.result.xlsx (NAME.result.csv for CSV input)",
    )
    parser.add_argument(
        "--sheet", metavar="NAME", help="the worksheet to read (default: the first)"
    )
    parser.add_argument(
        "--timezone",
        metavar="TZ",
        default=os.environ.get("IMPORTER_TIMEZONE") or None,
        help="IANA time zone of dates typed without one, e.g. Europe/Paris "
        "(default: $IMPORTER_TIMEZONE, else UTC)",
    )
    parser.add_argument(
        "--date-order",
        choices=["DMY", "MDY"],
        type=str.upper,
        help="how to read dates like 04-01-2022: DMY day first, MDY month first "
        "(default: the vendor's documented order, day first)",
    )
    parser.add_argument(
        "--path-id",
        metavar="ID",
        help="360Learning: the path of every row without a Path ID column/cell",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (never raises for a user's mistake)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "run":
            return _run(args)
        if args.command == "template":
            return _template(args)
        if args.command == "sandbox":
            return _sandbox(args)
        if args.command == "status":
            return _status(args)
        if args.command == "convert":
            return _convert(args)
        if args.command == "export":
            return _export(args)
        if args.command == "report":
            return _report(args)
        return _vendors(args)
    except ImporterError as error:
        print(f"session-importer: error: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`): nothing more to say.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stdout must stay open until exit
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        print("session-importer: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("IMPORTER_DEBUG"):
            raise
        print(
            f"session-importer: internal error ({type(error).__name__}); "
            "run again with IMPORTER_DEBUG=1 for details, and report it",
            file=sys.stderr,
        )
        return EXIT_CANNOT_RUN


def _validate(args: argparse.Namespace) -> int:
    vendor = get_vendor(args.vendor)
    defaults = _defaults(args, vendor)
    report = validate(
        args.file,
        vendor,
        sheet=args.sheet,
        timezone=args.timezone,
        date_order=args.date_order,
        defaults=defaults,
    )
    written = write_report(report, args.result)
    code = EXIT_OK if report.ok else EXIT_INVALID_ROWS
    counts = report.counts()
    if args.json:
        summary = {
            "command": "validate",
            "file": str(args.file),
            "vendor": vendor.name,
            "rows": report.row_count,
            "counts": counts,
            "result": str(written),
            "exit_code": code,
        }
        print(json.dumps(summary))
        return code
    rows = f"{report.row_count} row{'s' if report.row_count != 1 else ''}"
    print(f"{args.file}: {rows}: {counts['valid']} valid, {counts['invalid']} invalid.")
    for number, error in enumerate(report.all_errors()):
        if number == _SHOWN_ERRORS:
            print("  ... and more: every problem is in the result sheet.")
            break
        print(f"  {args.file}: {error}")
    print(f"Result sheet: {written}")
    return code


def _sandbox(args: argparse.Namespace) -> int:
    from importer.clock import FakeClock
    from importer.sandbox import (
        VENDORS,
        Sandbox,
        SandboxServer,
        SandboxState,
        describe,
        load_seed,
        parse_faults,
    )

    state = SandboxState.fresh(
        load_seed(args.seed),
        FakeClock() if args.fake_clock else None,
        parse_faults(args.faults, VENDORS),
        zoho_lock_style=args.zoho_lock_style,
    )
    sandbox = Sandbox(state)
    server = SandboxServer(sandbox.app, args.host, args.port, allow_remote=args.allow_remote)
    server.start()
    endpoints = describe(server.url, sandbox.state)
    if args.json:
        print(json.dumps(endpoints), flush=True)
    else:
        print(f"Sandbox serving on {server.url} (inspection: {server.url}/_sandbox/requests)")
        for vendor, info in endpoints.items():
            print(f"\n{vendor}\n  base URL: {info['base_url']}")
            if info["auth_url"]:
                print(f"  auth URL: {info['auth_url']}")
            for name, value in info["env"].items():
                print(f"  export {name}={value}")
        print("\nCtrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("Sandbox stopped.", file=sys.stderr)
    finally:
        server.stop()
    return EXIT_OK


_SHEET_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods"}


def _run(args: argparse.Namespace) -> int:
    """`run`: one file, or every new file of a job's inbox folder; one JSON line with --json."""
    from importer.config import load_job

    job = load_job(args.config) if args.config else None
    section = (job or {}).get("job", {})
    args.job, args.section = job, section
    log_path = args.log or section.get("log")
    args.log_file = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
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
            defaults=_defaults(args, vendor),
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


def _convert(args: argparse.Namespace) -> int:
    import datetime as dt

    from importer.convert import convert_v1_to_v2

    report = validate(
        args.file,
        args.source_vendor,
        sheet=args.sheet,
        timezone=args.timezone,
        defaults={"pathId": args.path_id} if args.path_id else None,
    )
    conversion = convert_v1_to_v2(report, args.registration_validation, args.default_instructor)
    suffix = ".csv" if report.table.delimiter else ".xlsx"
    target = args.output or args.file.with_name(f"{args.file.stem}.v2{suffix}")
    summary = [
        ("Converted from", str(args.file)),
        ("From", args.source_vendor),
        ("To", args.target_vendor),
        ("Rows converted", str(conversion.converted)),
        ("Rows not converted", str(conversion.failed)),
        ("Written at", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
    ]
    written = conversion.write(target, summary)
    print(
        f"{args.file}: {conversion.converted} rows converted, {conversion.failed} not. "
        f"v2 sheet: {written}"
    )
    print(f"Import it with: session-importer run {written} --vendor 360learning-v2")
    return EXIT_OK if not conversion.failed else EXIT_INVALID_ROWS


def _export(args: argparse.Namespace) -> int:
    import pandas as pd

    from importer.config import resolve_settings
    from importer.export import compare_created, export_sessions, flatten
    from importer.results import ResultSheet, write_result

    vendor = get_vendor(args.vendor)
    flags = {"base_url": args.base_url, "auth_url": args.auth_url}
    settings = resolve_settings(vendor.name, flags=flags, env=dict(os.environ))
    target = {
        "path_id": args.path_id or "",
        "session_ids": args.session_id or "",
        "course_id": args.course_id or "",
        "batch_id": args.batch_id or "",
        "module_id": args.module_id or "",
    }
    if args.from_result:
        report = validate(args.from_result, vendor, timezone=args.timezone)
        frame = report.table.frame
        created = {}
        for row in frame.index:
            status = str(frame.at[row, "Status"]) if "Status" in frame.columns else ""
            ident = str(frame.at[row, "Created ID"]) if "Created ID" in frame.columns else ""
            if status in ("created", "skipped") and ident and int(row) not in report.errors:
                sent = report.values.loc[row]
                created[ident] = {k: (None if pd.isna(v) else v) for k, v in sent.items()}
        if not created:
            raise ConfigurationError(f"{args.from_result}: no created row with a Created ID.")
        first = next(iter(created.values()))
        target.update(
            {
                k: target[k] or str(first.get(v) or "")
                for k, v in (
                    ("course_id", "courseId"),
                    ("batch_id", "batchId"),
                    ("module_id", "moduleId"),
                )
            }
        )
        result = compare_created(settings, created, target)
        differing = int((result["Check"] == "differs").sum()) if len(result) else 0
        write_result(
            ResultSheet(result, [("Read back from", str(args.from_result))], status_column="Check"),
            args.output,
        )
        print(f"{len(result)} created rows read back: {differing} differ. Sheet: {args.output}")
        return EXIT_OK if not differing else EXIT_INVALID_ROWS
    items = export_sessions(settings, target)
    frame = pd.DataFrame([flatten(i) for i in items], dtype="str")
    if frame.empty:
        frame = pd.DataFrame({"Status": pd.Series(dtype="str")})
    if "Status" not in frame.columns:
        frame.insert(0, "Status", "exported")
    write_result(
        ResultSheet(frame, [("Vendor", vendor.name), ("Objects", str(len(items)))]), args.output
    )
    print(f"{len(items)} exported from {vendor.name}. Sheet: {args.output}")
    return EXIT_OK


def _existing_journal(path: Path) -> Journal:
    from importer.journal import Journal

    if not path.is_file():
        raise ConfigurationError(f"{path}: no such journal.")
    return Journal(path, Journal.vendor_of(path))


def _status(args: argparse.Namespace) -> int:
    journal = _existing_journal(args.journal)
    try:
        counts = journal.counts()
        runs = journal.runs()
        attention = [e for e in journal.entries() if e.state in ("unknown", "sending", "rejected")]
        if args.json:
            print(
                json.dumps(
                    {
                        "journal": str(args.journal),
                        "vendor": journal.meta("vendor"),
                        "target": journal.meta("target"),
                        "counts": counts,
                        "runs": len(runs),
                        "last_run": runs[-1] if runs else None,
                    }
                )
            )
            return EXIT_OK
        print(f"{args.journal}: {journal.meta('vendor')} job, into {journal.meta('target')}")
        print("rows: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
        for run in runs[-5:]:
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run["started"]))
            state = "finished" if run["finished"] else "did not finish"
            counts_then = run["summary"].get("counts", "")
            print(f"run {run['id']} at {started} ({state}): {run['source']} {counts_then}")
        for entry in attention[:20]:
            print(f"  sheet row {entry.sheet_row}: {entry.state}: {entry.message}")
    finally:
        journal.close()
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from importer.pipeline import JournalOptions, journal_report

    journal = _existing_journal(args.journal)
    try:
        runs = journal.runs()
        source = args.file or (Path(runs[-1]["source"]) if runs else None)
        if source is None:
            raise ConfigurationError("the journal records no run; give --file.")
        vendor = get_vendor(journal.meta("vendor") or "")
        path_id = journal.meta("path_id")
        report = validate(
            source,
            vendor,
            sheet=journal.meta("sheet") or None,
            timezone=journal.meta("timezone") or None,
            date_order=journal.meta("date_order") or None,
            defaults={"pathId": path_id} if path_id else None,
        )
        options = JournalOptions(journal, journal.meta("key") or None)
        run = journal_report(report, options, vendor.name)
    finally:
        journal.close()
    written = write_report(run.validation, args.result, run)
    print(f"Result sheet: {written} ({', '.join(f'{n} {s}' for s, n in run.counts().items())})")
    return EXIT_OK


def _open_journal(
    args: argparse.Namespace, report: ValidationReport, vendor: str, target: str
) -> Journal:
    """The job's journal: --journal, else beside the result sheet (a fresh one for --sandbox)."""
    import tempfile

    from importer.journal import Journal
    from importer.results import default_result_path

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


def _defaults(args: argparse.Namespace, vendor: Vendor) -> dict[str, str] | None:
    if not args.path_id:
        return None
    if "pathId" not in {f.name for f in vendor.fields}:
        raise ConfigurationError(f"--path-id does not apply to {vendor.name}.")
    return {"pathId": args.path_id}


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _template(args: argparse.Namespace) -> int:
    names = list(REGISTRY) if args.vendor.strip().lower() == "all" else [args.vendor]
    target = args.output or Path.cwd()
    if len(names) > 1:
        target.mkdir(parents=True, exist_ok=True)
    for name in names:
        print(write_template(get_vendor(name), target))
    return EXIT_OK


def _vendors(args: argparse.Namespace) -> int:
    if args.json:
        print(
            json.dumps(
                {
                    vendor.name: {
                        "title": vendor.title,
                        "rate_limit": vendor.rate_limit,
                        "columns": [
                            {
                                "name": f.name,
                                "label": f.label,
                                "required": f.required,
                                "format": f.kind.hint,
                                "choices": list(f.kind.choices),
                            }
                            for f in vendor.fields
                        ],
                    }
                    for vendor in REGISTRY.values()
                },
                indent=2,
            )
        )
        return EXIT_OK
    for vendor in REGISTRY.values():
        print(f"{vendor.name}: {vendor.title}")
        print(f"  rate limit: {vendor.rate_limit}")
        labels = {f.name: f.label for f in vendor.fields}
        for f in vendor.fields:
            print(f"  - {f.label} ({f.name}, {f.need(labels)}): {f.kind.hint}")
        print()
    return EXIT_OK
