"""ingest: device keys, pairing codes, tracker secrets, health, inbox, positions, events, outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 01:37:08.738153
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("msg_id", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_table(
        "device_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_events_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_events")),
        sa.UniqueConstraint("device_id", "seq", name=op.f("uq_device_events_device_id")),
    )
    with op.batch_alter_table("device_events", schema=None) as batch_op:
        batch_op.create_index("ix_device_events_subject_at", ["subject_id", "at"], unique=False)

    op.create_table(
        "device_health",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fix_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fix_lat", sa.Float(), nullable=True),
        sa.Column("last_fix_lon", sa.Float(), nullable=True),
        sa.Column("last_fix_accuracy_m", sa.Float(), nullable=True),
        sa.Column("battery_level", sa.Integer(), nullable=True),
        sa.Column("charging", sa.Boolean(), nullable=True),
        sa.Column("strap_state", sa.String(length=16), nullable=True),
        sa.Column("case_state", sa.String(length=16), nullable=True),
        sa.Column("worn", sa.Boolean(), nullable=True),
        sa.Column("signal_rssi", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_health_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_health")),
    )
    with op.batch_alter_table("device_health", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_health_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "device_inbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_inbox_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_inbox")),
    )
    with op.batch_alter_table("device_inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_inbox_device_id"), ["device_id"], unique=False)

    op.create_table(
        "device_keys",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_keys_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_keys")),
    )
    with op.batch_alter_table("device_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_keys_device_id"), ["device_id"], unique=False)

    op.create_table(
        "device_secrets",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_secrets_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_secrets")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_device_secrets_secret_hash")),
    )
    with op.batch_alter_table("device_secrets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_secrets_device_id"), ["device_id"], unique=False
        )

    op.create_table(
        "pairing_codes",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_pairing_codes_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairing_codes")),
    )
    with op.batch_alter_table("pairing_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pairing_codes_device_id"), ["device_id"], unique=False)

    op.create_table(
        "positions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("fixed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("speed_mps", sa.Float(), nullable=True),
        sa.Column("heading_deg", sa.Float(), nullable=True),
        sa.Column("altitude_m", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("flags", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_positions_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint("device_id", "seq", name=op.f("uq_positions_device_id")),
    )
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.create_index("ix_positions_fixed_at", ["fixed_at"], unique=False)
        batch_op.create_index(
            "ix_positions_subject_fixed_at", ["subject_id", "fixed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.drop_index("ix_positions_subject_fixed_at")
        batch_op.drop_index("ix_positions_fixed_at")

    op.drop_table("positions")
    with op.batch_alter_table("pairing_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pairing_codes_device_id"))

    op.drop_table("pairing_codes")
    with op.batch_alter_table("device_secrets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_secrets_device_id"))

    op.drop_table("device_secrets")
    with op.batch_alter_table("device_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_keys_device_id"))

    op.drop_table("device_keys")
    with op.batch_alter_table("device_inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_inbox_device_id"))

    op.drop_table("device_inbox")
    with op.batch_alter_table("device_health", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_health_subject_id"))

    op.drop_table("device_health")
    with op.batch_alter_table("device_events", schema=None) as batch_op:
        batch_op.drop_index("ix_device_events_subject_at")

    op.drop_table("device_events")
    op.drop_table("outbox")
