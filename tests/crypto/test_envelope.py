"""Envelope encryption: per-record data keys wrapped by rotatable master keys."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openem.crypto.envelope import (
    BlobShredded,
    BlobUnreadable,
    KeyFileError,
    SealedBlob,
    UnknownMasterKey,
    generate_keyring,
    keyring_from_env,
    load_keyring,
    open_,
    rewrap,
    save_keyring,
    seal,
    shred,
)

RING = generate_keyring()
PHOTO = b"\xff\xd8\xff\xe0 not really a jpeg" * 10
AAD = b"checkin-frame:7f1c"


def test_sealed_blob_opens_with_the_same_associated_data() -> None:
    blob = seal(PHOTO, aad=AAD, keyring=RING)
    assert blob.key_id == RING.primary
    assert PHOTO not in blob.ciphertext
    assert open_(blob, aad=AAD, keyring=RING) == PHOTO


def test_each_record_gets_its_own_data_key_and_nonce() -> None:
    first, second = seal(PHOTO, aad=AAD, keyring=RING), seal(PHOTO, aad=AAD, keyring=RING)
    assert first.wrapped_key != second.wrapped_key
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext


def test_blob_moved_to_another_record_does_not_open() -> None:
    blob = seal(PHOTO, aad=AAD, keyring=RING)
    with pytest.raises(BlobUnreadable):
        open_(blob, aad=b"checkin-frame:other", keyring=RING)


def test_tampered_ciphertext_does_not_open() -> None:
    blob = seal(PHOTO, aad=AAD, keyring=RING)
    flipped = bytes([blob.ciphertext[0] ^ 1]) + blob.ciphertext[1:]
    with pytest.raises(BlobUnreadable):
        open_(SealedBlob(blob.key_id, blob.wrapped_key, blob.nonce, flipped), aad=AAD, keyring=RING)


def test_blob_does_not_open_without_its_master_key() -> None:
    blob = seal(PHOTO, aad=AAD, keyring=RING)
    with pytest.raises(UnknownMasterKey):
        open_(blob, aad=AAD, keyring=generate_keyring())


def test_shredded_blob_can_never_be_opened_even_with_the_master_key() -> None:
    blob = shred(seal(PHOTO, aad=AAD, keyring=RING))
    assert blob.wrapped_key == b""
    with pytest.raises(BlobShredded):
        open_(blob, aad=AAD, keyring=RING)
    with pytest.raises(BlobShredded):
        rewrap(blob, RING.rotated())


def test_rotation_rewraps_the_data_key_without_touching_the_ciphertext() -> None:
    blob = seal(PHOTO, aad=AAD, keyring=RING)
    rotated = RING.rotated()
    moved = rewrap(blob, rotated)
    assert moved.key_id == rotated.primary != RING.primary
    assert moved.ciphertext == blob.ciphertext and moved.nonce == blob.nonce
    retired = rotated.without(RING.primary)
    assert open_(moved, aad=AAD, keyring=retired) == PHOTO
    with pytest.raises(UnknownMasterKey):
        open_(blob, aad=AAD, keyring=retired)


def test_rewrap_into_a_separate_key_ring() -> None:
    blob = seal(PHOTO, aad=AAD, keyring=RING)
    other = generate_keyring()
    moved = rewrap(blob, other, old_keyring=RING)
    assert open_(moved, aad=AAD, keyring=other) == PHOTO


def test_primary_key_cannot_be_retired() -> None:
    with pytest.raises(KeyFileError):
        RING.without(RING.primary)


def test_wrapped_key_under_the_wrong_master_key_is_unreadable() -> None:
    blob = seal(PHOTO, aad=AAD, keyring=RING)
    impostor = generate_keyring()
    forged = SealedBlob(impostor.primary, blob.wrapped_key, blob.nonce, blob.ciphertext)
    with pytest.raises(BlobUnreadable):
        open_(forged, aad=AAD, keyring=impostor)


@settings(max_examples=40, deadline=None)
@given(plaintext=st.binary(max_size=2048), aad=st.binary(max_size=64))
def test_property_serialised_blobs_round_trip(plaintext: bytes, aad: bytes) -> None:
    blob = seal(plaintext, aad=aad, keyring=RING)
    restored = SealedBlob.from_bytes(blob.to_bytes())
    assert restored == blob
    assert open_(restored, aad=aad, keyring=RING) == plaintext


@pytest.mark.parametrize("data", [b"", b"nope", b"OEB1\x00\x00", b"OEB1" + b"\x00" * 16 + b"x"])
def test_garbage_is_not_a_sealed_blob(data: bytes) -> None:
    with pytest.raises(BlobUnreadable):
        SealedBlob.from_bytes(data)


def test_repr_shows_no_key_material() -> None:
    blob = seal(PHOTO, aad=AAD, keyring=RING)
    assert blob.wrapped_key.hex() not in repr(blob)
    assert RING.keys[RING.primary].hex() not in repr(RING)


def test_key_file_is_created_with_owner_only_permissions(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.json"
    created = load_keyring(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(path) == created


def test_missing_key_file_is_an_error_unless_asked_to_create(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError):
        load_keyring(tmp_path / "absent.json")


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.json"
    save_keyring(RING, path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError):
        load_keyring(path)


def test_rotated_key_ring_is_saved_atomically_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "master.json"
    save_keyring(RING, path)
    rotated = RING.rotated()
    save_keyring(rotated, path)
    assert load_keyring(path) == rotated
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["master.json"]


def test_malformed_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.json"
    path.write_text('{"version": 1, "primary": "a", "keys": {"a": "c2hvcnQ="}}')
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError):
        load_keyring(path)


def test_key_ring_is_found_through_openem_key_file(tmp_path: Path) -> None:
    path = tmp_path / "master.json"
    ring = keyring_from_env(environ={"OPENEM_KEY_FILE": str(path)}, create=True)
    assert keyring_from_env(environ={"OPENEM_KEY_FILE": str(path)}) == ring
    with pytest.raises(KeyFileError):
        keyring_from_env(environ={})


def test_key_file_inside_a_data_directory_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with pytest.raises(KeyFileError):
        load_keyring(data_dir / "keys" / "master.json", create=True, data_dirs=[data_dir])
    assert not (data_dir / "keys" / "master.json").exists()
    beside = load_keyring(tmp_path / "keys" / "master.json", create=True, data_dirs=[data_dir])
    assert beside.primary
