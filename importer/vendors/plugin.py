"""What one vendor declares, in one place: a :class:`Plugin`.

A vendor is one package under ``importer/vendors/`` whose ``__init__`` builds a
:class:`Plugin`, and one line in :data:`importer.vendors.PLUGINS`. The plugin
declares everything the rest of the importer needs to know about the vendor:

* ``schema``: the sheet's columns and rules (:class:`~importer.sheet.schema.Vendor`);
* ``wire``: the calls that import a row and what each answer means
  (:class:`~importer.sending.protocol.Adapter`), with its rate policy;
* ``credentials``, ``api_host``, ``token_host`` and ``auth``: where it lives and how
  each request is authenticated;
* ``people`` (optional): how email columns become the IDs the vendor wants;
* ``sandbox`` (optional): its part of the embedded sandbox
  (:class:`~importer.sandbox.part.SandboxPart`: its routes, errors, credentials);
* ``readback`` (optional): how its objects are read back (``export``);
* ``changes`` (optional): how what an import created is updated and deleted
  (``run --update``, ``undo``), where the vendor documents it;
* ``declared``: what the faces need before the plugin is built (flags, job keys, export
  targets, commands, token shapes: :class:`~importer.vendors.declarations.Declarations`,
  from the package's light ``declared`` module).

Nothing outside a vendor's package tests a vendor's name: the registry hands each
part to the code that needs it (the sandbox server included).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from importer.sheet.schema import Vendor
from importer.vendors.declarations import Declarations

if TYPE_CHECKING:
    import httpx

    from importer.core.clock import Clock
    from importer.core.settings import RunSettings
    from importer.sandbox.part import SandboxPart
    from importer.sending.auth import AuthFactory
    from importer.sending.protocol import Adapter, Answer, Call, Outcome
    from importer.sending.readback import ReadBack
    from importer.sending.sender import Sender
    from importer.sending.throttle import Pacer
    from importer.store.tokens import Tokens

__all__ = ["Changes", "People", "Plugin", "deferred", "same_path"]


#: ``(values when created, values now, created ID) -> the calls, or why it cannot be done``.
UpdateCalls = Callable[[Mapping[str, Any], Mapping[str, Any], str], "list[Call] | str"]
#: ``(values when created, created ID) -> the calls that delete what the row created``.
DeleteCalls = Callable[[Mapping[str, Any], str], "list[Call]"]


def same_path(call: Call) -> Call | None:
    """The read that tells whether a delete's target is still there: a GET of its path."""
    from importer.sending.protocol import (
        Call,
    )  # lazy: the wire loads the pacer, which validate never needs

    return Call(f"check before: {call.name}", "GET", call.path, writes=False)


@dataclass(frozen=True)
class Changes:
    """What a vendor documents for changing and deleting what an import created.

    Attributes:
        interpret: what an answer to one of its update or delete calls means (a 404 to a
            delete: already gone, so ``ok``).
        update: the calls that change a created object to the row's new values, field by
            field, or a sentence saying why this change cannot be made through the API (a
            session cannot move to another path); ``None``: no update documented.
        delete: the calls that take back what a row created; ``None``: no delete documented.
        check: for a delete call, a read whose 404 proves its target gone (re-checking a
            delete whose answer was lost); ``None`` for a call that cannot be checked.
        warning: what a coordinator must know before an undo (data the vendor deletes with it).
        documented_errors: documented answers to its update and delete calls, and what each
            must mean: ``(method, status, body, kind, words of the message)`` (checked by the
            conformance tests).
    """

    interpret: Callable[[Call, Answer], Outcome]
    update: UpdateCalls | None = None
    delete: DeleteCalls | None = None
    check: Callable[[Call], Call | None] = same_path
    warning: str = ""
    documented_errors: tuple[tuple[str, int, Any, str, str], ...] = ()


@dataclass(frozen=True)
class People:
    """Email columns the vendor wants as IDs, and how to look one email up.

    Attributes:
        fields: ``(email field, ID field, several or one)`` per pair of columns.
        what: who an email must belong to, for the row error ("a Zoho People employee").
        find: ``(sender, email) -> ID or None``; raises
            :class:`~importer.core.errors.VendorUnavailableError` when the vendor kept failing.
        allowed: ``(sender) -> IDs`` that may be used (Zoho: registered trainers), if any.
        not_allowed: the problem code for an ID outside ``allowed``.
    """

    fields: tuple[tuple[str, str, bool], ...]
    what: str
    find: Callable[[Sender, str], str | None]
    allowed: Callable[[Sender], set[str]] | None = None
    not_allowed: str = "not_a_trainer"


@dataclass(frozen=True)
class Plugin:
    """Everything about one vendor (see the module docstring)."""

    schema: Vendor
    wire: Adapter
    credentials: tuple[str, ...]
    api_host: str | None
    token_host: str | None
    auth: AuthFactory
    #: Flags, job keys, export targets, commands and token shapes (see
    #: :mod:`importer.vendors.declarations`); the same object as the package's ``declared``.
    declared: Declarations = field(default_factory=Declarations)
    people: People | None = None
    sandbox: SandboxPart | None = None
    readback: ReadBack | None = None
    #: Where the vendor documents them, its update and delete (issue 16); ``None``: neither.
    changes: Changes | None = None
    #: The credentials that tell accounts apart on one host (their hash names the account's
    #: journal and rate schedule; the values themselves are never written anywhere).
    account_fields: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The command-line name, e.g. ``zoho-people``."""
        return self.schema.name

    def label(self, field: str) -> str:
        """A field's column label in the vendor's sheet (the field's name if it has none)."""
        try:
            return self.schema.field(field).label
        except KeyError:
            return field

    def sender(
        self,
        settings: RunSettings,
        client: httpx.Client,
        clock: Clock,
        pacer: Pacer | None = None,
        notify: Callable[[str], None] | None = None,
        tokens: Tokens | None = None,
        transport: httpx.BaseTransport | None = None,
        adapter: Adapter | None = None,
    ) -> Sender:
        """A sender of this vendor's calls for ``settings`` (see
        :func:`importer.sending.sender.sender_for`); ``adapter``: another adapter than the
        plugin's wire (a test's wrapper)."""
        from importer.sending.sender import sender_for  # lazy: validate loads no HTTP client

        wire = adapter if adapter is not None else self.wire
        return sender_for(
            wire,
            settings,
            client,
            clock,
            pacer,
            notify,
            tokens,
            transport,
            auth=self.auth,
            label=self.label,
        )

    def __post_init__(self) -> None:
        if self.wire.name != self.schema.name:
            raise ValueError(f"{self.schema.name}: its wire is named {self.wire.name!r}")


def deferred(build: Callable[[], Plugin]) -> Callable[[str], Plugin]:
    """A vendor package's module ``__getattr__`` (PEP 562) that builds ``PLUGIN`` on first use.

    A vendor's wire, auth and sandbox bring in the HTTP client, the throttle and the
    sandbox server; ``validate`` needs none of them, only the sheet (the package's
    ``schema`` module), so the plugin is built, once, when something asks for it.
    """
    made: list[Plugin] = []
    lock = threading.Lock()  # the web page's threads may ask first at the same time

    def __getattr__(name: str) -> Plugin:
        if name != "PLUGIN":
            raise AttributeError(f"module has no attribute {name!r}")
        with lock:
            if not made:
                made.append(build())
        return made[0]

    return __getattr__
