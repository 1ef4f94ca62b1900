"""Coursepath (members, course and program enrolment, groups, invites).

The plugin is built on first use of ``PLUGIN``: its parts (HTTP calls, auth, sandbox)
are then imported, so that ``validate`` loads only the sheet (``schema``).
"""

from importer.vendors.coursepath import declared, schema
from importer.vendors.plugin import Plugin, deferred

__all__ = ["PLUGIN"]


def _plugin() -> Plugin:
    from importer.vendors.coursepath import auth, changes, readback, sandbox, wire

    return Plugin(
        schema=schema.VENDOR,
        wire=wire.ADAPTER,
        credentials=("IMPORTER_COURSEPATH_API_KEY", "IMPORTER_COURSEPATH_EMAIL"),
        api_host=None,  # each academy has its own host: https://<academy>.coursepath.com
        token_host=None,
        auth=auth.auth,
        declared=declared.DECLARED,
        sandbox=sandbox.PART,
        readback=readback.READBACK,
        changes=changes.CHANGES,
        account_fields=(),  # an academy is its own host
    )


__getattr__ = deferred(_plugin)
