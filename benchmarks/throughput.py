"""Benchmark: import throughput with concurrency, and the importer's own CPU cost per row.

5,000 rows into the sandbox (its own process, no rate limit, 20 ms added to
every answer) with 360Learning v1, whose API documents no limit, at
concurrency 1 and 16. Targets: at least 10x from concurrency; under 1 ms of the
importer's CPU per row. Two CPU figures: the importing process with httpx talking
to the sandbox (the sandbox's CPU is not counted), and the importer alone, with
httpx's MockTransport answering in-process (no sockets, no HTTP parsing).

Usage: python benchmarks/throughput.py [--rows N] [--latency S]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from importer.config import resolve_settings
from importer.pipeline import run_import
from importer.validation import validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="importer-throughput-"))
    path = folder / "v1.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["Path ID", "Session name", "Start date", "Owner group ID", "Instructor emails"]
        )
        for i in range(args.rows):
            writer.writerow(
                [
                    "6853f6de567dc5f80528f80d",
                    f"Session {i}",
                    "2025-07-01 10:00",
                    "624c5526204fc7207e603ea6",
                    "jane.doe@example.com",
                ]
            )
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
            f"360learning-v1:latency={args.latency}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())["360learning-v1"]
        report = validate(path, "360learning-v1")
        rates = {}
        for concurrency in (1, 16):
            settings = resolve_settings(
                "360learning-v1",
                flags={"base_url": info["base_url"], "concurrency": concurrency},
                env=info["env"],
            )
            limits = httpx.Limits(
                max_connections=concurrency, max_keepalive_connections=concurrency
            )
            with httpx.Client(timeout=30, limits=limits) as client:
                cpu, wall = time.process_time(), time.perf_counter()
                run = run_import(report, settings, client=client)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            rates[concurrency] = args.rows / wall
            print(
                f"concurrency {concurrency:2d}: {run.counts()} in {wall:.1f} s = "
                f"{rates[concurrency]:,.0f} rows/s; CPU {1000 * cpu / args.rows:.2f} ms/row "
                "(httpx included)"
            )
        mock = httpx.MockTransport(
            lambda request: httpx.Response(200, json={"status": "session_created", "_id": "6" * 24})
        )
        settings = resolve_settings(
            "360learning-v1", flags={"base_url": "http://mock"}, env=info["env"]
        )
        with httpx.Client(transport=mock) as client:
            cpu = time.process_time()
            run = run_import(report, settings, client=client)
            cpu = time.process_time() - cpu
        print(
            f"importer alone (MockTransport): {run.counts()}, "
            f"CPU {1000 * cpu / args.rows:.2f} ms/row"
        )
        print(
            f"speed-up from concurrency: {rates[16] / rates[1]:.1f}x "
            f"({args.latency * 1000:.0f} ms added latency per answer)"
        )
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
