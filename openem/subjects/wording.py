"""What wearers read, in their own language: English, and Polish as the first translation.
Every domain that writes to a wearer (privacy notices, battery warnings, the
subject-access summary) takes its texts from here.

Add a language by dropping ``<code>.json`` with the same keys in ``wording/``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).parent / "wording"
FALLBACK = "en"


def available() -> list[str]:
    return sorted(path.stem for path in FOLDER.glob("*.json"))


def resolve(language: str | None) -> str:
    """The subject's language if translated (``pl-PL`` -> ``pl``), else English."""
    base = (language or FALLBACK).split("-")[0].lower()
    return base if base in available() else FALLBACK


@lru_cache(maxsize=16)
def texts(language: str) -> dict[str, Any]:
    english: dict[str, Any] = json.loads((FOLDER / "en.json").read_text(encoding="utf-8"))
    chosen = resolve(language)
    if chosen == FALLBACK:
        return english
    translated: dict[str, Any] = json.loads((FOLDER / f"{chosen}.json").read_text("utf-8"))
    return english | translated
