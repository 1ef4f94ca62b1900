"""Benchmark: is the sandbox ever the bottleneck of a benchmark? Driven by our own client.

The sandbox runs in its own process (``session-importer sandbox --port 0 --json``); the
load is what users send: the real ``session-importer run`` with 16 creates in flight
(360Learning v1, no added latency, journal and result sheet included), through our
sender and its keep-alive pool, not a client written to flatter the server.

Figures: the creates a second the sandbox received (first to last arrival, from its own
log), and the sandbox's CPU a request (its process's user + system time, from /proc, over
the run). Target: at most 0.66 ms of the sandbox's CPU a request, i.e. room for at least
1,500 requests a second on one core, so that the sandbox never limits what is measured.

Usage: python benchmarks/sandbox.py [--quick] [--rows N]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness import Targets, parser, run_cli, sandbox, sheet

VENDOR = "360learning-v1"


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--rows", type=int, default=None)
    args = options.parse_args()
    rows = args.rows or (3000 if args.quick else 10_000)
    folder = Path(tempfile.mkdtemp(prefix="importer-sandbox-bench-"))
    with sandbox() as box:
        warm = run_cli(box, VENDOR, sheet(folder / "warm.csv", VENDOR, 50, 10**7))
        if warm.created != 50:
            raise SystemExit(warm.summary or warm.stderr[-2000:])
        box.control("POST", "reset")
        before = box.cpu()
        run = run_cli(box, VENDOR, sheet(folder / "v1.csv", VENDOR, rows), "--concurrency", "16")
        cpu = box.cpu() - before
        arrivals = sorted(
            r["at"]
            for r in box.control("GET", "requests", params={"vendor": VENDOR})
            if r["method"] == "POST"
        )
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else float("nan")
    per_request = 1000 * cpu / max(len(arrivals), 1)
    print(
        f"sandbox, driven by session-importer run at 16 in flight: {run.created} of {rows} "
        f"creates, {len(arrivals) / span:,.0f} a second first to last; the sandbox's CPU "
        f"{per_request:.3f} ms a request (room for {1000 / per_request:,.0f}/s on one core)"
    )
    targets = Targets()
    targets.check(
        "sandbox CPU a request (our client, 16 in flight)",
        f"{per_request:.2f} ms",
        "≤ 0.66 ms",
        per_request <= 0.66 and run.created == rows,
    )
    targets.finish()


if __name__ == "__main__":
    main()
