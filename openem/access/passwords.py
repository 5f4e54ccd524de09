"""Password hashing with argon2id; weak and common passwords refused."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 "low memory" profile

MIN_LENGTH = 12
_TRAILING_NOISE = re.compile(r"[\d\W_]+$")


class WeakPassword(ValueError):
    pass


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("openem.access").joinpath("data/common-passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def is_common(password: str) -> bool:
    """A listed password, that password with digits or symbols appended, or one repeated."""
    lowered = password.lower()
    stem = _TRAILING_NOISE.sub("", lowered)
    common = common_passwords()
    if lowered in common or (stem and stem in common):
        return True
    return any(
        len(lowered) % size == 0 and lowered[:size] * (len(lowered) // size) == lowered
        for size in range(1, len(lowered) // 2 + 1)
        if lowered[:size] in common or size <= 3
    )


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_LENGTH} characters")
    if is_common(password):
        raise WeakPassword("that password is too common; choose another")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def dummy_hash() -> str:
    """A hash to verify against when the username is unknown, so timing does not tell."""
    return _hasher.hash("openem-no-such-user-dummy-password")
