"""Benchmark: what a real import costs us a row, and how soon it starts sending.

The real ``session-importer run`` (a child process: validation, journal, the account's rate
budget, the result sheet, all included) against ``session-importer sandbox`` in a process of
its own on 127.0.0.1:

1. No added latency, 360Learning v1 (no documented limit) at 1, 4 and 16 requests in
   flight: our CPU a row is the child's CPU (``os.wait4``: user + system, the sandbox's not
   in it) for ``--rows`` rows (the better of two runs: the machine is shared) less that of
   a 100-row run (start-up, imports), over the difference in rows. Targets: at most 0.5 ms
   a row at 16 in flight, 1 ms at 1 and 4.
2. The same 16-in-flight run through the shared rate budget (360Learning v2 with
   ``--rate 100000 --beyond-documented-rate``: every call takes its slot in the account's
   schedule file, two SQLite transactions a call): at most 1 ms a row.
3. First request after validation, 10,000 rows: the sandbox's arrival time of the first
   request less the end of validation (the run's summary): at most 0.2 s.
4. 20 ms added to every answer, 1 vs 16 in flight: at least 10x from concurrency.

Usage: python benchmarks/throughput.py [--quick] [--rows N]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness import Sandbox, Targets, parser, run_cli, sandbox, sheet


def cpu_per_row(
    box: Sandbox, vendor: str, folder: Path, rows: int, base: int, *args: str
) -> tuple[float, float, float]:
    """Our CPU ms a row (marginal over a ``base``-row run), wall s, sandbox CPU ms a row."""
    small = run_cli(box, vendor, sheet(folder / f"base-{vendor}.csv", vendor, base, 10**7), *args)
    runs, sandbox_cpu = [], []
    for attempt in range(2):  # the better of two: the machine is shared, noise only adds
        before = box.cpu()
        path = sheet(folder / f"big-{vendor}-{attempt}.csv", vendor, rows, attempt * rows)
        runs.append(run_cli(box, vendor, path, *args, state=folder / f"state-{attempt}"))
        sandbox_cpu.append(box.cpu() - before)
    for run, count in ((small, base), *((run, rows) for run in runs)):
        if run.created != count:
            raise SystemExit(f"{vendor} {args}: {run.summary or run.stderr[-2000:]}")
    big = min(runs, key=lambda run: run.cpu)
    per_row = 1000 * (big.cpu - small.cpu) / (rows - base)
    return per_row, big.wall, 1000 * min(sandbox_cpu) / rows


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--rows", type=int, default=None, help="rows of the CPU runs")
    args = options.parse_args()
    rows = args.rows or (3000 if args.quick else 10_000)
    base = 100
    folder = Path(tempfile.mkdtemp(prefix="importer-throughput-"))
    targets = Targets()
    with sandbox() as box:
        for inflight in (1, 4, 16):
            folder_n = folder / f"c{inflight}"
            ms, wall, server = cpu_per_row(
                box, "360learning-v1", folder_n, rows, base, "--concurrency", str(inflight)
            )
            print(
                f"360learning-v1, {inflight} in flight, no latency: {rows} rows in {wall:.2f} s "
                f"({rows / wall:,.0f} rows/s); our CPU {ms:.3f} ms a row; the sandbox's "
                f"{server:.3f} ms a row (not counted)"
            )
            limit = 0.5 if inflight == 16 else 1.0
            targets.check(
                f"send CPU a row, {inflight} in flight (journal included)",
                f"{ms:.2f} ms",
                f"≤ {limit} ms",
                ms <= limit,
            )
        # The sandbox keeps 360Learning's 10 writes/s unless told: lifted, so that the budget's
        # bookkeeping is what is measured, not the pace.
        box.control("PUT", "options", json={"v2_writes_per_second": 1_000_000})
        ms, wall, server = cpu_per_row(
            box, "360learning-v2", folder / "v2", rows, base,
            "--concurrency", "16", "--rate", "100000", "--beyond-documented-rate",
        )  # fmt: skip
        print(
            f"360learning-v2 through the shared rate budget, 16 in flight: {rows} rows in "
            f"{wall:.2f} s; our CPU {ms:.3f} ms a row (sandbox {server:.3f})"
        )
        targets.check(
            "send CPU a row, 16 in flight, shared budget", f"{ms:.2f} ms", "≤ 1 ms", ms <= 1
        )
        box.control("POST", "reset")
        path = sheet(folder / "first" / "v1.csv", "360learning-v1", 10_000)
        run = run_cli(box, "360learning-v1", path, "--concurrency", "16")
        arrivals = [
            r["at"] for r in box.control("GET", "requests", params={"vendor": "360learning-v1"})
        ]
        first = min(arrivals) - float(run.summary["validated_at"])
        print(f"10,000 rows: first request {first:.3f} s after the end of validation")
        targets.check(
            "first request after validation, 10k rows", f"{first:.2f} s", "≤ 0.2 s", first <= 0.2
        )
    latency_rows = 200 if args.quick else 500
    rates = {}
    with sandbox("--faults", "360learning-v1:latency=0.02") as box:
        for inflight in (1, 16):
            box.control("POST", "reset")
            path = sheet(folder / f"latency{inflight}" / "v1.csv", "360learning-v1", latency_rows)
            run = run_cli(box, "360learning-v1", path, "--concurrency", str(inflight))
            seen = box.control("GET", "requests", params={"vendor": "360learning-v1"})
            span = max(r["at"] for r in seen) - min(r["at"] for r in seen) + 0.02
            rates[inflight] = latency_rows / span
            print(
                f"20 ms answers, {inflight} in flight: {run.created} of {latency_rows} rows, "
                f"first to last request {span:.2f} s ({rates[inflight]:.0f} rows/s); "
                f"{run.wall:.2f} s start to finish"
            )
    speedup = rates[16] / rates[1]
    targets.check("speed-up from 16 in flight (20 ms answers)", f"{speedup:.1f}x", "≥ 10x",
                  speedup >= 10)  # fmt: skip
    targets.finish()


if __name__ == "__main__":
    main()
