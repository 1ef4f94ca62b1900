"""Zoho People LMS (sessions of a course batch module).

The plugin is built on first use of ``PLUGIN``: its parts (HTTP calls, auth, sandbox)
are then imported, so that ``validate`` loads only the sheet (``schema``).
"""

from importer.vendors.plugin import Plugin, deferred
from importer.vendors.zoho_people import declared, schema

__all__ = ["PLUGIN"]


def _plugin() -> Plugin:
    from importer.vendors.zoho_people import auth, people, readback, sandbox, wire

    return Plugin(
        schema=schema.VENDOR,
        wire=wire.ADAPTER,
        credentials=(
            "IMPORTER_ZOHO_CLIENT_ID",
            "IMPORTER_ZOHO_CLIENT_SECRET",
            "IMPORTER_ZOHO_REFRESH_TOKEN",
        ),
        # Other data centres: people.zoho.eu / accounts.zoho.eu, .in, .com.au, .jp... (together).
        api_host="https://people.zoho.com",
        token_host="https://accounts.zoho.com",
        auth=auth.auth,
        declared=declared.DECLARED,
        people=people.PEOPLE,
        sandbox=sandbox.PART,
        readback=readback.READBACK,
        account_fields=("IMPORTER_ZOHO_CLIENT_ID",),
    )


__getattr__ = deferred(_plugin)
