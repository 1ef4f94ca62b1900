"""Benchmark: the least CPU ``validate`` of a 1M-row CSV can take, part by part, against the floor.

Issue 27 asks ``validate`` for at most 3x the CPU of the *floor* (pyarrow reading every
column of the file as text and writing a CSV of the same size: benchmarks/validate.py).
``validate`` does more than the floor by design: it refuses hostile files before reading
them, reads each distinct text of a column once and remembers it, finds repeated rows by
a keyed hash of every row, and writes five outcome columns beside the sheet's. This script
measures the least each of those costs, with the fastest kernel we know for it (pyarrow's
where one exists, the project's own code where none does), on the same file, in the same
run as the floor and the command itself, and prints their sum as a ratio of the floor:

* start-up: ``import pandas, pyarrow.csv, pyarrow.compute`` in a fresh process (the kinds'
  readings are pandas code), and without pandas, for an arrow-only core;
* reading: pyarrow's CSV reader, every column as text (the floor's read);
* the hostile-file checks: the line count and the open-quote search, in one read of the
  file (``csv_checks.check_file``);
* the columns: one dictionary per column of few distinct texts (dates, IDs, choices), a
  trim and a length per column of mostly distinct ones (names, notes);
* the readings: every distinct text of the file read once by its field's kind;
* the repeats: two 64-bit SipHash lanes over each row's bytes of the mostly distinct
  columns, joined (the other columns are hashed once per distinct text: next to nothing);
* the result: pyarrow writing the sheet's columns and five more.

Parts are the minimum of three, each in one process after the file is in the disk cache;
the floor and ``validate`` are run alone three times, in turn. Prints figures, no target:
the sum is a lower bound of this design, not a measured run.

Usage: python benchmarks/validate_bound.py [--quick] [--rows N] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import ROOT, environment, run_alone
from v2_data import make_v2_csv
from validate import CSV_FLOOR, validate

#: The parts, in one process (the imports are measured apart, in fresh processes).
PARTS = r"""
import json, sys, time
from pathlib import Path
import numpy as np, pandas as pd
import pyarrow as pa, pyarrow.compute as pc, pyarrow.csv as pcsv
from importer.sheet.duplicates import _HASH_KEY, _OTHER_KEY
from importer.sheet.fields import Context
from importer.sheet.reading import csv_checks
from importer.vendors import get_vendor

path = Path(sys.argv[1])
out = Path(sys.argv[2])
names = [f"c{i}" for i in range(9)]
fields = ["pathId", "name", "mainInstructorId", "instructorIds", "startDate", "endDate",
          "userLimit", "registrationRequestValidation", "additionalInformation"]
vendor = get_vendor("360learning-v2")
parts = {}

def least(name, part):
    best = None
    for _ in range(3):
        began = time.process_time()
        done = part()
        took = time.process_time() - began
        best = took if best is None else min(best, took)
    parts[name] = best
    return done

table = least("reading", lambda: pcsv.read_csv(
    str(path),
    read_options=pcsv.ReadOptions(skip_rows=1, column_names=names),
    parse_options=pcsv.ParseOptions(newlines_in_values=True),
    convert_options=pcsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.large_string()), strings_can_be_null=False),
))
least("hostile-file checks",
      lambda: csv_checks.check_file(path, ",", csv_checks.STREAMED_MAX_CSV_LINES, False))
columns = [column.combine_chunks() for column in table.columns]
few = [i for i, column in enumerate(columns)
       if len(pc.unique(column.slice(0, 100_000))) * 2 <= min(len(column), 100_000)]
many = [i for i in range(len(columns)) if i not in few]
encoded = least("columns", lambda: (
    [pc.dictionary_encode(columns[i]) for i in few],
    [pc.utf8_length(pc.utf8_trim_whitespace(columns[i])) for i in many],
))[0]
def readings():
    for i, column in zip(few, encoded):
        texts = pd.Series(column.dictionary.to_pylist(), dtype="str")
        vendor.field(fields[i]).kind.parse(texts, Context())
least("readings", readings)
def repeats():
    parts = [pc.fill_null(columns[i].cast(pa.large_binary()), b"\xfe") for i in many]
    joined = pc.binary_join_element_wise(*parts, pa.scalar(b"\xff", pa.large_binary()))
    cells = joined.to_numpy(zero_copy_only=False)
    pd.util.hash_array(cells, hash_key=_HASH_KEY, categorize=False)
    pd.util.hash_array(cells, hash_key=_OTHER_KEY, categorize=False)
least("repeats", repeats)
result = pa.table(columns[:5] + columns, names=[f"r{i}" for i in range(5 + len(columns))])
least("result", lambda: pcsv.write_csv(result, str(out)))
print(json.dumps({"parts": parts, "few": [fields[i] for i in few]}))
"""


def main() -> int:
    """Measure the floor, the parts and ``validate`` on one generated file; print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the CSV")
    parser.add_argument("--quick", action="store_true", help="100,000 rows (a smoke run)")
    parser.add_argument("--data", type=Path, help="keep the generated file here")
    args = parser.parse_args()
    if args.quick:
        args.rows = 100_000
    data = args.data or Path(tempfile.mkdtemp(prefix="importer-bench-"))
    data.mkdir(parents=True, exist_ok=True)
    big = make_v2_csv(data / f"v2-{args.rows}.csv", args.rows)
    big.read_bytes()  # in the disk cache, as in benchmarks/validate.py
    env = environment()
    python = sys.executable

    def least(command: list[str]) -> tuple[float, float]:
        """The least CPU and the least wall time of three runs."""
        runs = [run_alone(command, env) for _ in range(3)]
        return min(run.cpu for run in runs), min(run.seconds for run in runs)

    def least_cpu(command: list[str]) -> float:
        return least(command)[0]

    floor, floor_wall = least([python, "-c", CSV_FLOOR, str(big), str(data / "floor.csv")])
    ours, ours_wall = least(validate(big, data / "ours.csv"))
    started = {
        "start-up (pandas, pyarrow)": least_cpu(
            [python, "-c", "import pandas, pyarrow.csv, pyarrow.compute"]
        ),
        "start-up (pyarrow alone)": least_cpu(
            [python, "-c", "import pyarrow.csv, pyarrow.compute"]
        ),
    }
    done = subprocess.run(
        [python, "-c", PARTS, str(big), str(data / "parts.csv")],
        capture_output=True, text=True, cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    measured = json.loads(done.stdout.splitlines()[-1])
    parts = {"start-up (pandas, pyarrow)": started["start-up (pandas, pyarrow)"]}
    parts |= measured["parts"]
    bound = sum(parts.values())
    print(f"{args.rows:,} rows; columns of few distinct texts: {', '.join(measured['few'])}")
    print(f"{'the floor (pyarrow reads, writes)':44} {floor:6.2f} s of CPU")
    for name, seconds in parts.items():
        print(f"  {name:42} {seconds:6.2f} s   {seconds / floor:5.2f}x the floor")
    print(f"  {'(start-up with pyarrow alone)':42} {started['start-up (pyarrow alone)']:6.2f} s")
    print(f"{'the least this design can take (sum)':44} {bound:6.2f} s   {bound / floor:5.2f}x")
    print(f"{'session-importer validate':44} {ours:6.2f} s   {ours / floor:5.2f}x")
    # In wall time: the start and the checks run alone (nothing can be validated before the
    # file is checked), the rest at best over the machine's two cores.
    serial = parts["start-up (pandas, pyarrow)"] + parts["hostile-file checks"]
    wall = serial + (bound - serial) / 2
    print(f"{'the floor, wall time':44} {floor_wall:6.2f} s")
    for said, seconds in (
        ("the least in wall time (serial + rest / 2)", wall),
        ("session-importer validate, wall time", ours_wall),
    ):
        print(f"{said:44} {seconds:6.2f} s   {seconds / floor_wall:5.2f}x")
    print(f"FIGURE validate_bound_cpu_x_floor | {bound / floor:.2f} x")
    print(f"FIGURE validate_cpu_x_bound | {ours / bound:.2f} x")
    print(f"FIGURE validate_bound_wall_x_floor | {wall / floor_wall:.2f} x")
    print(f"FIGURE validate_wall_x_floor | {ours_wall / floor_wall:.2f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
