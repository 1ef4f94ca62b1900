"""The vendors we import into; look them up by name in :data:`REGISTRY`."""

from __future__ import annotations

from importer.errors import ConfigurationError
from importer.vendors import coursepath, learning360_v1, learning360_v2, zoho_people
from importer.vendors.base import RowCheck, Vendor

__all__ = ["REGISTRY", "RowCheck", "Vendor", "get_vendor"]

#: Vendor name (as typed on the command line) -> its declaration.
REGISTRY: dict[str, Vendor] = {
    module.VENDOR.name: module.VENDOR
    for module in (learning360_v1, learning360_v2, zoho_people, coursepath)
}


def get_vendor(name: str) -> Vendor:
    """Return the vendor called ``name``, or raise :class:`ConfigurationError` listing them."""
    try:
        return REGISTRY[name.strip().lower()]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise ConfigurationError(f"unknown vendor {name!r}; choose one of: {known}.") from None
