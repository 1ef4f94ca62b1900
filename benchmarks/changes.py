"""Benchmark: the pace of `run --update` and `undo` under 360Learning v2's 10 writes a second.

N rows are imported into the sandbox (its own process, enforcing 10 writes a second per
company with 429s), all N edited and applied with `run --update`, then the run undone, each
through the real CLI. Prints, for the update and the undo: seconds, rows a second, the busiest
one-second window of writes the sandbox saw (target: at most 10), and the 429s it answered
(target: 0), and that every session was PATCHed once and DELETEd once.

Usage: python benchmarks/changes.py [--rows N]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

VENDOR = "360learning-v2"
PATH, JANE = "6853f6de567dc5f80528f80d", "647098a731a809ed36889ed1"


def _sheet(path: Path, rows: int, limit: str) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["Ref", "Path ID", "Session name", "Main instructor ID", "Start date",
                         "User limit", "Registration validation"])  # fmt: skip
        for n in range(rows):
            writer.writerow([f"B{n}", PATH, f"Bench {n}", JANE, "2027-06-01 09:00", limit,
                             "disabled"])  # fmt: skip
    return path


def _cli(info: dict[str, Any], env: dict[str, str], *args: str) -> float:
    hosts = ["--vendor", VENDOR, "--base-url", info["base_url"], "--auth-url", info["auth_url"]]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "importer", *args, *hosts, "--json"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {done.stderr}")
    return time.perf_counter() - started


def _figures(log: list[dict[str, Any]], method: str, seconds: float, rows: int) -> dict[str, Any]:
    writes = sorted(r["at"] for r in log if r["method"] == method and "/sessions/" in r["path"])
    busiest = max((sum(1 for t in writes if s <= t < s + 1.0) for s in writes), default=0)
    per_session = Counter(
        r["path"] for r in log if r["method"] == method and r["status"] in (200, 204)
    )
    return {
        "seconds": round(seconds, 1),
        "rows_per_second": round(rows / seconds, 2),
        "busiest_second": busiest,
        "429s": sum(1 for r in log if r["method"] == method and r["status"] == 429),
        "each_once": sorted(set(per_session.values())) == [1] and len(per_session) == rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="importer-changes-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--port", "0", "--json"],
        stdout=subprocess.PIPE, text=True, env=base,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())[VENDOR]
        # the sheets' times carry no zone, and a 360Learning run given none refuses them (issue 22)
        env = {**base, **info["env"], "IMPORTER_STATE_DIR": str(folder / "state")}
        env["IMPORTER_TIMEZONE"] = "UTC"
        url = str(info["base_url"]).removesuffix("/360learning")
        journal = str(folder / "j.sqlite")
        loose = ("--guard-share", "100", "--guard-rows", str(args.rows))
        common = ("--key", "Ref", "--journal", journal)
        _cli(info, env, "run", str(_sheet(folder / "s.csv", args.rows, "20")), *common)
        edited = str(_sheet(folder / "s.csv", args.rows, "40"))
        update = _cli(info, env, "run", edited, *common, "--update", *loose)
        undo = _cli(info, env, "undo", "1", "--journal", journal, *loose)
        log = httpx.get(f"{url}/_sandbox/requests", params={"vendor": VENDOR}).json()
        figures = {
            "rows": args.rows,
            "documented": "10 writes a second per company",
            "update": _figures(log, "PATCH", update, args.rows),
            "undo": _figures(log, "DELETE", undo, args.rows),
        }
        print(json.dumps(figures, indent=2))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
