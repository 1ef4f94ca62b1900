"""`session-importer run` on a job's inbox folder: each new sheet imported, then filed.

The rules, made for a night shift nobody watches:

* a problem of the whole run (credentials, configuration, the vendor refusing every call
  or unreachable, another run holding the lock, a signal) leaves the sheet, and every sheet
  after it, in the inbox for the next night, and the JSON line says so (``left_in_inbox``);
* only a sheet's own problems (unreadable, missing columns, every row invalid) send it to
  ``failed/``; a sheet that was imported goes to ``done/``;
* nothing overwrites anything: a result sheet or a filed sheet whose name is taken gets
  a numbered name;
* only regular files owned by the job's user are taken: each is opened without following
  a symbolic link, checked on the opened file (``fstat``), and read from a private copy of
  that file, so a name swapped for a link after the check is never followed;
* editors' lock, temporary and backup files (``~$name.xlsx``, ``.~lock.name#``,
  ``name.csv~``) and hidden files are not sheets: they are left alone;
* a sheet changed less than ``--settle`` seconds ago (:data:`SETTLE_SECONDS` by default)
  may still be being copied or saved: it is left for the next run, and the JSON line lists
  it under ``waiting``, with why; so is a sheet that changes while it is read or imported;
* names are written to the log with control characters escaped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from importer.cli.run import could_not_run, email_result, run_file
from importer.core.clock import Clock, SystemClock
from importer.core.errors import ConfigurationError, ImporterError, InputError, describe_os_error
from importer.core.files import NotOwnFileError, copy_private, open_own_file
from importer.core.joblog import JOB_LOG, printable
from importer.core.outcomes import ExitCode, Status
from importer.results.sheet import default_result_path
from importer.store.base import JobLockedError

__all__ = ["SETTLE_SECONDS", "run_inbox"]

_SHEET_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods"}

#: How long a sheet must have stayed unchanged (content or metadata) before the inbox
#: takes it. A sheet still being copied in (a network share, a sync client) or saved by
#: an editor has just changed; it is taken whole by the next run instead of sent to
#: failed/ half-written. A copy of a sheet takes seconds: a minute leaves a wide margin,
#: and a sheet dropped a minute before the nightly run waits one night. ``--settle``
#: (or ``settle`` in the job file) changes it; 0 takes every sheet at once.
SETTLE_SECONDS = 60.0

#: The job's log file (attached by :func:`importer.cli.run.run_command`).
_log = logging.getLogger(JOB_LOG)


class _Waiting(Exception):
    """A sheet left for the next run: it changed too recently, or while it was read."""


class _NoCopy(Exception):
    """The private copy of a sheet could not be made (a full disk): the run's problem."""


@dataclass(frozen=True)
class _Taken:
    """A sheet checked on its opened file, and the private copy of it that is read."""

    copy: Path
    info: os.stat_result


def run_inbox(
    args: argparse.Namespace, inbox: Path, output: Path | None, clock: Clock | None = None
) -> int:
    """Import every sheet waiting in ``inbox``; file each in done/ or failed/ after.

    ``clock`` tells how long ago a sheet changed (the real clock by default).
    """
    output = output or inbox / "results"
    clock = clock or SystemClock()
    settle = _settle(args)
    files = _candidates(args, inbox)
    # Earlier versions kept the inbox's journal in the output folder: its rows are taken in.
    args.legacy_journal = (
        output / f"{args.config.stem if args.config else inbox.name}.journal.sqlite"
    )
    summaries: list[dict[str, Any]] = []
    waiting: list[dict[str, str]] = []
    worst: int = ExitCode.OK
    _log.info("inbox %s: %s file(s)", inbox, len(files))
    # The private copies of the sheets read: a folder only this user can enter (0700).
    with tempfile.TemporaryDirectory(prefix="importer-inbox-") as scratch:
        for number, path in enumerate(files):
            try:
                taken = _take(path, Path(scratch), clock.time(), settle)
            except _Waiting as why:
                waiting.append({"file": str(path), "why": str(why)})
                _log.info("%s: left for the next run: %s", path.name, why)
                continue
            except NotOwnFileError:
                _left_alone(args, path, _NOT_OWN)
                continue
            except _NoCopy as why:
                left = [str(p) for p in files[number:]]
                _log.info(
                    "stopped (%s); left in the inbox for the next run: %s file(s)", why, len(left)
                )
                return _report(args, inbox, summaries, waiting, ExitCode.CANNOT_RUN, str(why), left)
            except OSError as error:  # gone since the listing, or unreadable: not ours to file
                _left_alone(args, path, describe_os_error(error))
                continue
            args.result = unique(output / default_result_path(path).name)
            code, summary, stop = _import_one(args, path, taken)
            signals = (ExitCode.INTERRUPTED, ExitCode.TERMINATED)
            worst = code if code in signals or worst in signals else max(worst, code)
            if stop is None:
                stop = _run_wide(summary)
            if stop is None and not _unchanged(path, taken.info):
                # The name no longer holds the version read: filing it would file an unread one.
                summary["left_in_inbox"] = True
                summary["why"] = _CHANGED_DURING
                _log.info("%s: left in the inbox: %s", path.name, _CHANGED_DURING)
                summaries.append(summary)
                continue
            if stop is not None:
                left = [str(p) for p in files[number:]]
                summary["left_in_inbox"] = True
                summaries.append(summary)
                _log.info(
                    "stopped (%s); left in the inbox for the next run: %s file(s)", stop, len(left)
                )
                return _report(args, inbox, summaries, waiting, worst, stop, left)
            folder = inbox / ("done" if _imported(code, summary) else "failed")
            try:
                folder.mkdir(exist_ok=True)
                target = unique(folder / path.name)
                shutil.move(str(path), target)
            except OSError as error:
                stop = describe_os_error(error)
                summary["left_in_inbox"] = True
                summaries.append(summary)
                _log.info("%s: could not be filed: %s", path.name, stop)
                left = [str(p) for p in files[number:]]
                return _report(args, inbox, summaries, waiting, max(worst, 2), stop, left)
            summary["moved_to"] = str(target)
            _log.info("%s: moved to %s", path.name, target)
            summaries.append(summary)
    return _report(args, inbox, summaries, waiting, worst, None, [])


_CHANGED_DURING = (
    "changed while it was imported (the result sheet is of the version read); "
    "the new version is left for the next run"
)


def _import_one(
    args: argparse.Namespace, path: Path, taken: _Taken
) -> tuple[int, dict[str, Any], str | None]:
    """Import one sheet from its private copy: the exit code, the summary, why the run stops."""
    stop: str | None = None
    args.read_from = taken.copy
    try:
        code, summary = run_file(args, path)
    except ImporterError as error:
        code = error.exit_code
        summary = _could_not_run(args, path, taken, str(error), code)
        if not _own_problem(error):
            stop = summary["error"]
    except OSError as error:
        # A disk or permission problem: the run's, not the sheet's; the sheets stay.
        code = ExitCode.CANNOT_RUN
        summary = _could_not_run(args, path, taken, describe_os_error(error), code)
        stop = summary["error"]
    finally:
        args.read_from = None
        taken.copy.unlink(missing_ok=True)
    return code, summary, stop


def _could_not_run(
    args: argparse.Namespace, path: Path, taken: _Taken, said: str, code: int
) -> dict[str, Any]:
    """Say (stderr, log) why a sheet could not run; its summary. The reader names the file it
    read, the private copy: the operator knows the inbox's name, so that is the one said."""
    said = said.replace(str(taken.copy), str(path))
    print(f"session-importer: error: {printable(said)}", file=sys.stderr)
    _log.info("%s: could not run: %s", path.name, said)
    email_result(args, lambda: could_not_run(args, path, said, code))
    return {"file": str(path), "error": said, "exit_code": code}


def _report(
    args: argparse.Namespace,
    inbox: Path,
    summaries: list[dict[str, Any]],
    waiting: list[dict[str, str]],
    code: int,
    stop: str | None,
    left: list[str],
) -> int:
    if args.json:
        line: dict[str, Any] = {"command": "run", "inbox": str(inbox), "files": summaries}
        line["waiting"] = waiting
        if stop is not None:
            line |= {"stopped": stop, "left_in_inbox": left}
        print(json.dumps(line | {"exit_code": code}), flush=True)
    else:
        if not summaries and not waiting:
            print(f"{inbox}: no new sheet to import.")
        for each in waiting:
            print(f"{printable(each['file'])}: left for the next run: {each['why']}")
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
        and not {Status.CREATED, Status.REJECTED, Status.UNKNOWN} & set(counts)
    ):
        return "the vendor could not be reached"
    return None


def _imported(code: int, summary: dict[str, Any]) -> bool:
    """Whether the sheet was imported (done/): not when it could not run or no row was valid."""
    if code not in (ExitCode.OK, ExitCode.NOT_ALL_DONE):
        return False
    counts = summary.get("counts") or {}
    return not (counts and set(counts) == {Status.INVALID})


def _settle(args: argparse.Namespace) -> float:
    """The quiet period: --settle, else the job file's ``settle``, else :data:`SETTLE_SECONDS`."""
    value = getattr(args, "settle", None)
    if value is None:
        value = args.job.settle if args.job.settle is not None else SETTLE_SECONDS
    if value < 0:
        raise ConfigurationError(f"--settle must be 0 or more seconds, not {value}.")
    return float(value)


def _is_scratch(name: str) -> bool:
    """An editor's lock, temporary or backup file, or a hidden file: not a sheet.

    ``~$name.xlsx`` (Excel and Word's owner file), ``.~lock.name.xlsx#`` (LibreOffice),
    ``.name.swp`` (vim), ``#name#`` and ``name~`` (Emacs, gedit), ``.name.csv.part`` and
    other hidden names (sync and download clients write there, then rename).
    """
    return name.startswith((".", "~", "#")) or name.endswith(("~", "#"))


def _candidates(args: argparse.Namespace, inbox: Path) -> list[Path]:
    """The names that look like sheets of this user (checked again on the opened file)."""
    found = []
    for path in sorted(inbox.iterdir()):
        if path.suffix.lower() not in _SHEET_SUFFIXES or _is_scratch(path.name):
            continue
        try:
            info = os.lstat(path)
        except OSError as error:
            _left_alone(args, path, describe_os_error(error))
            continue
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid():
            found.append(path)
        else:
            _left_alone(args, path, _NOT_OWN)
    return found


_NOT_OWN = "not a regular file owned by this user (a link, a device or another's file)"


def _left_alone(args: argparse.Namespace, path: Path, why: str) -> None:
    _log.info("%s: left alone: %s", path.name, why)
    print(f"session-importer: {printable(str(path))}: left alone: {why}", file=sys.stderr)


def _take(path: Path, scratch: Path, now: float, settle: float) -> _Taken:
    """Open ``path`` without following a link, check the opened file, copy it privately.

    The owner asked of a sheet is the user running the import, whose credentials send it:
    not the inbox folder's owner, who may be someone else (a shared folder, or a team that
    can write there); another user's file is never sent under this user's name.

    Raises:
        _Waiting: the file changed less than ``settle`` seconds before ``now``, or while
            it was copied.
        NotOwnFileError: a link, or not a regular file of this user, on the opened file.
        OSError: it could not be opened.
        _NoCopy: its private copy could not be written (the run's problem, not the sheet's).
    """
    descriptor, before = open_own_file(path, os.getuid())
    try:
        # Both times: a copy that keeps the original's times (cp -p, rsync, unzip) sets
        # mtime in the past, while ctime says when the file was written here.
        changed = max(before.st_mtime, before.st_ctime)
        if now - changed < settle:
            raise _Waiting(_recent(now - changed, settle))
        _checked(path)
        copy = scratch / path.name
        try:
            copy_private(descriptor, copy)
        except OSError as error:
            raise _NoCopy(f"no private copy of {path.name}: {describe_os_error(error)}") from None
        after = os.fstat(descriptor)
    finally:
        os.close(descriptor)
    if _content(after) != _content(before):
        copy.unlink(missing_ok=True)
        raise _Waiting("it changed while it was read: still being copied or saved")
    return _Taken(copy, after)


def _recent(age: float, settle: float) -> str:
    """Why a sheet waits: how long ago it changed, against the quiet period."""
    if age < 0:
        return (
            f"its change time is {-age:.0f} s ahead of this machine's clock; it is taken once "
            f"it is {settle:g} s old (--settle)"
        )
    return (
        f"it changed {age:.0f} s ago, less than the {settle:g} s it must stay unchanged "
        "(--settle): it may still be being copied or saved"
    )


def _checked(path: Path) -> None:
    """Called between a sheet's checks and its reading: a seam for tests to swap the name."""


def _content(info: os.stat_result) -> tuple[int, ...]:
    """What changes when a file is written to (not its ctime: a rename changes that too)."""
    return (info.st_size, info.st_mtime_ns)


def _identity(info: os.stat_result) -> tuple[int, ...]:
    """What changes when a file is replaced or written to."""
    return (info.st_dev, info.st_ino, *_content(info))


def _unchanged(path: Path, info: os.stat_result) -> bool:
    """Whether ``path`` still names the file read, as it was read (not replaced, not written)."""
    try:
        return _identity(os.lstat(path)) == _identity(info)
    except OSError:
        return False


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
