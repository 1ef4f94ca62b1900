"""Secrets that never print: API keys, client secrets, refresh tokens, access tokens.

A :class:`Secret` shows ``'***'`` in ``str``, ``repr`` and f-strings; the
value is only reachable through :meth:`Secret.reveal`, which the code that
builds a request calls at the last moment. :func:`redact` scrubs known
secret values out of any text (an error message quoting a URL, say) before
it reaches a log, a result sheet or an exception.
"""

from __future__ import annotations

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


def redact(text: str, secrets: Iterable[Secret | str]) -> str:
    """Replace every occurrence of each secret value in ``text`` by ``***``."""
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text
