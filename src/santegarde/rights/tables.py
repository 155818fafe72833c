"""Tables of the data-subject rights register, in the records database with their own Alembic history.

Nothing here holds health data: a request names the right, the patient's resource id (a random
uuid), who asked, how their identity was checked, the deadline and the answer (rule and section).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

rights_request = Table(
    "rights_request",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("referential", String(40), nullable=False),
    Column("right", String(20), nullable=False),
    Column("patient_id", String(64), nullable=False, index=True),
    Column("requester", String(30), nullable=False),  # person, legal_representative, related_person
    Column("purpose", String(60), nullable=True),  # the purpose aimed at (objection, portability, medical record)
    Column("grounds", Text, nullable=True),  # e.g. the disputed accuracy behind a restriction
    Column("older_than_five_years", Boolean, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("received_by", String(64), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("deadline_rule", String(200), nullable=False),
    Column("extended_due_at", DateTime(timezone=True), nullable=True),
    Column("extension_reason", Text, nullable=True),
    Column("identity_check", Text, nullable=True),
    Column("identity_checked_at", DateTime(timezone=True), nullable=True),
    Column("identity_checked_by", String(64), nullable=True),
    Column("status", String(20), nullable=False),
    Column("outcome", Text, nullable=True),  # the answer, in a sentence
    Column("rule", String(120), nullable=True),
    Column("section", String(40), nullable=True),
    Column("answered_at", DateTime(timezone=True), nullable=True),
    Column("answered_by", String(64), nullable=True),
    Column("lifted_at", DateTime(timezone=True), nullable=True),  # a restriction lifted
    Column("letter_sent_at", DateTime(timezone=True), nullable=True),  # the answer letter sent (r003)
    Column("letter_sent_by", String(64), nullable=True),
    Column("letter_channel", String(30), nullable=True),  # rights.requests.LETTER_CHANNELS
    Index("ix_rights_request_status", "status", "due_at"),
)

# The records a restriction froze, so that lifting it unfreezes those and only those (COM-QUAL-1).
rights_freeze = Table(
    "rights_freeze",
    metadata,
    Column("request_id", Integer, primary_key=True),
    Column("resource_type", String(40), primary_key=True),
    Column("record_id", String(64), primary_key=True),
)
