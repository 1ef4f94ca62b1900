"""Reading objects back from a vendor: what each vendor's ``ReadBack`` builds on.

A vendor's read-back (``importer/vendors/<vendor>/readback.py``) says how its objects are
listed for ``export`` and how the objects a run created are found again for
``export --from-result``; :mod:`importer.jobs.export` does the rest (sheets, comparison). The
helpers here page through lists and read single objects under the sender's retry policy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from importer.core.errors import ConfigurationError
from importer.sending.protocol import Answer, Call, next_link

if TYPE_CHECKING:
    from importer.sending.sender import Sender

__all__ = [
    "PAGING_STOPPED",
    "Following",
    "Items",
    "ReadBack",
    "array",
    "link_next",
    "need",
    "offset_next",
    "one",
    "pages",
]

#: How the note begins when a list's paging looped (see :func:`pages`).
PAGING_STOPPED = "paging stopped"

#: The objects of one list answer.
Items = Callable[[Answer], list[Any]]
#: The next page's call after a list answer of ``count`` objects (``None``: the last page).
Following = Callable[[Call, Answer, int], Call | None]


@dataclass(frozen=True)
class ReadBack:
    """How one vendor's objects are read back.

    Attributes:
        fields: sent field -> the field of the object read back, compared by
            ``export --from-result``.
        export: ``(sender, target options) -> objects`` for ``export`` (options such as
            ``path_id``; :class:`~importer.core.errors.ConfigurationError` names a missing one).
        find: ``(sender, created ID -> what was sent, target options) -> ID -> object``: the
            objects a run created, as the vendor has them now.
    """

    fields: Mapping[str, str]
    export: Callable[[Sender, Mapping[str, str]], list[dict[str, Any]]]
    find: Callable[
        [Sender, Mapping[str, Mapping[str, Any]], Mapping[str, str]], dict[str, dict[str, Any]]
    ]


def pages(sender: Sender, first: Call, items: Items, following: Following) -> Iterator[Any]:
    """Every object of a paged list, read under the retry policy.

    A vendor's next page that is one already read (a ``Link`` back to an earlier page, or a
    page whose objects repeat an earlier page's: an ``offset`` the vendor ignores) ends the
    list: read again, it would loop forever. The sender's ``notify`` says so, since the
    vendor may hold objects its paging never reached.
    """
    call: Call | None = first
    seen: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    contents: set[bytes] = set()
    number = 0
    while call is not None:
        page = _page_key(sender, call)
        if page in seen:
            sender.notify(_looped(call, number, "links back to a page already read"))
            return
        seen.add(page)
        answer = sender.read(call)
        number += 1
        if answer.status != 200:
            raise ConfigurationError(
                f"the vendor refused to {call.name} ({answer.status}): check the IDs."
            )
        found = items(answer)
        # A digest per page, not the page: an export of thousands of objects stays small.
        content = hashlib.sha256(json.dumps(found, sort_keys=True, default=str).encode()).digest()
        if found and content in contents:
            sender.notify(_looped(call, number - 1, "repeats a page already read"))
            return
        contents.add(content)
        yield from found
        call = following(call, answer, len(found))


def _page_key(sender: Sender, call: Call) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """A page's identity: its full URL's path and its query, whichever way they were given."""
    url = urlsplit(call.path if "://" in call.path else sender.base_url.rstrip("/") + call.path)
    query = [*parse_qsl(url.query, keep_blank_values=True), *(call.params or {}).items()]
    return call.method, url.path, tuple(sorted(query))


def _looped(call: Call, pages_read: int, how: str) -> str:
    return (
        f"{PAGING_STOPPED}: the vendor's next page of the list ({call.name}) {how}; "
        f"{pages_read} page(s) read, and the vendor may hold more than was exported"
    )


def one(sender: Sender, call: Call) -> dict[str, Any] | None:
    """One object read back, or ``None`` when the vendor has no such object."""
    answer = sender.read(call)
    if answer.status == 200 and isinstance(answer.body, dict):
        return answer.body
    return None


def need(target: Mapping[str, str], key: str, option: str) -> str:
    """A target option the export needs, or a one-line error naming the option to give."""
    if not target.get(key):
        raise ConfigurationError(f"give {option}.")
    return target[key]


def array(answer: Answer) -> list[Any]:
    """The objects of a bare JSON array."""
    return answer.body if isinstance(answer.body, list) else []


def link_next(call: Call, answer: Answer, count: int) -> Call | None:
    """The next page named by a ``Link: rel=next`` header."""
    link = next_link(answer)
    return Call(call.name, "GET", link, writes=False) if link else None


def offset_next(call: Call, answer: Answer, count: int, size: int = 100) -> Call | None:
    """The next page of ``offset``/``limit`` paging."""
    if count < size:
        return None
    offset = int((call.params or {}).get("offset", "0")) + size
    params = {"offset": str(offset), "limit": str(size)}
    return Call(call.name, "GET", call.path, params=params, writes=False)
