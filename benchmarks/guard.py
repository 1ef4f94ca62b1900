"""Benchmark: the hostile-file guard's share of validating a workbook (issue 27).

On the 100,000-row 360Learning v2 workbook of ``benchmarks/validate.py`` (generated once,
in --data or a temporary folder), each measured in a fresh process, the fastest of
``--repeat`` runs, interleaved:

* calamine alone: ``CalamineWorkbook.from_path(p).get_sheet_by_index(0).to_python()``,
  the time of that line in its process (and the process's wall time);
* the guard alone: ``check_workbook(path)``, the time of that call in its process;
* ``session-importer validate book.xlsx --vendor 360learning-v2 --result out.xlsx``,
  the command's wall time from start to exit.

Targets: the guard takes at most 20 % of the validate's time, and the validate at most
3 times calamine's read of the same file (its process wall time: both start an interpreter).

Since the reader reads in its capped child while the guard scans the parts (issue 27), the
guard's time is no longer all added to the validate's: printed beside the targets, what it
adds, the validate's wall time less that of the same command with the guard's scan of the
parts left out (``validate`` run in-process with ``scan_sheet`` and ``scan_strings`` made
no-ops: a measurement only, never a way to run it).

Usage: python benchmarks/guard.py [--quick] [--rows N] [--repeat N] [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import COMMAND, Targets, environment, run_alone
from validate import make_v2_xlsx

_TIMED = (
    "import sys, time\n"
    "{imports}\n"
    "t = time.perf_counter()\n"
    "{action}\n"
    "print(time.perf_counter() - t)\n"
)
_CALAMINE = _TIMED.format(
    imports="import python_calamine",
    action="python_calamine.CalamineWorkbook.from_path(sys.argv[1])"
    ".get_sheet_by_index(0).to_python()",
)
_GUARD = _TIMED.format(
    imports="from pathlib import Path; from importer.sheet.guard.check import check_workbook",
    action="check_workbook(Path(sys.argv[1]))",
)


#: ``validate`` with the guard's part scans left out (the structure checks kept).
_UNGUARDED = """
import sys
from importer.cli import main as cli
from importer.sheet.guard import check
check.scan_sheet = lambda *args: None
check.scan_strings = lambda *args: __import__("array").array("q")
raise SystemExit(cli.main(sys.argv[1:]))
"""


def main() -> int:
    """Generate the workbook, measure, print the figures and targets; 1 when one is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="accepted; the same load")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, help="keep the generated workbook here")
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="importer-guard-"))
    data.mkdir(parents=True, exist_ok=True)
    book = make_v2_xlsx(data / f"v2-{args.rows}.xlsx", args.rows)
    env = environment()
    python = sys.executable
    validate = [*COMMAND, "validate", str(book), "--vendor", "360learning-v2",
                "--result", str(data / "out.xlsx")]  # fmt: skip
    book.read_bytes()  # in the disk cache, as a file just saved is
    calamine, calamine_wall, guard, whole, unguarded = [], [], [], [], []
    for _ in range(args.repeat):
        done = run_alone([python, "-c", _CALAMINE, str(book)], env)
        calamine.append(float(done.stdout.split()[-1]))
        calamine_wall.append(done.seconds)
        done = run_alone([python, "-c", _GUARD, str(book)], env)
        if done.returncode:
            print(done.stderr, file=sys.stderr)
            return 2
        guard.append(float(done.stdout.split()[-1]))
        done = run_alone(validate, env)
        if done.returncode not in (0, 1):
            print(done.stderr, file=sys.stderr)
            return 2
        whole.append(done.seconds)
        done = run_alone([python, "-c", _UNGUARDED, *validate[len(COMMAND) :]], env)
        if done.returncode not in (0, 1):
            print(done.stderr, file=sys.stderr)
            return 2
        unguarded.append(done.seconds)
    read, read_wall, scan, total = min(calamine), min(calamine_wall), min(guard), min(whole)
    added = total - min(unguarded)
    print(f"{args.rows:,}-row workbook ({book.stat().st_size / 2**20:.1f} MB), fastest of "
          f"{args.repeat}: calamine read {read:.2f} s (process {read_wall:.2f} s), "
          f"guard {scan:.2f} s, validate {total:.2f} s", flush=True)  # fmt: skip
    targets = Targets()
    targets.check(
        "guard share of validate (xlsx, 100k rows)", 100 * scan / total, 20.0, "%",
        f"guard {scan:.2f} s of validate {total:.2f} s",
    )  # fmt: skip
    targets.check(
        "validate over calamine (xlsx, 100k rows)", total / read_wall, 3.0, "x",
        f"validate {total:.2f} s, calamine's process {read_wall:.2f} s "
        f"(its read alone {read:.2f} s: {total / read:.1f}x)",
    )  # fmt: skip
    print(
        f"FIGURE wall the guard's scans add to validate | {added:.2f} s "
        f"({100 * added / total:.1f} % of {total:.2f} s; without them {min(unguarded):.2f} s)"
    )
    return targets.exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
