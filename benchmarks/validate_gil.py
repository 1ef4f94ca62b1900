"""Diagnostic: what holds Python's lock (the GIL) while ``validate`` reads a 1M-row CSV.

``validate`` streams a big CSV through three threads (read and validate, repeats, result),
and much of each is pyarrow and numpy, which let go of the GIL; what does not is Python:
the imports, the readings of new texts, the row keys' bytes objects, the calls themselves.
The wall time cannot be less than the time the GIL is held, so this script measures it, part
by part: ``py-spy record --gil`` samples the thread holding it (only), here 100 times a
second without stopping the process (:data:`NONBLOCKING`), on the real command in a fresh
process, three runs; the samples are summed by the part of the command they were taken in.

Prints each part's seconds of GIL (the mean of the runs) beside the command's wall time and
the floor's (run alone, without the sampler, the least of three), and the GIL-held total
against the issue's wall target (4x the floor). No target: figures for the performance
page. The sampler adds its own cost (the runs are slower under it, and a sample may land
late): the figures are an estimate within a few percent, not an exact split.

py-spy is not a dependency of the project: ``pip install py-spy`` first (it is on the
package index; this script says so and exits 2 without it).

Usage: python benchmarks/validate_gil.py [--rows N] [--data DIR]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import ROOT, environment, run_alone
from v2_data import make_v2_csv
from validate import CSV_FLOOR, validate

#: Samples a second.
RATE = 100
#: Sampled without stopping the process. Stopping it for each sample (False) slows it, and
#: the lock is held longer for it: 1.45 s where this measured 1.11 s (the 1M-row sheet,
#: 2026-12-07, the mean of three runs each way).
NONBLOCKING = True
#: The parts, by a function on the sampled stack (the first that matches, in this order).
PARTS = [
    ("start-up: imports", ("_find_and_load",)),
    ("hostile-file checks", ("check_file ", "utf8_csv_layout ")),
    ("reading the slices", ("_slices ",)),
    ("validate: readings of new texts", ("_read (",)),
    ("validate: the rest", ("validate_slice ",)),
    ("repeats: the rows' bytes, hashed", ("_hashed ",)),
    ("repeats: the rest", ("RepeatedRows.flag ",)),
    ("result", ("_write ",)),
]


def part_of(stack: list[str]) -> str:
    """The part a sampled stack (outermost frame first) was taken in."""
    for name, marks in PARTS:
        if any(frame.startswith(marks) for frame in stack):
            return name
    return "other (the command line, threads' own work)"


def sampled(command: list[str], raw: Path) -> dict[str, float]:
    """Seconds of GIL held by part in one run of ``command`` under py-spy."""
    subprocess.run(
        ["py-spy", "record", "--gil", *(["--nonblocking"] if NONBLOCKING else []),
         "-r", str(RATE), "-f", "raw", "-o", str(raw), "--", *command],
        capture_output=True, cwd=ROOT, env=environment(), check=True,
    )  # fmt: skip
    seconds: collections.Counter[str] = collections.Counter()
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        seconds[part_of(stack.split(";"))] += int(count) / RATE
    return dict(seconds)


def main() -> int:
    """Sample ``validate`` three times; print the GIL-held seconds by part."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the CSV")
    parser.add_argument("--data", type=Path, help="keep the generated file here")
    args = parser.parse_args()
    if shutil.which("py-spy") is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    data = args.data or Path(tempfile.mkdtemp(prefix="importer-bench-"))
    data.mkdir(parents=True, exist_ok=True)
    big = make_v2_csv(data / f"v2-{args.rows}.csv", args.rows)
    big.read_bytes()  # in the disk cache
    command = validate(big, data / "gil.csv")
    floor = min(
        run_alone([sys.executable, "-c", CSV_FLOOR, str(big), str(data / "floor.csv")]).seconds
        for _ in range(3)
    )
    wall = min(run_alone(command, environment()).seconds for _ in range(3))
    runs = [sampled(command, data / f"gil-{n}.txt") for n in range(3)]
    names = [name for name, _ in PARTS] + [part_of([])]
    total = 0.0
    print(f"{args.rows:,} rows: seconds of GIL held, the mean of {len(runs)} sampled runs")
    for name in names:
        held = sum(run.get(name, 0.0) for run in runs) / len(runs)
        total += held
        print(f"  {name:44} {held:5.2f} s")
    for said, seconds in (
        ("the GIL held, in all", total),
        ("validate, wall time (alone, least of 3)", wall),
        ("4x the floor (the wall target)", 4 * floor),
    ):
        print(f"{said:46} {seconds:5.2f} s   {seconds / floor:5.2f}x the floor's wall time")
    print(f"FIGURE validate_gil_seconds | {total:.2f} s")
    print(f"FIGURE validate_gil_x_floor_wall | {total / floor:.2f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
