"""Prints `openem bench checkins --json` (options pass through)."""

import sys

from openem.cli import app

if __name__ == "__main__":
    app(["bench", "checkins", "--json", *sys.argv[1:]], prog_name="openem")
