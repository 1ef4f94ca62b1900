"""Benchmark: kill -9 the real CLI at random points of a sandbox import, re-run until done.

The sandbox (its own process) drops a share of create answers after creating the
session; the importer (360Learning v2, with its journal) is killed with SIGKILL
at random moments, including while requests are in flight, then run again
until it exits 0. At the end every row must exist exactly once at the sandbox,
none lost, and the last result sheet must agree with the sandbox.

Targets: no duplicate, no row lost, the result sheet agreeing with the sandbox.

Usage: python benchmarks/chaos.py [--quick] [--rows N] [--kills N] [--drop SHARE] [--seed S]
Prints: kills, runs, duplicates, lost, and the sheet size.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

HEADERS = ["Path ID", "Session name", "Main instructor ID", "Start date", "Registration validation"]


def chaos(rows: int, kills: int, drop: float, seed: int, folder: Path) -> dict[str, Any]:
    """Run the experiment; return its figures."""
    rng = random.Random(seed)
    sheet = folder / "sessions.csv"
    with sheet.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        for i in range(rows):
            writer.writerow(
                [
                    "6853f6de567dc5f80528f80d",
                    f"Chaos {i}",
                    "647098a731a809ed36889ed1",
                    f"2025-07-{1 + i % 28:02d} {8 + i % 9}:00",
                    "disabled",
                ]
            )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "importer",
            "sandbox",
            "--port",
            "0",
            "--json",
            "--faults",
            f"360learning-v2:drop={drop},seed={seed}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean,
    )
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())["360learning-v2"]
        # The account's journal lives in the state folder: this experiment's own.
        env = {**clean, **info["env"], "IMPORTER_STATE_DIR": str(folder / "state")}
        # the sheets' times carry no zone, and a 360Learning run given none refuses them (issue 22)
        env["IMPORTER_TIMEZONE"] = "UTC"
        command = [
            sys.executable,
            "-m",
            "importer",
            "run",
            str(sheet),
            "--vendor",
            "360learning-v2",
            "--base-url",
            info["base_url"],
            "--auth-url",
            info["auth_url"],
            "--result",
            str(folder / "result.csv"),
            "--json",
        ]
        done_kills, runs, last = 0, 0, None
        while runs < kills * 3 + 20:
            runs += 1
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
            )
            if done_kills < kills:
                time.sleep(rng.uniform(0.3, 2.5))
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    process.communicate()  # reap it and close its pipe
                    done_kills += 1
                    continue
            out, _ = process.communicate(timeout=300)
            last = json.loads(out) if out.strip() else None
            if process.returncode == 0:
                break
        base = info["base_url"].removesuffix("/360learning")
        created = httpx.get(f"{base}/_sandbox/created", params={"vendor": "360learning-v2"}).json()
    finally:
        server.terminate()
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()
    names = Counter(c["data"]["name"] for c in created)
    expected = {f"Chaos {i}" for i in range(rows)}
    result_ids = set()
    with (folder / "result.csv").open(encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            if row["Status"] in ("created", "skipped"):
                result_ids.add(row["Created ID"])
    return {
        "rows": rows,
        "kills": done_kills,
        "runs": runs,
        "duplicates": sum(count - 1 for count in names.values() if count > 1),
        "lost": len(expected - set(names)),
        "sheet_agrees": result_ids == {c["id"] for c in created},
        "last_counts": last["counts"] if last else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60)
    parser.add_argument("--kills", type=int, default=None, help="default 20 (8 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer kills")
    parser.add_argument("--drop", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    figures = chaos(
        args.rows,
        args.kills or (8 if args.quick else 20),
        args.drop,
        args.seed,
        Path(tempfile.mkdtemp(prefix="importer-chaos-")),
    )
    kills, runs, rows = figures["kills"], figures["runs"], figures["rows"]
    print(
        f"chaos: {kills} kills over {runs} runs of a {rows}-row sheet (drop share {args.drop}): "
        f"{figures['duplicates']} duplicates, {figures['lost']} lost, result sheet agrees with "
        f"the sandbox: {figures['sheet_agrees']}; last run {figures['last_counts']}"
    )
    from harness import Targets  # beside this script (tests load chaos() alone, by path)

    targets = Targets()
    dupes, lost = figures["duplicates"], figures["lost"]
    targets.check(f"kill -9 x{kills}: duplicates", f"{dupes}", "0", dupes == 0)
    targets.check(f"kill -9 x{kills}: rows lost", f"{lost}", "0", lost == 0)
    targets.check(
        "kill -9: result sheet agrees with the vendor",
        str(figures["sheet_agrees"]).lower(),
        "true",
        bool(figures["sheet_agrees"]),
    )
    targets.finish()


if __name__ == "__main__":
    main()
