"""The coordinators' web page (``session-importer serve``).

Upload a sheet, see every problem in its cell, import the valid rows while watching the
progress, download the result: the same use cases as the command line (validation, the
import run, the journal, the result sheet), never a copy of them.

- :mod:`importer.web.server`: the ``serve`` command (bind check, sandbox, uvicorn).
- :mod:`importer.web.app`: the routes; ``templates/`` and ``static/`` hold the page.
- :mod:`importer.web.workspace`: uploads, runs in background threads, history.
- :mod:`importer.web.accounts`: the accounts file; :mod:`importer.web.security`: sessions,
  password, CSRF, safety headers; :mod:`importer.web.views`: what the pages show.
"""
