"""360Learning v2: token, create path sessions, list, users, limits, and the official OpenAPI file."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.conftest import JANE, JOHN, PATH, V2_EXAMPLE, Env

SESSIONS = f"/api/v2/paths/{PATH}/sessions"


def create(sbx: Env, body: Any, headers: dict[str, str] | None = None, path: str = PATH) -> Any:
    headers = headers if headers is not None else sbx.v2_token()
    return sbx.http.post(sbx.url("360learning-v2", f"/api/v2/paths/{path}/sessions"),
                         json=body, headers=headers)  # fmt: skip


def test_token_is_an_hour_with_expires_in_as_text(sbx: Env) -> None:
    """The token answer follows the authentication guide: Bearer, expires_in "3600"."""
    creds = sbx.sandbox.state.seed["360learning"]["credentials"][0]
    answer = sbx.http.post(sbx.url("360learning-v2", "/api/v2/oauth2/token"),
                           json={"grant_type": "client_credentials", **{k: creds[k] for k in ("client_id", "client_secret")}})  # fmt: skip
    body = answer.json()
    assert answer.status_code == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == "3600"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"grant_type": "client_credentials", "client_id": "sbx-360-client", "client_secret": "x"}, 401, "invalid_client"),
        ({"grant_type": "password", "client_id": "a", "client_secret": "b"}, 400, "unsupported_grant_type"),
        ({"client_id": "a"}, 400, "invalid_request"),
        ({"grant_type": "client_credentials", "client_id": "sbx-360-client",
          "client_secret": "sbx-360-secret-41c7e2b9", "user_id": "624c5526204fc7207e603123"}, 400, "non_existing_user"),
    ],
)  # fmt: skip
def test_token_errors(sbx: Env, body: dict[str, str], status: int, error: str) -> None:
    """Each documented token error, in the flat shape."""
    answer = sbx.http.post(sbx.url("360learning-v2", "/api/v2/oauth2/token"), json=body)
    assert (answer.status_code, answer.json()) == (status, {"error": error})


def test_create_returns_the_full_session(sbx: Env) -> None:
    """The migration guide's example body gives 200 and the full session, stored as sent."""
    answer = create(sbx, V2_EXAMPLE)
    assert answer.status_code == 200
    session = answer.json()
    for key, value in V2_EXAMPLE.items():
        assert session[key] == value
    assert session["pathId"] == PATH and session["translations"] == []
    assert sbx.created("360learning-v2", "session")[0]["request"] == V2_EXAMPLE


@pytest.mark.parametrize(
    ("instructor", "group"),
    [
        (JANE, "6776986afff311b995274b73"),  # public beats a shallower, larger private group
        ("67769f32553f1e9171a186c1", "624c5526204fc7207e603ea6"),  # her only author group
        (JOHN, "624c5526204fc7207e603ea6"),  # author nowhere: the path's owner group
    ],
)
def test_owner_group_follows_the_documented_rule(sbx: Env, instructor: str, group: str) -> None:
    """Public groups first, then shallowest, then largest; else the path's owner group."""
    body = {**V2_EXAMPLE, "mainInstructorId": instructor, "instructorIds": []}
    assert create(sbx, body).json()["groupId"] == group


ERRORS = [
    ({"endDate": "2025-06-01T00:00:00.000Z"}, PATH, 400, "invalidStartOrEndDate"),
    ({"registrationRequestValidation": "instructors"}, PATH, 400, "invalidRegistrationRequestOption"),
    ({"ipFiltering": {"ips": ["300.1.1.1"]}}, PATH, 400, "invalidIpFiltering"),
    ({"automaticReenrollment": {"type": "certificationExpiryDate"}}, PATH, 400, "missingCertificate"),
    ({}, "6853f6de567dc5f80528f80f", 400, "pathArchived"),
    ({}, "6853f6de567dc5f80528f000", 404, "pathNotFound"),
    ({"instructorIds": ["67769f32553f1e9171a18600"]}, PATH, 404, "usersNotFound"),
    ({"mainInstructorId": "67769f32553f1e9171a18600"}, PATH, 404, "usersNotFound"),
    ({"userLimit": 0}, PATH, 400, "badRequest"),
    ({"name": ""}, PATH, 400, "badRequest"),
    ({"registrationRequestValidation": "everyone"}, PATH, 400, "badRequest"),
    ({"instructorIds": [JOHN] * 101}, PATH, 400, "badRequest"),
    ({"sessionOwnerGroup": "624c5526204fc7207e603ea6"}, PATH, 400, "badRequest"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "path", "status", "code"), ERRORS)
def test_create_errors(sbx: Env, change: dict[str, Any], path: str, status: int, code: str) -> None:
    """Each documented error, in the domain shape; nothing is created."""
    answer = create(sbx, {**V2_EXAMPLE, **change}, path=path)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert isinstance(answer.json()["error"]["message"], str)
    assert sbx.created("360learning-v2") == []


def test_auth_scope_and_version_are_enforced(sbx: Env) -> None:
    """No version header: 400; a bad or expired token: 401 flat; a missing scope: 403."""
    good = sbx.v2_token()
    assert create(sbx, V2_EXAMPLE, {"Authorization": good["Authorization"]}).status_code == 400
    bad = create(sbx, V2_EXAMPLE, {**good, "Authorization": "Bearer nope"})
    assert (bad.status_code, bad.json()) == (401, {"error": "invalid_token"})
    readonly = create(sbx, V2_EXAMPLE, sbx.v2_token(client=1))
    assert readonly.status_code == 403 and readonly.json()["error"]["code"] == "invalid_scope"
    sbx.clock.advance(3600)
    expired = create(sbx, V2_EXAMPLE, good)
    assert (expired.status_code, expired.json()) == (401, {"error": "invalid_token"})


def test_ten_writes_a_second_per_company(sbx: Env) -> None:
    """The 11th write within a second is 429 tooManyRequests; a second later writes pass again."""
    headers = sbx.v2_token()
    codes = [create(sbx, V2_EXAMPLE, headers).status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]
    assert create(sbx, V2_EXAMPLE, headers).json() == {"error": "tooManyRequests"}
    sbx.clock.advance(1.0)
    assert create(sbx, V2_EXAMPLE, headers).status_code == 200
    assert len(sbx.created("360learning-v2")) == 11


def test_list_sessions_pages_of_100_with_link_and_date_filters(sbx: Env) -> None:
    """A path's sessions come 100 a page, with a Link to the next; startDate filters apply."""
    sbx.sandbox.state.options["v2_writes_per_second"] = 1000
    sbx.sandbox.reset()
    headers = sbx.v2_token()
    for day in range(1, 29):
        for hour in range(8, 13):
            body = {**V2_EXAMPLE, "startDate": f"2025-02-{day:02d}T{hour:02d}:00:00.000Z"}
            body.pop("endDate")
            assert create(sbx, body, headers).status_code == 200
    url = sbx.url("360learning-v2", SESSIONS)
    first = sbx.http.get(url, headers=headers)
    assert len(first.json()) == 100
    seen = list(first.json())
    link = first.headers["link"]
    while link:
        target = link.split(";")[0].strip("<>")
        page = sbx.http.get(target, headers=headers)
        seen += page.json()
        link = page.headers.get("link", "")
    assert len(seen) == 140 and len({s["_id"] for s in seen}) == 140
    window = {
        "startDate[gte]": "2025-02-10T00:00:00.000Z",
        "startDate[lt]": "2025-02-11T00:00:00.000Z",
    }
    assert len(sbx.http.get(url, params=window, headers=headers).json()) == 5


def test_users_by_mail(sbx: Env) -> None:
    """Users are found by mail[eq] (any case) and mail[in]."""
    url = sbx.url("360learning-v2", "/api/v2/users")
    headers = sbx.v2_token()
    found = sbx.http.get(url, params={"mail[eq]": "Jane.Doe@example.com"}, headers=headers).json()
    assert [u["_id"] for u in found] == [JANE]
    both = sbx.http.get(url, params=[("mail[in]", "jane.doe@example.com"),
                                     ("mail[in]", "john.smith@example.com")], headers=headers)  # fmt: skip
    assert {u["_id"] for u in both.json()} == {JANE, JOHN}
    assert sbx.http.get(url, params={"mail[eq]": "who@example.com"}, headers=headers).json() == []
