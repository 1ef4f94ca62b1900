"""Send one row's calls to the vendor: pacing, retries, and never a duplicate.

The rules, from the vendors' contracts (shared/VENDORS.md, design consequence 3):

* a 429, a lock, or a connection that was never made means nothing was done:
  wait (``Retry-After``, the lock's end, or backoff with jitter) and retry,
  a bounded number of times;
* a timeout, a dropped connection or a 5xx answer to a *write* means the
  outcome is unknown: the row is marked ``unknown`` and never resent blindly
  (reads are simply retried);
* a refused token is renewed once; credentials or scopes refused are fatal.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from importer.adapters.base import Adapter, Answer, Call, Outcome
from importer.auth import Auth, make_auth
from importer.clock import Clock
from importer.errors import FatalVendorError
from importer.secret import Secret, redact
from importer.throttle import Pacer

if TYPE_CHECKING:
    from importer.config import RunSettings

__all__ = ["RowResult", "Sender", "sender_for"]

#: Statuses a row can end with (besides "invalid", decided before sending).
CREATED, REJECTED, UNKNOWN, NOT_SENT = "created", "rejected", "unknown", "not sent"
SKIPPED, CHANGED = "skipped", "changed"


@dataclass
class RowResult:
    """What happened to one row at the vendor."""

    status: str
    created_id: str = ""
    message: str = ""
    steps: list[str] = field(default_factory=list)
    requests: int = 0


@dataclass
class Sender:
    """Sends rows' calls through one HTTP client, under one pacer.

    Attributes:
        adapter: the vendor's adapter.
        client: the HTTP client (its transport decides where requests go).
        base_url: the vendor's API host (and prefix).
        auth: the vendor's authentication.
        pacer: the vendor's rate pacing, shared by every worker.
        clock: the clock to wait on.
        secrets: values to scrub from any message.
        max_tries: tries per call for retryable failures.
        max_locks: account locks waited out before giving up.
        backoff: first backoff delay in seconds (doubled each try, with jitter).
        notify: called with a sentence when something worth telling happens (a lock).
    """

    adapter: Adapter
    client: httpx.Client
    base_url: str
    auth: Auth
    pacer: Pacer
    clock: Clock
    secrets: list[Secret] = field(default_factory=list)
    max_tries: int = 5
    max_locks: int = 3
    backoff: float = 1.0
    notify: Callable[[str], None] = lambda message: None
    rng: random.Random = field(default_factory=random.Random)
    locks: int = 0
    requests: int = 0

    def import_row(self, values: Mapping[str, str | None]) -> RowResult:
        """Make every call of a row, in order; stop at the first that does not succeed."""
        results: dict[str, str] = {}
        result = RowResult(CREATED)
        for call in self.adapter.calls(values):
            if (call.skip_if and call.skip_if in results) or (
                call.only_if and call.only_if not in results
            ):
                continue
            outcome = self._send(call, results, result)
            if outcome.kind == "ok":
                if call.result and outcome.ident:
                    results[call.result] = outcome.ident
                if call.writes:
                    result.steps.append(call.name)
                continue
            done = f" (done before: {', '.join(result.steps)})" if result.steps else ""
            if outcome.kind == "retry":  # tries exhausted; this call did nothing
                result.status = REJECTED if result.steps else NOT_SENT
            else:
                result.status = REJECTED if outcome.kind == "rejected" else UNKNOWN
            result.message = self._clean(outcome.message) + done
            break
        result.created_id = self.adapter.created_id(results) or ""
        return result

    def _send(self, call: Call, results: Mapping[str, str], row: RowResult) -> Outcome:
        tries = 0
        renewed = False
        while True:
            tries += 1
            outcome = self._once(call, results)
            row.requests += 1
            kind = outcome.kind
            if kind == "unknown" and not call.writes:
                kind = "retry"  # a read changes nothing: simply try again
            if kind == "ok":
                self.pacer.succeeded()
                return outcome
            if kind in ("rejected", "unknown"):
                return outcome
            if kind == "fatal":
                raise FatalVendorError(self._clean(outcome.message))
            if kind == "reauth":
                if renewed:
                    raise FatalVendorError(
                        self._clean(outcome.message) + " A new token was refused too."
                    )
                renewed = True
                self.auth.invalidate()
                continue
            if kind == "locked":
                self.locks += 1
                if self.locks > self.max_locks:
                    raise FatalVendorError(
                        f"{outcome.message}, {self.locks} times: another tool may be using the "
                        "same account. Stopped; re-run later."
                    )
                wait = outcome.retry_after or 300.0
                self.notify(f"{outcome.message}: waiting {wait:.0f} s, then resuming.")
                self.pacer.pause_for(wait)
                tries -= 1  # waiting out a lock is not a failed try
                continue
            # retry: nothing was done
            if outcome.message == "too many requests":
                self.pacer.slow_down()
            if tries >= self.max_tries:
                return Outcome(
                    "retry",
                    message=f"gave up after {tries} tries ({outcome.message}); safe to re-run",
                )
            delay = outcome.retry_after
            if delay is None:
                delay = self.backoff * 2 ** (tries - 1) * (0.5 + self.rng.random())
            self.pacer.pause_for(delay)

    def read(self, call: Call) -> Answer | None:
        """A read, retried like any read (429, 5xx, connection); ``None`` if it kept failing.

        Raises:
            FatalVendorError: the credentials were refused, even after a new token.
        """
        renewed = False
        for tries in range(1, self.max_tries + 1):
            got = self._exchange(call, {})
            if isinstance(got, Answer) and got.status == 200:
                return got
            if isinstance(got, Answer) and got.status in (401, 403):
                if got.status == 401 and not renewed:
                    renewed = True
                    self.auth.invalidate()
                    continue
                raise FatalVendorError(
                    f"the vendor refused to {call.name} ({got.status}): check the credentials "
                    "and their scopes."
                )
            if isinstance(got, Answer) and got.status < 500 and got.status != 429:
                return got  # a definite answer (404...): the caller reads it
            retry_after = got.retry_after if isinstance(got, Outcome) else None
            delay = retry_after or self.backoff * 2 ** (tries - 1) * (0.5 + self.rng.random())
            self.pacer.pause_for(delay)
        return None

    def reconcile(self, values: Mapping[str, str | None]) -> tuple[str, str | None]:
        """Whether a row whose answer was lost exists at the vendor.

        Returns ``("found", id)``, ``("absent", None)``, ``("resend", None)`` when
        resending is harmless, or ``("unchecked", None)`` when the vendor gives no
        way to check (or the check itself kept failing).
        """
        if self.adapter.resend_safe:
            return "resend", None
        call = self.adapter.lookup(values)
        if call is None:
            return "unchecked", None
        failures = 0
        while call is not None:
            got = self._exchange(call, {})
            if isinstance(got, Answer) and got.status == 401 and failures == 0:
                self.auth.invalidate()
                failures += 1
                continue
            if not isinstance(got, Answer) or got.status != 200:
                failures += 1
                if failures >= self.max_tries:
                    return "unchecked", None
                delay = self.backoff * 2 ** (failures - 1) * (0.5 + self.rng.random())
                self.pacer.pause_for(delay)
                continue
            ident, call = self.adapter.found(call, got, values)
            if ident:
                return "found", ident
        return "absent", None

    def _once(self, call: Call, results: Mapping[str, str]) -> Outcome:
        """One request, its answer interpreted by the adapter."""
        got = self._exchange(call, results)
        return got if isinstance(got, Outcome) else self.adapter.interpret(call, got)

    def _exchange(self, call: Call, results: Mapping[str, str]) -> Answer | Outcome:
        """One request; transport failures classed by whether the request may have arrived."""
        self.pacer.acquire()
        self.requests += 1
        if call.path.startswith(("http://", "https://")):
            url = call.path  # a next-page link given by the vendor
        else:
            url = self.base_url.rstrip("/") + call.path.format_map(results)
        try:
            headers = self.auth.headers()
            answer = self.client.request(
                call.method,
                url,
                json=call.json,
                data=dict(call.form) if call.form is not None else None,
                params=dict(call.params) if call.params is not None else None,
                headers=headers,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # The request never left: safe to retry.
            return Outcome("retry", message=f"could not connect ({type(error).__name__})")
        except httpx.TransportError as error:
            # Timeouts, dropped connections: it may have been processed.
            return Outcome("unknown", message=_LOST.format(name=type(error).__name__))
        body: Any
        try:
            body = answer.json()
        except ValueError:
            body = answer.text
        return Answer(answer.status_code, body, answer.headers)

    def _clean(self, message: str) -> str:
        return redact(message, self.secrets)


def sender_for(
    adapter: Adapter,
    settings: RunSettings,
    client: httpx.Client,
    clock: Clock,
    pacer: Pacer | None = None,
    notify: Callable[[str], None] | None = None,
) -> Sender:
    """A sender for ``settings``: its host, credentials (as auth and as secrets to scrub),
    tries, and a pacer at the vendor's rate under the user's ceiling unless one is given."""
    return Sender(
        adapter=adapter,
        client=client,
        base_url=settings.base_url,
        auth=make_auth(adapter.auth, settings.credentials, settings.auth_url, client, clock),
        pacer=pacer or Pacer(adapter.rate.capped(settings.rate), clock),
        clock=clock,
        secrets=list(settings.credentials.values()),
        max_tries=settings.max_tries,
        notify=notify or (lambda message: None),
    )


_LOST = (
    "the answer was lost ({name}): the vendor may have created it. Check before importing "
    "this row again"
)
