"""Rate rules and retries on a fake clock: hours of vendor time in seconds of test time."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.api import resolve_settings
from importer.core.secret import Secret
from importer.sandbox import parse_faults
from importer.vendors import REGISTRY
from tests.conftest import write_csv, zoho_row, zoho_sheet
from tests.run.conftest import Rig


def many_zoho(tmp_path: Path, rows: int) -> Path:
    return zoho_sheet(tmp_path / "zoho.csv", [zoho_row(f"S{i}") for i in range(rows)])


def test_500_zoho_rows_never_exceed_30_a_minute(tmp_path: Path, rig: Rig) -> None:
    """With up to 1.5 s of jitter each way, every 60-second window Zoho sees holds at most 27
    LMS calls (30 allowed); no lock; 2.24 s a row (27 per 60.5 s)."""
    rig.sandbox.state.options["zoho_sessions_per_module"] = 10_000
    rig.sandbox.state.options["fake_latency"] = 1.5
    rig.sandbox.reset()
    started = rig.clock.time()
    run = rig.run(many_zoho(tmp_path, 500), "zoho-people")
    assert run.counts() == {"created": 500}
    calls = sorted(r["at"] for r in rig.sandbox.state.requests if r["path"].startswith("/api/"))
    assert len(calls) == 500
    tail = 0
    for head, moment in enumerate(calls):
        while calls[tail] <= moment - 60:
            tail += 1
        assert head - tail + 1 <= 30, (
            f"{head - tail + 1} calls in the 60 s before {moment - started:.0f} s"
        )
    assert rig.sandbox.part("zoho-people").locks == 0
    assert 1115 <= rig.clock.time() - started <= 1260  # 500 rows at 27 per 60.5 s, plus latency


def test_a_lock_caused_elsewhere_is_waited_out_once(tmp_path: Path, rig: Rig) -> None:
    """Another tool used the minute's 30 calls: the importer waits the lock out and resumes."""
    for _ in range(30):
        rig.sandbox.part("zoho-people").window.hit()
    started = rig.clock.time()
    run = rig.run(many_zoho(tmp_path, 3), "zoho-people")
    assert run.counts() == {"created": 3}
    assert rig.sandbox.part("zoho-people").locks == 1
    assert rig.clock.time() - started >= 300
    assert any("waiting 300 s" in note for note in rig.notes)


def test_retries_are_bounded(tmp_path: Path, rig: Rig) -> None:
    """A vendor that answers 429 forever: each row gives up after 5 tries, marked not sent."""
    rig.sandbox.state.faults.update(parse_faults("360learning-v1:429=1", list(REGISTRY)))
    rows = [
        ["Path ID", "Session name", "Start date", "Owner group ID"],
        ["6853f6de567dc5f80528f80d", "S", "2025-07-01 10:00", "624c5526204fc7207e603ea6"],
    ]
    run = rig.run(write_csv(tmp_path / "v1.csv", rows), "360learning-v1")
    assert run.counts() == {"not sent": 1}
    assert "gave up after 5 tries" in run.results[2].message
    assert len(rig.sandbox.state.requests) == 5


def test_server_errors_on_create_are_unknown(tmp_path: Path, rig: Rig) -> None:
    """A 500 answer to a create: the row is unknown, and it is sent once, never resent."""
    rig.sandbox.state.faults.update(parse_faults("360learning-v1:500=1", list(REGISTRY)))
    rows = [["Path ID", "Session name", "Start date", "Owner group ID"]]
    rows += [
        ["6853f6de567dc5f80528f80d", f"S{i}", "2025-07-01 10:00", "624c5526204fc7207e603ea6"]
        for i in range(2)
    ]
    run = rig.run(write_csv(tmp_path / "v1.csv", rows), "360learning-v1")
    assert run.counts() == {"unknown": 2}
    assert "answered 500" in run.results[2].message
    assert len(rig.sandbox.state.requests) == 2


def test_tokens_are_renewed_before_expiry_not_per_row(tmp_path: Path, rig: Rig) -> None:
    """With 100-second tokens, 100 rows (200 s) take a handful of tokens, none refused."""
    rig.sandbox.state.options["token_ttl"] = 100
    rig.sandbox.reset()
    run = rig.run(many_zoho(tmp_path, 100), "zoho-people")
    assert run.counts() == {"created": 100}
    tokens = [r for r in rig.sandbox.state.requests if r["path"] == "/oauth/v2/token"]
    assert 2 <= len(tokens) <= 4


def test_360_v2_under_its_limit_stays_fast_and_polite(tmp_path: Path, rig: Rig) -> None:
    """At a 10/s ceiling against a 10 writes/s sandbox: at least 9.7 rows/s (issue 27), no 429."""
    rows = [
        ["Path ID", "Session name", "Main instructor ID", "Start date", "Registration validation"]
    ]
    rows += [
        [
            "6853f6de567dc5f80528f80d",
            f"S{i}",
            "647098a731a809ed36889ed1",
            "2025-07-01 10:00",
            "disabled",
        ]
        for i in range(300)
    ]
    started = rig.clock.time()
    run = rig.run(write_csv(tmp_path / "v2.csv", rows), "360learning-v2", rate=10.0)
    elapsed = rig.clock.time() - started
    assert run.counts() == {"created": 300}
    refused = [r for r in rig.sandbox.state.requests if r["status"] == 429]
    assert not refused
    assert 300 / elapsed >= 9.7


def test_settings_never_show_secrets() -> None:
    """Credentials are Secrets: repr and str of the settings show none of them."""
    env = {
        "IMPORTER_COURSEPATH_API_KEY": "super-secret-key-123",
        "IMPORTER_COURSEPATH_EMAIL": "a@b.c",
    }
    settings = resolve_settings("coursepath", flags={"base_url": "http://127.0.0.1:1"}, env=env)
    assert "super-secret-key-123" not in repr(settings) + str(settings)
    assert str(settings.credentials["IMPORTER_COURSEPATH_API_KEY"]) == "***"
    assert settings.credentials["IMPORTER_COURSEPATH_API_KEY"] == Secret("super-secret-key-123")


@pytest.mark.parametrize(
    ("vendor", "base", "auth"),
    [
        ("360learning-v2", "https://app.us.360learning.com", "https://app.us.360learning.com"),
        ("360learning-v2", None, "https://app.360learning.com"),
        ("zoho-people", "https://people.zoho.eu", "https://accounts.zoho.com"),
    ],
)
def test_token_host_follows_the_api_host_where_the_vendor_shares_them(
    vendor: str, base: str | None, auth: str
) -> None:
    """360Learning US gets its tokens from the US host; Zoho's accounts host is separate."""
    from importer.vendors import plugin

    env = dict.fromkeys(plugin(vendor).credentials, "x")
    settings = resolve_settings(vendor, flags={"base_url": base}, env=env)
    assert settings.auth_url == auth
