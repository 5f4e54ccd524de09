"""Envelope encryption for blobs at rest (check-in photos, face templates, frames).

Each record gets its own random 256-bit data key. The blob is encrypted with
AES-256-GCM under that data key, with caller-supplied associated data that
names the record (so a blob cannot be moved to another record). The data
key is wrapped (AES key wrap, RFC 3394) by a master key identified by
``key_id``; only the wrapped key is stored with the blob.

Master keys live in a key file (``OPENEM_KEY_FILE``; JSON, mode 0600), never
in the database. Several can coexist: the primary one wraps new data keys,
the others still unwrap old ones, and :func:`rewrap` moves a blob to the new
primary without touching its ciphertext. Deleting a record's wrapped key
(:func:`shred`) makes its blob permanently unreadable (crypto-shredding),
even in backups of the data.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

__all__ = [
    "KEY_FILE_ENV",
    "BlobShredded",
    "BlobUnreadable",
    "EnvelopeError",
    "KeyFileError",
    "KeyRing",
    "SealedBlob",
    "UnknownMasterKey",
    "generate_keyring",
    "keyring_from_env",
    "load_keyring",
    "open_",
    "rewrap",
    "save_keyring",
    "seal",
    "shred",
]

KEY_FILE_ENV = "OPENEM_KEY_FILE"
_KEY_BYTES = 32
_NONCE_BYTES = 12
_BLOB_MAGIC = b"OEB1"
_FILE_VERSION = 1


class EnvelopeError(Exception):
    """Base class; messages never contain key material or plaintext."""


class KeyFileError(EnvelopeError):
    pass


class UnknownMasterKey(EnvelopeError):
    pass


class BlobUnreadable(EnvelopeError):
    """Wrong associated data, tampered blob, or wrong master key."""


class BlobShredded(EnvelopeError):
    """The wrapped data key was destroyed: the blob can never be read again."""


@dataclass(frozen=True, slots=True)
class SealedBlob:
    key_id: str
    wrapped_key: bytes = field(repr=False)
    nonce: bytes
    ciphertext: bytes = field(repr=False)

    def to_bytes(self) -> bytes:
        """``OEB1`` then four length-prefixed fields (big-endian u32 lengths)."""
        parts = (self.key_id.encode("utf-8"), self.wrapped_key, self.nonce, self.ciphertext)
        return _BLOB_MAGIC + b"".join(struct.pack(">I", len(p)) + p for p in parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> SealedBlob:
        if not data.startswith(_BLOB_MAGIC):
            raise BlobUnreadable("not a sealed blob")
        parts: list[bytes] = []
        offset = len(_BLOB_MAGIC)
        for _ in range(4):
            if offset + 4 > len(data):
                raise BlobUnreadable("truncated sealed blob")
            (length,) = struct.unpack_from(">I", data, offset)
            offset += 4
            if offset + length > len(data):
                raise BlobUnreadable("truncated sealed blob")
            parts.append(data[offset : offset + length])
            offset += length
        if offset != len(data):
            raise BlobUnreadable("trailing bytes after sealed blob")
        return cls(parts[0].decode("utf-8"), parts[1], parts[2], parts[3])


@dataclass(frozen=True)
class KeyRing:
    """Master keys by id; ``primary`` wraps new data keys."""

    primary: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if self.primary not in self.keys:
            raise KeyFileError("primary key id not in key ring")
        if any(len(key) != _KEY_BYTES for key in self.keys.values()):
            raise KeyFileError("master keys must be 256-bit")

    def master_key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise UnknownMasterKey("master key not in key ring") from None

    def rotated(self) -> KeyRing:
        """A new key ring with a fresh primary key; old keys kept for unwrapping."""
        key_id = _new_key_id()
        return KeyRing(primary=key_id, keys={**self.keys, key_id: secrets.token_bytes(_KEY_BYTES)})

    def without(self, key_id: str) -> KeyRing:
        """Retire a master key (after every blob was rewrapped away from it)."""
        if key_id == self.primary:
            raise KeyFileError("cannot retire the primary key")
        return KeyRing(
            primary=self.primary, keys={k: v for k, v in self.keys.items() if k != key_id}
        )


def _new_key_id() -> str:
    return f"mk-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


def generate_keyring() -> KeyRing:
    key_id = _new_key_id()
    return KeyRing(primary=key_id, keys={key_id: secrets.token_bytes(_KEY_BYTES)})


def seal(plaintext: bytes, *, aad: bytes, keyring: KeyRing) -> SealedBlob:
    """Encrypt ``plaintext`` under a fresh data key wrapped by the primary master key."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, aad)
    wrapped = aes_key_wrap(keyring.master_key(keyring.primary), data_key)
    return SealedBlob(
        key_id=keyring.primary, wrapped_key=wrapped, nonce=nonce, ciphertext=ciphertext
    )


def _unwrap(blob: SealedBlob, keyring: KeyRing) -> bytes:
    if not blob.wrapped_key:
        raise BlobShredded("data key destroyed")
    try:
        return aes_key_unwrap(keyring.master_key(blob.key_id), blob.wrapped_key)
    except InvalidUnwrap:
        raise BlobUnreadable("data key does not unwrap") from None


def open_(blob: SealedBlob, *, aad: bytes, keyring: KeyRing) -> bytes:
    """Decrypt a sealed blob; ``aad`` must equal what was given to :func:`seal`."""
    data_key = _unwrap(blob, keyring)
    try:
        return AESGCM(data_key).decrypt(blob.nonce, blob.ciphertext, aad)
    except (InvalidTag, ValueError):
        raise BlobUnreadable("blob does not authenticate") from None


def rewrap(
    blob: SealedBlob, new_keyring: KeyRing, *, old_keyring: KeyRing | None = None
) -> SealedBlob:
    """Re-wrap the data key under ``new_keyring.primary``; the ciphertext is unchanged.

    ``old_keyring`` (default: ``new_keyring``) must hold the blob's current key.
    """
    data_key = _unwrap(blob, old_keyring or new_keyring)
    wrapped = aes_key_wrap(new_keyring.master_key(new_keyring.primary), data_key)
    return replace(blob, key_id=new_keyring.primary, wrapped_key=wrapped)


def shred(blob: SealedBlob) -> SealedBlob:
    """The blob without its wrapped data key: what remains can never be decrypted."""
    return replace(blob, wrapped_key=b"")


def _check_permissions(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError("key file must not be readable by group or others (chmod 600)")


def _check_not_with_data(path: Path, data_dirs: Iterable[Path]) -> None:
    resolved = path.expanduser().resolve()
    for data_dir in data_dirs:
        if resolved.is_relative_to(data_dir.expanduser().resolve()):
            raise KeyFileError("key file must not be stored alongside the data it protects")


def load_keyring(path: Path, *, create: bool = False, data_dirs: Iterable[Path] = ()) -> KeyRing:
    """Read the key file; with ``create``, write a new one (mode 0600) if absent.

    ``data_dirs`` (database directory, blob store, backups) must not contain
    the key file: the master key is never stored alongside the data.
    """
    _check_not_with_data(path, data_dirs)
    if not path.exists():
        if not create:
            raise KeyFileError("key file not found")
        keyring = generate_keyring()
        save_keyring(keyring, path, exclusive=True)
        return keyring
    _check_permissions(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("version") != _FILE_VERSION:
            raise KeyFileError("unsupported key file version")
        keys = {str(k): base64.b64decode(v, validate=True) for k, v in document["keys"].items()}
        return KeyRing(primary=str(document["primary"]), keys=keys)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyFileError("malformed key file") from exc


def save_keyring(keyring: KeyRing, path: Path, *, exclusive: bool = False) -> None:
    """Write atomically with mode 0600 (``exclusive``: fail if the file exists)."""
    document = {
        "version": _FILE_VERSION,
        "primary": keyring.primary,
        "keys": {k: base64.b64encode(v).decode("ascii") for k, v in keyring.keys.items()},
    }
    data = json.dumps(document, indent=2).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path if exclusive else path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)  # regardless of the umask
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    if not exclusive:
        os.replace(target, path)


def keyring_from_env(
    *,
    environ: Mapping[str, str] | None = None,
    create: bool = False,
    data_dirs: Iterable[Path] = (),
) -> KeyRing:
    """Load the key ring named by ``OPENEM_KEY_FILE``."""
    env = os.environ if environ is None else environ
    location = env.get(KEY_FILE_ENV)
    if not location:
        raise KeyFileError(f"{KEY_FILE_ENV} is not set")
    return load_keyring(Path(location), create=create, data_dirs=data_dirs)
