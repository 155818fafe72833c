"""Shared set-up for workspace and re-identification tests: a small fictitious warehouse, its governance and trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from identity_fixtures import make_context
from santegarde.audit.trail import AuditTrail
from santegarde.identity import accounts, grants
from santegarde.identity.context import IdentityContext
from santegarde.referentials import loader
from santegarde.store.db import make_engine, migrate
from santegarde.warehouse import Warehouse
from santegarde.warehouse import governance as gov
from santegarde.warehouse.access import WarehouseGuard

DIABETES = 201826
HBA1C = 3004410
COHORT = f"SELECT person_id FROM condition_occurrence WHERE condition_concept_id = {DIABETES}"
PEOPLE = {
    "alice": {"family": "Martin-Fictif", "given": "Alice", "birthdate": "1961-04-12"},
    "bruno": {"family": "Durand-Fictif", "given": "Bruno", "birthdate": "1955-09-30"},
    "chloe": {"family": "Petit-Fictif", "given": "Chloé", "birthdate": "1990-01-02"},
}
DIABETIC = ("alice", "bruno")
COMMITTEE = [
    ("Dr Alice Ethique", ["health_ethics"]),
    ("M. Bruno Externe", ["independent"]),
    ("Dr Chloé Soignante", ["health_professional", "researcher"]),
    ("Mme Dalila Sociale", ["medico_social_professional"]),
    ("M. Étienne Usager", ["patient_representative"]),
]


@dataclass
class Setup:
    warehouse: Warehouse
    governance: Engine
    trail: AuditTrail
    identity: IdentityContext
    person_ids: dict[str, int]
    tmp: Path


def build(tmp_path: Path) -> Setup:
    """A warehouse with three fictitious persons (two diabetic), its governance database and its audit trail."""
    ctx = make_context(f"sqlite:///{tmp_path / 'identity.db'}", tmp_path, "eds-2021-118")
    migrate(ctx.engine)  # the records database of the organisation: the objection ledger (EDS-9)
    records = make_engine(f"sqlite:///{tmp_path / 'records.db'}")
    migrate(records, package="santegarde.governance")
    audit = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(audit, package="santegarde.audit")
    trail = AuditTrail(audit, b"s" * 32)
    wh = Warehouse.open(tmp_path / "warehouse", ctx.keyring)
    person_ids = {name: wh.person_id_of(identity) for name, identity in PEOPLE.items()}
    _populate(wh, person_ids)
    return Setup(wh, records, trail, ctx, person_ids, tmp_path)


def _populate(wh: Warehouse, ids: dict[str, int]) -> None:
    con = wh.omop
    for n, (name, pid) in enumerate(ids.items(), start=1):
        birth = int(PEOPLE[name]["birthdate"][:4])
        con.execute(
            "INSERT INTO omop.person (person_id, gender_concept_id, year_of_birth, race_concept_id, "
            "ethnicity_concept_id, provider_id) VALUES ($p, 8532, $y, 0, 0, $prov)",
            {"p": pid, "y": birth, "prov": 9_000_000 + n},
        )
        concept = DIABETES if name in DIABETIC else 4112343
        con.execute(
            "INSERT INTO omop.condition_occurrence (condition_occurrence_id, person_id, condition_concept_id, "
            "condition_start_date, condition_type_concept_id) VALUES ($i, $p, $c, DATE '2025-03-01', 32817)",
            {"i": 100 + n, "p": pid, "c": concept},
        )
        con.execute(
            "INSERT INTO omop.measurement (measurement_id, person_id, measurement_concept_id, measurement_date, "
            "measurement_type_concept_id, value_as_number, visit_occurrence_id) "
            "VALUES ($i, $p, $c, DATE '2025-04-01', 32817, $v, $visit)",
            {"i": 200 + n, "p": pid, "c": HBA1C, "v": 6.5 + n, "visit": 7_000_000 + n},
        )
    with wh.vault_connection() as vault:
        for identity in PEOPLE.values():
            vault.execute(
                "INSERT INTO vault.identity (pseudonym, family, given, birth_date, phone, city, kind, source_hash) "
                "VALUES ($ps, $f, $g, CAST($b AS DATE), '0600000000', 'Fictiville', 'test', $ps)",
                {
                    "ps": wh.pseudonym_of(identity),
                    "f": identity["family"],
                    "g": identity["given"],
                    "b": identity["birthdate"],
                },
            )


def approve(
    s: Setup,
    code: str,
    variables: dict[str, str],
    *,
    follow_up: bool = False,
    cohort: str = COHORT,
) -> gov.Project:
    """Put the variables on the data list, seat the committee if needed, submit and approve a project."""
    ref = loader.get("eds-2021-118")
    for variable, why in variables.items():
        gov.declare_variable(s.governance, variable, why, by="copil")
    if not gov.composition(s.governance).complete:
        for name, roles in COMMITTEE:
            gov.add_member(s.governance, name, roles, by="dpo")
    gov.submit_project(
        s.governance,
        ref,
        code=code,
        title=f"Project {code}",
        leader="Dr Fanny Chercheuse",
        leader_contact="fanny@chu.invalid",
        purpose="feasibility_studies",
        variables=variables,
        by="fanny",
        cohort_follow_up=follow_up,
    )
    gov.record_opinion(
        s.governance,
        ref,
        code,
        decision="favourable",
        reasoning="Minimised variables for a clear question.",
        decided_on=date(2026, 11, 1),
        by="secretary",
        notices_dir=s.tmp / "notices",
        organisation_name="CHU Test",
        cohort_sql=cohort,
    )
    return gov.get_project(s.governance, code)


def account(s: Setup, login: str, profile: str, project: str | None = None) -> None:
    """An active account holding one grant of ``profile`` (validated by a governance body)."""
    accounts.add(s.identity, login, f"{login.title()} Fictif", person_ref=f"staff-{login}", by="admin")
    grants.give(
        s.identity,
        login,
        profile,
        validated_by="comité",
        validator_role="governance_body",
        reason="validated by the committee",
        ends_at=datetime.now(UTC) + timedelta(days=365) if project else None,
        project=project,
        by="admin",
    )


def staff(identity: IdentityContext, login: str, *profiles: str) -> None:
    """An active account holding one open-ended grant of each of ``profiles`` (validated by a governance body)."""
    accounts.add(identity, login, f"{login.title()} Fictif", person_ref=f"staff-{login}", by="admin")
    for profile in profiles:
        grants.give(
            identity,
            login,
            profile,
            validated_by="comité",
            validator_role="governance_body",
            reason="validated by the committee",
            by="admin",
        )


def warehouse_guard(tmp_path: Path, feeder: str, steward: str) -> WarehouseGuard:
    """A guard over an identity database where ``feeder`` feeds and ``steward`` stewards, with the organisation's
    records database (the objection ledger, EDS-9) and a fresh audit trail."""
    ctx = make_context(f"sqlite:///{tmp_path / 'identity.db'}", tmp_path, "eds-2021-118")
    migrate(ctx.engine)
    staff(ctx, feeder, "feeding")
    staff(ctx, steward, "data_steward")
    audit = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(audit, package="santegarde.audit")
    return WarehouseGuard(ctx, AuditTrail(audit, b"s" * 32))
