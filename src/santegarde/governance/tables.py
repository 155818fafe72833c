"""Tables of the governance registers, in the records database with their own Alembic history."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text

metadata = MetaData()

maintenance_log = Table(
    "maintenance_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("operator", String(200), nullable=False),
    Column("company", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("equipment", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("data_access", String(20), nullable=False),
    Column("supervised_by", String(200), nullable=False),
    Column("recorded_by", String(200), nullable=False),
)
