"""Benchmark: a small sheet started during a backfill on the same account, against alone.

Two real ``session-importer run`` processes (each its own journal, one state folder: one
account's shared rate schedule) against ``session-importer sandbox`` in a process of its
own, on 127.0.0.1, on the real clock:

1. 360Learning v2 (its sandbox keeps the documented 10 writes a second; every run at
   ``--rate 10``): a backfill alone, its pace as a share of the 10 writes/s (issue 27 wants
   0.97); then a 10-row sheet alone, then 10-row sheets one after the other once a backfill
   ten times longer is sending. The figure is the ratio of the small sheet's time during
   the backfill to its time alone ("time": from the end of its validation to its last row's
   arrival at the sandbox, whatever the process does after; the median of 3, 5 without
   ``--quick``: who takes a free slot first is a race when runs do not take turns, and one
   sheet may be lucky).
2. Zoho People (30 calls a minute: our pace is 27 per 60.5 s, 2.24 s a call): the same with
   a 3-row sheet during a backfill long enough to outlast them (stopped once they are done).

Targets: the small sheet finishes within its time alone plus two turns of the vendor's
pace (the slot in progress when it starts, and one for rounding); 0 answers 429 and 0 Zoho
locks; the backfill alone keeps at least 0.9 of 10 writes/s as the sandbox sees them (our
pace, 10 per 1.01 s, is 0.99 at most, 0.98 measured by benchmarks/pacing.py, which holds the
0.97 target; 10 per 1.05 s less 2 % of headroom, 0.933 at most, before issue 27; 0.91-0.92
measured before turns existed).

Usage: python benchmarks/fairshare.py [--quick]
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import Sandbox, Targets, clean_env, parser, sandbox, sheet
from run_all import machine

_PYTHON = sys.executable
#: A session's name in a request the sandbox logged (``S<i>``).
_NAME = re.compile(r"\bS(\d+)\b")

#: The vendors' pace a call, as the importer keeps it (see their RatePolicy).
_TURN = {"360learning-v2": 1.01 / 10, "zoho-people": 60.5 / 27}


def start(box: Sandbox, vendor: str, path: Path, state: Path, *args: str, small: int = 0) -> Any:
    """``session-importer run PATH --json`` against ``box`` with its own journal, its rate
    schedule in ``state`` (shared by every run given the same folder); a sheet of at most
    ``small`` rows is interactive, a larger one a backfill (``$IMPORTER_INTERACTIVE_ROWS``:
    an earlier version, to compare with, ignores it)."""
    info = box.info[vendor]
    env = {**clean_env(), **info["env"], "IMPORTER_STATE_DIR": str(state)}
    env["IMPORTER_TIMEZONE"] = "UTC"  # the sheets' times carry no zone
    env["IMPORTER_INTERACTIVE_ROWS"] = str(small)
    command = [_PYTHON, "-m", "importer", "run", str(path), "--vendor", vendor, "--json",
               "--base-url", info["base_url"], "--result", str(path.with_suffix(".result.csv")),
               "--journal", str(path.with_suffix(".journal.sqlite"))]  # fmt: skip
    if info.get("auth_url"):
        command += ["--auth-url", info["auth_url"]]
    return subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )


def finish(process: Any) -> tuple[dict[str, Any], float]:
    """The run's JSON summary and when its validation ended (its own clock: this machine's)."""
    out, err = process.communicate(timeout=1800)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"run failed: {err[-2000:]}")
    summary = json.loads(lines[-1])
    return summary, float(summary["validated_at"])


def done_at(box: Sandbox, vendor: str, first: int, rows: int) -> float:
    """When the sandbox received the last of the rows ``first`` to ``first + rows - 1`` (their
    sessions are named ``S<i>``): when that sheet was done at the vendor."""
    wanted = {str(i) for i in range(first, first + rows)}
    seen = [r["at"] for r in writes(box, vendor) if wanted & set(_NAME.findall(json.dumps(r)))]
    if len(seen) < rows:
        raise SystemExit(f"{vendor}: {len(seen)} of the sheet's {rows} rows reached the sandbox")
    return float(max(seen))


def writes(box: Sandbox, vendor: str) -> list[dict[str, Any]]:
    """The creating calls the sandbox saw for ``vendor``."""
    seen = box.control("GET", "requests", params={"vendor": vendor})
    return [r for r in seen if r["method"] == "POST" and "token" not in r["path"]]


def measure(
    box: Sandbox,
    vendor: str,
    folder: Path,
    backfill: int,
    during: int,
    small: int,
    times: int,
    *args: str,
) -> dict[str, float]:
    """A ``backfill`` alone (its pace: writes a second as the sandbox saw them; 0: not
    measured), the small sheet alone ``times`` times, then ``times`` times one after the
    other during a backfill of ``during`` rows; the medians (who gets a free slot first is a
    race when runs do not take turns: one small sheet may be lucky)."""
    figures: dict[str, float] = {}
    box.control("POST", "reset")
    state = folder / "state-alone"
    if backfill:
        path = sheet(folder / "alone.csv", vendor, backfill)
        finish(start(box, vendor, path, state, *args, small=small))
        seen = sorted(r["at"] for r in writes(box, vendor))
        figures["backfill_rate"] = (len(seen) - 1) / (seen[-1] - seen[0])
    alone = []
    for n in range(times):
        path = sheet(folder / f"small-alone-{n}.csv", vendor, small, 10**6 + 100 * n)
        _, validated = finish(start(box, vendor, path, state, *args, small=small))
        alone.append(done_at(box, vendor, 10**6 + 100 * n, small) - validated)
    box.control("POST", "reset")
    state = folder / "state-shared"
    path = sheet(folder / "backfill.csv", vendor, during, 10**5)
    running = start(box, vendor, path, state, *args, small=small)
    deadline = time.monotonic() + 120
    while len(writes(box, vendor)) < 3:  # the backfill is sending: now the small sheets start
        if time.monotonic() > deadline or running.poll() is not None:
            raise SystemExit(f"{vendor}: the backfill never started sending")
        time.sleep(0.05)
    shared, created, overlapped = [], 0, True
    for n in range(times):
        path = sheet(folder / f"small-{n}.csv", vendor, small, 2 * 10**6 + 100 * n)
        summary, validated = finish(start(box, vendor, path, state, *args, small=small))
        shared.append(done_at(box, vendor, 2 * 10**6 + 100 * n, small) - validated)
        created += summary["counts"].get("created", 0)
        overlapped = overlapped and running.poll() is None
    running.kill()  # what it sent is what was measured against
    running.communicate()
    figures["alone"], figures["during"] = statistics.median(alone), statistics.median(shared)
    figures["spread"] = max(shared) - min(shared)
    figures["small_created"] = created / times
    figures["backfill_left"] = float(overlapped)
    figures["refused"] = sum(1 for r in box.control("GET", "requests") if r["status"] == 429)
    figures["locks"] = box.control("GET", "status").get("zoho_locks", 0)
    return figures


def report(targets: Targets, vendor: str, small: int, figures: dict[str, float]) -> None:
    """Print one vendor's figures and check its targets."""
    turn = _TURN[vendor]
    ratio = figures["during"] / figures["alone"]
    print(
        f"{vendor}: {small}-row sheet alone {figures['alone']:.2f} s, during a backfill "
        f"{figures['during']:.2f} s (medians; during: {figures['spread']:.2f} s from the "
        f"fastest to the slowest); ratio {ratio:.2f}; a turn is {turn:.2f} s; created "
        f"{figures['small_created']:.0f}/{small} a sheet, backfill still running after the "
        f"last: {'yes' if figures['backfill_left'] else 'NO'}; answers 429: "
        f"{figures['refused']:.0f}, Zoho locks: {figures['locks']:.0f}",
        flush=True,
    )
    bound = figures["alone"] + 2 * turn
    targets.check(
        f"{vendor}: {small}-row sheet during a backfill / alone",
        f"{ratio:.2f} ({figures['during']:.2f} s / {figures['alone']:.2f} s)",
        f"≤ {bound / figures['alone']:.2f} (alone + 2 turns)",
        figures["during"] <= bound and figures["small_created"] == small,
    )
    targets.check(
        f"{vendor}: 429s and locks while sharing",
        f"{figures['refused'] + figures['locks']:.0f}",
        "0",
        figures["refused"] + figures["locks"] == 0,
    )


def main() -> None:
    options = parser(__doc__)
    args = options.parse_args()
    print(f"machine: {machine()}", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="importer-fairshare-"))
    targets = Targets()
    os.environ.pop("IMPORTER_STORE", None)
    times = 3 if args.quick else 5
    with sandbox() as box:
        v2 = measure(box, "360learning-v2", folder / "v2", 120 if args.quick else 300, 300,
                     10, times, "--rate", "10")  # fmt: skip
        pace = v2["backfill_rate"] / 10
        print(f"360learning-v2: backfill alone {v2['backfill_rate']:.2f} writes/s as the "
              f"sandbox saw them ({pace:.3f} of 10 writes/s)", flush=True)  # fmt: skip
        # Our own pace, 10 per 1.01 s, is 0.99 of the limit at most (issue 27's 0.97 is
        # benchmarks/pacing.py's target, on longer runs); turns must not lower it much.
        targets.check("360Learning v2 backfill alone, share of 10 writes/s", f"{pace:.3f}",
                      "≥ 0.9", pace >= 0.9)  # fmt: skip
        report(targets, "360learning-v2", 10, v2)
        zoho = measure(box, "zoho-people", folder / "zoho", 0, 12 * times, 3, times)
        report(targets, "zoho-people", 3, zoho)
    targets.finish()


if __name__ == "__main__":
    main()
