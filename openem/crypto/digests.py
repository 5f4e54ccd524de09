"""One-way digests of secrets and identifiers kept only to be matched (tokens, session
cookies, pairing codes, rate-limited client addresses)."""

from __future__ import annotations

import hashlib


def sha256_hex(text: str) -> str:
    """The SHA-256 of ``text`` (UTF-8), as 64 hex digits."""
    return hashlib.sha256(text.encode()).hexdigest()
