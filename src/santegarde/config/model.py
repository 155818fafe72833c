"""The organisation's configuration: which référentiel it applies, its choices and its deviations.

The file is YAML (``santegarde.yaml``), validated with ``extra="forbid"`` like the référentiels.
Choices answer what the text leaves to the controller; deviations depart from the text and each
must carry a written justification (COM-REF-2).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from santegarde.identifiers import InvalidIdentifier, validate_finess, validate_siret
from santegarde.referentials.model import (
    Art6Basis,
    Art9Condition,
    CategoryKind,
    Duration,
    OrganisationProfile,
    Sensitivity,
)

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Contact(Strict):
    name: str
    email: str | None = None
    phone: str | None = None
    address: str | None = None


class Organisation(Strict):
    name: str
    siret: str | None = None
    finess: str | None = None
    address: str | None = None
    controller: Contact
    dpo: Contact | None = None
    no_dpo_reason: str | None = Field(
        None,
        description=(
            "Why no data protection officer is designated: accepted only when the référentiel's DPO trigger, "
            "decided from the organisation's facts, says none is required"
        ),
    )
    data_protection_policy: str | None = Field(
        None,
        description=(
            "The controller's personal data protection policy: its address (URL) or its text. A warehouse's notices "
            "present it in a dedicated section (eds-2021-118 §8.2.3.2)"
        ),
    )

    @field_validator("siret")
    @classmethod
    def _siret_key(cls, value: str | None) -> str | None:
        return None if value is None else _checked(validate_siret, value)

    @field_validator("finess")
    @classmethod
    def _finess_key(cls, value: str | None) -> str | None:
        return None if value is None else _checked(validate_finess, value)


def _checked(validate: Callable[[str], str], value: str) -> str:
    """The identifier in compact form; a wrong key or shape becomes a validation error that says what is wrong."""
    try:
        return validate(value)
    except InvalidIdentifier as exc:
        raise ValueError(exc.message) from None


class ChoiceAnswer(Strict):
    value: str | bool
    justification: str | None = None


class Justified(Strict):
    justification: str = Field(default="", description="Why the organisation departs from the référentiel")


class RetentionDeviation(Justified):
    rule: Identifier
    active: Duration | None = None
    archive: Duration | None = None


class LegalBasisDeviation(Justified):
    purpose: Identifier
    art6: Art6Basis
    art9: Art9Condition | None = None


class ExtraCategory(Justified):
    id: Identifier
    name: str
    kind: CategoryKind
    sensitivity: Sensitivity
    purposes: list[Identifier]
    profiles: list[Identifier] = Field(default_factory=list, description="Profiles that may read and write it")


MeasureState = Literal["implemented", "partial", "equivalent", "not_necessary", "not_implemented"]
MEASURE_STATES: tuple[str, ...] = ("implemented", "partial", "equivalent", "not_necessary", "not_implemented")


class MeasureStatus(Justified):
    code: str
    status: MeasureState
    evidence: str | None = Field(None, description="What shows the status: a document, a procedure, a place")
    set_by: str | None = Field(None, description="Who recorded the status (santegarde measure set --by)")
    set_at: datetime | None = Field(None, description="When the status was recorded")


class Deviations(Strict):
    retention: list[RetentionDeviation] = Field(default_factory=list)
    legal_basis: list[LegalBasisDeviation] = Field(default_factory=list)
    extra_data: list[ExtraCategory] = Field(default_factory=list)
    measures: list[MeasureStatus] = Field(default_factory=list)


class Access(Strict):
    """Sessions and logins (COM-AUT-4): inactivity limits per workstation class, session lifetime, charter,
    validity of the sensitisation training (AAC-SEC-SEN-1)."""

    idle_minutes: dict[Identifier, int] = Field(
        default_factory=lambda: {"public_area": 5, "office": 15},
        description="Inactivity before a session locks, per workstation class",
    )
    session_hours: int = Field(12, ge=1, le=24)
    charter_version: str = "1"
    training_months: int | None = Field(
        None,
        ge=1,
        le=60,
        description="Months a sensitisation training stays valid; a person without a valid one opens no session "
        "(AAC-SEC-SEN-1). Unset: trainings are recorded but not checked at login",
    )

    @model_validator(mode="after")
    def _public_area_limit(self) -> Access:
        public = self.idle_minutes.get("public_area")
        if public is None or not 1 <= public <= 5:
            raise ValueError(
                "access.idle_minutes.public_area must be between 1 and 5: sessions on workstations in areas open "
                "to the public lock after at most five minutes of inactivity"
            )
        if any(minutes < 1 or minutes > 240 for minutes in self.idle_minutes.values()):
            raise ValueError("every access.idle_minutes value must be between 1 and 240 minutes")
        return self


class ProSanteConnectConfig(Strict):
    """Registration of santegarde with Pro Santé Connect; the client secret comes from the environment."""

    issuer: str = Field(description="e.g. https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet")
    client_id: str
    redirect_uri: str = Field(description="https://<host>/auth/psc/callback, as registered with the ANS")
    client_secret_env: str = Field("SANTEGARDE_PSC_CLIENT_SECRET", description="Variable holding the secret")


class Formality(Strict):
    """A research formality the controller completed: a reference-methodology declaration or a CNIL authorisation.

    A purpose that the text subjects to a formality (research, internal studies…) is reachable only by naming one of
    these references on the request; the reference is kept with the access and the trail points to it.
    """

    reference: str = Field(
        min_length=5,
        max_length=120,
        description="As on the CNIL's receipt, e.g. 'MR-004 récépissé 2219876 v 0' or 'DR-2024-123'",
    )
    kind: Literal["reference_methodology", "authorisation"]
    purposes: list[Identifier] = Field(min_length=1, description="The purposes of the text it covers")
    granted: date
    expires: date | None = None

    def covers(self, purpose: str, reference: str, today: date) -> bool:
        return (
            purpose in self.purposes
            and " ".join(reference.split()).casefold() == " ".join(self.reference.split()).casefold()
            and self.granted <= today
            and (self.expires is None or today <= self.expires)
        )


DEFAULT_MAX_BODY_BYTES = 1_048_576
ORIGIN_PATTERN = r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$"


class Server(Strict):
    """The HTTP API (santegarde serve): request size and the sites allowed to send state-changing requests."""

    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        le=64 * 1_048_576,
        description="The largest request body accepted, in bytes (413 above it); 1 MB by default",
    )
    allowed_origins: list[Annotated[str, Field(pattern=ORIGIN_PATTERN)]] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) besides the server's own allowed to POST/PUT/PATCH/DELETE, "
        "e.g. the console's site behind the reverse proxy",
    )


SPARK_MASTER_PATTERN = r"^(local(\[([1-9][0-9]*|\*)\])?|(spark|k8s|yarn)://[A-Za-z0-9.\-\[\]:/]+|yarn)$"


class WarehouseSettings(Strict):
    """The warehouse's engine (issue 22): DuckDB on one machine (the default) or Apache Spark for a hospital's scale.

    On Spark the health tables are Parquet files under ``storage`` (a directory or any Hadoop-compatible URI) and the
    identity vault and mapping stay in the warehouse directory's encrypted store, under their own key.
    """

    engine: Literal["duckdb", "spark"] = Field("duckdb", description="duckdb (default) or spark")
    spark_master: str | None = Field(
        None,
        description="The Spark master URL: local[N] on one machine, spark://host:7077, yarn, k8s://https://host",
    )
    storage: str | None = Field(
        None, description="Where Spark writes the OMOP Parquet tables: a directory or a URI such as hdfs://nn/eds"
    )

    @field_validator("spark_master")
    @classmethod
    def _master(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(SPARK_MASTER_PATTERN, value.strip()):
            raise ValueError(
                f"{value!r} is not a Spark master URL: write local[2] (one machine, two cores), spark://host:7077, "
                "yarn or k8s://https://host:443"
            )
        return value.strip() if value is not None else None

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("the storage location is empty: give a directory or a URI such as hdfs://namenode/eds")
        return value.strip() if value is not None else None

    @model_validator(mode="after")
    def _spark_needs(self) -> WarehouseSettings:
        if self.engine == "spark":
            missing = [name for name in ("spark_master", "storage") if getattr(self, name) is None]
            if missing:
                raise ValueError(
                    f"the Spark engine needs {' and '.join(missing)}: the master URL (local[2] on one machine) and "
                    "the storage location of the Parquet tables"
                )
        elif self.spark_master is not None:
            raise ValueError("spark_master is given but the engine is duckdb: write engine: spark, or remove it")
        return self


class CnilFormality(Strict):
    """How the controller may carry out the processing its référentiel governs (aac-2022-106 §3.2-3.3): a declaration
    of conformity to the CNIL (the processing then strictly complies with the référentiel), or a specific
    authorisation (article 66 III of the "Informatique et Libertés" law) for a processing that departs from it."""

    kind: Literal["declaration_of_conformity", "specific_authorisation"]
    reference: str = Field(
        min_length=3, max_length=120, description="As on the CNIL's receipt or decision, e.g. 'DC-2026-0042'"
    )
    granted: date = Field(description="The date of the receipt or of the decision")


class OrganisationConfig(Strict):
    version: Literal[1] = 1
    profile: OrganisationProfile
    referential: str
    organisation: Organisation
    database_url: str
    audit_database_url: str = Field(description="The audit trail's own database, apart from the records")
    keyring_path: str
    audit_anchor_path: str | None = Field(
        None,
        description="The audit trail's append-only anchor file of sealed heads, outside its database "
        "(default: audit.anchor beside this file); put it on other storage to detect a rewritten audit database",
    )
    audit_syslog: str | None = Field(
        None,
        description="Also send every sealed head of the audit trail to syslog: a socket path such as /dev/log, or "
        "host:port (UDP) of a log server the machine's administrators cannot rewrite",
    )
    backup_directory: str | None = Field(
        None, description="Where santegarde backup create writes by default; its key escrow forgets erased patients"
    )
    facts: dict[Identifier, float | int | bool] = Field(default_factory=dict)
    choices: dict[Identifier, ChoiceAnswer] = Field(default_factory=dict)
    deviations: Deviations = Field(default_factory=Deviations)
    access: Access = Field(default_factory=Access)
    formalities: list[Formality] = Field(
        default_factory=list, description="Research formalities completed (reference methodology or authorisation)"
    )
    cnil_formality: CnilFormality | None = Field(
        None, description="The declaration of conformity or specific authorisation the processing rests on (AAC-1)"
    )
    server: Server = Field(default_factory=Server)
    pro_sante_connect: ProSanteConnectConfig | None = None
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
