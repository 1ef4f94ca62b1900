"""``python -m importer``: the same as the ``session-importer`` command."""

from importer.cli import main

raise SystemExit(main())
