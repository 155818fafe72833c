"""The warehouse's desk of the console (EDS-2, EDS-3, EDS-6, EDS-9, EDS-SEC-EXP-1 to 5) through the one path:
identity → policy (the desk, then the same check as the CLI command: the gate's empowered and trained manager, the
objection's profiles, the controller's governance) → the warehouse's functions → audit. All data is fictitious."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from identity_fixtures import NEW_PASSWORD
from santegarde.policy.desks import Desk, desk_profiles
from santegarde.referentials import loader
from santegarde.warehouse import governance as gov
from santegarde.warehouse.gate import QUARANTINED, RELEASED
from warehouse_desk_fixtures import RISK_STUDY, Place, make_place
from web_fixtures import CSRF


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Place]:
    made = make_place(tmp_path_factory.mktemp("warehouse-desk"))
    yield made
    made.close()


def browser(place: Place, login: str) -> tuple[TestClient, str]:
    c = TestClient(place.console, base_url="https://testserver", follow_redirects=False)
    token = csrf(c.get("/connexion"))
    answer = c.post("/connexion", data={"csrf": token, "login": login, "password": NEW_PASSWORD})
    assert answer.status_code == 303 and answer.headers["location"] == "/connexion/code", answer.text[:300]
    answer = c.post("/connexion/code", data={"csrf": token, "code": place.code(login)})
    assert answer.status_code == 303 and answer.headers["location"] == "/accueil", answer.text[:300]
    return c, csrf(c.get("/accueil"))


def csrf(page: Any) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


def words(page: Any) -> str:
    return html.unescape(page.text)


def trail(place: Place, operation: str) -> list[dict[str, Any]]:
    with place.org.audit.engine.connect() as conn:
        return [dict(e.content) for e in place.org.audit.entries(conn) if e.content["operation"] == operation]


def test_policy_seats_the_controller_and_the_export_reviewers_at_a_warehouse_only() -> None:
    eds, pra = loader.get("eds-2021-118"), loader.get("pra-2020-081")
    assert desk_profiles(eds, Desk.WAREHOUSE) == ("data_steward", "export_reviewer")
    assert desk_profiles(pra, Desk.WAREHOUSE) == ()  # no warehouse in a practice's text: no desk


def test_a_quarantined_export_is_released_with_a_risk_study_by_the_trained_reviewer_only(place: Place) -> None:
    rid = place.request()
    reviewer, token = browser(place, "gest.export")
    assert "Bureau de l'entrepôt" in words(reviewer.get("/accueil"))  # the desk in the navigation
    queue = reviewer.get("/entrepot/exports")
    assert queue.status_code == 200 and f"Export n° {rid}" in words(queue)
    measured = reviewer.post(f"/entrepot/exports/{rid}/mesure", data={"csrf": token})
    assert measured.status_code == 303
    assert place.gate().get(rid).status == QUARANTINED
    page = words(reviewer.get(f"/entrepot/exports/{rid}"))
    assert "En quarantaine : k-anonymat non respecté(s)" in page  # the reason, in words
    assert 'role="img"' in page and "Classes d'équivalence par taille (en personnes)" in page  # the histogram
    assert "10 à 19 personnes" in page and "3 à 4 personnes" in page  # classes of 10 and the one of 3
    assert "Risques de réidentification mesurés (anonymeter)" in page and "sous le maximum" in page
    assert "Les mêmes chiffres en tableau" in page

    steward, steward_token = browser(place, "dpo.entrepot")  # at the desk, but not an export reviewer
    refused = steward.post(f"/entrepot/exports/{rid}/decision",
                           data={"csrf": steward_token, "decision": "release", "texte": RISK_STUDY})  # fmt: skip
    assert refused.status_code == 403 and "dpo.entrepot" in words(refused)
    assert "EDS-SEC-EXP-2" in words(refused)
    novice, novice_token = browser(place, "gest.novice")  # empowered, not trained
    untrained = novice.post(f"/entrepot/exports/{rid}/decision",
                            data={"csrf": novice_token, "decision": "release", "texte": RISK_STUDY})  # fmt: skip
    assert untrained.status_code == 403 and "EDS-SEC-EXP-3" in words(untrained)
    denied = [e for e in trail(place, "export.review") if e["outcome"] == "denied"]
    assert {e["actor"] for e in denied} == {"dpo.entrepot", "gest.novice"}
    assert place.gate().get(rid).status == QUARANTINED

    short = reviewer.post(f"/entrepot/exports/{rid}/decision",
                          data={"csrf": token, "decision": "release", "texte": "Acceptable."})  # fmt: skip
    assert short.status_code == 422 and "au moins 200 caractères" in words(short)
    released = reviewer.post(f"/entrepot/exports/{rid}/decision",
                             data={"csrf": token, "decision": "release", "texte": RISK_STUDY})  # fmt: skip
    assert released.status_code == 303
    assert place.gate().get(rid).status == RELEASED
    assert (place.gate().outbox / f"export-{rid}" / f"export-{rid}.parquet").exists()
    assert [e["actor"] for e in trail(place, "export.release") if e["resource_id"] == str(rid)] == ["gest.export"]
    after = words(reviewer.get(f"/entrepot/exports/{rid}"))
    assert "diffusé après étude de risque" in after and "Étude de risque (fictive)" in after


def test_a_reject_needs_its_reason_and_the_requester_cannot_decide(place: Place) -> None:
    rid = place.request(qis=("gender_concept_id",))
    reviewer, token = browser(place, "gest.export")
    reviewer.post(f"/entrepot/exports/{rid}/mesure", data={"csrf": token})
    assert place.gate().get(rid).status == "awaiting_validation"
    empty = reviewer.post(f"/entrepot/exports/{rid}/decision", data={"csrf": token, "decision": "reject"})
    assert empty.status_code == 422 and "Écrivez le motif du rejet." in words(empty)
    done = reviewer.post(
        f"/entrepot/exports/{rid}/decision",
        data={"csrf": token, "decision": "reject", "texte": "Destinataire non identifié (fictif)."},
    )
    assert done.status_code == 303 and place.gate().get(rid).status == "rejected"
    assert not (place.gate().outbox / f"export-{rid}").exists()
    researcher, _ = browser(place, "chercheur")  # internal staff: not at this desk
    page = researcher.get(f"/entrepot/exports/{rid}")
    assert page.status_code == 403 and "EDS-SEC-EXP-2.desk" in words(page)


def test_a_manager_cannot_attest_their_own_training(place: Place) -> None:
    novice, token = browser(place, "gest.novice")
    form = {"csrf": token, "date_formation": "2026-11-20", "sujet": "Anonymisation (fictif)"}
    own = novice.post("/entrepot/formations", data={**form, "login": "gest.novice"})
    assert own.status_code == 403 and "n'atteste pas sa propre formation" in words(own)
    other = novice.post("/entrepot/formations", data={**form, "login": "gest.export"})
    assert other.status_code == 403  # an export reviewer does not act for the controller
    assert not place.gate().trained("gest.novice")
    denied = [e for e in trail(place, "desk.warehouse.training") if e["outcome"] == "denied"]
    assert len(denied) == 2 and {e["rule"] for e in denied} == {"EDS-SEC-EXP-3.training"}
    steward, steward_token = browser(place, "dpo.entrepot")
    done = steward.post("/entrepot/formations", data={**form, "csrf": steward_token, "login": "gest.novice"})
    assert done.status_code == 200 and "Formation de gest.novice enregistrée." in words(done)
    assert place.gate().trained("gest.novice")


def test_an_indicator_shows_its_suppressed_cells_marked(place: Place) -> None:
    rid = place.request(qis=("year_of_birth",), kind="indicator")
    reviewer, token = browser(place, "gest.export")
    reviewer.post(f"/entrepot/exports/{rid}/mesure", data={"csrf": token})
    page = words(reviewer.get(f"/entrepot/exports/{rid}"))
    assert "Cases de l'indicateur" in page
    row = re.search(r"<tr><td>1999</td><td>(.*?)</td></tr>", page)
    assert row is not None and "masquée" in row.group(1) and "3" not in row.group(1)  # the count is not shown
    assert (
        "<tr><td>1960</td><td>20</td></tr>" in page and "masquage complémentaire" in page
    )  # so 1999 cannot be deduced


def test_the_controller_keeps_the_committees_and_projects_and_a_reviewer_is_refused(place: Place) -> None:
    steward, token = browser(place, "dpo.entrepot")
    short = steward.post(
        "/entrepot/comites/variables", data={"csrf": token, "variable": "person.year_of_birth", "justification": "âge"}
    )
    assert short.status_code == 422 and "au moins 10 caractères" in words(short)
    for variable in ("person.year_of_birth", "person.gender_concept_id"):
        added = steward.post(
            "/entrepot/comites/variables",
            data={"csrf": token, "variable": variable, "justification": "Décrire la cohorte (fictif)."},
        )
        assert added.status_code == 303
    for member, roles in (
        ("Dr Éthique (fictive)", ["health_ethics", "health_professional"]),
        ("M. Externe (fictif)", ["independent", "researcher"]),
        ("Mme Sociale (fictive)", ["medico_social_professional", "patient_representative"]),
    ):
        seated = steward.post("/entrepot/comites/membres", data={"csrf": token, "nom": member, "roles": roles})
        assert seated.status_code == 303
    assert gov.composition(place.org.engine).complete
    submitted = steward.post("/entrepot/projets", data={
        "csrf": token, "code": "DIAB-1", "titre": "Étude fictive", "responsable": "Dr Chercheuse (fictive)",
        "contact": "chercheuse@exemple.invalid", "finalite": "feasibility_studies",
        "variables": "person.year_of_birth=Âge de la cohorte (fictif)"})  # fmt: skip
    assert submitted.status_code == 303, words(submitted)[:2000]
    vague = steward.post(
        "/entrepot/comites/avis", data={"csrf": token, "projet": "DIAB-1", "decision": "favourable", "motifs": "Bien."}
    )
    assert vague.status_code == 422 and "au moins 20 caractères" in words(vague)
    opinion = steward.post("/entrepot/comites/avis", data={
        "csrf": token, "projet": "DIAB-1", "decision": "favourable",
        "motifs": "Variables minimisées pour une question claire (fictif).",
        "cohorte": "SELECT person_id FROM person WHERE year_of_birth = 1950"})  # fmt: skip
    assert opinion.status_code == 303, words(opinion)[:2000]
    recorded = gov.opinions(place.org.engine)[-1]
    assert recorded.recorded_by == "dpo.entrepot" and recorded.notice_sent_at is not None
    letter = steward.get(f"/entrepot/comites/avis/{recorded.id}/lettre")
    assert (
        letter.status_code == 200 and "DIAB-1" in letter.text and "sandbox" in letter.headers["content-security-policy"]
    )
    yearly = steward.get(f"/entrepot/comites/liste/{recorded.decided_on.year}/json")
    assert yearly.status_code == 200 and '"DIAB-1"' in yearly.text
    created = steward.post("/entrepot/projets/DIAB-1/espace", data={"csrf": token})
    assert created.status_code == 303, words(created)[:2000]
    assert "créé (cloisonné, propre au projet)" in words(steward.get("/entrepot/projets"))

    reviewer, reviewer_token = browser(place, "gest.export")  # at the desk, not the controller
    assert reviewer.get("/entrepot/comites").status_code == 200  # reads
    refused = reviewer.post("/entrepot/comites/variables",
                            data={"csrf": reviewer_token, "variable": "person.race_concept_id",
                                  "justification": "Essai refusé (fictif)."})  # fmt: skip
    assert refused.status_code == 403 and "EDS-3.controller" in words(refused)
    assert "person.race_concept_id" not in {e.variable for e in gov.data_list(place.org.engine)}
    denied = [e for e in trail(place, "desk.warehouse.committee.variable_add") if e["outcome"] == "denied"]
    assert denied and denied[-1]["actor"] == "gest.export"


def test_an_objection_needs_the_box_ticked_and_the_rights_profile(place: Place) -> None:
    person = {"nom": "Fictif", "prenom": "Alix", "naissance": "1970-01-02"}
    steward, token = browser(place, "dpo.entrepot")
    unticked = steward.post("/entrepot/opposition", data={"csrf": token, **person})
    assert unticked.status_code == 422 and "Cochez la case" in words(unticked)
    done = steward.post("/entrepot/opposition", data={"csrf": token, **person, "oppose": "1"})
    assert done.status_code == 200 and "Opposition enregistrée" in words(done)
    assert "Alix" not in done.text  # the form comes back empty: nothing of the person stays in the page
    reviewer, reviewer_token = browser(place, "gest.export")
    refused = reviewer.post("/entrepot/opposition", data={"csrf": reviewer_token, **person, "oppose": "1"})
    assert refused.status_code == 403
    assert [e["outcome"] for e in trail(place, "warehouse.oppose")][-1] == "denied"


def test_the_desk_speaks_english_when_asked(place: Place) -> None:
    reviewer, _ = browser(place, "gest.export")
    reviewer.cookies.set("sg_lang", "en")
    page = words(reviewer.get("/entrepot/exports"))
    assert "Export queue" in page and "Managers' training" in page and "File des exports" not in page
    home = words(reviewer.get("/entrepot"))
    assert "Health data warehouse desk" in home and "Warehouse desk" in home
