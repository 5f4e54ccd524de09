"""`openem bench rules`: zone evaluation throughput vs PostGIS, and alert latency under load.

Usage: python benchmarks/rules.py [--seconds S] [--database-url URL] [--rate R]
Prints one JSON object {name, machine, figures, targets}; the figures are recorded
with their date in docs/benchmarks.md.
"""

from __future__ import annotations

import sys

from openem.cli import app

if __name__ == "__main__":
    sys.exit(app(["bench", "rules", "--json", *sys.argv[1:]]))
