"""Benchmark: writing result sheets (the .xlsx and .csv writers alone).

Targets (issue 15, on the 2-core project machine):

* a 100,000-row result workbook (.xlsx, 14 columns, ~1% problem rows) written <= 3 s;
* a 1,000,000-row result CSV written <= 1 s (pyarrow's own CSV writer took 0.72 s for
  these rows in the issue's measurement; pandas' to_csv took 4.1 s).

The sheet is built from a validated 360Learning v2 file (benchmarks/v2_data.py); each
writer runs in a fresh process and only the write is timed (building the sheet is part
of ``validate``'s end-to-end figure in benchmarks/validate.py). ``--quick``: 10,000 and
100,000 rows, targets scaled to the rows.

Usage: python benchmarks/results.py [--quick] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import ROOT, Targets, environment
from v2_data import make_v2_csv


def write_once(source: Path, target: Path) -> dict[str, float]:
    """In this process: validate ``source``, then time writing its result sheet to ``target``."""
    import resource

    from importer.api import validate
    from importer.results.sheet import write_result
    from importer.results.write import result_sheet
    from importer.sheet.duplicates import flag_duplicates

    sheet = result_sheet(flag_duplicates(validate(source, "360learning-v2")))
    started = time.perf_counter()
    write_result(sheet, target)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "rows": len(sheet.frame), "peak_mb": peak}


def measure(source: Path, target: Path) -> dict[str, float]:
    """:func:`write_once` in a fresh process."""
    done = subprocess.run(
        [sys.executable, __file__, "--one", str(source), str(target)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment(),
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> int:
    """Generate the inputs, time each writer, print the targets; 1 when one is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sheets, scaled targets")
    parser.add_argument("--data", type=Path, help="keep the generated files here")
    parser.add_argument("--one", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(write_once(*args.one)))
        return 0
    xlsx_rows, csv_rows = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    data = args.data or Path(tempfile.mkdtemp(prefix="importer-bench-"))
    data.mkdir(parents=True, exist_ok=True)
    targets = Targets()
    print(f"data in {data}", flush=True)
    for suffix, rows, limit in (
        ("xlsx", xlsx_rows, 0.1 + 2.9 * xlsx_rows / 100_000),
        ("csv", csv_rows, 0.05 + 0.95 * csv_rows / 1_000_000),
    ):
        source = make_v2_csv(data / f"v2-{rows}.csv", rows)
        figures = measure(source, data / f"w.result.{suffix}")
        targets.check(
            f"result_{suffix}_{rows // 1000}k_write_seconds",
            figures["seconds"],
            limit,
            "s",
            f"{figures['rows']:,.0f} rows, 14 columns; process peak {figures['peak_mb']:,.0f} MB",
        )
    return targets.exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
