"""A redirect is a wrong host, not the vendor's answer about a row (issue 22).

A 301/302 to a create was read as the row's ``rejected``: it proves nothing was created only
if the vendor says so, and no vendor documents a redirect. The run stops as a configuration
problem naming the host and the Location; the row that met it is ``unknown``; no later row
is sent to a host that redirects.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from importer.api import resolve_settings, run_import, validate
from importer.core.errors import FatalVendorError
from tests.conftest import write_csv

V1 = ["Path ID", "Session name", "Start date", "Owner group ID"]
PATH, GROUP = "6853f6de567dc5f80528f80d", "624c5526204fc7207e603ea6"
ENV = {"IMPORTER_360L_COMPANY": "c" * 12, "IMPORTER_360L_API_KEY": "k" * 24}


def _run(tmp_path: Path, rows: int, status: int, method: str = "POST"):  # type: ignore[no-untyped-def]
    """A v1 run of ``rows`` rows whose host answers ``status`` to ``method`` requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == method:
            where = "https://new.example.com/api/v1/paths/x/sessions/"
            return httpx.Response(status, headers={"location": where}, text="Moved")
        return httpx.Response(201, json={"_id": "S1"})

    sheet = write_csv(
        tmp_path / "v1.csv",
        [V1, *[[PATH, f"S{i}", "2025-07-01 10:00", GROUP] for i in range(rows)]],
    )
    # One request at a time: the first row sent is row 2, whatever the machine's load (with
    # v1's four in flight, row 3's request could be the first to arrive).
    flags = {"base_url": "http://127.0.0.1:9", "concurrency": 1}
    settings = resolve_settings("360learning-v1", flags=flags, env=ENV)
    client = httpx.Client(transport=httpx.MockTransport(handler))
    run = run_import(validate(sheet, "360learning-v1"), settings, client=client, notify=[].append)
    return run, seen


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirected_create_stops_the_run_as_a_configuration_problem(
    tmp_path: Path, status: int
) -> None:
    """The first create is redirected: that row is unknown (it may have been done: a 302/303
    is also what an application answers after acting on a POST), the run stops naming the
    host and the Location, exit 3, and no other row is sent."""
    run, seen = _run(tmp_path, rows=3, status=status)
    assert len(seen) == 1
    assert run.results[2].status == "unknown"
    assert f"answered {status}" in run.results[2].message
    assert "may have been created" in run.results[2].message
    assert [run.status(row) for row in (3, 4)] == ["not sent", "not sent"]
    assert run.stopped is not None and run.fatal and run.exit_code == 3
    assert run.stopped.startswith("configuration problem: http://127.0.0.1:9 answered")
    assert "https://new.example.com/api/v1/paths/x/sessions/" in run.stopped
    assert "--base-url" in run.stopped


def test_a_redirect_to_the_last_row_still_stops_the_run(tmp_path: Path) -> None:
    """With no later row to meet the stop, the run still says it (exit 3, the host named)."""
    run, seen = _run(tmp_path, rows=1, status=301)
    assert len(seen) == 1 and run.results[2].status == "unknown"
    assert run.fatal and run.stopped and "configuration problem" in run.stopped


def test_a_redirected_read_stops_without_blaming_a_row() -> None:
    """A lookup redirected: nothing was changed, the run stops (fatal), naming the host."""
    from importer.core.clock import FakeClock
    from importer.core.secret import Secret
    from importer.sending.protocol import Call
    from importer.sending.sender import Sender
    from importer.sending.throttle import Pacer, RatePolicy
    from importer.vendors import plugin

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "/login"})

    clock = FakeClock()
    client = httpx.Client(transport=httpx.MockTransport(handler))
    creds = {"IMPORTER_360L_COMPANY": Secret("c1"), "IMPORTER_360L_API_KEY": Secret("k" * 20)}
    sender = Sender(
        adapter=plugin("360learning-v1").wire,
        client=client,
        base_url="http://127.0.0.1:9",
        auth=plugin("360learning-v1").auth(creds, "", client, clock),
        pacer=Pacer(RatePolicy(rate=None), clock),
        clock=clock,
    )
    with pytest.raises(FatalVendorError, match=r"configuration problem.*302.*/login"):
        sender.read(Call("list the sessions", "GET", "/api/v1/paths", writes=False))
