"""checkins: seeds, plans, prompts, decisions, face enrolments

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 02:30:08.420033
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "face_enrolments",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("template_blob_id", sa.Uuid(), nullable=False),
        sa.Column("photo_blob_ids", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("enrolled_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_enrolments")),
    )
    with op.batch_alter_table("face_enrolments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_face_enrolments_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "checkin_plans",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_checkin_plans_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_plans")),
        sa.UniqueConstraint("order_id", "local_date", name=op.f("uq_checkin_plans_order_id")),
    )
    with op.batch_alter_table("checkin_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkin_plans_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_checkin_plans_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "checkin_seeds",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_checkin_seeds_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_checkin_seeds")),
    )
    with op.batch_alter_table("checkin_seeds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkin_seeds_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "checkin_prompts",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("challenge", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("inbox_item_id", sa.Integer(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_checkin_prompts_device_id_devices")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_checkin_prompts_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["checkin_plans.id"], name=op.f("fk_checkin_prompts_plan_id_checkin_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_prompts")),
    )
    with op.batch_alter_table("checkin_prompts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkin_prompts_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_checkin_prompts_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_checkin_prompts_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_checkin_prompts_scheduled_at"), ["scheduled_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_checkin_prompts_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_checkin_prompts_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "checkin_decisions",
        sa.Column("prompt_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("liveness", sa.JSON(), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("frame_blob_ids", sa.JSON(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fix", sa.JSON(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["checkin_prompts.id"],
            name=op.f("fk_checkin_decisions_prompt_id_checkin_prompts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_decisions")),
        sa.UniqueConstraint("prompt_id", "attempt", name=op.f("uq_checkin_decisions_prompt_id")),
    )
    with op.batch_alter_table("checkin_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkin_decisions_prompt_id"), ["prompt_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_checkin_decisions_subject_id"), ["subject_id"], unique=False
        )

    with op.batch_alter_table("device_health", schema=None) as batch_op:
        batch_op.alter_column(
            "last_fix_lat", existing_type=sa.FLOAT(), type_=sa.Double(), existing_nullable=True
        )
        batch_op.alter_column(
            "last_fix_lon", existing_type=sa.FLOAT(), type_=sa.Double(), existing_nullable=True
        )
        batch_op.alter_column(
            "last_fix_accuracy_m",
            existing_type=sa.FLOAT(),
            type_=sa.Double(),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("device_health", schema=None) as batch_op:
        batch_op.alter_column(
            "last_fix_accuracy_m",
            existing_type=sa.Double(),
            type_=sa.FLOAT(),
            existing_nullable=True,
        )
        batch_op.alter_column(
            "last_fix_lon", existing_type=sa.Double(), type_=sa.FLOAT(), existing_nullable=True
        )
        batch_op.alter_column(
            "last_fix_lat", existing_type=sa.Double(), type_=sa.FLOAT(), existing_nullable=True
        )

    with op.batch_alter_table("checkin_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkin_decisions_subject_id"))
        batch_op.drop_index(batch_op.f("ix_checkin_decisions_prompt_id"))

    op.drop_table("checkin_decisions")
    with op.batch_alter_table("checkin_prompts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkin_prompts_subject_id"))
        batch_op.drop_index(batch_op.f("ix_checkin_prompts_status"))
        batch_op.drop_index(batch_op.f("ix_checkin_prompts_scheduled_at"))
        batch_op.drop_index(batch_op.f("ix_checkin_prompts_plan_id"))
        batch_op.drop_index(batch_op.f("ix_checkin_prompts_order_id"))
        batch_op.drop_index(batch_op.f("ix_checkin_prompts_expires_at"))

    op.drop_table("checkin_prompts")
    with op.batch_alter_table("checkin_seeds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkin_seeds_subject_id"))

    op.drop_table("checkin_seeds")
    with op.batch_alter_table("checkin_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkin_plans_subject_id"))
        batch_op.drop_index(batch_op.f("ix_checkin_plans_order_id"))

    op.drop_table("checkin_plans")
    with op.batch_alter_table("face_enrolments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_face_enrolments_subject_id"))

    op.drop_table("face_enrolments")
