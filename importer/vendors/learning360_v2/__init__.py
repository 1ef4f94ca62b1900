"""360Learning API v2 (path sessions)."""

from importer.vendors.learning360_v2 import auth, changes, people, readback, sandbox, schema, wire
from importer.vendors.plugin import Plugin

__all__ = ["PLUGIN"]

PLUGIN = Plugin(
    schema=schema.VENDOR,
    wire=wire.ADAPTER,
    credentials=("IMPORTER_360L_CLIENT_ID", "IMPORTER_360L_CLIENT_SECRET"),
    # US: https://app.us.360learning.com; tokens come from the API host itself (EU or US).
    api_host="https://app.360learning.com",
    token_host="https://app.360learning.com",
    auth=auth.auth,
    people=people.PEOPLE,
    sandbox=sandbox.PART,
    readback=readback.READBACK,
    changes=changes.CHANGES,
    account_fields=("IMPORTER_360L_CLIENT_ID",),
)
