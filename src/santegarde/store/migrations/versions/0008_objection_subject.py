"""The objection ledger seen from the warehouse: a row's subject is a patient of the store or a warehouse pseudonym.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("objection_ledger") as batch:
        batch.add_column(sa.Column("subject", sa.String(length=10), nullable=False, server_default="patient"))


def downgrade() -> None:
    with op.batch_alter_table("objection_ledger") as batch:
        batch.drop_column("subject")
