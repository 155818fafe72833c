"""Compassionate access: who acknowledged which version of the platform's first-connection notice, and when.

Revision ID: c006
Revises: c005
"""

import sqlalchemy as sa
from alembic import op

revision = "c006"
down_revision = "c005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aac_notice_acknowledgement",
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("login", "version"),
    )


def downgrade() -> None:
    op.drop_table("aac_notice_acknowledgement")
