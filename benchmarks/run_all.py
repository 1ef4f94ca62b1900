"""Run every benchmark and print the performance table: benchmark, figure, target, ok or MISSED.

Runs each script of ``benchmarks/`` (see :data:`SCRIPTS`; their TARGET lines, see
``harness.py``), one after the other (never two at once: they measure CPU and time), with
``--quick`` where a script takes it, unless ``--full``; a script that prints no TARGET line
and exits 0 is listed as "figures only";
prints one markdown table of every target and the machine it ran on (CPU model, cores,
memory, Python), and exits 1 when any target was missed or a script failed.

Usage: python benchmarks/run_all.py [--full] [--only NAME ...] [--output FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from harness import parse_targets

HERE = Path(__file__).resolve().parent

#: In this order; a script that is not there (another branch's) is left out, not failed.
SCRIPTS = [
    "throughput.py",
    "transport.py",
    "journal.py",
    "sandbox.py",
    "pacing.py",
    "fairshare.py",
    "chaos.py",
    "validate.py",
    "validate_bound.py",
    "results.py",
    "store.py",
    "claims.py",
    "hostile.py",
    "startup.py",
    "guard.py",
    "peers/newman.py",
]


def machine() -> str:
    """CPU model, cores, memory and Python, in one line."""
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = 0.0
    with open("/proc/meminfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) / 2**20
                break
    return (
        f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()} "
        f"({platform.system()} {platform.release()})"
    )


def run(script: str, full: bool) -> tuple[list[tuple[str, str, str, bool]], int, float]:
    """Run one benchmark; its targets, exit code and seconds (its output goes to stderr)."""
    quick = not full and "--quick" in (HERE / script).read_text(encoding="utf-8")
    command = [sys.executable, str(HERE / script), *(["--quick"] if quick else [])]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=HERE, check=False)
    seconds = time.perf_counter() - started
    sys.stderr.write(f"--- {script} ({seconds:.0f} s, exit {done.returncode})\n")
    sys.stderr.write(done.stdout)
    targets = parse_targets(done.stdout.splitlines())
    if done.returncode != 0 and all(ok for *_, ok in targets):  # it failed, not a target
        sys.stderr.write(done.stderr[-3000:])
    return targets, done.returncode, seconds


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--full", action="store_true", help="the full loads, not --quick")
    options.add_argument("--only", nargs="*", help="these scripts only (e.g. throughput.py)")
    options.add_argument("--output", type=Path, help="also write the table to this file")
    args = options.parse_args()
    lines = [
        "| benchmark | figure | target | |",
        "| --- | --- | --- | --- |",
    ]
    failed = False
    for script in args.only or SCRIPTS:
        if not (HERE / script).is_file():
            sys.stderr.write(f"--- {script}: not there, left out\n")
            continue
        targets, code, _ = run(script, args.full)
        if not targets and code == 0:  # figures only (see its output), no target to check
            lines.append(f"| {script} | figures only: no target | — | — |")
        elif code not in (0, 1) or (code == 1) != any(not ok for *_, ok in targets):
            lines.append(f"| {script} | failed (exit {code}) | — | **MISSED** |")
            failed = True
        for name, figure, target, ok in targets:
            lines.append(f"| {name} | {figure} | {target} | {'ok' if ok else '**MISSED**'} |")
            failed = failed or not ok
    lines += [
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}, "
        f"`python benchmarks/run_all.py{' --full' if args.full else ''}`.",
    ]
    table = "\n".join(lines)
    print(table)
    if args.output:
        args.output.write_text(table + "\n", encoding="utf-8")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
