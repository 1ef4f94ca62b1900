"""What Zoho People declares for the faces (see :mod:`importer.vendors.declarations`): the
``zoho_session_data`` option, the module ``export`` lists, the sandbox's lock style, and the
shape of its tokens."""

from __future__ import annotations

from importer.vendors.declarations import Declarations, ExportTarget, Option

__all__ = ["BATCH", "COURSE", "DECLARED", "LOCK_STYLE", "MODULE", "SESSION_DATA"]

#: ``--zoho-session-data``, ``zoho_session_data``, ``IMPORTER_ZOHO_SESSION_DATA``.
SESSION_DATA = Option(
    name="zoho_session_data",
    choices=("param", "body"),
    help="send sessionData as the documented parameter (default) or as a JSON body (the doc's "
    "code samples)",
)

#: ``sandbox --zoho-lock-style``: how the sandbox's Zoho refuses calls while locked.
LOCK_STYLE = Option(
    name="zoho_lock_style",
    choices=("429", "7209", "422"),
    default="429",
    help="how Zoho refuses calls during its 5-minute lock (default: 429 + Retry-After)",
)

#: ``export --course-id/--batch-id/--module-id``: the module whose sessions are listed (by
#: default, for ``--from-result``, the run's first row's).
COURSE = ExportTarget(key="course_id", flag="--course-id", help="the course", field="courseId")
BATCH = ExportTarget(key="batch_id", flag="--batch-id", help="the batch", field="batchId")
MODULE = ExportTarget(key="module_id", flag="--module-id", help="the module", field="moduleId")

DECLARED = Declarations(
    label="Zoho People",
    options=(SESSION_DATA,),
    exports="the sessions of a module",
    export_targets=(COURSE, BATCH, MODULE),
    sandbox_options=(LOCK_STYLE,),
    auth_schemes=("Zoho-oauthtoken",),
    # Zoho's access and refresh tokens: 1000.<hex>.<hex>
    token_shapes=(r"\b1000\.[0-9a-f]{8,}\.[0-9a-f]{8,}\b",),
)
