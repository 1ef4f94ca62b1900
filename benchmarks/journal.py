"""Benchmark: the journal's cost per row (record, mark sending, record the outcome).

Each row costs three committed writes (pending, sending, created), as in a run.
Target: under 2 ms a row on the project machine, so it is never the bottleneck.

Usage: python benchmarks/journal.py [--rows N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from importer.journal import Journal, fingerprint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp(prefix="importer-journal-")) / "job.journal.sqlite"
    journal = Journal(path, "zoho-people")
    values = {
        "name": "Session",
        "date": "04-01-2022",
        "startTime": "10:00 AM",
        "endTime": "11:00 AM",
        "trainerErecno": "478346000008251001",
        "courseId": "478346000019479103",
    }
    started = time.perf_counter()
    for row in range(args.rows):
        payload = {**values, "name": f"Session {row}"}
        print_ = fingerprint(payload)
        key = f"zoho-people:fp:{print_}"
        journal.remember(key, print_, row + 2, payload)
        journal.sending(key, print_, payload)
        journal.outcome(key, "created", str(478346000090000000 + row))
    elapsed = time.perf_counter() - started
    journal.close()
    size = path.stat().st_size / 2**20
    print(
        f"journal: {args.rows} rows in {elapsed:.2f} s = {1000 * elapsed / args.rows:.3f} ms a row "
        f"(3 commits each, WAL, synchronous=NORMAL); file {size:.1f} MB"
    )


if __name__ == "__main__":
    main()
