"""Benchmark: the store's cost of claiming a row (issue 25), SQLite against PostgreSQL, with 1, 2
and 4 runs at once on one account's journal.

Each run is a process of its own that holds its rows (``Journal.hold``), then for each of its
rows makes the claim a send makes before its request leaves (``claim``: check and take, the
send mark with it, one transaction) and records the answer (``answered``: with the next
claim's transaction on SQLite, a statement of its own on PostgreSQL). Printed per run:

* ``claim``: milliseconds in ``claim`` per row, as the run sees it;
* ``row``: milliseconds per row, claim and answer (the journal's whole cost of a sent row);
* in all: claims committed per second, every run together.

Two cases: each run its own rows (a backfill and a coordinator's sheet), and every run the
same rows (overlapping sheets: one run takes each row, the others are refused, naming it).
The runs are processes on this machine working at once on the same files, or the same
PostgreSQL database over 127.0.0.1 (several hosts would add the network's round trips).

Usage: python benchmarks/claims.py [--rows N] [--pg URL] [--quick]
(URL default: $IMPORTER_TEST_PG_URL, else postgresql://postgres@127.0.0.1:5432/test; a fresh
schema is created and dropped.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote

from run_all import machine

ROOT = Path(__file__).resolve().parent.parent

_WORKER = """
import json, sys, time
from importer.store import open_store
url, rows, run, shared = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "shared"
store = open_store(url)
name = url[len("sqlite:"):] + "/bench.journal.sqlite" if url.startswith("sqlite:") else "bench"
journal = store.journal(name, "360learning-v2")
journal.lock_job(shared=True)
journal.hold(f"run {run}")
payload = {"name": "Session", "pathId": "6853f6de567dc5f80528f80d", "start": "2025-07-01"}
prefix = "shared" if shared else run
keys = [f"{prefix}:{i}" for i in range(rows)]
journal.remember_many([(key, "fp", i, payload) for i, key in enumerate(keys)])
print("ready", flush=True)
sys.stdin.readline()
claiming = taken = 0.0
started = time.perf_counter()
for key in keys:
    before = time.perf_counter()
    claim = journal.claim(key, "pending", "sending", "fp", payload)
    claiming += time.perf_counter() - before
    if claim.held:
        taken += 1
        journal.answered(key, "created", "ID")
journal.flush()
elapsed = time.perf_counter() - started
journal.close()
store.close()
print(json.dumps({"claim_ms": 1000 * claiming / rows, "row_ms": 1000 * elapsed / rows,
                  "taken": taken, "seconds": elapsed}), flush=True)
"""


def measure(url: str, runs: int, rows: int, shared: bool) -> list[dict[str, float]]:
    """Start ``runs`` worker processes on ``url``, release them together, collect figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    workers = []
    for n in range(runs):  # one after the other: each opens its journal before the next starts
        worker = subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, str(rows), f"r{n}", "shared" if shared else ""],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        workers.append(worker)
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    figures = []
    for worker in workers:
        out, _ = worker.communicate(timeout=600)
        figures.append(json.loads(out.strip().splitlines()[-1]))
    if shared:  # every row taken once, by one run or another
        assert sum(f["taken"] for f in figures) == rows, figures
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows per run (default 2000)")
    parser.add_argument("--quick", action="store_true", help="500 rows per run")
    parser.add_argument(
        "--pg",
        default=os.environ.get("IMPORTER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    rows = args.rows or (500 if args.quick else 2000)
    import psycopg

    print(f"Machine: {machine()}; load {os.getloadavg()[0]:.1f}; {rows} rows a run.")
    schema = f"importer_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    pg = f"{args.pg}{'&' if '?' in args.pg else '?'}options={quote(f'-csearch_path={schema}')}"
    try:
        for label, url_of in (
            ("SQLite", lambda: f"sqlite:{tempfile.mkdtemp(prefix='importer-claims-')}"),
            ("PostgreSQL", lambda: pg),
        ):
            for shared in (False, True):
                for runs in (1, 2, 4):
                    if shared and runs == 1:
                        continue
                    url = url_of()
                    figures = measure(url, runs, rows, shared)
                    if label == "PostgreSQL":  # the next case starts from an empty journal
                        with psycopg.connect(pg, autocommit=True) as conn:
                            conn.execute("TRUNCATE importer_rows")
                    claim = [f["claim_ms"] for f in figures]
                    row = [f["row_ms"] for f in figures]
                    taken = sum(f["taken"] for f in figures)
                    rate = taken / max(f["seconds"] for f in figures)
                    which = "the same rows" if shared else "own rows"
                    print(
                        f"{label:10} {runs} run{'s' if runs > 1 else ' '}, {which:13}: claim "
                        f"{min(claim):.2f}-{max(claim):.2f} ms/row, claim + answer "
                        f"{min(row):.2f}-{max(row):.2f} ms/row per run; "
                        f"{rate:.0f} rows claimed/s in all"
                    )
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
