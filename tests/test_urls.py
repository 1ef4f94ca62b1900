"""Vendor hosts: https only (plain http to this machine, or with a loud option); never garbage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from importer.api import resolve_settings
from importer.core.errors import ConfigurationError
from importer.jobs.config import check_url
from tests.conftest import run_cli, write_csv

ENV = {"IMPORTER_COURSEPATH_API_KEY": "k" * 40, "IMPORTER_COURSEPATH_EMAIL": "a@example.com"}


@pytest.mark.parametrize(
    "url",
    [
        "https://acme.coursepath.com",
        "http://127.0.0.1:8360/x",
        "http://localhost:1",
        "http://[::1]:9",
    ],
)
def test_https_or_this_machine_is_accepted(url: str) -> None:
    """https anywhere, http only to this machine (the sandbox, a local proxy)."""
    check_url(url, "base_url")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://acme.coursepath.com", "plain http"),
        ("ftp://acme.coursepath.com", "not a web address"),
        ("not-a-url", "not a web address"),
        ("https://", "not a web address"),
    ],
)
def test_other_hosts_are_a_configuration_error(url: str, words: str) -> None:
    """Plain http to another host, another scheme or garbage: refused before any call."""
    with pytest.raises(ConfigurationError, match=words):
        resolve_settings("coursepath", flags={"base_url": url}, env=ENV)


def test_allow_http_lets_a_test_proxy_through() -> None:
    """--allow-http is the one way to plain http elsewhere (and the run warns)."""
    flags = {"base_url": "http://proxy.test", "allow_http": True}
    assert resolve_settings("coursepath", flags=flags, env=ENV).base_url == "http://proxy.test"


def test_a_garbage_host_from_the_environment_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """IMPORTER_BASE_URL=ftp://... used to mark every row 'unknown: the vendor may have created
    it' although nothing was sent; now the run does not start, and says why."""
    sheet = write_csv(tmp_path / "cp.csv", [["Email", "Course ID"], ["a@example.com", "12345"]])
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    env |= ENV | {"IMPORTER_BASE_URL": "ftp://acme.example", "IMPORTER_STATE_DIR": str(tmp_path)}
    done = run_cli("run", sheet, "--vendor", "coursepath", "--json", env=env)
    assert done.returncode == 2
    line = json.loads(done.stdout)
    assert "not a web address" in line["error"] and "Traceback" not in done.stderr
    assert (
        not (tmp_path / "cp.result.csv").exists()
        or "unknown" not in (tmp_path / "cp.result.csv").read_text()
    )
    parsed = run_cli("run", sheet, "--vendor", "coursepath", "--base-url", "not-a-url")
    assert parsed.returncode == 2 and "not a web address" in parsed.stderr


def test_status_shows_a_pause_a_vendor_asked_for(tmp_path: Path) -> None:
    """A lock's wait kept in the shared state is shown by `status`, with its reason, so that a
    run that sends nothing for a while is explained."""
    import os

    from importer.core.clock import SystemClock
    from importer.store.slots import SharedSlots

    slots = SharedSlots(tmp_path, "zoho-people|https://people.zoho.com|x", SystemClock())
    slots.pause_for(600, "Zoho locked the API for exceeding 30 calls a minute")
    slots.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    env["IMPORTER_STATE_DIR"] = str(tmp_path)
    done = run_cli("status", env=env)
    assert done.returncode == 0, done.stderr
    assert "paused for" in done.stdout and "exceeding 30 calls a minute" in done.stdout


def test_a_damaged_journal_is_one_plain_line(tmp_path: Path) -> None:
    """A journal whose pages were overwritten (a disk fault): `status` says so in one line,
    exit 2, no traceback."""
    import os

    from importer.store.journal import Journal

    path = tmp_path / "acme.journal.sqlite"
    journal = Journal(path, "zoho-people")
    for n in range(200):
        journal.remember(f"k{n}", "f", n + 2, {"name": "x" * 200})
    journal.close()
    data = bytearray(path.read_bytes())
    data[-4096 * 4 : -4096] = b"\xff" * (4096 * 3)  # rows' pages, read after the journal opened
    path.write_bytes(bytes(data))
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    done = run_cli("status", path, env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "damaged" in done.stderr
