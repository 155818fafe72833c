"""Pharmacy registers (PHA-3): numbered, hash-chained entries of the prescription book and registers.

The counter rows of the three registers are created here, so that allocating a number only ever
locks an existing row (no insert race under concurrency).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

REGISTERS = ("prescription_book", "blood_derived_register", "toxic_substances_register")
GENESIS = "0" * 64


def upgrade() -> None:
    counter = op.create_table(
        "pharmacy_register_counter",
        sa.Column("register", sa.String(length=40), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("register", name=op.f("pk_pharmacy_register_counter")),
    )
    op.create_table(
        "pharmacy_register_entry",
        sa.Column("register", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("dispense_class", sa.String(length=20), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entered_by", sa.String(length=64), nullable=False),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("validated_by", sa.String(length=64), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("corrects", sa.Integer(), nullable=True),
        sa.Column("retention_rule", sa.String(length=60), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("register", "number", name=op.f("pk_pharmacy_register_entry")),
        sa.UniqueConstraint("record_id", name=op.f("uq_pharmacy_register_entry_record_id")),
    )
    op.create_index("ix_pharmacy_register_entry_due", "pharmacy_register_entry", ["due_at"], unique=False)
    op.bulk_insert(counter, [{"register": r, "last_number": 0, "last_hash": GENESIS} for r in REGISTERS])


def downgrade() -> None:
    op.drop_index("ix_pharmacy_register_entry_due", table_name="pharmacy_register_entry")
    op.drop_table("pharmacy_register_entry")
    op.drop_table("pharmacy_register_counter")
