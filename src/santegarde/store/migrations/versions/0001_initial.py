"""Initial schema: the organisation and its FHIR resources.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisation",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("profile", sa.String(20), nullable=False),
        sa.Column("referential", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "fhir_resource",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("resource_type", sa.String(40), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("purpose", sa.String(60), nullable=False),
        sa.Column("rule", sa.String(120), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", "version", name="pk_fhir_resource"),
    )
    op.create_index("ix_fhir_resource_resource_type", "fhir_resource", ["resource_type"])


def downgrade() -> None:
    op.drop_index("ix_fhir_resource_resource_type", table_name="fhir_resource")
    op.drop_table("fhir_resource")
    op.drop_table("organisation")
