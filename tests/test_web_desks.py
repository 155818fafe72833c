"""The governance desks of the console (controller's dashboard and documents, audit desk) through the one path:
identity → policy → the governance/audit functions → audit; refusals named and traced; CSRF; nothing personal in
a URL; every desk route passes the gate."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from santegarde.audit.search import Criteria, search
from santegarde.governance import breaches, processors
from santegarde.policy.desks import Desk, decide_desk, desk_profiles
from santegarde.referentials import loader
from santegarde.rights.execute import RightsService
from santegarde.rights.requests import LETTER_CHANNELS
from santegarde.runtime import Organisation
from santegarde.store.service import Request as RecordRequest
from santegarde.web import (
    access_review_desk,
    audit_desk,
    breach_case,
    breach_desk,
    controller,
    create_console,
    justification_desk,
    measure_desk,
    processor_desk,
    retention_acts,
    retention_desk,
    rights_desk,
    transfer_desk,
)
from santegarde.web.desk_gate import DeskGate
from santegarde.web.french import PARIS, fr_date
from santegarde.web.pages import TAG
from santegarde.web.render import Renderer
from test_web import sign_in
from web_fixtures import CSRF, Practice, chart_resources, make_practice, organisation_of


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = make_practice(tmp_path)
    yield p
    p.close()


@pytest.fixture
def org(practice: Practice, tmp_path: Path) -> Organisation:
    return organisation_of(practice, tmp_path)


def console(practice: Practice, org: Organisation) -> TestClient:
    place = practice.place
    rights = RightsService(place.service, config=org.config, audit=place.audit)
    app = create_console(place.identity, records=place.service, rights=rights, organisation=org)
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def desk_routes(practice: Practice, org: Organisation) -> list[Any]:
    """Every route of the desks' routers (as create_console includes them)."""
    place = practice.place
    gate = DeskGate(place.identity, org.audit)
    renderer = Renderer(place.identity.referential)
    rights = RightsService(place.service, config=org.config, audit=place.audit)
    routers = (
        controller.router(org, None, gate, renderer),
        rights_desk.router(org, rights, gate, renderer),
        breach_desk.router(org, gate, renderer),
        breach_case.router(org, gate, renderer),
        processor_desk.router(org, gate, renderer),
        retention_desk.router(org, gate, renderer),
        transfer_desk.router(org, gate, renderer),
        access_review_desk.router(org, gate, renderer),
        audit_desk.router(org, gate, renderer),
        justification_desk.router(org, gate, renderer),
        measure_desk.router(org, gate, renderer),
        retention_acts.router(org, gate, renderer),
    )
    found = [r for router in routers for r in router.routes]
    assert all(TAG in r.tags and "reach:desk" in r.tags for r in found)
    return found


def csrf(page: Any) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


def trail(org: Organisation, operation: str) -> list[dict[str, Any]]:
    with org.audit.engine.connect() as conn:
        return [dict(e.content) for e in org.audit.entries(conn) if e.content["operation"] == operation]


def test_policy_seats_the_controller_and_the_trace_readers_and_nobody_else() -> None:
    pra, eds, aac = (loader.get(r) for r in ("pra-2020-081", "eds-2021-118", "aac-2022-106"))
    assert desk_profiles(pra, Desk.CONTROLLER) == ("practitioner",)
    assert desk_profiles(pra, Desk.AUDIT) == ("practitioner",)  # no trace reader in the text: the controller
    assert desk_profiles(eds, Desk.AUDIT) == ("log_reviewer",)
    assert desk_profiles(eds, Desk.CONTROLLER) == ("data_steward",)
    assert desk_profiles(aac, Desk.CONTROLLER) == ()  # a text naming nobody leaves the desk closed
    assert not decide_desk(pra, Desk.CONTROLLER, "secretariat").allowed
    assert not decide_desk(pra, Desk.CONTROLLER, None).allowed
    assert not decide_desk(eds, Desk.AUDIT, "data_steward").allowed
    assert decide_desk(eds, Desk.AUDIT, "log_reviewer").allowed


def test_the_secretary_is_refused_every_desk_with_the_rule_and_the_refusal_is_traced(
    practice: Practice, org: Organisation
) -> None:
    c = console(practice, org)
    sign_in(practice, c, "sec.durand")
    assert "/controle" not in c.get("/accueil").text  # no link to a desk the profile may not open
    for url, rule in (("/controle", "COM-SEC-1.controller"), ("/audit", "COM-LOG-4.reviewer")):
        page = c.get(url)
        assert page.status_code == 403 and "<h1>Accès refusé</h1>" in page.text
        said = html.unescape(page.text)
        assert rule in said and "ne peut pas ouvrir" in said and "l'essai a été tracé" in said
        assert "Conformité" not in page.text and "Rechercher dans le journal" not in page.text
    token = csrf(c.get("/accueil"))
    for url in ("/controle/documents", "/controle/documents/register/fichier/json"):
        assert c.get(url).status_code == 403
    for url in ("/audit/recherche", "/audit/verification", "/audit/revue"):
        answer = c.post(url, data={"csrf": token, "debut": "2026-01-01", "fin": "2026-12-31"})
        assert answer.status_code == 403
    denied = [e for e in trail(org, "desk.controller.dashboard") if e["outcome"] == "denied"]
    assert denied and denied[0]["actor"] == "sec.durand" and denied[0]["rule"] == "COM-SEC-1.controller"
    assert not (org.config_path.parent / "dpia-snapshot.json").exists()


def test_not_signed_in_goes_to_the_sign_in_page(practice: Practice, org: Organisation) -> None:
    c = console(practice, org)
    for url in ("/controle", "/audit", "/controle/documents/dpia/fichier/json"):
        answer = c.get(url)
        assert answer.status_code == 303 and answer.headers["location"] == "/connexion"


def due_and_late(practice: Practice, org: Organisation) -> tuple[Any, Any, Any]:
    """A late request, a request still in time, a breach past its 72 hours and a processor out of order."""
    place = practice.place
    now = place.identity.now()
    rights = RightsService(place.service, config=org.config, audit=place.audit)
    from identity_fixtures import NEW_PASSWORD
    from santegarde.identity import sessions

    opened = sessions.login(place.identity, "dr.martin", NEW_PASSWORD, source="t", workstation_class="office")
    sessions.second_factor(place.identity, opened.token, practice.code("dr.martin"))
    req = RecordRequest(opened.token, "medical_record")
    twelve_days_ago = now - timedelta(days=12)
    late = rights.receive(req, "access", "p-1", "person", purpose="medical_record", received_at=twelve_days_ago)
    soon = rights.receive(req, "rectification", "p-1", "person", received_at=now - timedelta(days=2))
    sessions.logout(place.identity, opened.token)
    breach = breaches.record(
        org.engine,
        nature=["confidentiality"],
        description="Courriel envoyé au mauvais destinataire (fictif)",
        data_categories=["health"],
        person_categories=["patients"],
        likely_consequences="Divulgation à un tiers (fictif)",
        measures_taken="Demande de suppression au destinataire",
        discovered_at=now - timedelta(hours=80),
        reported_by="staff",
        recorded_by="dr.martin",
        clock=lambda: now,
    )
    processors.add(
        org.engine,
        name="Hébergeur Fictif",
        service="Hébergement des dossiers",
        data_categories=["health"],
        hosts_health_data=True,
        clauses=["instructions_only"],
        hds_number="HDS-0001",
        hds_certifier="Certificateur Fictif",
        hds_expires=(now - timedelta(days=3)).date(),
        country="FR",
        recorded_by="dr.martin",
        now=now,
    )
    return late, soon, breach


def test_the_controllers_dashboard_shows_what_is_due_and_late_in_french(practice: Practice, org: Organisation) -> None:
    late, soon, breach = due_and_late(practice, org)
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    assert 'href="/controle"' in c.get("/accueil").text  # the desk is in the navigation of the controller
    page = c.get("/controle")
    assert page.status_code == 200, page.text[:800]
    text = page.text
    assert "<h1>Tableau du responsable du traitement</h1>" in text
    assert "Conformité des mesures de sécurité, par thème" in text and "aucun statut déclaré" in text
    assert "Jamais générée" in text  # no DPIA of reference yet
    assert f"Demande n° {late.id}</a>" in text and "En retard de 4 jour(s)" in text
    assert "huit jours" in text  # the deadline's rule (CSP 8 days for the medical record)
    assert f"Demande n° {soon.id}</a>" in text and "jour(s) restant(s)" in text
    assert f"Violation n° {breach.id}" in text and "Délai dépassé" in text
    assert "Hébergeur Fictif" in text and "À régulariser" in text
    assert "Revue des traces (tous les deux mois)" in text and 'href="/audit"' in text
    assert "p-1" not in text  # the dashboard names requests by number, never the patient
    chart = text.split('<svg class="graphe"', 1)[1].split("</svg>", 1)[0]  # requests per month, drawn as SVG
    assert 'role="img" aria-labelledby="droits-t droits-d"' in chart and "novembre 2026" in chart
    assert "délai dépassé" in chart and "en cours, dans le délai" in chart and "url(#droits-p" in chart
    assert re.search(r"[a-z]+_[a-z]+", re.sub(r"<[^>]+>", " ", text.split("<main", 1)[1])) is None, (
        "a raw identifier in the dashboard's text"
    )
    allowed = [e for e in trail(org, "desk.controller.dashboard") if e["outcome"] == "success"]
    assert allowed and allowed[-1]["actor"] == "dr.martin" and allowed[-1]["profile"] == "practitioner"


# The French labels of the controller's desk that must not remain in its English pages (its chrome).
FRENCH_CHROME = re.compile(
    r"Tableau du responsable|Demande n°|Violation n°|Échéance|Reçue le|Où le traiter|jour\(s\) restant|En retard|"
    r"Délai dépassé|À régulariser|Revue des|Conformité des mesures|Ce qui manque|Enregistrer|Registre des|"
    r"Revenir|Télécharger|Aperçu|Sous-traitants|Aucun|Catégories de|Le formulaire contient|corrigez|Choisissez|"
    r"Indiquez|Décrivez|Cochez|\bdemande\b|\bdroits?\b|\bviolation\b|\bconstatée\b|\bpour\b|\bjour\b"
)


def english(page: Any) -> str:
    """The page's text as a person reads it (inside <main>), after checking no French label of the desk remains."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", page.text.split("<main", 1)[1]))
    left = FRENCH_CHROME.findall(text)
    assert not left, (left, [text[max(0, m.start() - 150) : m.end() + 50] for m in FRENCH_CHROME.finditer(text)])
    return text


def test_the_controllers_dashboard_speaks_english_when_asked(practice: Practice, org: Organisation) -> None:
    late, soon, breach = due_and_late(practice, org)
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    c.cookies.set("sg_lang", "en")
    page = c.get("/controle")
    assert page.status_code == 200, page.text[:800]
    text = english(page)
    assert "Controller's dashboard" in text and "Conformity of the security measures, by area" in text
    assert "no status declared" in text and "Never generated</span>: no reference DPIA" in page.text
    assert f"Request no. {late.id}" in text and "Late by 4 day(s)" in text
    assert f"Request no. {soon.id}" in text and "day(s) left" in text
    assert f"Breach no. {breach.id}" in text and "Deadline passed" in text
    assert "Hébergeur Fictif" in text and "To put in order" in text and "Article 28 clauses missing" in text
    assert "Audit trail review (every two months)" in text and "Where to handle it:" in text
    chart = page.text.split('<svg class="graphe"', 1)[1].split("</svg>", 1)[0]
    assert "November 2026" in chart and "deadline passed" in chart and "novembre" not in chart
    listing = c.get("/controle/documents")
    docs = english(listing)
    assert "Controller's documents" in docs and "Record of processing activities" in docs
    assert "Information notice — poster" in docs and "spreadsheet (CNIL template)" in docs
    assert "Back to the list of documents" in english(c.get("/controle/documents/conformity"))
    for key, fmt in re.findall(r'href="/controle/documents/([^/"]+)/fichier/([a-z]+)"', listing.text):
        produced = c.get(f"/controle/documents/{key}/fichier/{fmt}")  # every document in English too
        assert produced.status_code in (200, 422), (key, fmt)
        if produced.status_code == 422:  # a notice of an incomplete configuration: its refusal, in English
            assert "set organisation.controller.email" in english(produced)
    preview = c.get("/controle/documents/conformity/fichier/html?apercu=1")
    assert '<html lang="en"' in preview.text
    c.cookies.set("sg_lang", "fr")
    assert "Tableau du responsable du traitement" in c.get("/controle").text  # French by default, and back


@pytest.mark.parametrize(
    ("right", "purpose", "older"),
    [("access", "medical_record", False), ("access", "medical_record", True), ("erasure", None, False)],
)
def test_every_deadline_rule_the_register_keeps_is_said_in_both_languages(
    right: str, purpose: str | None, older: bool
) -> None:
    from santegarde.referentials.model import Right
    from santegarde.rights.requests import deadline_for

    _, rule = deadline_for(
        loader.get("pra-2020-081"), Right(right), purpose, datetime.now(UTC), older_than_five_years=older
    )
    assert controller.deadline_rule(rule, "fr") == rule
    english_rule = controller.deadline_rule(rule, "en")
    assert english_rule != rule and ("GDPR" in english_rule or "Public Health Code" in english_rule)


def test_documents_are_previewed_framed_without_script_and_downloaded(practice: Practice, org: Organisation) -> None:
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    listing = c.get("/controle/documents")
    assert listing.status_code == 200
    for title in ("Registre des activités de traitement", "Notice d'information — affiche", "AIPD au format"):
        assert title in html.unescape(listing.text)
    assert "formulaire d'opposition" not in html.unescape(listing.text)  # a warehouse's notice, not a practice's
    page = c.get("/controle/documents/conformity")
    assert page.status_code == 200 and "frame-src 'self'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    preview = c.get("/controle/documents/conformity/fichier/html?apercu=1")
    assert preview.status_code == 200 and preview.headers["content-disposition"] == "inline"
    csp = preview.headers["content-security-policy"]
    assert "sandbox" in csp and "script" not in csp and "frame-ancestors 'self'" in csp
    assert "conformité" in preview.text.lower()
    pia = c.get("/controle/documents/dpia-pia/fichier/json")
    assert pia.status_code == 200 and pia.headers["content-disposition"] == 'attachment; filename="aipd-outil-pia.json"'
    assert "answers" in json.loads(pia.content) or json.loads(pia.content)
    register = c.get("/controle/documents/register/fichier/json")
    assert register.status_code == 200 and json.loads(register.content)["activities"]
    refused = c.get("/controle/documents/dpia-pia/fichier/pdf")
    assert refused.status_code == 422 and "choisissez l'un de ces formats : json" in html.unescape(refused.text)
    assert c.get("/controle/documents/inconnu").status_code == 404
    assert not (org.config_path.parent / "dpia-snapshot.json").exists()  # a preview is not the DPIA of reference
    produced = trail(org, "desk.controller.document.produce")
    assert {e["resource_id"] for e in produced} >= {"conformity.html", "dpia-pia.json", "register.json"}


def test_the_audit_desk_searches_by_post_verifies_and_reviews(practice: Practice, org: Organisation) -> None:
    c = console(practice, org)
    sign_in(practice, c, "sec.durand")
    c.get("/patients/p-1")  # refused to the secretary: a denied entry in the trail
    c = console(practice, org)
    sign_in(practice, c, "dr.autre")  # no care relationship: breaks the glass, an anomaly for the review
    reason = "Patiente inconsciente aux urgences (fictif)"
    glass = c.post("/patients/p-1/bris-de-glace", data={"csrf": csrf(c.get("/accueil")), "raison": reason})
    assert glass.status_code == 200
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    home = c.get("/audit")
    assert home.status_code == 200 and "aucune revue des traces n'a encore été faite" in html.unescape(home.text)
    assert '<svg class="graphe"' in home.text and '<title id="volumes-t">' in home.text
    token = csrf(home)
    today = practice.place.identity.now().date()
    form = {"csrf": token, "debut": (today - timedelta(days=2)).isoformat(), "fin": today.isoformat()}
    found = c.post("/audit/recherche", data={**form, "acteur": "sec.durand", "issue": "denied"})
    assert found.status_code == 200 and "sec.durand" in found.text and "refusé" in found.text
    assert "dr.martin</td>" not in found.text
    assert "Lecture d&#39;un dossier (Patient)" in found.text  # the operation by its name, never its code
    assert "<code>read</code>" not in found.text and ">read " not in found.text
    assert '<option value="desk.audit.search">Recherche dans le journal</option>' in found.text
    family = c.post("/audit/recherche", data={**form, "operation": "desk"}).text  # a family: all its operations
    results = family[family.index("<tbody>") :]
    assert "Ouverture du bureau d&#39;audit" in results and "Lecture d&#39;un dossier" not in results
    assert '<option value="desk" selected>Bureaux de la console : toutes</option>' in family
    assert c.post("/audit/recherche", data={**form, "fin": "pas une date"}).status_code == 422
    backwards = c.post("/audit/recherche", data={**form, "debut": today.isoformat(), "fin": "2020-01-01"})
    assert backwards.status_code == 422 and "se termine avant de commencer" in backwards.text
    verified = c.post("/audit/verification", data={"csrf": token})
    assert verified.status_code == 200 and "✓ Intact" in verified.text
    assert c.post("/audit/verification", data={}).status_code in (403, 422)  # no CSRF token: refused
    started = c.post("/audit/revue", data={"csrf": token})
    assert started.status_code == 303
    url = started.headers["location"]
    review = c.get(url)
    assert review.status_code == 200 and "Accès en bris de glace" in review.text and "dr.autre" in review.text
    assert reason not in review.text  # the written reason stays apart (read with its own traced command)
    anomaly = int(re.search(r"/anomalies/(\d+)", review.text).group(1))  # type: ignore[union-attr]
    short = c.post(f"{url}/anomalies/{anomaly}", data={"csrf": token, "commentaire": "vu"})
    assert short.status_code == 422 and "au moins 10 caractères" in short.text
    other = c.post(f"/audit/revue/999/anomalies/{anomaly}", data={"csrf": token, "commentaire": "x" * 20})
    assert other.status_code == 404  # an anomaly is closed only through its own review
    comment = "Urgence vérifiée avec le service : justifiée"
    signed = c.post(f"{url}/anomalies/{anomaly}", data={"csrf": token, "commentaire": comment})
    assert signed.status_code == 303
    again = c.get(url)
    assert "Close</span> par dr.martin" in again.text
    assert trail(org, "desk.audit.anomaly.close")[-1]["actor"] == "dr.martin"


def test_the_audit_desk_speaks_english_when_asked(practice: Practice, org: Organisation) -> None:
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    c.cookies.set("sg_lang", "en")
    home = html.unescape(c.get("/audit").text)
    assert "<h1>Trace audit desk</h1>" in home and "Verify the trail's chain" in home
    assert "Trail entries per day and profile" in home and "The same figures as a table" in home
    assert "Audit desk" in home  # the desks' navigation too
    assert "Bureau d'audit des traces" not in home and "Rechercher" not in home
    token = csrf(c.get("/audit"))
    today = practice.place.identity.now().date()
    found = html.unescape(
        c.post(
            "/audit/recherche",
            data={
                "csrf": token,
                "debut": (today - timedelta(days=1)).isoformat(),
                "fin": today.isoformat(),
                "operation": "desk",
            },
        ).text
    )
    assert "Audit desk opened" in found and "Ouverture du bureau" not in found  # operations by their English name
    assert "granted" in found and "Console desks: all" in found
    bad = html.unescape(c.post("/audit/recherche", data={"csrf": token, "debut": "x", "fin": "y"}).text)
    assert "The start date is not a date" in bad
    started = c.post("/audit/revue", data={"csrf": token})
    review = html.unescape(c.get(started.headers["location"]).text)
    assert "Review of the traces no." in review and "Back to the audit desk" in review
    c.cookies.set("sg_lang", "fr")
    assert "Bureau d'audit des traces" in html.unescape(c.get("/audit").text)  # French by default, and back


def test_search_never_puts_a_criterion_in_a_url(practice: Practice, org: Organisation) -> None:
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    assert c.get("/audit/recherche").status_code == 405  # a search goes by POST only
    routes = desk_routes(practice, org)
    assert routes
    for route in routes:
        assert "patient" not in route.path and "acteur" not in route.path


def test_every_desk_route_passes_the_gate(practice: Practice, org: Organisation, monkeypatch: Any) -> None:
    entered: list[str] = []
    original = DeskGate.enter

    def spy(self: DeskGate, request: Any, desk: Desk, operation: str, resource: str = "console") -> Any:
        entered.append(operation)
        return original(self, request, desk, operation, resource)

    monkeypatch.setattr(DeskGate, "enter", spy)
    c = console(practice, org)
    sign_in(practice, c, "sec.durand")
    token = csrf(c.get("/accueil"))
    routes = desk_routes(practice, org)
    assert len(routes) == 43
    for r in routes:
        path = r.path.replace("{key}", "register").replace("{fmt}", "json")
        path = path.replace("{number}", "1").replace("{anomaly}", "1").replace("{fmt}", "html")
        path = path.replace("{action}", "activation").replace("{kind}", "notification").replace("{grant}", "1")
        for method in r.methods:
            entered.clear()
            answer = c.request(method, path, data={"csrf": token} if method == "POST" else None)
            assert answer.status_code == 403, (method, path, answer.status_code)
            assert entered, f"{method} {path} did not pass the desk's gate"


def test_trail_search_period_and_criteria(practice: Practice, org: Organisation) -> None:
    now = datetime.now(UTC) + timedelta(days=400)
    everything = search(org.audit, Criteria(datetime(2000, 1, 1, tzinfo=UTC), now))
    assert everything.entries and not everything.more
    assert [e.seq for e in everything.entries] == sorted((e.seq for e in everything.entries), reverse=True)
    limited = search(org.audit, Criteria(datetime(2000, 1, 1, tzinfo=UTC), now), limit=1)
    assert len(limited.entries) == 1 and limited.more
    reads = search(org.audit, Criteria(datetime(2000, 1, 1, tzinfo=UTC), now, operation="record."))
    assert all(str(e.content["operation"]).startswith("record.") for e in reads.entries)
    assert not search(org.audit, Criteria(datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 2, tzinfo=UTC))).entries


BREACH = {
    "nature": "confidentiality",
    "description": "Courriel contenant un compte rendu envoyé au mauvais destinataire (fictif)",
    "categories": "health",
    "personnes": "patients",
    "nombre": "1",
    "consequences": "Divulgation d'une donnée de santé à un tiers (fictif)",
    "mesures": "Demande d'effacement adressée au destinataire",
    "signalee_par": "staff",
}


def test_a_breach_is_documented_with_its_72_hour_clock_and_traced(practice: Practice, org: Organisation) -> None:
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    token = csrf(c.get("/controle/violations"))
    wrong = c.post(
        "/controle/violations",
        data={**BREACH, "csrf": token, "nature": "", "description": "court", "constatee": "2999-01-01T10:00"},
    )
    said = html.unescape(wrong.text)
    assert wrong.status_code == 422 and 'id="description-erreur"' in said and 'aria-invalid="true"' in said
    assert "Cochez au moins une nature" in said and "dans le futur" in said
    assert not breaches.entries(org.engine)  # nothing half-written
    other = c.post("/controle/violations", data={**BREACH, "csrf": token, "categories": "pas_une_categorie"})
    assert other.status_code == 422 and "Cochez au moins une catégorie" in html.unescape(other.text)
    two_hours_ago = (practice.place.identity.now() - timedelta(hours=2)).astimezone(PARIS)
    done = c.post(
        "/controle/violations", data={**BREACH, "csrf": token, "constatee": two_hours_ago.strftime("%Y-%m-%dT%H:%M")}
    )
    assert done.status_code == 303 and done.headers["location"] == "/controle/violations#violation-1"
    listing = html.unescape(c.get("/controle/violations").text)
    assert "Violation n° 1" in listing and "Dans les délais" in listing and "Il reste 2 jours" in listing
    recorded = breaches.get(org.engine, 1)
    assert recorded.recorded_by == "dr.martin" and recorded.data_categories == ("health",)
    assert trail(org, "breach.add")[-1]["actor"] == "dr.martin"
    assert c.post("/controle/violations", data=BREACH).status_code in (403, 422)  # no CSRF token: refused
    assert len(breaches.entries(org.engine)) == 1


def test_the_breach_desk_speaks_english_when_asked(practice: Practice, org: Organisation) -> None:
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    c.cookies.set("sg_lang", "en")
    token = csrf(c.get("/controle/violations"))
    wrong = c.post(
        "/controle/violations",
        data={**BREACH, "csrf": token, "nature": "", "description": "short", "constatee": "2999-01-01T10:00"},
    )
    said = english(wrong)
    assert wrong.status_code == 422 and "The form has 3 error(s)" in said
    assert "Tick at least one nature of breach." in said and "discovered in the future" in said
    assert "Loss of confidentiality (data seen or disclosed)" in said and "Record the breach" in said
    assert c.post("/controle/violations", data={**BREACH, "csrf": token}).status_code == 303
    listing = english(c.get("/controle/violations"))
    assert "Register of data breaches" in listing and "Breach no. 1" in listing and "On time" in listing
    assert "loss of confidentiality" in listing
    page = english(c.get("/controle/violations/1"))
    assert "The 72-hour deadline" in page and "Assess the seriousness" in page and "Notification to the CNIL" in page
    assert "Reported by  a member of staff" in page
    assert 'title="Draft: Notification to the CNIL (Art. 33)"' in c.get("/controle/violations/1").text
    url = "/controle/violations/1/evaluation"
    odd = c.post(url, data={"csrf": token, "vraisemblance": "enorme", "gravite": "limited", "notifier": "maybe"})
    assert odd.status_code == 422 and "Choose the likelihood from the list." in english(odd)
    reasoning = "A single recipient, a health professional bound by secrecy (fictitious)"
    levels = {"csrf": token, "vraisemblance": "significant", "gravite": "significant", "raisonnement": reasoning}
    assert c.post(url, data=levels).status_code == 303
    page = english(c.get("/controle/violations/1"))
    assert "high risk: notification to the CNIL" in page and "Notify the CNIL: yes" in page
    assert "Revise the assessment of seriousness" in page
    draft = html.unescape(c.get("/controle/violations/1/communication").text)
    assert '<html lang="en">' in draft and "Information about an incident" in draft  # previewed in English too
    future = (practice.place.identity.now() + timedelta(days=1)).astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")
    ahead = c.post("/controle/violations/1/notification/faite", data={"csrf": token, "le": future})
    assert ahead.status_code == 422 and "This date is in the future: correct it." in english(ahead)
    missing = c.get("/controle/violations/9")
    assert missing.status_code == 404 and "There is no breach no. 9 in the register." in english(missing)
    c.cookies.set("sg_lang", "fr")
    assert "Registre des violations de données" in c.get("/controle/violations").text


def test_the_dpo_handles_a_rights_request_to_its_letter_and_a_refused_right_says_why(
    practice: Practice, org: Organisation
) -> None:
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    token = csrf(c.get("/controle/droits"))
    missing = c.post("/controle/droits", data={"csrf": token, "droit": "objection", "dossier": ""})
    said = html.unescape(missing.text)
    assert missing.status_code == 422 and "choisissez-la" in said and "référence du dossier" in said
    made = c.post(
        "/controle/droits",
        data={"csrf": token, "droit": "access", "dossier": "p-1", "demandeur": "person", "finalite": "medical_record"},
    )
    assert made.status_code == 303
    url = made.headers["location"]
    assert "p-1" not in url  # a request is named by its number
    page = html.unescape(c.get(url).text)
    assert "huit jours" in page and "Vérifier l'identité du demandeur" in page
    early = c.post(f"{url}/execution", data={"csrf": token})
    assert early.status_code == 409 and "doit avoir été vérifiée" in html.unescape(early.text)
    short = c.post(f"{url}/identite", data={"csrf": token, "verification": "vu"})
    assert short.status_code == 422 and "au moins 10 caractères" in html.unescape(short.text)
    checked = c.post(f"{url}/identite", data={"csrf": token, "verification": "Carte d'identité présentée au cabinet"})
    assert checked.status_code == 303
    copy = c.post(f"{url}/execution", data={"csrf": token})
    assert copy.status_code == 200 and copy.headers["content-disposition"].startswith("attachment;")
    assert json.loads(copy.content)["resourceType"] == "Bundle"  # the person's copy, handed over once
    done = html.unescape(c.get(url).text)
    assert (
        "exécutée" in done
        and "Lettre de réponse" in done
        and "frame-src 'self'" in c.get(url).headers["content-security-policy"]
    )
    letter = c.get(f"{url}/lettre/html")
    assert letter.status_code == 200 and "sandbox" in letter.headers["content-security-policy"]
    assert "Réponse à votre demande d'exercice du droit d'accès" in html.unescape(letter.text)
    pdf = c.get(f"{url}/lettre/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert c.post(f"{url}/execution", data={"csrf": token}).status_code == 409  # answered once only

    erasure = c.post(
        "/controle/droits",
        data={"csrf": token, "droit": "erasure", "dossier": "p-1", "demandeur": "person", "finalite": "medical_record"},
    )
    second = erasure.headers["location"]
    c.post(f"{second}/identite", data={"csrf": token, "verification": "Carte d'identité présentée au cabinet"})
    c.post(f"{second}/execution", data={"csrf": token})
    refused = html.unescape(c.get(second).text)
    assert "refusée" in refused and "ne s'applique pas" in refused  # the text's reason, in French
    assert c.get("/controle/droits/999").status_code == 404
    operations = {e["operation"] for e in trail(org, "rights.access") + trail(org, "rights.erasure")}
    assert operations == {"rights.access", "rights.erasure"}


def test_the_rights_desk_speaks_english_when_asked(practice: Practice, org: Organisation) -> None:
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    c.cookies.set("sg_lang", "en")
    page = c.get("/controle/droits")
    listing = english(page)
    assert "Requests to exercise rights" in listing and "No request recorded." in listing
    assert "Right of access" in listing and "the person concerned" in listing and "Record the request" in listing
    token = csrf(page)
    missing = c.post("/controle/droits", data={"csrf": token, "droit": "objection", "dossier": ""})
    said = english(missing)
    assert missing.status_code == 422 and "The form has 2 error(s)" in said
    assert "This right bears on a purpose: choose it." in said and "Give the reference of the patient" in said
    made = c.post(
        "/controle/droits",
        data={"csrf": token, "droit": "access", "dossier": "p-1", "demandeur": "person", "finalite": "medical_record"},
    )
    url = made.headers["location"]
    detail = english(c.get(url))
    assert "Request no. 1: Right of access" in detail and "eight days for access to the medical record" in detail
    assert "1. Check the requester's identity" in detail and "received, identity to check" in detail
    early = c.post(f"{url}/execution", data={"csrf": token})
    assert early.status_code == 409 and "the requester's identity must have been checked" in english(early)
    short = c.post(f"{url}/identite", data={"csrf": token, "verification": "seen"})
    assert short.status_code == 422 and "in at least 10 characters" in english(short)
    c.post(f"{url}/identite", data={"csrf": token, "verification": "Identity card shown at the practice"})
    assert "2. Execute the request" in english(c.get(url))
    assert c.post(f"{url}/execution", data={"csrf": token}).status_code == 200  # the person's copy
    done = c.get(url)
    assert "3. Answer letter" in html.unescape(done.text) and "letter as PDF" in html.unescape(done.text)
    assert 'title="Preview of the answer letter to request no. 1"' in done.text
    wrong = c.post(f"{url}/envoi", data={"csrf": token, "moyen": "pigeon"})
    assert wrong.status_code == 422 and "Choose from the list how the letter was sent." in html.unescape(wrong.text)
    assert c.post(f"{url}/envoi", data={"csrf": token, "moyen": "post"}).status_code == 303
    assert "by post, by dr.martin" in html.unescape(c.get(url).text)
    listed = english(c.get("/controle/droits"))
    assert "Request no. 1" in listed and "executed" in listed
    gone = c.get("/controle/droits/999")
    assert gone.status_code == 404 and "There is no request to exercise rights no. 999" in english(gone)
    c.cookies.set("sg_lang", "fr")
    assert "Demandes d&#39;exercice des droits" in c.get("/controle/droits").text


def test_a_processor_is_activated_only_with_every_clause_and_a_valid_hds_certificate(
    practice: Practice, org: Organisation
) -> None:
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    token = csrf(c.get("/controle/sous-traitants"))
    bad = c.post("/controle/sous-traitants", data={"csrf": token, "nom": "", "pays": "France", "expiration": "demain"})
    said = html.unescape(bad.text)
    assert bad.status_code == 422 and "Indiquez le nom" in said and "deux lettres" in said and "est une date" in said
    assert not processors.entries(org.engine)
    base = {
        "csrf": token,
        "nom": "Hébergeur Fictif",
        "service": "Hébergement des dossiers",
        "categories": "health",
        "hds": "1",
        "numero_hds": "HDS-0001",
        "certificateur": "Certificateur Fictif",
        "expiration": "2030-01-01",
        "pays": "fr",
        "clauses": ["instructions_only", "audits"],
    }
    assert c.post("/controle/sous-traitants", data=base).status_code == 303
    listing = html.unescape(re.sub(r"<[^>]+>", " ", c.get("/controle/sous-traitants").text))  # the text read
    assert "Clauses de l'article 28 absentes du contrat" in listing and "staff_confidentiality" not in listing
    refused = c.post("/controle/sous-traitants/1/activation", data={"csrf": token})
    assert refused.status_code == 422 and "ne peut pas être activé" in html.unescape(refused.text)
    assert processors.get(org.engine, "Hébergeur Fictif").status == "draft"
    complete = {**base, "nom": "Hébergeur Complet", "clauses": list(processors.CLAUSES)}
    assert c.post("/controle/sous-traitants", data=complete).status_code == 303
    assert c.post("/controle/sous-traitants/2/activation", data={"csrf": token}).status_code == 303
    assert processors.get(org.engine, "Hébergeur Complet").status == "active"
    assert c.post("/controle/sous-traitants/2/fin", data={"csrf": token}).status_code == 303
    assert processors.get(org.engine, "Hébergeur Complet").status == "ended"
    assert c.post("/controle/sous-traitants/9/activation", data={"csrf": token}).status_code == 404
    assert [e["operation"] for e in trail(org, "processor.activate")] == ["processor.activate"]
    assert len(trail(org, "processor.add")) == 2 and len(trail(org, "processor.end")) == 1


def test_the_processors_register_speaks_english_when_asked(practice: Practice, org: Organisation) -> None:
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    c.cookies.set("sg_lang", "en")
    token = csrf(c.get("/controle/sous-traitants"))
    bad = c.post("/controle/sous-traitants", data={"csrf": token, "nom": "", "pays": "France", "expiration": "soon"})
    said = english(bad)
    assert bad.status_code == 422 and "Give the processor's name." in said and "in two letters" in said
    assert "The certificate's expiry is a date" in said and "The processor processes personal data only" in said
    base = {
        "csrf": token,
        "nom": "Hébergeur Fictif",
        "service": "Hébergement des dossiers",
        "categories": "health",
        "hds": "1",
        "numero_hds": "HDS-0001",
        "certificateur": "Certificateur Fictif",
        "expiration": "2030-01-01",
        "pays": "fr",
        "clauses": ["instructions_only", "audits"],
    }
    assert c.post("/controle/sous-traitants", data=base).status_code == 303
    listing = english(c.get("/controle/sous-traitants"))
    assert "Register of processors" in listing and "Article 28 clauses missing from the contract" in listing
    assert "To put in order" in listing and "Activate Hébergeur Fictif" in listing and "— draft" in listing
    refused = c.post("/controle/sous-traitants/1/activation", data={"csrf": token})
    assert refused.status_code == 422 and "Hébergeur Fictif cannot be activated:" in english(refused)
    missing = c.post("/controle/sous-traitants/9/activation", data={"csrf": token})
    assert missing.status_code == 404 and "This processor is not in the register." in english(missing)
    c.cookies.set("sg_lang", "fr")
    assert "Registre des sous-traitants" in c.get("/controle/sous-traitants").text


def test_the_retention_timeline_shows_what_each_coming_run_would_archive_and_end(
    practice: Practice, org: Organisation
) -> None:
    c = console(practice, org)
    sign_in(practice, c, "sec.durand")
    refused = c.get("/controle/conservation")
    assert refused.status_code == 403 and "COM-SEC-1.controller" in refused.text
    assert trail(org, "desk.controller.retention")[-1]["outcome"] == "denied"
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    assert 'href="/controle/conservation"' in c.get("/controle").text
    year = c.get("/controle/conservation")
    assert year.status_code == 200
    # the chart is four days old
    assert "Aucun dossier n'arrive à échéance sur cette période" in html.unescape(year.text)
    years = c.get("/controle/conservation", params={"horizon": "25-ans"})
    assert years.status_code == 200 and '<title id="conservation-t">' in years.text
    page = html.unescape(years.text)
    today = practice.place.identity.now()
    points = retention_desk.timeline(org, today, retention_desk.HORIZONS["25-ans"])
    assert len(points) == 26 and not points[0]["lines"]
    archived = [p for p in points if any(line["archive"] for line in p["lines"])]
    ended = [p for p in points if any(line["end"] for line in p["lines"])]
    assert archived and ended and archived[0]["at"] < ended[0]["at"]  # archived first, ended at the end of term
    assert archived[0]["at"].year - today.year in (5, 6) and ended[0]["at"].year - today.year in (20, 21)
    first, last = archived[0], ended[0]
    assert f"Entre le {fr_date(first['since'].date())} et le {fr_date(first['at'].date())}" in page
    assert f"Entre le {fr_date(last['since'].date())} et le {fr_date(last['at'].date())}" in page
    assert "Données enregistrées pour la gestion du cabinet" in page and "(suppression)" in page
    assert "À archiver" in page and "À supprimer" in page  # the chart's series by their labels, not by colour
    wrong = c.get("/controle/conservation", params={"horizon": "mille-ans"})
    assert wrong.status_code == 422 and "choisissez l'une des périodes proposées" in html.unescape(wrong.text)
    assert trail(org, "desk.controller.retention")[-1]["actor"] == "dr.martin"


TRANSFER = {
    "pays": "JP",
    "destinataire": "Laboratoire fictif de Kyoto",
    "categories": "identity_contact",
    "base": "",
    "finalite": "Relecture d'images par un expert (fictif)",
}


def test_the_retention_calendar_speaks_english_when_asked(practice: Practice, org: Organisation) -> None:
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    c.cookies.set("sg_lang", "en")
    year = english(c.get("/controle/conservation"))
    assert "Retention calendar" in year and "No record reaches its due date in this period" in year
    assert "the next twelve months, month by month" in year and "Back to the controller's dashboard" in year
    years = c.get("/controle/conservation", params={"horizon": "25-ans"})
    page = english(years)
    assert "By date and by rule" in page and "Between " in page and "(deletion)" in page
    assert "To archive" in page and "To delete" in page and "Next run" in page
    wrong = c.get("/controle/conservation", params={"horizon": "mille-ans"})
    assert wrong.status_code == 422 and "This period does not exist" in english(wrong)


def test_a_transfer_is_checked_against_chapter_v_then_recorded_and_traced(
    practice: Practice, org: Organisation
) -> None:
    c = console(practice, org)
    sign_in(practice, c, "sec.durand")
    assert c.get("/controle/transferts").status_code == 403
    assert trail(org, "desk.controller.transfers")[-1]["outcome"] == "denied"
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    assert 'href="/controle/transferts"' in c.get("/controle").text
    page = c.get("/controle/transferts")
    assert page.status_code == 200 and "Aucun transfert hors de l'Union européenne enregistré" in html.unescape(
        page.text
    )
    token = csrf(page)
    empty = c.post("/controle/transferts", data={"csrf": token, "base": "safeguards"})
    said = html.unescape(empty.text)
    assert empty.status_code == 422 and "Le formulaire contient 5 erreur(s)" in said
    assert "Nommez le destinataire" in said and "Choisissez la garantie appropriée" in said
    unknown = c.post("/controle/transferts", data={"csrf": token, **TRANSFER, "pays": "Atlantide"})
    assert unknown.status_code == 422 and "Ce pays n&#39;est pas reconnu" in unknown.text
    inside = c.post("/controle/transferts", data={"csrf": token, **TRANSFER, "pays": "DE"})
    assert inside.status_code == 422 and "aucun transfert" in html.unescape(inside.text).lower()  # DE: not a transfer
    assert trail(org, "transfer.add")[-1]["outcome"] == "denied"
    no_basis = c.post("/controle/transferts", data={"csrf": token, **TRANSFER, "pays": "IN"})
    assert no_basis.status_code == 422 and "aucune décision d&#39;adéquation" in no_basis.text
    assert "Transfert n° 1" not in no_basis.text  # nothing recorded
    forged = c.post("/controle/transferts", data={"csrf": token, **TRANSFER, "pays": "IN", "base": "adequacy"})
    assert forged.status_code == 422 and "aucune décision d&#39;adéquation" in forged.text  # a claimed adequacy
    odd = c.post("/controle/transferts", data={"csrf": token, **TRANSFER, "base": "friendship"})
    assert odd.status_code == 422 and "Choisissez la base du transfert dans la liste" in html.unescape(odd.text)
    clauses = {"csrf": token, **TRANSFER, "pays": "IN", "base": "safeguards", "garantie": "scc", "distance": "1"}
    done = c.post("/controle/transferts", data=clauses)
    assert done.status_code == 303 and done.headers["location"] == "/controle/transferts#transfert-1"
    listed = html.unescape(c.get("/controle/transferts").text)
    assert "Transfert n° 1" in listed and "(accès à distance)" in listed
    assert "clauses contractuelles types" in listed and "Laboratoire fictif de Kyoto" in listed
    japan = c.post("/controle/transferts", data={"csrf": token, **TRANSFER})  # adequacy decided by the country
    assert japan.status_code == 303
    recorded = trail(org, "transfer.add")
    assert [e["outcome"] for e in recorded] == ["denied", "denied", "denied", "success", "success"]
    assert recorded[-1]["actor"] == "dr.martin" and recorded[-1]["resource_id"] == "2"
    assert c.post("/controle/transferts", data=TRANSFER).status_code in (403, 422)  # no CSRF token: refused


def test_the_transfers_register_speaks_english_when_asked(practice: Practice, org: Organisation) -> None:
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    c.cookies.set("sg_lang", "en")
    page = c.get("/controle/transferts")
    text = english(page)
    assert "Register of transfers outside the European Union" in text and "No transfer outside" in text
    assert "Determined by the country" in text and "Check and record the transfer" in text
    token = csrf(page)
    empty = c.post("/controle/transferts", data={"csrf": token, "base": "safeguards"})
    said = english(empty)
    assert empty.status_code == 422 and "The form has 5 error(s)" in said
    assert "Name the recipient" in said and "Choose the appropriate safeguard" in said
    unknown = c.post("/controle/transferts", data={"csrf": token, **TRANSFER, "pays": "Atlantide"})
    assert unknown.status_code == 422 and "This country is not recognised" in english(unknown)
    no_basis = c.post("/controle/transferts", data={"csrf": token, **TRANSFER, "pays": "IN"})
    assert no_basis.status_code == 422 and "adequacy" in english(no_basis)  # the register's refusal, in English
    clauses = {"csrf": token, **TRANSFER, "pays": "IN", "base": "safeguards", "garantie": "scc", "distance": "1"}
    assert c.post("/controle/transferts", data=clauses).status_code == 303
    assert c.post("/controle/transferts", data={"csrf": token, **TRANSFER}).status_code == 303
    listed = english(c.get("/controle/transferts"))
    assert "Transfer no. 1" in listed and "(remote access)" in listed and "Transfer no. 2  to Japan" in listed
    assert "Basis:" in listed and "Recorded on" in listed and "Laboratoire fictif de Kyoto" in listed
    c.cookies.set("sg_lang", "fr")
    assert "Registre des transferts" in c.get("/controle/transferts").text


def test_the_dpo_extends_a_deadline_once_and_rectifies_through_the_record_path(
    practice: Practice, org: Organisation
) -> None:
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    token = csrf(c.get("/controle/droits"))
    made = c.post(
        "/controle/droits",
        data={"csrf": token, "droit": "rectification", "dossier": "p-1", "demandeur": "person"},
    )
    assert made.status_code == 303, html.unescape(made.text)[:2000]
    url = made.headers["location"]
    assert "Prolonger le délai de réponse" in html.unescape(c.get(url).text)
    short = c.post(f"{url}/prolongation", data={"csrf": token, "motif": "trop"})
    assert short.status_code == 422 and "au moins 15 caractères" in html.unescape(short.text)
    reason = "Demande complexe : plusieurs dossiers à rapprocher (fictif)"
    assert c.post(f"{url}/prolongation", data={"csrf": token, "motif": reason}).status_code == 303
    extended = html.unescape(c.get(url).text)
    assert "Délai prolongé" in extended and reason in extended and "Prolonger le délai de réponse" not in extended
    again = c.post(f"{url}/prolongation", data={"csrf": token, "motif": reason})  # once only (art. 12.3)
    assert again.status_code == 409 and "déjà" in html.unescape(again.text)
    assert [e["outcome"] for e in trail(org, "rights.extend")] == ["success", "denied"]

    c.post(f"{url}/identite", data={"csrf": token, "verification": "Carte d'identité présentée au cabinet"})
    unreadable = c.post(f"{url}/execution", data={"csrf": token, "corrigee": "{poids: 60"})
    assert unreadable.status_code == 422 and "pas une ressource FHIR lisible" in html.unescape(unreadable.text)
    weight = next(r for r in chart_resources() if r["id"] == "o-1")
    other = {**weight, "subject": {"reference": "Patient/p-2"}}  # another patient's data through this request
    forged = c.post(f"{url}/execution", data={"csrf": token, "corrigee": json.dumps(other)})
    assert forged.status_code == 422 and "ne concerne pas le patient p-1" in html.unescape(forged.text)
    fixed = {**weight, "valueQuantity": {"value": 60.5, "unit": "kg"}}
    done = c.post(f"{url}/execution", data={"csrf": token, "corrigee": json.dumps(fixed)})
    assert done.status_code == 303
    answered = html.unescape(c.get(url).text)
    assert "exécutée" in answered and "Vos données ont été rectifiées (Observation/o-1, version 2)" in answered
    from identity_fixtures import NEW_PASSWORD
    from santegarde.identity import sessions

    place = practice.place
    opened = sessions.login(place.identity, "dr.martin", NEW_PASSWORD, source="t", workstation_class="office")
    sessions.second_factor(place.identity, opened.token, practice.code("dr.martin"))
    stored = place.service.read(RecordRequest(opened.token, "medical_record"), "Observation", "o-1")
    sessions.logout(place.identity, opened.token)
    assert stored["valueQuantity"]["value"] == 60.5
    assert trail(org, "rights.rectification")[-1]["outcome"] == "success"


def test_a_breach_is_assessed_its_drafts_previewed_and_its_notification_noted(
    practice: Practice, org: Organisation
) -> None:
    c = console(practice, org)
    sign_in(practice, c, "sec.durand")
    assert c.get("/controle/violations/1").status_code == 403  # the desk first, before saying whether it exists
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    token = csrf(c.get("/controle/violations"))
    c.post("/controle/violations", data={**BREACH, "csrf": token})
    assert 'href="/controle/violations/1"' in c.get("/controle/violations").text
    assert 'href="/controle/violations/1"' in c.get("/controle").text  # the dashboard leads to it too
    page = html.unescape(c.get("/controle/violations/1").text)
    assert "Délai de 72 heures" in page and "Dans les délais" in page and "Évaluer la gravité" in page
    assert c.get("/controle/violations/9").status_code == 404
    url = "/controle/violations/1/evaluation"
    odd = c.post(url, data={"csrf": token, "vraisemblance": "enorme", "gravite": "limited", "notifier": "peut-être"})
    said = html.unescape(odd.text)
    assert odd.status_code == 422 and "Choisissez la vraisemblance dans la liste" in said and "oui, non" in said
    reasoning = "Un seul destinataire, professionnel de santé tenu au secret (fictif)"
    levels = {"csrf": token, "vraisemblance": "significant", "gravite": "significant", "raisonnement": reasoning}
    short = c.post(url, data={**levels, "raisonnement": "grave"})
    assert short.status_code == 422 and "20" in html.unescape(short.text)
    overridden = c.post(url, data={**levels, "communiquer": "non"})  # the computed decision set aside, no reason
    assert overridden.status_code == 422 and "justification" in html.unescape(overridden.text).lower()
    assert not breaches.get(org.engine, 1).assessed  # nothing written by a refused assessment
    assert c.post(url, data=levels).status_code == 303
    assessed = breaches.get(org.engine, 1)
    assert assessed.notify_authority and assessed.communicate_persons and assessed.assessed_by == "dr.martin"
    page = html.unescape(c.get("/controle/violations/1").text)
    assert "risque élevé" in page and "Réviser l'évaluation" in page
    assert "frame-src 'self'" in c.get("/controle/violations/1").headers["content-security-policy"]
    draft = c.get("/controle/violations/1/notification")
    assert draft.status_code == 200 and "sandbox" in draft.headers["content-security-policy"]
    assert "CNIL" in html.unescape(draft.text)
    letter = c.get("/controle/violations/1/communication")
    assert letter.status_code == 200 and "sandbox" in letter.headers["content-security-policy"]
    assert c.get("/controle/violations/1/autre").status_code == 404
    future = (practice.place.identity.now() + timedelta(days=1)).astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")
    ahead = c.post("/controle/violations/1/notification/faite", data={"csrf": token, "le": future})
    assert ahead.status_code == 422 and "dans le futur" in html.unescape(ahead.text)
    noted = c.post("/controle/violations/1/notification/faite", data={"csrf": token, "le": ""})
    assert noted.status_code == 303 and breaches.get(org.engine, 1).notified_at is not None
    page = html.unescape(c.get("/controle/violations/1").text)
    assert "Notifiée à la CNIL" in page and "Noter : notification à la cnil (art. 33) faite" not in page
    assert [e["outcome"] for e in trail(org, "breach.assess")] == ["denied", "denied", "success"]
    assert trail(org, "breach.notified")[-1]["actor"] == "dr.martin"


def test_the_answer_letter_is_marked_sent_once_after_the_answer_and_traced(
    practice: Practice, org: Organisation
) -> None:
    assert list(rights_desk.CHANNELS) == list(LETTER_CHANNELS)  # every channel has its words
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    token = csrf(c.get("/controle/droits"))
    made = c.post(
        "/controle/droits",
        data={"csrf": token, "droit": "access", "dossier": "p-1", "demandeur": "person", "finalite": "medical_record"},
    )
    url = made.headers["location"]
    early = c.post(f"{url}/envoi", data={"csrf": token, "moyen": "post"})
    assert early.status_code == 409 and "exécutez-la d'abord" in html.unescape(early.text)
    c.post(f"{url}/identite", data={"csrf": token, "verification": "Carte d'identité présentée au cabinet"})
    c.post(f"{url}/execution", data={"csrf": token})
    page = html.unescape(c.get(url).text)
    assert "Noter la lettre comme envoyée" in page and "par messagerie sécurisée de santé" in page
    odd = c.post(f"{url}/envoi", data={"csrf": token, "moyen": "pigeon"})
    assert odd.status_code == 422 and "Choisissez dans la liste" in html.unescape(odd.text)
    assert c.post(f"{url}/envoi", data={"csrf": token, "moyen": "secure_messaging"}).status_code == 303
    page = html.unescape(c.get(url).text)
    assert "✓ Envoyée" in page and "par messagerie sécurisée de santé, par dr.martin" in page
    assert "Noter la lettre comme envoyée" not in page
    twice = c.post(f"{url}/envoi", data={"csrf": token, "moyen": "post"})
    assert twice.status_code == 409 and "déjà été envoyée" in html.unescape(twice.text)
    number = int(url.rsplit("/", 1)[1])
    sent = practice.rights.register.get(number) if practice.rights else None
    assert sent is not None and sent.letter_channel == "secure_messaging" and sent.letter_sent_by == "dr.martin"
    assert [e["outcome"] for e in trail(org, "rights.letter_sent")] == ["denied", "success", "denied"]


def test_the_yearly_access_review_is_run_at_the_desk_and_unconfirmed_grants_end(
    practice: Practice, org: Organisation
) -> None:
    from santegarde.identity import grants

    c = console(practice, org)
    sign_in(practice, c, "sec.durand")
    assert c.get("/controle/habilitations").status_code == 403
    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    assert 'href="/controle/habilitations"' in c.get("/controle").text
    page = c.get("/controle/habilitations")
    assert page.status_code == 200
    assert "Aucune revue des habilitations n'a encore été faite" in html.unescape(page.text)
    token = csrf(page)
    assert c.post("/controle/habilitations", data={"csrf": token}).status_code == 303
    opened = html.unescape(c.get("/controle/habilitations").text)
    assert "Revue n° 1, ouverte le" in opened and "3 à décider" in opened and "dr.martin (vous)" in opened
    assert "secrétariat" in opened.lower()  # the profile by its name
    again = c.post("/controle/habilitations", data={"csrf": token})
    assert again.status_code == 409 and "déjà ouverte" in html.unescape(again.text)
    by_login = {g.login: g.id for g in grants.all_grants(practice.place.identity) if g.login != "admin"}
    mine, secretary = by_login["dr.martin"], by_login["sec.durand"]
    assert c.post(f"/controle/habilitations/1/{mine}/confirmer", data={"csrf": token}).status_code == 303
    assert c.post(f"/controle/habilitations/1/{secretary}/peut-etre", data={"csrf": token}).status_code == 404
    assert c.post(f"/controle/habilitations/1/{secretary}/retirer", data={"csrf": token}).status_code == 303
    assert c.post("/controle/habilitations/1/999/confirmer", data={"csrf": token}).status_code == 409
    assert c.post("/controle/habilitations/1/cloture", data={"csrf": token}).status_code == 303  # dr.autre ends
    closed = html.unescape(c.get("/controle/habilitations").text)
    assert "close le" in closed and "1 confirmée(s), 2 retirée(s)" in closed
    assert c.post("/controle/habilitations/1/cloture", data={"csrf": token}).status_code == 409
    now = practice.place.identity.now()
    active = {g.login for g in grants.all_grants(practice.place.identity) if g.active(now)}
    assert "dr.martin" in active and "sec.durand" not in active and "dr.autre" not in active
    assert [e["actor"] for e in trail(org, "desk.controller.access_review.decide")] == ["dr.martin"] * 4


def test_the_access_rights_review_speaks_english_when_asked(practice: Practice, org: Organisation) -> None:
    from santegarde.identity import grants

    c = console(practice, org)
    sign_in(practice, c, "dr.martin")
    c.cookies.set("sg_lang", "en")
    page = c.get("/controle/habilitations")
    assert "No access rights review has been done yet." in english(page)
    token = csrf(page)
    assert c.post("/controle/habilitations", data={"csrf": token}).status_code == 303
    opened = english(c.get("/controle/habilitations"))
    assert "Review no. 1, opened on" in opened and "3 to decide" in opened and "dr.martin (you)" in opened
    assert (
        "Confirm access right no." in opened and "Close review no. 1 (3 unconfirmed access right(s) will end)" in opened
    )
    again = c.post("/controle/habilitations", data={"csrf": token})
    assert again.status_code == 409 and "An access rights review is already open" in english(again)
    by_login = {g.login: g.id for g in grants.all_grants(practice.place.identity) if g.login != "admin"}
    assert (
        c.post(f"/controle/habilitations/1/{by_login['sec.durand']}/peut-etre", data={"csrf": token}).status_code == 404
    )
    assert (
        c.post(f"/controle/habilitations/1/{by_login['dr.martin']}/confirmer", data={"csrf": token}).status_code == 303
    )
    assert c.post("/controle/habilitations/1/cloture", data={"csrf": token}).status_code == 303
    closed = english(c.get("/controle/habilitations"))
    assert "Last review: no. 1, closed on" in closed and "(1 confirmed, 2 withdrawn)" in closed
