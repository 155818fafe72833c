"""Identity: the establishment a grant is tied to (aac-2022-106 §4.1, §8.1: staff see their establishment's patients).

Revision ID: i002
Revises: i001
"""

import sqlalchemy as sa
from alembic import op

revision = "i002"
down_revision = "i001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identity_grant") as batch:
        batch.add_column(sa.Column("establishment", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_grant") as batch:
        batch.drop_column("establishment")
