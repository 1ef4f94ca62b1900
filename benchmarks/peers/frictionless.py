"""Peer comparison: ``frictionless validate`` against ``session-importer validate``.

Installs Frictionless (``frictionless``, the Table Schema validator) into its own virtual
environment, ``benchmarks/.peers/frictionless/`` (git-ignored), then runs both tools, each
in a fresh process, on the same generated 360Learning v2 CSV (benchmarks/v2_data.py) and
prints their wall times, peak memory and the ratios.

The Table Schema below gives Frictionless the same columns and what it can express of
our rules: required cells, 24-hex IDs and ID lists, date-time *spellings* (patterns: it
cannot tell that 31/02 does not exist, read a date in a time zone, nor compare end with
start), a whole number of 1 or more, the validation values. It is asked for every error
(``--limit-errors`` as high as the rows), as we report every one. So Frictionless does a
little less than we do; the ratios favour it, if anything.

Usage: python benchmarks/peers/frictionless.py [--quick] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from measure import COMMAND, environment, run_alone  # noqa: E402
from v2_data import make_v2_csv  # noqa: E402

PEERS = HERE.parent / ".peers"
VERSION = "frictionless==5.21.0"  # measured in ../shared/DEPS.md
_HEX24 = "(?:[a-fA-F0-9]{24})"
_WHEN = r"(?:\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?|\d{2}/\d{2}/\d{4} \d{2}:\d{2})"
_VALIDATION = "(?:[Dd]isabled|[Nn]one|[Mm]anagers?|[Aa]dmins and managers|[Ii]nstructors?)"
SCHEMA = {
    "fields": [
        {"name": "Path ID", "type": "string",
         "constraints": {"required": True, "pattern": _HEX24}},
        {"name": "Session name", "type": "string", "constraints": {"required": True}},
        {"name": "Main instructor ID", "type": "string",
         "constraints": {"required": True, "pattern": _HEX24}},
        {"name": "Co-instructor IDs", "type": "string",
         "constraints": {"pattern": f"({_HEX24}([;,\\s]+{_HEX24})*)?"}},
        {"name": "Start date", "type": "string",
         "constraints": {"required": True, "pattern": _WHEN}},
        {"name": "End date", "type": "string", "constraints": {"pattern": _WHEN}},
        {"name": "User limit", "type": "integer", "constraints": {"minimum": 1}},
        {"name": "Registration validation", "type": "string", "constraints": {
            "required": True,
            "pattern": _VALIDATION}},
        {"name": "Additional information", "type": "string"},
    ]
}  # fmt: skip


def frictionless() -> Path:
    """The ``frictionless`` command of the peer's own environment (installed once)."""
    home = PEERS / "frictionless"
    command = home / "bin" / "frictionless"
    if not command.exists():
        print(f"installing {VERSION} into {home} ...", flush=True)
        venv.create(home, with_pip=True)
        subprocess.run(
            [str(home / "bin" / "pip"), "install", "-q", VERSION], check=True, timeout=900
        )
    return command


def main() -> int:
    """Install the peer, run both on the same file, print the figures and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows instead of 1,000,000")
    parser.add_argument("--data", type=Path, help="keep the generated files here")
    args = parser.parse_args()
    rows = 100_000 if args.quick else 1_000_000
    data = args.data or Path(tempfile.mkdtemp(prefix="importer-peer-"))
    data.mkdir(parents=True, exist_ok=True)
    sheet = make_v2_csv(data / f"v2-{rows}.csv", rows)
    schema = data / "v2.schema.json"
    schema.write_text(json.dumps(SCHEMA), encoding="utf-8")
    peer = frictionless()
    env = environment()
    ours = run_alone(
        [*COMMAND, "validate", str(sheet), "--vendor", "360learning-v2", "--json",
         "--result", str(data / "peer.result.csv")], env,
    )  # fmt: skip
    # Frictionless reads only paths under its working folder ("not safe" otherwise).
    theirs = run_alone(
        [str(peer), "validate", "--schema", schema.name, "--limit-errors", str(rows + 1),
         "--json", sheet.name], env, cwd=data,
    )  # fmt: skip
    if (
        ours.returncode not in (0, 1)
        or theirs.returncode not in (0, 1)
        or '"rows"' not in theirs.stdout
    ):
        print(ours.stderr[-2000:], theirs.stderr[-2000:], file=sys.stderr)
        return 2
    found = _errors(theirs.stdout)
    counts = json.loads(ours.stdout.strip().splitlines()[-1])["counts"]
    print(f"{rows:,} rows; ours: {counts}; frictionless: {found} errors", flush=True)
    print(
        f"PEER frictionless_validate | ours {ours.seconds:.2f} s, {ours.peak_mb:,.0f} MB "
        f"| frictionless {theirs.seconds:.2f} s, {theirs.peak_mb:,.0f} MB "
        f"| {theirs.seconds / ours.seconds:.1f}x faster, "
        f"{ours.peak_mb / theirs.peak_mb:.1f}x the memory",
        flush=True,
    )
    return 0


def _errors(stdout: str) -> str:
    """How many errors Frictionless reported (the first figure of its JSON report), or '?'."""
    found = re.search(r'"errors": (\d+)', stdout)
    return found.group(1) if found else "?"


if __name__ == "__main__":
    raise SystemExit(main())
