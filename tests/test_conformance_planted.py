"""The conformance suite catches wrong declarations, not only inconsistent ones.

Six mistakes are planted, one at a time, in a copy of the tests' own vendor (tests/fake_vendor,
whose sandbox enforces its documented 5 creates a second and 2 requests at once): each copy is
still consistent with itself, and the suite fails on each, naming the problem; the vendor as it
is passes every check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from importer.sending.protocol import Answer, Call, Outcome
from importer.sending.throttle import RatePolicy
from importer.testing import failures
from importer.vendors import Plugin
from tests.fake_vendor import PLUGIN as FAKE

_Wire: Any = type(FAKE.wire)


class _Forbidden(_Wire):  # type: ignore[misc]
    """A 403 classed as the row's own refusal (and documented so: consistent, and wrong)."""

    documented_errors = (*_Wire.documented_errors, (403, {"problem": "no"}, "rejected", "no"))

    def interpret(self, call: Call, answer: Answer) -> Outcome:
        if answer.status == 403:
            return Outcome("rejected", message="Acme refused: no.")
        return super().interpret(call, answer)  # type: ignore[no-any-return]


class _Colour(_Wire):  # type: ignore[misc]
    """A request carrying a column the schema does not declare."""

    def calls(self, values: Mapping[str, str | None]) -> list[Call]:
        calls: list[Call] = super().calls(values)
        return [dataclasses.replace(c, json={**c.json, "colour": "blue"}) for c in calls]


class _WrongKey(_Wire):  # type: ignore[misc]
    """created_id reading the wrong key of the row's results."""

    def created_id(self, results: Mapping[str, str]) -> str | None:
        return results.get("id")


def _with(**attributes: Any) -> type:
    return type("Planted", (_Wire,), attributes)


#: Each planted mistake: the wire's class, the check that must fail, words its message must say.
PLANTED = {
    "a rate above the limit": (
        _with(rate=RatePolicy(rate=50.0, documented=50.0, description="50 calls a second")),
        "rate",
        "the declared rate is above the vendor's limit",
    ),
    "a concurrency the sandbox refuses": (
        _with(max_concurrency=4),
        "concurrency",
        "declares max_concurrency = 4, but its sandbox takes 2",
    ),
    "resend_safe on a create that is not idempotent": (
        _with(resend_safe=True),
        "resend_safe",
        "declare resend_safe = False",
    ),
    "a 403 classed as rejected": (_Forbidden, "shared_classes", "a 403 answer"),
    "an undeclared field": (_Colour, "only_declared_fields", "sends ['colour']"),
    "a wrong success shape": (_WrongKey, "round_trip", "created_id gave ''"),
}


def planted(wire: type) -> Plugin:
    """A copy of the tests' vendor with another wire (same name: registered by each check)."""
    return dataclasses.replace(FAKE, wire=wire())


def test_the_vendor_as_it_is_passes_every_check(tmp_path: Path) -> None:
    assert failures(FAKE, tmp_path) == {}


@pytest.mark.parametrize("mistake", PLANTED)
def test_the_suite_catches_a_planted_mistake(mistake: str, tmp_path: Path) -> None:
    wire, check, words = PLANTED[mistake]
    failed = failures(planted(wire), tmp_path)
    assert check in failed, f"{mistake} passed the suite ({failed})"
    assert words in failed[check], failed[check]
