"""The vendors we import into: one package each, one line each in :data:`PLUGINS`.

Look a vendor up by name with :func:`plugin` (everything about it) or
:func:`get_vendor` (its sheet). :data:`REGISTRY` is the view of every vendor's
sheet, by name; :func:`declarations` of what every vendor declares for the faces (flags,
job keys, commands), read without building any plugin; :func:`sandbox_parts` hands every
vendor's part to the sandbox. Adding a vendor is adding its package and one line in
``_PACKAGES``; the conformance suite (:mod:`importer.testing`, run by
``tests/test_conformance.py``) then runs over it.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING

from importer.core.errors import ConfigurationError
from importer.core.secret import add_token_shapes
from importer.sheet.schema import RowCheck, Vendor
from importer.vendors import coursepath, learning360_v1, learning360_v2, zoho_people
from importer.vendors.declarations import Declarations
from importer.vendors.plugin import Plugin

if TYPE_CHECKING:
    from importer.sandbox.part import SandboxPart

__all__ = [
    "PLUGINS",
    "REGISTRY",
    "Declarations",
    "Plugin",
    "RowCheck",
    "Vendor",
    "declarations",
    "get_vendor",
    "plugin",
    "registered",
    "sandbox_parts",
]


class _Plugins(MutableMapping[str, Plugin]):
    """Vendor name -> its plugin, each built on first use (``validate`` needs only sheets)."""

    def __init__(self, packages: tuple[ModuleType, ...]) -> None:
        self._packages = {package.schema.VENDOR.name: package for package in packages}
        self._added: dict[str, Plugin] = {}

    def __getitem__(self, name: str) -> Plugin:
        if name in self._added:
            return self._added[name]
        plugin: Plugin = self._packages[name].PLUGIN
        return plugin

    def __setitem__(self, name: str, value: Plugin) -> None:
        self._added[name] = value

    def __delitem__(self, name: str) -> None:
        del self._added[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._packages
        yield from (name for name in self._added if name not in self._packages)

    def __len__(self) -> int:
        return len(self._packages.keys() | self._added.keys())

    def declarations(self) -> dict[str, Declarations]:
        """Every vendor's declarations, by name: a package's from its light ``declared``
        module (no plugin is built), an added plugin's from the plugin."""
        found: dict[str, Declarations] = {
            name: package.declared.DECLARED for name, package in self._packages.items()
        }
        found.update({name: added.declared for name, added in self._added.items()})
        return {name: found[name] for name in self}


#: The vendors' packages: one line each.
_PACKAGES = (
    learning360_v1,
    learning360_v2,
    zoho_people,
    coursepath,
)

_ALL = _Plugins(_PACKAGES)
#: Vendor name (as typed on the command line) -> everything about it.
PLUGINS: MutableMapping[str, Plugin] = _ALL

#: Vendor name -> its sheet's declaration (kept in step with :data:`PLUGINS`).
REGISTRY: dict[str, Vendor] = {p.schema.VENDOR.name: p.schema.VENDOR for p in _PACKAGES}


def declarations() -> dict[str, Declarations]:
    """What every vendor declares for the faces (flags, job keys, export targets, commands),
    by name, in the registry's order; builds no plugin."""
    return _ALL.declarations()


def _mask_tokens(declared: Declarations) -> None:
    """A vendor's tokens are masked from now on, wherever the process writes anything."""
    add_token_shapes(declared.token_shapes, declared.auth_schemes)


for _declared in declarations().values():
    _mask_tokens(_declared)


def plugin(name: str) -> Plugin:
    """Everything about the vendor called ``name``; :class:`ConfigurationError` lists them."""
    try:
        return PLUGINS[name.strip().lower()]
    except KeyError:
        known = ", ".join(PLUGINS)
        raise ConfigurationError(f"unknown vendor {name!r}; choose one of: {known}.") from None


def get_vendor(name: str) -> Vendor:
    """The sheet of the vendor called ``name``, or :class:`ConfigurationError` listing them."""
    sheet = REGISTRY.get(name.strip().lower())
    return sheet if sheet is not None else plugin(name).schema


def sandbox_parts() -> dict[str, SandboxPart]:
    """Every registered vendor's part of the embedded sandbox, by name: what
    ``importer.sandbox.Sandbox(sandbox_parts())`` serves (the sandbox knows no vendor)."""
    return {name: p.sandbox for name, p in PLUGINS.items() if p.sandbox is not None}


@contextmanager
def registered(extra: Plugin) -> Iterator[Plugin]:
    """Add a vendor for the duration of a ``with`` block (a plugin outside this package)."""
    if extra.name in PLUGINS:
        raise ValueError(f"a vendor called {extra.name!r} is registered already")
    PLUGINS[extra.name] = extra
    REGISTRY[extra.name] = extra.schema
    _mask_tokens(extra.declared)  # kept after: a token seen once stays masked
    try:
        yield extra
    finally:
        del PLUGINS[extra.name]
        del REGISTRY[extra.name]
