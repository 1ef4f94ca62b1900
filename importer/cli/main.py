"""The ``session-importer`` command line: parse, call the API, map outcomes to exit codes.

The arguments are in :mod:`importer.cli.parser`; ``run`` in :mod:`importer.cli.run`, its
inbox in :mod:`importer.cli.inbox`, ``run --check`` in :mod:`importer.cli.check`; the other
commands around an import in :mod:`importer.cli.tools`.

Exit codes:
    0    every row is valid (run: created)
    1    some rows are invalid (the result sheet says which and why)
    2    the command could not run: bad arguments, unreadable file, missing columns, a path
         that cannot be written (one line; with --json, the JSON line too)
    3    run: stopped by a fatal vendor error
    4    run --update, undo: over the mass-change guard (give --confirm N); nothing sent
    130  interrupted (Ctrl-C); 143 terminated (SIGTERM)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard

from importer.cli.parser import build_parser
from importer.core.errors import ConfigurationError, ImporterError, describe_os_error
from importer.core.outcomes import ExitCode, Status
from importer.vendors import REGISTRY, Vendor, declarations, get_vendor, plugin, sandbox_parts

if TYPE_CHECKING:
    import sqlite3

    from importer.jobs.validate_stream import Validated
    from importer.sending.protocol import Adapter

__all__ = [
    "EXIT_CANNOT_RUN",
    "EXIT_INVALID_ROWS",
    "EXIT_OK",
    "build_parser",
    "main",
]

EXIT_OK = ExitCode.OK
EXIT_INVALID_ROWS = ExitCode.NOT_ALL_DONE
EXIT_CANNOT_RUN = ExitCode.CANNOT_RUN
_SHOWN_ERRORS = 20
#: Files bigger than this may be validated slice by slice (importer.jobs.validate_stream).
_STREAM_BYTES = 256 * 1024


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (never raises for a user's mistake).

    Every failure of the command as a whole ends here: one line on stderr (and, with
    ``--json``, one JSON line on stdout), exit 2 (3 for a fatal vendor error).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser(arguments).parse_args(arguments)
    except SystemExit as stop:
        if stop.code == EXIT_CANNOT_RUN and "--json" in arguments:
            line = {"command": next(iter(arguments), ""), "error": "bad arguments (see stderr)"}
            print(json.dumps(line | {"exit_code": EXIT_CANNOT_RUN}), flush=True)
        raise
    try:
        return _dispatch(args)
    except ImporterError as error:
        return _fail(args, str(error), error.exit_code)
    except OSError as error:
        if isinstance(error, BrokenPipeError):
            # The reader of our output went away (e.g. `| head`): nothing more to say.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stdout must stay open until exit
            return EXIT_CANNOT_RUN
        return _fail(args, describe_os_error(error), EXIT_CANNOT_RUN)
    except KeyboardInterrupt as error:
        from importer.core.signals import signal_exit_code

        code = signal_exit_code(error)
        return _fail(args, "terminated" if code == 143 else "interrupted", code)
    except Exception as error:
        if _is_database_error(error):
            # A state file's fault (a journal's are raised with its path): a full disk is not
            # damage, and no advice may lose what a journal holds (see importer.store.faults).
            from importer.store.faults import journal_error

            return _fail(args, str(journal_error(error, None)), EXIT_CANNOT_RUN)
        if os.environ.get("IMPORTER_DEBUG"):
            raise
        return _fail(
            args,
            f"internal error ({type(error).__name__}); "
            "run again with IMPORTER_DEBUG=1 for details, and report it",
            EXIT_CANNOT_RUN,
        )


def _is_database_error(error: Exception) -> TypeGuard[sqlite3.DatabaseError]:
    """Whether ``error`` is SQLite's: sqlite3 is not imported here (`--help` would pay it);
    a command that raised one has loaded it."""
    sqlite3 = sys.modules.get("sqlite3")
    return sqlite3 is not None and isinstance(error, sqlite3.DatabaseError)


def _dispatch(args: argparse.Namespace) -> int:
    added = getattr(args, "vendor_command", None)
    if added is not None:  # a command a vendor declares (see importer.vendors.declarations)
        return int(added(args))
    if args.command == "validate":
        return _validate(args)
    if args.command == "run":
        from importer.cli.run import run_command

        return run_command(args)
    if args.command == "template":
        return _template(args)
    if args.command == "sandbox":
        return _sandbox(args)
    if args.command == "serve":
        from importer.web.server import serve_command

        return serve_command(args)
    if args.command == "undo":
        from importer.cli.undo import undo_command

        return undo_command(args)
    if args.command == "store":
        from importer.cli.store import store_command

        return store_command(args)
    if args.command in ("status", "export", "report"):
        from importer.cli import tools as cli_tools

        command = getattr(cli_tools, f"{args.command}_command")
        return int(command(args))
    return _vendors(args)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    """Say why the command could not run: one line on stderr, the JSON line with --json
    (every secret the process holds masked: an error may quote a vendor's answer)."""
    from importer.core.secret import scrub

    message = scrub(message)
    print(f"session-importer: error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        line = {"command": args.command, "error": message, "exit_code": code}
        print(json.dumps(line), flush=True)
    return code


def _validate(args: argparse.Namespace) -> int:
    # The reading and validating machinery (pandas, pyarrow) loads here, not with the
    # command line: `--help`, a wrong flag, `status` and `vendors` never pay it (issue 27).
    from importer.jobs.config import chosen_columns, parse_map, sheet_default_keys, sheet_defaults
    from importer.results.sheet import result_path

    vendor = get_vendor(args.vendor)
    defaults = sheet_defaults(
        {key: getattr(args, key, None) for key in sheet_default_keys()}, vendor
    )
    args.result = result_path(args.file, args.result)
    args.columns = chosen_columns(vendor, parse_map(args.map or []), "--map") or None
    validated = _validate_streamed(args, vendor, defaults) or _validate_whole(
        args, vendor, defaults
    )
    code = EXIT_OK if validated.ok else EXIT_INVALID_ROWS
    counts = validated.counts
    if args.json:
        summary = {
            "command": "validate",
            "file": str(args.file),
            "vendor": vendor.name,
            "rows": validated.row_count,
            "counts": counts,
            "result": str(validated.result),
            "exit_code": code,
            "dates_read_two_ways": validated.two_ways.count,
            "times_without_zone": validated.zoneless if args.timezone is None else 0,
        }
        if validated.sheet is not None:
            summary["sheet"] = validated.sheet
        print(json.dumps(summary))
        return code
    if validated.sheet_read is not None:
        print(f"{args.file}: read {validated.sheet_read}.")
    rows = f"{validated.row_count} row{'s' if validated.row_count != 1 else ''}"
    print(f"{args.file}: {rows}: {counts[Status.VALID]} valid, {counts[Status.INVALID]} invalid.")
    other = "MDY" if validated.two_ways.order == "DMY" else "DMY"
    two_ways = validated.two_ways.sentence(f"add --date-order {other}")
    if two_ways:
        print(f"{args.file}: {two_ways}.")
    if args.timezone is None and validated.zoneless:
        # Only a warning: validate sends nothing, and its rows' problems are still worth
        # seeing; `run` stops on the same sheet until it is given the zone.
        many = "1 row has" if validated.zoneless == 1 else f"{validated.zoneless} rows have"
        print(
            f"{args.file}: warning: {many} times without a time zone, read here as UTC; "
            "`run` refuses them until given --timezone (e.g. Europe/Paris) or timezone in "
            "the job file."
        )
    for number, error in enumerate(validated.first_errors):
        if number == _SHOWN_ERRORS:
            print("  ... and more: every problem is in the result sheet.")
            break
        print(f"  {args.file}: {error}")
    print(f"Result sheet: {validated.result}")
    return code


def _validate_streamed(
    args: argparse.Namespace, vendor: Vendor, defaults: dict[str, str] | None
) -> Validated | None:
    """A big CSV with a CSV result, validated slice by slice (``None``: not such a file)."""
    try:
        big = Path(args.file).stat().st_size > _STREAM_BYTES
    except OSError:
        return None  # the whole-file path says why
    if not big or args.sheet is not None or args.result.suffix.lower() != ".csv":
        return None
    from importer.jobs.validate_stream import validate_csv  # see _validate

    return validate_csv(
        Path(args.file),
        vendor,
        args.result,
        timezone=args.timezone,
        date_order=args.date_order,
        defaults=defaults,
        columns=args.columns,
        shown=_SHOWN_ERRORS + 1,
    )


def _validate_whole(
    args: argparse.Namespace, vendor: Vendor, defaults: dict[str, str] | None
) -> Validated:
    """The whole sheet read, validated and written at once (workbooks, small files)."""
    from importer.api import validate  # see _validate
    from importer.jobs.validate_stream import Validated
    from importer.results.write import write_report
    from importer.sheet.duplicates import flag_duplicates

    report = validate(
        args.file,
        vendor,
        sheet=args.sheet,
        timezone=args.timezone,
        date_order=args.date_order,
        defaults=defaults,
        columns=args.columns,
    )
    # A row repeated in the sheet is refused here as `run` will refuse it.
    report = flag_duplicates(report)
    written = write_report(report, args.result)
    errors = list(itertools.islice(report.all_errors(), _SHOWN_ERRORS + 1))
    table = report.table
    return Validated(
        report.row_count,
        report.counts(),
        errors,
        written,
        report.two_ways,
        report.zoneless(),
        sheet=table.sheet,
        sheet_read=table.which_sheet(),
    )


def _sandbox(args: argparse.Namespace) -> int:
    from importer.core.clock import FakeClock
    from importer.sandbox import (
        Sandbox,
        SandboxServer,
        SandboxState,
        is_loopback,
        load_seed,
        parse_faults,
    )

    state = SandboxState.fresh(
        load_seed(args.seed),
        FakeClock() if args.fake_clock else None,
        parse_faults(args.faults, list(REGISTRY)),
        **{
            option.name: getattr(args, option.name)
            for declared in declarations().values()
            for option in declared.sandbox_options
        },
    )
    sandbox = Sandbox(sandbox_parts(), state)
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
    endpoints = sandbox.describe(server.url)
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


def _template(args: argparse.Namespace) -> int:
    from importer.results.templates import write_template  # xlsxwriter: loaded where used

    names = list(REGISTRY) if args.vendor.strip().lower() == "all" else [args.vendor]
    target = args.output or Path.cwd()
    if len(names) > 1:
        if target.suffix.lower() in (".xlsx", ".xls", ".csv") or target.is_file():
            raise ConfigurationError(
                f"{target}: 'all' writes one template per vendor: give a folder (e.g. -o "
                "templates), or one vendor's name to write one file."
            )
        target.mkdir(parents=True, exist_ok=True)
    for name in names:
        print(write_template(get_vendor(name), target))
    return EXIT_OK


def _wire(name: str) -> Adapter:
    return plugin(name).wire


def _vendors(args: argparse.Namespace) -> int:
    if args.json:
        print(
            json.dumps(
                {
                    vendor.name: {
                        "title": vendor.title,
                        "rate_limit": vendor.rate_limit,
                        "pace": _wire(vendor.name).rate.explain(_wire(vendor.name).max_concurrency),
                        "scopes": _wire(vendor.name).scopes,
                        "odd_answers": list(_wire(vendor.name).odd_answers),
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
        wire = _wire(vendor.name)
        print(f"  rate limit: {vendor.rate_limit}")
        print(f"  our pace: {wire.rate.explain(wire.max_concurrency)}")
        print(f"  credentials need: {wire.scopes}")
        for line in wire.odd_answers:
            print(f"  * {line}")
        labels = {f.name: f.label for f in vendor.fields}
        for f in vendor.fields:
            print(f"  - {f.label} ({f.name}, {f.need(labels)}): {f.kind.hint}")
        print()
    return EXIT_OK
