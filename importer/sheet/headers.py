"""Match a sheet's headers to a vendor's columns, forgiving how people write them.

``Start date``, ``start_date``, ``START DATE``, ``startDate`` and
``Start date (local time)`` all match the field ``startDate``: case, spaces,
underscores, punctuation and anything in parentheses are ignored, and each
field also answers to its template label and aliases.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from importer.core.errors import MissingColumnsError
from importer.sheet.reading.table import HeaderScorer
from importer.sheet.schema import Vendor

__all__ = [
    "ColumnMap",
    "field_named",
    "header_guesses",
    "header_key",
    "header_scorer",
    "match_headers",
]


def header_key(text: str) -> str:
    """Fold a header for matching: ``'Start date (UTC)*'`` -> ``'startdate'``."""
    text = re.sub(r"\([^)]*\)", "", text)
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def _lookup(vendor: Vendor) -> dict[str, str]:
    """Header key -> field name; a field's own name and label win over aliases."""
    table: dict[str, str] = {}
    for field in vendor.fields:
        for alias in field.aliases:
            table.setdefault(header_key(alias), field.name)
    for field in vendor.fields:
        table[header_key(field.label)] = field.name
        table[header_key(field.name)] = field.name
    return table


def header_scorer(vendor: Vendor) -> HeaderScorer:
    """Return a function counting how many cells of a row are headers of ``vendor``."""
    table = _lookup(vendor)

    def score(cells: Sequence[str]) -> int:
        return len({table[k] for k in map(header_key, cells) if k in table})

    return score


@dataclass(frozen=True)
class ColumnMap:
    """Which sheet column holds each vendor field.

    Attributes:
        fields: field name -> header in the sheet, for the fields present.
        extra: headers that match no field; kept and passed through.
    """

    fields: dict[str, str]
    extra: tuple[str, ...]


def field_named(vendor: Vendor, text: str) -> str | None:
    """The field ``text`` names (its API name, label or an alias, written any way
    :func:`header_key` forgives), or ``None``."""
    return _lookup(vendor).get(header_key(text))


def header_guesses(headers: Sequence[str], vendor: Vendor) -> dict[str, list[str]]:
    """Field name -> the sheet's headers, the likeliest first (how closely each reads like
    the field's label, name or an alias): for a person choosing a field's column."""
    guesses: dict[str, list[str]] = {}
    for field in vendor.fields:
        names = [header_key(n) for n in (field.label, field.name, *field.aliases)]

        def closeness(header: str, names: list[str] = names) -> float:
            key = header_key(header) or header.casefold()
            return max(difflib.SequenceMatcher(None, key, name).ratio() for name in names)

        guesses[field.name] = sorted(headers, key=lambda h: -closeness(h))
    return guesses


def match_headers(
    headers: Sequence[str],
    vendor: Vendor,
    where: str,
    defaults: frozenset[str] = frozenset(),
    chosen: Mapping[str, str | None] | None = None,
) -> ColumnMap:
    """Map ``headers`` to ``vendor``'s fields.

    Args:
        headers: the sheet's headers.
        vendor: whose columns to find.
        where: the file (and sheet) for error messages.
        defaults: fields given for the whole sheet (e.g. ``--path-id``), so not required.
        chosen: field name -> the header a person chose for it (``--map``, the page's
            mapping step), or ``None``: not in this sheet. A choice wins over matching by
            name: the header chosen holds that field only.

    Raises:
        MissingColumnsError: a required field has no column, naming it and the
            closest header; or two columns claim the same field; or a chosen header is
            not in the sheet.
    """
    table = _lookup(vendor)
    picked = dict(chosen or {})
    for wanted, header in picked.items():
        if header is not None and header not in headers:
            raise MissingColumnsError(
                f"{where}: no column {header!r} for {vendor.field(wanted).label!r}; "
                f"headers found: {', '.join(repr(h) for h in headers) or 'none'}."
            )
    by_header = {header: field for field, header in picked.items() if header is not None}
    if len(by_header) < sum(1 for header in picked.values() if header is not None):
        raise MissingColumnsError(f"{where}: one column is chosen for two fields.")
    found: dict[str, str] = {}
    extra: list[str] = []
    for header in headers:
        name = by_header.get(header)
        if name is None:
            name = table.get(header_key(header))
            if name in picked:  # the person chose this field's column (or none): not this
                name = None
        if name is None:
            extra.append(header)
        elif name in found:
            raise MissingColumnsError(
                f"{where}: columns {found[name]!r} and {header!r} both look like "
                f"{vendor.field(name).label!r}; rename or delete one of them."
            )
        else:
            found[name] = header
    missing = [
        f for f in vendor.fields if f.required and f.name not in found | dict.fromkeys(defaults)
    ]
    if missing:
        parts = []
        for field in missing:
            close = difflib.get_close_matches(
                header_key(field.label), [header_key(h) for h in extra], n=1, cutoff=0.6
            )
            guess = next((h for h in extra if close and header_key(h) == close[0]), None)
            hint = f" (closest header found: {guess!r})" if guess else ""
            parts.append(f"{field.label!r}{hint}")
        present = ", ".join(repr(h) for h in headers) or "none"
        raise MissingColumnsError(
            f"{where}: missing required column{'s' if len(parts) > 1 else ''} "
            f"{', '.join(parts)}. Headers found: {present}. "
            f"The template ('session-importer template {vendor.name}') has every column."
        )
    return ColumnMap(found, tuple(extra))
