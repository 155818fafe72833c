"""The genetic/location key is mobilised only by the feeding and workspace-export profiles (EDS-SEC-LOG-6).

Fictitious warehouse data only. Profiles come from the référentiel's data (``keys: [genetic_location]``), must be
the one chosen at login and actively granted; every refusal is in the audit trail. Objections (EDS-9) and rights
erasures (EDS-SEC-REI-1) still delete a person's genetic results through the narrow, traced erase path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from identity_fixtures import make_context
from santegarde.audit.trail import AuditTrail
from santegarde.identity import grants
from santegarde.identity.context import IdentityContext
from santegarde.referentials import loader
from santegarde.referentials.model import SeparateKey
from santegarde.store.db import make_engine, migrate
from santegarde.synthetic import generate_dataset
from santegarde.warehouse import Warehouse
from santegarde.warehouse.access import (
    Operator,
    WarehouseAccessRefused,
    WarehouseGuard,
    feed_profiles,
    key_profiles,
    objection_profiles,
)
from santegarde.warehouse.core import TRANSIT
from santegarde.warehouse.feed import DataList
from santegarde.warehouse.omop import OMOP_TABLES
from warehouse_governance_fixtures import staff

FULL = DataList.from_mapping(
    {f"{t}.{c.name}": "needed by the warehouse purposes" for t, cols in OMOP_TABLES.items() for c in cols}
)
FEEDER = Operator("feed.bot", "feeding")
EXPORTER = Operator("ws.export", "workspace_provisioning")
STEWARD = Operator("rights.desk", "data_steward")
MEMBER = Operator("proj.member", "project_member")
# An account holding the feeding grant that chose another of its profiles at login (EDS-SEC-LOG-5).
TWO_HATS_AS_STEWARD = Operator("two.hats", "data_steward")
TWO_HATS_AS_FEEDER = Operator("two.hats", "feeding")


@pytest.fixture
def identity(tmp_path: Path) -> IdentityContext:
    ctx = make_context(f"sqlite:///{tmp_path / 'identity.db'}", tmp_path, "eds-2021-118")
    migrate(ctx.engine)  # the records database of the organisation: the objection ledger (EDS-9)
    staff(ctx, FEEDER.login, "feeding")
    staff(ctx, EXPORTER.login, "workspace_provisioning")
    staff(ctx, STEWARD.login, "data_steward")
    staff(ctx, "two.hats", "feeding", "data_steward")
    staff(ctx, MEMBER.login)
    grants.give(
        ctx,
        MEMBER.login,
        "project_member",
        validated_by="comité",
        validator_role="governance_body",
        reason="validated by the committee",
        ends_at=ctx.now() + timedelta(days=365),
        project="P-2026-01",
        by="admin",
    )
    return ctx


@pytest.fixture
def trail(tmp_path: Path) -> AuditTrail:
    audit = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(audit, package="santegarde.audit")
    return AuditTrail(audit, b"s" * 32)


@pytest.fixture
def wh(tmp_path: Path, identity: IdentityContext, trail: AuditTrail) -> Iterator[Warehouse]:
    warehouse = Warehouse.open(tmp_path / "warehouse", identity.keyring, guard=WarehouseGuard(identity, trail))
    yield warehouse
    warehouse.close()


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "bundle.json"
    path.parent.mkdir()
    path.write_text(generate_dataset(7, 6, profile="warehouse").bundle().json(), encoding="utf-8")
    return path


def events(trail: AuditTrail, operation_prefix: str) -> list[dict[str, Any]]:
    with trail.engine.connect() as conn:
        return [
            dict(e.content) for e in trail.entries(conn) if str(e.content["operation"]).startswith(operation_prefix)
        ]


def geo_count(wh: Warehouse, table: str, operator: Operator = FEEDER) -> int:
    with wh.location_connection(operator) as con:
        row = con.execute(f"SELECT count(*) FROM geo.{table}").fetchone()
    return int(row[0]) if row else 0


def add_genetic_result(wh: Warehouse, person_id: int) -> None:
    with wh.location_connection(FEEDER) as con:
        con.execute(
            "INSERT INTO geo.genetic_result VALUES ($g, $p, DATE '2025-06-01', 'BRCA1', 'c.68_69del', 0, 'fictitious')",
            {"g": 900_000 + person_id % 1000, "p": person_id},
        )


# ---- the référentiel's data ------------------------------------------------------------------------------------


def test_the_referential_names_the_key_holders_feeders_and_objection_handlers() -> None:
    ref = loader.get("eds-2021-118")
    assert key_profiles(ref) == ("feeding", "workspace_provisioning")
    assert ref.key_holders(SeparateKey.GENETIC_LOCATION) == key_profiles(ref)
    assert feed_profiles(ref) == ("feeding",)
    assert objection_profiles(ref) == ("data_steward",)
    assert ref.accessor("workspace_provisioning") is not None
    for other in loader.load_all().values():
        if other.id != ref.id:
            assert not key_profiles(other)


# ---- allowed profiles ------------------------------------------------------------------------------------------


def test_feeding_feeds_and_sees_the_genetic_and_location_data(wh: Warehouse, bundle: Path, trail: AuditTrail) -> None:
    report = wh.feed_fhir([bundle], FULL, source="dpi", operator=FEEDER)
    assert report.rows["person"] == 6
    assert geo_count(wh, "location") > 0
    used = events(trail, "warehouse.")
    assert ("warehouse.feed", "feed.bot", "feeding", "success", "EDS-SEC-LOG-6") in {
        (e["operation"], e["actor"], e["profile"], e["outcome"], e["rule"]) for e in used
    }


def test_the_workspace_export_profile_may_mobilise_the_key(wh: Warehouse, bundle: Path) -> None:
    wh.feed_fhir([bundle], FULL, source="dpi", operator=FEEDER)
    assert geo_count(wh, "location", EXPORTER) == geo_count(wh, "location", FEEDER) > 0


def test_the_genetic_store_is_not_touched_at_open(tmp_path: Path, identity: IdentityContext) -> None:
    Warehouse.init(tmp_path / "fresh", identity.keyring).close()
    assert (tmp_path / "fresh" / "omop.duckdb").exists() and (tmp_path / "fresh" / "vault.duckdb").exists()
    assert not (tmp_path / "fresh" / "location.duckdb").exists()


# ---- refusals, traced ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "says"),
    [
        (MEMBER, "only the profile(s) feeding, workspace_provisioning may mobilise"),
        (STEWARD, "only the profile(s) feeding, workspace_provisioning may mobilise"),
        (TWO_HATS_AS_STEWARD, "log in again choosing one of them"),
        (Operator("feed.bot", None), "acts under the profile 'no profile'"),
        (Operator("nobody", "feeding"), "holds no active grant of the profile 'feeding'"),
    ],
)
def test_other_profiles_are_refused_the_key_and_the_refusal_is_traced(
    wh: Warehouse, trail: AuditTrail, operator: Operator, says: str
) -> None:
    with pytest.raises(WarehouseAccessRefused, match="genetic and location") as info, wh.location_connection(operator):
        pytest.fail("the genetic/location store was attached")
    assert says in " ".join(str(info.value).split())
    denied = [e for e in events(trail, "warehouse.") if e["outcome"] == "denied"]
    assert [(e["actor"], e["rule"], e["resource_id"], e["allowed"]) for e in denied] == [
        (operator.login, "EDS-SEC-LOG-6", "genetic_location", False)
    ]
    assert "geo" not in {str(r[0]) for r in wh.omop.execute("SELECT database_name FROM duckdb_databases()").fetchall()}


def test_a_withdrawn_feeding_grant_is_refused(wh: Warehouse, identity: IdentityContext, trail: AuditTrail) -> None:
    held = [g for g in grants.all_grants(identity) if g.login == "two.hats" and g.profile == "feeding"]
    grants.revoke(identity, held[0].id, "moved to another department", by="admin")
    with pytest.raises(WarehouseAccessRefused, match="no active grant"), wh.location_connection(TWO_HATS_AS_FEEDER):
        pass
    assert events(trail, "warehouse.")[-1]["outcome"] == "denied"


def test_a_feed_under_another_profile_is_refused_before_any_file_is_copied(
    wh: Warehouse, bundle: Path, trail: AuditTrail
) -> None:
    for operator in (MEMBER, TWO_HATS_AS_STEWARD, EXPORTER):
        with pytest.raises(WarehouseAccessRefused, match="may feed the warehouse"):
            wh.feed_fhir([bundle], FULL, source="dpi", operator=operator)
    assert wh.counts()["person"] == 0
    assert not (wh.directory / TRANSIT).exists() or not any((wh.directory / TRANSIT).iterdir())
    denied = [(e["actor"], e["profile"], e["rule"]) for e in events(trail, "warehouse.feed")]
    assert denied == [
        ("proj.member", "project_member", "EDS-SEC-ALI-1"),
        ("two.hats", "data_steward", "EDS-SEC-ALI-1"),
        ("ws.export", "workspace_provisioning", "EDS-SEC-ALI-1"),
    ]


def test_a_warehouse_opened_without_a_guard_refuses_the_key(tmp_path: Path, identity: IdentityContext) -> None:
    with Warehouse.open(tmp_path / "bare", identity.keyring) as bare:
        with pytest.raises(WarehouseAccessRefused, match="opened without the identity database"):
            bare.feed_omop([tmp_path / "person.csv"], FULL, source_name="partner", operator=FEEDER)
        with pytest.raises(WarehouseAccessRefused, match="EDS-SEC-LOG-6"), bare.location_connection(FEEDER):
            pass


# ---- objections and rights erasures still remove the person's genetic data -----------------------------------


def test_an_objection_deletes_the_persons_genetic_results_without_reading_them(
    wh: Warehouse, bundle: Path, trail: AuditTrail
) -> None:
    wh.feed_fhir([bundle], FULL, source="dpi", operator=FEEDER)
    objector = {"family": "Fictif-Objecteur", "given": "Odile", "birthdate": "1971-05-06"}
    person = wh.person_id_of(objector)
    add_genetic_result(wh, person)
    add_genetic_result(wh, person + 1)
    assert geo_count(wh, "genetic_result") == 2
    wh.oppose(objector, by=STEWARD)
    with wh.location_connection(FEEDER) as con:
        left = con.execute("SELECT person_id FROM geo.genetic_result").fetchall()
    assert left == [(person + 1,)]
    erased = events(trail, "warehouse.genetic_location.erase")
    assert [(e["actor"], e["profile"], e["outcome"], e["rule"]) for e in erased] == [
        ("rights.desk", "data_steward", "success", "EDS-9 EDS-SEC-LOG-6")
    ]
    assert wh.objected() == {wh.pseudonym_of(objector)}


def test_an_objection_by_another_profile_is_refused_and_traced(wh: Warehouse, trail: AuditTrail) -> None:
    identity = {"family": "Fictif", "given": "Paul", "birthdate": "1980-01-01"}
    for operator in (MEMBER, FEEDER, Operator("nobody", "data_steward")):
        with pytest.raises(WarehouseAccessRefused, match="register an objection"):
            wh.oppose(identity, by=operator)
    assert [(e["actor"], e["outcome"], e["rule"]) for e in events(trail, "warehouse.oppose")] == [
        ("proj.member", "denied", "EDS-9"),
        ("feed.bot", "denied", "EDS-9"),
        ("nobody", "denied", "EDS-9"),
    ]
    assert wh.objected() == set()


def test_the_erase_path_needs_a_granted_operator(wh: Warehouse, trail: AuditTrail) -> None:
    with pytest.raises(WarehouseAccessRefused, match="no active grant"):
        wh.erase_genetic_location(42, by=Operator("nobody", "data_steward"), rule="EDS-9")
    assert events(trail, "warehouse.genetic_location.erase")[-1]["outcome"] == "denied"
    assert "geo" not in {str(r[0]) for r in wh.omop.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
