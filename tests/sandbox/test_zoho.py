"""Zoho People LMS: tokens, create and list sessions, employees, the 30-a-minute lock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.sandbox.conftest import ZOHO_EXAMPLE, ZOHO_MODULE, Env


def create(
    sbx: Env, data: Any, headers: dict[str, str], how: str = "body", path: str = ZOHO_MODULE
) -> Any:
    url = sbx.url("zoho-people", path)
    if how == "query":
        return sbx.http.post(url, params={"sessionData": json.dumps(data)}, headers=headers)
    return sbx.http.post(url, json=data, headers=headers)


@pytest.mark.parametrize("how", ["body", "query"])
def test_doc_example_creates_a_session(sbx: Env, how: str) -> None:
    """The doc's example, as JSON body or sessionData query, gives the documented answer."""
    answer = create(sbx, ZOHO_EXAMPLE, sbx.zoho_token(), how)
    assert answer.status_code == 200
    body = answer.json()
    assert body["code"] == 200 and body["message"] == "success"
    session = body["session"]
    assert session["sessionName"] == "Session API Testing"
    assert session["sessionStartDate"] == "04-01-2022" and session["sessionType"] == "Classroom"
    assert session["sessionRoom"] == "Room One" and session["sessionTrainer"] == "Henry"
    stored = sbx.created("zoho-people", "session")[0]
    assert stored["request"]["sessionData"] == ZOHO_EXAMPLE and stored["request"]["via"] == how


BAD = [
    ({"name": ""}, "name is mandatory"),
    ({"type": "2"}, "type must be 0"),
    ({"date": "2022-01-04"}, "DD-MM-YYYY"),
    ({"date": "31-02-2022"}, "DD-MM-YYYY"),
    ({"startTime": "14:00"}, "12-hour"),
    ({"endTime": "09:00 AM"}, "after startTime"),
    ({"trainerErecno": "478346000008251003"}, "not a trainer"),
    ({"roomId": "1"}, "roomId"),
    ({"gradeCategoryId": "1"}, "gradeCategoryId"),
    ({"lockUntil": "2021-12-28"}, "lockUntil"),
]


@pytest.mark.parametrize(("change", "why"), BAD)
def test_invalid_session_data_is_400(sbx: Env, change: dict[str, str], why: str) -> None:
    """Missing or malformed fields give 400 with the doc's text; nothing is created."""
    answer = create(sbx, {**ZOHO_EXAMPLE, **change}, sbx.zoho_token())
    assert answer.status_code == 400
    assert answer.json()["message"] == "Invalid parameter value/input parameter missing"
    assert why in answer.json()["errors"]["message"]
    assert sbx.created("zoho-people") == []


def test_unknown_module_token_and_limit(sbx: Env) -> None:
    """An unknown module is 404; a bad token 401; a full module 422 Maximum limit exceeded."""
    headers = sbx.zoho_token()
    wrong = ZOHO_MODULE.replace("479119/", "479999/")
    assert create(sbx, ZOHO_EXAMPLE, headers, path=wrong).status_code == 404
    assert create(sbx, ZOHO_EXAMPLE, {"Authorization": "Zoho-oauthtoken nope"}).status_code == 401
    sbx.sandbox.state.options["zoho_sessions_per_module"] = 1
    assert create(sbx, ZOHO_EXAMPLE, headers).status_code == 200
    full = create(sbx, ZOHO_EXAMPLE, headers)
    assert (full.status_code, full.json()["message"]) == (422, "Maximum limit exceeded")


def test_thirty_calls_a_minute_then_a_five_minute_lock(sbx: Env) -> None:
    """Call 31 within a minute starts the lock: every LMS call is refused for 5 minutes."""
    headers = sbx.zoho_token()
    codes = [create(sbx, ZOHO_EXAMPLE, headers).status_code for _ in range(30)]
    assert codes == [200] * 30
    refused = create(sbx, ZOHO_EXAMPLE, headers)
    assert refused.status_code == 429
    assert refused.json() == {
        "code": 7209,
        "message": "API access blocked since threshold limit exceeded",
    }
    assert refused.headers["retry-after"] == "300"
    sbx.clock.advance(240)  # the minute is long over, but the lock is not
    listing = sbx.http.get(sbx.url("zoho-people", ZOHO_MODULE), headers=headers)
    assert listing.status_code == 429 and listing.headers["retry-after"] == "60"
    sbx.clock.advance(60)
    assert create(sbx, ZOHO_EXAMPLE, headers).status_code == 200
    assert len(sbx.created("zoho-people")) == 31
    assert sbx.sandbox.part("zoho-people").locks == 1


@pytest.mark.parametrize(
    ("style", "status"), [("7209", 200), ("422", 422), ("envelope", 200), ("envelope400", 400)]
)
def test_lock_refusal_style_is_configurable(sbx: Env, style: str, status: int) -> None:
    """The lock's refusal form can be switched to the other forms the sources mention, People's
    error envelope (code 7209 under response.errors) included."""
    sbx.sandbox.state.options["zoho_lock_style"] = style
    sbx.sandbox.reset()
    headers = sbx.zoho_token()
    for _ in range(30):
        create(sbx, ZOHO_EXAMPLE, headers)
    refused = create(sbx, ZOHO_EXAMPLE, headers)
    assert refused.status_code == status
    if style.startswith("envelope"):
        errors = refused.json()["response"]["errors"]
        assert errors == {
            "code": 7209,
            "message": "API access blocked since threshold limit exceeded",
        }
    assert len(sbx.created("zoho-people")) == 30


def test_list_module_sessions_25_per_call(sbx: Env) -> None:
    """The module's sessions come 25 a call from startIndex."""
    sbx.sandbox.state.options["zoho_per_minute"] = 1000
    sbx.sandbox.reset()
    headers = sbx.zoho_token()
    for index in range(30):
        assert create(sbx, {**ZOHO_EXAMPLE, "name": f"S{index}"}, headers).status_code == 200
    url = sbx.url("zoho-people", ZOHO_MODULE)
    first = sbx.http.get(url, headers=headers).json()["sessions"]
    second = sbx.http.get(url, params={"startIndex": 26}, headers=headers).json()["sessions"]
    assert len(first) == 25 and len(second) == 5
    assert [s["sessionName"] for s in first + second] == [f"S{i}" for i in range(30)]


def test_tokens_ten_per_ten_minutes(sbx: Env) -> None:
    """A refresh token gives 10 access tokens per 10 minutes, then Access Denied."""
    for _ in range(10):
        sbx.zoho_token()
    url = sbx.info["zoho-people"]["auth_url"] + "/oauth/v2/token"
    env = sbx.info["zoho-people"]["env"]
    params = {"grant_type": "refresh_token", "client_id": env["IMPORTER_ZOHO_CLIENT_ID"],
              "client_secret": env["IMPORTER_ZOHO_CLIENT_SECRET"], "refresh_token": env["IMPORTER_ZOHO_REFRESH_TOKEN"]}  # fmt: skip
    denied = sbx.http.post(url, params=params)
    assert denied.status_code == 400 and denied.json()["error"] == "Access Denied"
    assert sbx.http.post(url, params={**params, "refresh_token": "x"}).json() == {
        "error": "invalid_code"
    }
    assert sbx.http.post(url, params={**params, "client_secret": "x"}).json() == {
        "error": "invalid_client"
    }
    sbx.clock.advance(600)
    assert "access_token" in sbx.http.post(url, params=params).json()


def test_access_token_expires_after_an_hour(sbx: Env) -> None:
    """An access token is refused once its hour is over."""
    headers = sbx.zoho_token()
    sbx.clock.advance(3600)
    assert create(sbx, ZOHO_EXAMPLE, headers).status_code == 401


def test_employee_lookup_by_email(sbx: Env) -> None:
    """getRecords by EMPLOYEEMAILALIAS gives the Zoho_ID, or error 7024."""
    url = sbx.url("zoho-people", "/people/api/forms/employee/getRecords")
    headers = sbx.zoho_token()
    found = sbx.http.get(url, params={"searchColumn": "EMPLOYEEMAILALIAS", "searchValue": "maya@example.com"},
                         headers=headers).json()["response"]  # fmt: skip
    assert found["status"] == 0
    record = next(iter(found["result"][0].values()))[0]
    assert record["Zoho_ID"] == "478346000008251002"
    missing = sbx.http.get(url, params={"searchColumn": "EMPLOYEEMAILALIAS", "searchValue": "x@example.com"},
                           headers=headers).json()["response"]  # fmt: skip
    assert missing["status"] == 1 and missing["errors"]["code"] == 7024


def test_scopes_and_documented_server_error(sbx: Env) -> None:
    """A read-only token cannot create (403, the doc's text); a 500 has the doc's text."""
    env = sbx.info["zoho-people"]["env"]
    seed = sbx.sandbox.state.seed["zoho"]
    answer = sbx.http.post(sbx.info["zoho-people"]["auth_url"] + "/oauth/v2/token", params={
        "grant_type": "refresh_token", "client_id": env["IMPORTER_ZOHO_CLIENT_ID"],
        "client_secret": env["IMPORTER_ZOHO_CLIENT_SECRET"], "refresh_token": seed["readonly_refresh_token"]})  # fmt: skip
    assert "access_token" in answer.json(), answer.text
    readonly = {"Authorization": f"Zoho-oauthtoken {answer.json()['access_token']}"}
    refused = create(sbx, ZOHO_EXAMPLE, readonly)
    assert refused.status_code == 403
    assert refused.json()["message"] == "Sorry! You are not authorized to do this operation"
    assert sbx.http.get(sbx.url("zoho-people", ZOHO_MODULE), headers=readonly).status_code == 200
    full = sbx.zoho_token()  # before the fault: faults hit the accounts server too
    sbx.http.put(sbx.server.url + "/_sandbox/faults", content="zoho-people:500=1")
    failed = create(sbx, ZOHO_EXAMPLE, full)
    assert (failed.status_code, failed.json()["message"]) == (500, "Sorry! Server error occured")
