"""Where the shared evaluation set lives: ../shared/faces beside the checkout, or env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def faces_dir() -> Path:
    configured = os.environ.get("OPENEM_FACES_DIR")
    directory = (
        Path(configured) if configured else (REPO_ROOT / ".." / "shared" / "faces").resolve()
    )
    if not (directory / "pairs.csv").exists():
        pytest.skip(f"face evaluation set not found at {directory} (set OPENEM_FACES_DIR)")
    return directory
