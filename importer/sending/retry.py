"""One retry policy for every request made to a vendor: its calls and its token host's.

A request that did nothing (a 429, a lock, a connection never made, a 5xx to a read or to
a token request) is tried again after a wait:

* the vendor's own, when it gives one (``Retry-After`` in seconds or as a date, read by
  :func:`~importer.sending.protocol.retry_after_header`), unless it is unusable (NaN,
  infinite, negative: then backoff); more than :data:`~importer.sending.throttle.MAX_WAIT`
  stops the run (:class:`~importer.core.errors.VendorUnavailableError`), never a wait of
  hours in the night;
* else an exponential backoff with jitter: ``backoff * 2**(try - 1)``, times a random factor
  in [0.5, 1.5), so that many workers (or processes) do not all come back at once;

bounded by tries *and* by total waiting time (:class:`RetryPolicy`). The sender
(:meth:`importer.sending.sender.Sender._attempt`) and the token hosts
(:class:`importer.sending.auth.TokenAuth`) both count their tries with :meth:`RetryPolicy.start`;
what each does with a wait differs only in how it waits (the pacer's pause for calls,
the clock for a token request, which holds the token lock).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from importer.core.errors import VendorUnavailableError
from importer.sending.throttle import MAX_WAIT, check_wait

__all__ = ["RETRYABLE", "Retries", "RetryPolicy", "retryable"]

#: Statuses that say a request was not done and may be tried again (and every 5xx, for a
#: request that changes nothing: a read, a token request).
RETRYABLE = frozenset({408, 425, 429})


def retryable(status: int) -> bool:
    """Whether a request that changes nothing is worth trying again after this status."""
    return status in RETRYABLE or status >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """How a request that did nothing is tried again (see the module docstring).

    Attributes:
        max_tries: tries per request, the first included (``max_tries`` in the job file).
        max_retry_seconds: total seconds of backoff and ``Retry-After`` waits per request.
        backoff: the first backoff in seconds (doubled each try, with jitter).
        max_wait: the longest single wait a vendor may ask; more stops the run.
    """

    max_tries: int = 5
    max_retry_seconds: float = 900.0
    backoff: float = 1.0
    max_wait: float = MAX_WAIT

    def wait(
        self, tries: int, asked: float | None, rng: random.Random, who: str, why: str
    ) -> float:
        """The wait after ``tries`` failed tries: the vendor's (``asked``), else backoff.

        Args:
            tries: the tries made so far (1 after the first).
            asked: the wait the answer asked for (``Retry-After``), if any.
            rng: the jitter's randomness.
            who: the vendor or token host, for the message.
            why: what the last try met, for the message.

        Raises:
            VendorUnavailableError: the vendor asked for more than :attr:`max_wait`.
        """
        usable = check_wait(asked)
        if usable is not None and usable > self.max_wait:
            raise VendorUnavailableError(
                f"{who} asked us to wait {usable / 3600:.1f} hours (Retry-After, {why}): more "
                f"than the {self.max_wait / 3600:.0f} hour we wait. Stopped; the rows not sent "
                "are safe to re-run later."
            )
        if usable is not None:
            return usable
        return float(self.backoff * 2 ** (tries - 1) * (0.5 + rng.random()))

    def start(self, rng: random.Random | None = None) -> Retries:
        """The count of one request's tries and waits under this policy."""
        return Retries(self, rng or random.Random())


@dataclass
class Retries:
    """One request's tries and waits so far, under :attr:`policy`."""

    policy: RetryPolicy
    rng: random.Random = field(default_factory=random.Random)
    tries: int = 0
    waited: float = 0.0

    def next_wait(self, asked: float | None, who: str, why: str) -> float | None:
        """A try failed (and did nothing): the wait before the next, or ``None`` to give up
        (the tries or the total waiting time would be spent).

        Raises:
            VendorUnavailableError: the vendor asked for more than the policy's ``max_wait``.
        """
        self.tries += 1
        wait = self.policy.wait(self.tries, asked, self.rng, who, why)
        if (
            self.tries >= self.policy.max_tries
            or self.waited + wait > self.policy.max_retry_seconds
        ):
            return None
        self.waited += wait
        return wait
