"""Identity: the sensitisation and professional-secrecy trainings each person attended (AAC-SEC-SEN-1).

Revision ID: i003
Revises: i002
"""

import sqlalchemy as sa
from alembic import op

revision = "i003"
down_revision = "i002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_training",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("identity_user.id"), nullable=False),
        sa.Column("trained_on", sa.Date(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_identity_training_user_id", "identity_training", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_identity_training_user_id", table_name="identity_training")
    op.drop_table("identity_training")
