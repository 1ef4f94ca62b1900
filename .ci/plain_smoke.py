"""Every command's main path, once, on a plain install (no dev extras).

Run by ``.ci/run`` with the python of a virtualenv made by ``pip install -e .`` alone, so a
runtime import of a test-only package (openpyxl, pytest, hypothesis, selenium...) fails here
instead of on a user's machine. Standard library only: it must not need what it checks for.

Usage: ``VENV/bin/python .ci/plain_smoke.py``. Prints one line a command; exits 1 on the first
command that does not end as expected (its output printed).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
#: Packages only the dev extra installs: none of them may be importable here.
DEV_ONLY = ("pytest", "openpyxl", "hypothesis", "selenium", "openapi_core", "coverage")


def main() -> int:
    """Run every command once; 0 when each ended as expected."""
    present = [name for name in DEV_ONLY if _importable(name)]
    if present:
        print(f"not a plain install: {', '.join(present)} importable", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="plain-smoke-") as folder:
        work = Path(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
        env["IMPORTER_STATE_DIR"] = str(work / "state")
        try:
            _commands(work, env)
        except Failed as failed:
            print(failed, file=sys.stderr)
            return 1
    print("plain install: every command's main path ran")
    return 0


class Failed(Exception):
    """A command that did not end as expected."""


def _importable(name: str) -> bool:
    probe = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True)
    return probe.returncode == 0


def si(
    env: dict[str, str], *args: str | Path, expect: int = 0, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """``session-importer ARGS``; raise :class:`Failed` unless it exits with ``expect``."""
    done = subprocess.run(
        [sys.executable, "-m", "importer", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    shown = " ".join(map(str, args))
    if done.returncode != expect or "Traceback" in done.stderr:
        raise Failed(
            f"session-importer {shown}: exit {done.returncode}, expected {expect}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
    print(f"ok  session-importer {shown}")
    return done


def _commands(work: Path, env: dict[str, str]) -> None:
    si(env, "--help")
    si(env, "vendors")
    si(env, "vendors", "--json")
    si(env, "template", "360learning-v2", "-o", work)
    v2 = SAMPLES / "360learning-v2-valid.xlsx"
    si(env, "validate", v2, "--vendor", "360learning-v2", "--result", work / "v.xlsx")
    mistakes = SAMPLES / "zoho-people-mistakes.csv"
    si(env, "validate", mistakes, "--vendor", "zoho-people", "--result", work / "m.csv", expect=1)
    # The v1 sample holds a row v2 cannot take as it is (exit 1, the row said why).
    si(env, "convert", SAMPLES / "360learning-v1-valid.csv", "-o", work / "v1.v2.xlsx", expect=1)
    # The README's first command: the embedded sandbox, in-process.
    si(env, "run", SAMPLES / "360learning-v2-valid.csv", "--vendor", "360learning-v2",
       "--sandbox", "--timezone", "Europe/Paris", "--result", work / "embedded.csv")  # fmt: skip
    _against_sandbox(work, env)
    _serve(work, env)


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``session-importer ARGS`` in the background, its stdout read by the caller."""
    return subprocess.Popen(
        [sys.executable, "-m", "importer", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def _against_sandbox(work: Path, env: dict[str, str]) -> None:
    """run, status, report, export (both ways) and undo against a sandbox process."""
    process = _start(env, "sandbox", "--port", "0", "--json")
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        vendor = "360learning-v2"
        account = info[vendor]
        run_env = {**env, **account["env"]}
        hosts = ["--base-url", account["base_url"]]
        if account["auth_url"]:
            hosts += ["--auth-url", account["auth_url"]]
        sheet = SAMPLES / "360learning-v2-valid.xlsx"
        zone = ("--timezone", "Europe/Paris")
        si(run_env, "run", sheet, "--vendor", vendor, *hosts, *zone, "--check")
        si(run_env, "run", sheet, "--vendor", vendor, *hosts, *zone, "--dry-run",
           "--result", work / "dry.xlsx")  # fmt: skip
        result = work / "run.xlsx"
        done = si(run_env, "run", sheet, "--vendor", vendor, *hosts, *zone, "--result", result,
                  "--json")  # fmt: skip
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        si(run_env, "status")
        si(run_env, "status", "--json")
        journals = sorted((work / "state").rglob("*.sqlite*"))
        journal = next(p for p in journals if p.suffix == ".sqlite")
        si(run_env, "status", journal)
        si(run_env, "report", journal, "--result", work / "report.xlsx")
        si(run_env, "export", "--vendor", vendor, *hosts, "--from-result", result,
           "-o", work / "back.xlsx")  # fmt: skip
        path_id = "6853f6de567dc5f80528f80d"
        si(run_env, "export", "--vendor", vendor, *hosts, "--path-id", path_id,
           "-o", work / "export.csv")  # fmt: skip
        run_id = str(summary["run_id"])
        si(run_env, "undo", run_id, "--vendor", vendor, *hosts, "--journal", journal,
           "--dry-run")  # fmt: skip
        si(run_env, "undo", run_id, "--vendor", vendor, *hosts, "--journal", journal)
    finally:
        process.terminate()
        process.wait(10)


def _serve(work: Path, env: dict[str, str]) -> None:
    """``serve --sandbox``: the page answers, and stops on SIGTERM."""
    process = _start(env, "serve", "--sandbox", "--port", "0", "--data", str(work / "web"))
    try:
        assert process.stdout is not None
        url = None
        for _ in range(5):
            line = process.stdout.readline()
            found = re.search(r"(http://[^ ]+:\d+/)", line) if "import page" in line else None
            if found:
                url = found.group(1)
                break
        if url is None:
            raise Failed("session-importer serve --sandbox: no 'Serving the import page' line")
        with urllib.request.urlopen(url, timeout=30) as page:
            body = page.read().decode()
        if page.status != 200 or "<form" not in body:
            raise Failed(f"session-importer serve: {url} answered {page.status} without a form")
        print("ok  session-importer serve --sandbox (the page answered)")
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    sys.exit(main())
