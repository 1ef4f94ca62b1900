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
from collections.abc import Sequence
from pathlib import Path

from importer.api import __version__, write_report
from importer.errors import ConfigurationError, ImporterError
from importer.templates import write_template
from importer.validation import validate
from importer.vendors import REGISTRY, Vendor, get_vendor

__all__ = [
    "EXIT_CANNOT_RUN",
    "EXIT_INVALID_ROWS",
    "EXIT_OK",
    "build_parser",
    "main",
    "sheet_defaults",
]

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
            from importer.cli_run import run_command

            return run_command(args)
        if args.command == "template":
            return _template(args)
        if args.command == "sandbox":
            return _sandbox(args)
        if args.command in ("status", "convert", "export", "report"):
            from importer import cli_tools

            command = getattr(cli_tools, f"{args.command}_command")
            return int(command(args))
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
    defaults = sheet_defaults(args, vendor)
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
        is_loopback,
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
    if not is_loopback(args.host):
        print(
            f"WARNING: the sandbox listens on {server.url}, reachable from other machines. "
            "Anyone who reaches it can use its test credentials and read its request log "
            "(/_sandbox/requests). Use it only on a network you trust; stop it when done.",
            file=sys.stderr,
            flush=True,
        )
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


def sheet_defaults(args: argparse.Namespace, vendor: Vendor) -> dict[str, str] | None:
    if not args.path_id:
        return None
    if "pathId" not in {f.name for f in vendor.fields}:
        raise ConfigurationError(f"--path-id does not apply to {vendor.name}.")
    return {"pathId": args.path_id}


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
