"""Authentication: what every vendor's ``auth`` builds on (each vendor's own is in its package).

:class:`Auth` gives each request its headers; :class:`TokenAuth` keeps an access token
fetched from a token host, renewed a minute before it expires.

Only a token host's documented refusals (400/401, Zoho's error fields) mean the
credentials are wrong: they raise :class:`FatalVendorError` with a message naming the
variables to check, never their values. A 429, a 5xx, a dead connection or an
undocumented answer is retried under the sender's own policy
(:class:`~importer.sending.retry.RetryPolicy`: the same tries, backoff with jitter,
``Retry-After`` up to :data:`~importer.sending.throttle.MAX_WAIT`); if it persists it is
:class:`VendorUnavailableError`.
Tokens are kept per account and shared between processes (:mod:`importer.store.tokens`).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from importer.core.clock import Clock
from importer.core.errors import FatalVendorError, VendorUnavailableError
from importer.core.secret import HELD, Secret
from importer.sending.ports import Tokens
from importer.sending.protocol import Answer, retry_after_header, snippet
from importer.sending.retry import RetryPolicy, retryable

if TYPE_CHECKING:
    # A plugin names its auth when built, which `vendors` and `--help` do: the client is
    # handed in by the sending code, which has loaded httpx (issue 27: start-up).
    import httpx

__all__ = [
    "Auth",
    "AuthFactory",
    "TokenAuth",
    "TokenHeaders",
    "Transient",
    "error_code",
    "post_token",
]

_RENEW_MARGIN = 60.0
_RENEW_RETRY = 20.0


class Auth(Protocol):
    """Gives each request its credentials."""

    def headers(self) -> dict[str, str]:
        """Headers for the next request (fetching or renewing a token if needed)."""
        ...

    def invalidate(self) -> None:
        """Forget the current token (it was refused); the next request gets a new one."""
        ...


class AuthFactory(Protocol):
    """A vendor's authentication, as its plugin declares it: ``(credentials by variable, token
    host, HTTP client, clock, kept tokens, retry=policy) -> Auth``. ``retry`` is the run's
    :class:`~importer.sending.retry.RetryPolicy`, for a token host's requests (``None``: the
    default policy); an authentication without a token host ignores it."""

    def __call__(
        self,
        creds: Mapping[str, Secret],
        auth_url: str,
        client: httpx.Client,
        clock: Clock,
        tokens: Tokens | None = None,
        /,
        *,
        retry: RetryPolicy | None = None,
    ) -> Auth: ...


class TokenAuth:
    """An access token, kept in ``tokens`` (shared by every process when it is a TokenStore).

    Subclasses give ``fetch() -> (token, lifetime seconds)`` and, where the vendor has
    one, a ``budget`` of token requests per window. A transient failure of the token
    host (429, 5xx, a dead connection, an undocumented answer) is retried under
    ``retry``, the policy of the run's calls (waiting on ``clock``); when it persists, a
    token still valid is kept, and only then is the run stopped as "vendor unavailable",
    never as "credentials refused". Waits for the budget are not retries: they count
    toward neither the tries nor the policy's total waiting time.
    """

    #: (requests, seconds) the vendor allows per account; ``None``: no documented budget.
    budget: tuple[int, float] | None = None
    #: What the token host is called, for messages.
    host_name = "the token host"

    def __init__(
        self, clock: Clock, tokens: Tokens, account: str, retry: RetryPolicy | None = None
    ) -> None:
        self.clock = clock
        self.tokens = tokens
        self.account = account
        self.retry = retry or RetryPolicy()
        self.value: str | None = None
        self.expires = 0.0
        self.renew_at = 0.0
        self.fetches = 0
        self.lock = threading.Lock()
        self.rng = random.Random()

    def get(self) -> str:
        with self.lock:
            now = self.clock.time()
            if self.value is not None and now < self.renew_at:
                return self.value
            kept = self.tokens.get(self.account)  # another process's token, if fresh
            if kept is not None and now < kept[1]:
                HELD.add(kept[0], token=True)  # held from now on: masked wherever quoted
                self.value, self.renew_at = kept
                # The store keeps when to renew; the token lives about a margin longer.
                self.expires = max(self.expires, kept[1] + _RENEW_MARGIN - 5)
                return kept[0]
            try:
                token, lifetime = self._fetch_with_retries()
                HELD.add(token, token=True)
            except VendorUnavailableError:
                now = self.clock.time()
                if self.value is not None and now < self.expires - 5:
                    # Renewal failed, but the token still works: keep it, and try again in a
                    # while rather than on every request (each try holds the token lock).
                    self.renew_at = min(now + _RENEW_RETRY, self.expires - 5)
                    return self.value
                raise
            now = self.clock.time()
            # Renew a minute early (a tenth of the lifetime for short-lived tokens).
            self.value, self.expires = token, now + lifetime
            self.renew_at = self.expires - min(_RENEW_MARGIN, lifetime / 10)
            self.tokens.put(self.account, token, self.renew_at)
            return token

    def invalidate(self) -> None:
        with self.lock:
            if self.value is not None:
                self.tokens.forget(self.account, self.value)
            self.value = None

    def _fetch_with_retries(self) -> tuple[str, float]:
        retries = self.retry.start(self.rng)
        while True:
            self._wait_for_budget()
            self.fetches += 1
            asked = self.clock.time()
            try:
                got = self.fetch()
            except Transient as error:
                if error.answered:  # the host saw it: it may count toward its budget
                    self.tokens.requested(self.account, asked)
                delay = retries.next_wait(error.retry_after, self.host_name, str(error))
                if delay is None:
                    raise VendorUnavailableError(
                        f"could not get an access token from {self.host_name} after "
                        f"{retries.tries} tries ({error}). The credentials were not refused; "
                        "nothing was changed: re-run later."
                    ) from None
                self.clock.sleep(delay)
            except FatalVendorError:
                self.tokens.requested(self.account, asked)
                raise
            else:
                self.tokens.requested(self.account, asked)
                return got

    def _wait_for_budget(self) -> None:
        """Stay under the vendor's token budget, counting every process's requests."""
        if self.budget is None:
            return
        limit, seconds = self.budget
        while True:
            now = self.clock.time()
            recent = self.tokens.requests_since(self.account, now - seconds)
            if len(recent) < limit:
                return
            self.clock.sleep(min(recent[0] + seconds - now + 0.5, 1.0))

    def fetch(self) -> tuple[str, float]:
        raise NotImplementedError


class TokenHeaders:
    """An :class:`Auth` that sends a kept token in the headers ``make`` builds from it."""

    def __init__(self, token: TokenAuth, make: Callable[[str], dict[str, str]]) -> None:
        self.token, self.make = token, make

    def headers(self) -> dict[str, str]:
        return self.make(self.token.get())

    def invalidate(self) -> None:
        self.token.invalidate()


class Transient(Exception):
    """A token host failure that a later try may not meet.

    ``answered``: the host answered (so the request may count toward its token budget);
    ``False`` when the request never got an answer (a dead connection).
    """

    def __init__(
        self, message: str, retry_after: float | None = None, answered: bool = True
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.answered = answered


def post_token(client: httpx.Client, url: str, **kwargs: Any) -> tuple[int, Any]:
    """POST to a token endpoint: the status and JSON body, or :class:`Transient`."""
    import httpx  # loaded already: ``client`` is one (see the imports above)

    try:
        answer = client.post(url, **kwargs)
    except httpx.HTTPError as error:
        raise Transient(f"{type(error).__name__} from {url}", answered=False) from None
    wait = retry_after_header(Answer(answer.status_code, None, answer.headers))
    if retryable(answer.status_code):  # as a read's answer is (429, 408, 425, 5xx)
        raise Transient(f"answered {answer.status_code}", wait)
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        # The token host may quote the client secret or refresh token back.
        shown = HELD(snippet(Answer(answer.status_code, HELD.known(answer.text))))
        raise Transient(f"answered {answer.status_code} without a token{shown}", wait)
    return answer.status_code, body


def error_code(answer: Any) -> str:
    if isinstance(answer, dict):
        error = answer.get("error")
        return str(error.get("code") if isinstance(error, dict) else error or "")
    return ""
