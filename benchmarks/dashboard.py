"""Prints `openem bench dashboard --json` (options pass through)."""

import sys

from openem.cli import app

if __name__ == "__main__":
    app(["bench", "dashboard", "--json", *sys.argv[1:]], prog_name="openem")
