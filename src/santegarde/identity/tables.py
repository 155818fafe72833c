"""Tables of the identity package: accounts, grants, sessions, attempt counters, reviews, charter acceptances,
trainings.

They live in the organisation's records database with their own Alembic history
(``identity_alembic_version``); no health data is ever stored here.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, DateTime, ForeignKey, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

user = Table(
    "identity_user",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("login", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    # The person's professional or staff reference (RPPS, ADELI, employee number): one account per person.
    Column("person_ref", String(64), nullable=True, unique=True),
    Column("kind", String(16), nullable=False),  # person | technical
    Column("status", String(16), nullable=False),  # active | disabled
    Column("password_hash", String(255), nullable=True),
    Column("must_change_password", Boolean, nullable=False, default=False),
    Column("password_changed_at", DateTime(timezone=True), nullable=True),
    Column("totp_secret", LargeBinary, nullable=True),  # encrypted under the identity key
    Column("totp_last_step", Integer, nullable=True),
    Column("recovery_hashes", Text, nullable=True),  # JSON list of SHA-256 hashes of unused codes
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
    Column("disabled_reason", Text, nullable=True),
)

grant = Table(
    "identity_grant",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("identity_user.id"), nullable=False, index=True),
    Column("profile", String(64), nullable=False),
    Column("validated_by", String(200), nullable=False),
    Column("validator_role", String(32), nullable=False),  # governance_body | line_manager
    Column("reason", Text, nullable=False),
    Column("project", String(100), nullable=True),
    Column("establishment", String(64), nullable=True),  # the Organization id a collecting staff grant is tied to
    Column("country", String(2), nullable=True),  # ISO 3166 code of the country it is used from; None: the EU/EEA
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoked_reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

session = Table(
    "identity_session",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 of the token: the token itself is never stored
    Column("user_id", Integer, ForeignKey("identity_user.id"), nullable=False, index=True),
    Column("grant_id", Integer, ForeignKey("identity_grant.id"), nullable=True),
    Column("factors", Integer, nullable=False),
    Column("method", String(16), nullable=False),  # password | psc
    Column("workstation_class", String(32), nullable=False),
    Column("source", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("locked_at", DateTime(timezone=True), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
)

throttle = Table(
    "identity_throttle",
    metadata,
    Column("key", String(128), primary_key=True),  # account:<id> or source:<address>
    Column("failures", Integer, nullable=False),
    Column("blocks", Integer, nullable=False),
    Column("blocked_until", DateTime(timezone=True), nullable=True),
    Column("last_failure_at", DateTime(timezone=True), nullable=True),
)

review = Table(
    "identity_review",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("reason", String(32), nullable=False),  # yearly | project_end
    Column("project", String(100), nullable=True),
    Column("started_by", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("closed_by", String(200), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
)

review_item = Table(
    "identity_review_item",
    metadata,
    Column("review_id", Integer, ForeignKey("identity_review.id"), primary_key=True),
    Column("grant_id", Integer, ForeignKey("identity_grant.id"), primary_key=True),
    Column("decision", String(16), nullable=False),  # pending | confirmed | ended
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
)

charter_acceptance = Table(
    "identity_charter_acceptance",
    metadata,
    Column("user_id", Integer, ForeignKey("identity_user.id"), primary_key=True),
    Column("version", String(32), primary_key=True),
    Column("accepted_at", DateTime(timezone=True), nullable=False),
)

# Sensitisation to professional secrecy and to the risks of processing health data (AAC-SEC-SEN-1): one row per
# session a person attended; the latest one, within the organisation's validity, lets the person log in.
training = Table(
    "identity_training",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("identity_user.id"), nullable=False, index=True),
    Column("trained_on", Date, nullable=False),
    Column("subject", String(200), nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
