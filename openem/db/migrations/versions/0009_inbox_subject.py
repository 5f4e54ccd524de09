"""devices: each inbox item names the subject it was for, so retention can delete it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The subject the device served when the item was posted, from the assignment history.
BACKFILL = """
UPDATE device_inbox SET subject_id = (
    SELECT a.subject_id FROM device_assignments AS a
    WHERE a.device_id = device_inbox.device_id
      AND a.assigned_at <= device_inbox.created_at
      AND (a.unassigned_at IS NULL OR a.unassigned_at > device_inbox.created_at)
    ORDER BY a.assigned_at DESC
    LIMIT 1
)
"""


def upgrade() -> None:
    with op.batch_alter_table("device_inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_device_inbox_subject_id"), ["subject_id"], unique=False
        )
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("device_inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_inbox_subject_id"))
        batch_op.drop_column("subject_id")
