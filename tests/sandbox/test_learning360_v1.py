"""360Learning v1: create a path session and read a program session, every documented error."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.conftest import GROUP, PATH, Env

GOOD = {
    "sessionName": "Employee Onboarding July Session",
    "sessionOwnerGroup": GROUP,
    "instructorsMails": ["jane.doe@example.com"],
    "startDate": "2025-07-01T13:00:00.812Z",
    "endDate": "2025-07-31T13:00:00.812Z",
    "sessionAdditionalInformation": "A0015221",
}


def post(sbx: Env, body: Any, path: str = PATH, auth: str = "headers") -> tuple[int, Any]:
    company = sbx.env("360learning-v1", "IMPORTER_360L_COMPANY")
    key = sbx.env("360learning-v1", "IMPORTER_360L_API_KEY")
    kwargs: dict[str, Any] = {"json": body}
    if auth == "headers":
        kwargs["headers"] = {"X-company-id": company, "X-apiKey": key}
    elif auth == "query":
        kwargs["params"] = {"company": company, "apiKey": key}
    answer = sbx.http.post(sbx.url("360learning-v1", f"/api/v1/paths/{path}/sessions/"), **kwargs)
    return answer.status_code, answer.json()


@pytest.mark.parametrize("auth", ["headers", "query"])
def test_create_with_either_documented_auth(sbx: Env, auth: str) -> None:
    """The migration guide's v1 example creates a session, with headers or query credentials."""
    status, body = post(sbx, GOOD, auth=auth)
    assert status == 200
    assert body["status"] == "session_created" and len(body["_id"]) == 24
    stored = sbx.created("360learning-v1", "session")
    assert [s["id"] for s in stored] == [body["_id"]]
    assert stored[0]["request"] == GOOD


def test_missing_credentials_are_refused(sbx: Env) -> None:
    """No key, no session."""
    assert post(sbx, GOOD, auth="none") == (401, {"error": "unauthorized"})
    assert sbx.created("360learning-v1") == []


def test_omitted_instructors_make_the_owner_instructor(sbx: Env) -> None:
    """Without instructorsMails, the platform owner becomes the instructor."""
    body = {k: v for k, v in GOOD.items() if k != "instructorsMails"}
    assert post(sbx, body)[0] == 200
    owner = next(u for u in sbx.sandbox.state.seed["360learning"]["users"] if u.get("owner"))
    assert sbx.created("360learning-v1")[0]["data"]["instructorIds"] == [owner["_id"]]


ERRORS = [
    ("unknown path", {}, "6853f6de567dc5f80528f000", 404, "path_not_found"),
    ("no path", {}, "", 404, "path_not_found"),
    ("malformed path", {}, "not-an-id", 404, "path_not_found"),
    ("null name", {"sessionName": None}, PATH, 400, "invalid_session_name"),
    ("empty name", {"sessionName": " "}, PATH, 400, "invalid_session_name"),
    ("no start", {"startDate": None}, PATH, 400, "invalid_start_date"),
    ("start without time", {"startDate": "2025-07-01"}, PATH, 400, "invalid_start_date"),
    ("impossible start", {"startDate": "2025-02-31T10:00:00Z"}, PATH, 400, "invalid_start_date"),
    ("bad end", {"endDate": "31/07/2025"}, PATH, 400, "invalid_end_date"),
    ("end before start", {"endDate": "2025-06-01T13:00:00Z"}, PATH, 400, "invalid_end_date"),
    ("null group", {"sessionOwnerGroup": None}, PATH, 400, "invalid_session_owner_group"),
    ("bad group", {"sessionOwnerGroup": "Sales"}, PATH, 400, "invalid_session_owner_group"),
    ("unknown group", {"sessionOwnerGroup": "624c5526204fc7207e600000"}, PATH, 400,
     "session_owner_group_not_found"),
    ("null instructors", {"instructorsMails": None}, PATH, 400, "invalid_instructors"),
    ("empty instructors", {"instructorsMails": []}, PATH, 400, "invalid_instructors"),
    ("bad email", {"instructorsMails": ["jane.doe"]}, PATH, 400, "invalid_instructors"),
    ("stranger", {"instructorsMails": ["who@example.com"]}, PATH, 400, "instructors_not_found"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "change", "path", "status", "code"), ERRORS)
def test_every_documented_error(
    sbx: Env, case: str, change: dict[str, Any], path: str, status: int, code: str
) -> None:
    """Each row of the doc's error table gives its status and its flat body; nothing is created."""
    assert post(sbx, {**GOOD, **change}, path=path) == (status, {"error": code})
    assert sbx.created("360learning-v1") == []


def test_program_session_has_every_documented_field(sbx: Env) -> None:
    """GET /api/v1/programs/sessions/{id}/ returns each field its doc lists."""
    company = sbx.env("360learning-v1", "IMPORTER_360L_COMPANY")
    key = sbx.env("360learning-v1", "IMPORTER_360L_API_KEY")
    auth = {"company": company, "apiKey": key}
    url = sbx.url("360learning-v1", "/api/v1/programs/sessions/5d0a5f2b8c1e4a0012345678/")
    body = sbx.http.get(url, params=auth).json()
    documented = {
        "_id", "name", "author", "description", "startDate", "endDate", "hasUserLimit", "lang",
        "modifiedAt", "programDuration", "programDurationType", "programTemplate", "tutors",
        "automatedReminders", "sessionCustom", "templateCustom", "modules", "groups",
        "customFields", "requirements", "users",
    }  # fmt: skip
    assert documented <= set(body)
    assert body["programDurationType"] == "hour"
    assert {m["type"] for m in body["modules"]} <= {"course", "webinar", "classroom"}
    missing = sbx.http.get(url.replace("5678", "0000"), params=auth)
    assert missing.status_code == 404
    old = sbx.http.get(sbx.url("360learning-v1", "/api/v1/programs/5d0a5f2b8c1e4a0012345678/"),
                       params=auth, follow_redirects=True)  # fmt: skip
    assert old.status_code == 200 and old.json()["_id"] == body["_id"]


def test_created_sessions_are_listed(sbx: Env) -> None:
    """GET /api/v1/paths/sessions lists what was created, with the additional information."""
    _, body = post(sbx, GOOD)
    company = sbx.env("360learning-v1", "IMPORTER_360L_COMPANY")
    key = sbx.env("360learning-v1", "IMPORTER_360L_API_KEY")
    listed = sbx.http.get(sbx.url("360learning-v1", "/api/v1/paths/sessions"),
                          headers={"X-company-id": company, "X-apiKey": key}).json()  # fmt: skip
    assert [(s["sessionId"], s["sessionAdditionalInformation"]) for s in listed] == [
        (body["_id"], "A0015221")
    ]
