"""What 360Learning v1 declares for the faces (see :mod:`importer.vendors.declarations`)."""

from __future__ import annotations

from importer.vendors.declarations import Declarations, ExportTarget
from importer.vendors.learning360_common.declared import PATH_ID

__all__ = ["DECLARED", "SESSION_IDS"]

#: ``export --session-id``: v1 reads program sessions back by ID.
SESSION_IDS = ExportTarget(
    key="session_ids", flag="--session-id", help="program session IDs", metavar="ID,ID"
)

DECLARED = Declarations(
    label="360Learning v1",
    sheet_defaults=(PATH_ID,),
    exports="program sessions by ID",
    export_targets=(SESSION_IDS,),
)
