"""Coursepath (members, course and program enrolment, groups, invites)."""

from importer.vendors.coursepath import auth, changes, readback, sandbox, schema, wire
from importer.vendors.plugin import Plugin

__all__ = ["PLUGIN"]

PLUGIN = Plugin(
    schema=schema.VENDOR,
    wire=wire.ADAPTER,
    credentials=("IMPORTER_COURSEPATH_API_KEY", "IMPORTER_COURSEPATH_EMAIL"),
    api_host=None,  # each academy has its own host: https://<academy>.coursepath.com
    token_host=None,
    auth=auth.auth,
    sandbox=sandbox.PART,
    readback=readback.READBACK,
    changes=changes.CHANGES,
    account_fields=(),  # an academy is its own host
)
