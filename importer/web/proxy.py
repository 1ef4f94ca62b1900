"""The page's proxy mode (``serve --auth proxy``): the user is a header the company's sign-on
proxy sets, believed only from that proxy's addresses.

The proxy (nginx, Apache, oauth2-proxy) signs the person in and passes their name in a header
(``X-Forwarded-User`` unless ``--user-header`` names another). Anyone can write that header,
so it counts only on a connection whose peer address (never a header) is one of the trusted
proxies (``--trusted-proxy``, by default loopback: the proxy runs on this machine). Any other
peer, or a request without the header, is refused (401) before the session, CSRF check or any
route: the page has no other way in in this mode.

With ``--groups-header NAME`` (oauth2-proxy's ``X-Forwarded-Groups``), the proxy's header also
says the user's groups, separated by commas, matched against an account's
``users = ["group:NAME"]``. It is read only when named: the proxy must set (overwrite) it on
every request, or a client could name its own groups.

The value is the user as the proxy wrote it (UTF-8), spaces at its ends stripped; a value with
a control character, longer than :data:`MAX_USER` characters, or sent twice is refused rather
than cut (two users must never come to one name).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from importer.core.errors import ConfigurationError

__all__ = [
    "DEFAULT_HEADER",
    "DEFAULT_TRUSTED",
    "MAX_USER",
    "ProxyUsers",
    "Unidentified",
]

#: The header the user's name comes in by default (oauth2-proxy's and most recipes').
DEFAULT_HEADER = "X-Forwarded-User"
#: The proxies trusted by default: this machine's loopback.
DEFAULT_TRUSTED = ("127.0.0.1", "::1")
#: The longest user name taken (longer is refused, not cut).
MAX_USER = 200

_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # an HTTP header name (RFC 9110 token)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Unidentified(Exception):
    """The request names no user this server may believe (its message says why, in a
    sentence that names neither the header's value nor anything of the page)."""


class ProxyUsers:
    """Who a request is from: the ``header`` of a connection from one of ``trusted``."""

    def __init__(
        self,
        header: str = DEFAULT_HEADER,
        trusted: Iterable[str] = DEFAULT_TRUSTED,
        groups_header: str | None = None,
    ) -> None:
        """
        Raises:
            ConfigurationError: ``header`` or ``groups_header`` is not a header name, or an
                entry of ``trusted`` is neither an address nor a network (``10.0.0.0/24``).
        """
        for flag, name in (("--user-header", header), ("--groups-header", groups_header)):
            if name is not None and not _TOKEN.fullmatch(name):
                raise ConfigurationError(f"{flag} {name!r} is not an HTTP header name.")
        self.header, self.groups_header = header, groups_header
        self._raw = header.lower().encode("ascii")
        self.trusted: tuple[Network, ...] = tuple(_network(given) for given in trusted)
        if not self.trusted:
            raise ConfigurationError("--auth proxy needs at least one --trusted-proxy address.")

    def is_trusted(self, peer: str) -> bool:
        """Whether ``peer`` (the connection's address) is one of the trusted proxies."""
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.trusted)

    def user(self, peer: str, headers: Sequence[tuple[bytes, bytes]]) -> str:
        """The user of a request from ``peer`` carrying ``headers`` (ASGI's raw pairs).

        Raises:
            Unidentified: ``peer`` is not a trusted proxy, or the header is missing, empty,
                sent twice, not UTF-8, has a control character or is too long.
        """
        if not self.is_trusted(peer):
            raise Unidentified(
                "not signed in: this page is reached through the company's sign-on proxy only"
            )
        values = _values(headers, self._raw)
        if len(values) != 1:
            raise Unidentified(
                f"not signed in: the sign-on proxy sent {len(values) or 'no'} {self.header} "
                f"header{'s' if len(values) > 1 else ''} (one is needed)"
            )
        try:
            user = values[0].decode("utf-8").strip()
        except UnicodeDecodeError:
            raise Unidentified(f"not signed in: the {self.header} header is not UTF-8") from None
        if not user:
            raise Unidentified(f"not signed in: the {self.header} header is empty")
        if _CONTROL.search(user):
            raise Unidentified(f"not signed in: the {self.header} header has control characters")
        if len(user) > MAX_USER:
            raise Unidentified(
                f"not signed in: the {self.header} header is longer than {MAX_USER} characters"
            )
        return user

    def groups(self, headers: Sequence[tuple[bytes, bytes]]) -> frozenset[str]:
        """The user's groups, from ``--groups-header`` (comma-separated; none without it).

        Raises:
            Unidentified: the header is sent twice, is not UTF-8 or has control characters
                (a user is never given groups read wrong).
        """
        if self.groups_header is None:
            return frozenset()
        name = self.groups_header
        values = _values(headers, name.lower().encode("ascii"))
        if len(values) > 1:
            raise Unidentified(f"not signed in: the sign-on proxy sent {name} twice")
        if not values:
            return frozenset()
        try:
            text = values[0].decode("utf-8")
        except UnicodeDecodeError:
            raise Unidentified(f"not signed in: the {name} header is not UTF-8") from None
        if _CONTROL.search(text):
            raise Unidentified(f"not signed in: the {name} header has control characters")
        return frozenset(group.strip() for group in text.split(",") if group.strip())


def _values(headers: Sequence[tuple[bytes, bytes]], raw: bytes) -> list[bytes]:
    return [value for name, value in headers if name.lower() == raw]


def _network(given: str) -> Network:
    try:
        return ipaddress.ip_network(given.strip().strip("[]"), strict=False)
    except ValueError:
        raise ConfigurationError(
            f"--trusted-proxy {given!r} is neither an IP address nor a network (10.0.0.0/24)."
        ) from None
