"""Benchmark: pacing under the vendors' limits, on a fake clock (sandbox in-process).

1. A 3,000-row Zoho import: the ideal is 100 minutes of simulated time (30 calls a
   minute); target within 1% of it, with zero locks.
2. A 360Learning v2 import against a sandbox limited to 10 writes/s, with the
   importer's ceiling at 10/s: target at least 9 rows/s and under 1% of 429s.

Usage: python benchmarks/pacing.py [--zoho-rows N] [--v2-rows N]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from importer.clock import FakeClock
from importer.config import resolve_settings
from importer.pipeline import run_import
from importer.sandbox import Sandbox, SandboxServer, SandboxState, describe
from importer.validation import validate


def sheet(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([header, *rows])
    return path


def simulate(
    vendor: str, path: Path, **options: object
) -> tuple[float, float, Sandbox, dict[str, int]]:
    """Import ``path`` into an in-process sandbox on a fake clock; return simulated s, real s."""
    clock = FakeClock()
    sandbox = Sandbox(SandboxState.fresh(clock=clock, zoho_sessions_per_module=100_000))
    with SandboxServer(sandbox.app) as server:
        info = describe(server.url, sandbox.state)[vendor]
        flags = {
            "base_url": info["base_url"],
            "auth_url": info["auth_url"],
            "concurrency": 1,
            **options,
        }
        settings = resolve_settings(vendor, flags=flags, env=info["env"])
        report = validate(path, vendor)
        started, real = clock.time(), time.perf_counter()
        run = run_import(report, settings, clock=clock, notify=lambda message: None)
        return clock.time() - started, time.perf_counter() - real, sandbox, run.counts()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoho-rows", type=int, default=3000)
    parser.add_argument("--v2-rows", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="importer-pacing-"))

    ids = ["478346000019479103", "478346000019479115", "478346000019479119"]
    zoho = sheet(
        folder / "zoho.csv",
        [
            "Course ID",
            "Batch ID",
            "Module ID",
            "Session name",
            "Trainer erecno",
            "Type",
            "Date",
            "Start time",
            "End time",
        ],
        [
            [*ids, f"S{i}", "478346000008251001", "0", "04-01-2022", "10:00 AM", "11:00 AM"]
            for i in range(args.zoho_rows)
        ],
    )
    simulated, real, sandbox, counts = simulate("zoho-people", zoho)
    ideal = args.zoho_rows * 2.0
    print(
        f"zoho-people: {args.zoho_rows} rows {counts} in {simulated / 60:.2f} simulated minutes "
        f"(ideal {ideal / 60:.2f}, {100 * (simulated - ideal) / ideal:+.2f}%), "
        f"locks {sandbox.zoho.locks}, {real:.1f} s real"
    )

    v2 = sheet(
        folder / "v2.csv",
        ["Path ID", "Session name", "Main instructor ID", "Start date", "Registration validation"],
        [
            [
                "6853f6de567dc5f80528f80d",
                f"S{i}",
                "647098a731a809ed36889ed1",
                "2025-07-01 10:00",
                "disabled",
            ]
            for i in range(args.v2_rows)
        ],
    )
    simulated, real, sandbox, counts = simulate("360learning-v2", v2, rate=10.0)
    writes = [
        r for r in sandbox.state.requests if r["method"] == "POST" and "/sessions" in r["path"]
    ]
    refused = sum(1 for r in writes if r["status"] == 429)
    print(
        f"360learning-v2: {args.v2_rows} rows {counts} at {args.v2_rows / simulated:.2f} rows/s "
        f"simulated (ceiling 10/s), {refused} of {len(writes)} writes answered 429 "
        f"({100 * refused / max(len(writes), 1):.2f}%), {real:.1f} s real"
    )


if __name__ == "__main__":
    main()
