"""The accounts file: what the server's owner configures, and the clear errors for mistakes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from importer.core.errors import ConfigurationError
from importer.web.accounts import load_accounts
from tests.conftest import ROOT

GOOD = """
[[account]]
name = "Acme Zoho"
vendor = "zoho-people"
timezone = "Europe/Paris"
base_url = "https://people.zoho.eu"
auth_url = "https://accounts.zoho.eu"

[account.credentials]
IMPORTER_ZOHO_REFRESH_TOKEN = "ACME_ZOHO_TOKEN"
"""


def test_accounts_file_reads_hosts_and_credential_indirection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials come from the variables the file names, read when a run starts; they never print."""
    path = tmp_path / "accounts.toml"
    path.write_text(GOOD)
    [account] = load_accounts(path).accounts
    assert (account.slug, account.vendor, account.timezone) == (
        "acme-zoho",
        "zoho-people",
        "Europe/Paris",
    )
    monkeypatch.setenv("IMPORTER_ZOHO_CLIENT_ID", "1000.ID")
    monkeypatch.setenv("IMPORTER_ZOHO_CLIENT_SECRET", "s3cret-value")
    monkeypatch.delenv("IMPORTER_ZOHO_REFRESH_TOKEN", raising=False)
    with pytest.raises(
        ConfigurationError, match="IMPORTER_ZOHO_REFRESH_TOKEN \\(read from ACME_ZOHO_TOKEN\\)"
    ):
        account.settings()
    monkeypatch.setenv("ACME_ZOHO_TOKEN", "1000.refresh-value")
    settings = account.settings()
    assert (
        settings.base_url == "https://people.zoho.eu"
        and settings.auth_url == "https://accounts.zoho.eu"
    )
    assert settings.credentials["IMPORTER_ZOHO_REFRESH_TOKEN"].reveal() == "1000.refresh-value"
    assert "refresh-value" not in repr(account) + repr(settings)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no \\[\\[account\\]\\] table"),
        ('[[account]]\nname = "A"\n', "give at least name and vendor"),
        ('[[account]]\nname = "A"\nvendor = "moodle"\n', "unknown vendor 'moodle'"),
        (
            '[[account]]\nname = "A"\nvendor = "coursepath"\n[[account]]\nname = "a"\nvendor = "coursepath"\n',
            "two accounts have the same name",
        ),
        ("[[account]\n", "not a valid TOML"),
    ],
)
def test_bad_accounts_files_are_explained(tmp_path: Path, text: str, message: str) -> None:
    """Each mistake in the file is one clear sentence naming the file."""
    path = tmp_path / "accounts.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message) as caught:
        load_accounts(path)
    assert str(path) in str(caught.value)


def test_serve_with_a_bad_accounts_file_exits_2_without_traceback(tmp_path: Path) -> None:
    """The real CLI: one line on stderr, exit 2."""
    path = tmp_path / "accounts.toml"
    path.write_text('[[account]]\nname = "A"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    done = subprocess.run(
        [sys.executable, "-m", "importer", "serve", "--config", str(path), "--port", "0", "--data", str(tmp_path / "d")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert (
        done.stderr.startswith("session-importer: error:")
        and "give at least name and vendor" in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_a_real_accounts_journal_is_the_one_run_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page and `session-importer run` keep one journal per real account (a sheet imported
    by the nightly job shows as created on the page, and is never sent twice); the embedded
    sandbox's accounts keep theirs in the page's own data folder."""
    import argparse
    from types import SimpleNamespace

    from importer.cli.journal import journal_path
    from importer.web.accounts import sandbox_accounts
    from importer.web.workspace import Workspace

    monkeypatch.setenv("IMPORTER_STATE_DIR", str(tmp_path / "state"))
    for name, value in (("IMPORTER_ZOHO_CLIENT_ID", "1000.ID"),
                        ("IMPORTER_ZOHO_CLIENT_SECRET", "s3cret-value"),
                        ("ACME_ZOHO_TOKEN", "1000.refresh-value")):  # fmt: skip
        monkeypatch.setenv(name, value)
    path = tmp_path / "accounts.toml"
    path.write_text(GOOD)
    [account] = load_accounts(path).accounts
    page = SimpleNamespace(data=tmp_path / "data")
    run = journal_path(argparse.Namespace(journal=None), account.plugin, account.settings())
    assert Workspace.journal_path(page, account) == run  # type: ignore[arg-type]
    assert str(run).startswith(str(tmp_path / "state"))
    endpoint = {"zoho-people": {"base_url": "http://127.0.0.1:9/zoho", "auth_url": None,
                                "env": {"IMPORTER_ZOHO_CLIENT_ID": "x"}}}  # fmt: skip
    [sandboxed] = sandbox_accounts(endpoint)
    own = Workspace.journal_path(page, sandboxed)  # type: ignore[arg-type]
    assert str(own).startswith(str(tmp_path / "data"))
