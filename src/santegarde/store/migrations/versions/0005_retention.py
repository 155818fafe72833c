"""Retention and the intermediate archive (COM-RET-1, COM-ARC-1): states, events, holds, archive, aggregates.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_retention",
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=60), nullable=True),
        sa.Column("explicit", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_record_retention")),
    )
    op.create_table(
        "retention_event",
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=120), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("scope", "scope_id", "event", name=op.f("pk_retention_event")),
    )
    op.create_table(
        "retention_hold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_hold")),
    )
    op.create_index("ix_retention_hold_scope", "retention_hold", ["scope", "scope_id"], unique=False)
    op.create_table(
        "archive_record",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("free_text", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("rule", sa.String(length=60), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", "version", name=op.f("pk_archive_record")),
    )
    op.create_index(op.f("ix_archive_record_patient_id"), "archive_record", ["patient_id"], unique=False)
    op.create_table(
        "archive_part",
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", "version", "category", name=op.f("pk_archive_part")),
    )
    op.create_table(
        "retention_aggregate",
        sa.Column("rule", sa.String(length=60), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("year_of_creation", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("rule", "resource_type", "year_of_creation", name=op.f("pk_retention_aggregate")),
    )
    op.create_table(
        "archive_access",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("justification", sa.String(length=1000), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_access")),
    )
    op.create_index(op.f("ix_archive_access_record_id"), "archive_access", ["record_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_archive_access_record_id"), table_name="archive_access")
    op.drop_table("archive_access")
    op.drop_table("retention_aggregate")
    op.drop_table("archive_part")
    op.drop_index(op.f("ix_archive_record_patient_id"), table_name="archive_record")
    op.drop_table("archive_record")
    op.drop_index("ix_retention_hold_scope", table_name="retention_hold")
    op.drop_table("retention_hold")
    op.drop_table("retention_event")
    op.drop_table("record_retention")
