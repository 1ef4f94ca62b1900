"""360Learning API v1 (path sessions; deprecated, sunset planned mid-2027).

The plugin is built on first use of ``PLUGIN``: its parts (HTTP calls, auth, sandbox)
are then imported, so that ``validate`` loads only the sheet (``schema``).
"""

from importer.vendors.learning360_v1 import declared, schema
from importer.vendors.plugin import Plugin, deferred

__all__ = ["PLUGIN"]


def _plugin() -> Plugin:
    from importer.vendors.learning360_v1 import auth, readback, sandbox, wire

    return Plugin(
        schema=schema.VENDOR,
        wire=wire.ADAPTER,
        credentials=("IMPORTER_360L_COMPANY", "IMPORTER_360L_API_KEY"),
        api_host="https://app.360learning.com",  # US: https://app.us.360learning.com
        token_host=None,
        auth=auth.auth,
        declared=declared.DECLARED,
        sandbox=sandbox.PART,
        readback=readback.READBACK,
        account_fields=("IMPORTER_360L_COMPANY",),
    )


__getattr__ = deferred(_plugin)
