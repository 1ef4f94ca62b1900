"""Scripted faults: errors, hangs, and creates whose answer is lost after the work is done."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from importer.core.errors import ConfigurationError
from importer.sandbox import DropConnection, Sandbox, parse_faults
from importer.vendors import REGISTRY, sandbox_parts
from tests.sandbox.conftest import ZOHO_EXAMPLE, ZOHO_MODULE, Env


def test_parse_faults() -> None:
    """The spec sets shares per vendor; mistakes are refused with the reason."""
    faults = parse_faults(
        "zoho-people:500=0.1,latency=0.02; coursepath:drop=1,seed=3", list(REGISTRY)
    )
    assert faults["zoho-people"].error_500 == 0.1 and faults["zoho-people"].latency == 0.02
    assert faults["coursepath"].drop == 1.0
    for bad, why in [("moodle:500=1", "unknown vendor"), ("zoho-people:501=1", "unknown fault"),
                     ("zoho-people:500=2", "from 0 to 1"), ("zoho-people:500=x", "needs a number")]:  # fmt: skip
        with pytest.raises(ConfigurationError, match=why):
            parse_faults(bad, list(REGISTRY))


def test_seeded_faults_repeat(sbx: Env) -> None:
    """The same seed draws the same faults."""
    first = parse_faults("zoho-people:500=0.5,seed=9", list(REGISTRY))["zoho-people"]
    second = parse_faults("zoho-people:500=0.5,seed=9", list(REGISTRY))["zoho-people"]
    assert [first.draw(0.5) for _ in range(20)] == [second.draw(0.5) for _ in range(20)]


def test_error_faults_do_nothing(sbx: Env) -> None:
    """A 500 or 429 fault answers at once and creates nothing."""
    headers = sbx.zoho_token()
    for spec, status in (("zoho-people:500=1", 500), ("zoho-people:429=1", 429)):
        sbx.http.put(sbx.server.url + "/_sandbox/faults", content=spec)
        answer = sbx.http.post(
            sbx.url("zoho-people", ZOHO_MODULE), json=ZOHO_EXAMPLE, headers=headers
        )
        assert answer.status_code == status
    assert sbx.created("zoho-people") == []


def test_dropped_answer_after_create(sbx: Env) -> None:
    """With drop=1 the session is created, yet the client gets no answer at all."""
    headers = sbx.zoho_token()
    sbx.http.put(sbx.server.url + "/_sandbox/faults", content="zoho-people:drop=1")
    with pytest.raises(httpx.RemoteProtocolError):
        sbx.http.post(sbx.url("zoho-people", ZOHO_MODULE), json=ZOHO_EXAMPLE, headers=headers)
    assert len(sbx.created("zoho-people", "session")) == 1
    # Reads are never dropped: the client can look the session up.
    listing = sbx.http.get(sbx.url("zoho-people", ZOHO_MODULE), headers=headers)
    assert len(listing.json()["sessions"]) == 1


def test_timeout_fault_hangs_and_does_nothing(sbx: Env) -> None:
    """A hanging request times out on the client, and nothing is created."""
    headers = sbx.zoho_token()
    sbx.http.put(sbx.server.url + "/_sandbox/faults", content="zoho-people:timeout=1,hang=1")
    with pytest.raises(httpx.ReadTimeout):
        sbx.http.post(
            sbx.url("zoho-people", ZOHO_MODULE), json=ZOHO_EXAMPLE, headers=headers, timeout=0.2
        )
    assert sbx.created("zoho-people") == []


def test_latency_is_added(sbx: Env) -> None:
    """Latency delays each answer by at least the given seconds."""
    sbx.http.put(sbx.server.url + "/_sandbox/faults", content="coursepath:latency=0.1")
    started = time.perf_counter()
    sbx.http.get(sbx.url("coursepath", "/api/v1/members/me"), headers=sbx.coursepath_jwt())
    assert time.perf_counter() - started >= 0.1


def test_in_process_transport_sees_the_drop() -> None:
    """Through httpx's ASGITransport (no socket), a dropped create raises to the caller."""
    sandbox = Sandbox(sandbox_parts())
    sandbox.state.faults.update(parse_faults("360learning-v1:drop=1", list(REGISTRY)))
    account = sandbox.state.seed["360learning"]

    async def go() -> None:
        transport = httpx.ASGITransport(app=sandbox.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            health = await client.get("/_sandbox/health")
            assert health.json()["ok"] is True
            with pytest.raises(DropConnection):
                await client.post(
                    "/360learning/api/v1/paths/6853f6de567dc5f80528f80d/sessions/",
                    params={"company": account["company"], "apiKey": account["api_key"]},
                    json={"sessionName": "x", "startDate": "2025-07-01T13:00:00Z",
                          "sessionOwnerGroup": "624c5526204fc7207e603ea6"},
                )  # fmt: skip

    asyncio.run(go())
    assert len(sandbox.state.objects("360learning-v1", "session")) == 1


def test_a_fault_aimed_at_one_endpoint_spares_the_others(sbx: Env) -> None:
    """``coursepath/coursemember:html=1`` answers only enrolments with a proxy's HTML 200, after
    the enrolment is made; the member reads around it answer their JSON as usual."""
    sbx.http.put(sbx.server.url + "/_sandbox/faults", content="coursepath/coursemember:html=1")
    me = sbx.http.get(sbx.url("coursepath", "/api/v1/members/me"), headers=sbx.coursepath_jwt())
    assert me.json()["email"] == "admin@example.com"
    enrol = sbx.url("coursepath", "/api/v1/courses/12345/members/1002/coursemember")
    answer = sbx.http.post(enrol, headers=sbx.coursepath_jwt())
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert len(sbx.created("coursepath", "coursemember")) == 1  # the work was done
    assert parse_faults("coursepath/invite:html=1", list(REGISTRY))["coursepath/invite"].html == 1


def test_undocumented_statuses_and_an_empty_201(sbx: Env) -> None:
    """``404``/``409``: a gateway's page, nothing done; ``empty201``: done, then an empty 201."""
    headers = sbx.coursepath_jwt
    groups = sbx.url("coursepath", "/api/v1/members/1002/groups")
    for status in ("404", "409"):
        sbx.http.put(sbx.server.url + "/_sandbox/faults", content=f"coursepath/groups:{status}=1")
        answer = sbx.http.post(groups, data={"name": "Sales"}, headers=headers())
        assert answer.status_code == int(status) and "<html>" in answer.text
    assert sbx.created("coursepath", "groupmember") == []
    sbx.http.put(sbx.server.url + "/_sandbox/faults", content="coursepath/groups:empty201=1")
    answer = sbx.http.post(groups, data={"name": "Sales"}, headers=headers())
    assert (answer.status_code, answer.content) == (201, b"")
    assert len(sbx.created("coursepath", "groupmember")) == 1


def test_a_paging_loop_names_the_first_page_again(sbx: Env) -> None:
    """``loop``: a list's Link names its own first page (paging parameters dropped) as next."""
    sbx.http.put(sbx.server.url + "/_sandbox/faults", content="zoho-people/sessions:loop=1")
    listed = sbx.http.get(
        sbx.url("zoho-people", ZOHO_MODULE), params={"startIndex": "26"}, headers=sbx.zoho_token()
    )
    assert listed.status_code == 200
    assert listed.headers["link"] == f'<{sbx.url("zoho-people", ZOHO_MODULE)}>; rel="next"'
