"""Benchmark: what reading a workbook in a memory-capped child process costs (issue 22).

The Excel reader runs in a child process (``importer/sheet/reading/child.py``), so that a native
crash on a hostile file ends that child, not the command, the inbox or the web server. This
measures, on the 100,000-row 360Learning v2 workbook of ``benchmarks/validate.py``:

* the read (guard, reader, text frame) as it was, in this process, against the read as it
  is, in a capped child (the fastest of ``--repeat`` runs each, interleaved);
* calamine alone, against the child's whole round trip (start, the file's bytes in, the
  cells back as text);
* ``validate`` end to end in a fresh process (median of ``--repeat``).

The machine is shared, so every figure is the fastest or the median of several runs.

Usage: python benchmarks/workbook_reader.py [--rows N] [--repeat N] [--data DIR]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import COMMAND, run_alone
from validate import make_v2_xlsx


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    """Print the figures, one line each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="bench-reader-"))
    data.mkdir(parents=True, exist_ok=True)
    workbook = make_v2_xlsx(data / f"v2-{args.rows}.xlsx", args.rows)

    import python_calamine

    from importer.sheet.guard.check import Limits, check_workbook
    from importer.sheet.headers import header_scorer
    from importer.sheet.reading.capped import read_in_child
    from importer.sheet.reading.child import cell_text
    from importer.sheet.reading.table import build_frame, find_header, header_names, read_table
    from importer.vendors import get_vendor

    scorer = header_scorer(get_vendor("360learning-v2"))
    raw = workbook.read_bytes()
    limits = Limits.from_env()

    def in_process() -> None:
        """The read as it was before the child process: guard, calamine, text, frame."""
        check_workbook(workbook, raw, limits)
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(raw))
        rows = book.get_sheet_by_name(book.sheet_names[0]).to_python()
        head = find_header([[cell_text(v) for v in row] for row in rows[:20]], scorer)
        headers = header_names([cell_text(v) for v in rows[head]])
        columns = [[cell_text(row[i]) for row in rows[head + 1 :]] for i in range(len(headers))]
        build_frame(columns, headers, head + 2)

    def calamine_alone() -> None:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(raw))
        book.get_sheet_by_name(book.sheet_names[0]).to_python()

    # Interleaved, so that the machine's load falls on both alike.
    before = now = alone = child = float("inf")
    for _ in range(args.repeat):
        before = min(before, _timed(in_process))
        now = min(now, _timed(lambda: read_table(workbook, scorer)))
        alone = min(alone, _timed(calamine_alone))
        child = min(
            child, _timed(lambda: read_in_child(workbook, raw, None, limits.reader_memory_bytes))
        )
    rows = f"{args.rows:,}-row .xlsx"
    print(f"read, {rows}, in process (as before): {before:.2f} s (fastest of {args.repeat})")
    print(f"read, {rows}, in a capped child (now): {now:.2f} s ({now - before:+.2f} s)")
    print(f"calamine alone in this process: {alone:.2f} s; the child's round trip, "
          f"text included: {child:.2f} s")  # fmt: skip
    command = [*COMMAND, "validate", str(workbook), "--vendor", "360learning-v2", "--result"]
    runs = [run_alone([*command, str(data / "r.xlsx")]) for _ in range(args.repeat)]
    seconds = statistics.median(run.seconds for run in runs)
    peak = max(run.peak_mb for run in runs)
    print(f"validate end to end: {seconds:.2f} s median of {args.repeat}, peak {peak:,.0f} MB")


if __name__ == "__main__":
    main()
