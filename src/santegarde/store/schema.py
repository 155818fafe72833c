"""Tables of the record store (SQLAlchemy 2 Core metadata, shared by the code and the migrations)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

organisation = Table(
    "organisation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("profile", String(20), nullable=False),
    Column("referential", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

resource = Table(
    "fhir_resource",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("resource_type", String(40), nullable=False, index=True),
    Column("category", String(40), nullable=False),
    Column("purpose", String(60), nullable=False),
    Column("rule", String(120), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
