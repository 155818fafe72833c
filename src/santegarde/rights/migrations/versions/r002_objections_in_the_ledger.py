"""Rights: the objections the desk honoured move into the path's objection ledger (store migration 0008 first).

Until now the rights desk kept its own list (``rights_objection``), which the record path did not read: an objection
answered by a letter did not stop the next request. Each row becomes an objection in force in ``objection_ledger``
(unless one is already in force for that patient and purpose), recorded at its own date; then the list is dropped.

Revision ID: r002
Revises: r001
"""

import sqlalchemy as sa
from alembic import op

revision = "r002"
down_revision = "r001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    old = sa.table(
        "rights_objection",
        sa.column("patient_id", sa.String),
        sa.column("purpose", sa.String),
        sa.column("request_id", sa.Integer),
        sa.column("recorded_at", sa.DateTime(timezone=True)),
    )
    ledger = sa.table(
        "objection_ledger",
        sa.column("patient_id", sa.String),
        sa.column("purpose", sa.String),
        sa.column("recorded_at", sa.DateTime(timezone=True)),
        sa.column("recorded_by", sa.String),
        sa.column("lifted_at", sa.DateTime(timezone=True)),
        sa.column("subject", sa.String),
    )
    rows = conn.execute(sa.select(old).order_by(old.c.recorded_at)).all()
    for row in rows:
        in_force = conn.execute(
            sa.select(ledger.c.patient_id).where(
                ledger.c.patient_id == row.patient_id,
                ledger.c.purpose == row.purpose,
                ledger.c.subject == "patient",
                ledger.c.lifted_at.is_(None),
            )
        ).first()
        if in_force is None:
            conn.execute(
                sa.insert(ledger).values(
                    patient_id=row.patient_id,
                    purpose=row.purpose,
                    recorded_at=row.recorded_at,
                    recorded_by=f"rights request {row.request_id}",
                    subject="patient",
                )
            )
    op.drop_index("ix_rights_objection_patient_id", table_name="rights_objection")
    op.drop_table("rights_objection")


def downgrade() -> None:
    op.create_table(
        "rights_objection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("warehouse", sa.Boolean(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rights_objection_patient_id", "rights_objection", ["patient_id"], unique=False)
