"""``python -m importer``: the same as the ``session-importer`` command."""

from importer.cli.entry import main

raise SystemExit(main())
