"""Master-key rotation without downtime.

1. A new primary key is added to the key file (old keys kept): from then on new
   blobs are sealed under it, and old blobs still open.
2. Every blob's data key is re-wrapped under the new key, in small committed
   batches; ciphertext files are not touched, so reads never stop.
   Sealed TOTP secrets (:mod:`openem.access.totp`) are re-wrapped the same way, and
   any still stored in the clear are sealed.
3. When no blob or TOTP secret is wrapped under an old key any more, the old keys are
   removed from the key file: the old master key is then useless.

The master key is never written to the database. See docs/data-protection.md
for holding it in a KMS or HSM.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openem.access import totp
from openem.crypto import store
from openem.crypto.envelope import KeyRing, load_keyring, rewrap, save_keyring


@dataclass(frozen=True)
class RotationReport:
    new_key_id: str
    retired_key_ids: tuple[str, ...]
    rewrapped: int


def rewrap_all(
    sessions: sessionmaker[Session], *, keyring: KeyRing, data_dir: Path, batch: int = 200
) -> int:
    """Re-wrap every blob not yet under ``keyring.primary``; returns how many."""
    done = 0
    while True:
        with sessions() as session, session.begin():
            records = list(
                session.scalars(
                    select(store.BlobRecord)
                    .where(store.BlobRecord.key_id != keyring.primary)
                    .limit(batch)
                )
            )
            for record in records:
                sealed = rewrap(store.sealed_of(record, data_dir), keyring)
                record.key_id, record.wrapped_key = sealed.key_id, sealed.wrapped_key
        done += len(records)
        if len(records) < batch:
            return done


def remaining_under_old_keys(session: Session, *, keyring: KeyRing) -> int:
    query = select(func.count()).where(store.BlobRecord.key_id != keyring.primary)
    return (session.scalar(query) or 0) + totp.secrets_not_under(session, keyring=keyring)


def _reseal_totp_secrets(sessions: sessionmaker[Session], keyring: KeyRing) -> int:
    with sessions() as session, session.begin():
        return totp.reseal_secrets(session, keyring=keyring)


def rotate(sessions: sessionmaker[Session], *, key_file: Path, data_dir: Path) -> RotationReport:
    old = load_keyring(key_file, create=True, data_dirs=())
    rotated = old.rotated()
    save_keyring(rotated, key_file)
    rewrapped = rewrap_all(sessions, keyring=rotated, data_dir=data_dir)
    rewrapped += _reseal_totp_secrets(sessions, rotated)
    # A process still holding the old ring may have sealed a blob meanwhile: sweep again.
    rewrapped += rewrap_all(sessions, keyring=rotated, data_dir=data_dir)
    rewrapped += _reseal_totp_secrets(sessions, rotated)
    with sessions() as session:
        if remaining_under_old_keys(session, keyring=rotated):
            return RotationReport(rotated.primary, (), rewrapped)
    retired = tuple(key_id for key_id in rotated.keys if key_id != rotated.primary)
    save_keyring(
        KeyRing(
            primary=rotated.primary, keys={rotated.primary: rotated.master_key(rotated.primary)}
        ),
        key_file,
    )
    return RotationReport(rotated.primary, retired, rewrapped)
