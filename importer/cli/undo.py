"""`session-importer undo`: delete at the vendor what one run created; the guard's options.

The work is :mod:`importer.jobs.undo`; this module parses the command, finds the account's journal
as ``run`` does, and writes the undo's result sheet. ``--update``'s guard options
(:func:`add_guard_arguments`, :func:`guard_of`) are shared with ``run``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.cli.parser import WHO_HELP, at_least, host_arguments, listed, on_help
from importer.core.errors import ConfigurationError

if TYPE_CHECKING:
    from importer.jobs.changes import Guard
    from importer.jobs.config import JobFile

__all__ = ["add_guard_arguments", "add_undo_parser", "guard_of", "undo_command", "updating"]


def add_guard_arguments(parser: argparse.ArgumentParser) -> None:
    """``--confirm N``, ``--guard-share PCT`` and ``--guard-rows N`` (``run`` and ``undo``)."""
    parser.add_argument(
        "--confirm",
        type=at_least(0),
        metavar="N",
        help="go ahead with an update or undo over the mass-change guard: N must be the exact "
        "number of rows it changes (the guard's message gives it)",
    )
    parser.add_argument(
        "--guard-share",
        type=float,
        metavar="PCT",
        help="the mass-change guard stops an update or undo touching more than PCT%% of the "
        "account's created rows (default 20; a change of 5 rows or fewer never stops)",
    )
    parser.add_argument(
        "--guard-rows",
        type=at_least(0),
        metavar="N",
        help="... or more than N rows, whatever the account's size (default 50)",
    )


def guard_of(args: argparse.Namespace) -> Guard:
    """The guard of the flags, else of the job file's ``guard_share``/``guard_rows``."""
    from importer.jobs.changes import Guard  # lazy: read by every parser (see undo_command)
    from importer.jobs.config import JobFile

    job: JobFile = getattr(args, "job", None) or JobFile()
    share = getattr(args, "guard_share", None)
    rows = getattr(args, "guard_rows", None)
    share = share if share is not None else job.guard_share
    rows = rows if rows is not None else job.guard_rows
    return Guard(
        share=float(share if share is not None else 20.0),
        rows=int(rows if rows is not None else 50),
        confirm=getattr(args, "confirm", None),
    )


def updating(args: argparse.Namespace, key: str | None) -> bool:
    """``run --update`` (or ``mode = "sync"``): change rows edited since they were created.

    Without a key column (``key``), a row is known by what was typed, its times as typed
    whatever the zone: an edited row is a new row, and the rows changed are those read in
    another time zone than when they were created (``--timezone`` given at last).
    """
    del key  # with or without one: see above
    return bool(getattr(args, "update", False)) or args.job.mode == "sync"


def add_undo_parser(commands: Any) -> None:
    """The ``undo`` command's arguments."""
    undo = commands.add_parser(
        "undo",
        help="delete at the vendor what one run created (a wrong sheet imported)",
        description=on_help(_undo_description),
        epilog=f"{WHO_HELP} Exit codes: 0 every row deleted (or listed by --dry-run), 1 some "
        "not, 2 could not run, 3 stopped by a fatal vendor error, 4 over the mass-change "
        "guard: give --confirm N.",
    )
    undo.add_argument(
        "run",
        metavar="RUN",
        help="the run's ID (see `session-importer status`) or its result sheet",
    )
    undo.add_argument("--vendor", help="the vendor (default: the job file's)")
    undo.add_argument("--config", type=Path, metavar="JOB.toml", help="the job file of the run")
    undo.add_argument(
        "--journal", type=Path, metavar="FILE", help="the run's journal (default: the account's)"
    )
    undo.add_argument(
        "--dry-run", action="store_true", help="list what would be deleted; send nothing"
    )
    add_guard_arguments(undo)
    undo.add_argument(
        "--row",
        type=_sheet_rows,
        action="extend",
        metavar="N[,N...]",
        help="only these sheet rows of the run (e.g. --row 12 or --row 12,15): one wrong row, "
        "not the whole run",
    )
    undo.add_argument(
        "--result",
        type=Path,
        metavar="OUT",
        help="the undo's result sheet (default: beside the run's, as NAME.run-N.undo.xlsx, or "
        ".csv like the run's; a later undo of the same run writes NAME.run-N.undo-2..., never "
        "over it; a dry run's: NAME.run-N.undo-dry-run...)",
    )
    undo.add_argument("--store", metavar="URL", help="the shared store (as for `run`)")
    undo.add_argument(
        "--wait",
        action="store_true",
        help=(
            "wait for rows another run on the account is updating or deleting (else they are "
            "left for the next undo)"
        ),
    )

    host_arguments(undo)
    undo.add_argument("--json", action="store_true", help="print one JSON summary line")


def _undo_description() -> str:
    """The description, naming the vendors that document no delete (builds every plugin)."""
    from importer.vendors import PLUGINS

    none = [
        p.declared.label or p.name
        for p in PLUGINS.values()
        if p.changes is None or p.changes.delete is None
    ]
    return (
        "Delete at the vendor what one run created (the sessions, or the enrolments), found "
        "in the account's journal by the run's ID (`status` lists runs) or by its result "
        "sheet. Each delete is journaled and paced like an import: after a crash, run the "
        "same undo again; nothing is deleted twice."
        + (
            f" Where the vendor documents no delete ({listed(none)}), nothing can be deleted "
            "through its API."
            if none
            else ""
        )
    )


def _sheet_rows(text: str) -> list[int]:
    """``12`` or ``12,15``: sheet row numbers (argparse shows the error of a bad one)."""
    try:
        rows = [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give sheet row numbers, e.g. 12,15") from None
    if not rows or min(rows) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give sheet row numbers, e.g. 12,15")
    return rows


def _target(args: argparse.Namespace) -> tuple[int | None, Path | None]:
    text = str(args.run).strip()
    if text.isdigit():
        return int(text), None
    path = Path(text)
    if not path.is_file():
        raise ConfigurationError(f"{text}: give a run's ID (a number) or its result sheet.")
    return None, path


def undo_command(args: argparse.Namespace) -> int:
    """`undo RUN`: delete what the run created; write the undo's result sheet."""
    # lazy: this module's parser half is read by every command (validate's start-up)
    from importer.cli.journal import journal_place
    from importer.jobs.config import JobFile, RunFlags, load_job, resolve_settings
    from importer.jobs.undo import UndoSpec, undo_run
    from importer.jobs.who import command_line_user
    from importer.store.base import Entry
    from importer.vendors import PLUGINS, plugin

    who = command_line_user(os.environ)  # kept with the undo's run in the journal
    job = load_job(args.config, PLUGINS) if args.config else JobFile()
    args.job = job
    vendor = args.vendor or job.vendor
    if not vendor:
        raise ConfigurationError("give --vendor (or vendor in the job file's [job] table).")
    chosen = plugin(vendor)  # the one look-up by name
    if args.journal is None and job.journal is not None:
        args.journal = job.journal
    run_id, result = _target(args)
    flags = RunFlags(
        base_url=args.base_url,
        auth_url=args.auth_url,
        allow_http=args.allow_http or None,
        store=args.store,
    )
    settings = resolve_settings(
        chosen, flags=flags, env=dict(os.environ), job=job, require_credentials=not args.dry_run
    )
    spec = UndoSpec(
        journal=journal_place(args),
        run_id=run_id,
        result=result,
        rows=args.row,
        target=args.result,
        dry_run=args.dry_run,
        guard=guard_of(args),
        wait=args.wait,
        why=f"deleted by the undo of {f'run {run_id}' if run_id is not None else result}",
        who=who,
    )

    def before(entries: list[Entry], lost: list[Entry]) -> None:
        """What the coordinator must know before anything is deleted."""
        if lost:
            rows = ", ".join(str(e.sheet_row) for e in lost[:10])
            print(
                f"warning: {len(lost)} row(s) of this run lost their answer (sheet rows {rows}): "
                "the undo cannot know whether they exist; check them at the vendor.",
                file=sys.stderr,
            )
        if not entries and run_id is not None:
            print(
                "note: this run created nothing (an update run's changes are not undone: "
                "undo changes back by editing the sheet and running --update again). Rows "
                "imported before this version do not record their run: undo them by the "
                "run's result sheet instead.",
                file=sys.stderr,
            )
        elif not entries:
            print(
                f"note: {result} names no row created by a run (a result sheet of `validate`, "
                "or of a run that created nothing): nothing to delete.",
                file=sys.stderr,
            )
        if chosen.changes is not None and chosen.changes.warning and not args.json:
            print(f"warning: {chosen.changes.warning}", file=sys.stderr)

    done = undo_run(
        spec,
        chosen,
        settings,
        before=before,
        notify=lambda message: print(f"session-importer: {message}", file=sys.stderr),
    )
    report, entries, source, written = done.report, done.entries, done.source, done.written
    counts = report.counts()
    said = ", ".join(f"{n} {s}" for s, n in counts.items()) or "nothing created by it"
    if args.json:
        summary = {
            "command": "undo",
            "run": source,
            "counts": counts,
            "requests": report.requests,
            "dry_run": report.dry_run,
            "stopped": report.stopped,
            "result": str(written),
            "exit_code": report.exit_code,
            "who": who,
        }
        print(json.dumps(summary), flush=True)
    else:
        verb = "dry run, nothing sent" if args.dry_run else "undo"
        print(f"{source}: {len(entries)} row(s) it created; {verb}: {said}.")
        for entry in entries[:20] if args.dry_run else []:
            print(f"  sheet row {entry.sheet_row}: {entry.created_id}")
        print(f"Result sheet: {written}")
    if report.stopped:
        print(
            f"Stopped early: {report.stopped} (run the same undo again to finish)", file=sys.stderr
        )
    return report.exit_code
