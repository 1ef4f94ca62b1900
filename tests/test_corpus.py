"""Every hostile file of tests/corpus/ through the real command line: one plain line, exit 2.

The corpus is written by ``tests/corpus/make_corpus.py`` (each file is described there);
files named ``ok-*`` are awkward but legitimate, and must be read with one outcome per data
line. Each run has an address-space cap, so a regression fails the test instead of
taking the machine's memory (calamine aborted at 512 GiB on some of these): these runs are
subprocesses on purpose, a crash or a runaway reader takes that process, not the test's.
"""

from __future__ import annotations

import csv
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

CORPUS = ROOT / "tests" / "corpus"
#: Built by make_corpus.py.
MADE = sorted(p for p in CORPUS.iterdir() if p.is_file() and p.suffix != ".py")
#: Found by the fuzzer (tests/fuzz_workbooks.py) and kept as they were.
FOUND = sorted((CORPUS / "found").iterdir())
FILES = MADE + FOUND
#: Data lines in each legitimate file (the header excluded).
OK_ROWS = {"ok-csv-cr-only.csv": 3, "ok-csv-utf16-odd-byte.csv": 3}
_MEMORY_CAP = 3 * 1024**3


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_CAP, _MEMORY_CAP))


def _validate(path: Path, result: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    return subprocess.run(
        [sys.executable, "-m", "importer", "validate", str(path), "--vendor", "zoho-people",
         "--result", str(result)],
        capture_output=True, text=True, env=env, timeout=60, preexec_fn=_capped,
    )  # fmt: skip


def test_corpus_is_what_the_script_writes() -> None:
    """The committed files are exactly what make_corpus.py builds (so they can be reviewed)."""
    sys.path.insert(0, str(CORPUS))
    try:
        import make_corpus
    finally:
        sys.path.remove(str(CORPUS))
    built = make_corpus.corpus()
    assert sorted(built) == [p.name for p in MADE]
    for path in MADE:
        assert path.read_bytes() == built[path.name], path.name


@pytest.mark.parametrize("path", [p for p in FILES if not p.name.startswith("ok-")], ids=str)
def test_hostile_file_is_refused_with_one_line(path: Path, tmp: Path) -> None:
    """Exit 2, one line on stderr naming the file, no traceback, no result written."""
    done = _validate(path, tmp / "r.csv")
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"session-importer: error: {path}: "), lines[0]
    assert "internal error" not in lines[0]
    assert not (tmp / "r.csv").exists()


@pytest.mark.parametrize("path", [p for p in FILES if p.name.startswith("ok-")], ids=str)
def test_awkward_but_legitimate_file_is_read(path: Path, tmp: Path) -> None:
    """Every data line of the file has its row, with an outcome, in the result sheet."""
    done = _validate(path, tmp / "r.csv")
    assert done.returncode in (0, 1), done.stderr
    with (tmp / "r.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == OK_ROWS[path.name]
    assert all(row["Status"] in ("valid", "invalid") for row in rows)
    assert [row["Session name"] for row in rows] == [f"Session {n}" for n in (1, 2, 3)]


def test_run_sends_nothing_when_a_quote_never_closes(tmp: Path) -> None:
    """`run` on the unclosed-quote sheet exits 2 before sending (it created 3 rows, exit 0)."""
    source = tmp / "open.csv"
    source.write_bytes((CORPUS / "csv-unclosed-quote.csv").read_bytes())
    done = run_cli("run", source, "--vendor", "zoho-people", "--sandbox", "--json")
    assert done.returncode == 2, done.stderr
    assert "row 5, column I: a quoted cell opens here and is never closed" in done.stderr
    assert not list(tmp.glob("open.result.*"))
