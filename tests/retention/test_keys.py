"""Key rotation: every blob and TOTP secret stays readable under the new key; the old key
becomes useless."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openem.access import totp
from openem.access.models import Role, User
from openem.access.principal import SYSTEM
from openem.crypto import store
from openem.crypto.envelope import (
    EnvelopeError,
    KeyRing,
    load_keyring,
    save_keyring,
)
from openem.retention import keys
from tests.support import factories

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _blobs(sessions: sessionmaker[Session], keyring: KeyRing, data_dir: Path) -> dict[str, bytes]:
    contents = {}
    with sessions() as session, session.begin():
        subject = factories.subject(session)
        for index in range(3):
            plaintext = f"fictional frame {index}".encode()
            record = store.put(
                session,
                keyring=keyring,
                data_dir=data_dir,
                subject_id=subject.id,
                data_class="checkin_frames",
                media_type="image/jpeg",
                plaintext=plaintext,
                now=NOW,
            )
            contents[str(record.id)] = plaintext
    return contents


def test_rotation_keeps_every_blob_readable_and_the_old_key_useless(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    key_file = tmp_path / "keys" / "master.key"
    old = load_keyring(key_file, create=True)
    data_dir = tmp_path / "data"
    contents = _blobs(sessions, old, data_dir)
    ciphertexts = {
        blob_id: store.blob_path(data_dir, uuid.UUID(blob_id)).read_bytes() for blob_id in contents
    }

    report = keys.rotate(sessions, key_file=key_file, data_dir=data_dir)

    new = load_keyring(key_file)
    assert report.rewrapped == 3 and report.retired_key_ids == (old.primary,)
    assert set(new.keys) == {new.primary} and new.primary != old.primary
    with sessions() as session:
        records = session.scalars(select(store.BlobRecord)).all()
        for record in records:
            assert record.key_id == new.primary
            assert store.read(record, keyring=new, data_dir=data_dir) == contents[str(record.id)]
            with pytest.raises(EnvelopeError):
                store.read(record, keyring=old, data_dir=data_dir)
            # the ciphertext itself was not rewritten: only the small wrapped key changed
            assert store.blob_path(data_dir, record.id).read_bytes() == ciphertexts[str(record.id)]


def test_a_blob_sealed_by_a_process_still_on_the_old_key_is_swept_up(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    key_file = tmp_path / "keys" / "master.key"
    old = load_keyring(key_file, create=True)
    data_dir = tmp_path / "data"
    _blobs(sessions, old, data_dir)
    rotated = old.rotated()
    save_keyring(rotated, key_file)  # step one of a rotation that was interrupted
    _blobs(sessions, old, data_dir)  # a worker that has not reloaded the key file yet
    keys.rotate(sessions, key_file=key_file, data_dir=data_dir)
    final = load_keyring(key_file)
    with sessions() as session:
        assert keys.remaining_under_old_keys(session, keyring=final) == 0
        for record in session.scalars(select(store.BlobRecord)):
            assert store.read(record, keyring=final, data_dir=data_dir)


def test_the_master_key_never_sits_in_the_database(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    key_file = tmp_path / "keys" / "master.key"
    keyring = load_keyring(key_file, create=True)
    _blobs(sessions, keyring, tmp_path / "data")
    master = keyring.master_key(keyring.primary)
    with sessions() as session:
        for record in session.scalars(select(store.BlobRecord)):
            assert master not in record.wrapped_key and record.wrapped_key != master


def test_rotation_reseals_totp_secrets_before_it_retires_the_old_key(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    key_file = tmp_path / "keys" / "master.key"
    old = load_keyring(key_file, create=True)
    with sessions() as session, session.begin():
        sealed_user = factories.user(session, Role.supervisor)
        sealed = totp.enrol(session, principal=SYSTEM, user=sealed_user, now=NOW, keyring=old)
        clear_user = factories.user(session, Role.police)
        clear_user.totp_secret = "JBSWY3DPEHPK3PXP"  # stored in the clear by an earlier version
        ids = (sealed_user.id, clear_user.id)

    report = keys.rotate(sessions, key_file=key_file, data_dir=tmp_path / "data")

    new = load_keyring(key_file)
    assert report.retired_key_ids == (old.primary,) and set(new.keys) == {new.primary}
    with sessions() as session:
        users = [session.get_one(User, user_id) for user_id in ids]
        assert [totp.secret_of(user, new) for user in users] == [
            sealed.secret, "JBSWY3DPEHPK3PXP"
        ]
        assert totp.secrets_not_under(session, keyring=new) == 0
