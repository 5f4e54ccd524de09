"""retention: holds, certificates, rights, notices, reviews, assessments, blobs, curfew hours

Relinked at merge: issues 4 (0003) and 6 (0004) are in flight; set down_revision then.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 01:55:18.438250
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("data_class", sa.String(length=32), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blobs")),
    )
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blobs_data_class"), ["data_class"], unique=False)
        batch_op.create_index(batch_op.f("ix_blobs_key_id"), ["key_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_blobs_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "bus_purges",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("bus_subject", sa.String(length=128), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bus_purges")),
    )
    op.create_table(
        "deletion_certificates",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("data_class", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ids_sha256", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletion_certificates")),
    )
    with op.batch_alter_table("deletion_certificates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deletion_certificates_data_class"), ["data_class"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_deletion_certificates_run_id"), ["run_id"], unique=False
        )

    op.create_table(
        "impact_assessments",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cohort", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("less_intrusive_options", sa.Text(), nullable=False),
        sa.Column("approver", sa.String(length=200), nullable=False),
        sa.Column("approved_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_impact_assessments")),
        sa.UniqueConstraint("kind", "cohort", "version", name=op.f("uq_impact_assessments_kind")),
    )
    with op.batch_alter_table("impact_assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_impact_assessments_cohort"), ["cohort"], unique=False)

    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )
    op.create_table(
        "legal_holds",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.Uuid(), nullable=True),
        sa.Column("placed_by_role", sa.String(length=32), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_holds_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "rights_requests",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_rights_requests_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_requests")),
    )
    with op.batch_alter_table("rights_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rights_requests_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "order_reviews",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("reviewer_id", sa.Uuid(), nullable=True),
        sa.Column("reviewer_role", sa.String(length=32), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("monitoring_mode", sa.String(length=32), nullable=True),
        sa.Column("checkins_per_day", sa.Integer(), nullable=True),
        sa.Column("next_review_on", sa.Date(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_reviews_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_reviews")),
    )
    with op.batch_alter_table("order_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_reviews_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_order_reviews_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "review_escalations",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_review_escalations_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_escalations")),
        sa.UniqueConstraint("order_id", "due_on", name=op.f("uq_review_escalations_order_id")),
    )
    with op.batch_alter_table("review_escalations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_escalations_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "privacy_notices",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column(
            "inbox_item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_privacy_notices_device_id_devices")
        ),
        sa.ForeignKeyConstraint(
            ["inbox_item_id"],
            ["device_inbox.id"],
            name=op.f("fk_privacy_notices_inbox_item_id_device_inbox"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_privacy_notices_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_notices")),
    )
    with op.batch_alter_table("privacy_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_notices_subject_id"), ["subject_id"], unique=False
        )

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("curfew_start", sa.Time(), nullable=True))
        batch_op.add_column(sa.Column("curfew_end", sa.Time(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("curfew_end")
        batch_op.drop_column("curfew_start")

    with op.batch_alter_table("privacy_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_notices_subject_id"))

    op.drop_table("privacy_notices")
    with op.batch_alter_table("review_escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_escalations_subject_id"))

    op.drop_table("review_escalations")
    with op.batch_alter_table("order_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_reviews_subject_id"))
        batch_op.drop_index(batch_op.f("ix_order_reviews_order_id"))

    op.drop_table("order_reviews")
    with op.batch_alter_table("rights_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rights_requests_subject_id"))

    op.drop_table("rights_requests")
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_holds_subject_id"))

    op.drop_table("legal_holds")
    op.drop_table("job_leases")
    with op.batch_alter_table("impact_assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_impact_assessments_cohort"))

    op.drop_table("impact_assessments")
    with op.batch_alter_table("deletion_certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deletion_certificates_run_id"))
        batch_op.drop_index(batch_op.f("ix_deletion_certificates_data_class"))

    op.drop_table("deletion_certificates")
    op.drop_table("bus_purges")
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blobs_subject_id"))
        batch_op.drop_index(batch_op.f("ix_blobs_key_id"))
        batch_op.drop_index(batch_op.f("ix_blobs_data_class"))

    op.drop_table("blobs")
