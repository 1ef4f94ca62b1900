"""The sending side of each vendor: calls per row, and what each answer means."""

from __future__ import annotations

from importer.adapters import coursepath, learning360_v1, learning360_v2, zoho_people
from importer.adapters.base import Adapter, Answer, Call, Outcome

__all__ = ["ADAPTERS", "Adapter", "Answer", "Call", "Outcome"]

#: Vendor name -> its adapter.
ADAPTERS: dict[str, Adapter] = {
    module.ADAPTER.name: module.ADAPTER
    for module in (learning360_v1, learning360_v2, zoho_people, coursepath)
}
