"""360Learning API v2 (path sessions).

The plugin is built on first use of ``PLUGIN``: its parts (HTTP calls, auth, sandbox)
are then imported, so that ``validate`` loads only the sheet (``schema``).
"""

from importer.vendors.learning360_v2 import declared, schema
from importer.vendors.plugin import Plugin, deferred

__all__ = ["PLUGIN"]


def _plugin() -> Plugin:
    from importer.vendors.learning360_v2 import auth, changes, people, readback, sandbox, wire

    return Plugin(
        schema=schema.VENDOR,
        wire=wire.ADAPTER,
        credentials=("IMPORTER_360L_CLIENT_ID", "IMPORTER_360L_CLIENT_SECRET"),
        # US: https://app.us.360learning.com; tokens come from the API host itself (EU or US).
        api_host="https://app.360learning.com",
        token_host="https://app.360learning.com",
        auth=auth.auth,
        declared=declared.DECLARED,
        people=people.PEOPLE,
        sandbox=sandbox.PART,
        readback=readback.READBACK,
        changes=changes.CHANGES,
        account_fields=("IMPORTER_360L_CLIENT_ID",),
    )


__getattr__ = deferred(_plugin)
