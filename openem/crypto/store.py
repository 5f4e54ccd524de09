"""Encrypted blob store: ciphertext in files under OPENEM_DATA_DIR, wrapped keys in the database.

Photos, templates and check-in frames are stored through :func:`put`. Each blob
has its own data key, wrapped by the master key (never in the database).
Deleting a blob destroys its wrapped key first (crypto-shredding), so copies of
the file in backups can never be read again; rotation re-wraps keys only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy import LargeBinary, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from openem.crypto.envelope import KeyRing, SealedBlob, open_, seal
from openem.db.base import Base


class BlobRecord(Base):
    __tablename__ = "blobs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    data_class: Mapped[str] = mapped_column(String(32), index=True)
    media_type: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64), index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


def blob_path(data_dir: Path, blob_id: uuid.UUID) -> Path:
    return data_dir / "blobs" / blob_id.hex[:2] / f"{blob_id.hex}.bin"


def _aad(blob_id: uuid.UUID, data_class: str) -> bytes:
    return f"openem-blob:{blob_id}:{data_class}".encode()


def put(
    session: Session,
    *,
    keyring: KeyRing,
    data_dir: Path,
    subject_id: uuid.UUID,
    data_class: str,
    media_type: str,
    plaintext: bytes,
    now: datetime,
) -> BlobRecord:
    blob_id = uuid.uuid4()
    sealed = seal(plaintext, aad=_aad(blob_id, data_class), keyring=keyring)
    path = blob_path(data_dir, blob_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(sealed.ciphertext)
    record = BlobRecord(
        id=blob_id,
        subject_id=subject_id,
        data_class=data_class,
        media_type=media_type,
        key_id=sealed.key_id,
        wrapped_key=sealed.wrapped_key,
        nonce=sealed.nonce,
        created_at=now,
    )
    session.add(record)
    session.flush()
    return record


def sealed_of(record: BlobRecord, data_dir: Path) -> SealedBlob:
    ciphertext = blob_path(data_dir, record.id).read_bytes()
    return SealedBlob(record.key_id, record.wrapped_key, record.nonce, ciphertext)


def read(record: BlobRecord, *, keyring: KeyRing, data_dir: Path) -> bytes:
    aad = _aad(record.id, record.data_class)
    return open_(sealed_of(record, data_dir), aad=aad, keyring=keyring)


def for_subject(
    session: Session, *, subject_id: uuid.UUID, data_classes: tuple[str, ...] | None = None
) -> list[BlobRecord]:
    query = select(BlobRecord).where(BlobRecord.subject_id == subject_id)
    if data_classes is not None:
        query = query.where(BlobRecord.data_class.in_(data_classes))
    return list(session.scalars(query.order_by(BlobRecord.created_at)))


def shred(session: Session, *, records: list[BlobRecord], data_dir: Path) -> list[uuid.UUID]:
    """Destroy each record's key, then its row and ciphertext file. Returns the ids."""
    ids = [record.id for record in records]
    for record in records:
        record.wrapped_key = b""
    session.flush()
    if ids:
        session.execute(delete(BlobRecord).where(BlobRecord.id.in_(ids)))
    for blob_id in ids:
        blob_path(data_dir, blob_id).unlink(missing_ok=True)
    return ids
