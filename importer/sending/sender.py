"""Send one row's calls to the vendor: pacing, one retry policy, and never a duplicate.

Every request (creates, lookups, lists, exports) goes through one loop,
:meth:`Sender._attempt`, with one set of rules (shared/VENDORS.md, design
consequence 3):

* a 429, a lock, or a connection that was never made means nothing was done:
  wait (``Retry-After`` in seconds or as a date, the lock's end, or backoff
  with jitter) and retry, bounded by tries *and* by total waiting time
  (:class:`~importer.sending.retry.RetryPolicy`, which token requests follow too);
  a vendor asking for more than :data:`~importer.sending.throttle.MAX_WAIT` stops the run;
* a timeout, a dropped connection, a 5xx or an undocumented 2xx answer to a
  *write* means the outcome is unknown: the row is marked ``unknown`` and never
  resent blindly (reads are simply retried);
* a refused token is renewed once; credentials or scopes refused are fatal;
* a failure after the last try is a fact about the vendor (``not sent``, safe to
  re-run, with the real cause), never a claim about the user's data;
* after :attr:`Sender.breaker` requests in a row that failed on the wire or with
  a 5xx, the vendor is taken as down: the run stops instead of retrying each row
  for minutes (a circuit breaker);
* a request that cannot be built from a row's values (a URL longer than
  :data:`~importer.sending.outgoing.MAX_TARGET`, text that cannot be encoded) is never sent:
  that row is ``invalid``, and the run goes on (:mod:`importer.sending.outgoing`);
* a redirect (3xx) is a host that is wrong, not an answer about the row: the run
  stops, naming the host and where it points (see :meth:`Sender._redirected`).
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from importer.core.clock import Clock
from importer.core.errors import FatalVendorError, VendorUnavailableError
from importer.core.outcomes import RowResult, Status
from importer.core.secret import HELD, Redactor, Secret, token_shaped
from importer.sending.auth import Auth, AuthFactory
from importer.sending.outgoing import Unsendable, build_request, longest_cell, unbuilt
from importer.sending.ports import Tokens
from importer.sending.protocol import (
    SETUP_DOUBTS,
    Adapter,
    Answer,
    Call,
    LookupUnsure,
    Outcome,
    retry_after_header,
    snippet,
)
from importer.sending.retry import RetryPolicy, retryable
from importer.sending.throttle import Pacer, PacerStopped, check_wait

if TYPE_CHECKING:
    from importer.core.settings import RunSettings

__all__ = ["RowResult", "Sender", "sender_for"]


#: Pages of a lookup read at most (a ``Link`` that loops must not loop forever).
MAX_PAGES = 200

Interpreter = Callable[[Call, Answer], Outcome]


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
        retry: tries, backoff and waits for retryable failures (the token requests' too).
        max_locks: account locks waited out before giving up.
        breaker: requests failing in a row (wire or 5xx) before the vendor is taken as down.
        notify: called with a sentence when something worth telling happens (a lock).
        transport: the client's own transport, when the run made the client (see
            :meth:`_request`); ``None``: every request through ``client.request``.
        label: a field's column label, for messages (the vendor's sheet declares them).
    """

    adapter: Adapter
    client: httpx.Client
    base_url: str
    auth: Auth
    pacer: Pacer
    clock: Clock
    secrets: list[Secret] = field(default_factory=list)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_locks: int = 3
    breaker: int = 10
    notify: Callable[[str], None] = lambda message: None
    transport: httpx.BaseTransport | None = None
    label: Callable[[str], str] = str
    rng: random.Random = field(default_factory=random.Random)
    locks: int = 0
    requests: int = 0
    _failing: int = 0
    _tripped: str = ""
    #: Why the run must stop although no later request may show it (a redirect): its sentence.
    halted: str = ""
    _lock_times: list[float] = field(default_factory=list)
    _done: bool = False  # a write of this run succeeded (see _doubt)
    _doubts: int = 0

    #: Seconds over which locks are counted toward ``max_locks``.
    LOCK_MEMORY = 1800.0
    _full: set[str] = field(default_factory=set)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _urls: dict[str, httpx.URL] = field(default_factory=dict)
    #: Every credential of the run, identities (an email, a company ID) included: masked in
    #: the messages this sender writes, on top of the secrets the process holds (:data:`HELD`).
    _own: Redactor = field(default_factory=Redactor)

    def __post_init__(self) -> None:
        for secret in self.secrets:
            self._own.add(secret)

    def import_row(self, values: Mapping[str, str | None]) -> RowResult:
        """Make every call of a row, in order; stop at the first that does not succeed.

        A call that cannot be built from the row's values is never sent: the row is
        ``invalid`` (``rejected`` when an earlier call of it was done), the run goes on.
        """
        results: dict[str, str] = {}
        result = RowResult(Status.CREATED)
        try:
            calls = self.adapter.calls(values)
        except Exception as error:  # a value the adapter cannot turn into a request
            return RowResult(Status.INVALID, message=self._clean(unbuilt(Unsendable.of(error))))
        for call in calls:
            if (call.skip_if and call.skip_if in results) or (
                call.only_if and call.only_if not in results
            ):
                continue
            try:
                outcome, _ = self._attempt(call, results, self.adapter.interpret, result)
            except Unsendable as error:
                done = f" (done before: {', '.join(result.steps)})" if result.steps else ""
                result.status = Status.REJECTED if result.steps else Status.INVALID
                said = unbuilt(error, self._longest(values), self.adapter)
                result.message = self._clean(said) + done
                break
            if outcome.kind == "ok":
                if call.result and outcome.ident:
                    results[call.result] = outcome.ident
                if call.writes:
                    result.steps.append(call.name)
                continue
            done = f" (done before: {', '.join(result.steps)})" if result.steps else ""
            if outcome.kind == "retry":  # tries exhausted; this call did nothing
                result.status = Status.REJECTED if result.steps else Status.NOT_SENT
            else:
                result.status = Status.REJECTED if outcome.kind == "rejected" else Status.UNKNOWN
            result.message = self._clean(outcome.message) + done
            break
        result.created_id = self.adapter.created_id(results) or ""
        return result

    def read(self, call: Call, expect: Callable[[Answer], bool] | None = None) -> Answer:
        """A read under the retry policy; its definite answer (a 2xx, or a 4xx such as 404).

        Args:
            call: the read.
            expect: whether a 2xx answer has the documented shape; one that has not
                proves nothing, and is retried like a 5xx.

        Raises:
            VendorUnavailableError: the vendor kept failing (nothing was changed).
            FatalVendorError: the credentials or scopes were refused.
        """

        def interpret(call: Call, answer: Answer) -> Outcome:
            return self._read_outcome(call, answer, expect)

        try:
            outcome, answer = self._attempt(call, {}, interpret)
        except Unsendable as error:  # nothing was sent; to the caller, a read that failed
            raise VendorUnavailableError(
                self._clean(f"could not {call.name}: {unbuilt(error)}")
            ) from None
        if outcome.kind in ("ok", "rejected") and answer is not None:
            return answer
        raise VendorUnavailableError(self._clean(f"could not {call.name}: {outcome.message}"))

    def reconcile(self, values: Mapping[str, str | None]) -> tuple[str, str | None]:
        """Whether a row whose answer was lost exists at the vendor.

        Returns ``("found", id)``, ``("absent", None)``, ``("resend", None)`` when
        resending is harmless, or ``("unchecked", None)`` when the vendor gives no
        way to check (or the check itself kept failing: never a reason to resend).
        """
        if self.adapter.resend_harmless(values):
            return "resend", None
        call: Call | None = self.adapter.lookup(values)
        if call is None:
            return "unchecked", None
        for _ in range(MAX_PAGES):
            if call is None:
                return "absent", None
            try:
                answer = self.read(call, expect=self.adapter.listed)
            except VendorUnavailableError:
                return "unchecked", None
            if not 200 <= answer.status < 300:
                return "unchecked", None
            try:
                ident, call = self.adapter.found(call, answer, values)
            except LookupUnsure:
                return "unchecked", None
            if ident:
                return "found", ident
        return "unchecked", None  # more pages than any real list: a loop

    def _attempt(
        self,
        call: Call,
        results: Mapping[str, str],
        interpret: Interpreter,
        row: RowResult | None = None,
    ) -> tuple[Outcome, Answer | None]:
        """One call under the retry policy (see the module docstring): its last outcome."""
        retries, renewed, waited_clean = self.retry.start(self.rng), False, False
        while True:
            got, sent_at = self._exchange(call, results)
            if row is not None:
                row.requests += 1
            answer = got if isinstance(got, Answer) else None
            if answer is not None and 300 <= answer.status < 400:
                return self._redirected(call, answer), answer
            outcome = interpret(call, got) if isinstance(got, Answer) else got
            self._count_failure(answer, outcome)
            kind = outcome.kind
            if kind == "unknown" and not call.writes:
                kind = "retry"  # a read changes nothing: simply try again
            if kind == "ok":
                self.pacer.succeeded()
                self._done = self._done or call.writes
                return outcome, answer
            if kind == "rejected":
                if outcome.probe is not None:
                    self._probe(outcome)
                if outcome.setup:
                    return self._doubt(outcome), answer
                return outcome, answer
            if kind == "unknown":
                return outcome, answer
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
                if outcome.maybe:
                    where = f"{call.method} {call.path.format_map(dict(results))}"
                    if waited_clean or where in self._full:
                        self._full.add(where)
                        return Outcome("rejected", message=outcome.message), answer
                    waited_clean = True
                self._wait_lock(outcome, answer)
                continue
            # retry: nothing was done
            if answer is not None and answer.status == 429:
                self.pacer.slow_down(sent_at)
            delay = retries.next_wait(outcome.retry_after, self.adapter.name, outcome.message)
            if delay is None:
                return (
                    Outcome(
                        "retry",
                        message=f"gave up after {retries.tries} tries ({outcome.message}); "
                        "safe to re-run",
                    ),
                    answer,
                )
            self.pacer.pause_for(delay, outcome.message)

    def _wait_lock(self, outcome: Outcome, answer: Answer | None) -> None:
        """Wait out an account lock, saying whose it most likely is; stop after ``max_locks``
        locks within :attr:`LOCK_MEMORY` seconds (a long backfill may meet a few, hours apart).

        A possible lock (``maybe``: Zoho's 422) is waited out like one, but neither counted
        nor blamed on anyone: it may be the row's own module being full.
        """
        wait = check_wait(outcome.retry_after) or 300.0
        shown = f" ({snippet(answer).strip()})" if answer is not None else ""
        if outcome.maybe:
            status = answer.status if answer is not None else "an answer"
            message = (
                f"{self.adapter.name} answered {status}{shown}: maybe a lock; waiting "
                f"{wait:.0f} s, then trying once more"
            )
        else:
            now = self.clock.monotonic()
            with self._guard:
                self.locks += 1
                self._lock_times = [t for t in self._lock_times if now - t < self.LOCK_MEMORY]
                self._lock_times.append(now)
                recent = len(self._lock_times)
            window = self.adapter.rate.window
            cause = ""
            if window is not None:
                ours = self.pacer.calls_within(window.seconds)
                if ours < window.limit:
                    cause = (
                        f" although this run made {ours} calls in the last "
                        f"{window.seconds:.0f} s: another tool is using the same account"
                    )
            message = outcome.message + (cause or shown)
            if recent > self.max_locks:
                minutes = self.LOCK_MEMORY / 60
                raise FatalVendorError(
                    self._clean(
                        f"{message}, {recent} times in {minutes:.0f} minutes. Stopped; the rest "
                        "is safe to re-run later."
                    )
                )
            message += f": waiting {wait:.0f} s, then resuming"
        if wait > self.retry.max_wait:
            raise VendorUnavailableError(
                self._clean(f"{message.split(': waiting')[0]}, for {wait / 3600:.1f} hours. "
                            "Stopped; re-run later.")
            )  # fmt: skip
        self.notify(self._clean(message + "."))
        self.pacer.pause_for(wait, outcome.message)

    def _doubt(self, outcome: Outcome) -> Outcome:
        """A refusal that may be the run's settings (``setup``): the row's own once a row of the
        run was done; before that, held back (nothing was done: ``retry``, so ``not sent``),
        and the :data:`~importer.sending.protocol.SETUP_DOUBTS`-th stops the run, naming the
        likely cause."""
        with self._guard:
            if self._done:
                return Outcome("rejected", message=outcome.message)
            self._doubts += 1
            doubts = self._doubts
        if doubts >= SETUP_DOUBTS:
            raise FatalVendorError(
                self._clean(
                    f"{self.adapter.name} refused the first {doubts} rows alike "
                    f"({outcome.message.rstrip('.')}) and nothing was created: {outcome.setup}. "
                    "Stopped; the rows not sent are safe to re-run."
                )
            )
        return Outcome(
            "retry",
            message=f"not sent: {outcome.message.rstrip('.')}; nothing was created by this run "
            f"yet, and if every row gets this answer, {outcome.setup}",
        )

    def _redirected(self, call: Call, answer: Answer) -> Outcome:
        """A redirect: the host (or its path) is wrong. Stop the run, naming both.

        No vendor documents a redirect (their docs are silent), and whatever answers at that
        host (a proxy, a load balancer, a web site) is not the API we were given: a 301 or 308
        is most often an old host or http->https, answered before any application saw the
        request, but a 302 or 303 is also what an
        application answers *after* acting on a POST (Post/Redirect/Get), and nothing in the
        answer tells the two apart. So a write's row is ``unknown`` (looked up before any
        resend, on the right host), never ``rejected``: the answer says nothing about the
        row. A read changed nothing. Either way no later request is sent: every one would
        meet the same redirect, and following it would carry our credentials to a host the
        user never named.
        """
        where = answer.headers.get("location") or "(no Location given)"
        scheme, host = _origin(self.base_url)
        stop = self._clean(
            f"configuration problem: {scheme}://{host} answered {answer.status} to "
            f"{call.method} {call.name}, redirecting to {where}: the host (--base-url, or "
            "base_url in the job file) is likely not the vendor's API host. Stopped; check "
            "the host, then run again"
        )
        with self._guard:
            self._tripped = self._tripped or stop
            self.halted = self.halted or stop
        if not call.writes:
            raise FatalVendorError(stop)
        return Outcome(
            "unknown",
            message=f"the host answered {answer.status} (a redirect to {where}) to "
            f"{call.name}: it may have been created; checked before it is sent again",
        )

    def _probe(self, outcome: Outcome) -> None:
        """A refusal that may be the whole account's: the probe refused too means it is."""
        assert outcome.probe is not None
        try:
            got, _ = self._exchange(outcome.probe, {})
        except Unsendable:  # the probe cannot be built: the refusal stays the row's
            return
        if isinstance(got, Answer) and got.status in (401, 403):
            raise FatalVendorError(
                self._clean(
                    f"{outcome.message} The vendor refuses the acting account itself "
                    f"({got.status} to {outcome.probe.name}): check the credentials and rights."
                )
            )

    def _read_outcome(
        self, call: Call, answer: Answer, expect: Callable[[Answer], bool] | None
    ) -> Outcome:
        """What an answer to a read means (the vendor's own signals first)."""
        signal = self.adapter.signal(answer)
        if signal is not None:
            return signal
        status = answer.status
        if 200 <= status < 300:
            if expect is None or expect(answer):
                return Outcome("ok")
            return Outcome("retry", message=f"an undocumented answer {status}{snippet(answer)}")
        if status == 401:
            return Outcome("reauth", message=f"the vendor refused the token to {call.name}.")
        if status == 403:
            return Outcome(
                "fatal",
                message=f"the vendor refused to {call.name} (403): check the credentials "
                "and their scopes.",
            )
        if retryable(status):
            return Outcome(
                "retry",
                message=f"{'too many requests' if status == 429 else 'answered'} "
                f"{status}{snippet(answer)}",
                retry_after=retry_after_header(answer),
            )
        return Outcome("rejected", message=f"answered {status}{snippet(answer)}")

    def _count_failure(self, answer: Answer | None, outcome: Outcome) -> None:
        """The circuit breaker: stop once ``breaker`` requests in a row failed (wire or 5xx)."""
        if answer is not None:
            failed = answer.status >= 500
        else:  # no answer: the wire failed (or we refused to follow a link: not a failure)
            failed = outcome.kind in ("retry", "unknown")
        with self._guard:
            self._failing = self._failing + 1 if failed else 0
            if failed and self._failing >= self.breaker and not self._tripped:
                # This call keeps its own outcome (it may have been done); no call follows.
                self._tripped = self._clean(
                    f"{self.adapter.name} looks down: {self._failing} requests in a row failed "
                    f"(the last: {outcome.message}). Stopped; the rows not sent are safe to "
                    "re-run later."
                )

    def _exchange(self, call: Call, results: Mapping[str, str]) -> tuple[Answer | Outcome, float]:
        """One request, and when it left; transport failures classed by whether it may
        have arrived."""
        if call.path.startswith(("http://", "https://")):
            url = call.path  # a next-page link given by the vendor
            if _origin(url) != _origin(self.base_url):
                # Our token must never travel to another host, whatever a Link header says.
                return Outcome(
                    "rejected", message=f"a next-page link to another host ({_origin(url)})"
                ), self.pacer.now()
        if self._tripped:
            raise VendorUnavailableError(self._tripped)
        # Built before a slot is taken: one that cannot be built is never sent (Unsendable).
        request = self._build(call, results)
        ticket = self.pacer.acquire()
        sent_at = self.pacer.now()
        with self._guard:
            self.requests += 1
        headers = self.auth.headers()
        _hold(headers)
        try:
            answer = self._request(request, headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # The request never left: safe to retry.
            return Outcome("retry", message=f"could not connect ({type(error).__name__})"), sent_at
        except (httpx.LocalProtocolError, UnicodeEncodeError):
            # Refused before a byte was written (h11, http.client and httpx check headers
            # first). A call carries no header made from a row: these are the credentials'
            # or the token's, the same for every row. Never quoted: they are secrets.
            raise FatalVendorError(
                "a credential or access token holds a character HTTP headers cannot carry "
                "(a line break, a control character or a letter outside ASCII): check the "
                "credentials. Nothing was sent."
            ) from None
        except httpx.TransportError as error:
            # Timeouts, dropped connections: it may have been processed.
            return Outcome("unknown", message=_LOST.format(name=type(error).__name__)), sent_at
        finally:
            self.pacer.release(ticket)
        body: Any = _received(answer)
        return Answer(answer.status_code, body, answer.headers), sent_at

    def _build(self, call: Call, results: Mapping[str, str]) -> httpx.Request:
        """The request of ``call`` without the credentials (see :func:`build_request`).

        Raises:
            Unsendable: it cannot be built: nothing was sent.
        """
        own = self.transport is not None
        return build_request(call, self.base_url, results, self.client, self._urls, own)

    def _request(self, request: httpx.Request, headers: Mapping[str, str]) -> httpx.Response:
        """Send ``request`` with ``headers`` (the credentials); its whole answer.

        With :attr:`transport` (a client the run made for itself: no cookies, hooks, auth
        flow or redirects of its own to honour), the request goes straight to it, with the
        client's headers and timeouts: half of httpx's own CPU a request (0.26 ms instead
        of 0.40 on the project machine, issue 15). Errors are httpx's either way.
        """
        request.headers.update(headers)
        if self.transport is None:
            return self.client.send(request)
        answer = self.transport.handle_request(request)
        try:
            answer.read()
        finally:
            answer.close()
        return answer

    def _clean(self, message: str) -> str:
        return HELD(self._own(message))

    def _longest(self, values: Mapping[str, str | None]) -> str:
        return longest_cell(self.label, values)


#: Header names whose values are credentials (``Authorization``, ``X-apiKey``...).
_SECRET_HEADERS = ("authorization", "key", "token", "secret", "password", "cookie")


def _hold(headers: Mapping[str, str]) -> None:
    """Know the credentials a request carries before it leaves, whatever gave them (tokens and
    keys are held where they are obtained: this is the net under them): the answer may quote
    them back. A JWT signed for this one request (Coursepath) is masked by its shape instead:
    holding one per request would grow the list of secrets without end."""
    for name, value in headers.items():
        if any(part in name.lower() for part in _SECRET_HEADERS):
            # "Bearer <token>": the token is the secret; its scheme is a common word.
            scheme, _, credential = value.partition(" ")
            credential = credential or scheme
            if not token_shaped(credential):
                HELD.add(credential)


def _received(answer: httpx.Response) -> Any:
    """An answer's body (JSON, else text), every secret the process holds masked in it.

    Masked as it arrives, before anything reads it: an error quoting a token is then safe to
    show whole or cut short (a quote cut mid-token would otherwise show its first half), and
    the JSON escapes of a token are masked before parsing turns them into the token itself.
    """
    text = answer.text
    masked = HELD.known(text)
    if masked == text:
        try:
            return answer.json()
        except ValueError:
            return text
    try:
        return json.loads(masked)
    except ValueError:
        return masked


class _StopAware:
    """A clock whose sleeps end early, with :class:`PacerStopped`, once the pacer is stopped."""

    def __init__(self, clock: Clock, pacer: Pacer) -> None:
        self.clock, self.pacer = clock, pacer

    def time(self) -> float:
        return self.clock.time()

    def monotonic(self) -> float:
        return self.clock.monotonic()

    def sleep(self, seconds: float) -> None:
        end = self.clock.monotonic() + seconds
        while True:
            if self.pacer.stopped:
                raise PacerStopped
            left = end - self.clock.monotonic()
            if left <= 0:
                return
            self.clock.sleep(min(left, 0.5))

    async def asleep(self, seconds: float) -> None:
        await self.clock.asleep(seconds)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def sender_for(
    adapter: Adapter,
    settings: RunSettings,
    client: httpx.Client,
    clock: Clock,
    pacer: Pacer | None = None,
    notify: Callable[[str], None] | None = None,
    tokens: Tokens | None = None,
    transport: httpx.BaseTransport | None = None,
    *,
    auth: AuthFactory,
    label: Callable[[str], str] = str,
) -> Sender:
    """A sender for ``settings``: its host, credentials (as auth and as secrets to scrub),
    tries, and a pacer at the vendor's rate under the user's ceiling unless one is given.
    ``tokens`` keeps access tokens (shared by processes when it is a TokenStore);
    ``transport`` is the client's own, when the caller made both (see :meth:`Sender._request`);
    ``auth`` makes the vendor's authentication, ``label`` names a field as its sheet does (both
    declared by the vendor's plugin: :meth:`importer.vendors.plugin.Plugin.sender`)."""
    adapter = adapter.configured(settings.vendor_options)
    for name, value in settings.credentials.items():
        # Secrets (API keys, client secrets, refresh tokens, JWT keys) are masked in whatever
        # the process writes; identities (an email, a client or company ID) in this run's
        # messages only: they may be data of a row too.
        if any(part in name for part in ("SECRET", "TOKEN", "KEY", "PASSWORD")):
            HELD.add(value)
    policy = adapter.rate.capped(settings.rate, settings.beyond_documented_rate)
    pacer = pacer or Pacer(policy, clock)
    # Token hosts may ask for long waits (Zoho's token budget): a stop must end them too.
    waits = _StopAware(clock, pacer)
    # One policy for the calls and for the token host's requests.
    retry = RetryPolicy(max_tries=settings.max_tries)
    return Sender(
        adapter=adapter,
        client=client,
        base_url=settings.base_url,
        auth=auth(settings.credentials, settings.auth_url, client, waits, tokens, retry=retry),
        pacer=pacer,
        clock=clock,
        secrets=list(settings.credentials.values()),
        retry=retry,
        notify=notify or (lambda message: None),
        transport=transport,
        label=label,
    )


_LOST = (
    "the answer was lost ({name}): the vendor may have created it. Check before importing "
    "this row again"
)
