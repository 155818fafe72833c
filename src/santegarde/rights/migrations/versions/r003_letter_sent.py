"""Rights: when, how and by whom the answer letter of a request was sent (COM-RGT-1).

Revision ID: r003
Revises: r002
"""

import sqlalchemy as sa
from alembic import op

revision = "r003"
down_revision = "r002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rights_request") as batch:
        batch.add_column(sa.Column("letter_sent_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("letter_sent_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("letter_channel", sa.String(length=30), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rights_request") as batch:
        batch.drop_column("letter_channel")
        batch.drop_column("letter_sent_by")
        batch.drop_column("letter_sent_at")
