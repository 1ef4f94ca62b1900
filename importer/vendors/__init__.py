"""The vendors we import into: one package each, one line each in :data:`PLUGINS`.

Look a vendor up by name with :func:`plugin` (everything about it) or
:func:`get_vendor` (its sheet). :data:`REGISTRY` is the view of every vendor's
sheet, by name. Adding a vendor is adding its package and one line below; the
conformance tests (``tests/test_conformance.py``) then run over it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from importer.errors import ConfigurationError
from importer.vendors import coursepath, learning360_v1, learning360_v2, zoho_people
from importer.vendors.base import RowCheck, Vendor
from importer.vendors.plugin import Plugin

__all__ = [
    "PLUGINS",
    "REGISTRY",
    "Plugin",
    "RowCheck",
    "Vendor",
    "get_vendor",
    "plugin",
    "registered",
]

#: Vendor name (as typed on the command line) -> everything about it.
PLUGINS: dict[str, Plugin] = {
    p.name: p
    for p in (
        learning360_v1.PLUGIN,
        learning360_v2.PLUGIN,
        zoho_people.PLUGIN,
        coursepath.PLUGIN,
    )
}

#: Vendor name -> its sheet's declaration (a view of :data:`PLUGINS`, kept in step with it).
REGISTRY: dict[str, Vendor] = {name: p.schema for name, p in PLUGINS.items()}


def plugin(name: str) -> Plugin:
    """Everything about the vendor called ``name``; :class:`ConfigurationError` lists them."""
    try:
        return PLUGINS[name.strip().lower()]
    except KeyError:
        known = ", ".join(PLUGINS)
        raise ConfigurationError(f"unknown vendor {name!r}; choose one of: {known}.") from None


def get_vendor(name: str) -> Vendor:
    """The sheet of the vendor called ``name``, or :class:`ConfigurationError` listing them."""
    return plugin(name).schema


@contextmanager
def registered(extra: Plugin) -> Iterator[Plugin]:
    """Add a vendor for the duration of a ``with`` block (a plugin outside this package)."""
    if extra.name in PLUGINS:
        raise ValueError(f"a vendor called {extra.name!r} is registered already")
    PLUGINS[extra.name] = extra
    REGISTRY[extra.name] = extra.schema
    try:
        yield extra
    finally:
        del PLUGINS[extra.name]
        del REGISTRY[extra.name]
