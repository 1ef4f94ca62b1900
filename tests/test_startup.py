"""The commands that only talk load none of the heavy libraries (issue 27: start-up).

`--help` (each command's too), a wrong flag, `status` and `vendors` start in a fraction of
the time the sheet machinery (pandas, pyarrow) or the HTTP client takes to import: each is
run as a real process under ``python -X importtime`` and the modules it imported are read
from that report. How fast they start is benchmarks/startup.py's.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest

from importer.cli.parser import build_parser, command_names
from tests.conftest import ROOT

SAMPLES = ROOT / "sample_data"
#: Libraries a command that only talks must not import (the top-level package's name, or a
#: submodule where the package itself is light: starlette.types is typing only).
HEAVY = (
    "pandas",
    "pyarrow",
    "numpy",
    "httpx",
    "openpyxl",
    "pandera",
    "python_calamine",
    "xlsxwriter",
    "uvicorn",
    "psycopg",
    "starlette.routing",
)


def imported(*args: str | Path, cwd: Path = ROOT) -> tuple[int, set[str], str]:
    """Run ``python -X importtime -m importer ARGS``: its exit code, every module it imported
    and its stderr without the import report."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "importer", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    modules, other = set(), []
    for line in done.stderr.splitlines():
        if line.startswith("import time:"):
            modules.add(line.rsplit("|", 1)[1].strip())
        else:
            other.append(line)
    return done.returncode, modules, "\n".join(other)


def heavy(modules: set[str]) -> list[str]:
    """The heavy libraries among ``modules`` (a package or any of its submodules)."""
    return sorted(
        name for name in HEAVY if any(m == name or m.startswith(name + ".") for m in modules)
    )


def test_the_report_is_read_right(tmp: Path) -> None:
    """`validate` of a real sheet does load pandas: the report names what a command imports."""
    source = tmp / "valid.csv"
    source.write_bytes((SAMPLES / "zoho-people-valid.csv").read_bytes())
    code, modules, stderr = imported("validate", source, "--vendor", "zoho-people")
    assert code == 0, stderr
    assert {"pandas", "pyarrow", "importer.sheet.validation"} <= modules
    assert "pandas" in heavy(modules) and "httpx" not in heavy(modules)


def test_validate_loads_no_mail(tmp: Path) -> None:
    """The email package is loaded by a run that tells someone, not by every command that
    reads a job's settings."""
    source = tmp / "valid.csv"
    source.write_bytes((SAMPLES / "zoho-people-valid.csv").read_bytes())
    code, modules, stderr = imported("validate", source, "--vendor", "zoho-people")
    assert code == 0, stderr
    assert "importer.jobs.notify" in modules
    assert not {m for m in modules if m == "email" or m.startswith("email.")}


def test_help_loads_nothing_heavy() -> None:
    """`session-importer --help` prints the commands without the sheet or HTTP machinery."""
    code, modules, stderr = imported("--help")
    assert code == 0, stderr
    assert "importer.cli.parser" in modules
    assert heavy(modules) == []


@pytest.mark.parametrize("command", command_names())
def test_each_commands_help_loads_nothing_heavy(command: str) -> None:
    """`COMMAND --help`, whose text may name vendors by what their plugins do (built then)."""
    code, modules, stderr = imported(command, "--help")
    assert code == 0, stderr
    assert heavy(modules) == []


@pytest.mark.parametrize(
    "args",
    [("--no-such-flag",), ("validate", "x.csv", "--no-such-flag"), ("run", "--limit", "many")],
)
def test_a_wrong_flag_loads_nothing_heavy(args: tuple[str, ...]) -> None:
    """argparse's refusal (exit 2, one line) comes before anything heavy is imported."""
    code, modules, stderr = imported(*args)
    assert code == 2 and "(see --help)" in stderr, stderr
    assert heavy(modules) == []


def test_status_loads_nothing_heavy(tmp: Path) -> None:
    """`status` reads a journal of three runs (SQLite) and lists every journal of a state
    folder without pandas or the HTTP client."""
    from importer.store.journal import Journal

    path = tmp / "j.sqlite"
    journal = Journal(path, "360learning-v2")
    journal.set_meta("vendor", "360learning-v2")
    for n in range(3):
        journal.finish_run(journal.start_run(f"sheet{n}.csv"), {"counts": {"created": n}})
    journal.close()
    code, modules, stderr = imported("status", path)
    assert code == 0, stderr
    assert {"sqlite3", "importer.store.journal"} <= modules
    assert heavy(modules) == []
    code, modules, stderr = imported("status", "--json", path)
    assert code == 0, stderr
    assert heavy(modules) == []


def test_vendors_loads_nothing_heavy() -> None:
    """`vendors` builds every plugin (its pace, scopes, odd answers): none loads a heavy
    library until a command sends or serves."""
    for args in (("vendors",), ("vendors", "--json")):
        code, modules, stderr = imported(*args)
        assert code == 0, stderr
        assert "importer.vendors.zoho_people.wire" in modules
        assert "importer.vendors.coursepath.sandbox" in modules
        assert heavy(modules) == []


def _helps(parser: argparse.ArgumentParser, args: list[str]) -> tuple[int, str, str]:
    """What ``parser`` says to ``args``: exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            parser.parse_args(args)
            code = 0
        except SystemExit as stop:
            code = int(stop.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--no-such-flag"],
        ["no-such-command"],
        [],
        *([command, "--help"] for command in command_names()),
        ["validate", "x.csv", "--no-such-flag"],
        ["run", "--limit", "many"],
        ["store", "status", "--help"],
    ],
)
def test_the_command_line_built_for_its_arguments_says_what_the_whole_one_says(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parser the entry point builds (the named command's arguments only) prints the same
    help and the same refusals, bytes and exit code, as the whole parser (the docs' one)."""
    monkeypatch.setenv("COLUMNS", "100")
    whole = _helps(build_parser(), args)
    assert whole[0] in (0, 2) and (whole[1] or whole[2])
    assert _helps(build_parser(args), args) == whole


def test_the_exit_collects_the_garbage_then_freezes_the_rest() -> None:
    """After the command, garbage is collected (a cycle's finalizer runs) and what is left
    alive is frozen, so that the interpreter's own collections at exit pass it by."""
    script = (
        "import gc\n"
        "from importer.cli.entry import main\n"
        "gc.disable()  # the cycle below waits for the command's exit\n"
        "class Noted:\n"
        "    def __del__(self):\n"
        "        print('finalized', flush=True)\n"
        "cycle = Noted()\n"
        "cycle.me = cycle\n"
        "del cycle\n"
        "code = main(['vendors'])\n"
        "print('frozen', gc.get_freeze_count() > 0, 'code', code)\n"
    )
    lines, _ = _python(script)
    assert "finalized" in lines
    assert lines[-1] == "frozen True code 0"


def test_a_signal_while_the_exit_collects_changes_nothing() -> None:
    """Ctrl-C or SIGTERM landing while the ended command's garbage is collected: the exit
    code is the command's, no traceback (the signal handlers raise there, as anywhere)."""
    script = (
        "import gc\n"
        "from importer.cli import entry\n"
        "from importer.core.signals import Terminated\n"
        "def signalled(*args):\n"
        "    raise Terminated()\n"
        "entry.gc = type('gc', (), {'collect': signalled, 'freeze': gc.freeze})\n"
        "print('code', entry.main(['vendors']))\n"
    )
    lines, stderr = _python(script)
    assert lines[-1] == "code 0"
    assert "Traceback" not in stderr


def _python(script: str) -> tuple[list[str], str]:
    """Run ``script`` in a fresh interpreter: its output lines and its stderr (exit 0)."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines(), done.stderr
