"""Fixtures: one sandbox served on 127.0.0.1 per module, reset and on a fake clock per test."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from importer.core.clock import FakeClock
from importer.sandbox import Sandbox, SandboxServer, SandboxState
from importer.vendors import sandbox_parts

PATH = "6853f6de567dc5f80528f80d"
GROUP = "624c5526204fc7207e603ea6"
JANE = "647098a731a809ed36889ed1"
JOHN = "67769f32553f1e9171a186c0"
ZOHO_MODULE = "/api/v1/courses/478346000019479103/batches/478346000019479115/modules/478346000019479119/sessions"
#: The Zoho doc's example request body, field for field.
ZOHO_EXAMPLE = {
    "name": "Session API Testing",
    "trainerErecno": "478346000008251001",
    "type": "0",
    "date": "04-01-2022",
    "startTime": "10:00 AM",
    "endTime": "11:00 AM",
    "description": "API testing",
    "roomId": "478346000010125093",
    "gradeCategoryId": "478346000019553021",
}
#: The 360Learning migration guide's v2 example request body.
V2_EXAMPLE = {
    "registrationRequestValidation": "disabled",
    "mainInstructorId": JANE,
    "name": "Employee Onboarding July Session",
    "additionalInformation": "A0015221",
    "startDate": "2025-07-01T13:00:00.812Z",
    "endDate": "2025-07-31T13:00:00.812Z",
    "userLimit": 30,
    "instructorIds": [JOHN],
}


class Env:
    """A served sandbox, its fake clock, an HTTP client and the published endpoints."""

    def __init__(self, sandbox: Sandbox, server: SandboxServer, clock: FakeClock) -> None:
        self.sandbox = sandbox
        self.server = server
        self.clock = clock
        self.http = httpx.Client(timeout=5)
        self.info = sandbox.describe(server.url)

    def url(self, vendor: str, path: str) -> str:
        return self.info[vendor]["base_url"] + path

    def env(self, vendor: str, name: str) -> str:
        return str(self.info[vendor]["env"][name])

    def v2_token(self, client: int = 0) -> dict[str, str]:
        creds = self.sandbox.state.seed["360learning"]["credentials"][client]
        answer = self.http.post(
            self.url("360learning-v2", "/api/v2/oauth2/token"),
            json={"grant_type": "client_credentials", "client_id": creds["client_id"],
                  "client_secret": creds["client_secret"]},
        )  # fmt: skip
        return {
            "Authorization": f"Bearer {answer.json()['access_token']}",
            "360-api-version": "v2.0",
        }

    def zoho_token(self) -> dict[str, str]:
        answer = self.http.post(
            self.info["zoho-people"]["auth_url"] + "/oauth/v2/token",
            params={
                "grant_type": "refresh_token",
                "client_id": self.env("zoho-people", "IMPORTER_ZOHO_CLIENT_ID"),
                "client_secret": self.env("zoho-people", "IMPORTER_ZOHO_CLIENT_SECRET"),
                "refresh_token": self.env("zoho-people", "IMPORTER_ZOHO_REFRESH_TOKEN"),
            },
        )
        return {"Authorization": f"Zoho-oauthtoken {answer.json()['access_token']}"}

    def coursepath_jwt(self, key: str | None = None, **claims: Any) -> dict[str, str]:
        body = {"email": self.env("coursepath", "IMPORTER_COURSEPATH_EMAIL"),
                "iat": int(self.clock.time()), "jti": uuid.uuid4().hex, **claims}  # fmt: skip
        secret = key or self.env("coursepath", "IMPORTER_COURSEPATH_API_KEY")
        return {"Authorization": f"Bearer {jwt.encode(body, secret, algorithm='HS256')}"}

    def created(self, vendor: str, kind: str | None = None) -> list[dict[str, Any]]:
        params = {"vendor": vendor, **({"kind": kind} if kind else {})}
        return list(self.http.get(self.server.url + "/_sandbox/created", params=params).json())


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Sandbox, SandboxServer, FakeClock]]:
    clock = FakeClock(start=time.time())
    sandbox = Sandbox(sandbox_parts(), SandboxState.fresh(clock=clock))
    with SandboxServer(sandbox.app) as server:
        yield sandbox, server, clock


@pytest.fixture
def sbx(served: tuple[Sandbox, SandboxServer, FakeClock]) -> Iterator[Env]:
    """A clean sandbox for this test (state reset, no faults), served on 127.0.0.1."""
    sandbox, server, clock = served
    sandbox.state.faults.clear()
    sandbox.state.options.clear()
    sandbox.reset()
    clock.advance(3600 * 24)  # leave every rate window and lock of earlier tests behind
    env = Env(sandbox, server, clock)
    yield env
    env.http.close()
