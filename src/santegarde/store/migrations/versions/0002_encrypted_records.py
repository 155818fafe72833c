"""Encrypted records: versions, parts per data category, blind indexes, per-patient keys, care relationships.

The plain-JSON table of the foundation is dropped: records are now stored only encrypted.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "care_relationship",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("basis", sa.String(length=200), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_relationship")),
    )
    op.create_index("ix_care_relationship_lookup", "care_relationship", ["login", "patient_id"], unique=False)
    op.create_table(
        "patient_key",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("family", sa.String(length=30), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "family", name=op.f("pk_patient_key")),
    )
    op.create_table(
        "record",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("free_text", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("id", "version", name=op.f("pk_record")),
    )
    op.create_index(op.f("ix_record_patient_id"), "record", ["patient_id"], unique=False)
    op.create_index("ix_record_type_current", "record", ["resource_type", "current"], unique=False)
    op.create_table(
        "record_index",
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
    )
    op.create_index("ix_record_index_lookup", "record_index", ["kind", "digest"], unique=False)
    op.create_index(op.f("ix_record_index_record_id"), "record_index", ["record_id"], unique=False)
    op.create_table(
        "record_part",
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", "version", "category", name=op.f("pk_record_part")),
    )
    op.drop_index(op.f("ix_fhir_resource_resource_type"), table_name="fhir_resource")
    op.drop_table("fhir_resource")


def downgrade() -> None:
    op.create_table(
        "fhir_resource",
        sa.Column("id", sa.VARCHAR(length=64), nullable=False),
        sa.Column("version", sa.INTEGER(), nullable=False),
        sa.Column("resource_type", sa.VARCHAR(length=40), nullable=False),
        sa.Column("category", sa.VARCHAR(length=40), nullable=False),
        sa.Column("purpose", sa.VARCHAR(length=60), nullable=False),
        sa.Column("rule", sa.VARCHAR(length=120), nullable=False),
        sa.Column("body", sa.TEXT(), nullable=False),
        sa.Column("created_at", sa.DATETIME(), nullable=False),
        sa.PrimaryKeyConstraint("id", "version", name=op.f("pk_fhir_resource")),
    )
    op.create_index(op.f("ix_fhir_resource_resource_type"), "fhir_resource", ["resource_type"], unique=False)
    op.drop_table("record_part")
    op.drop_index(op.f("ix_record_index_record_id"), table_name="record_index")
    op.drop_index("ix_record_index_lookup", table_name="record_index")
    op.drop_table("record_index")
    op.drop_index("ix_record_type_current", table_name="record")
    op.drop_index(op.f("ix_record_patient_id"), table_name="record")
    op.drop_table("record")
    op.drop_table("patient_key")
    op.drop_index("ix_care_relationship_lookup", table_name="care_relationship")
    op.drop_table("care_relationship")
