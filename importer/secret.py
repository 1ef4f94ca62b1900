"""Secrets that never print: API keys, client secrets, refresh tokens, access tokens.

A :class:`Secret` shows ``'***'`` in ``str``, ``repr`` and f-strings; the
value is only reachable through :meth:`Secret.reveal`, which the code that
builds a request calls at the last moment. :func:`redact` scrubs known
secret values out of any text (an error message quoting a URL, say) before
it reaches a log, a result sheet or an exception; it also masks anything shaped like a
token (a JWT, a bearer or Zoho token, a ``token=``/``secret=`` pair), since a vendor may
echo one in an error body that we quote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["Secret", "redact"]


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


#: Token-shaped text, whoever's it is: JWTs, ``Bearer``/``Zoho-oauthtoken`` values, Zoho's
#: ``1000.<hex>.<hex>`` tokens, and the values of key=value or "key": "value" pairs named like
#: secrets.
_TOKEN_SHAPES = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
    r"|(?<=Bearer )[A-Za-z0-9._~+/=-]{8,}"
    r"|(?<=Zoho-oauthtoken )[A-Za-z0-9._~+/=-]{8,}"
    r"|\b1000\.[0-9a-f]{8,}\.[0-9a-f]{8,}\b"
    r"|(?<=token[\"']: [\"'])[^\"']{8,}|(?<=token=)[^&\s\"']{8,}"
    r"|(?<=secret[\"']: [\"'])[^\"']{8,}|(?<=secret=)[^&\s\"']{8,}",
    re.IGNORECASE,
)


def redact(text: str, secrets: Iterable[Secret | str]) -> str:
    """Replace each secret value, and anything token-shaped, in ``text`` by ``***``."""
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return _TOKEN_SHAPES.sub("***", text)
