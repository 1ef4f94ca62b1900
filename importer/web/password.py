"""The page's password mode (``IMPORTER_WEB_PASSWORD``): one shared password, its minimum
length, and a growing wait after wrong guesses from a client address.

Self-contained on purpose: the guard (:mod:`importer.web.security`) only asks a
:class:`PasswordLogin` whether a login form's password or a script's bearer token is right
(:meth:`PasswordLogin.attempt`). Another way of signing in (a proxy's header, OIDC) is
another such class beside this one, not a change to it.

The wait doubles with each wrong guess in a row from one address (1 s, 2 s, 4 s, ... up to
``cap``), and a guess during the wait is refused unread (HTTP 429 with ``Retry-After``)
rather than answered late: no server thread ever sleeps for it. The right password clears
the address's count. An address is known by the connection's own peer address: a header
such as ``X-Forwarded-For`` is anyone's to write (behind a proxy every client shares the
proxy's address, hence its wait).
"""

from __future__ import annotations

from collections import OrderedDict

from importer.core.clock import Clock, SystemClock
from importer.core.errors import ConfigurationError
from importer.core.secret import Secret
from importer.web.security import Attempt, Verdict, same_secret

__all__ = ["MIN_LENGTH", "Backoff", "PasswordLogin", "check_length"]

#: The fewest characters the page's password may have (checked when the server starts).
MIN_LENGTH = 12


def check_length(password: str, variable: str) -> None:
    """Refuse a password too short to stand a guessing attack.

    Raises:
        ConfigurationError: under :data:`MIN_LENGTH` characters (naming ``variable``).
    """
    if len(password) < MIN_LENGTH:
        raise ConfigurationError(
            f"{variable} has {len(password)} character(s): the page's password needs at "
            f"least {MIN_LENGTH} (anyone who reaches the page can try to guess it)."
        )


class Backoff:
    """Wrong guesses per address: after ``n`` in a row, no guess for ``first * 2**(n-1)``
    seconds, at most ``cap``.

    An address is forgotten ``forget`` seconds after its wait ends (it starts again at
    ``first``), and at most ``addresses`` are kept (the least recently wrong goes first), so
    a flood from many addresses holds a bounded amount of memory.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        first: float = 1.0,
        cap: float = 60.0,
        forget: float = 3600.0,
        addresses: int = 10_000,
    ) -> None:
        self.clock = clock or SystemClock()
        self.first, self.cap, self.forget, self.addresses = first, cap, forget, addresses
        self._wrong: OrderedDict[str, tuple[int, float]] = OrderedDict()  # count, wait until

    def wait(self, address: str) -> float:
        """Seconds ``address`` must still wait before its next guess (0: it may guess)."""
        found = self._wrong.get(address)
        if found is None:
            return 0.0
        now = self.clock.monotonic()
        if now >= found[1] + self.forget:
            del self._wrong[address]
            return 0.0
        return max(found[1] - now, 0.0)

    def failed(self, address: str) -> float:
        """Record a wrong guess from ``address``; the wait it now has."""
        self.wait(address)  # forgets an old count first
        count = self._wrong.get(address, (0, 0.0))[0] + 1
        delay = min(self.cap, self.first * 2.0 ** min(count - 1, 30))
        self._wrong[address] = (count, self.clock.monotonic() + delay)
        self._wrong.move_to_end(address)
        while len(self._wrong) > self.addresses:
            self._wrong.popitem(last=False)
        return delay

    def passed(self, address: str) -> None:
        """The right password from ``address``: its count starts again."""
        self._wrong.pop(address, None)

    def __len__(self) -> int:
        return len(self._wrong)


class PasswordLogin:
    """The one password of ``serve``: for the login form and as a scripts' bearer token."""

    def __init__(self, password: Secret, clock: Clock | None = None) -> None:
        self._password = password
        self.backoff = Backoff(clock)

    def attempt(self, address: str, given: str) -> Attempt:
        """Check ``given`` from ``address``, unless that address must wait first."""
        wait = self.backoff.wait(address)
        if wait > 0:
            return Attempt(Verdict.WAIT, wait)
        if same_secret(given, self._password.reveal()):
            self.backoff.passed(address)
            return Attempt(Verdict.OK)
        return Attempt(Verdict.WRONG, self.backoff.failed(address))
