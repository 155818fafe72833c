"""Indexes a search can walk in id order: a patient's records of a type, and a type's current records.

SQLite, without statistics, took the (type, current) index for a search by patient and read every current record of
the type (issue 17: 74x a plain query); with the patient first and the id last, a patient's records of a type come in
id order from the index alone, and a page of a type is read from the index without sorting them all.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_record_patient_type", "record", ["patient_id", "resource_type", "current", "id"])
    op.create_index("ix_record_type_current_id", "record", ["resource_type", "current", "id"])
    op.drop_index("ix_record_patient_id", table_name="record")
    op.drop_index("ix_record_type_current", table_name="record")


def downgrade() -> None:
    op.create_index("ix_record_type_current", "record", ["resource_type", "current"])
    op.create_index("ix_record_patient_id", "record", ["patient_id"])
    op.drop_index("ix_record_type_current_id", table_name="record")
    op.drop_index("ix_record_patient_type", table_name="record")
