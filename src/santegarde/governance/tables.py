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

# g003: the health data warehouse's governance (EDS-2, EDS-3): the steering committee's data list, the scientific
# and ethics committee, projects with their requested variables, and the committee's reasoned opinions.
wh_data_list = Table(
    "wh_data_list",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("variable", String(200), nullable=False, unique=True),
    Column("justification", Text, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

wh_committee_members = Table(
    "wh_committee_members",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("roles", Text, nullable=False),
    Column("joined_at", DateTime(timezone=True), nullable=False),
    Column("left_at", DateTime(timezone=True)),
    Column("recorded_by", String(200), nullable=False),
)

wh_projects = Table(
    "wh_projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(40), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("leader", String(200), nullable=False),
    Column("leader_contact", String(200), nullable=False),
    Column("purpose", String(100), nullable=False),
    Column("formality_reference", String(200)),
    Column("cohort_follow_up", Boolean, nullable=False),
    Column("cohort_sql", Text),
    Column("status", String(20), nullable=False),
    Column("submitted_by", String(200), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("closed_by", String(200)),
)

wh_project_variables = Table(
    "wh_project_variables",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, nullable=False),
    Column("variable", String(200), nullable=False),
    Column("justification", Text, nullable=False),
    Column("approved", Boolean, nullable=False),
)

wh_opinions = Table(
    "wh_opinions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, nullable=False),
    Column("decision", String(20), nullable=False),
    Column("reasoning", Text, nullable=False),
    Column("decided_on", Date, nullable=False),
    Column("members_present", Text, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("notice_path", Text),
    Column("notice_sent_at", DateTime(timezone=True)),
)

# Re-identification requests (EDS-SEC-REI-1..5): a request with its reference and justification, approved by a
# second person before anything is revealed. The parameters themselves (an identity, criteria, a pseudonym) are
# not kept here: only their SHA-256 digest, which binds the approval to exactly what was asked.
wh_reidentifications = Table(
    "wh_reidentifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("justification", Text, nullable=False),
    Column("purpose", String(100), nullable=False),
    Column("action", String(20)),
    Column("parameters_digest", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", String(200)),
    Column("decided_at", DateTime(timezone=True)),
    Column("executed_at", DateTime(timezone=True)),
)
