"""Remote viewing from outside the EU is a transfer (aac-2022-106 §12.4, AAC-12): a grant names the country it is used
from; read from outside the EU/EEA, a case is refused and traced until a remote viewing from that country is declared,
and then carries only what §12.1 lets leave the EU (the patient's code, never a health answer). From inside, nothing
changes. A mistyped country is refused when the grant is given."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from init_answers import init_answers
from santegarde.api import create_app
from santegarde.cli.main import app
from santegarde.compassionate.registry import Registry, example_text
from santegarde.compassionate.service import CaseAccessDenied, CompassionateService, Patient
from santegarde.governance import transfers
from santegarde.identity import accounts, grants, sessions
from santegarde.identity.errors import GrantError
from santegarde.identity.tables import grant, user
from santegarde.referentials.model import OrganisationProfile
from santegarde.store.db import migrate
from santegarde.store.service import Request
from store_fixtures import Workplace, make_workplace
from test_compassionate_workflow import PURPOSE, REQUEST, staff

LAB = "medical_affairs"
INITIATION = {"date_debut": "2026-11-24", "posologie": 20, "score_alsfrs": 37}
RELATED = {"lien": "partenaire", "effet": "10028813"}
HEALTH = ("poids", "taille", "diagnostic", "score_alsfrs", "mutation_sod1", "posologie", "effet", "decision")


@pytest.fixture
def place(database_url: str, tmp_path: Path) -> Iterator[tuple[Workplace, CompassionateService, str]]:
    """A granted, treated case with a related person, opened by an establishment's prescriber."""
    w = make_workplace(database_url, tmp_path, "aac-2022-106")
    for package in ("santegarde.compassionate", "santegarde.governance"):
        migrate(w.service.engine, package=package)
    registry = Registry(tmp_path / "programmes", w.service.ref)
    registry.add(example_text(), "example")
    service = CompassionateService(w.service, registry)
    doctor = staff(w, "dr.nord", "care_establishment_staff", "10001112223", establishment="chu-nord")
    lab = staff(w, "ph.resp", "pharmacist_in_charge", "L-1")
    case = service.request_access(
        doctor, "velmorine-sla", Patient("Martin", "Léa", "female", "1980-02", "chu-nord"), REQUEST
    )
    service.submit(lab, case.patient_id, "decision_laboratoire", {"decision": "granted"})
    service.submit(doctor, case.patient_id, "initiation", INITIATION)
    service.submit(doctor, case.patient_id, "personne_liee", RELATED)
    try:
        yield w, service, case.patient_id
    finally:
        w.close()


def abroad(w: Workplace, login: str, ref: str, country: str) -> Request:
    """A laboratory person whose grant is used from ``country``."""
    req = staff(w, login, LAB, ref)
    mine = select(user.c.id).where(user.c.login == login).scalar_subquery()
    with w.identity.engine.begin() as conn:  # as if given with --country (checked in its own tests)
        conn.execute(update(grant).where(grant.c.user_id == mine).values(country=country))
    return req


def declare(w: Workplace, country: str, *categories: str, remote: bool = True) -> None:
    request = transfers.TransferRequest(
        country,
        "Filiale Exemple Inc.",
        categories,
        basis="safeguards",
        safeguard="scc",
        remote_access=remote,
        strictly_necessary=True,
        persons_informed=True,
        purpose=PURPOSE,
    )
    transfers.record(w.service.engine, request, profile=OrganisationProfile.COMPASSIONATE, recorded_by="dpo")


def trail(w: Workplace, login: str) -> list[dict]:
    with w.audit.engine.connect() as conn:
        return [e.content for e in w.audit.entries(conn) if e.content.get("actor") == login]


def test_a_case_read_from_outside_the_eu_without_a_declared_transfer_is_refused_and_traced(
    place: tuple[Workplace, CompassionateService, str],
) -> None:
    w, service, patient_id = place
    us = abroad(w, "affaires.us", "L-2", "US")
    with pytest.raises(CaseAccessDenied) as refused:
        service.state(us, patient_id)
    said = str(refused.value)
    assert "utilisée depuis États-Unis (US), hors de l'Union européenne" in said
    assert "§12.4" in said and "santegarde transfer add --country US" in said and "Rien n'a été lu" in said
    assert refused.value.rule == "AAC-12.remote_view"
    assert "(US), outside the European Union" in refused.value.in_language("en")
    seen = trail(w, "affaires.us")
    assert [e["rule"] for e in seen if e["allowed"] is False] == ["AAC-12.remote_view"]
    assert not any(e["allowed"] and e["resource_type"] != "Session" for e in seen if "operation" in e)
    assert [e for e in seen if e.get("operation") in ("read", "rights.records")] == []  # nothing was read
    assert service.readable(us, "velmorine-sla") == []  # the lists go through the same path
    # a transfer to the US declared for exports only, or covering only the professionals, does not cover the viewing
    declare(w, "US", "patient_indirect_identity", remote=False)
    with pytest.raises(CaseAccessDenied, match="aucune consultation à distance depuis ce pays n'est déclarée"):
        service.state(us, patient_id)
    declare(w, "US", "professional_data")
    with pytest.raises(CaseAccessDenied, match="ne couvre pas le code des patients"):
        service.state(us, patient_id)
    # an adequacy decision is a basis of the transfer, not a dispensation from declaring it (§12.1-12.3)
    jp = abroad(w, "affaires.jp", "L-3", "JP")
    with pytest.raises(CaseAccessDenied, match=r"Japon \(JP\)"):
        service.state(jp, patient_id)


def test_with_a_declared_remote_viewing_the_read_carries_only_what_may_leave_the_eu(
    place: tuple[Workplace, CompassionateService, str],
) -> None:
    w, service, patient_id = place
    us = abroad(w, "affaires.us", "L-2", "US")
    declare(w, "US", "patient_indirect_identity", "related_persons")
    case = service.state(us, patient_id)
    assert case.code is not None and case.code.startswith("MARLE-")  # the code, not the identity
    assert case.status == "withheld" and case.viewed_from == "US"  # the treatment's step is not §12.1's data
    shown = repr(case)
    assert "Martin" not in shown and "Léa" not in shown
    assert [f.form for f in case.forms] == ["personne_liee"]  # the relationship only: no health answer
    assert case.forms[0].answers == {"lien": "partenaire"}
    assert not any(key in f.answers for f in case.forms for key in HEALTH)
    seen = trail(w, "affaires.us")
    transfer = [e for e in seen if e.get("operation") == "aac.remote_view"]
    assert len(transfer) == 1 and transfer[0]["rule"] == "AAC-12.remote_view.US" and transfer[0]["section"] == "12.4"
    read = {e["resource_type"] for e in seen if e.get("allowed") and e.get("operation") == "rights.records"}
    assert read <= {"Patient", "QuestionnaireResponse"}
    assert not [e for e in seen if e.get("allowed") is False]
    # the health records were not read at all: only the Patient record and the related person's record
    assert sum(1 for e in seen if e.get("allowed") and e.get("operation") == "rights.records") == 2
    assert [c.code for c in service.readable(us, "velmorine-sla")] == [case.code]


def test_from_inside_the_eea_a_grant_naming_its_country_reads_normally(
    place: tuple[Workplace, CompassionateService, str],
) -> None:
    w, service, patient_id = place
    de = abroad(w, "affaires.de", "L-2", "DE")
    case = service.state(de, patient_id)
    assert case.status == "treated" and case.viewed_from is None
    assert any("score_alsfrs" in f.answers for f in case.forms)  # health data, as the profile may read them
    assert not [e for e in trail(w, "affaires.de") if e.get("operation") == "aac.remote_view"]
    assert sessions.state(w.identity, de.token).country == "DE"


def test_the_country_of_a_grant_is_checked_when_it_is_given(
    place: tuple[Workplace, CompassionateService, str],
) -> None:
    w, _, _ = place
    accounts.add(w.identity, "affaires.x", "Affaires X", person_ref="L-9", by="admin")
    give = {"validated_by": "Responsable", "validator_role": "governance_body", "reason": "test staff", "by": "admin"}
    until = w.identity.now() + timedelta(days=30)
    for bad in ("ZZ", "USA", "U1", "UK", "États-Unis"):
        with pytest.raises(GrantError, match="n'est pas un code de pays ISO 3166"):
            grants.give(w.identity, "affaires.x", LAB, ends_at=until, country=bad, **give)  # type: ignore[arg-type]
    assert [g for g in grants.all_grants(w.identity) if g.login == "affaires.x"] == []  # nothing half-written
    given = grants.give(w.identity, "affaires.x", LAB, ends_at=until, country=" us ", **give)  # type: ignore[arg-type]
    assert given.country == "US"
    inside = grants.give(w.identity, "affaires.x", LAB, ends_at=until, **give)  # type: ignore[arg-type]
    assert inside.country is None


def test_user_grant_takes_the_country_and_refuses_a_bad_code(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", "a long enough test passphrase")
    directory = tmp_path / "org"
    why = "traces_retention=six mois suffisent pour détecter une anomalie dans la revue bimestrielle"
    init = ["init", "--profile", "compassionate", "--dir", str(directory), "--name", "Laboratoire fictif",
            "--set", "retention_end_action=delete", "--set", "traces_retention=P6M", "--justify", why]  # fmt: skip
    made = runner.invoke(app, [*init, *init_answers("compassionate")])
    assert made.exit_code == 0, made.output
    c = ["--config", str(directory / "santegarde.yaml"), "--by", "admin.test"]
    assert runner.invoke(app, ["keys", "init", *c[:2]]).exit_code == 0
    added = runner.invoke(app, ["user", "add", "affaires.us", "--name", "Affaires US", "--ref", "L-2", *c])
    assert added.exit_code == 0, added.output
    until = (date.today() + timedelta(days=60)).isoformat()
    give = ["user", "grant", "affaires.us", LAB, "--validated-by", "Responsable", "--reason", "group company", *c]
    give += ["--until", until, "--role", "governance_body"]
    bad = runner.invoke(app, [*give, "--country", "ZZ"], env={"COLUMNS": "200"})
    assert bad.exit_code != 0 and "« ZZ » n'est pas un code de pays ISO 3166" in " ".join(bad.output.split())
    done = runner.invoke(app, [*give, "--country", "us"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert "utilisée depuis États-Unis (US), hors de l'Union européenne" in said and "§12.4" in said
    english = runner.invoke(app, [*give, "--country", "DE", "--lang", "en"], env={"COLUMNS": "200"})
    assert english.exit_code == 0 and "used from Germany (DE), in the European Economic Area" in english.output
    listed = runner.invoke(app, ["user", "list", "--grants", "--json", *c[:2]])
    assert [g["used from"] for g in json.loads(listed.output)["grants"]] == ["US", "DE"]


def test_the_case_over_http_from_outside_the_eu(place: tuple[Workplace, CompassionateService, str]) -> None:
    w, service, patient_id = place
    us = abroad(w, "affaires.us", "L-2", "US")
    app = create_app(w.identity, records=w.service, compassionate=service)
    client = TestClient(app, base_url="https://testserver")
    client.cookies.set("sg_session", us.token)
    refused = client.get(f"/aac/cases/{patient_id}")
    assert refused.status_code == 403 and "hors de l'Union européenne" in refused.json()["message"]
    declare(w, "US", "patient_indirect_identity")
    seen = client.get(f"/aac/cases/{patient_id}")
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["code"].startswith("MARLE-") and body["viewed_from"] == "US" and body["status"] == "withheld"
    assert body["forms"] == [] and "Martin" not in seen.text and "score_alsfrs" not in seen.text
