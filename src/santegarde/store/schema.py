"""Tables of the record store (SQLAlchemy 2 Core metadata, shared by the code and the migrations)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, LargeBinary, MetaData, String, Table

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

# A FHIR resource version. Only the type, the ids and the version are in clear: every element is in
# record_part, encrypted under the key of the data category it belongs to.
record = Table(
    "record",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("resource_type", String(40), nullable=False),
    Column("patient_id", String(64), nullable=True),  # the patient's resource id (a random uuid)
    Column("current", Boolean, nullable=False),
    Column("free_text", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("purpose", String(60), nullable=False),
    # Walked in id order (migration 0009): a patient's records of a type; the current records of a type.
    Index("ix_record_patient_type", "patient_id", "resource_type", "current", "id"),
    Index("ix_record_type_current_id", "resource_type", "current", "id"),
)

record_part = Table(
    "record_part",
    metadata,
    Column("record_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("category", String(60), primary_key=True),  # a category id of the référentiel, or "directory"
    Column("token", LargeBinary, nullable=False),
)

# Keyed blind indexes of the current version: search by identifier, name and birth date without decrypting.
record_index = Table(
    "record_index",
    metadata,
    Column("record_id", String(64), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("digest", String(64), nullable=False),
    Index("ix_record_index_lookup", "kind", "digest"),
)

# One data key per patient and key family, wrapped by the family key: destroying it erases the patient.
patient_key = Table(
    "patient_key",
    metadata,
    Column("patient_id", String(64), primary_key=True),
    Column("family", String(30), primary_key=True),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

care_relationship = Table(
    "care_relationship",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("login", String(64), nullable=False),
    Column("patient_id", String(64), nullable=False),
    Column("basis", String(200), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("until", DateTime(timezone=True), nullable=True),
    Index("ix_care_relationship_lookup", "login", "patient_id"),
)

# The pharmacy's registers (PHA-3): the prescription book (ordonnancier) and the registers of blood-derived
# products and of toxic substances. One counter row per register, locked to allocate the next number
# without gaps; an entry holds no personal data (that lives only in its encrypted MedicationDispense),
# only its number, class, dates, retention and a hash chain over the register.
pharmacy_register_counter = Table(
    "pharmacy_register_counter",
    metadata,
    Column("register", String(40), primary_key=True),
    Column("last_number", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

pharmacy_register_entry = Table(
    "pharmacy_register_entry",
    metadata,
    Column("register", String(40), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("record_id", String(64), nullable=False, unique=True),
    Column("dispense_class", String(20), nullable=False),
    Column("entered_at", DateTime(timezone=True), nullable=False),
    Column("entered_by", String(64), nullable=False),
    Column("validated_at", DateTime(timezone=True), nullable=True),
    Column("validated_by", String(64), nullable=True),
    Column("cancelled_at", DateTime(timezone=True), nullable=True),
    Column("corrects", Integer, nullable=True),
    Column("retention_rule", String(60), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_pharmacy_register_entry_due", "due_at"),
)

# A record frozen: writes refused, reads still allowed (to verify). Permanent for validated register entries;
# lifted when a restriction of processing ends (GDPR art. 18, COM-QUAL-1).
record_freeze = Table(
    "record_freeze",
    metadata,
    Column("record_id", String(64), primary_key=True),
    Column("reason", String(300), nullable=False),
    Column("permanent", Boolean, nullable=False),
    Column("frozen_at", DateTime(timezone=True), nullable=False),
    Column("frozen_by", String(64), nullable=False),
)

# -- retention and the intermediate archive (COM-RET-1, COM-ARC-1) ----------------------------------

# The retention state of a record: the rule recorded for it (explicit, e.g. an FSE duplicate), and where it is
# in its life: active → archived → ended. An ended row keeps only the random id, the rule and the dates.
record_retention = Table(
    "record_retention",
    metadata,
    Column("record_id", String(64), primary_key=True),
    Column("rule", String(60), nullable=True),
    Column("explicit", Boolean, nullable=False),
    Column("state", String(12), nullable=False),  # active, archived, ended
    Column("archived_at", DateTime(timezone=True), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
)

# A start (or end) event of a retention phase: scope "patient" or "record", e.g. summary_report_approved.
retention_event = Table(
    "retention_event",
    metadata,
    Column("scope", String(10), primary_key=True),
    Column("scope_id", String(64), primary_key=True),
    Column("event", String(120), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", String(64), nullable=False),
)

# A legal hold (litigation, an authority's request, a pending right): the record is never destroyed while it holds.
retention_hold = Table(
    "retention_hold",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("scope", String(10), nullable=False),
    Column("scope_id", String(64), nullable=False),
    Column("reason", String(300), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("until", DateTime(timezone=True), nullable=True),
    Column("released_at", DateTime(timezone=True), nullable=True),
    Index("ix_retention_hold_scope", "scope", "scope_id"),
)

# The intermediate archive: the versions moved out of the live tables; each part token re-wrapped under
# the archive key family, so reading needs the archive key AND the patient key.
archive_record = Table(
    "archive_record",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("resource_type", String(40), nullable=False),
    Column("patient_id", String(64), nullable=True, index=True),
    Column("current", Boolean, nullable=False),
    Column("free_text", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("purpose", String(60), nullable=False),
    Column("rule", String(60), nullable=False),
    Column("archived_at", DateTime(timezone=True), nullable=False),
)

archive_part = Table(
    "archive_part",
    metadata,
    Column("record_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("category", String(60), primary_key=True),
    Column("token", LargeBinary, nullable=False),
)

# What anonymisation keeps: counts only (rule, resource type, year of creation); nothing linkable.
retention_aggregate = Table(
    "retention_aggregate",
    metadata,
    Column("rule", String(60), primary_key=True),
    Column("resource_type", String(40), primary_key=True),
    Column("year_of_creation", Integer, primary_key=True),
    Column("count", Integer, nullable=False),
)

# Each justified access to the archive (COM-ARC-1): who, when, which record, and the written justification.
archive_access = Table(
    "archive_access",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("login", String(64), nullable=False),
    Column("resource_type", String(40), nullable=False),
    Column("record_id", String(64), nullable=False, index=True),
    Column("justification", String(1000), nullable=False),
)

# The written justification of an exceptional access (COM-LOG-4): a break-the-glass reason, the research formality
# a request named. Kept in the records database (it may say something of the patient), never in the audit trail,
# whose entry points to it by id; the trace review shows it to the reviewer.
access_justification = Table(
    "access_justification",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("login", String(64), nullable=False),
    Column("kind", String(20), nullable=False),  # break_glass, formality
    Column("resource_type", String(40), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("patient_id", String(64), nullable=True, index=True),
    Column("text", String(1000), nullable=False),
)

# The consent ledger (COM-MIN-1, consent part): one row per scope (category × purpose) of a stored Consent
# resource, written in the transaction that stores the resource; the encrypted Consent stays the record.
consent_ledger = Table(
    "consent_ledger",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("consent_id", String(64), nullable=False, index=True),
    Column("patient_id", String(64), nullable=False),
    Column("category", String(60), nullable=False),
    Column("purpose", String(60), nullable=False),
    Column("start", DateTime(timezone=True), nullable=False),
    Column("end", DateTime(timezone=True), nullable=True),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    Column("recorded_by", String(64), nullable=False),
    Index("ix_consent_ledger_scope", "patient_id", "category", "purpose"),
)

# The objection ledger (COM-RGT-1, Art. 21): one row per objection of a patient to a purpose; lifted, or
# overridden on compelling legitimate grounds (a written justification, flagged in the trace review).
objection_ledger = Table(
    "objection_ledger",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("patient_id", String(64), nullable=False),
    Column("purpose", String(60), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("lifted_at", DateTime(timezone=True), nullable=True),
    Column("lifted_by", String(64), nullable=True),
    Column("lift_kind", String(20), nullable=True),  # lifted (the person withdrew it), compelling_grounds
    Column("justification", Integer, nullable=True),  # access_justification.id of the compelling grounds
    # patient: patient_id is the store's patient id; pseudonym: it is the warehouse's pseudonym of the person (EDS-9)
    Column("subject", String(10), nullable=False, server_default="patient"),
    Index("ix_objection_ledger_scope", "patient_id", "purpose"),
)
