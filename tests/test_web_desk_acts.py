"""The desk screens of the CLI's remaining governance acts (issue 21): each calls the same function as its command,
behind the desk's gate (a profile that may not sit there is refused, and the refusal traced), French by default and
English by the page's language, nothing written on bad input."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from santegarde.config import save
from santegarde.rights.execute import RightsService
from santegarde.runtime import Organisation
from santegarde.web import create_console
from test_web import sign_in
from web_fixtures import CSRF, Practice, make_practice, organisation_of


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = make_practice(tmp_path)
    yield p
    p.close()


@pytest.fixture
def org(practice: Practice, tmp_path: Path) -> Organisation:
    opened = organisation_of(practice, tmp_path)
    save(opened.config, opened.config_path)  # the file the commands (and their screens) rewrite
    return opened


def console(practice: Practice, org: Organisation, login: str) -> tuple[TestClient, str]:
    place = practice.place
    rights = RightsService(place.service, config=org.config, audit=place.audit)
    app = create_console(place.identity, records=place.service, rights=rights, organisation=org)
    c = TestClient(app, base_url="https://testserver", follow_redirects=False)
    sign_in(practice, c, login)
    found = CSRF.search(c.get("/accueil").text)
    assert found
    return c, found.group(1)


def trail(org: Organisation, operation: str) -> list[dict[str, Any]]:
    with org.audit.engine.connect() as conn:
        return [dict(e.content) for e in org.audit.entries(conn) if e.content["operation"] == operation]


def words(page: Any) -> str:
    return html.unescape(page.text)


def test_the_auditor_reads_a_justification_by_its_number_and_the_reading_is_traced(
    practice: Practice, org: Organisation
) -> None:
    c, token = console(practice, org, "dr.autre")  # no care relationship: breaks the glass, with a written reason
    reason = "Patiente inconsciente aux urgences (fictif)"
    assert c.post("/patients/p-1/bris-de-glace", data={"csrf": token, "raison": reason}).status_code == 200
    number = next(e["justification"] for e in trail(org, "read") if e.get("justification"))
    c, token = console(practice, org, "dr.martin")
    today = practice.place.identity.now().date().isoformat()
    found = c.post("/audit/recherche", data={"csrf": token, "debut": today, "fin": today, "acteur": "dr.autre"})
    assert f'href="/audit/justifications?numero={number}"' in found.text  # the trail entry leads to its reason
    assert reason not in found.text
    page = c.get(f"/audit/justifications?numero={number}")
    said = words(page)
    assert page.status_code == 200 and reason in said and f"Justification n° {number}" in said
    assert "motif d'accès en urgence (bris de glace)" in said and "dr.autre" in said
    read = trail(org, "audit.justification.read")
    assert [(e["actor"], e["resource_id"], e["patient"], e["rule"]) for e in read] == [
        ("dr.martin", str(number), "p-1", "COM-LOG-4")
    ]
    c.cookies.set("sg_lang", "en")
    english = words(c.get(f"/audit/justifications?numero={number}"))
    assert f"Justification no. {number}" in english and "emergency access" in english.lower()
    c.cookies.set("sg_lang", "fr")
    missing = c.get("/audit/justifications?numero=9999")
    assert missing.status_code == 404 and "Il n'y a pas de justification n° 9999" in words(missing)
    bad = c.get("/audit/justifications?numero=douze")
    assert bad.status_code == 422 and "« douze » n'est pas un numéro de justification" in words(bad)
    assert len(trail(org, "audit.justification.read")) == 2  # only what was read


def test_a_profile_that_may_not_sit_at_the_audit_desk_reads_no_justification(
    practice: Practice, org: Organisation
) -> None:
    c, token = console(practice, org, "dr.autre")
    c.post("/patients/p-1/bris-de-glace", data={"csrf": token, "raison": "Urgence vitale (fictif)"})
    number = next(e["justification"] for e in trail(org, "read") if e.get("justification"))
    c, _ = console(practice, org, "sec.durand")
    page = c.get(f"/audit/justifications?numero={number}")
    assert page.status_code == 403 and "Urgence vitale" not in page.text
    denied = trail(org, "desk.audit.justification")
    assert denied[-1]["outcome"] == "denied" and denied[-1]["actor"] == "sec.durand"
    assert trail(org, "audit.justification.read") == []


def test_the_controller_records_a_measure_status_with_its_evidence_and_the_file_and_trail_say_so(
    practice: Practice, org: Organisation
) -> None:
    c, token = console(practice, org, "dr.martin")
    page = c.get("/controle/mesures")
    assert page.status_code == 200 and "PRA-PRO-2" in page.text and "sans statut" in words(page)
    before = org.config_path.read_bytes()
    form = {"csrf": token, "mesure": "PRA-PRO-2", "statut": "partial", "preuve": "Procédure P-12", "justification": ""}
    unjustified = c.post("/controle/mesures", data=form)
    assert unjustified.status_code == 422 and "demande une justification écrite" in words(unjustified)
    short = c.post("/controle/mesures", data={**form, "statut": "implemented", "preuve": "vu"})
    assert short.status_code == 422 and "en au moins 5 caractères" in words(short)
    unknown = c.post("/controle/mesures", data={**form, "mesure": "PRA-XXX-9", "statut": "implemented"})
    assert unknown.status_code == 422 and "PRA-XXX-9" in words(unknown)
    assert org.config_path.read_bytes() == before  # nothing written on bad input
    assert [e for e in trail(org, "measure.status.partial")] == []
    why = "Chiffrement des postes prévu au prochain renouvellement (fictif)"
    done = c.post("/controle/mesures", data={**form, "justification": why})
    assert done.status_code == 200 and "Mesure PRA-PRO-2 enregistrée comme partiellement" in words(done)
    assert org.config_path.read_bytes() != before
    recorded = {m.code: m for m in org.config.deviations.measures}["PRA-PRO-2"]
    assert (recorded.status, recorded.set_by, recorded.justification) == ("partial", "dr.martin", why)
    traced = trail(org, "measure.status.partial")
    assert [(e["actor"], e["resource_id"], e["rule"]) for e in traced] == [("dr.martin", "PRA-PRO-2", "COM-SEC-1")]
    c.cookies.set("sg_lang", "en")
    english = words(c.post("/controle/mesures", data={**form, "statut": "implemented", "preuve": "P"}))
    assert "Say what shows this status" in english and "Security measures of pra-2020-081" in english


def test_the_dpia_of_reference_is_recorded_and_downloaded_from_the_desk(practice: Practice, org: Organisation) -> None:
    c, token = console(practice, org, "dr.martin")
    snapshot = org.config_path.parent / "dpia-snapshot.json"
    assert not snapshot.exists()
    bad = c.post("/controle/aipd", data={"csrf": token, "format": "docx"})
    assert bad.status_code == 422 and "n'est pas un format de l'AIPD" in words(bad) and not snapshot.exists()
    answer = c.post("/controle/aipd", data={"csrf": token, "format": "html"})
    assert answer.status_code == 200 and 'filename="aipd.html"' in answer.headers["content-disposition"]
    assert "Analyse d'impact" in html.unescape(answer.text) and snapshot.exists()
    assert [e["resource_id"] for e in trail(org, "desk.controller.dpia.generate")] == ["docx", "html"]
    c.cookies.set("sg_lang", "en")
    english = c.post("/controle/aipd", data={"csrf": token, "format": "json"})
    assert english.status_code == 200 and english.json()["lang"] == "en"


def test_the_secretary_may_neither_set_a_measure_nor_record_the_dpia(practice: Practice, org: Organisation) -> None:
    c, token = console(practice, org, "sec.durand")
    before = org.config_path.read_bytes()
    form = {"csrf": token, "mesure": "PRA-PRO-2", "statut": "implemented", "preuve": "Procédure P-12"}
    assert c.get("/controle/mesures").status_code == 403
    assert c.post("/controle/mesures", data=form).status_code == 403
    assert c.post("/controle/aipd", data={"csrf": token, "format": "html"}).status_code == 403
    assert org.config_path.read_bytes() == before and not (org.config_path.parent / "dpia-snapshot.json").exists()
    denied = trail(org, "desk.controller.measure.set") + trail(org, "desk.controller.dpia.generate")
    assert len(denied) == 2 and all(e["outcome"] == "denied" and e["actor"] == "sec.durand" for e in denied)
    assert c.post("/controle/mesures", data={**form, "csrf": "forged"}).status_code in (403, 422)


def events_of(org: Organisation) -> list[tuple[str, str, str]]:
    from sqlalchemy import select

    from santegarde.store.schema import retention_event

    with org.engine.connect() as conn:
        rows = conn.execute(select(retention_event.c.scope_id, retention_event.c.event, retention_event.c.recorded_by))
        return [tuple(r) for r in rows]


def test_the_controller_records_events_rules_and_holds_and_each_is_traced(
    practice: Practice, org: Organisation
) -> None:
    from santegarde.store.retention import holds_in_force

    c, token = console(practice, org, "dr.martin")
    page = c.get("/controle/conservation/actes")
    assert page.status_code == 200 and "Aucun gel en vigueur." in words(page)
    today = practice.place.identity.now().date()
    event = {"csrf": token, "portee": "patient", "identifiant": "p-1", "evenement": "last_intervention"}
    future = c.post("/controle/conservation/evenements", data={**event, "jour": f"{today.year + 1}-01-01"})
    assert future.status_code == 422 and "dans le futur : enregistrez-le une fois qu'il a eu lieu" in words(future)
    unknown = c.post("/controle/conservation/evenements", data={**event, "evenement": "whenever", "jour": "2025-01-01"})
    assert unknown.status_code == 422 and "Choisissez l'un des événements" in words(unknown)
    assert c.post("/controle/conservation/evenements", data={**event, "jour": "hier"}).status_code == 422
    assert events_of(org) == []  # nothing half-written
    done = c.post("/controle/conservation/evenements", data={**event, "jour": "2025-01-01"})
    assert done.status_code == 200 and "enregistré pour le patient p-1" in words(done)
    assert events_of(org) == [("p-1", "last_intervention", "dr.martin")]
    assert [e["actor"] for e in trail(org, "retention.event.last_intervention")] == ["dr.martin"]

    rule = {"csrf": token, "dossier": "doc-9", "regle": "forever"}
    assert c.post("/controle/conservation/regles", data=rule).status_code == 422
    assigned = c.post("/controle/conservation/regles", data={**rule, "regle": "fse_duplicates"})
    assert assigned.status_code == 200 and "L'enregistrement doc-9 est conservé selon la règle" in words(assigned)
    assert [(e["resource_id"], e["rule"]) for e in trail(org, "retention.assign")] == [("doc-9", "fse_duplicates")]

    hold = {"csrf": token, "portee": "patient", "identifiant": "p-1", "motif": "non", "fin": ""}
    short = c.post("/controle/conservation/gels", data=hold)
    assert short.status_code == 422 and "en au moins 5 caractères" in words(short)
    past = c.post("/controle/conservation/gels", data={**hold, "motif": "Contentieux en cours", "fin": "2020-01-01"})
    assert past.status_code == 422 and "déjà passée" in words(past)
    assert holds_in_force(org.engine, org.audit.now()) == []
    held = c.post("/controle/conservation/gels", data={**hold, "motif": "Contentieux en cours (fictif)"})
    assert held.status_code == 200 and "Gel n° 1 enregistré" in words(held) and "Lever le gel n° 1" in words(held)
    assert [(h.scope, h.scope_id) for h in holds_in_force(org.engine, org.audit.now())] == [("patient", "p-1")]
    released = c.post("/controle/conservation/gels/1/levee", data={"csrf": token})
    assert released.status_code == 200 and "Gel n° 1 levé." in words(released)
    assert holds_in_force(org.engine, org.audit.now()) == []
    again = c.post("/controle/conservation/gels/1/levee", data={"csrf": token})
    assert again.status_code == 422 and "Il n'y a pas de gel n° 1 en vigueur" in words(again)
    assert [e["actor"] for e in trail(org, "retention.hold") + trail(org, "retention.release")] == ["dr.martin"] * 2
    c.cookies.set("sg_lang", "en")
    english = words(c.post("/controle/conservation/gels/1/levee", data={"csrf": token}))
    assert "There is no hold No. 1 in force" in english and "Retention events, rules and holds" in english


def test_the_secretary_may_not_record_retention_acts(practice: Practice, org: Organisation) -> None:
    from santegarde.store.retention import holds_in_force

    c, token = console(practice, org, "sec.durand")
    assert c.get("/controle/conservation/actes").status_code == 403
    event = {"csrf": token, "portee": "patient", "identifiant": "p-1", "evenement": "last_intervention"}
    assert c.post("/controle/conservation/evenements", data={**event, "jour": "2025-01-01"}).status_code == 403
    assert (
        c.post(
            "/controle/conservation/regles", data={"csrf": token, "dossier": "d", "regle": "fse_duplicates"}
        ).status_code
        == 403
    )
    hold = {"csrf": token, "portee": "patient", "identifiant": "p-1", "motif": "Contentieux en cours"}
    assert c.post("/controle/conservation/gels", data=hold).status_code == 403
    assert c.post("/controle/conservation/gels/1/levee", data={"csrf": token}).status_code == 403
    assert events_of(org) == [] and holds_in_force(org.engine, org.audit.now()) == []
    assert trail(org, "retention.assign") == [] and trail(org, "retention.hold") == []
    denied = trail(org, "desk.controller.retention.hold")
    assert denied and denied[0]["outcome"] == "denied" and denied[0]["actor"] == "sec.durand"
