"""The programme's case index, in the records database with its own Alembic history.

A case row allocates the patient's number (the platform's part of the code, §7.2) and says which patient record
(a random uuid), programme version and establishment a case belongs to. It holds no name, no initials, no health
data and no step of the workflow: those are records, encrypted and read through the record path.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, DateTime, Integer, LargeBinary, MetaData, String, Table

metadata = MetaData()

aac_case = Table(
    "aac_case",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=True),
    Column("programme", String(64), nullable=False, index=True),
    Column("version", String(16), nullable=False),
    Column("patient_id", String(64), nullable=False, unique=True),
    Column("establishment", String(64), nullable=False, index=True),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("opened_by", String(64), nullable=False),
)

# The workflow-state ledger: one row per case, written in the transaction that stores the form's record (through
# RecordService's ``in_transaction`` hook), so a submission checks its turn on one row instead of reading the case
# back. It holds the step and its dates only — no answer, no code, no health datum (an adverse effect or a
# related-person report does not change it).
aac_workflow = Table(
    "aac_workflow",
    metadata,
    Column("patient_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # requested, granted, refused, treated, stopped
    Column("request_recorded", Boolean, nullable=False),
    Column("last_kind", String(32), nullable=True),
    Column("last_at", DateTime(timezone=True), nullable=True),
    Column("initiated_at", DateTime(timezone=True), nullable=True),
    Column("stopped_at", DateTime(timezone=True), nullable=True),
    Column("next_due", Date, nullable=True, index=True),
)

# The reports' pseudonymised extract: one row per case, keyed by the case's number (no patient id, no code, no
# establishment), holding — sealed under the patient's own key, like the records — only what the summary report and
# the pharmacovigilance queue compute from: sex, year and month of birth, and per form its kind, its day and the
# few coded answers the report counts. Refreshed in the transaction that stores each form (RecordService's
# ``in_transaction`` hook); a case opened before it existed has no row until ``santegarde aac extract rebuild``.
aac_extract = Table(
    "aac_extract",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("programme", String(64), nullable=False, index=True),
    Column("sealed", LargeBinary, nullable=False),
    # How many record versions the patient had when the row was sealed: another write to the patient's records
    # (a rectification) makes the row stale, and the reports read the case through the path (migration c004).
    Column("versions", Integer, nullable=True),
)

# Pharmacovigilance's inbox (§8.2): one row per adverse-effect report, added in the transaction that stores the
# report (RecordService's ``in_transaction`` hook), so the report reaches pharmacovigilance at once, and marked when
# a pharmacovigilance employee acknowledges it. The row names the case by its number and holds, sealed under the
# patient's own key, only the id its records share (to find it among the case's forms, read through the
# path); the term, its seriousness and the patient's code stay in the records. Who acknowledged it and when are in
# clear: they are the laboratory's own work, not the patient's data.
aac_vigilance = Table(
    "aac_vigilance",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("programme", String(64), nullable=False, index=True),
    Column("number", Integer, nullable=False, index=True),
    Column("sealed", LargeBinary, nullable=False),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
    Column("acknowledged_by", String(64), nullable=True),
)

# The information shown to a professional at first connection to the platform (§10.6, AAC-10): one row per person
# and version of the notice they acknowledged (the version is a digest of the notice's French text, so a notice
# that changes — a new programme, another recipient — asks again). The login and the time only: no health data.
aac_notice_acknowledgement = Table(
    "aac_notice_acknowledgement",
    metadata,
    Column("login", String(64), primary_key=True),
    Column("version", String(32), primary_key=True),
    Column("acknowledged_at", DateTime(timezone=True), nullable=False),
)
