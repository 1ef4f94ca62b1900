"""Refresh the documentation's command reference from the real --help output (and `vendors`).

Run after changing the command line: python .ci/update_docs.py (it rewrites the help blocks of
docs/commands.md and the `vendors` listing of docs/vendors.md; a test says when they are stale).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from importer.cli.parser import command_names

DOCS = Path(__file__).resolve().parent.parent / "docs"
COMMANDS = DOCS / "commands.md"
VENDORS = DOCS / "vendors.md"
ENV = {"COLUMNS": "100", "PATH": ""}


def output(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "importer", *args],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
    )
    return done.stdout.strip()


def main() -> None:
    text = COMMANDS.read_text(encoding="utf-8")
    for command in command_names():
        block = f"## `session-importer {command}`\n\n```text\n{output(command, '--help')}\n```\n"
        pattern = re.compile(rf"## `session-importer {command}`\n\n```text\n.*?\n```\n", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _, block=block: block, text)
        else:
            text = text.rstrip("\n") + f"\n\n{block}"
    COMMANDS.write_text(text, encoding="utf-8")
    text = VENDORS.read_text(encoding="utf-8")
    listing = f"The output of `session-importer vendors`:\n\n```text\n{output('vendors')}\n```\n"
    text = re.sub(
        r"The output of `session-importer vendors`:\n\n```text\n.*?\n```\n",
        lambda _: listing,
        text,
        flags=re.S,
    )
    VENDORS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
