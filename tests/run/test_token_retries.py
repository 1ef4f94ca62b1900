"""A token host's failures are retried by the sender's own policy: the same tries, the same
backoff with jitter, its Retry-After honoured up to MAX_WAIT, on the run's clock."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from importer.api import resolve_settings
from importer.core.clock import FakeClock
from importer.core.errors import FatalVendorError, VendorUnavailableError
from importer.sending.retry import RetryPolicy
from importer.sending.sender import Sender
from importer.sending.throttle import MAX_WAIT, Pacer
from importer.store.tokens import MemoryTokens
from importer.vendors import plugin

#: The vendors whose credentials are exchanged for an access token, and their token path.
TOKEN_VENDORS = {"zoho-people": "/oauth/v2/token", "360learning-v2": "/api/v2/oauth2/token"}
_SEED = 20260105


class _TokenHost:
    """A token host that answers from a script (then 200 with a token), noting when each
    request arrived on the run's clock."""

    def __init__(self, clock: FakeClock, script: list[Callable[[], httpx.Response]]) -> None:
        self.clock, self.script, self.times = clock, script, []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.times.append(self.clock.time())
        if self.script:
            return self.script.pop(0)()
        return httpx.Response(200, json={"access_token": "fresh-token-0001", "expires_in": 3600})

    def gaps(self) -> list[float]:
        """The waits between consecutive token requests."""
        return [b - a for a, b in zip(self.times, self.times[1:], strict=False)]


def _sender(vendor: str, host: _TokenHost, clock: FakeClock, **flags: Any) -> Sender:
    """A sender of ``vendor`` whose HTTP client reaches only ``host``."""
    chosen = plugin(vendor)
    env = {name: f"{name.lower()}-value-0001" for name in chosen.credentials}
    place = {"base_url": "http://127.0.0.1:9", "auth_url": "http://127.0.0.1:9"}
    settings = resolve_settings(vendor, flags=place | {"allow_http": True} | flags, env=env)
    client = httpx.Client(transport=httpx.MockTransport(host.handler))
    pacer = Pacer(chosen.wire.rate, clock)
    sender = chosen.sender(settings, client, clock, pacer, tokens=MemoryTokens())
    sender.auth.token.rng = random.Random(_SEED)  # type: ignore[attr-defined]
    return sender


def _policy_waits(policy: RetryPolicy, asked: list[float | None]) -> list[float]:
    """The waits the policy gives after each failed try, with the same jitter."""
    retries = policy.start(random.Random(_SEED))
    return [retries.next_wait(each, "the host", "why") or -1.0 for each in asked]


def _dropped() -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


@pytest.mark.parametrize("vendor", sorted(TOKEN_VENDORS))
def test_token_requests_follow_the_senders_own_policy(vendor: str) -> None:
    """The token host's requests are retried under the very policy of the run's calls (its
    tries come from the run's settings)."""
    sender = _sender(vendor, _TokenHost(FakeClock(), []), FakeClock(), max_tries=3)
    assert sender.retry.max_tries == 3
    assert sender.auth.token.retry is sender.retry  # type: ignore[attr-defined]


@pytest.mark.parametrize("vendor", sorted(TOKEN_VENDORS))
def test_a_503_then_200_waits_the_policys_backoff(vendor: str) -> None:
    """A token host answering 503 once: one backoff with jitter, as the policy gives it, then
    the token."""
    clock = FakeClock()
    host = _TokenHost(clock, [lambda: httpx.Response(503, text="<h1>busy</h1>")])
    sender = _sender(vendor, host, clock)
    assert "fresh-token-0001" in str(sender.auth.headers())
    assert host.gaps() == pytest.approx(_policy_waits(sender.retry, [None]))
    assert 0.5 * sender.retry.backoff <= host.gaps()[0] < 1.5 * sender.retry.backoff


@pytest.mark.parametrize("vendor", sorted(TOKEN_VENDORS))
def test_a_429_with_retry_after_waits_what_the_host_asked(vendor: str) -> None:
    """A 429 asking for 42 s (in seconds), then one asking until a date 17 s after its own Date
    header: exactly those waits, not backoff."""
    clock = FakeClock()
    script = [
        lambda: httpx.Response(429, headers={"Retry-After": "42"}),
        lambda: httpx.Response(
            429,
            headers={"Retry-After": _date(clock, 17), "Date": _date(clock, 0)},
        ),
    ]
    host = _TokenHost(clock, script)
    sender = _sender(vendor, host, clock)
    assert "fresh-token-0001" in str(sender.auth.headers())
    assert host.gaps() == pytest.approx([42.0, 17.0])


def _date(clock: FakeClock, ahead: float) -> str:
    """An HTTP date ``ahead`` seconds from the clock's now."""
    when = dt.datetime.fromtimestamp(clock.time() + ahead, dt.UTC)
    return format_datetime(when, usegmt=True)


@pytest.mark.parametrize("vendor", sorted(TOKEN_VENDORS))
def test_a_dropped_connection_is_retried_after_the_policys_backoff(vendor: str) -> None:
    """The connection drops before any answer, twice: two backoffs as the policy gives them."""
    clock = FakeClock()
    host = _TokenHost(clock, [_dropped, _dropped])
    sender = _sender(vendor, host, clock)
    assert "fresh-token-0001" in str(sender.auth.headers())
    assert len(host.times) == 3
    assert host.gaps() == pytest.approx(_policy_waits(sender.retry, [None, None]))


@pytest.mark.parametrize("vendor", sorted(TOKEN_VENDORS))
def test_a_host_that_keeps_failing_is_given_up_after_the_policys_tries(vendor: str) -> None:
    """A token host down for good: max_tries requests (the run's), the policy's waits between
    them, then "vendor unavailable", never "credentials refused"."""
    clock = FakeClock()
    host = _TokenHost(clock, [lambda: httpx.Response(502)] * 10)
    sender = _sender(vendor, host, clock, max_tries=4)
    with pytest.raises(VendorUnavailableError, match=r"after 4 tries .*were not refused"):
        sender.auth.headers()
    assert len(host.times) == 4
    assert host.gaps() == pytest.approx(_policy_waits(sender.retry, [None] * 3))


@pytest.mark.parametrize("vendor", sorted(TOKEN_VENDORS))
def test_a_retry_after_beyond_max_wait_stops_at_once(vendor: str) -> None:
    """A token host asking for more than MAX_WAIT: the run stops as "vendor unavailable" at
    once, as it does when the API host asks the same (no night spent waiting)."""
    clock = FakeClock()
    asked = str(int(MAX_WAIT * 2))
    host = _TokenHost(clock, [lambda: httpx.Response(503, headers={"Retry-After": asked})])
    sender = _sender(vendor, host, clock)
    started = clock.time()
    with pytest.raises(VendorUnavailableError, match=r"asked us to wait 2\.0 hours"):
        sender.auth.headers()
    assert len(host.times) == 1 and clock.time() == started


def test_zoho_access_denied_waits_its_window_then_gets_the_token() -> None:
    """Zoho's "Access Denied" (too many tokens in 10 minutes, by another tool) is waited out
    (600 s, its window), then the token comes."""
    clock = FakeClock()
    denied = httpx.Response(400, json={"error": "Access Denied", "status": "failure"})
    host = _TokenHost(clock, [lambda: denied])
    sender = _sender("zoho-people", host, clock)
    assert "fresh-token-0001" in str(sender.auth.headers())
    assert host.gaps() == pytest.approx([600.0])


def test_zoho_budget_waits_are_not_retries() -> None:
    """Nine tokens asked by other processes in the last 10 minutes: the first request waits for
    the budget (not a retry); a 503 after it still gets the policy's backoff and tries."""
    clock = FakeClock()
    host = _TokenHost(clock, [lambda: httpx.Response(503)])
    sender = _sender("zoho-people", host, clock, max_tries=2)
    token = sender.auth.token  # type: ignore[attr-defined]
    for _ in range(9):
        token.tokens.requested(token.account, clock.time())
    started = clock.time()
    assert "fresh-token-0001" in str(sender.auth.headers())
    assert host.times[0] - started >= 600.0  # the budget's window first
    assert host.gaps() == pytest.approx(_policy_waits(sender.retry, [None]))


def test_a_refusal_is_not_retried() -> None:
    """A documented refusal (401 invalid_client) is fatal at once: one request, no wait."""
    clock = FakeClock()
    refused = httpx.Response(401, json={"error": "invalid_client"})
    host = _TokenHost(clock, [lambda: refused])
    sender = _sender("360learning-v2", host, clock)
    with pytest.raises(FatalVendorError, match="refused the API credentials"):
        sender.auth.headers()
    assert len(host.times) == 1


# --- The policy itself ----------------------------------------------------------------------------


@pytest.mark.parametrize("asked", [None, float("nan"), float("inf"), -3.0])
def test_an_unusable_retry_after_means_backoff_with_jitter(asked: float | None) -> None:
    """No wait, or one that is no wait (NaN, infinite, negative): doubling backoff, jittered
    within [0.5, 1.5) of it."""
    retries = RetryPolicy(max_tries=10, backoff=2.0).start(random.Random(_SEED))
    waits = [retries.next_wait(asked, "the host", "why") for _ in range(4)]
    for tries, wait in enumerate(waits, start=1):
        assert wait is not None and 0.5 * 2.0 * 2 ** (tries - 1) <= wait < 1.5 * 2.0 * 2 ** (
            tries - 1
        )


def test_retries_are_bounded_by_tries_and_by_total_waiting() -> None:
    """Zoho's 600 s window asked twice: the second wait would pass the 900 s of total waiting,
    so the request gives up after two tries (and after max_tries whatever the waits)."""
    by_time = RetryPolicy().start()
    assert by_time.next_wait(600.0, "h", "w") == 600.0
    assert by_time.next_wait(600.0, "h", "w") is None and by_time.tries == 2
    by_tries = RetryPolicy(max_tries=3).start()
    assert [by_tries.next_wait(1.0, "h", "w") for _ in range(3)] == [1.0, 1.0, None]


@pytest.mark.parametrize(("status", "again"), [(408, True), (425, True), (429, True), (500, True),
                                               (503, True), (400, False), (401, False), (404, False)])  # fmt: skip
def test_which_statuses_are_tried_again(status: int, again: bool) -> None:
    """A request that changes nothing is tried again after 408, 425, 429 and any 5xx only."""
    from importer.sending.retry import retryable

    assert retryable(status) is again
