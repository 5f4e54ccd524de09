"""Prints `openem bench ingest --json` (options pass through)."""

import sys

from openem.cli import app

if __name__ == "__main__":
    app(["bench", "ingest", "--json", *sys.argv[1:]], prog_name="openem")
