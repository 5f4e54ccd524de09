"""Prints `openem bench startup --json` (options pass through)."""

import sys

from openem.cli import app

if __name__ == "__main__":
    app(["bench", "startup", "--json", *sys.argv[1:]], prog_name="openem")
