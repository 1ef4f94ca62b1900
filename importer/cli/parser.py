"""The command line's arguments: every command, its options, their ranges and help texts.

The documentation's command reference (docs/commands.md) is this module's ``--help`` output
(a test keeps it so).

What is one vendor's (its options, sheet flags, export targets, commands, sandbox flags)
comes from the vendors' declarations (:func:`importer.vendors.declarations`), read without
building any plugin; help texts that list vendors by what their plugins do (which take one
request at a time, which document no delete) are written when ``--help`` asks for them.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from importer.core.outcomes import ExitCode
from importer.core.version import __version__
from importer.vendors import REGISTRY, declarations

if TYPE_CHECKING:
    from importer.vendors.declarations import Declarations, Option, SheetDefault

__all__ = ["WHO_HELP", "build_parser", "command_names", "labelled", "listed", "on_help"]

#: Who the journal records with a run or an undo (``run`` and ``undo`` say it in --help).
WHO_HELP = (
    "The account's journal records who ran it (`status` shows it): $IMPORTER_USER when set "
    "(a plain name of at most 200 characters, for a scheduler running as a service account, "
    "e.g. nightly:acme), else the operating-system user."
)

#: The exit code of a usage error (the same as every "could not run").
_EXIT_CANNOT_RUN = ExitCode.CANNOT_RUN


class _OnHelp(str):
    """A help text written when ``--help`` shows it (it may build the vendors' plugins)."""

    write: Callable[[], str]


def on_help(write: Callable[[], str]) -> str:
    """A help text or description that ``write`` gives when ``--help`` shows it, not when
    the parser is built (every command builds it: most never show it)."""
    text = _OnHelp("(written when --help shows it)")
    text.write = write
    return text


def _shown(text: str | None) -> str | None:
    return text.write() if isinstance(text, _OnHelp) else text


class _Formatter(argparse.HelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str | None:
        return _shown(action.help)


class _Unbuilt:
    """What a command's parser is in a process that runs another command: its arguments go
    nowhere (it is listed in ``--help``, never parsed with)."""

    def __getattr__(self, name: str) -> Callable[..., _Unbuilt]:
        return self._take

    def _take(self, *args: object, **kwargs: object) -> _Unbuilt:
        return self


if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsers = argparse._SubParsersAction


class _Commands(_SubParsers):
    """The commands, of which only ``wanted`` is built in full when it is set.

    Every command builds the parser, and building all 14 commands' arguments (with their
    plugins' modules) was most of the start-up of `--help` and `status` (issue 27): the
    others are only listed, as argparse lists them (name and help line).
    """

    wanted: str | None = None
    everything = True

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if self.everything or name == self.wanted:
            return super().add_parser(name, **kwargs)
        if "help" in kwargs:
            self._choices_actions.append(self._ChoicesPseudoAction(name, (), kwargs["help"]))
        unbuilt = cast(argparse.ArgumentParser, _Unbuilt())
        self._name_parser_map[name] = unbuilt
        return unbuilt


def _command_of(arguments: Sequence[str]) -> str | None:
    """The command ``arguments`` name: the first that is not an option (the top level's
    options, ``-h`` and ``--version``, take no value); ``None``: none."""
    return next((a for a in arguments if not a.startswith("-")), None)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 like every other failure."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(_EXIT_CANNOT_RUN, f"{self.prog}: error: {message} (see --help)\n")

    def format_help(self) -> str:
        self.description = _shown(self.description)
        return super().format_help()


def listed(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def labelled(declared: Iterable[tuple[str, Declarations]], text: str) -> str:
    """``text`` after the labels of the vendors it is about: ``Zoho People: ...``."""
    return f"{', '.join(d.label or name for name, d in declared)}: {text}"


def _plugins_where(test: Callable[[object], bool]) -> list[str]:
    """The labels of the vendors whose plugin passes ``test`` (builds every plugin)."""
    from importer.vendors import PLUGINS

    return [p.declared.label or p.name for p in PLUGINS.values() if test(p)]


def at_least(lowest: int) -> Callable[[str], int]:
    def number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"{value} is too small: give {lowest} or more")
        return value

    number.__name__ = "number"
    return number


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} calls a second: give a number above 0")
    return value


def _url(text: str) -> str:

    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a web address: give it like https://api.example.com"
        )
    return text.strip()


def command_names() -> list[str]:
    """Every command of the command line, in the order ``--help`` lists them (for the docs'
    reference and its test). argparse has no public way to list sub-commands."""
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def build_parser(arguments: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser (also used to render docs/commands.md); given the ``arguments``
    it will parse, only the command they name is built in full (the others are listed)."""
    vendors = ", ".join(REGISTRY)
    parser = _Parser(
        prog="session-importer",
        description="Validate a spreadsheet of training sessions and import it into a "
        "learning platform.",
        epilog="Exit codes: 0 all rows valid, 1 some rows invalid, 2 could not run.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = cast(
        _Commands,
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND", action=_Commands),
    )
    if arguments is not None:
        commands.everything, commands.wanted = False, _command_of(arguments)

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
        "from IMPORTER_* environment variables (see docs/importing.md), never from the command "
        "line.",
        epilog=f"{WHO_HELP} "
        "Exit codes: 0 every row created, 1 some rows not created, 2 could not run, "
        "3 stopped by a fatal vendor error (credentials, scope), 4 an --update over the "
        "mass-change guard (give --confirm N), 130 interrupted (Ctrl-C), 143 terminated "
        "(SIGTERM).",
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
    run.add_argument(
        "--check",
        action="store_true",
        help="check the job (job file, credentials with a token request, paths) and import nothing",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and plan (rows already created, rows to send), send nothing; needs no "
        "credentials",
    )
    run.add_argument(
        "--limit", type=at_least(0), metavar="N", help="send at most N rows (the first valid ones)"
    )
    run.add_argument(
        "--concurrency",
        type=at_least(1),
        metavar="N",
        help=on_help(_concurrency_help),
    )
    run.add_argument(
        "--rate",
        type=_rate,
        metavar="PER_S",
        help="calls per second at most (default: the vendor's documented limit, with headroom); "
        "never above the documented limit without --beyond-documented-rate",
    )
    run.add_argument(
        "--beyond-documented-rate",
        action="store_true",
        help="let --rate go above the vendor's documented limit (the vendor may refuse or "
        "lock the account: for a vendor that raised your limit in writing)",
    )
    run.add_argument(
        "--priority",
        choices=("interactive", "batch"),
        help="how this run takes turns with other runs on the same account: interactive "
        "gets 10 calls for a batch run's 1 (default: interactive with at most 50 rows to "
        "send, $IMPORTER_INTERACTIVE_ROWS or interactive_rows in the job file; else batch)",
    )
    _option_arguments(run, "options")
    host_arguments(run)
    run.add_argument(
        "--json", action="store_true", help="print one JSON summary line on stdout, no progress bar"
    )
    run.add_argument(
        "--journal",
        type=Path,
        metavar="FILE",
        help="a journal of this job's own (default: the vendor account's, in the state folder; "
        "with --sandbox, a throw-away one)",
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
        "--wait",
        action="store_true",
        help=(
            "wait for the outcome of rows another run on the account is sending (else they "
            "are reported skipped)"
        ),
    )
    run.add_argument(
        "--settle",
        type=float,
        metavar="SECONDS",
        help="inbox: leave a sheet changed less than SECONDS ago (still being copied or saved) "
        "for the next run (default: 60; 0 takes every sheet)",
    )
    run.add_argument(
        "--log", type=Path, metavar="FILE", help="append what happens to this log file"
    )
    run.add_argument(
        "--store",
        metavar="URL",
        help="share journals, locks, the rate budget and tokens with other hosts: "
        "postgresql://USER@HOST/DB (default: $IMPORTER_STORE, else this machine's files)",
    )
    run.add_argument(
        "--resolve-only",
        action="store_true",
        help="look up the email columns and write the sheet with the IDs filled in; create nothing",
    )

    run.add_argument(
        "--update",
        action="store_true",
        help="change at the vendor the rows created earlier and edited since (rows known by "
        "--key; without it, rows read in another --timezone or --date-order; "
        'job file: mode = "sync"); the result sheet says what changed, old → new',
    )
    from importer.cli.undo import add_guard_arguments, add_undo_parser  # issue 16

    add_guard_arguments(run)
    from importer.cli.store import add_store_parser  # issue 14: the shared store

    add_store_parser(commands)
    add_undo_parser(commands)

    for declared in declarations().values():
        for command in declared.commands:
            added = commands.add_parser(
                command.name, help=command.help, description=command.description
            )
            command.arguments(added)
            added.set_defaults(vendor_command=command.run)

    export = commands.add_parser(
        "export",
        help="read sessions (or members) back from the vendor into a sheet",
        description="Read back from the vendor into a spreadsheet, for checking, what it "
        "holds: "
        + "; ".join(labelled([(n, d)], d.exports) for n, d in declarations().items() if d.exports)
        + ". --from-result reads back exactly the rows a run created and marks every field "
        "that differs from what was sent.",
    )
    export.add_argument("--vendor", required=True, help=f"one of: {vendors}")
    export.add_argument(
        "-o", "--output", type=Path, metavar="OUT", required=True, help="the sheet to write"
    )
    export.add_argument(
        "--from-result", type=Path, metavar="RESULT", help="a result sheet of a run"
    )
    _export_targets(export)
    host_arguments(export)
    export.add_argument("--timezone", metavar="TZ", help="time zone of the result sheet's dates")

    status = commands.add_parser(
        "status",
        help="show what a job's journal holds",
        description="Show a journal: rows per state, the runs (imports, updates and undos, "
        "each with who ran it), and the rows needing a look; without JOURNAL, list the "
        "accounts' journals in the state folder. Either way, then the runs in progress on "
        "the accounts (who, rows left, share of the budget, ETA, waiting for its turn).",
    )
    status.add_argument(
        "journal",
        metavar="JOURNAL",
        nargs="?",
        help="the journal (`run --json` gives its path; with --store, its name); default: "
        "list them",
    )
    status.add_argument(
        "--runs",
        type=at_least(0),
        default=5,
        metavar="N",
        help="show the latest N runs (default 5; 0: every run, to find one to undo)",
    )
    status.add_argument(
        "--store",
        metavar="URL",
        help="read JOURNAL, a journal's name (`store status` lists them), from the shared "
        "store postgresql://USER@HOST/DB",
    )
    status.add_argument(
        "--json",
        action="store_true",
        help="machine-readable output (runs_detail: each run's ID, times, source, who ran it, "
        "counts; in_progress: the runs sending now on the account, each with who, rows left, "
        "share, ETA, waiting_for_turn)",
    )

    rewrite = commands.add_parser(
        "report",
        help="rewrite a result sheet from a job's journal",
        description="Write the result sheet of a job from its journal and its input file, "
        "sending nothing (after a crash killed a run before it wrote its sheet).",
    )
    rewrite.add_argument("journal", type=Path, metavar="JOURNAL", help="the journal (see `status`)")
    rewrite.add_argument(
        "--file", type=Path, metavar="FILE", help="the input (default: the last run's)"
    )
    rewrite.add_argument(
        "--result",
        type=Path,
        metavar="OUT",
        help="where to write the sheet (default: NAME.result.xlsx beside the input, if no such "
        "file exists)",
    )

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
        description=on_help(_sandbox_description),
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=8360, help="port (default: 8360; 0: any free)")
    sandbox.add_argument("--seed", type=Path, metavar="FILE", help="accounts to start with (JSON)")
    sandbox.add_argument(
        "--faults",
        metavar="SPEC",
        default="",
        help=f"e.g. {_faults_example()} (shares from 0 to 1; drop = create processed, answer lost)",
    )
    _option_arguments(sandbox, "sandbox_options")
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
    from importer.web.server import add_arguments as serve_arguments

    serve_arguments(
        commands.add_parser(
            "serve",
            help="serve the coordinators' web page: upload, check, import, watch, download",
            description="Serve a web page on which coordinators upload a sheet, see every "
            "problem in its cell, import the valid rows while watching the progress, and "
            "download the result sheet; the same checks, pacing and journal as `run`. Binds "
            "127.0.0.1; another address needs IMPORTER_WEB_PASSWORD.",
        )
    )
    return parser


def host_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the vendor is: its API host and its token host."""
    parser.add_argument(
        "--base-url",
        type=_url,
        metavar="URL",
        help="the vendor's API host (default: $IMPORTER_BASE_URL, else the real host)",
    )
    parser.add_argument(
        "--auth-url",
        type=_url,
        metavar="URL",
        help="the token host, where the vendor has one apart from its API host "
        "($IMPORTER_AUTH_URL)",
    )
    parser.add_argument(
        "--allow-http",
        action="store_true",
        help="allow plain http to a host that is not this machine (credentials then travel "
        "unencrypted: for a test proxy only)",
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
        "--sheet", metavar="NAME", help="the worksheet to read (default: the first visible one)"
    )
    parser.add_argument(
        "--timezone",
        metavar="TZ",
        default=os.environ.get("IMPORTER_TIMEZONE") or None,
        help="IANA time zone of dates typed without one, e.g. Europe/Paris "
        "(default: $IMPORTER_TIMEZONE; none: `run` refuses such dates where the vendor takes "
        "zoned times, `validate` reads them as UTC and warns)",
    )
    parser.add_argument(
        "--date-order",
        choices=["DMY", "MDY"],
        type=str.upper,
        help="how to read dates like 04-01-2022: DMY day first, MDY month first "
        "(default: the vendor's documented order, day first)",
    )
    parser.add_argument(
        "--map",
        action="append",
        metavar="HEADER=FIELD",
        help='the sheet\'s column HEADER holds FIELD, e.g. --map "Formateur (ID)=Trainer erecno" '
        "(repeat for more; also the job file's [columns] table); columns chosen on the page "
        "for sheets with the same headers are remembered in the account's journal",
    )
    defaults: dict[str, list[tuple[str, Declarations]]] = {}
    shown: dict[str, SheetDefault] = {}
    for name, declared in declarations().items():
        for default in declared.sheet_defaults:
            defaults.setdefault(default.flag, []).append((name, declared))
            shown.setdefault(default.flag, default)
    for flag, vendors_of in defaults.items():
        default = shown[flag]
        parser.add_argument(
            flag, dest=default.key, metavar=default.metavar, help=labelled(vendors_of, default.help)
        )


def _option_arguments(parser: argparse.ArgumentParser, kind: str) -> None:
    """The vendors' declared options (``run``) or sandbox options (``sandbox``), one flag each
    (an option two vendors declare alike is one flag)."""
    found: dict[str, tuple[Option, list[tuple[str, Declarations]]]] = {}
    for name, declared in declarations().items():
        options: tuple[Option, ...] = getattr(declared, kind)
        for option in options:
            found.setdefault(option.flag, (option, []))[1].append((name, declared))
    for option, vendors_of in found.values():
        text = labelled(vendors_of, option.help)
        if option.switch:
            parser.add_argument(
                option.flag, dest=option.name, action="store_const", const="true", help=text
            )
        else:
            parser.add_argument(
                option.flag,
                dest=option.name,
                choices=list(option.choices) or None,
                default=option.default,
                help=text,
            )


def _export_targets(export: argparse.ArgumentParser) -> None:
    """What ``export`` is told to list, one flag per target (vendors may share one)."""
    found: dict[str, list[tuple[str, str, str, str]]] = {}
    for name, declared in declarations().items():
        for target in declared.export_targets:
            found.setdefault(target.flag, []).append(
                (target.key, target.metavar, declared.label or name, target.help)
            )
    for flag, targets in found.items():
        key, metavar = targets[0][0], targets[0][1]
        text = "; ".join(f"{label}: {words}" for _, _, label, words in targets)
        export.add_argument(flag, dest=key, metavar=metavar, help=text)


def _concurrency_help() -> str:
    one = _plugins_where(lambda p: getattr(p, "wire").max_concurrency == 1)  # noqa: B009
    return "requests in flight at most (default 4" + (f"; {listed(one)}: always 1)" if one else ")")


def _sandbox_description() -> str:
    served = _plugins_where(lambda p: getattr(p, "sandbox") is not None)  # noqa: B009
    return (
        f"Serve {listed(served)} on one port, under path prefixes, following each vendor's "
        "documented contract (its token server too). Prints the base URLs and the sandbox "
        "credentials, then serves until Ctrl-C."
    )


def _faults_example() -> str:
    """The faults' syntax, on the first two vendors."""
    names = [*declarations(), "", ""][:2]
    return f"'{names[0]}:500=0.1,latency=0.05;{names[1]}:429=0.2,drop=0.05'"
