"""What a vendor declares for the faces, light: flags, job keys, export targets, commands.

A vendor's :class:`~importer.vendors.plugin.Plugin` is built on first use (its wire, auth and
sandbox load the HTTP client); the command line's parser, the job file's schema and the
secret scrubber need to know a few things about every vendor before that, without loading
anything. Each vendor package says them in its ``declared`` module, as one
:class:`Declarations`, which its plugin carries too; the generic code reads them from
:func:`importer.vendors.declarations` and never names a vendor.

This module imports nothing of the importer, so that reading it costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

__all__ = ["Command", "Declarations", "ExportTarget", "Option", "SheetDefault"]


@dataclass(frozen=True)
class Option:
    """A choice where the vendor's docs are ambiguous, given four ways with one name.

    ``run`` takes it as a flag, the job file as a ``[job]`` key, the environment as
    ``IMPORTER_<NAME>``; the run's settings hold it in ``vendor_options`` under ``name``, where
    the vendor's wire reads it (``Adapter.configured``). A sandbox option (``sandbox``
    command) is a flag only, handed to the sandbox's state as a keyword.

    Attributes:
        name: the job key, the key in ``vendor_options`` and the flag's ``dest``.
        help: what it does (the flag's help, after the vendor's label).
        choices: the values the flag takes (empty: any text).
        switch: a flag without a value, that stores ``"true"``; the job file takes
            ``true``/``false`` or text.
        default: the flag's default (sandbox options; a run's options have none, so that the
            environment and the job file are read).
        flag: the flag (default ``--`` and the name with dashes).
        env: the environment variable (default ``IMPORTER_`` and the name in capitals).
    """

    name: str
    help: str
    choices: tuple[str, ...] = ()
    switch: bool = False
    default: str | None = None
    flag: str = ""
    env: str = ""

    def __post_init__(self) -> None:
        if not self.flag:
            object.__setattr__(self, "flag", "--" + self.name.replace("_", "-"))
        if not self.env:
            object.__setattr__(self, "env", "IMPORTER_" + self.name.upper())

    @property
    def job_types(self) -> tuple[type, ...]:
        """The types its job file key takes."""
        return (bool, str) if self.switch else (str,)


@dataclass(frozen=True)
class SheetDefault:
    """A value given once for a whole sheet, standing in for a missing column or cell.

    Attributes:
        field: the vendor's field it fills (e.g. ``pathId``).
        flag: its flag on ``validate`` and ``run`` (e.g. ``--path-id``).
        key: its job file key and its name in the journal's run settings (e.g. ``path_id``).
        help: what it is (the flag's help, after the labels of the vendors that take it).
        metavar: how the flag's value is shown.
    """

    field: str
    flag: str
    key: str
    help: str
    metavar: str = "VALUE"


@dataclass(frozen=True)
class ExportTarget:
    """What ``export`` needs to know to list a vendor's objects (a path, a course...).

    Attributes:
        key: its name in the target the vendor's read-back is given
            (:attr:`importer.sending.readback.ReadBack.export`).
        flag: its flag on ``export`` (several vendors may share one).
        help: what it names at this vendor (after its label in the flag's help).
        metavar: how the flag's value is shown.
        field: the sheet field it is taken from when ``--from-result`` reads back a run's
            rows and the flag is not given ("": never).
    """

    key: str
    flag: str
    help: str
    metavar: str = "ID"
    field: str = ""


@dataclass(frozen=True)
class Command:
    """A command of the command line that one vendor adds (360Learning's v1 to v2 convert).

    Attributes:
        name: the command.
        help: its line in the list of commands.
        description: its ``--help`` description.
        arguments: adds its arguments to its parser.
        run: runs it; returns the exit code. Loads what it needs when called.
    """

    name: str
    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Declarations:
    """Everything one vendor declares for the faces (see the module docstring).

    Attributes:
        label: the vendor's name in help texts, e.g. ``Zoho People``.
        options: choices where its docs are ambiguous (``run`` flags, job keys, variables).
        sheet_defaults: values a sheet may be given once (flags of ``validate`` and ``run``).
        exports: what ``export`` lists at this vendor, in words.
        export_targets: what ``export`` needs to be told for it.
        commands: commands it adds to the command line.
        sandbox_options: flags of the ``sandbox`` command for its part of the sandbox.
        host_example: how its API host is written, where it has none by default
            (Coursepath: each academy has its own).
        auth_schemes: the schemes of its ``Authorization`` header besides ``Bearer``: the
            token after one is masked wherever it is written.
        token_shapes: regular expressions of its tokens, masked wherever they are written
            (whoever's they are: a token seen in a proxy's error is still a token).
    """

    label: str = ""
    options: tuple[Option, ...] = ()
    sheet_defaults: tuple[SheetDefault, ...] = ()
    exports: str = ""
    export_targets: tuple[ExportTarget, ...] = ()
    commands: tuple[Command, ...] = ()
    sandbox_options: tuple[Option, ...] = ()
    host_example: str = ""
    auth_schemes: tuple[str, ...] = ()
    token_shapes: tuple[str, ...] = ()
