"""Governance: the breach register, the processors' register and the transfers' register.

Revision ID: g002
Revises: g001
"""

import sqlalchemy as sa
from alembic import op

revision = "g002"
down_revision = "g001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "breaches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nature", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("data_categories", sa.Text(), nullable=False),
        sa.Column("person_categories", sa.Text(), nullable=False),
        sa.Column("approx_persons", sa.Integer(), nullable=True),
        sa.Column("approx_records", sa.Integer(), nullable=True),
        sa.Column("likely_consequences", sa.Text(), nullable=False),
        sa.Column("measures_taken", sa.Text(), nullable=False),
        sa.Column("measures_planned", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("discovered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_by", sa.String(length=20), nullable=False),
        sa.Column("processor_name", sa.String(length=200), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("likelihood", sa.String(length=20), nullable=True),
        sa.Column("severity", sa.String(length=20), nullable=True),
        sa.Column("reasoning", sa.Text(), nullable=True),
        sa.Column("assessed_by", sa.String(length=200), nullable=True),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify_computed", sa.Boolean(), nullable=True),
        sa.Column("communicate_computed", sa.Boolean(), nullable=True),
        sa.Column("notify_authority", sa.Boolean(), nullable=True),
        sa.Column("communicate_persons", sa.Boolean(), nullable=True),
        sa.Column("override_justification", sa.Text(), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("communicated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "processors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("data_categories", sa.Text(), nullable=False),
        sa.Column("hosts_health_data", sa.Boolean(), nullable=False),
        sa.Column("clauses", sa.Text(), nullable=False),
        sa.Column("hds_number", sa.String(length=100), nullable=True),
        sa.Column("hds_certifier", sa.String(length=200), nullable=True),
        sa.Column("hds_expires", sa.Date(), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("jurisdictions", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("data_categories", sa.Text(), nullable=False),
        sa.Column("basis", sa.String(length=20), nullable=False),
        sa.Column("safeguard", sa.String(length=40), nullable=True),
        sa.Column("derogation", sa.String(length=40), nullable=True),
        sa.Column("remote_access", sa.Boolean(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("transfers")
    op.drop_table("processors")
    op.drop_table("breaches")
