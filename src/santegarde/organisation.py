"""Setting up an organisation: configuration file, database and keyring location (COM-REF-2).

Everything is validated before anything is written: a refused configuration leaves no file, no
database and no directory behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from santegarde.config import (
    CONFIG_NAME,
    ConfigurationRefused,
    Finding,
    OrganisationConfig,
    check,
    errors,
    is_justified,
    save,
)
from santegarde.config.io import parse, read_raw
from santegarde.errors import SantegardeError, WordedError
from santegarde.policy import dpo_required, parse_fact
from santegarde.private import private_directory
from santegarde.referentials import loader
from santegarde.referentials.model import Art6Basis, Art9Condition, Purpose, Referential, Sensitivity
from santegarde.store.db import make_engine, migrate, normalise_url
from santegarde.store.schema import organisation


class AlreadyInitialised(SantegardeError):
    pass


@dataclass(frozen=True, slots=True)
class InitResult:
    config_path: Path
    config: OrganisationConfig
    referential: Referential
    findings: list[Finding]


def parse_assignment(text: str) -> tuple[str, str | bool]:
    """``id=value`` from the command line; true/false become booleans."""
    if "=" not in text:
        raise SantegardeError(f"'{text}' is not of the form CHOICE=VALUE (e.g. dispensing_legal_basis=contract)")
    key, value = (part.strip() for part in text.split("=", 1))
    lowered = value.lower()
    return key, (lowered == "true") if lowered in ("true", "false") else value


@dataclass(frozen=True, slots=True)
class InitAnswers:
    """What ``init`` asks beyond the choices: the controller's contact, the DPO or why none, the trigger facts."""

    controller_name: str | None = None
    controller_email: str | None = None
    controller_phone: str | None = None
    controller_address: str | None = None
    dpo_name: str | None = None
    dpo_email: str | None = None
    no_dpo_reason: str | None = None
    facts: dict[str, str | bool] = field(default_factory=dict)
    data_protection_policy: str | None = None
    # The legal basis of each purpose the text leaves to the controller: purpose → ("ART6[+ART9]", justification).
    legal_bases: dict[str, tuple[str, str]] = field(default_factory=dict)


LEGAL_BASIS_PREFIX = "legal_basis."  # --set legal_basis.PURPOSE=ART6[+ART9] --justify legal_basis.PURPOSE=TEXT


def open_purposes(ref: Referential) -> list[Purpose]:
    """The purposes whose legal basis the référentiel leaves to the controller (none stated, none forbidden)."""
    return [p for p in ref.purposes if not (p.legal_bases or p.out_of_scope or p.forbidden or p.requires_formality)]


def needs_art9(ref: Referential, purpose: Purpose) -> bool:
    """Whether the purpose processes a special category (health data…), so that an art. 9.2 condition is needed."""
    return any(
        (c := ref.category(cid)) is not None and c.sensitivity is Sensitivity.SPECIAL for cid in purpose.categories
    )


class LegalBasisRefused(WordedError, SantegardeError):
    """A legal basis given for a purpose the text leaves open cannot stand; ``part`` says which answer to give again
    (``purpose``, ``art6``, ``art9`` or ``justification``)."""

    def __init__(self, part: str, sentences: dict[str, str]) -> None:
        self.part = part
        super().__init__(sentences)


def check_art6(purpose_id: str, text: str) -> str:
    """The art. 6.1 basis typed for ``purpose_id``, if it is one."""
    values = [b.value for b in Art6Basis]
    if text.strip() not in values:
        listed = ", ".join(values)
        example = f"--set {LEGAL_BASIS_PREFIX}{purpose_id}=legitimate_interest+9.2.h"
        raise LegalBasisRefused(
            "art6",
            {
                "fr": f"« {text.strip()} » n'est pas une base légale de l'art. 6.1 du RGPD : choisissez parmi {listed} "
                f"(par exemple {example}).",
                "en": f"'{text.strip()}' is not a legal basis of GDPR art. 6.1 for '{purpose_id}'; choose one of: "
                f"{listed} (e.g. {example}).",
            },
        )
    return text.strip()


def check_art9(ref: Referential, purpose: Purpose, art6: str, text: str) -> str:
    """The art. 9.2 condition typed for ``purpose`` (required when it processes health data), if it is one."""
    values = [c.value for c in Art9Condition]
    listed = ", ".join(values)
    if text and text not in values:
        raise LegalBasisRefused(
            "art9",
            {
                "fr": f"« {text} » n'est pas une condition de l'art. 9.2 du RGPD : choisissez parmi {listed}.",
                "en": f"'{text}' is not a condition of GDPR art. 9.2; choose one of: {listed}.",
            },
        )
    if not text and needs_art9(ref, purpose):
        raise LegalBasisRefused(
            "art9",
            {
                "fr": f"La finalité « {purpose.id} » traite des données de santé : ajoutez la condition de l'art. 9.2 "
                f"du RGPD après un « + », par exemple {art6}+9.2.h (prise en charge sanitaire) ou {art6}+9.2.j "
                f"(recherche) ; l'une de : {listed}.",
                "en": f"'{purpose.id}' processes health data: add the GDPR art. 9.2 condition after a '+', e.g. "
                f"{art6}+9.2.h (care) or {art6}+9.2.j (research); one of: {listed}.",
            },
        )
    return text


def check_basis_justification(purpose_id: str, justification: str) -> str:
    """Why the controller chose this basis: a real sentence."""
    if not is_justified(justification):
        option = f'--justify {LEGAL_BASIS_PREFIX}{purpose_id}="…"'
        raise LegalBasisRefused(
            "justification",
            {
                "fr": f"La base légale de la finalité « {purpose_id} » est un choix du responsable du traitement "
                f"et doit être justifiée : donnez en une phrase d'au moins 20 caractères pourquoi cette base "
                f"({option}).",
                "en": f"The legal basis of '{purpose_id}' is the controller's choice and must be justified: add "
                f"{option} (at least 20 characters: why this basis).",
            },
        )
    return justification.strip()


def parse_legal_basis(ref: Referential, purpose_id: str, value: str, justification: str) -> dict[str, str | None]:
    """``ART6[+ART9]`` for a purpose the text leaves open, validated against GDPR art. 6.1 and 9.2; a deviation."""
    open_ids = [p.id for p in open_purposes(ref)]
    purpose = ref.purpose(purpose_id)
    if purpose is None or purpose_id not in open_ids:
        listed = ", ".join(open_ids)
        raise LegalBasisRefused(
            "purpose",
            {
                "fr": f"« {purpose_id} » n'est pas une finalité du référentiel {ref.id} dont la base légale est "
                "laissée au responsable du traitement ; "
                + (f"ce sont : {listed}." if open_ids else "ce référentiel n'en laisse aucune."),
                "en": f"'{purpose_id}' is not a purpose of {ref.id} whose legal basis the référentiel leaves to the "
                f"controller; those are: {listed or 'none'}.",
            },
        )
    art6_text, _, art9_text = (part.strip() for part in value.partition("+"))
    art6 = check_art6(purpose_id, art6_text)
    art9 = check_art9(ref, purpose, art6, art9_text)
    why = check_basis_justification(purpose_id, justification)
    return {"purpose": purpose_id, "art6": art6, "art9": art9 or None, "justification": why}


def _apply_answers(raw: dict[str, Any], ref: Referential, answers: InitAnswers) -> None:
    """Put the answers into the raw configuration; refuse, before anything is written, those that cannot stand."""
    org = raw["organisation"]
    controller = org.setdefault("controller", {"name": org["name"]})
    for key in ("name", "email", "phone", "address"):
        value = getattr(answers, f"controller_{key}")
        if value is not None and str(value).strip():
            controller[key] = str(value).strip()
    facts = raw.setdefault("facts", {})
    for name, value in answers.facts.items():
        facts[name] = parse_fact(ref, name, value)
    if answers.dpo_email and not (answers.dpo_name or org.get("dpo")):
        raise SantegardeError("--dpo-email needs the DPO's name: add --dpo-name NAME.")
    if answers.dpo_name:
        org["dpo"] = {
            "name": answers.dpo_name.strip(),
            **({"email": answers.dpo_email.strip()} if answers.dpo_email else {}),
        }
    elif answers.dpo_email:
        org["dpo"]["email"] = answers.dpo_email.strip()
    if answers.data_protection_policy:
        org["data_protection_policy"] = answers.data_protection_policy.strip()
    if answers.legal_bases:
        deviations = raw.setdefault("deviations", {})
        chosen = [parse_legal_basis(ref, pid, value, why) for pid, (value, why) in answers.legal_bases.items()]
        kept = [lb for lb in deviations.get("legal_basis", []) if lb.get("purpose") not in answers.legal_bases]
        deviations["legal_basis"] = [*kept, *chosen]
    if answers.no_dpo_reason is None:
        return
    if org.get("dpo"):
        raise SantegardeError(
            "--no-dpo-reason says why no DPO is designated, but a DPO is named: give either the DPO "
            "(--dpo-name, --dpo-email) or the reason, not both."
        )
    decision = dpo_required(ref, facts)
    if decision.required:
        missing = (
            f" (declare {', '.join(f'--fact {f}=VALUE' for f in decision.missing_facts)})"
            if decision.missing_facts
            else ""
        )
        raise SantegardeError(
            f"--no-dpo-reason is accepted only when the référentiel's triggers say no DPO is required, and here "
            f"{decision}{missing}: name the DPO with --dpo-name and --dpo-email."
        )
    if not is_justified(answers.no_dpo_reason):
        raise SantegardeError(
            "--no-dpo-reason must be a sentence of at least 20 characters saying why no DPO is required "
            "(e.g. 'Single practitioner, 4,000 patients a year: below the thresholds of §11')."
        )
    org["no_dpo_reason"] = answers.no_dpo_reason.strip()


def _audit_default(database_url: str, directory: Path) -> str:
    """The audit trail lives apart: its own SQLite file, or the same PostgreSQL server's database."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{directory / 'audit.db'}"
    return database_url


# What a profile's text asks that santegarde cannot leave unset by default: the compassionate-access référentiel
# (2022-106, §13.3 SEC-SEN-1) wants every person "regularly made aware"; it names no period, so a training stays
# valid twelve months (a yearly campaign, like the yearly review of grants, SEC-HAB-3) and is checked at login.
PROFILE_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "compassionate": {"access": {"training_months": 12}},
}


def build_config(
    directory: Path,
    profile: str,
    *,
    base: Path | None = None,
    database_url: str | None = None,
    audit_database_url: str | None = None,
    organisation_name: str | None = None,
    choices: dict[str, str | bool] | None = None,
    justifications: dict[str, str] | None = None,
    answers: InitAnswers | None = None,
) -> tuple[OrganisationConfig, Referential]:
    """Assemble the configuration from a base file, command-line values and init's answers; validate, write nothing."""
    raw: dict[str, Any] = read_raw(base) if base else {}
    ref = loader.get(raw["referential"]) if "referential" in raw else loader.for_profile(profile)
    directory = directory.resolve()
    raw.setdefault("profile", profile)
    for section, values in PROFILE_DEFAULTS.get(profile, {}).items():
        for key, value in values.items():
            raw.setdefault(section, {}).setdefault(key, value)  # a base file's own value wins
    raw.setdefault("referential", ref.id)
    raw.setdefault(
        "organisation",
        {"name": organisation_name or directory.name, "controller": {"name": organisation_name or directory.name}},
    )
    if organisation_name:
        raw["organisation"]["name"] = organisation_name
    raw["database_url"] = normalise_url(
        database_url or raw.get("database_url") or f"sqlite:///{directory / 'santegarde.db'}"
    )
    raw["audit_database_url"] = normalise_url(
        audit_database_url or raw.get("audit_database_url") or _audit_default(raw["database_url"], directory)
    )
    raw.setdefault("keyring_path", str(directory / "keyring"))
    answered = raw.setdefault("choices", {})
    for key, value in (choices or {}).items():
        answered[key] = {"value": value}
    for key, text in (justifications or {}).items():
        answered.setdefault(key, {})["justification"] = text
    if answers is not None:
        _apply_answers(raw, ref, answers)
    config = parse(raw, base or directory / CONFIG_NAME)
    return config, ref


# Every schema santegarde migrates, in order: (database, package, its Alembic version table).
SCHEMAS = (
    ("audit", "santegarde.audit", "audit_alembic_version"),
    ("records", "santegarde.store", "alembic_version"),
    ("records", "santegarde.identity", "identity_alembic_version"),
    ("records", "santegarde.governance", "governance_alembic_version"),
    ("records", "santegarde.rights", "rights_alembic_version"),
    ("records", "santegarde.compassionate", "compassionate_alembic_version"),
)


def migrate_all(records: Engine, audit: Engine, revisions: dict[str, str] | None = None) -> None:
    """Bring every schema to its head (or to the revision given per version table)."""
    for database, package, version_table in SCHEMAS:
        revision = (revisions or {}).get(version_table, "head")
        migrate(records if database == "records" else audit, revision, package=package)


def init_organisation(
    directory: Path, config: OrganisationConfig, ref: Referential, *, force: bool = False
) -> InitResult:
    """Create the configuration file, the database (migrated) and the keyring directory."""
    findings = check(config, ref)
    problems = errors(findings)
    if problems:
        raise ConfigurationRefused(problems)
    config_path = directory / CONFIG_NAME
    if config_path.exists() and not force:
        raise AlreadyInitialised(
            f"{config_path} already exists: this directory is already an organisation; "
            "use another directory, or --force to re-initialise it"
        )
    private_directory(directory)
    audit_engine = make_engine(config.audit_database_url)
    engine = make_engine(config.database_url)
    try:
        migrate_all(engine, audit_engine)
        with engine.begin() as conn:
            conn.execute(organisation.delete())
            conn.execute(
                organisation.insert().values(
                    name=config.organisation.name,
                    profile=config.profile,
                    referential=config.referential,
                    created_at=datetime.now(UTC),
                )
            )
    finally:
        engine.dispose()
        audit_engine.dispose()
    private_directory(Path(config.keyring_path))
    save(config, config_path)
    return InitResult(config_path, config, ref, findings)
