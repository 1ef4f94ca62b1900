"""Shared helpers: write real files to disk, run the real command line (in this process, or
in a subprocess where the process is the point)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter

ROOT = Path(__file__).resolve().parent.parent

V2_HEADERS = [
    "Path ID", "Session name", "Main instructor ID", "Start date", "End date",
    "Registration validation",
]  # fmt: skip
V2_ROW = [
    "6853f6de567dc5f80528f80d", "Onboarding", "647098a731a809ed36889ed1",
    "2025-07-01 15:00", "2025-07-31 15:00", "disabled",
]  # fmt: skip
ZOHO_HEADERS = [
    "Course ID", "Batch ID", "Module ID", "Session name", "Trainer erecno", "Type", "Date",
    "Start time", "End time",
]  # fmt: skip
ZOHO_ROW = [
    "478346000019479103", "478346000019479115", "478346000019479119", "Session API Testing",
    "478346000008251001", "0", "04-01-2022", "10:00 AM", "11:00 AM",
]  # fmt: skip


def write_xlsx(path: Path, rows: Sequence[Sequence[object]], sheet: str = "Sheet1") -> Path:
    """Write rows to a real workbook; datetimes, dates, times and numbers as typed cells."""
    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False})
    ws = book.add_worksheet(sheet)
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    day = book.add_format({"num_format": "dd/mm/yyyy"})
    clock = book.add_format({"num_format": "hh:mm"})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                ws.write_datetime(r, c, value, stamp)
            elif isinstance(value, dt.date):
                ws.write_datetime(r, c, value, day)
            elif isinstance(value, dt.time):
                ws.write_datetime(r, c, value, clock)
            elif isinstance(value, bool):
                ws.write_boolean(r, c, value)
            elif isinstance(value, (int, float)):
                ws.write_number(r, c, value)
            else:
                ws.write_string(r, c, str(value))
    book.close()
    return path


def write_csv(
    path: Path, rows: Sequence[Sequence[str]], sep: str = ",", encoding: str = "utf-8"
) -> Path:
    """Write rows as CSV text (quoted where needed) in the given encoding."""
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, delimiter=sep, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


@dataclass(frozen=True)
class CliResult:
    """What one run of the command line gave: the fields of ``CompletedProcess`` tests read."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


class _Output(io.StringIO):
    """A captured stdout or stderr: text, not a terminal (as a pipe to a subprocess is)."""

    def isatty(self) -> bool:
        return False


#: The signals a command may take over (the run's RunSignals, the entry point's handlers).
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGALRM)


def _user_env() -> dict[str, str]:
    """This process's environment without the importer's own variables (a user's shell)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}


def _loggers() -> list[logging.Logger]:
    """The root logger and every logger of the importer made so far."""
    made = logging.Logger.manager.loggerDict.items()
    return [logging.getLogger()] + [
        lg for name, lg in made
        if isinstance(lg, logging.Logger) and (name == "importer" or name.startswith("importer."))
    ]  # fmt: skip


@contextlib.contextmanager
def _process_state_restored() -> Iterator[None]:
    """Put back everything a command may change in the process that ran it: the environment,
    the current folder, the umask, signal handlers, the standard streams, the warning filters,
    the secrets the scrubber holds (importer.core.secret.HELD: none while the command runs, as
    in a new process), and the importer's loggers (a handler the command added is closed). A
    thread the command left running fails."""
    from importer.core.secret import HELD, Redactor

    environ, folder = dict(os.environ), os.getcwd()
    umask = os.umask(0o022)
    os.umask(umask)
    handlers = {number: signal.getsignal(number) for number in _SIGNALS}
    streams = (sys.stdin, sys.stdout, sys.stderr)
    held = {k: (v.copy() if isinstance(v, dict) else v) for k, v in vars(HELD).items()}
    # The command starts holding no secret, as a new process does: what other tests' runs
    # left in this process must not mask its messages.
    vars(HELD).update({k: v for k, v in vars(Redactor()).items() if k != "_lock"})
    logged = {lg: (lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in _loggers()}
    threads = set(threading.enumerate())
    try:
        with warnings.catch_warnings():  # the warning filters, as they were
            yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = streams
        for number, handler in handlers.items():
            signal.signal(number, handler)
        vars(HELD).update(held)
        for lg in _loggers():  # the importer's loggers, those the command made included
            level, kept, propagate, disabled = logged.get(lg, (logging.NOTSET, [], True, False))
            for handler in [h for h in lg.handlers if h not in kept]:
                lg.removeHandler(handler)
                handler.close()
            lg.setLevel(level)
            lg.handlers[:] = kept
            lg.propagate, lg.disabled = propagate, disabled
        os.umask(umask)
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environ)
        for thread in set(threading.enumerate()) - threads:
            thread.join(10)  # a command's threads end with it, as its process would
            assert not thread.is_alive(), f"the command left a thread running: {thread}"


def until(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    """Poll ``check`` until it gives something true, for at most ``timeout`` seconds: how a
    test waits for an event another process or thread makes (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)
    return found


def run_cli(
    *args: str | Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input: str = "",
) -> CliResult:
    """Run the real command line (``importer.cli.main.main``) in this process, as a user would
    through ``session-importer``: stdout and stderr captured, ``env`` as the whole environment
    (default: this one without ``IMPORTER_*``), ``cwd`` as the current folder, ``input`` as
    stdin, SystemExit mapped to the exit code, and the process left as it was found.

    What it does not give: the entry point's signal handlers and its start-up, a process's
    crash isolation and limits. A test about those runs :func:`spawn_cli`.
    """
    from importer.cli.main import main

    argv = [str(a) for a in args]
    out, err = _Output(), _Output()
    with _process_state_restored():
        os.environ.clear()
        os.environ.update(_user_env() if env is None else env)
        if cwd is not None:
            os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(input), out, err
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse: --help, bad arguments
            if stop.code is None or isinstance(stop.code, int):
                code = stop.code or 0
            else:
                print(stop.code, file=err)
                code = 1
    return CliResult(argv, int(code), out.getvalue(), err.getvalue())


def spawn_cli(
    *args: str | Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a subprocess (``python -m importer``), for a test whose
    point is the process: its entry point, exit status, signals, limits or start-up."""
    return subprocess.run(
        [sys.executable, "-m", "importer", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_user_env() if env is None else dict(env),
        timeout=timeout,
    )


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    """A temporary folder for the files a test writes."""
    return tmp_path


def zoho_row(
    name: str, start: str = "10:00 AM", end: str = "11:00 AM", trainer: str = "478346000008251001"
) -> list[str]:
    """A valid Zoho row in the sandbox's seeded module (course, batch and module of ZOHO_ROW)."""
    return [*ZOHO_ROW[:3], name, trainer, "0", "04-01-2022", start, end]


def zoho_sheet(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    """A Zoho CSV: the usual headers, then ``rows``."""
    return write_csv(path, [ZOHO_HEADERS, *rows])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many fuzz cases ran (issue 12: CI logs show the fuzzing budget)."""
    fuzzing = sys.modules.get("tests.fuzzing")
    cases = getattr(fuzzing, "CASES", None)
    if not cases:
        return
    examples = getattr(fuzzing, "EXAMPLES", 0)
    terminalreporter.write_sep("-", f"fuzz cases: {sum(cases.values()):,} "
                               f"(IMPORTER_FUZZ_EXAMPLES={examples} per target)")  # fmt: skip
    for name, count in sorted(cases.items()):
        terminalreporter.write_line(f"  {name}: {count:,}")
    for name, count in sorted(getattr(fuzzing, "OUTCOMES", {}).items()):
        terminalreporter.write_line(f"    outcome {name}: {count:,}")


# --- PostgreSQL (issue 14: the shared store) --------------------------------------------------

#: The server the store's tests use; each test gets a fresh schema in it.
PG_URL = os.environ.get("IMPORTER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The test server's URL; outside CI a missing server skips, in CI (CI=true) it fails."""
    import psycopg

    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error as error:
        reason = f"no PostgreSQL server answers at {PG_URL} ({' '.join(str(error).split())[:200]})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI must provide one (IMPORTER_TEST_PG_URL)")
        pytest.skip(f"{reason}; set IMPORTER_TEST_PG_URL to run the PostgreSQL store's tests")
    return PG_URL


def pg_schema_url(base: str, schema: str) -> str:
    """``base`` with ``schema`` as its search path (for the store and for subprocesses)."""
    from urllib.parse import quote

    return f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A store URL on a fresh, empty schema of the test server, dropped after the test."""
    import uuid

    import psycopg

    schema = f"importer_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield pg_schema_url(pg_server, schema)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
