"""The web console through the one path: sign-in, lock screen, search, chart, refusal, break-the-glass; its headers,
CSRF, French pages; and a walk of every route it registers (each calls the store service or reaches no record)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from identity_fixtures import NEW_PASSWORD
from santegarde.identity import accounts, grants
from santegarde.identity.oidc import OidcSettings, ProSanteConnect
from santegarde.pharmacy import PharmacyRegister
from santegarde.store.service import RecordService
from santegarde.web import create_console
from santegarde.web.pages import TAG, reach_of, router
from santegarde.web.render import Renderer
from web_fixtures import CSRF, Practice, make_pharmacy, make_practice


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = make_practice(tmp_path)
    yield p
    p.close()


def browser(practice: Practice) -> TestClient:
    app = create_console(
        practice.place.identity,
        records=practice.place.service,
        compassionate=practice.compassionate,
        platform_notice=practice.notice,
        rights=practice.rights,
        organisation_name="Organisation fictive",
    )
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def csrf(page: Any) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


def sign_in(practice: Practice, c: TestClient, login: str) -> None:
    token = csrf(c.get("/connexion"))
    answer = c.post("/connexion", data={"csrf": token, "login": login, "password": NEW_PASSWORD})
    assert answer.status_code == 303 and answer.headers["location"] == "/connexion/code"
    answer = c.post("/connexion/code", data={"csrf": token, "code": practice.code(login)})
    assert answer.status_code == 303 and answer.headers["location"] == "/accueil"


def signed_in(practice: Practice, login: str) -> tuple[TestClient, str]:
    """A browser signed in as ``login`` (every step done), and the CSRF token of its home page."""
    c = browser(practice)
    sign_in(practice, c, login)
    return c, csrf(c.get("/accueil"))


def words(page: Any) -> str:
    """The page's HTML with its entities read (``d'accès`` rather than ``d&#39;accès``)."""
    return html.unescape(page.text)


def error_of(page: Any, field: str) -> str:
    """The French sentence drawn next to a form's field."""
    found = re.search(rf'<span id="{field}-erreur" class="champ-erreur">([^<]*)</span>', page.text)
    assert found, f"no error next to {field}: {words(page)[:3000]}"
    return html.unescape(found.group(1))


def test_sign_in_with_totp_headers_and_cookies(practice: Practice) -> None:
    c = browser(practice)
    page = c.get("/connexion")
    assert page.status_code == 200 and '<html lang="fr">' in page.text and "Identifiant" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "<script>" not in page.text and " style=" not in page.text  # no inline script or style
    cookie = page.headers["set-cookie"].lower()
    assert "sg_csrf=" in cookie and "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    token = csrf(page)
    signed = c.post("/connexion", data={"csrf": token, "login": "dr.martin", "password": NEW_PASSWORD})
    session_cookie = signed.headers["set-cookie"].lower()
    assert "sg_session=" in session_cookie and "secure" in session_cookie and "samesite=strict" in session_cookie
    assert c.get("/accueil").headers["location"] == "/connexion/code"  # no data before the second factor
    wrong = c.post("/connexion/code", data={"csrf": token, "code": "000000"})
    assert wrong.status_code == 401 and "Code refusé" in wrong.text
    c.post("/connexion/code", data={"csrf": token, "code": practice.code("dr.martin")})
    desk = c.get("/accueil")
    assert desk.status_code == 200 and "Rechercher un patient" in desk.text
    out = c.post("/deconnexion", data={"csrf": token})
    assert out.headers["location"] == "/connexion?fin=1"
    assert c.get("/accueil").headers["location"] == "/connexion"


def test_lockout_message_does_not_reveal_whether_a_login_exists(practice: Practice) -> None:
    c = browser(practice)
    token = csrf(c.get("/connexion"))
    known = c.post("/connexion", data={"csrf": token, "login": "dr.martin", "password": "faux-mot-de-passe"})
    unknown = c.post("/connexion", data={"csrf": token, "login": "personne.inconnue", "password": "faux"})
    assert known.status_code == unknown.status_code == 401
    message = "L&#39;identifiant ou le mot de passe n&#39;est pas correct."
    assert message in known.text and message in unknown.text
    for _ in range(10):
        last = c.post("/connexion", data={"csrf": token, "login": "personne.inconnue", "password": "faux"})
    assert last.status_code == 429 and "ce poste ou pour cet identifiant" in last.text


def test_forms_without_the_csrf_token_are_refused(practice: Practice) -> None:
    c = browser(practice)
    csrf(c.get("/connexion"))
    refused = c.post("/connexion", data={"csrf": "0" * 64, "login": "dr.martin", "password": NEW_PASSWORD})
    assert (
        refused.status_code == 403
        and "Formulaire expiré" in refused.text
        and "sg_session" not in str(refused.headers.get("set-cookie", ""))
    )
    foreign = c.post(
        "/connexion",
        data={"csrf": csrf(c.get("/connexion")), "login": "dr.martin", "password": NEW_PASSWORD},
        headers={"Origin": "https://ailleurs.example"},
    )
    assert foreign.status_code == 403 and "Envoi refusé" in foreign.text and '<html lang="fr">' in foreign.text
    other = browser(practice)  # another browser's token is not this one's
    stolen = csrf(c.get("/connexion"))
    assert other.post("/connexion", data={"csrf": stolen, "login": "x", "password": "y"}).status_code == 403


def test_lock_screen_after_inactivity_keeps_the_page(practice: Practice) -> None:
    c = browser(practice)
    sign_in(practice, c, "dr.martin")
    token = csrf(c.get("/accueil"))
    practice.place.clock.advance(minutes=16)  # the office limit is 15 minutes: the clock moves, nobody waits
    locked = c.get("/patients/p-1")
    assert locked.status_code == 423 and "Session verrouillée" in locked.text
    assert 'name="suite" value="/patients/p-1"' in locked.text
    bad = c.post("/deverrouiller", data={"csrf": token, "password": "pas-le-bon", "suite": "/patients/p-1"})
    assert bad.status_code == 423 and "n&#39;est pas correct" in bad.text
    back = c.post("/deverrouiller", data={"csrf": token, "password": NEW_PASSWORD, "suite": "/patients/p-1"})
    assert back.headers["location"] == "/patients/p-1"
    assert "61,5 kg" in c.get("/patients/p-1").text
    away = c.post("/deverrouiller", data={"csrf": token, "password": NEW_PASSWORD, "suite": "//ailleurs.example"})
    assert away.headers["location"] == "/accueil"


def test_the_lock_screen_keeps_what_the_page_showed(practice: Practice) -> None:
    """A page shown comes back whole (the day and week of the book); a form sent comes back to its page."""
    c = browser(practice)
    sign_in(practice, c, "sec.durand")
    token = csrf(c.get("/accueil"))
    practice.place.clock.advance(minutes=16)
    locked = c.get("/rendez-vous?jour=2026-12-08&vue=semaine")
    assert locked.status_code == 423 and 'value="/rendez-vous?jour=2026-12-08&amp;vue=semaine"' in locked.text
    sent = c.post("/rendez-vous/nouveau/p-1?x=1", data={"csrf": token, "jour": "2026-12-08"})
    assert sent.status_code == 423 and 'name="suite" value="/rendez-vous/nouveau/p-1"' in sent.text, sent.text[-2000:]


def test_physician_searches_reads_the_chart_in_french(practice: Practice) -> None:
    c = browser(practice)
    sign_in(practice, c, "dr.martin")
    token = csrf(c.get("/accueil"))
    found = c.post("/patients/recherche", data={"csrf": token, "nom": "Fictivé"})
    assert found.status_code == 200 and "21 mars 1979" in found.text and 'href="/patients/p-1"' in found.text
    partial = c.post(
        "/patients/recherche", data={"csrf": token, "ins": "279035121518989"}, headers={"HX-Request": "true"}
    )
    assert "<html" not in partial.text and "Fictivé" in partial.text
    empty = c.post("/patients/recherche", data={"csrf": token})
    assert "Renseignez au moins un critère" in empty.text
    chart = c.get("/patients/p-1")
    assert chart.status_code == 200
    for text in ("Alix", "61,5 kg", "4 décembre 2026", "Diabète de type 2", "Metformine", "Poids", "féminin"):
        assert text in chart.text
    assert "Fictivé" not in c.get("/patients/p-1").url.path
    missing = c.get("/patients/p-404")
    assert missing.status_code == 404 and "Dossier introuvable" in missing.text and "Traceback" not in missing.text
    assert c.get("/nulle-part").status_code == 404


def test_secretary_is_refused_the_chart_with_the_rule(practice: Practice) -> None:
    c = browser(practice)
    sign_in(practice, c, "sec.durand")
    token = csrf(c.get("/accueil"))
    found = c.post("/patients/recherche", data={"csrf": token, "nom": "Fictivé"})
    assert "Fictivé" in found.text  # the secretariat sees identity (appointments)
    refused = c.get("/patients/p-1")
    assert refused.status_code == 403 and "Accès refusé" in refused.text and "Règle appliquée" in refused.text
    assert "61,5" not in refused.text and "bris de glace" not in refused.text.lower()


def test_physician_without_care_breaks_the_glass_with_a_written_reason(practice: Practice) -> None:
    c = browser(practice)
    sign_in(practice, c, "dr.autre")
    token = csrf(c.get("/accueil"))
    refused = c.get("/patients/p-1")
    assert refused.status_code == 403 and "Pas de relation de soin" in refused.text
    assert "care_relationship" in refused.text and "61,5" not in refused.text
    short = c.post("/patients/p-1/bris-de-glace", data={"csrf": token, "raison": "urgence"})
    assert short.status_code == 403 and "au moins 15 caractères" in short.text and "61,5" not in short.text
    opened = c.post("/patients/p-1/bris-de-glace", data={"csrf": token, "raison": "patient inconscient aux urgences"})
    assert opened.status_code == 200 and "61,5 kg" in opened.text and "bris de glace" in opened.text


# Each route of web/ with a request that reaches it as a signed-in physician would.
SAMPLES: dict[tuple[str, str], tuple[str, dict[str, str]]] = {
    ("GET", "/"): ("/", {}),
    ("GET", "/connexion"): ("/connexion", {}),
    ("POST", "/connexion"): ("/connexion", {"login": "x", "password": "y"}),
    ("GET", "/connexion/code"): ("/connexion/code", {}),
    ("POST", "/connexion/code"): ("/connexion/code", {"code": "000000"}),
    ("GET", "/connexion/enrolement"): ("/connexion/enrolement", {}),
    ("POST", "/connexion/enrolement"): ("/connexion/enrolement", {"secret": "JBSWY3DPEHPK3PXP", "code": "000000"}),
    ("GET", "/connexion/mot-de-passe"): ("/connexion/mot-de-passe", {}),
    ("POST", "/connexion/mot-de-passe"): (
        "/connexion/mot-de-passe",
        {"actuel": "a", "nouveau": "b", "confirmation": "c"},
    ),
    ("GET", "/connexion/charte"): ("/connexion/charte", {}),
    ("POST", "/connexion/charte"): ("/connexion/charte", {"version": "1"}),
    ("GET", "/connexion/profil"): ("/connexion/profil", {}),
    ("POST", "/connexion/profil"): ("/connexion/profil", {"profil": "practitioner"}),
    ("POST", "/deverrouiller"): ("/deverrouiller", {"password": "faux"}),
    ("GET", "/accueil"): ("/accueil", {}),
    ("POST", "/patients/recherche"): ("/patients/recherche", {"nom": "Fictivé"}),
    ("GET", "/patients/{pid}"): ("/patients/p-1", {}),
    ("POST", "/patients/{pid}/bris-de-glace"): (
        "/patients/p-1/bris-de-glace",
        {"raison": "patient inconscient, urgence"},
    ),
    ("POST", "/langue"): ("/langue", {"langue": "fr", "suite": "/accueil"}),
    ("POST", "/deconnexion"): ("/deconnexion", {}),
}
# The record screens beside the chart (not in a pharmacy, which keeps no chart).
RECORD_SAMPLES: dict[tuple[str, str], tuple[str, dict[str, str]]] = {
    ("GET", "/patients/{pid}/identite"): ("/patients/p-1/identite", {}),
    ("POST", "/patients/{pid}/identite"): (
        "/patients/p-1/identite",
        {"nom": "Fictivé", "prenoms": "Alix", "naissance": "21/03/1979", "sexe": "female"},
    ),
    ("GET", "/patients/{pid}/historique"): ("/patients/p-1/historique", {}),
    ("POST", "/patients/{pid}/relation-de-soin"): ("/patients/p-1/relation-de-soin", {"motif": "consultation"}),
}
# The consent form, where the référentiel collects a category only with consent (a practice).
CONSENT_SAMPLES: dict[tuple[str, str], tuple[str, dict[str, str]]] = {
    ("GET", "/patients/{pid}/consentement"): ("/patients/p-1/consentement", {}),
    ("POST", "/patients/{pid}/consentement"): (
        "/patients/p-1/consentement",
        {"categorie": "lifestyle", "finalite": "medical_record"},
    ),
    ("POST", "/patients/{pid}/consentement/{cid}/retrait"): ("/patients/p-1/consentement/inconnu-1/retrait", {}),
}
# The rights desk, where the console has the rights service (a practice).
RIGHTS_SAMPLES: dict[tuple[str, str], tuple[str, dict[str, str]]] = {
    ("GET", "/patients/{pid}/droits"): ("/patients/p-1/droits", {}),
    ("POST", "/patients/{pid}/droits"): ("/patients/p-1/droits", {"droit": "access", "demandeur": "person"}),
}
# The appointment book, where the référentiel has the purpose (a practice).
BOOK_SAMPLES: dict[tuple[str, str], tuple[str, dict[str, str]]] = {
    ("GET", "/rendez-vous"): ("/rendez-vous?jour=2026-12-08&vue=semaine", {}),
    ("GET", "/rendez-vous/nouveau/{pid}"): ("/rendez-vous/nouveau/p-1", {}),
    ("POST", "/rendez-vous/nouveau/{pid}"): (
        "/rendez-vous/nouveau/p-1",
        {"jour": "2026-12-08", "heure": "14:30", "duree": "20", "praticien": "dr.martin"},
    ),
    ("GET", "/rendez-vous/{aid}/deplacer"): ("/rendez-vous/inconnu-1/deplacer", {}),
    ("POST", "/rendez-vous/{aid}/deplacer"): (
        "/rendez-vous/inconnu-1/deplacer",
        {"jour": "2026-12-09", "heure": "9:00", "duree": "20", "praticien": "dr.martin"},
    ),
    ("POST", "/rendez-vous/{aid}/annulation"): ("/rendez-vous/inconnu-1/annulation", {}),
}
READS_AND_WRITES = ("read", "search", "create", "update", "freeze", "history", "patient_records", "declare_care")
SERVICE_METHODS = [
    name for name in vars(RecordService) if not name.startswith("_") and callable(getattr(RecordService, name))
]


def walk(practice: Practice, samples: dict[tuple[str, str], tuple[str, dict[str, str]]], login: str) -> None:
    """Call every console route as ``login`` would; each reaching records must call RecordService, others none."""
    calls: list[str] = []
    service = practice.place.service
    for name in SERVICE_METHODS:
        method = getattr(service, name)

        def spy(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            calls.append(_name)
            return _method(*args, **kwargs)

        setattr(service, name, spy)
    c = browser(practice)
    console = router(
        practice.place.identity,
        service,
        Renderer(practice.place.identity.referential),
        compassionate=practice.compassionate,
        platform_notice=practice.notice,
        rights=practice.rights,
    )
    assert all(TAG in route.tags for route in console.routes)  # type: ignore[attr-defined]
    reaches = {(m, route.path): reach_of(route) for route in console.routes for m in route.methods}  # type: ignore[attr-defined]
    assert set(reaches) == set(samples), "every console route has a sample request here"
    sign_in(practice, c, login)
    token = csrf(c.get("/accueil"))
    for key, reach in sorted(reaches.items(), key=lambda item: item[0] == ("POST", "/deconnexion")):
        method, _ = key
        url, form = samples[key]
        calls.clear()
        answer = c.request(method, url, data={"csrf": token, **form} if method == "POST" else None)
        assert answer.status_code < 500, (key, answer.text[:300])
        if reach == "records":
            assert set(READS_AND_WRITES) & set(calls), f"{key} reaches records without RecordService"
        else:
            assert reach == "public" and not calls, f"{key} is public but called {calls}"
    assert set(reaches.values()) == {"records", "public"}


def test_every_web_route_calls_the_store_service_or_is_public(practice: Practice) -> None:
    walk(practice, {**SAMPLES, **RECORD_SAMPLES, **BOOK_SAMPLES, **RIGHTS_SAMPLES, **CONSENT_SAMPLES}, "dr.martin")


def test_every_pharmacy_route_calls_the_store_service_or_is_public(tmp_path: Path) -> None:
    pharmacy = make_pharmacy(tmp_path)
    try:
        samples = {
            **SAMPLES,
            ("GET", "/pharmacie/delivrance/{pid}"): ("/pharmacie/delivrance/p-1", {}),
            ("POST", "/pharmacie/delivrance/{pid}"): ("/pharmacie/delivrance/p-1", DISPENSING),
            ("GET", "/pharmacie/registres"): ("/pharmacie/registres?registre=prescription_book", {}),
            ("GET", "/pharmacie/registres/pdf"): ("/pharmacie/registres/pdf?registre=prescription_book", {}),
            ("POST", "/pharmacie/registres/validation"): (
                "/pharmacie/registres/validation",
                {"registre": "prescription_book", "du": "2026-11-01", "au": "2026-11-30"},
            ),
        }
        walk(pharmacy, samples, "ph.durand")
    finally:
        pharmacy.close()


DISPENSING = {
    "classe": "list_i",
    "code": "3400930000001",
    "produit": "Produit fictif 10 mg",
    "quantite": "2",
    "unite": "boîte",
    "rpps": "10001234565",
    "prescripteur": "Dr Prescriptrice Fictive",
}


def test_pharmacist_enters_a_dispensing_numbered_in_the_prescription_book(tmp_path: Path) -> None:
    pharmacy = make_pharmacy(tmp_path)
    try:
        c = browser(pharmacy)
        sign_in(pharmacy, c, "ph.durand")
        token = csrf(c.get("/accueil"))
        found = c.post("/patients/recherche", data={"csrf": token, "nom": "Fictivé"})
        assert 'href="/pharmacie/delivrance/p-1"' in found.text and "Saisir une délivrance" in found.text
        form = c.get("/pharmacie/delivrance/p-1")
        assert form.status_code == 200 and "Liste I" in form.text and "Stupéfiant" in form.text
        wrong = c.post(
            "/pharmacie/delivrance/p-1",
            data={"csrf": token, **DISPENSING, "code": "34009", "quantite": "deux", "rpps": "10001234566"},
        )
        assert wrong.status_code == 422 and "les 3 champs signalés" in wrong.text
        assert 'id="code-erreur"' in wrong.text and "13 chiffres" in wrong.text
        assert 'id="quantite-erreur"' in wrong.text and 'id="rpps-erreur"' in wrong.text
        assert 'value="Produit fictif 10 mg"' in wrong.text  # what was typed is kept
        first = c.post("/pharmacie/delivrance/p-1", data={"csrf": token, **DISPENSING})
        assert first.status_code == 200 and "n° 1" in first.text and "l&#39;ordonnancier" in first.text
        second = c.post("/pharmacie/delivrance/p-1", data={"csrf": token, **DISPENSING, "quantite": "1,5"})
        assert "n° 2" in second.text and "25 novembre 2026" in second.text
        entries = PharmacyRegister(pharmacy.place.service).entries("prescription_book")
        assert [e.number for e in entries] == [1, 2] and {e.entered_by for e in entries} == {"ph.durand"}
    finally:
        pharmacy.close()


def test_first_sign_in_enrols_totp_changes_the_password_accepts_the_charter_and_chooses_a_profile(
    practice: Practice,
) -> None:
    ctx = practice.place.identity
    _, temporary = accounts.add(ctx, "dr.neuf", "Dr Neuf", person_ref="10009999999", by="admin")
    assert temporary
    for profile, until in (("practitioner", None), ("replacement_practitioner", ctx.now() + timedelta(days=30))):
        grants.give(
            ctx,
            "dr.neuf",
            profile,
            validated_by="Responsable",
            validator_role="governance_body",
            reason="new staff",
            by="admin",
            ends_at=until,
        )
    c = browser(practice)
    token = csrf(c.get("/connexion"))
    signed = c.post("/connexion", data={"csrf": token, "login": "dr.neuf", "password": temporary})
    assert signed.headers["location"] == "/connexion/code"
    no_app = c.post("/connexion/code", data={"csrf": token, "code": "123456"})
    assert no_app.headers["location"] == "/connexion/enrolement"  # nothing enrolled yet: enrol first
    enrol = c.get("/connexion/enrolement")
    assert 'src="data:image/svg+xml;base64,' in enrol.text and "Code QR" in enrol.text
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', enrol.text)
    assert secret
    wrong = c.post("/connexion/enrolement", data={"csrf": token, "secret": secret.group(1), "code": "000000"})
    assert wrong.status_code == 401 and "Code refusé" in wrong.text
    codes = c.post(
        "/connexion/enrolement",
        data={"csrf": token, "secret": secret.group(1), "code": pyotp.TOTP(secret.group(1)).at(ctx.now())},
    )
    assert codes.status_code == 200 and "Codes de secours" in codes.text and codes.text.count("<li><code>") == 10
    assert c.get("/accueil").headers["location"] == "/connexion/mot-de-passe"  # the reset password goes first
    mismatch = c.post(
        "/connexion/mot-de-passe",
        data={"csrf": token, "actuel": temporary, "nouveau": NEW_PASSWORD, "confirmation": NEW_PASSWORD + "x"},
    )
    assert mismatch.status_code == 422 and "Les deux saisies diffèrent" in mismatch.text
    weak = c.post(
        "/connexion/mot-de-passe", data={"csrf": token, "actuel": temporary, "nouveau": "abc", "confirmation": "abc"}
    )
    assert weak.status_code == 422 and "Mot de passe trop faible" in weak.text
    changed = c.post(
        "/connexion/mot-de-passe",
        data={"csrf": token, "actuel": temporary, "nouveau": NEW_PASSWORD, "confirmation": NEW_PASSWORD},
    )
    assert changed.headers["location"] == "/connexion/charte"
    charter = c.get("/connexion/charte")
    assert "J'ai lu la charte" in words(charter)
    accepted = c.post("/connexion/charte", data={"csrf": token, "version": ctx.settings.charter_version})
    assert accepted.headers["location"] == "/connexion/profil"
    choice = c.get("/connexion/profil")
    assert choice.text.count('type="radio"') == 2
    refused = c.post("/connexion/profil", data={"csrf": token, "profil": "secretariat"})
    assert refused.headers["location"] == "/connexion/profil"  # a profile not held is not chosen
    chosen = c.post("/connexion/profil", data={"csrf": token, "profil": "replacement_practitioner"})
    assert chosen.headers["location"] == "/accueil"
    desk = c.get("/accueil")
    assert desk.status_code == 200 and "dr.neuf" in desk.text


def test_htmx_parts_are_drawn_in_place_or_reload_on_the_lock_screen(practice: Practice) -> None:
    c = browser(practice)
    sign_in(practice, c, "sec.durand")
    token = csrf(c.get("/accueil"))
    htmx = {"HX-Request": "true"}
    refused = c.post("/patients/recherche", data={"csrf": "0" * 64, "nom": "Fictivé"}, headers=htmx)
    assert refused.status_code == 200 and refused.headers["X-Santegarde-Status"] == "403"
    assert "Ce formulaire ne provient pas" in refused.text and "<html" not in refused.text
    practice.place.clock.advance(minutes=16)
    locked = c.post("/patients/recherche", data={"csrf": token, "nom": "Fictivé"}, headers=htmx)
    assert locked.headers["HX-Refresh"] == "true" and "Fictivé" not in locked.text
    assert c.get("/accueil").status_code == 423
    out = browser(practice)
    stale = csrf(out.get("/connexion"))
    gone = out.post("/patients/recherche", data={"csrf": stale, "nom": "Fictivé"}, headers=htmx)
    assert gone.headers["HX-Redirect"] == "/connexion"


def test_pro_sante_connect_button_only_where_it_is_configured(practice: Practice) -> None:
    assert "Pro Santé Connect" not in browser(practice).get("/connexion").text
    psc = ProSanteConnect(OidcSettings("https://psc.example", "cabinet", "secret-fictif", "https://cabinet.example/cb"))
    app = create_console(practice.place.identity, records=practice.place.service, psc=psc)
    page = TestClient(app, base_url="https://testserver").get("/connexion")
    assert 'href="/auth/psc/start"' in page.text and "Se connecter avec Pro Santé Connect" in page.text


def test_the_chart_shows_the_patients_consents_and_objections(practice: Practice) -> None:
    """Issue 23: the chart says which objections are in force (and which were lifted), in French, read through the
    path; a profile that may not read them gets a sentence, not a failed chart."""
    from santegarde.identity import sessions
    from santegarde.store.service import Request as RecordRequest

    ctx = practice.place.identity
    opened = sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    sessions.second_factor(ctx, opened.token, practice.code("dr.martin"))
    token = sessions.rotate(ctx, opened.token)
    practice.place.service.record_objection(RecordRequest(token, "appointments"), "p-1", "appointments")
    sessions.logout(ctx, token)

    c = browser(practice)
    sign_in(practice, c, "dr.martin")
    chart = c.get("/patients/p-1")
    assert chart.status_code == 200 and "Consentements et oppositions" in chart.text
    assert "Opposition à « Gestion des rendez-vous »" in chart.text and "en vigueur" in chart.text
    assert "Aucun consentement enregistré." in chart.text
    assert "appointments" not in chart.text  # the purpose in words, never its identifier
