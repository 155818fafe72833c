"""Feeding the warehouse from santegarde's own record store, through the one request path (EDS-4, EDS-SEC-ALI-1/2).

A warehouse organisation (eds-2021-118) whose ``feeding`` person writes fictitious Patient and Observation
records; the warehouse is then fed from the store by reading each patient's records through
``RecordService.patient_records`` with that person's session (the feeding profile reads the source data
only to collect them, SEC-ALI-1); a profile that may not feed is refused with a sentence. The record store lets
its users consult what they entered, so the feed needs a two-factor session (SEC-ALI-2): a single-factor one is
refused before any record is read, and the refusal is traced.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from santegarde.audit.tables import entry
from santegarde.identifiers import compute_nir_key
from santegarde.referentials.model import Art6Basis
from santegarde.store.schema import objection_ledger
from santegarde.store.service import NotFound, Request
from santegarde.warehouse import Warehouse
from santegarde.warehouse.access import Operator, WarehouseAccessRefused, WarehouseGuard
from santegarde.warehouse.core import TRANSIT
from santegarde.warehouse.feed import DataList, FeedError
from santegarde.warehouse.omop import OMOP_TABLES
from store_fixtures import Workplace, make_workplace
from warehouse_governance_fixtures import staff

FULL = DataList.from_mapping(
    {f"{t}.{c.name}": "needed by the warehouse purposes" for t, cols in OMOP_TABLES.items() for c in cols}
)
PATIENTS = {
    "store-patient-0001": ("Fictivelongname", "Alixandra", "1979-03-21", [61.5, 62.0]),
    "store-patient-0002": ("Imaginairenom", "Bertrandine", "1985-11-02", [80.25]),
    "store-patient-0003": ("Inventenomfam", "Capucinette", "1990-06-14", [55.0, 56.5, 57.0]),
}
INS_BODY = "27903751234"  # + two digits per patient, then the key: fictitious INS with valid keys


def ins(pid: str) -> str:
    return INS_BODY + pid[-2:] + compute_nir_key(INS_BODY + pid[-2:])


STEWARD = Operator("rights.desk", "data_steward")


def patient(pid: str) -> dict[str, Any]:
    family, given, birth, _ = PATIENTS[pid]
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": ins(pid)}],
        "name": [{"family": family, "given": [given]}],
        "gender": "female",
        "birthDate": birth,
    }


def observation(pid: str, n: int, value: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"{pid}-weight-{n}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": f"2025-0{n + 1}-10",
        "valueQuantity": {"value": value, "unit": "kg"},
    }


def fill(w: Workplace) -> Request:
    """The feeding person writes the fictitious patients and their weights; their request."""
    req = Request(w.person("feed.bot", "feeding", ref="F-0001"), "warehouse_constitution")
    for pid, (*_, weights) in PATIENTS.items():
        w.service.create(req, patient(pid))
        for n, value in enumerate(weights):
            w.service.create(req, observation(pid, n, value))
    return req


@pytest.fixture
def place(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(database_url, tmp_path, "eds-2021-118")
    yield w
    w.close()


@pytest.fixture
def wh(tmp_path: Path, place: Workplace) -> Iterator[Warehouse]:
    guard = WarehouseGuard(place.identity, place.audit)
    warehouse = Warehouse.open(tmp_path / "warehouse", place.identity.keyring, guard=guard)
    yield warehouse
    warehouse.close()


def audit_rows(w: Workplace) -> list[dict[str, Any]]:
    with w.audit.engine.connect() as conn:
        return [json.loads(c) for c in conn.execute(select(entry.c.content).order_by(entry.c.seq)).scalars()]


def count(wh: Warehouse, table: str) -> int:
    row = wh.omop.execute(f"SELECT count(*) FROM omop.{table}").fetchone()
    return int(row[0]) if row else 0


def omop_text(wh: Warehouse) -> str:
    """Every value of every OMOP table, as one text, for the scan."""
    parts = []
    for table in OMOP_TABLES:
        try:
            rows = wh.omop.execute(f"SELECT * FROM omop.{table}").fetchall()
        except Exception:
            continue
        parts.extend(json.dumps(row, default=str) for row in rows)
    return "\n".join(parts)


def test_feed_from_the_store_reaches_omop_without_raw_identifiers(place: Workplace, wh: Warehouse) -> None:
    req = fill(place)
    steps: list[tuple[str, int, int]] = []
    report = wh.feed_records(place.service, req, None, FULL, progress=lambda d, n, t: steps.append((d, n, t)))
    assert count(wh, "person") == 3
    assert count(wh, "measurement") == 6
    assert report.rows["measurement"] == 6 and not [r for r in report.refused if "patient(s)" in r.item]
    assert ("Read the patients' records", 3, 3) in steps
    text = omop_text(wh)
    for pid, (family, given, _, _) in PATIENTS.items():
        for raw in (pid, family, given, ins(pid), f"{pid}-weight-0"):
            assert raw not in text, raw
    assert not any((wh.directory / TRANSIT).iterdir())
    reads = [e for e in audit_rows(place) if e.get("operation") == "rights.records"]
    assert len(reads) >= 3 + 6  # every record read through the session is traced


def test_feed_of_named_patients_only(place: Workplace, wh: Warehouse) -> None:
    req = fill(place)
    report = wh.feed_records(place.service, req, ["store-patient-0002"], FULL)
    assert count(wh, "person") == 1 and count(wh, "measurement") == 1
    assert report.files == 1


def test_an_unknown_patient_is_refused(place: Workplace, wh: Warehouse) -> None:
    req = fill(place)
    with pytest.raises(NotFound, match="aucun dossier de patient d'identifiant"):
        wh.feed_records(place.service, req, ["store-patient-9999"], FULL)
    assert count(wh, "person") == 0 and not any((wh.directory / TRANSIT).iterdir())


def test_an_empty_store_is_refused(place: Workplace, wh: Warehouse) -> None:
    req = Request(place.person("feed.bot", "feeding", ref="F-0001"), "warehouse_constitution")
    with pytest.raises(FeedError, match="no patient to feed"):
        wh.feed_records(place.service, req, None, FULL)


def test_objecting_person_is_not_fed_from_the_store(place: Workplace, wh: Warehouse) -> None:
    req = fill(place)
    family, given, birth, _ = PATIENTS["store-patient-0001"]
    staff(place.identity, STEWARD.login, "data_steward")
    wh.oppose({"family": family, "given": given, "birthdate": birth}, by=STEWARD)
    report = wh.feed_records(place.service, req, None, FULL)
    assert count(wh, "person") == 2 and count(wh, "measurement") == 4
    assert report.objected_skipped == 1


def test_a_profile_that_may_not_read_for_feeding_is_refused_with_a_sentence(place: Workplace, wh: Warehouse) -> None:
    fill(place)
    reads_before = len([e for e in audit_rows(place) if e.get("operation") == "rights.records"])
    ends = place.identity.now().replace(year=place.identity.now().year + 1)
    member = place.person("proj.member", "project_member", ref="P-0002", ends_at=ends, project="P-2026-01")
    with pytest.raises(WarehouseAccessRefused, match="only the profile\\(s\\) feeding may feed the warehouse"):
        wh.feed_records(place.service, Request(member, "warehouse_constitution"), None, FULL)
    assert count(wh, "person") == 0 and not any((wh.directory / TRANSIT).iterdir())
    rows = audit_rows(place)
    assert len([e for e in rows if e.get("operation") == "rights.records"]) == reads_before  # nothing was read
    assert [(e["actor"], e["outcome"], e["rule"]) for e in rows if e.get("operation") == "warehouse.feed.store"] == [
        ("proj.member", "denied", "EDS-SEC-ALI-1")
    ]


def test_a_single_factor_session_may_not_feed_from_the_store(place: Workplace, wh: Warehouse) -> None:
    """EDS-SEC-ALI-2: the input software is reached with strong authentication only (SEC-AUT-1)."""
    fill(place)
    reads_before = len([e for e in audit_rows(place) if e.get("operation") == "rights.records"])
    single = place.person("feed.single", "feeding", ref="F-0002", two_factors=False)
    with pytest.raises(WarehouseAccessRefused) as info:
        wh.feed_records(place.service, Request(single, "warehouse_constitution"), None, FULL)
    said = " ".join(str(info.value).split())
    assert "strong authentication" in said and "second factor" in said and "EDS-SEC-ALI-2" in said
    assert count(wh, "person") == 0
    assert not (wh.directory / TRANSIT).exists() or not any((wh.directory / TRANSIT).iterdir())
    rows = audit_rows(place)
    assert len([e for e in rows if e.get("operation") == "rights.records"]) == reads_before  # nothing was read
    refused = [e for e in rows if e.get("operation") == "warehouse.feed.store"]
    assert [(e["outcome"], e["rule"], e["allowed"]) for e in refused] == [("denied", "EDS-SEC-ALI-2", False)]


def test_the_warehouse_feed_skips_an_objecting_patient_through_the_same_ledger(place: Workplace, wh: Warehouse) -> None:
    """EDS-9 and issue #23: one objection ledger. An objection recorded through the record path (the rights desk,
    santegarde objection record) to the warehouse, or to a re-use of the data (research), keeps the patient out of
    every later feed; lifted by the controller's profile, the patient is fed again. The warehouse's own
    ``oppose`` writes the same ledger, under the person's pseudonym."""
    req = fill(place)
    desk = Request(place.person("dpo.desk", "data_steward", ref="D-0001"), "rights_management")
    place.service.legal_bases["research"] = Art6Basis.PUBLIC_INTEREST  # the organisation's recorded basis
    place.service.record_objection(desk, "store-patient-0001", "warehouse_constitution")
    place.service.record_objection(desk, "store-patient-0003", "research")
    report = wh.feed_records(place.service, req, None, FULL)
    assert count(wh, "person") == 1 and count(wh, "measurement") == 1  # only store-patient-0002 (one weight)
    assert report.objected_skipped == 2
    reads = {e["patient"] for e in audit_rows(place) if e.get("operation") == "rights.records"}
    assert reads == {"store-patient-0002"}  # an objecting patient's records are not even read

    with pytest.raises(FeedError, match="objected to the warehouse"):  # naming only objecting patients
        wh.feed_records(place.service, req, ["store-patient-0001"], FULL)

    place.service.lift_objection(desk, "store-patient-0003", "research")  # the person withdrew it
    report = wh.feed_records(place.service, req, None, FULL)
    assert count(wh, "person") == 2 and report.objected_skipped == 1

    family, given, birth, _ = PATIENTS["store-patient-0002"]
    staff(place.identity, STEWARD.login, "data_steward")
    wh.oppose({"family": family, "given": given, "birthdate": birth}, by=STEWARD)
    with place.service.engine.connect() as conn:
        rows = conn.execute(select(objection_ledger).where(objection_ledger.c.subject == "pseudonym")).all()
    assert [(r.patient_id, r.purpose, r.recorded_by) for r in rows] == [
        (
            wh.pseudonym_of({"family": family, "given": given, "birthdate": birth}),
            "warehouse_constitution",
            "rights.desk",
        )
    ]
    report = wh.feed_records(place.service, req, None, FULL)
    assert report.objected_skipped == 2 and count(wh, "person") == 1  # 0001 by the path, 0002 by its pseudonym


def test_an_objection_after_a_feed_takes_out_what_was_already_fed(place: Workplace, wh: Warehouse) -> None:
    """EDS-9: a patient fed, who then objects through the record path, is gone from the warehouse at the next feed —
    their health rows, identity and mapping — not only skipped from then on; the others stay; traced."""
    req = fill(place)
    wh.feed_records(place.service, req, None, FULL)
    persons = count(wh, "person")
    assert persons == 3
    desk = Request(place.person("dpo.desk", "data_steward", ref="D-0001"), "rights_management")
    place.service.record_objection(desk, "store-patient-0001", "warehouse_constitution")
    report = wh.feed_records(place.service, req, None, FULL)
    assert count(wh, "person") == persons - 1 and report.objected_skipped == 1
    family, given, birth, _ = PATIENTS["store-patient-0001"]
    gone = wh.pseudonym_of({"family": family, "given": given, "birthdate": birth})
    with wh.vault_connection() as con:
        left = con.execute("SELECT count(*) FROM vault.identity WHERE pseudonym = $p", {"p": gone}).fetchone()
    assert left == (0,)  # the vault forgot them too
    purges = [e for e in audit_rows(place) if e.get("operation") == "warehouse.objection.purge"]
    assert len(purges) == 1 and purges[0]["outcome"] == "success"
    again = wh.feed_records(place.service, req, None, FULL)  # nothing left to purge: no further trace
    assert again.objected_skipped == 1 and count(wh, "person") == persons - 1
    assert len([e for e in audit_rows(place) if e.get("operation") == "warehouse.objection.purge"]) == 1
