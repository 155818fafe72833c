"""Compassionate access: each extract row remembers how many record versions its patient had when it was sealed.

A form rectified outside the compassionate workflow (a rights rectification, a FHIR update) or any other write to
the patient's records adds a version: the row no longer matches and the reports read that case through the record
path until ``santegarde aac extract rebuild --missing-only`` seals it again. Rows from before this revision have no
count: they are read through the path until rebuilt.

Revision ID: c004
Revises: c003
"""

import sqlalchemy as sa
from alembic import op

revision = "c004"
down_revision = "c003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("aac_extract") as batch:
        batch.add_column(sa.Column("versions", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("aac_extract") as batch:
        batch.drop_column("versions")
