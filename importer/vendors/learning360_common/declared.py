"""What 360Learning's v1 and v2 declare alike for the faces (see
:mod:`importer.vendors.declarations`)."""

from __future__ import annotations

from importer.vendors.declarations import SheetDefault

__all__ = ["PATH_ID"]

#: ``--path-id`` (job key ``path_id``): the path of every row without a Path ID.
PATH_ID = SheetDefault(
    field="pathId",
    flag="--path-id",
    key="path_id",
    help="the path of every row without a Path ID column/cell",
    metavar="ID",
)
