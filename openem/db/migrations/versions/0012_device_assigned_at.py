"""devices: when the current assignment began, so that what a device took before it is
not stored as its new subject's

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
        batch_op.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE devices SET assigned_at = (SELECT max(a.assigned_at) FROM device_assignments AS a"
        " WHERE a.device_id = devices.id AND a.unassigned_at IS NULL)"
        " WHERE order_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("assigned_at")
