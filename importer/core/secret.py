"""Secrets that never print: API keys, client secrets, refresh tokens, access tokens.

A :class:`Secret` shows ``'***'`` in ``str``, ``repr`` and f-strings; the
value is only reachable through :meth:`Secret.reveal`, which the code that
builds a request calls at the last moment.

A vendor, or a proxy before it, may quote a token back in an error: raw, JSON-escaped,
URL-encoded, in base64. :class:`Redactor` knows secret values and masks every such form of
them, and anything shaped like a token (a JWT, a bearer token, a ``token=``/``secret=`` pair,
and the shapes and auth schemes each vendor declares: :func:`add_token_shapes`). :data:`HELD`
is the process's: credentials, access tokens (fetched,
renewed or adopted from another process) and keys are added to it as soon as they are
obtained, every vendor answer is masked with it as it arrives, and every sink (result
sheets, journals, the log, error lines) masks with :func:`scrub` before writing.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterable

__all__ = [
    "HELD",
    "Redactor",
    "Secret",
    "add_token_shapes",
    "redact",
    "scrub",
    "token_shaped",
]


class Secret:
    """A secret string that hides itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __str__(self) -> str:
        return "***"

    def __repr__(self) -> str:
        return "Secret('***')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


#: Token-shaped text, whoever's it is: JWTs, ``Bearer`` values, and the values of key=value or
#: "key": "value" pairs named like secrets. Vendors add their own (an auth scheme, a token's
#: shape) with :func:`add_token_shapes`.
_GENERIC_SHAPES = (
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
    r"(?<=token[\"']: [\"'])[^\"']{8,}",
    r"(?<=token=)[^&\s\"']{8,}",
    r"(?<=secret[\"']: [\"'])[^\"']{8,}",
    r"(?<=secret=)[^&\s\"']{8,}",
)
#: What follows an ``Authorization`` scheme: a token.
_AFTER_SCHEME = "[A-Za-z0-9._~+/=-]{8,}"


class _Shapes:
    """The token shapes masked by every :class:`Redactor`: the generic ones and those the
    vendors add. Replaced whole when one is added, so that a reader needs no lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._patterns: tuple[str, ...] = ()
        self.compiled = re.compile("(?!)")
        self.add(_GENERIC_SHAPES, ("Bearer",))

    def add(self, shapes: Iterable[str] = (), schemes: Iterable[str] = ()) -> None:
        added = [*shapes, *(f"(?<={re.escape(scheme)} ){_AFTER_SCHEME}" for scheme in schemes)]
        with self._lock:
            patterns = tuple(dict.fromkeys([*self._patterns, *added]))
            if patterns != self._patterns:
                self._patterns = patterns
                self.compiled = re.compile("|".join(patterns), re.IGNORECASE)


_TOKEN_SHAPES = _Shapes()


def add_token_shapes(shapes: Iterable[str] = (), schemes: Iterable[str] = ()) -> None:
    """Mask, from now on, text of these shapes (regular expressions of a vendor's tokens) and
    the token after these ``Authorization`` schemes (besides ``Bearer``), wherever the process
    writes anything. Called with each vendor's declarations when the vendors are loaded."""
    _TOKEN_SHAPES.add(shapes, schemes)


def redact(text: str, secrets: Iterable[Secret | str]) -> str:
    """Replace each secret value (in any form, see :class:`Redactor`), and anything
    token-shaped, in ``text`` by ``***``."""
    return Redactor(secrets)(text)


#: Base64 runs around a secret's encoded middle: the whole run goes (it may hold other parts).
_B64_RUN = "[A-Za-z0-9+/_-]*"
#: Access tokens kept, the newest (one is renewed every hour or so: a server running for
#: months would otherwise test every answer against thousands of long-dead tokens).
_TOKENS_KEPT = 64
#: Shortest value worth redacting: shorter ones would mask ordinary words.
_SHORTEST = 4
#: Shortest value whose base64 forms are looked for (a shorter one's middle is too short to
#: be told from any other base64).
_SHORTEST_B64 = 12


class _Known:
    """One secret value: cheap anchors to test for, and the pattern of all its forms."""

    def __init__(self, value: str) -> None:
        self.value = value
        # Every form below keeps the runs of letters and digits of the value as they are
        # (percent-encoding and JSON escapes touch only the signs between them), so the
        # longest run, lower-cased, tells at little cost whether a text may hold the value.
        runs = sorted(re.findall(r"[A-Za-z0-9]+", value), key=len, reverse=True)
        self.encoded = _base64_middles(value) if len(value) >= _SHORTEST_B64 else []
        # No anchor (a value of signs and short runs): its pattern is tried on every text.
        self.anchors = (
            [runs[0].lower(), *(middle.lower() for middle in self.encoded)]
            if runs and len(runs[0]) >= 3
            else []
        )
        self._pattern: re.Pattern[str] | None = None

    def pattern(self) -> re.Pattern[str]:
        """Compiled on first need: most values never meet a text that holds them."""
        if self._pattern is None:
            forms = ["".join(_any_form(c) for c in self.value)]
            forms += [_B64_RUN + re.escape(m) + _B64_RUN + "=*" for m in self.encoded]
            self._pattern = re.compile("|".join(forms), re.IGNORECASE)
        return self._pattern

    def redact(self, text: str, lowered: str) -> str:
        if self.anchors and not any(anchor in lowered for anchor in self.anchors):
            return text
        return self.pattern().sub("***", text)


def _any_form(char: str) -> str:
    """A pattern for one character of a secret as any encoder may have written it: itself,
    percent-encoded (either case: re.IGNORECASE), JSON-escaped (``\\uXXXX``, ``\\/``), a
    space as ``+`` (form encoding)."""
    if char.isascii() and char.isalnum():
        return re.escape(char)
    percent = "".join(f"%{b:02x}" for b in char.encode())
    forms = [re.escape(char), percent, re.escape(f"\\u{ord(char):04x}")]
    if char in '/\\"':
        forms.append(re.escape("\\" + char))
    if char == " ":
        forms.append(re.escape("+"))
    return "(?:" + "|".join(forms) + ")"


def _base64_middles(value: str) -> list[str]:
    """The part of the base64 of ``value`` that does not depend on what surrounds it, at each
    of the three byte alignments it may start at (``Basic base64(id:secret)`` puts a secret at
    any), in the standard and the URL-safe alphabet."""
    data = value.encode()
    middles = []
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + data).decode()
        # The first group holds the padding's bits, the last may hold what follows.
        middle = encoded[4 : (len(encoded) // 4 - 1) * 4]
        if len(middle) >= 8:
            middles += [middle, middle.translate(str.maketrans("+/", "-_"))]
    return list(dict.fromkeys(middles))


class Redactor:
    """Every secret value known, and every form it may come back in.

    A vendor (or a proxy before it) may quote a token back raw, JSON-escaped (``\\/``,
    ``\\u002b``), URL-encoded (``quote`` or ``quote_plus``, ``%2F`` or ``%2f``) or in base64
    (a ``Basic`` header): :meth:`__call__` replaces each of them by ``***``, and anything
    token-shaped (see :data:`_TOKEN_SHAPES`). Values are added with :meth:`add` as soon as
    they are obtained. Thread-safe.

    Limits: letters and digits written as ``\\uXXXX`` escapes, or a secret split across a
    text's lines, are not recognised (no encoder known to us does either).
    """

    def __init__(self, secrets: Iterable[Secret | str] = ()) -> None:
        self._known: dict[str, _Known] = {}
        self._tokens: dict[str, None] = {}  # which known values are tokens, oldest first
        # (every value's anchors, or None when a value has none; the values, longest first:
        # a secret that contains another is masked whole). Replaced whole, never changed, so
        # that a reader needs no lock.
        self._state: tuple[tuple[str, ...] | None, tuple[_Known, ...]] = (None, ())
        self._lock = threading.Lock()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: Secret | str | None, token: bool = False) -> None:
        """Know ``secret`` from now on (values shorter than 4 characters are ignored).

        ``token``: an access token, that lives an hour or so: only the newest 64 are kept.
        """
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if not value or len(value) < _SHORTEST or value in self._known:
            return
        with self._lock:
            self._known.setdefault(value, _Known(value))
            if token:
                self._tokens[value] = None
                while len(self._tokens) > _TOKENS_KEPT:
                    oldest = next(iter(self._tokens))
                    del self._tokens[oldest], self._known[oldest]
            entries = tuple(sorted(self._known.values(), key=lambda k: len(k.value), reverse=True))
            anchors = tuple(dict.fromkeys(a for entry in entries for a in entry.anchors))
            unanchored = not all(entry.anchors for entry in entries)
            self._state = (None if unanchored else anchors, entries)

    def __call__(self, text: str) -> str:
        """``text`` with every form of every known secret, and every token shape, masked."""
        return _TOKEN_SHAPES.compiled.sub("***", self.known(text))

    def known(self, text: str) -> str:
        """``text`` with every form of every known secret masked (token shapes kept: a vendor's
        answer, before it is read, may hold token-like data of its own)."""
        anchors, entries = self._state
        if not entries:
            return text
        lowered = text.lower()
        # The common case, every answer of a run: no anchor in it. (Substring tests measured
        # faster than one regular expression of them all: 6 against 10 us for 5 secrets.)
        if anchors is not None and not any(anchor in lowered for anchor in anchors):
            return text
        for entry in entries:
            masked = entry.redact(text, lowered)
            if masked != text:
                text, lowered = masked, masked.lower()
        return text


def token_shaped(value: str) -> bool:
    """Whether ``value`` is masked by its shape alone (a JWT, a vendor's token), in any form an
    encoder writes it: its signs (``.``, ``-``, ``_``) are left as they are by all of them."""
    return _TOKEN_SHAPES.compiled.fullmatch(value) is not None


#: The secrets this process holds: credentials read for a run, access tokens fetched or
#: adopted, keys and the JWTs signed with them. Process-wide on purpose: every sink (result
#: sheets, journals, logs, error messages, the web page) scrubs with it without being handed
#: anything, and a secret of one job (the web server runs several) is never shown by another.
HELD = Redactor()


def scrub(text: str) -> str:
    """``text`` with every secret this process holds masked (see :data:`HELD`)."""
    return HELD(text)
