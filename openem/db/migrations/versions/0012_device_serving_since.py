"""devices: since when a device has served its current holder (its order, or nobody once
taken off one), so that what it took before then is not stored as that holder's

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 20:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("serving_since", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE devices SET serving_since = (SELECT CASE WHEN devices.order_id IS NULL"
        " THEN max(a.unassigned_at) ELSE max(a.assigned_at) END"
        " FROM device_assignments AS a WHERE a.device_id = devices.id"
        " AND (devices.order_id IS NULL OR a.unassigned_at IS NULL))"
    )


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("serving_since")
