"""Coursepath: JWT rules, members, enrolments, groups, invites, paging."""

from __future__ import annotations

import pytest

from tests.sandbox.conftest import Env


def url(sbx: Env, path: str) -> str:
    return sbx.url("coursepath", path)


def test_jwt_rules(sbx: Env) -> None:
    """HS256 with the academy key, a fresh iat and a single-use jti; anything else is 401."""
    me = url(sbx, "/api/v1/members/me")
    good = sbx.coursepath_jwt()
    assert sbx.http.get(me, headers=good).json()["email"] == "admin@example.com"
    assert sbx.http.get(me, headers=good).json() == {"error": "token already used (jti)"}
    assert sbx.http.get(me, headers=sbx.coursepath_jwt(key="x" * 40)).status_code == 401
    old = sbx.coursepath_jwt(iat=int(sbx.clock.time()) - 121)
    assert sbx.http.get(me, headers=old).status_code == 401
    assert sbx.http.get(me, headers=sbx.coursepath_jwt(email="who@example.com")).status_code == 401
    assert sbx.http.get(me).status_code == 401
    unsigned = "Bearer eyJhbGciOiJub25lIn0.eyJlbWFpbCI6ImFkbWluQGV4YW1wbGUuY29tIn0."
    assert sbx.http.get(me, headers={"Authorization": unsigned}).status_code == 401


def test_the_docs_own_token_shape_is_accepted(sbx: Env) -> None:
    """The doc's sample JWT carries a numeric jti (508870138): accepted, and single-use too;
    a jti that is neither a string nor a number is refused."""
    me = url(sbx, "/api/v1/members/me")
    numeric = sbx.coursepath_jwt(jti=508870138)
    assert sbx.http.get(me, headers=numeric).status_code == 200
    assert sbx.http.get(me, headers=numeric).status_code == 401  # used once already
    assert sbx.http.get(me, headers=sbx.coursepath_jwt(jti=[1])).status_code == 401


def test_members_create_update_and_find(sbx: Env) -> None:
    """Create (201), duplicate email (409 with the ID), update, get, filter by email."""
    created = sbx.http.post(url(sbx, "/api/v1/members"), headers=sbx.coursepath_jwt(),
                            data={"email": "ann@example.com", "company": "Acme"})  # fmt: skip
    assert created.status_code == 201
    member = created.json()
    assert member["name"] == "ann"  # derived from the email, as documented
    again = sbx.http.post(
        url(sbx, "/api/v1/members"), headers=sbx.coursepath_jwt(), json={"email": "ANN@example.com"}
    )
    assert again.status_code == 409 and again.json()["memberId"] == member["id"]
    updated = sbx.http.post(url(sbx, f"/api/v1/members/{member['id']}"), headers=sbx.coursepath_jwt(),
                            json={"name": "Ann Lee", "department": "Sales"})  # fmt: skip
    assert updated.json()["name"] == "Ann Lee"
    found = sbx.http.get(url(sbx, "/api/v1/members"), params={"email": "ann@example.com"},
                         headers=sbx.coursepath_jwt()).json()  # fmt: skip
    assert [m["id"] for m in found] == [member["id"]]
    assert (
        sbx.http.get(url(sbx, "/api/v1/members/nope"), headers=sbx.coursepath_jwt()).status_code
        == 404
    )


def test_members_paging(sbx: Env) -> None:
    """offset and limit page through members; limit is capped at 500."""
    for index in range(7):
        sbx.http.post(
            url(sbx, "/api/v1/members"),
            headers=sbx.coursepath_jwt(),
            data={"email": f"m{index}@example.com"},
        )
    everyone = sbx.http.get(url(sbx, "/api/v1/members"), headers=sbx.coursepath_jwt()).json()
    assert len(everyone) == 9
    page = sbx.http.get(
        url(sbx, "/api/v1/members"), params={"offset": 2, "limit": 3}, headers=sbx.coursepath_jwt()
    ).json()
    assert page == everyone[2:5]


@pytest.mark.parametrize(("kind", "target"), [("course", "12345"), ("program", "678")])
def test_enrolment_is_idempotent(sbx: Env, kind: str, target: str) -> None:
    """Creating-and-enrolling, then enrolling again, leaves one enrolment."""
    made = sbx.http.post(url(sbx, f"/api/v1/{kind}s/{target}/members"), headers=sbx.coursepath_jwt(),
                         data={"email": "bo@example.com", "name": "Bo"})  # fmt: skip
    assert made.status_code == 201
    member = made.json()["id"]
    enrol = url(sbx, f"/api/v1/{kind}s/{target}/members/{member}/{kind}member")
    assert sbx.http.post(enrol, headers=sbx.coursepath_jwt()).status_code == 200
    assert sbx.http.get(enrol, headers=sbx.coursepath_jwt()).json()["memberId"] == member
    assert len(sbx.created("coursepath", f"{kind}member")) == 1
    listed = sbx.http.get(
        url(sbx, f"/api/v1/{kind}s/{target}/members"), headers=sbx.coursepath_jwt()
    ).json()
    assert [m["id"] for m in listed] == [member]
    assert sbx.http.delete(enrol, headers=sbx.coursepath_jwt()).status_code == 200
    assert sbx.http.get(enrol, headers=sbx.coursepath_jwt()).status_code == 404
    missing = sbx.http.post(
        url(sbx, f"/api/v1/{kind}s/999/members"),
        headers=sbx.coursepath_jwt(),
        data={"email": "x@example.com"},
    )
    assert missing.status_code == 404


def test_groups_by_name_and_invites(sbx: Env) -> None:
    """Members join groups by name (commas allowed in names); invites are recorded."""
    member = sbx.http.post(
        url(sbx, "/api/v1/members"), headers=sbx.coursepath_jwt(), data={"email": "cy@example.com"}
    ).json()["id"]
    groups = url(sbx, f"/api/v1/members/{member}/groups")
    for name in ("Sales, EMEA", "New hires", "Sales, EMEA"):
        assert (
            sbx.http.post(groups, headers=sbx.coursepath_jwt(), data={"name": name}).status_code
            == 200
        )
    names = [g["name"] for g in sbx.http.get(groups, headers=sbx.coursepath_jwt()).json()]
    assert sorted(names) == ["New hires", "Sales, EMEA"]
    assert (
        sbx.http.post(groups, headers=sbx.coursepath_jwt(), data={"name": "Nope"}).status_code
        == 404
    )
    inside = sbx.http.get(
        url(sbx, "/api/v1/groups/g3/members"), headers=sbx.coursepath_jwt()
    ).json()
    assert [m["id"] for m in inside] == [member]
    sbx.http.delete(groups, params={"name": "New hires"}, headers=sbx.coursepath_jwt())
    assert [g["name"] for g in sbx.http.get(groups, headers=sbx.coursepath_jwt()).json()] == [
        "Sales, EMEA"
    ]
    invite = sbx.http.post(
        url(sbx, f"/api/v1/courses/12345/members/{member}/invite"), headers=sbx.coursepath_jwt()
    )
    assert invite.json() == {"sent": True}
    assert len(sbx.created("coursepath", "invite")) == 1
