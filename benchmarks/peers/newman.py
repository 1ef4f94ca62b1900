"""Peer comparison: Newman (Postman's command-line runner) against session-importer, sending.

Newman is installed by this script with npm into ``benchmarks/.peers/newman`` (git-ignored;
the npm registry must be reachable, nothing else is fetched). It is given a Postman
collection of one request (360Learning v1's create, exactly as we send it) and a data file
of the same rows we import, and both tools send to the same sandbox process on 127.0.0.1:

1. 20 ms added to every answer (``--faults 360learning-v1:latency=0.02``), ``--rows`` rows
   (500): one at a time, 4 and 16 in flight. Newman sends one request
   at a time, so "4 in flight" is 4 Newman processes on 4 slices of the data file, as one
   parallelises it by hand. Times are start to finish (each tool's start-up included).
2. A real 10 writes/s limit (360Learning v2's, as the sandbox keeps it), the same rows, one
   Newman at a time (it has no notion of a limit) against ``session-importer run``: rows
   created and writes answered 429, counted from the sandbox's own log.

Targets: never slower than Newman, at 1, 4 or 16 in flight (the ratios are printed: they are
figures to re-measure, not promises), and at 10 writes/s we create every row. ``--quick``
changes nothing here (500 rows take about two minutes; fewer would compare start-ups).

Usage: python benchmarks/peers/newman.py [--quick] [--rows N]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from harness import Sandbox, Targets, parser, run_cli, sandbox, sheet

from importer.api import resolve_settings
from importer.core.clock import SystemClock
from importer.vendors import plugin

FOLDER = Path(__file__).resolve().parent.parent / ".peers" / "newman"
PATH_ID, GROUP, JANE = (
    "6853f6de567dc5f80528f80d",
    "624c5526204fc7207e603ea6",
    "647098a731a809ed36889ed1",
)
SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"  # a name only


def install() -> Path:
    """Newman 6, installed once into its own folder; the path of its command."""
    command = FOLDER / "node_modules" / ".bin" / "newman"
    if not command.exists():
        if shutil.which("npm") is None:
            raise SystemExit("npm is needed to install Newman (apt-get install npm)")
        FOLDER.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(FOLDER), "--no-audit", "--no-fund", "newman@6"],
            check=True,
            capture_output=True,
        )
    return command


def collection(folder: Path, name: str, url: str, headers: dict[str, str], body: str) -> Path:
    """A Postman collection of one POST whose body takes the data file's fields."""
    item = {
        "name": "create the session",
        "request": {
            "method": "POST",
            "header": [
                {"key": "Content-Type", "value": "application/json"},
                *({"key": k, "value": v} for k, v in headers.items()),
            ],
            "body": {"mode": "raw", "raw": body},
            "url": url,
        },
    }
    path = folder / f"{name}.postman_collection.json"
    path.write_text(json.dumps({"info": {"name": name, "schema": SCHEMA}, "item": [item]}))
    return path


def newman(
    command: Path, folder: Path, collection: Path, rows: list[dict[str, Any]], n: int
) -> float:
    """``n`` Newman processes at once, each on its slice of ``rows``; wall seconds."""
    slices = [rows[i::n] for i in range(n)]
    started = time.perf_counter()
    running = []
    for i, part in enumerate(slices):
        data = folder / f"data-{collection.stem}-{n}-{i}.json"
        data.write_text(json.dumps(part))
        running.append(
            subprocess.Popen(
                [str(command), "run", str(collection), "-d", str(data), "--silent"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    for process in running:
        process.wait()
    return time.perf_counter() - started


def writes(box: Sandbox, vendor: str) -> tuple[int, int]:
    """Creates the sandbox answered 2xx and 429."""
    seen = [
        r["status"]
        for r in box.control("GET", "requests", params={"vendor": vendor})
        if r["method"] == "POST" and "/sessions" in r["path"]
    ]
    return sum(1 for s in seen if s and 200 <= s < 300), seen.count(429)


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--rows", type=int, default=None)
    args = options.parse_args()
    count = args.rows or 500  # fewer, and start-up is all that is compared
    command = install()
    folder = Path(tempfile.mkdtemp(prefix="importer-newman-"))
    targets = Targets()
    ratios: dict[int, float] = {}
    single = 0.0  # one Newman process, one request at a time: how Newman is usually run

    with sandbox("--faults", "360learning-v1:latency=0.02") as box:
        v1 = box.info["360learning-v1"]
        body = json.dumps(
            {"sessionName": "{{sessionName}}", "startDate": "{{startDate}}",
             "sessionOwnerGroup": "{{sessionOwnerGroup}}", "instructorsMails": ["{{mail}}"]}
        )  # fmt: skip
        headers = {
            "X-company-id": v1["env"]["IMPORTER_360L_COMPANY"],
            "X-apiKey": v1["env"]["IMPORTER_360L_API_KEY"],
        }
        peer = collection(folder, "v1", f"{v1['base_url']}/api/v1/paths/{PATH_ID}/sessions/",
                          headers, body)  # fmt: skip
        for inflight in (1, 4, 16):
            names = [f"n{inflight}-{i}" for i in range(count)]
            start = "2025-07-01T10:00:00.000Z"
            rows = [{"sessionName": name, "startDate": start, "sessionOwnerGroup": GROUP,
                     "mail": "jane.doe@example.com"} for name in names]  # fmt: skip
            box.control("POST", "reset")
            theirs = newman(command, folder, peer, rows, inflight)
            their_created, _ = writes(box, "360learning-v1")
            box.control("POST", "reset")
            path = sheet(folder / f"ours-{inflight}" / "v1.csv", "360learning-v1", count)
            ours = run_cli(box, "360learning-v1", path, "--concurrency", str(inflight))
            ratios[inflight] = theirs / ours.wall
            single = single or theirs
            print(
                f"20 ms answers, {inflight:2d} in flight: Newman ({inflight} process(es)) "
                f"{their_created}/{count} created in {theirs:.1f} s; session-importer "
                f"{ours.created}/{count} in {ours.wall:.1f} s (journal and result sheet "
                f"included): {ratios[inflight]:.1f}x; {single / ours.wall:.1f}x one Newman's time"
            )
            if their_created != count or ours.created != count:
                raise SystemExit("a tool did not create every row: the times mean nothing")

    with sandbox("--faults", "360learning-v2:latency=0.02") as box:
        v2 = box.info["360learning-v2"]
        box.control("POST", "reset")  # before the token: a reset forgets tokens
        settings = resolve_settings("360learning-v2", flags={"base_url": v2["base_url"]},
                                    env=v2["env"])  # fmt: skip
        with httpx.Client(timeout=30) as client:
            auth = plugin("360learning-v2").auth(
                settings.credentials, settings.auth_url, client, SystemClock(), None
            )
            headers = auth.headers()  # a token fetched once, as a Postman user would
        body = json.dumps(
            {"name": "{{name}}", "mainInstructorId": JANE, "startDate": "2025-07-01T10:00:00.000Z",
             "registrationRequestValidation": "disabled"}
        )  # fmt: skip
        peer = collection(folder, "v2", f"{v2['base_url']}/api/v2/paths/{PATH_ID}/sessions",
                          headers, body)  # fmt: skip
        theirs = newman(command, folder, peer, [{"name": f"n{i}"} for i in range(count)], 1)
        their_created, their_429 = writes(box, "360learning-v2")
        box.control("POST", "reset")
        ours = run_cli(box, "360learning-v2", sheet(folder / "ours-v2" / "v2.csv",
                                                    "360learning-v2", count))  # fmt: skip
        our_created, our_429 = writes(box, "360learning-v2")
        print(
            f"10 writes/s limit: Newman created {their_created} of {count} in {theirs:.1f} s "
            f"({their_429} answered 429); session-importer created {our_created} of {count} "
            f"in {ours.wall:.1f} s ({our_429} answered 429, retried)"
        )
    for inflight in (1, 4, 16):
        targets.check(
            f"Newman's time over ours, {inflight} in flight (20 ms answers)",
            f"{ratios[inflight]:.1f}x",
            "≥ 1x (never slower)",
            ratios[inflight] >= 1,
        )
    targets.check(
        f"rows created under 10 writes/s (Newman: {their_created}/{count})",
        f"{our_created}/{count}",
        f"{count}/{count}",
        our_created == count,
    )
    targets.finish()


if __name__ == "__main__":
    main()
