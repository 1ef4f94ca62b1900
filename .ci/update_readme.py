"""Refresh the README's command reference from the real --help output (and `vendors`).

Run after changing the command line: python .ci/update_readme.py
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
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
    text = README.read_text(encoding="utf-8")
    for command in (
        "validate",
        "run",
        "status",
        "report",
        "template",
        "vendors",
        "sandbox",
        "serve",
        "store",
        "undo",
    ):
        block = f"### `session-importer {command}`\n\n```text\n{output(command, '--help')}\n```\n"
        pattern = re.compile(rf"### `session-importer {command}`\n\n```text\n.*?\n```\n", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _, block=block: block, text)
        else:
            text = text.replace("## The sandbox\n", f"{block}\n## The sandbox\n", 1)
    listing = f"The output of `session-importer vendors`:\n\n```text\n{output('vendors')}\n```\n"
    text = re.sub(
        r"The output of `session-importer vendors`:\n\n```text\n.*?\n```\n",
        lambda _: listing,
        text,
        flags=re.S,
    )
    README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
