"""Find the parts of an xlsx package that the reader reads as worksheets or shared strings.

The reader does not go by the parts' names: a worksheet is whatever part the workbook's
relationships point a ``<sheet>`` at, so ``xl/worksheets/data.dat`` is read as a sheet just
as ``sheet1.xml`` is (a 1.6 KB file holding one cell at XFD1048576 under such a name got
past a guard that scanned only ``*.xml`` parts, and aborted the process). So the parts are
found as the package itself declares them, and as every reader might resolve them:

- ``[Content_Types].xml``: any part (by name, or by extension) typed as a worksheet,
  chartsheet, dialog sheet or macro sheet, or as shared strings;
- the workbook (``xl/workbook.xml``, and whatever ``_rels/.rels`` names as the document)
  and its relationships: the target of every ``<sheet r:id>``, whatever its type, and of
  every relationship typed as a sheet or as shared strings.

A target is resolved both as the packaging standard says (relative to the part that names
it) and as calamine does (``xl/`` prefixed), names compared without case and with ``\\``
read as ``/``; every resolution found in the archive counts. :mod:`importer.sheet.guard.check` then
scans each of them as the reader would read it.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass, field

from importer.sheet.guard.scan import Budget, PartScan, local_name, parse_part

__all__ = ["Parts", "part_key", "workbook_parts"]

#: The last segment of a relationship type, or of a ``...+xml`` content type, for a sheet.
_SHEET_KINDS = ("worksheet", "chartsheet", "dialogsheet", "macrosheet", "intlmacrosheet")
#: At most this many elements are kept from one metadata part (a real one has dozens).
_MAX_KEPT = 100_000


def part_key(name: str) -> str:
    """How a part's name is compared: without case, ``\\`` read as ``/``, no leading ``/``."""
    return name.replace("\\", "/").lstrip("/").lower()


@dataclass
class Parts:
    """The archive's parts (by :func:`part_key`) that the reader may read, by role."""

    sheets: set[str] = field(default_factory=set)
    shared_strings: set[str] = field(default_factory=set)


class _Collect(PartScan):
    """Keep the attributes (by lowercase local name) of the elements named in ``wanted``."""

    def __init__(self, budget: Budget, wanted: set[str]) -> None:
        super().__init__(budget)
        self.wanted = wanted
        self.found: list[tuple[str, dict[str, str]]] = []

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        self.check_depth()
        local = local_name(name).lower()
        if local in self.wanted and len(self.found) < _MAX_KEPT:
            self.found.append((local, {local_name(k).lower(): v for k, v in attributes.items()}))


def _collect(
    archive: zipfile.ZipFile,
    names: dict[str, zipfile.ZipInfo],
    key: str,
    wanted: set[str],
    budget: Budget,
) -> list[tuple[str, dict[str, str]]]:
    info = names.get(key)
    if info is None:
        return []
    scan = _Collect(budget, wanted)
    parse_part(archive, info, scan, budget)
    return scan.found


def _kind(type_name: str) -> str:
    """``.../relationships/worksheet`` or ``...spreadsheetml.worksheet+xml`` -> ``worksheet``."""
    last = type_name.strip().rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower()
    last = last.removesuffix("+xml")
    return "sheet" if last.endswith(_SHEET_KINDS) else last


def _resolve(source: str, target: str) -> set[str]:
    """Every name a reader may give ``target``, named by the part ``source``."""
    target = target.strip().replace("\\", "/")
    if not target:
        return set()
    found = {part_key(target)}
    if not target.startswith("/"):
        found.add(part_key(posixpath.normpath(posixpath.join(posixpath.dirname(source), target))))
    # calamine: "/xl/x" and "xl/x" as they are, anything else under "xl/".
    bare = target.lstrip("/")
    found.add(part_key(bare if bare.lower().startswith("xl/") else f"xl/{bare}"))
    return found


def _rels_of(part: str) -> str:
    """The relationships part of ``part``: ``xl/a.xml`` -> ``xl/_rels/a.xml.rels``."""
    folder, name = posixpath.split(part)
    return part_key(posixpath.join(folder, "_rels", f"{name}.rels"))


def workbook_parts(
    archive: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo], budget: Budget
) -> Parts:
    """The worksheets and shared-string tables of the package, as its metadata declares them.

    Args:
        archive: the open package.
        names: its entries by :func:`part_key`.
        budget: for the scan's deadline and the message's file name.
    """
    parts = Parts()
    defaults: dict[str, str] = {}
    overrides: dict[str, str] = {}
    for element, attributes in _collect(
        archive, names, "[content_types].xml", {"default", "override"}, budget
    ):
        kind = _kind(attributes.get("contenttype", ""))
        if element == "default":
            defaults[attributes.get("extension", "").lower().lstrip(".")] = kind
        else:
            overrides[part_key(attributes.get("partname", ""))] = kind
    for key in names:
        kind = overrides.get(key) or defaults.get(posixpath.splitext(key)[1].lstrip("."), "")
        _file(parts, kind, {key})
    workbooks = {"xl/workbook.xml"}
    for _, attributes in _collect(archive, names, "_rels/.rels", {"relationship"}, budget):
        if attributes.get("targetmode", "").lower() != "external":
            workbooks |= _resolve("", attributes.get("target", ""))
    for workbook in sorted(workbooks & set(names)):
        named = {
            attributes.get("id", "")
            for _, attributes in _collect(archive, names, workbook, {"sheet"}, budget)
        }
        for _, attributes in _collect(archive, names, _rels_of(workbook), {"relationship"}, budget):
            if attributes.get("targetmode", "").lower() == "external":
                continue
            targets = _resolve(workbook, attributes.get("target", ""))
            kind = _kind(attributes.get("type", ""))
            _file(parts, "sheet" if attributes.get("id") in named else kind, targets)
    parts.sheets &= set(names)
    parts.shared_strings &= set(names)
    return parts


def _file(parts: Parts, kind: str, keys: set[str]) -> None:
    if kind == "sheet":
        parts.sheets |= keys
    elif kind == "sharedstrings":
        parts.shared_strings |= keys
