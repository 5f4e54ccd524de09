"""access: TOTP secrets are stored sealed, which needs a longer column

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "totp_secret",
            existing_type=sa.String(length=64),
            type_=sa.String(length=255),
            existing_nullable=True,
        )


def downgrade() -> None:
    # A sealed secret does not fit the old column: refuse rather than cut it.
    connection = op.get_bind()
    sealed = connection.execute(
        sa.text("SELECT count(*) FROM users WHERE length(totp_secret) > 64")
    ).scalar()
    if sealed:
        raise RuntimeError(
            "TOTP secrets are sealed; downgrading would truncate them (reset TOTP first)"
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "totp_secret",
            existing_type=sa.String(length=255),
            type_=sa.String(length=64),
            existing_nullable=True,
        )
