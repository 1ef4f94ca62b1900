"""Which hosts are this machine: what may be served or called without TLS or a password."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["is_local", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_local(url: str) -> bool:
    """Whether ``url`` points at this machine (loopback)."""
    return is_loopback(urlsplit(url.strip()).hostname or "")
