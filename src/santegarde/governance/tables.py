"""Tables of the governance registers, in the records database with their own Alembic history."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, DateTime, Integer, MetaData, String, Table, Text

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

# g002: the breach register, the processors' register and the transfers' register (COM-BRE-1, COM-SUB-1, COM-TRF-1).
breaches = Table(
    "breaches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("nature", String(100), nullable=False),
    Column("description", Text, nullable=False),
    Column("data_categories", Text, nullable=False),
    Column("person_categories", Text, nullable=False),
    Column("approx_persons", Integer),
    Column("approx_records", Integer),
    Column("likely_consequences", Text, nullable=False),
    Column("measures_taken", Text, nullable=False),
    Column("measures_planned", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True)),
    Column("discovered_at", DateTime(timezone=True), nullable=False),
    Column("reported_by", String(20), nullable=False),
    Column("processor_name", String(200)),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("likelihood", String(20)),
    Column("severity", String(20)),
    Column("reasoning", Text),
    Column("assessed_by", String(200)),
    Column("assessed_at", DateTime(timezone=True)),
    Column("notify_computed", Boolean),
    Column("communicate_computed", Boolean),
    Column("notify_authority", Boolean),
    Column("communicate_persons", Boolean),
    Column("override_justification", Text),
    Column("notified_at", DateTime(timezone=True)),
    Column("communicated_at", DateTime(timezone=True)),
)

processors = Table(
    "processors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("service", Text, nullable=False),
    Column("data_categories", Text, nullable=False),
    Column("hosts_health_data", Boolean, nullable=False),
    Column("clauses", Text, nullable=False),
    Column("hds_number", String(100)),
    Column("hds_certifier", String(200)),
    Column("hds_expires", Date),
    Column("country", String(2), nullable=False),
    Column("jurisdictions", String(200), nullable=False),
    Column("status", String(10), nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("activated_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("country", String(2), nullable=False),
    Column("recipient", String(200), nullable=False),
    Column("data_categories", Text, nullable=False),
    Column("basis", String(20), nullable=False),
    Column("safeguard", String(40)),
    Column("derogation", String(40)),
    Column("remote_access", Boolean, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
