"""Tables of the audit trail: kept apart from the records, in their own database (COM-LOG-2)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, Text

metadata = MetaData()

entry = Table(
    "audit_entry",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("content", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("seal", String(64)),  # HMAC of (seq, hash) under the audit-sealing key; NULL only before first use
)

checkpoint = Table(
    "audit_checkpoint",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("seal", String(64), nullable=False),
    Column("anchor", Boolean, nullable=False, default=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

review = Table(
    "audit_review",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("period_start", DateTime(timezone=True), nullable=False),
    Column("period_end", DateTime(timezone=True), nullable=False),
    Column("reviewer", String(120), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("closed_at", DateTime(timezone=True)),
)

anomaly = Table(
    "audit_anomaly",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("review_id", Integer, nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("detail", Text, nullable=False),
    Column("first_seq", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("closed_by", String(120)),
    Column("comment", Text),
    Column("closed_at", DateTime(timezone=True)),
)
