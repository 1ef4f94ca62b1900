"""tests.conftest.run_cli runs the command line in the test's process: it must give what a
subprocess gives (the exit code, stdout, stderr) and leave the process as it found it."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from importer.core.secret import HELD, Secret
from tests.conftest import ROOT, run_cli, spawn_cli

V2_VALID = ROOT / "sample_data" / "360learning-v2-valid.xlsx"


def test_exit_codes_and_streams_are_a_subprocess_s() -> None:
    """Help (argparse's SystemExit 0), bad arguments (SystemExit 2) and a command's own code
    come out as the subprocess's would, with the same stdout and stderr."""
    for args in (["vendors", "--help"], ["vendors", "--frobnicate"], ["vendors", "--json"]):
        inside, outside = run_cli(*args), spawn_cli(*args)
        assert (inside.returncode, inside.stdout, inside.stderr) == (
            outside.returncode,
            outside.stdout,
            outside.stderr,
        ), args


def test_a_run_leaves_the_process_as_it_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole run (the embedded sandbox, credentials read, a token fetched, signal handlers
    taken for the sending) in another folder and environment: afterwards the environment, the
    folder, the signal handlers and the secrets the scrubber holds are what they were."""
    environ, folder = dict(os.environ), os.getcwd()
    handlers = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}
    before = set(HELD._known)  # what other tests' runs in this process left held
    added: list[str] = []  # each secret the run gave the scrubber
    real_add = HELD.add

    def spy(secret: Secret | str | None, token: bool = False) -> None:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            added.append(value)
        real_add(secret, token)

    monkeypatch.setattr(HELD, "add", spy)
    env = {"PATH": os.environ.get("PATH", ""), "IMPORTER_STATE_DIR": str(tmp_path / "state")}
    done = run_cli(
        "run", V2_VALID, "--vendor", "360learning-v2", "--sandbox", "--timezone", "UTC",
        "--result", "here.csv", "--json", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"] == {"created": 2}
    assert (tmp_path / "here.csv").exists()
    assert dict(os.environ) == environ and os.getcwd() == folder
    assert {n: signal.getsignal(n) for n in handlers} == handlers
    fresh = [value for value in added if value not in before]
    assert fresh, "the run held no new secret (its access token is new each run)"
    assert [v for v in fresh if HELD.known(v) != v] == [], "the run's secrets are still held"
    assert set(HELD._known) == before


def test_the_environment_given_is_the_whole_environment(tmp_path: Path) -> None:
    """``env`` replaces the environment (as subprocess's does): a variable of this process
    that is not in it is not seen by the command."""
    os.environ["IMPORTER_STATE_DIR"] = str(tmp_path / "not-this-one")
    try:
        done = run_cli("status", env={"IMPORTER_STATE_DIR": str(tmp_path / "this-one")})
    finally:
        del os.environ["IMPORTER_STATE_DIR"]
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"No journal in {tmp_path / 'this-one' / 'journals'} yet.\n"


def test_what_a_command_changes_in_its_process_is_put_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command that changes its process (as the entry point's handlers, a job log, a chdir
    would) leaves nothing behind: variables, folder, umask, handlers, loggers, warning filters."""
    import logging
    import warnings

    from importer.cli import main as cli_main
    from importer.core.signals import install_handlers

    made = logging.FileHandler(tmp_path / "job.log")

    def meddle(args: object) -> int:
        os.environ["IMPORTER_LEFT_BEHIND"] = "1"
        os.chdir(tmp_path)
        os.umask(0o077)
        install_handlers()
        logging.getLogger("importer.left.behind").addHandler(made)
        logging.getLogger().setLevel(logging.DEBUG)
        warnings.simplefilter("ignore")
        print("meddled")
        return 5

    monkeypatch.setattr(cli_main, "_dispatch", meddle)
    environ, folder = dict(os.environ), os.getcwd()
    umask = os.umask(0o022)
    os.umask(umask)
    handlers = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}
    level, filters = logging.getLogger().level, list(warnings.filters)
    done = run_cli("vendors")
    assert (done.returncode, done.stdout) == (5, "meddled\n")
    assert dict(os.environ) == environ and os.getcwd() == folder
    assert os.umask(umask) == umask
    assert {n: signal.getsignal(n) for n in handlers} == handlers
    assert logging.getLogger("importer.left.behind").handlers == [] and made.stream is None
    assert logging.getLogger().level == level and warnings.filters == filters


def test_the_command_starts_holding_no_secret_as_a_new_process_does() -> None:
    """A value this process holds as a secret (another test's run left it) is not masked in
    the command's output, and is held again afterwards."""
    saved = {k: (v.copy() if isinstance(v, dict) else v) for k, v in vars(HELD).items()}
    try:
        HELD.add("zoho-people")
        done = run_cli("vendors")
        assert done.returncode == 0 and "zoho-people" in done.stdout
        assert HELD("zoho-people") == "***"
    finally:
        vars(HELD).update(saved)
