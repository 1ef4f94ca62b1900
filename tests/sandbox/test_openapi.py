"""The sandbox's 360Learning v2 requests and answers validated against the official OpenAPI file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.sandbox.conftest import PATH, V2_EXAMPLE, Env

SPEC_FILE = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "vendor-docs"
    / "360learning-core-api.openapi.json"
)
# Outside CI the contract file may be missing (a checkout without shared/ beside it): skip, and
# say so. In CI (CI=true) a missing contract is a failure, never a silent skip.
_IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
pytestmark = [
    pytest.mark.skipif(
        not SPEC_FILE.exists() and not _IN_CI, reason="shared/vendor-docs is not beside the repo"
    ),
    # openapi-core cannot check oauth2 security schemes and says so; auth is tested elsewhere.
    pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning"),
]


def test_the_contract_file_is_there() -> None:
    """360Learning's official OpenAPI file is what the sandbox is checked against."""
    assert SPEC_FILE.exists(), f"{SPEC_FILE} is missing: put shared/ beside the checkout"


class _Request:
    """An httpx request seen as the OpenAPI file's server sees it (host and prefix mapped)."""

    def __init__(self, request: httpx.Request) -> None:
        self.host_url = "https://app.360learning.com"
        self.path = request.url.path.removeprefix("/360learning")
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "application/json")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data = response.content
        self.content_type = response.headers.get("content-type", "application/json")
        self.headers = Headers(dict(response.headers))


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    data = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    # The token answer's expires_in is a number in the schema and the string "3600" in the
    # file's own example and the authentication guide; the sandbox sends the string (see its
    # README), so the schema is relaxed to accept both for this one property.
    token = data["components"]["schemas"]["GenerateTokenResponse"]["properties"]["expires_in"]
    token["type"] = ["number", "string"]
    # The PATCH body marks fields "nullable: true", a 3.0 keyword the 3.1 dialect ignores; the
    # sandbox takes null as the file means it (v2_patch_nulls): the check reads it so too.
    patch = data["paths"]["/api/v2/paths/{pathId}/sessions/{sessionId}"]["patch"]
    schema = patch["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = data["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    fields = schema["properties"]
    for field in fields.values():
        if field.get("nullable") and "type" in field:
            field["type"] = [field["type"], "null"]
    return OpenAPI.from_dict(data)


def check(spec: OpenAPI, answer: httpx.Response, request_too: bool = True) -> None:
    request = _Request(answer.request)
    if request_too:
        spec.validate_request(request)
    spec.validate_response(request, _Response(answer))


def test_token_exchange_conforms(sbx: Env, spec: OpenAPI) -> None:
    """Token request and answer, and the invalid_client answer, match the schemas."""
    creds = sbx.sandbox.state.seed["360learning"]["credentials"][0]
    url = sbx.url("360learning-v2", "/api/v2/oauth2/token")
    body: dict[str, Any] = {"grant_type": "client_credentials", "client_id": creds["client_id"],
                            "client_secret": creds["client_secret"]}  # fmt: skip
    check(spec, sbx.http.post(url, json=body))
    check(spec, sbx.http.post(url, json={**body, "client_secret": "wrong"}))


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({}, PATH),  # 200
        ({"endDate": "2025-06-01T00:00:00.000Z"}, PATH),  # 400 invalidStartOrEndDate
        ({"registrationRequestValidation": "instructors"}, PATH),  # 400 invalidRegistration...
        ({}, "6853f6de567dc5f80528f80f"),  # 400 pathArchived
        ({}, "6853f6de567dc5f80528f000"),  # 404 pathNotFound
        ({"instructorIds": ["67769f32553f1e9171a18600"]}, PATH),  # 404 usersNotFound
    ],
)
def test_create_conforms(sbx: Env, spec: OpenAPI, change: dict[str, Any], path: str) -> None:
    """Create requests and every answer kind (200, 400, 404) match the OpenAPI schemas."""
    answer = sbx.http.post(sbx.url("360learning-v2", f"/api/v2/paths/{path}/sessions"),
                           json={**V2_EXAMPLE, **change}, headers=sbx.v2_token())  # fmt: skip
    check(spec, answer)


def test_auth_scope_and_rate_answers_conform(sbx: Env, spec: OpenAPI) -> None:
    """401 invalid_token, 403 invalid_scope and 429 tooManyRequests match their schemas."""
    url = sbx.url("360learning-v2", f"/api/v2/paths/{PATH}/sessions")
    check(spec, sbx.http.post(url, json=V2_EXAMPLE, headers={"Authorization": "Bearer x",
                                                              "360-api-version": "v2.0"}))  # fmt: skip
    check(spec, sbx.http.post(url, json=V2_EXAMPLE, headers=sbx.v2_token(client=1)))
    headers = sbx.v2_token()
    answers = [sbx.http.post(url, json=V2_EXAMPLE, headers=headers) for _ in range(11)]
    assert answers[-1].status_code == 429
    check(spec, answers[-1])


def test_reads_conform(sbx: Env, spec: OpenAPI) -> None:
    """Listing a path's sessions (with a date filter) and users by mail match the schemas."""
    headers = sbx.v2_token()
    sbx.http.post(sbx.url("360learning-v2", f"/api/v2/paths/{PATH}/sessions"), json=V2_EXAMPLE,
                  headers=headers)  # fmt: skip
    listing = sbx.http.get(sbx.url("360learning-v2", f"/api/v2/paths/{PATH}/sessions"),
                           params={"startDate[gte]": "2025-01-01T00:00:00.000Z"}, headers=headers)  # fmt: skip
    assert len(listing.json()) == 1
    # openapi-core 0.23 fails on *absent* optional deepObject query parameters (createdAt...),
    # so for these GETs only the answers are validated; the filters are tested in test_learning360_v2.
    check(spec, listing, request_too=False)
    users = sbx.http.get(sbx.url("360learning-v2", "/api/v2/users"),
                         params={"mail[eq]": "jane.doe@example.com"}, headers=headers)  # fmt: skip
    check(spec, users, request_too=False)


@pytest.mark.parametrize(
    ("change", "ended", "status"),
    [
        ({"startDate": "2025-07-02T13:00:00.000Z", "userLimit": None}, "allow", 200),
        ({"endDate": "2025-06-01T00:00:00.000Z"}, "allow", 400),  # invalidStartOrEndDate
        ({"mainInstructorId": "67769f32553f1e9171a18600"}, "allow", 404),  # usersNotFound
        ({"name": "Later"}, "refuse", 400),  # sessionEnded: its end date has passed
        ({"endDate": "2025-08-31T13:00:00.000Z"}, "refuse", 400),  # unsupportedEndDateUpdate
    ],
)
def test_patch_conforms(
    sbx: Env, spec: OpenAPI, change: dict[str, Any], ended: str, status: int
) -> None:
    """PATCH requests and their answers (200, 400, 404) match the OpenAPI schemas."""
    sbx.sandbox.state.options["v2_ended_sessions"] = ended
    headers = sbx.v2_token()
    made = sbx.http.post(sbx.url("360learning-v2", f"/api/v2/paths/{PATH}/sessions"),
                         json=V2_EXAMPLE, headers=headers).json()  # fmt: skip
    url = sbx.url("360learning-v2", f"/api/v2/paths/{PATH}/sessions/{made['_id']}")
    answer = sbx.http.patch(url, json=change, headers=headers)
    assert answer.status_code == status, answer.text
    check(spec, answer)
    if status == 200:
        held = sbx.http.get(url, headers=headers).json()
        assert held["startDate"] == change["startDate"] and "userLimit" not in held


def test_delete_conforms_and_the_session_is_gone(sbx: Env, spec: OpenAPI) -> None:
    """DELETE: 204, then 404 sessionNotFound for it (DELETE, GET, PATCH), gone from the list;
    400 sessionNotBelongToPath for another path's session; every answer matches the schemas."""
    headers = sbx.v2_token()
    sessions = sbx.url("360learning-v2", f"/api/v2/paths/{PATH}/sessions")
    made = sbx.http.post(sessions, json=V2_EXAMPLE, headers=headers).json()
    other = "6853f6de567dc5f80528f80e"  # the seed's "Safety" path
    wrong = sbx.http.delete(
        sbx.url("360learning-v2", f"/api/v2/paths/{other}/sessions/{made['_id']}"), headers=headers
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "sessionNotBelongToPath"
    check(spec, wrong)
    url = f"{sessions}/{made['_id']}"
    gone = sbx.http.delete(url, headers=headers)
    assert gone.status_code == 204 and gone.content == b""
    check(spec, gone)
    again = sbx.http.delete(url, headers=headers)
    assert again.status_code == 404 and again.json()["error"]["code"] == "sessionNotFound"
    check(spec, again)
    assert sbx.http.get(url, headers=headers).status_code == 404
    assert sbx.http.patch(url, json={"name": "x"}, headers=headers).status_code == 404
    assert sbx.http.get(sessions, headers=headers).json() == []
