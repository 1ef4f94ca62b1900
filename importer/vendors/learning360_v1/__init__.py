"""360Learning API v1 (path sessions; deprecated, sunset planned mid-2027)."""

from importer.vendors.learning360_v1 import auth, readback, sandbox, schema, wire
from importer.vendors.plugin import Plugin

__all__ = ["PLUGIN"]

PLUGIN = Plugin(
    schema=schema.VENDOR,
    wire=wire.ADAPTER,
    credentials=("IMPORTER_360L_COMPANY", "IMPORTER_360L_API_KEY"),
    api_host="https://app.360learning.com",  # US: https://app.us.360learning.com
    token_host=None,
    auth=auth.auth,
    sandbox=sandbox.PART,
    readback=readback.READBACK,
    account_fields=("IMPORTER_360L_COMPANY",),
)
