"""Benchmark: the store's costs, SQLite against PostgreSQL, one host and three hosts.

* journal cost per row: ``remember`` + ``sending`` + ``outcome`` (the three commits a sent
  row costs), in milliseconds per row as one host sees it;
* rate-slot claims per second: ``take`` + ``ended`` on one account's schedule, with no
  interval (the most the schedule itself allows, far above any vendor's limit).

"Three hosts" are three processes on this machine working at once on the same store (the
same SQLite files, or the same PostgreSQL database over 127.0.0.1), so they contend as hosts
would, without the network a real second machine adds.

Usage: python benchmarks/store.py [--rows N] [--seconds S] [--pg URL]
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

ROOT = Path(__file__).resolve().parent.parent

_WORKER = """
import json, sys, time
from importer.core.clock import SystemClock
from importer.store import open_store
what, url, host = sys.argv[1], sys.argv[2], sys.argv[5]
rows, seconds = int(sys.argv[3]), float(sys.argv[4])
store = open_store(url)
if what == "journal":
    name = url[len("sqlite:"):] + "/bench.journal.sqlite" if url.startswith("sqlite:") else "bench"
    journal = store.journal(name, "360learning-v2")
else:
    slots = store.slots("bench-account", SystemClock())
print("ready", flush=True)
sys.stdin.readline()
if what == "journal":
    payload = {"name": "Session", "pathId": "6853f6de567dc5f80528f80d", "start": "2025-07-01"}
    started = time.perf_counter()
    for i in range(rows):
        key = f"{host}:{i}"
        journal.remember(key, "fp", i, payload)
        journal.sending(key, "fp", payload)
        journal.outcome(key, "created", f"ID{i}")
    elapsed = time.perf_counter() - started
    journal.close()
    print(json.dumps({"ms_per_row": 1000 * elapsed / rows}), flush=True)
else:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        call, _ = slots.take(0.0, None)
        if call is not None:
            slots.ended(call)
            count += 1
    print(json.dumps({"claims_per_s": count / (time.perf_counter() - started)}), flush=True)
store.close()
"""


def measure(what: str, url: str, hosts: int, rows: int, seconds: float) -> list[float]:
    """Start ``hosts`` worker processes on ``url``, release them together, collect figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    workers = []
    for n in range(hosts):  # one after the other: each opens its journal before the next starts
        worker = subprocess.Popen(
            [sys.executable, "-c", _WORKER, what, url, str(rows), str(seconds), f"h{n}"],
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
        figures.append(float(next(iter(json.loads(out.strip().splitlines()[-1]).values()))))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000, help="journal rows per host")
    parser.add_argument("--seconds", type=float, default=5.0, help="slot-claiming time per run")
    parser.add_argument(
        "--pg",
        default=os.environ.get("IMPORTER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    import psycopg

    schema = f"importer_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    pg = f"{args.pg}{'&' if '?' in args.pg else '?'}options={quote(f'-csearch_path={schema}')}"
    try:
        for label, url_of in (
            ("SQLite", lambda: f"sqlite:{tempfile.mkdtemp(prefix='importer-bench-')}"),
            ("PostgreSQL", lambda: pg),
        ):
            for hosts in (1, 3):
                url = url_of()
                per_row = measure("journal", url, hosts, args.rows, args.seconds)
                claims = measure("slots", url, hosts, args.rows, args.seconds)
                if label == "PostgreSQL":  # the next run starts from an empty journal
                    with psycopg.connect(pg, autocommit=True) as conn:
                        conn.execute("TRUNCATE importer_rows, importer_calls")
                print(
                    f"{label:10} {hosts} host{'s' if hosts > 1 else ' '}: journal "
                    f"{sum(per_row) / hosts:.2f} ms/row per host ({args.rows} rows each), "
                    f"{hosts * args.rows / (max(per_row) * args.rows / 1000):.0f} rows/s in all; "
                    f"slot claims {sum(claims):.0f}/s in all"
                )
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
