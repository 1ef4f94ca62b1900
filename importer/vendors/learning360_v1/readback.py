"""360Learning v1 read-back: program sessions by ID; created path sessions through the list of
all path sessions (v1 reads a path session no other way)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from importer.core.errors import ConfigurationError
from importer.sending.protocol import Call
from importer.sending.readback import ReadBack, array, one, pages
from importer.vendors.learning360_v1.declared import SESSION_IDS

if TYPE_CHECKING:
    from importer.sending.sender import Sender

__all__ = ["READBACK"]


def _export(sender: Sender, target: Mapping[str, str]) -> list[dict[str, Any]]:
    ids = [i for i in target.get(SESSION_IDS.key, "").split(",") if i]
    if not ids:
        raise ConfigurationError(
            f"360learning-v1 exports program sessions: give {SESSION_IDS.flag}."
        )
    found = []
    for ident in ids:
        path = f"/api/v1/programs/sessions/{ident}/"
        item = one(sender, Call("read the program session", "GET", path, writes=False))
        if item is None:
            raise ConfigurationError(f"could not read the program session at {path}.")
        found.append(item)
    return found


def _find(
    sender: Sender, created: Mapping[str, Mapping[str, Any]], target: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    first = Call("list the path sessions", "GET", "/api/v1/paths/sessions", writes=False)
    return {str(item.get("sessionId")): item for item in pages(sender, first, array, _last)}


def _last(call: Call, answer: Any, count: int) -> None:
    return None  # the list of all path sessions comes in one answer


READBACK = ReadBack(
    fields={
        "sessionName": "sessionName",
        "startDate": "startDate",
        "endDate": "endDate",
        "sessionAdditionalInformation": "sessionAdditionalInformation",
    },
    export=_export,
    find=_find,
)
