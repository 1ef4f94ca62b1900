"""The other commands around an import: export, status and report."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from importer.cli.in_progress import print_in_progress, runs_in_progress
from importer.core.errors import ConfigurationError
from importer.core.outcomes import ExitCode, JournalState, Status
from importer.jobs.runs import is_undo, run_detail
from importer.store import JournalLike
from importer.store.journal import Journal
from importer.vendors import declarations, plugin

__all__ = ["export_command", "report_command", "status_command"]


def export_command(args: argparse.Namespace) -> int:
    # The sheet machinery (pandas, pyarrow) loads in the commands that read or write a sheet:
    # `status` reads the journal only and must start as fast as `--help` (issue 27).
    import pandas as pd

    from importer.api import validate
    from importer.jobs.config import RunFlags, resolve_settings
    from importer.jobs.export import compare_created, export_sessions, flatten
    from importer.results.sheet import ResultSheet, write_result
    from importer.sending.readback import PAGING_STOPPED

    chosen = plugin(args.vendor)  # the one look-up by name
    vendor = chosen.schema
    flags = RunFlags(
        base_url=args.base_url, auth_url=args.auth_url, allow_http=args.allow_http or None
    )
    settings = resolve_settings(chosen, flags=flags, env=dict(os.environ))
    # What the vendors' export flags name (see importer.vendors.declarations.ExportTarget).
    target = {
        t.key: getattr(args, t.key, None) or ""
        for declared in declarations().values()
        for t in declared.export_targets
    }
    if args.from_result:
        timezone = args.timezone or _run_timezone(args.from_result, settings)
        report = validate(args.from_result, vendor, timezone=timezone)
        frame = report.table.frame
        created = {}
        for row in frame.index:
            status = str(frame.at[row, "Status"]) if "Status" in frame.columns else ""
            ident = str(frame.at[row, "Created ID"]) if "Created ID" in frame.columns else ""
            done = status in (Status.CREATED, Status.SKIPPED, Status.UPDATED)
            if done and ident and int(row) not in report.errors:
                sent = report.values.loc[row]
                created[ident] = {k: (None if pd.isna(v) else v) for k, v in sent.items()}
        if not created:
            raise ConfigurationError(f"{args.from_result}: no created row with a Created ID.")
        first = next(iter(created.values()))
        # Targets not given are those of the run's first row, where the vendor says so.
        target.update(
            {
                t.key: target.get(t.key) or str(first.get(t.field) or "")
                for t in chosen.declared.export_targets
                if t.field
            }
        )
        result = compare_created(chosen, settings, created, target)
        differing = int((result["Check"] == "differs").sum()) if len(result) else 0
        write_result(
            ResultSheet(result, [("Read back from", str(args.from_result))], status_column="Check"),
            args.output,
        )
        print(f"{len(result)} created rows read back: {differing} differ. Sheet: {args.output}")
        return ExitCode.OK if not differing else ExitCode.NOT_ALL_DONE
    notes: list[str] = []
    items = export_sessions(chosen, settings, target, notify=notes.append)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    frame = pd.DataFrame([flatten(i) for i in items], dtype="str")
    if frame.empty:
        frame = pd.DataFrame({"Status": pd.Series(dtype="str")})
    if "Status" not in frame.columns:
        frame.insert(0, "Status", "exported")
    write_result(
        ResultSheet(frame, [("Vendor", vendor.name), ("Objects", str(len(items)))]), args.output
    )
    print(f"{len(items)} exported from {vendor.name}. Sheet: {args.output}")
    # A list whose paging looped may be incomplete: not "all done".
    looped = any(note.startswith(PAGING_STOPPED) for note in notes)
    return ExitCode.NOT_ALL_DONE if looped else ExitCode.OK


def _summary_header(row: Sequence[str]) -> int:
    """How much ``row`` looks like the Summary sheet's header (Item, Value, Details)."""
    return int(list(row[:2]) == ["Item", "Value"])


def _run_timezone(result: Path, settings: Any) -> str | None:
    """The time zone the run that wrote ``result`` read its dates in.

    From the result sheet's Summary (.xlsx), else from the account's journal, which
    records each run's settings and result path.
    """
    if result.suffix.lower() == ".xlsx":
        # Through the guarded reader every sheet goes through (not a test-only library: a plain
        # install has no openpyxl, and the result sheet given here is a user's file).
        from importer.core.errors import SheetNotFoundError
        from importer.sheet.reading.table import read_table

        try:
            summary = read_table(result, _summary_header, sheet="Summary").frame
        except SheetNotFoundError:
            summary = None
        if summary is not None and len(summary.columns) >= 2:
            for label, value in zip(summary.iloc[:, 0], summary.iloc[:, 1], strict=True):
                if label == "Time zone" and value:
                    return str(value)
    from importer.store.base import account_journal_path
    from importer.store.slots import SharedSlots

    if settings.account is None:
        return None
    path = account_journal_path(
        SharedSlots.default_folder(), settings.vendor, settings.base_url, settings.account
    )
    if not path.is_file():
        return None
    journal = Journal(path, settings.vendor)
    try:
        return journal.run_settings(result=result).get("timezone") or None
    finally:
        journal.close()


def _existing_journal(path: Path) -> Journal:
    if not path.is_file():
        raise ConfigurationError(f"{path}: no such journal.")
    return Journal(path, Journal.vendor_of(path))


def _store_journal(url: str, name: str) -> JournalLike:
    """The journal called ``name`` in the PostgreSQL store ``url``, never created: one that
    is not there is refused, naming the command that lists them."""
    from importer.store import is_postgres, open_store, redact

    if not is_postgres(url):
        raise ConfigurationError(
            f"status --store {redact(url)}: give postgresql://USER@HOST/DB (a journal file of "
            "this machine is read without --store: status FILE)."
        )
    store = open_store(url)
    try:
        vendors = {str(j["name"]): str(j["vendor"]) for j in store.status()["journals"]}
        if name not in vendors:
            raise ConfigurationError(
                f"no journal named {name!r} in {store.description}; `session-importer store "
                "status` lists them."
            )
        journal = store.journal(name, vendors[name])
    except BaseException:
        store.close()
        raise
    if hasattr(journal, "owned"):  # closing the journal closes its store (one command's)
        journal.owned = store
    return journal


#: Journal states a coordinator must look at (an interrupted update or undo included).
_ATTENTION = (
    JournalState.UNKNOWN,
    JournalState.SENDING,
    JournalState.REJECTED,
    JournalState.UPDATING,
    JournalState.DELETING,
)


def status_command(args: argparse.Namespace) -> int:
    from importer.jobs.sharing import as_json

    if args.journal is None:
        if args.store:
            raise ConfigurationError(
                "status --store: give the journal's name (`session-importer store status` "
                "lists them)."
            )
        return _list_journals(args)
    # A store's journal names hold URLs (https://...): read as text, never as a path.
    journal = (
        _store_journal(args.store, args.journal)
        if args.store
        else _existing_journal(Path(args.journal))
    )
    try:
        counts = journal.counts()
        runs = journal.runs()
        attention = [e for e in journal.entries() if e.state in _ATTENTION]
        # The runs sending now on the accounts this journal's runs send to (issue 25).
        active = runs_in_progress(args.store, args.journal)
        if args.json:
            print(
                json.dumps(
                    {
                        "journal": str(args.journal),
                        "vendor": journal.meta("vendor"),
                        "target": journal.meta("target"),
                        "counts": counts,
                        "runs": len(runs),
                        "run_ids": [run["id"] for run in runs],
                        "last_run": runs[-1] if runs else None,
                        # Every run, oldest first: who ran it, how it ended, what it undid.
                        "runs_detail": [run_detail(run) for run in runs],
                        "in_progress": as_json(active),
                    }
                )
            )
            return ExitCode.OK
        print(f"{args.journal}: {journal.meta('vendor')} job, into {journal.meta('target')}")
        print("rows: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
        shown = runs[-args.runs :] if args.runs else runs
        if len(shown) < len(runs):
            print(f"{len(runs) - len(shown)} earlier run(s) not shown: --runs 0 lists them all")
        for run in shown:
            detail = run_detail(run)
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run["started"]))
            if run["finished"]:
                state = "finished"
            elif detail["undo"] is not None:
                state = "did not finish: run the same undo again"
            else:
                state = "did not finish: see `report`"
            said = ", ".join(f"{n} {s}" for s, n in detail["counts"].items()) or "nothing sent"
            said += f"; stopped early: {detail['stopped']}" if detail["stopped"] else ""
            by = f" by {detail['who']}" if detail["who"] else ""
            print(f"run {run['id']} at {started}{by} ({state}): {run['source']}: {said}")
        for entry in attention[:20]:
            print(f"  sheet row {entry.sheet_row}: {entry.state}: {entry.message}")
        print_in_progress(active)
    finally:
        journal.close()
    return ExitCode.OK


def _list_journals(args: argparse.Namespace) -> int:
    """`status` without a journal: the accounts' journals in the state folder, and any pause
    a vendor asked for that runs will still honour."""
    from importer.core.clock import SystemClock
    from importer.jobs.sharing import as_json
    from importer.store.slots import SharedSlots

    folder = SharedSlots.default_folder() / "journals"
    found = sorted(folder.glob("*.sqlite")) if folder.is_dir() else []
    listed: list[dict[str, Any]] = []
    for path in found:
        journal = Journal(path, Journal.vendor_of(path))
        try:
            listed.append(
                {
                    "journal": str(path),
                    "vendor": journal.meta("vendor"),
                    "target": journal.meta("target"),
                    "counts": journal.counts(),
                }
            )
        finally:
            journal.close()
    pauses = SharedSlots.pauses(SharedSlots.default_folder(), SystemClock())
    active = runs_in_progress(None, None)
    if args.json:
        print(
            json.dumps(
                {
                    "folder": str(folder),
                    "journals": listed,
                    "pauses": pauses,
                    "in_progress": as_json(active),
                }
            )
        )
        return ExitCode.OK
    if not listed:
        print(f"No journal in {folder} yet.")
    for item in listed:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(item["counts"].items())) or "no rows"
        print(f"{item['journal']}\n  {item['vendor']} into {item['target']}: {counts}")
    for pause in pauses:
        # A wait a vendor asked for (a lock, a Retry-After) that the next run will honour.
        print(f"paused for {pause['seconds']:.0f} s more ({pause['file']}): {pause['reason']}")
    print_in_progress(active)
    return ExitCode.OK


def report_command(args: argparse.Namespace) -> int:
    from importer.store.faults import JournalDamagedError

    try:
        return _report(args)
    except JournalDamagedError as error:
        # The advice to run `report` first cannot be followed: say what can be done instead.
        raise JournalDamagedError(
            f"{args.journal} is damaged past what `report` can read ({error.cause}): keep the "
            "file, do not delete it; list what exists at the vendor with "
            "`session-importer export`, remove those rows from the sheet, then run again with "
            "another --journal."
        ) from None


def _report(args: argparse.Namespace) -> int:
    from importer.api import validate  # the sheet machinery: see export_command
    from importer.jobs.config import sheet_default_keys, sheet_defaults
    from importer.jobs.journaling import JournalOptions, journal_report
    from importer.results.sheet import default_result_path
    from importer.results.write import write_report

    journal = _existing_journal(args.journal)
    try:
        runs = [run for run in journal.runs() if not is_undo(run)]  # an undo read no sheet
        source = args.file or (Path(runs[-1]["source"]) if runs else None)
        if source is None:
            raise ConfigurationError("the journal records no run; give --file.")
        # The settings of that sheet's last run (one journal serves many sheets).
        names = ("timezone", "date_order", "key", *sheet_default_keys(), "sheet")
        used = journal.run_settings(source) or {k: journal.meta(k) or "" for k in names}
        chosen = plugin(journal.meta("vendor") or "")
        vendor = chosen.schema
        given = {key: used.get(key) for key in sheet_default_keys()}
        report = validate(
            source,
            vendor,
            sheet=used.get("sheet") or None,
            timezone=used.get("timezone") or None,
            date_order=used.get("date_order") or None,
            defaults=sheet_defaults(given, vendor),
        )
        options = JournalOptions(journal, used.get("key") or None)
        run = journal_report(report, options, chosen)
    finally:
        journal.close()
    target = args.result or default_result_path(source)
    if target.exists() and target.resolve() == source.resolve():
        raise ConfigurationError(f"{target}: that is the input sheet; give another --result.")
    if args.result is None and target.exists():
        raise ConfigurationError(
            f"{target} exists already (the result of a run?); give --result OUT to write the "
            "sheet from the journal elsewhere, or --result with that name to replace it."
        )
    written = write_report(run.validation, target, run)
    print(f"Result sheet: {written} ({', '.join(f'{n} {s}' for s, n in run.counts().items())})")
    return ExitCode.OK
