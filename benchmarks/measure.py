"""Helpers of the benchmark scripts: run a command, report figures against targets.

Every figure a script claims about what users run comes from the real command in a
fresh process: its wall time from start to exit, and its own peak memory (max RSS, read
with ``os.wait4`` for that one child). Each target prints one line::

    TARGET <name> | <figure> | <target> | ok   (or MISSED)

and a script exits 1 when any target is missed.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The command as installed in this interpreter's environment (python -m importer).
COMMAND = [sys.executable, "-m", "importer"]


@dataclass(frozen=True)
class Run:
    """One finished process: wall seconds, peak RSS in MB, exit code, output, CPU seconds."""

    seconds: float
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str
    cpu: float = 0.0


def run_alone(args: Sequence[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> Run:
    """Run ``args`` to the end from a fresh helper process: its wall time, its own peak RSS.

    The helper's only child is the command, so the helper's ``RUSAGE_CHILDREN`` peak is the
    command's own; the time runs from just before the command starts to its exit; the CPU is
    the command's user and system time. Of a long output, the first and the last 4,000
    characters are kept.
    """
    probe = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "s = time.perf_counter() - t\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "m, c = u.ru_maxrss / 1024, u.ru_utime + u.ru_stime\n"
        "o = p.stdout if len(p.stdout) < 8000 else p.stdout[:4000] + '\\n' + p.stdout[-4000:]\n"
        "print(json.dumps([s, m, p.returncode, o, p.stderr[-4000:], c]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=True,
    )
    seconds, peak, code, stdout, stderr, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    return Run(seconds, peak, code, stdout, stderr, cpu)


def median_seconds(args: Sequence[str], times: int) -> float:
    """The median wall time of ``times`` runs of ``args`` (a hyperfine-like figure)."""
    found = []
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run(list(args), capture_output=True, cwd=ROOT, check=False)
        found.append(time.perf_counter() - started)
    return statistics.median(found)


@dataclass
class Targets:
    """The targets of one script: print each as it is measured; the exit code at the end."""

    missed: list[str] = field(default_factory=list)

    def check(self, name: str, figure: float, limit: float, unit: str, note: str = "") -> None:
        """Print ``TARGET`` for a figure that must stay at or below ``limit``."""
        ok = figure <= limit
        if not ok:
            self.missed.append(name)
        extra = f"  ({note})" if note else ""
        line = f"TARGET {name} | {figure:,.2f} {unit} | <= {limit:,.2f} {unit} | "
        print(line + ("ok" if ok else "MISSED") + extra, flush=True)

    def exit_code(self) -> int:
        """0 when every target was met, else 1."""
        return 1 if self.missed else 0


def environment() -> dict[str, str]:
    """This environment without the importer's own settings (a clean run)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
