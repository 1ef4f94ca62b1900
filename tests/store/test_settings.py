"""Choosing the store: --store > IMPORTER_STORE > the job file's store > this machine's files."""

from __future__ import annotations

from importer.api import resolve_settings
from importer.store import account_name, redact

ENV = {"IMPORTER_360L_CLIENT_ID": "client", "IMPORTER_360L_CLIENT_SECRET": "s3cret-value"}


def test_the_flag_wins_then_the_environment_then_the_job_file() -> None:
    """Each source is used only when the ones before it say nothing."""
    job = {"job": {"store": "postgresql://job@db/importer"}}
    env = {**ENV, "IMPORTER_STORE": "postgresql://env@db/importer"}
    flag = {"store": "postgresql://flag@db/importer"}
    assert resolve_settings("360learning-v2", flags=flag, env=env, job=job).store == flag["store"]
    assert (
        resolve_settings("360learning-v2", flags={}, env=env, job=job).store
        == env["IMPORTER_STORE"]
    )
    assert (
        resolve_settings("360learning-v2", flags={}, env=ENV, job=job).store == job["job"]["store"]
    )
    assert resolve_settings("360learning-v2", flags={}, env=ENV).store is None


def test_a_store_password_stays_out_of_settings_and_messages() -> None:
    """The settings' repr and the store's description hide the URL's password."""
    url = "postgresql://importer:pa55word@db:5432/importer"
    settings = resolve_settings("360learning-v2", flags={"store": url}, env=ENV)
    assert "pa55word" not in repr(settings)
    assert redact(url) == "postgresql://importer:***@db:5432/importer"
    assert redact("postgresql://importer@db/x") == "postgresql://importer@db/x"


def test_the_accounts_journal_name_tells_accounts_apart_without_their_secrets() -> None:
    """One name per vendor, host and credentials; no credential in it."""
    one = account_name("360learning-v2", "https://app.360learning.com/", "client|s3cret-value")
    assert one == account_name(
        "360learning-v2", "https://app.360learning.com", "client|s3cret-value"
    )
    assert one != account_name("360learning-v2", "https://app.360learning.com", "other|s3cret")
    assert "s3cret" not in one and "client" not in one
