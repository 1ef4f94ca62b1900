"""What Coursepath declares for the faces (see :mod:`importer.vendors.declarations`): the
course whose members ``export`` lists, and how its host is written (each academy has its
own)."""

from __future__ import annotations

from importer.vendors.declarations import Declarations, ExportTarget

__all__ = ["COURSE", "DECLARED"]

#: ``export --course-id``: the course whose members are listed.
COURSE = ExportTarget(key="course_id", flag="--course-id", help="the course")

DECLARED = Declarations(
    label="Coursepath",
    exports="the members of a course",
    export_targets=(COURSE,),
    host_example="https://<academy>.coursepath.com",
)
