"""Identity: the country a grant is used from (aac-2022-106 §12.4: remote viewing from outside the EU is a transfer).

None (every grant given before) means inside the EU/EEA.

Revision ID: i004
Revises: i003
"""

import sqlalchemy as sa
from alembic import op

revision = "i004"
down_revision = "i003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identity_grant") as batch:
        batch.add_column(sa.Column("country", sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_grant") as batch:
        batch.drop_column("country")
