"""What the benchmarks share: a sandbox process, sheets, the real CLI as a child, TARGET lines.

Every benchmark measures what a user runs: ``session-importer run`` as a subprocess (its
journal, its shared rate budget and its result sheet included) against
``session-importer sandbox`` in a process of its own, on 127.0.0.1 only. Each figure is
printed beside its target, one line a target::

    TARGET <name> | <figure> | <target> | ok

(``MISSED`` instead of ``ok``), which ``benchmarks/run_all.py`` collects into docs/performance.md's
table; a script exits 1 when one of its targets is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "CliRun",
    "Sandbox",
    "Targets",
    "clean_env",
    "parse_targets",
    "parser",
    "run_cli",
    "sandbox",
    "sheet",
]

_PYTHON = sys.executable

#: One valid row of each vendor's sheet (the session name is made unique per row).
_SHEETS: dict[str, tuple[list[str], list[str]]] = {
    "360learning-v1": (
        ["Path ID", "Session name", "Start date", "Owner group ID", "Instructor emails"],
        ["6853f6de567dc5f80528f80d", "S{i}", "2025-07-01 10:00", "624c5526204fc7207e603ea6",
         "jane.doe@example.com"],
    ),
    "360learning-v2": (
        ["Path ID", "Session name", "Main instructor ID", "Start date", "Registration validation"],
        ["6853f6de567dc5f80528f80d", "S{i}", "647098a731a809ed36889ed1", "2025-07-01 10:00",
         "disabled"],
    ),
    "zoho-people": (
        ["Course ID", "Batch ID", "Module ID", "Session name", "Trainer erecno", "Type", "Date",
         "Start time", "End time"],
        ["478346000019479103", "478346000019479115", "478346000019479119", "S{i}",
         "478346000008251001", "0", "04-01-2022", "10:00 AM", "11:00 AM"],
    ),
}  # fmt: skip


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with ``--quick`` (smaller loads, same targets)."""
    found = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    found.add_argument("--quick", action="store_true", help="smaller loads (CI, run_all)")
    return found


def sheet(path: Path, vendor: str, rows: int, start: int = 0) -> Path:
    """A CSV of ``rows`` valid, distinct rows of ``vendor``'s sheet."""
    header, row = _SHEETS[vendor]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for i in range(start, start + rows):
            writer.writerow([cell.format(i=i) for cell in row])
    return path


def clean_env() -> dict[str, str]:
    """This environment without any IMPORTER_* setting (the benchmark sets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}


@dataclass
class Sandbox:
    """A sandbox process: its vendors' URLs and credentials, and its control URL."""

    process: subprocess.Popen[str]
    info: dict[str, Any]

    @property
    def root(self) -> str:
        """The server's URL (``/_sandbox/...`` hangs off it)."""
        return str(self.info["360learning-v1"]["base_url"]).rsplit("/", 1)[0]

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call to the sandbox's control routes (``/_sandbox/...``); its JSON answer."""
        answer = httpx.request(method, f"{self.root}/_sandbox/{path}", timeout=60, **kwargs)
        answer.raise_for_status()
        return answer.json()

    def cpu(self) -> float:
        """The sandbox process's CPU seconds so far (user + system), from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks


@contextlib.contextmanager
def sandbox(*extra: str) -> Iterator[Sandbox]:
    """``session-importer sandbox --port 0 --json EXTRA...`` in its own process."""
    process = subprocess.Popen(
        [_PYTHON, "-m", "importer", "sandbox", "--port", "0", "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_env(),
    )
    try:
        assert process.stdout is not None
        yield Sandbox(process, json.loads(process.stdout.readline()))
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


@dataclass
class CliRun:
    """One ``session-importer run``: its wall time, its own CPU (children excluded), summary."""

    wall: float
    cpu: float
    code: int
    summary: dict[str, Any]
    stderr: str

    @property
    def created(self) -> int:
        """Rows the run reports created."""
        return int(self.summary.get("counts", {}).get("created", 0))


def run_cli(
    box: Sandbox,
    vendor: str,
    path: Path,
    *args: str,
    state: Path | None = None,
    env: dict[str, str] | None = None,
) -> CliRun:
    """``session-importer run PATH --vendor V --json ARGS`` against ``box``, as a user runs it.

    The run keeps its journal and its rate budget in ``state`` (a fresh folder by default);
    its CPU is the child's own (``os.wait4``), the sandbox's is not in it.
    """
    info = box.info[vendor]
    state = state or Path(tempfile.mkdtemp(prefix="importer-bench-state-"))
    # the sheets' times carry no zone, and a 360Learning run given none refuses them (issue 22)
    zone = {"IMPORTER_TIMEZONE": "UTC"}
    full = {**clean_env(), **info["env"], "IMPORTER_STATE_DIR": str(state), **zone, **(env or {})}
    result = str(path.with_suffix(".result.csv"))
    command = [_PYTHON, "-m", "importer", "run", str(path), "--vendor", vendor, "--json",
               "--base-url", info["base_url"], "--result", result]  # fmt: skip
    if info.get("auth_url"):
        command += ["--auth-url", info["auth_url"]]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([*command, *args], stdout=out, stderr=err, env=full, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        lines = [line for line in out.read().splitlines() if line.startswith("{")]
        stderr = err.read()
    summary = json.loads(lines[-1]) if lines else {}
    return CliRun(wall, usage.ru_utime + usage.ru_stime, child.returncode, summary, stderr)


@dataclass
class Targets:
    """The targets of one benchmark: each printed as a TARGET line; exit 1 if one is missed."""

    missed: list[str] = field(default_factory=list)

    def check(self, name: str, figure: str, target: str, ok: bool) -> None:
        """Print ``TARGET name | figure | target | ok/MISSED`` and remember a miss."""
        print(f"TARGET {name} | {figure} | {target} | {'ok' if ok else 'MISSED'}", flush=True)
        if not ok:
            self.missed.append(name)

    def finish(self) -> None:
        """Exit 1 when a target was missed."""
        if self.missed:
            print("missed: " + ", ".join(self.missed), flush=True)
            raise SystemExit(1)


def parse_targets(lines: Sequence[str]) -> list[tuple[str, str, str, bool]]:
    """The TARGET lines of a benchmark's output: (name, figure, target, met)."""
    found = []
    for line in lines:
        if line.startswith("TARGET "):
            parts = [part.strip() for part in line[len("TARGET ") :].split("|")]
            if len(parts) == 4:
                # "ok" or "MISSED", and perhaps a note after it: shown beside the figure.
                status, _, note = parts[3].partition(" ")
                figure = f"{parts[1]} {note.strip()}" if note.strip() else parts[1]
                found.append((parts[0], figure, parts[2], status == "ok"))
    return found
