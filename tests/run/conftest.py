"""Fixtures for import runs: a real sandbox process on 127.0.0.1, and the real CLI against it
(in this process: see tests.conftest.run_cli)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from importer.api import resolve_settings, run_import, validate
from importer.core.clock import FakeClock
from importer.results.report import RunReport
from importer.sandbox import Sandbox, SandboxServer, SandboxState
from importer.vendors import sandbox_parts
from tests.conftest import ROOT, CliResult, run_cli


class SandboxProcess:
    """`session-importer sandbox --port 0 --json` running in a subprocess."""

    def __init__(self, info: dict[str, Any], state_dir: Path) -> None:
        self.info = info
        self.state_dir = state_dir
        self.url = str(info["coursepath"]["base_url"]).removesuffix("/coursepath")
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def created(self, vendor: str, kind: str | None = None) -> list[dict[str, Any]]:
        params = {"vendor": vendor, **({"kind": kind} if kind else {})}
        return list(self.http.get("/_sandbox/created", params=params).json())

    def requests(self, vendor: str) -> list[dict[str, Any]]:
        return list(self.http.get("/_sandbox/requests", params={"vendor": vendor}).json())

    def faults(self, spec: str) -> None:
        self.http.put("/_sandbox/faults", content=spec).raise_for_status()

    def options(self, **options: object) -> None:
        """Answer in one of the ways the docs leave open (see importer.sandbox.app.OPTIONS)."""
        self.http.put("/_sandbox/options", json=options).raise_for_status()

    def reset(self) -> None:
        self.http.put("/_sandbox/faults", content="")
        self.http.post("/_sandbox/reset").raise_for_status()

    def env(self, vendor: str) -> dict[str, str]:
        """The environment a run against this sandbox needs (credentials, and UTC for the
        times the tests' sheets type without a zone: a run given no zone refuses them)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
        own = {"IMPORTER_STATE_DIR": str(self.state_dir), "IMPORTER_TIMEZONE": "UTC"}
        return {**base, **self.info[vendor]["env"], **own}

    def run(
        self,
        sheet: Path,
        vendor: str,
        *extra: str,
        env: dict[str, str] | None = None,
    ) -> CliResult:
        """The real CLI, in this process: session-importer run SHEET --vendor V against this
        sandbox (see tests.conftest.run_cli)."""
        return run_cli(*self.args(sheet, vendor), *extra, env=env or self.env(vendor), cwd=ROOT)

    def args(self, sheet: Path, vendor: str) -> list[str]:
        """``run SHEET --vendor V`` with this sandbox's hosts for V."""
        info = self.info[vendor]
        args = ["run", str(sheet), "--vendor", vendor, "--base-url", info["base_url"]]
        if info["auth_url"]:
            args += ["--auth-url", info["auth_url"]]
        return args


@pytest.fixture(scope="session")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """One sandbox process for the whole test session."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    info = json.loads(process.stdout.readline())
    sandbox = SandboxProcess(info, tmp_path_factory.mktemp("state"))
    try:
        yield sandbox
    finally:
        sandbox.http.close()
        process.terminate()
        process.wait(10)
        process.stdout.close()


@pytest.fixture
def sandbox(sandbox_process: SandboxProcess, tmp_path: Path) -> SandboxProcess:
    """The sandbox process, reset: nothing created, no faults, default options, and a fresh
    state folder.

    The state folder holds each account's journal, rate schedule and kept tokens: a test's
    runs share it, tests do not (the sandbox forgets what it created between tests, the
    journal would not).
    """
    sandbox_process.reset()
    sandbox_process.state_dir = tmp_path / "state"
    return sandbox_process


class Rig:
    """An in-process sandbox on 127.0.0.1 sharing a fake clock with the importer."""

    def __init__(self, clock: FakeClock, sandbox: Sandbox, server: SandboxServer) -> None:
        self.clock, self.sandbox, self.server = clock, sandbox, server
        self.notes: list[str] = []

    def run(self, sheet: Path, vendor: str, **options: object) -> RunReport:
        info = self.sandbox.describe(self.server.url)[vendor]
        flags = {
            "base_url": info["base_url"],
            "auth_url": info["auth_url"],
            "concurrency": 1,
            **options,
        }
        settings = resolve_settings(vendor, flags=flags, env=info["env"])
        report = validate(sheet, vendor)
        return run_import(report, settings, clock=self.clock, notify=self.notes.append)


@pytest.fixture
def rig() -> Iterator[Rig]:
    clock = FakeClock()
    sandbox = Sandbox(sandbox_parts(), SandboxState.fresh(clock=clock))
    with SandboxServer(sandbox.app) as server:
        yield Rig(clock, sandbox, server)
