"""Benchmark: what a real import costs us a row, how soon it starts sending, how close it
comes to the latency limit.

The real ``session-importer run`` (a child process: validation, journal, the account's rate
budget, the result sheet, all included) against ``session-importer sandbox`` in a process of
its own on 127.0.0.1:

1. No added latency, 360Learning v1 (no documented limit) at 1, 4 and 16 requests in
   flight: our CPU a row is the child's CPU (``os.wait4``: user + system, the sandbox's not
   in it) for ``--rows`` rows (the better of two runs: the machine is shared) less that of
   a 100-row run (start-up, imports), over the difference in rows. Targets: at most 0.4 ms
   a row at 16 in flight (issue 27), 1 ms at 1 and 4.
2. The same 16-in-flight run through the shared rate budget (360Learning v2 with
   ``--rate 100000 --beyond-documented-rate``: every call takes its slot in the account's
   schedule file): at most 0.4 ms a row (issue 27).
3. First request after validation, 10,000 rows: the sandbox's arrival time of the first
   request less the end of validation (the run's summary): at most 0.2 s.
4. 20 ms added to every answer, 500 rows at 16 in flight: rows a second from the first
   request's arrival to the last's (plus its 20 ms) over the latency limit, 16 / 0.02 s =
   800 rows a second; at least 0.8 (issue 27; the better of three runs, each right after a
   *floor*: a bare ``http.client`` loop of 16 threads sending the same creates to the same
   sandbox, printed beside it, which says how much of a miss is the machine's); and the
   speed-up from 16 in flight over 1: at least 10x.

Usage: python benchmarks/throughput.py [--quick] [--rows N]
"""

from __future__ import annotations

import http.client
import json
import tempfile
import threading
from pathlib import Path

import httpx
from harness import Sandbox, Targets, parser, run_cli, sandbox, sheet

#: Requests in flight and the latency added to every answer (the sandbox's fault) in part 4.
IN_FLIGHT, LATENCY = 16, 0.02


def cpu_per_row(
    box: Sandbox, vendor: str, folder: Path, rows: int, base: int, *args: str
) -> tuple[float, float, float]:
    """Our CPU ms a row (marginal over a ``base``-row run), wall s, sandbox CPU ms a row."""
    small = run_cli(box, vendor, sheet(folder / f"base-{vendor}.csv", vendor, base, 10**7), *args)
    runs, sandbox_cpu = [], []
    for attempt in range(2):  # the better of two: the machine is shared, noise only adds
        before = box.cpu()
        path = sheet(folder / f"big-{vendor}-{attempt}.csv", vendor, rows, attempt * rows)
        runs.append(run_cli(box, vendor, path, *args, state=folder / f"state-{attempt}"))
        sandbox_cpu.append(box.cpu() - before)
    for run, count in ((small, base), *((run, rows) for run in runs)):
        if run.created != count:
            raise SystemExit(f"{vendor} {args}: {run.summary or run.stderr[-2000:]}")
    big = min(runs, key=lambda run: run.cpu)
    per_row = 1000 * (big.cpu - small.cpu) / (rows - base)
    return per_row, big.wall, 1000 * min(sandbox_cpu) / rows


def floor(box: Sandbox, rows: int) -> float:
    """Rows a second of a bare client: ``IN_FLIGHT`` threads, each its own keep-alive
    ``http.client`` connection, sending ``rows`` v1 creates one after another (what any
    client pays: the sandbox, the wire, this machine's load), nothing else."""
    info = box.info["360learning-v1"]
    base = httpx.URL(info["base_url"])
    headers = {
        "Content-Type": "application/json",
        "X-company-id": info["env"]["IMPORTER_360L_COMPANY"],
        "X-apiKey": info["env"]["IMPORTER_360L_API_KEY"],
    }
    target = base.raw_path.decode() + "/api/v1/paths/6853f6de567dc5f80528f80d/sessions/"
    failed: list[int] = []

    def loop(first: int) -> None:
        connection = http.client.HTTPConnection(base.host, base.port)
        for i in range(first, first + rows // IN_FLIGHT):
            body = {"sessionName": f"F{i}", "startDate": "2025-07-01T10:00:00.000Z",
                    "sessionOwnerGroup": "624c5526204fc7207e603ea6"}  # fmt: skip
            connection.request("POST", target, json.dumps(body), headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status >= 300:
                failed.append(answer.status)
        connection.close()

    box.control("POST", "reset")
    threads = [threading.Thread(target=loop, args=(n * rows,)) for n in range(IN_FLIGHT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise SystemExit(f"the floor's creates failed: {sorted(set(failed))}")
    return _rate(box, rows // IN_FLIGHT * IN_FLIGHT)


def _rate(box: Sandbox, rows: int) -> float:
    """Rows a second as the sandbox saw them: first to last arrival, plus one answer."""
    seen = [r["at"] for r in box.control("GET", "requests", params={"vendor": "360learning-v1"})]
    return rows / (max(seen) - min(seen) + LATENCY)


def latency(folder: Path, targets: Targets, single_rows: int) -> None:
    """Part 4: 20 ms answers, 500 rows at 16 in flight against the latency limit (the
    better of three, each after a floor), and 1 in flight for the speed-up."""
    rows, limit = 500, IN_FLIGHT / LATENCY
    with sandbox("--faults", f"360learning-v1:latency={LATENCY}") as box:
        rates, floors = [], []
        for attempt in range(3):
            floors.append(floor(box, rows))
            box.control("POST", "reset")
            path = sheet(folder / f"latency16-{attempt}" / "v1.csv", "360learning-v1", rows)
            run = run_cli(box, "360learning-v1", path, "--concurrency", str(IN_FLIGHT))
            if run.created != rows:
                raise SystemExit(f"latency run: {run.summary or run.stderr[-2000:]}")
            rates.append(_rate(box, rows))
            print(
                f"20 ms answers, {IN_FLIGHT} in flight, {rows} rows: {rates[-1]:.0f} rows/s "
                f"({rates[-1] / limit:.2f} of the {limit:.0f}/s limit); a bare client just "
                f"before: {floors[-1]:.0f} rows/s ({floors[-1] / limit:.2f}); "
                f"{run.wall:.2f} s start to finish",
                flush=True,
            )
        box.control("POST", "reset")
        path = sheet(folder / "latency1" / "v1.csv", "360learning-v1", single_rows)
        run_cli(box, "360learning-v1", path, "--concurrency", "1")
        single = _rate(box, single_rows)
        print(f"20 ms answers, 1 in flight: {single:.0f} rows/s")
    best = max(rates)
    share = best / limit
    floor_share = floors[rates.index(best)] / limit
    targets.check(
        f"sending at {IN_FLIGHT} in flight, 20 ms answers: share of the latency limit",
        f"{share:.2f} ({best:.0f} of {limit:.0f} rows/s; bare client {floor_share:.2f})",
        "≥ 0.8",
        share >= 0.8,
    )
    speedup = best / single
    targets.check("speed-up from 16 in flight (20 ms answers)", f"{speedup:.1f}x", "≥ 10x",
                  speedup >= 10)  # fmt: skip


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--rows", type=int, default=None, help="rows of the CPU runs")
    args = options.parse_args()
    rows = args.rows or (3000 if args.quick else 10_000)
    base = 100
    folder = Path(tempfile.mkdtemp(prefix="importer-throughput-"))
    targets = Targets()
    with sandbox() as box:
        for inflight in (1, 4, 16):
            folder_n = folder / f"c{inflight}"
            ms, wall, server = cpu_per_row(
                box, "360learning-v1", folder_n, rows, base, "--concurrency", str(inflight)
            )
            print(
                f"360learning-v1, {inflight} in flight, no latency: {rows} rows in {wall:.2f} s "
                f"({rows / wall:,.0f} rows/s); our CPU {ms:.3f} ms a row; the sandbox's "
                f"{server:.3f} ms a row (not counted)"
            )
            limit = 0.4 if inflight == 16 else 1.0
            targets.check(
                f"send CPU a row, {inflight} in flight (journal included)",
                f"{ms:.2f} ms",
                f"≤ {limit} ms",
                ms <= limit,
            )
        # The sandbox keeps 360Learning's 10 writes/s unless told: lifted, so that the budget's
        # bookkeeping is what is measured, not the pace.
        box.control("PUT", "options", json={"v2_writes_per_second": 1_000_000})
        ms, wall, server = cpu_per_row(
            box, "360learning-v2", folder / "v2", rows, base,
            "--concurrency", "16", "--rate", "100000", "--beyond-documented-rate",
        )  # fmt: skip
        print(
            f"360learning-v2 through the shared rate budget, 16 in flight: {rows} rows in "
            f"{wall:.2f} s; our CPU {ms:.3f} ms a row (sandbox {server:.3f})"
        )
        targets.check(
            "send CPU a row, 16 in flight, shared budget", f"{ms:.2f} ms", "≤ 0.4 ms", ms <= 0.4
        )
        box.control("POST", "reset")
        path = sheet(folder / "first" / "v1.csv", "360learning-v1", 10_000)
        run = run_cli(box, "360learning-v1", path, "--concurrency", "16")
        arrivals = [
            r["at"] for r in box.control("GET", "requests", params={"vendor": "360learning-v1"})
        ]
        first = min(arrivals) - float(run.summary["validated_at"])
        print(f"10,000 rows: first request {first:.3f} s after the end of validation")
        targets.check(
            "first request after validation, 10k rows", f"{first:.2f} s", "≤ 0.2 s", first <= 0.2
        )
    latency(folder, targets, 200 if args.quick else 500)
    targets.finish()


if __name__ == "__main__":
    main()
