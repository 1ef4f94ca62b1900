"""Benchmark: how fast hostile files are refused, and what reading costs, per format.

For every file of tests/corpus/ (the bombs): the guard's time to refuse it
(in-process, median of 5), and the real command line's wall time and peak memory
(``validate``, a fresh process each, under a 4 GB address-space cap). Then, for a
large legitimate file of each format (generated once), the guard's time, the
read's time and peak memory, and the guard's memory estimate next to the measured
peak (the estimate must stay above it, or the budget would not hold).

Usage: python benchmarks/hostile.py [--rows N] [--data DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "corpus")]

from make_corpus import biff_workbook, cell, ods, ole_file  # noqa: E402  # isort: skip

from importer.core.errors import UnreadableFileError, UnsafeFileError  # noqa: E402
from importer.sheet.guard.check import check_workbook  # noqa: E402

_CAP = 4 * 1024**3
_READ = (
    "import sys, time; from pathlib import Path;"
    " from importer.sheet.reading.table import read_table;"
    " from importer.sheet.headers import header_scorer; from importer.vendors import get_vendor;"
    "t = time.perf_counter(); table = read_table(Path(sys.argv[1]), "
    "header_scorer(get_vendor('zoho-people')));"
    "print(len(table.frame), len(table.frame.columns), time.perf_counter() - t)"
)


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_CAP, _CAP))


def _child(args: list[str]) -> tuple[int, float, int, str]:
    """Run a command; return its exit code, wall seconds, peak RSS in MB, and its output."""
    start = time.perf_counter()
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=_capped
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.perf_counter() - start, usage.ru_maxrss // 1024, output


def bombs() -> None:
    """Time to refuse each corpus file, in the guard and through the real command line."""
    print(f"{'hostile file':34} {'bytes':>7} {'guard ms':>9} {'CLI s':>6} {'CLI MB':>7}  exit")
    corpus = ROOT / "tests" / "corpus"
    files = sorted(p for p in corpus.iterdir() if p.is_file() and p.suffix != ".py")
    for path in files + sorted((corpus / "found").iterdir()):
        times = []
        for _ in range(5):
            start = time.perf_counter()
            with contextlib.suppress(UnsafeFileError, UnreadableFileError):  # a refusal either way
                check_workbook(path)
            times.append((time.perf_counter() - start) * 1000)
        code, seconds, peak, _ = _child(
            [sys.executable, "-m", "importer", "validate", str(path), "--vendor", "zoho-people",
             "--result", os.devnull + ".csv"]
        )  # fmt: skip
        guard = f"{statistics.median(times):9.1f}" if path.suffix != ".csv" else f"{'-':>9}"
        print(f"{path.name:34} {path.stat().st_size:7,} {guard} {seconds:6.2f} {peak:7,}  {code}")


def _zoho_rows(rows: int) -> list[list[str]]:
    """Rows with realistic variety (a year of dates, varied names and descriptions)."""
    rng = random.Random(7)
    words = ["onboarding", "safety", "sales", "leadership", "excel", "python", "review"]
    out = []
    for n in range(rows):
        topic = " ".join(rng.choices(words, k=rng.randint(2, 8)))
        out.append(["478346000019479103", "478346000019479115", str(478346000019479119 + n % 40),
                    f"{topic.title()} {n}", str(478346000008251001 + rng.randrange(300)), "0",
                    f"{rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-2026",
                    f"{rng.randint(8, 11)}:{rng.choice(['00', '30'])} AM", "1:00 PM",
                    f"{topic} with {rng.choice(words)} ({rng.randrange(10**6)})"])  # fmt: skip
    return out


_HEADER = ["Course ID", "Batch ID", "Module ID", "Session name", "Trainer erecno", "Type",
           "Date", "Start time", "End time", "Description"]  # fmt: skip


def make_files(folder: Path, rows: int) -> list[Path]:
    """A large legitimate file of each format (.xls: at most 30,000 rows, see below)."""
    import xlsxwriter

    data = _zoho_rows(rows)
    paths = []
    csv_path = folder / f"large-{rows}.csv"
    if not csv_path.exists():
        csv_path.write_text(
            "\r\n".join(",".join(r) for r in [_HEADER, *data]) + "\r\n", encoding="utf-8"
        )
    paths.append(csv_path)
    xlsx_path = folder / f"large-{rows}.xlsx"
    if not xlsx_path.exists():
        book = xlsxwriter.Workbook(str(xlsx_path), {"constant_memory": True})
        sheet = book.add_worksheet()
        for r, row in enumerate([_HEADER, *data]):
            sheet.write_row(r, 0, row)
        book.close()
    paths.append(xlsx_path)
    ods_path = folder / f"large-{rows}.ods"
    if not ods_path.exists():
        body = "".join(
            "<table:table-row>" + "".join(cell(v) for v in row) + "</table:table-row>"
            for row in [_HEADER, *data]
        )
        ods_path.write_bytes(ods(body))
    paths.append(ods_path)
    xls_rows = min(rows, 30_000)  # our compound-file writer holds streams up to 7 MB
    xls_path = folder / f"large-{xls_rows}.xls"
    if not xls_path.exists():
        cells = [(r, c, float(r * 10 + c)) for r in range(xls_rows) for c in range(10)]
        xls_path.write_bytes(ole_file(biff_workbook(cells, (0, xls_rows, 0, 10))))
    paths.append(xls_path)
    return paths


def large(folder: Path, rows: int) -> None:
    """Guard time, read time and peak memory of legitimate files; the guard's estimate."""
    print(f"\n{'legitimate file':22} {'MB':>6} {'guard s':>8} {'read s':>7} {'peak MB':>8} "
          f"{'estimate MB':>12}  rows x columns")  # fmt: skip
    for path in make_files(folder, rows):
        start = time.perf_counter()
        estimate = check_workbook(path) // 2**20 if path.suffix != ".csv" else None
        guard = time.perf_counter() - start
        code, _, peak, output = _child([sys.executable, "-c", _READ, str(path)])
        if code:
            print(f"{path.name:22} read failed: {output.strip()[-300:]}")
            continue
        height, width, seconds = output.split()
        shown = "-" if estimate is None else f"{estimate:,}"
        size = path.stat().st_size / 2**20
        print(f"{path.name:22} {size:6.1f} {guard:8.2f} {float(seconds):7.2f} {peak:8,} "
              f"{shown:>12}  {height} x {width}")  # fmt: skip


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    bombs()
    folder = args.data or Path(tempfile.mkdtemp(prefix="importer-hostile-"))
    folder.mkdir(parents=True, exist_ok=True)
    large(folder, args.rows)


if __name__ == "__main__":
    main()
