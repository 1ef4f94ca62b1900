"""`session-importer run` on a job's inbox folder: each new sheet imported, then filed.

The rules, made for a night shift nobody watches:

* a problem of the whole run (credentials, configuration, the vendor refusing every call
  or unreachable, another run holding the lock, a signal) leaves the sheet, and every sheet
  after it, in the inbox for the next night, and the JSON line says so (``left_in_inbox``);
* only a sheet's own problems (unreadable, missing columns, every row invalid) send it to
  ``failed/``; a sheet that was imported goes to ``done/``;
* nothing overwrites anything: a result sheet or a filed sheet whose name is taken gets
  a numbered name;
* only regular files owned by the job's user are taken, checked without following
  symbolic links; names are written to the log with control characters escaped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

from importer.cli_run import log, printable, run_file
from importer.errors import ImporterError, InputError, describe_os_error
from importer.journal_api import JobLockedError
from importer.outcomes import ExitCode
from importer.results import default_result_path

__all__ = ["run_inbox"]

_SHEET_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods"}


def run_inbox(args: argparse.Namespace, inbox: Path, output: Path | None) -> int:
    """Import every sheet waiting in ``inbox``; file each in done/ or failed/ after."""
    output = output or inbox / "results"
    files = _waiting(args, inbox)
    # Earlier versions kept the inbox's journal in the output folder: its rows are taken in.
    args.legacy_journal = (
        output / f"{args.config.stem if args.config else inbox.name}.journal.sqlite"
    )
    summaries: list[dict[str, Any]] = []
    worst: int = ExitCode.OK
    stop: str | None = None
    log(args, f"inbox {inbox}: {len(files)} file(s)")
    for number, path in enumerate(files):
        args.result = unique(output / default_result_path(path).name)
        try:
            code, summary = run_file(args, path)
        except ImporterError as error:
            code = error.exit_code
            summary = {"file": str(path), "error": str(error), "exit_code": code}
            print(f"session-importer: error: {printable(str(error))}", file=sys.stderr)
            log(args, f"{path.name}: could not run: {error}")
            if not _own_problem(error):
                stop = str(error)
        except OSError as error:
            # A disk or permission problem: the run's, not the sheet's; the sheets stay.
            code, stop = ExitCode.CANNOT_RUN, describe_os_error(error)
            summary = {"file": str(path), "error": stop, "exit_code": code}
            print(f"session-importer: error: {printable(stop)}", file=sys.stderr)
            log(args, f"{path.name}: could not run: {stop}")
        signals = (ExitCode.INTERRUPTED, ExitCode.TERMINATED)
        worst = code if code in signals or worst in signals else max(worst, code)
        if stop is None:
            stop = _run_wide(summary)
        if stop is not None:
            left = [str(p) for p in files[number:]]
            summary["left_in_inbox"] = True
            summaries.append(summary)
            log(args, f"stopped ({stop}); left in the inbox for the next run: {len(left)} file(s)")
            return _report(args, inbox, summaries, worst, stop, left)
        folder = inbox / ("done" if _imported(code, summary) else "failed")
        try:
            folder.mkdir(exist_ok=True)
            target = unique(folder / path.name)
            shutil.move(str(path), target)
        except OSError as error:
            stop = describe_os_error(error)
            summary["left_in_inbox"] = True
            summaries.append(summary)
            log(args, f"{path.name}: could not be filed: {stop}")
            return _report(
                args, inbox, summaries, max(worst, 2), stop, [str(p) for p in files[number:]]
            )
        summary["moved_to"] = str(target)
        log(args, f"{path.name}: moved to {target}")
        summaries.append(summary)
    return _report(args, inbox, summaries, worst, None, [])


def _report(
    args: argparse.Namespace,
    inbox: Path,
    summaries: list[dict[str, Any]],
    code: int,
    stop: str | None,
    left: list[str],
) -> int:
    if args.json:
        line: dict[str, Any] = {"command": "run", "inbox": str(inbox), "files": summaries}
        if stop is not None:
            line |= {"stopped": stop, "left_in_inbox": left}
        print(json.dumps(line | {"exit_code": code}), flush=True)
    elif not summaries:
        print(f"{inbox}: no new sheet to import.")
    if stop is not None:
        print(
            f"session-importer: {len(left)} sheet(s) left in {inbox} for the next run: {stop}",
            file=sys.stderr,
        )
    return code


def _own_problem(error: ImporterError) -> bool:
    """A problem of the sheet itself (it goes to failed/), not of the whole run."""
    return isinstance(error, InputError) and not isinstance(error, JobLockedError)


def _run_wide(summary: dict[str, Any]) -> str | None:
    """Why a finished run says the whole run failed (fatal vendor error, unreachable, signal)."""
    code = summary.get("exit_code")
    if code in (130, 143):
        return str(summary.get("stopped") or "interrupted")
    if code == 3:
        return f"the vendor refused every call: {summary.get('stopped')}"
    counts = summary.get("counts") or {}
    if (
        summary.get("requests")
        and summary.get("unreachable")
        and not {"created", "rejected", "unknown"} & set(counts)
    ):
        return "the vendor could not be reached"
    return None


def _imported(code: int, summary: dict[str, Any]) -> bool:
    """Whether the sheet was imported (done/): not when it could not run or no row was valid."""
    if code not in (ExitCode.OK, ExitCode.NOT_ALL_DONE):
        return False
    counts = summary.get("counts") or {}
    return not (counts and set(counts) == {"invalid"})


def _waiting(args: argparse.Namespace, inbox: Path) -> list[Path]:
    """The sheets to import: regular files of this user, never through a symbolic link."""
    found = []
    for path in sorted(inbox.iterdir()):
        if path.suffix.lower() not in _SHEET_SUFFIXES:
            continue
        try:
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid():
                # Opened without following a link, to be sure the name is the file seen.
                handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                try:
                    same = os.fstat(handle).st_ino == info.st_ino
                finally:
                    os.close(handle)
                if same:
                    found.append(path)
                    continue
        except OSError:
            pass
        why = "not a regular file owned by this user (a link, a device or another's file)"
        log(args, f"{path.name}: left alone: {why}")
        print(f"session-importer: {printable(str(path))}: left alone: {why}", file=sys.stderr)
    return found


def unique(path: Path) -> Path:
    """``path``, or ``NAME-2.EXT``, ``NAME-3.EXT``... if it is taken: nothing is overwritten."""
    if not path.exists():
        return path
    number = 2
    while True:
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        if not candidate.exists():
            return candidate
        number += 1
