"""Compassionate access: the workflow-state ledger (one row per case: step and dates, no health data).

Cases opened before this revision have no row; the service rebuilds a case's row from its records, through the
record path, the first time a form is submitted for it.

Revision ID: c002
Revises: c001
"""

import sqlalchemy as sa
from alembic import op

revision = "c002"
down_revision = "c001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aac_workflow",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request_recorded", sa.Boolean(), nullable=False),
        sa.Column("last_kind", sa.String(length=32), nullable=True),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("initiated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_due", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("patient_id"),
    )
    op.create_index("ix_aac_workflow_next_due", "aac_workflow", ["next_due"])


def downgrade() -> None:
    op.drop_index("ix_aac_workflow_next_due", table_name="aac_workflow")
    op.drop_table("aac_workflow")
