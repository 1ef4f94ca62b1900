"""Benchmark: what the journal costs a real run, a row.

The same import twice in one process, with the same calls a run makes (validation done
beforehand, the pipeline, 16 send threads, the retry policy), once without a journal and once
with a fresh journal file: the difference in our CPU (``time.process_time``: every thread),
over the rows, is what the journal costs a row: keys and fingerprints, recording rows in bulk,
the ``sending`` mark committed before each request (a group commit for the marks of rows
leaving together) and the answers written with the next marks. The vendor answers through
httpx's MockTransport (in-process, instantly), so that nothing but our own work is timed.

Also, the crash guarantee's price: commits a row (fewer than 2: each mark is durable before
its request leaves; answers ride along with later marks).

Targets: at most 0.15 ms of CPU a row (a real run paid 0.29 ms before issue 15); fewer than
1.5 commits a row at 16 in flight.

Usage: python benchmarks/journal.py [--quick] [--rows N]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from harness import Targets, parser, sheet

from importer.api import resolve_settings, run_import, validate
from importer.jobs.journaling import JournalOptions
from importer.store.journal import Journal

VENDOR = "360learning-v1"


class CountingJournal(Journal):
    """A journal that counts its transactions (each is one commit)."""

    commits = 0

    def _write(self) -> None:
        if self._marks or self._answers or self._claims:
            CountingJournal.commits += 1
        super()._write()

    def remember_many(self, rows: Any) -> Any:
        CountingJournal.commits += 1
        return super().remember_many(rows)


def timed(path: Path, journal: Journal | None) -> float:
    """Our CPU seconds for one import of ``path`` (validation excluded)."""
    mock = httpx.MockTransport(
        lambda request: httpx.Response(200, json={"status": "session_created", "_id": "6" * 24})
    )
    env = {"IMPORTER_360L_COMPANY": "c", "IMPORTER_360L_API_KEY": "k"}
    settings = resolve_settings(
        VENDOR, flags={"base_url": "https://mock.invalid", "concurrency": 16}, env=env
    )
    report = validate(path, VENDOR)
    options = JournalOptions(journal) if journal is not None else None
    with httpx.Client(transport=mock) as client:
        cpu = time.process_time()
        run = run_import(report, settings, client=client, journal=options, notify=print)
        cpu = time.process_time() - cpu
    if journal is not None:
        journal.close()
    if run.counts() != {"created": report.row_count}:
        raise SystemExit(f"unexpected outcome: {run.counts()}")
    return cpu


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--rows", type=int, default=None)
    args = options.parse_args()
    rows = args.rows or (10_000 if args.quick else 20_000)
    folder = Path(tempfile.mkdtemp(prefix="importer-journal-"))
    path = sheet(folder / "v1.csv", VENDOR, rows)
    timed(path, None)  # warm-up: imports, first connections
    # The best of three each way: the machine is shared, and noise only ever adds.
    best_without = min(timed(path, None) for _ in range(3))
    costs = []
    for attempt in range(3):
        CountingJournal.commits = 0
        journal = CountingJournal(folder / f"job{attempt}.journal.sqlite", VENDOR)
        costs.append(timed(path, journal))
    per_row = 1000 * (min(costs) - best_without) / rows
    commits = CountingJournal.commits / rows
    size = (folder / "job0.journal.sqlite").stat().st_size / 2**20
    print(
        f"journal: {rows} rows at 16 in flight, our CPU {1000 * best_without / rows:.3f} ms a "
        f"row without it, {1000 * min(costs) / rows:.3f} ms with it: {per_row:.3f} ms a row; "
        f"{commits:.2f} commits a row (WAL, synchronous=NORMAL); file {size:.1f} MB"
    )
    targets = Targets()
    targets.check("journal CPU a row in a run", f"{per_row:.3f} ms", "≤ 0.15 ms", per_row <= 0.15)
    targets.check("journal commits a row, 16 in flight", f"{commits:.2f}", "< 1.5", commits < 1.5)
    targets.finish()


if __name__ == "__main__":
    main()
