"""The web console in a real browser: Debian's Chromium driven by Playwright (never a browser download).

Sign-in with TOTP, a secretary refused a chart, a physician breaking the glass; axe-core (the npm package installed by
scripts/bootstrap) is run in every page reached and must report no serious or critical violation; each test saves a
screenshot of its final page under its tmp dir. Skipped only where Chromium or axe-core is missing, except under
CI=true, where a missing piece fails the run.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from identity_fixtures import NEW_PASSWORD
from santegarde.web import create_console
from web_fixtures import Practice, make_compassionate, make_pharmacy, make_practice

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# The one Chromium of the session is conftest.py's ``chromium`` fixture (several modules drive it; a fixture imported
# into two modules would start Playwright twice).


class Served:
    """The console of a practice served by uvicorn on a free port of the loopback, in a thread."""

    def __init__(self, practice: Practice, **console: Any) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        console = {
            "compassionate": practice.compassionate,
            "platform_notice": practice.notice,
            "rights": practice.rights,
            **console,
        }
        app = create_console(practice.place.identity, records=practice.place.service, **console)
        self.app = app  # its routes: the pages every-page test reads them
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the console did not start"
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Practice, Served]]:
    name = request.node.name
    make = make_pharmacy if "pharmacist" in name else make_compassionate if "prescriber" in name else make_practice
    practice = make(tmp_path)
    server = Served(practice)
    yield practice, server
    server.stop()
    practice.close()


@pytest.fixture
def page(chromium: Any, served: tuple[Practice, Served]) -> Iterator[Any]:
    context = chromium.new_context(locale="fr-FR")
    page = context.new_page()
    errors: list[str] = []
    # A refusal page answers 401/403 on purpose (the browser logs it as a failed load): not an error of the page.
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error"
            and not m.text.startswith("Failed to load resource: the server responded with a status of 4")
            else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.console_errors = errors
    yield page
    context.close()


def axe(page: Any) -> None:
    """axe-core in the page (evaluated through the driver: the console's CSP allows no injected script tag)."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => (await axe.run(document, {runOnly: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help}))"
    )
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not serious, f"axe-core on {page.url}: {serious}"


def shot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / "screenshots" / f"{name}.png"
    path.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path


def sign_in(page: Any, practice: Practice, server: Served, login: str) -> None:
    page.goto(server.url + "/")
    assert page.url.endswith("/connexion")
    axe(page)
    page.get_by_label("Identifiant").fill(login)
    page.get_by_label("Mot de passe").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/connexion/code")
    axe(page)
    page.get_by_label("Code à six chiffres").fill(practice.code(login))
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url("**/accueil")
    axe(page)


def test_sign_in_with_totp_then_sign_out(page: Any, served: tuple[Practice, Served], tmp_path: Path) -> None:
    practice, server = served
    page.goto(server.url + "/connexion")
    page.get_by_label("Identifiant").fill("dr.martin")
    page.get_by_label("Mot de passe").fill("pas-le-bon-mot-de-passe")
    page.get_by_role("button", name="Se connecter").click()
    assert "L'identifiant ou le mot de passe n'est pas correct." in page.locator("[role=alert]").inner_text()
    axe(page)
    sign_in(page, practice, server, "dr.martin")
    assert page.get_by_role("heading", level=1).inner_text() == "Rechercher un patient"
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["sg_session"]["httpOnly"] and cookies["sg_session"]["sameSite"] == "Strict"
    assert cookies["sg_session"]["secure"]
    shot(page, tmp_path, "accueil")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion?fin=1")
    assert "Vous êtes déconnecté." in page.inner_text("main")
    assert not page.console_errors, page.console_errors  # no CSP violation, no script error


def test_secretary_is_refused_a_chart(page: Any, served: tuple[Practice, Served], tmp_path: Path) -> None:
    practice, server = served
    sign_in(page, practice, server, "sec.durand")
    page.get_by_label("Nom", exact=True).fill("Fictivé")
    page.get_by_role("button", name="Rechercher").click()  # htmx: the results come in place
    link = page.get_by_role("link", name="Ouvrir le dossier de Alix Fictivé")
    link.wait_for()
    assert page.url.endswith("/accueil")  # the search went by POST through htmx: nothing personal in the URL
    axe(page)
    link.click()
    page.wait_for_url("**/patients/p-1")
    assert page.get_by_role("heading", level=1).inner_text() == "Accès refusé"
    assert "accessors.secretariat" in page.inner_text("main") and "61,5" not in page.content()
    axe(page)
    shot(page, tmp_path, "secretariat-refuse")
    assert not page.console_errors, page.console_errors


def test_physician_reads_a_chart_and_breaks_the_glass(
    page: Any, served: tuple[Practice, Served], tmp_path: Path
) -> None:
    practice, server = served
    sign_in(page, practice, server, "dr.autre")
    page.goto(server.url + "/patients/p-1")
    assert page.get_by_role("heading", level=1).inner_text() == "Pas de relation de soin"
    axe(page)
    page.get_by_label("Raison de l'accès d'urgence").fill("Patiente inconsciente aux urgences, allergies à vérifier")
    page.get_by_role("button", name="Ouvrir le dossier en bris de glace").click()
    page.wait_for_url("**/patients/p-1/bris-de-glace")
    assert page.get_by_role("heading", level=1).inner_text() == "Dossier de Alix Fictivé"
    main = page.inner_text("main")
    for text in ("bris de glace", "21 mars 1979", "61,5 kg", "4 décembre 2026", "Diabète de type 2", "Metformine"):
        assert text in main
    axe(page)
    shot(page, tmp_path, "bris-de-glace")
    assert not page.console_errors, page.console_errors


def test_pharmacist_enters_a_dispensing(page: Any, served: tuple[Practice, Served], tmp_path: Path) -> None:
    practice, server = served
    sign_in(page, practice, server, "ph.durand")
    page.get_by_label("Nom", exact=True).fill("Fictivé")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_role("link", name="Saisir une délivrance pour Alix Fictivé").click()
    page.wait_for_url("**/pharmacie/delivrance/p-1")
    axe(page)
    page.get_by_label("Catégorie du produit").select_option("list_i")
    page.get_by_label("Code CIP du produit").fill("34009")
    page.get_by_label("Nom du produit").fill("Produit fictif 10 mg")
    page.get_by_label("Quantité").fill("2")
    page.get_by_role("button", name="Enregistrer la délivrance").click()
    error = page.locator("#code-erreur")
    error.wait_for()
    assert "13 chiffres" in error.inner_text()
    assert page.get_by_label("Code CIP du produit").get_attribute("aria-invalid") == "true"
    axe(page)
    page.get_by_label("Code CIP du produit").fill("3400930000001")
    page.get_by_role("button", name="Enregistrer la délivrance").click()
    page.get_by_role("heading", name="Délivrance enregistrée").wait_for()
    assert "n° 1" in page.inner_text("main")
    axe(page)
    shot(page, tmp_path, "delivrance")
    page.get_by_role("link", name="Registres").click()
    page.wait_for_url("**/pharmacie/registres")
    assert "1 inscription de cette période est à valider" in page.inner_text("main")
    page.get_by_role("button", name="Valider et figer la période").click()
    page.locator("p.info").wait_for()
    assert "1 inscription(s) validée(s) et figée(s)" in page.inner_text("main")
    assert "validée" in page.inner_text("table") and "à valider" not in page.inner_text("table")
    axe(page)
    shot(page, tmp_path, "registre-valide")
    assert not page.console_errors, page.console_errors


def tab_to(page: Any, selector: str, limit: int = 15) -> None:
    """Press Tab until ``selector`` has the focus (as a keyboard user would), and check the focus is visible."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
            assert outline not in ("", "none"), f"no visible focus on {selector}"
            return
    raise AssertionError(f"{selector} is not reachable with the Tab key from {page.url}")


def test_keyboard_only_sign_in_search_and_chart(page: Any, served: tuple[Practice, Served], tmp_path: Path) -> None:
    practice, server = served
    page.goto(server.url + "/connexion")
    tab_to(page, "a.evitement")  # the skip link comes first
    tab_to(page, "#login")
    page.keyboard.type("dr.martin")
    tab_to(page, "#password")
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/connexion/code")
    tab_to(page, "#code")
    page.keyboard.type(practice.code("dr.martin"))
    page.keyboard.press("Enter")
    page.wait_for_url("**/accueil")
    tab_to(page, "#nom")
    page.keyboard.type("Fictivé")
    page.keyboard.press("Enter")
    page.locator("#resultats a").first.wait_for()
    tab_to(page, "#resultats a")
    page.keyboard.press("Enter")
    page.wait_for_url("**/patients/p-1")
    assert "61,5 kg" in page.inner_text("main")
    shot(page, tmp_path, "clavier")
    assert not page.console_errors, page.console_errors


def test_prescriber_requests_access_with_a_field_error_then_meets_a_form_out_of_turn(
    page: Any, served: tuple[Practice, Served], tmp_path: Path
) -> None:
    practice, server = served
    sign_in(page, practice, server, "dr.prescrit")
    page.get_by_role("link", name="Accès compassionnel").click()
    page.wait_for_url("**/acces-compassionnel")
    axe(page)
    page.get_by_role("link", name="Velmorine dans la sclérose latérale amyotrophique").click()
    page.get_by_role("link", name="Nouvelle demande d'accès").click()
    page.wait_for_url("**/velmorine-sla/demande")
    axe(page)
    page.get_by_label("Nom de naissance").fill("Martin")
    page.get_by_label("Prénom").fill("Léa")
    page.get_by_label("Sexe").select_option("female")
    page.get_by_label("Mois et année de naissance").fill("1980-02")
    page.get_by_label("Identifiant de l'établissement").fill("h1")
    page.get_by_label("Poids (kg)").fill("300")
    page.get_by_label("Taille (cm)").fill("165")
    page.get_by_label("Diagnostic (CIM-10)").select_option("G12.2")
    page.get_by_label("Date du diagnostic").fill("2026-02-01")
    page.get_by_role("group", name="Mutation SOD1 confirmée").get_by_label("Oui").check()
    page.get_by_label("Score ALSFRS-R").fill("40")
    page.get_by_role("button", name="Enregistrer le formulaire").click()
    error = page.locator("#poids-erreur")
    error.wait_for()
    assert "hors des bornes du protocole" in error.inner_text() and "250 kg" in error.inner_text()
    assert page.get_by_label("Poids (kg)").get_attribute("aria-invalid") == "true"
    axe(page)
    shot(page, tmp_path, "aac-erreur-de-champ")
    page.get_by_label("Poids (kg)").fill("61,5")
    page.get_by_role("button", name="Enregistrer le formulaire").click()
    page.get_by_role("heading", name="Dossier MARLE-00001").wait_for()
    assert "demande en attente de la décision du laboratoire" in page.inner_text("main")
    axe(page)
    page.get_by_role("link", name="Visite de suivi").click()
    page.get_by_label("Date de la visite").fill("2026-11-25")
    page.get_by_label("Poids (kg)").fill("60")
    page.get_by_label("Score ALSFRS-R").fill("39")
    page.get_by_label("Observance").select_option("complete")
    axe(page)
    page.get_by_role("button", name="Enregistrer le formulaire").click()
    alert = page.locator("#erreur")
    alert.wait_for()
    assert "Formulaire hors de son tour" in alert.inner_text() and "AAC-3.workflow.follow_up" in alert.inner_text()
    axe(page)
    shot(page, tmp_path, "aac-hors-tour")
    assert not page.console_errors, page.console_errors


def test_physician_corrects_an_identity_after_a_fhir_error_and_reads_the_history(
    page: Any, served: tuple[Practice, Served], tmp_path: Path
) -> None:
    practice, server = served
    sign_in(page, practice, server, "dr.martin")
    page.goto(server.url + "/patients/p-1")
    page.get_by_role("link", name="Modifier l'identité").click()
    page.wait_for_url("**/patients/p-1/identite")
    axe(page)
    page.get_by_label("Nom de naissance").fill("Fictivé-Durand")
    page.get_by_label("Date de naissance").fill("30/02/1979")
    page.get_by_role("button", name="Enregistrer la nouvelle version").click()
    error = page.locator("#naissance-erreur")
    error.wait_for()
    assert "n'existe pas ou est mal écrite" in error.inner_text()
    assert page.get_by_label("Date de naissance").get_attribute("aria-invalid") == "true"
    axe(page)
    shot(page, tmp_path, "identite-erreur-fhir")
    page.get_by_label("Date de naissance").fill("21/03/1979")
    page.get_by_role("button", name="Enregistrer la nouvelle version").click()
    page.get_by_role("heading", name="Dossier de Alix Fictivé-Durand").wait_for()
    page.get_by_role("link", name="Historique des versions de la fiche").click()
    page.wait_for_url("**/patients/p-1/historique")
    assert "2 versions" in page.inner_text("main") and "création" in page.inner_text("main")
    axe(page)
    shot(page, tmp_path, "historique")
    assert not page.console_errors, page.console_errors


def test_secretary_books_an_appointment_after_a_mistake_and_reads_the_week(
    page: Any, served: tuple[Practice, Served], tmp_path: Path
) -> None:
    practice, server = served
    sign_in(page, practice, server, "sec.durand")
    page.get_by_label("Nom", exact=True).fill("Fictivé")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_role("link", name="Prendre un rendez-vous pour Alix Fictivé").click()
    page.wait_for_url("**/rendez-vous/nouveau/p-1")
    axe(page)
    page.get_by_label("Date du rendez-vous").fill("2026-12-08")
    page.get_by_role("button", name="Enregistrer le rendez-vous").click()  # no hour given
    error = page.locator("#heure-erreur")
    error.wait_for()
    assert "14:30" in error.inner_text()
    axe(page)
    page.get_by_label("Heure").fill("14:30")
    page.get_by_label("Praticien").select_option(label="Dr Martin")
    page.get_by_role("button", name="Enregistrer le rendez-vous").click()
    page.wait_for_url("**/rendez-vous?jour=2026-12-08")
    assert "Fictivé Alix" in page.inner_text("main") and "Dr Martin" in page.inner_text("main")
    axe(page)
    page.get_by_role("link", name="Déplacer le rendez-vous de 14 h 30 (Fictivé Alix)").click()
    page.get_by_label("Heure").fill("16:00")
    page.get_by_role("button", name="Déplacer le rendez-vous").click()
    page.wait_for_url("**/rendez-vous?jour=2026-12-08")
    assert "16 h 00" in page.inner_text("main") and "14 h 30" not in page.inner_text("main")
    page.get_by_role("link", name="Vue de la semaine").click()
    page.get_by_role("heading", name="Rendez-vous — Semaine du 7 décembre 2026").wait_for()
    axe(page)
    page.get_by_role("button", name="Annuler le rendez-vous de 16 h 00 (Fictivé Alix)").click()
    page.wait_for_url("**/rendez-vous?jour=2026-12-08")
    assert "annulé" in page.inner_text("main")
    axe(page)
    shot(page, tmp_path, "rendez-vous-annule")
    assert not page.console_errors, page.console_errors


def test_pharmacist_browses_the_prescription_book_after_a_wrong_period(
    page: Any, served: tuple[Practice, Served], tmp_path: Path
) -> None:
    practice, server = served
    sign_in(page, practice, server, "ph.durand")
    page.get_by_role("link", name="Registres").click()
    page.wait_for_url("**/pharmacie/registres")
    axe(page)
    page.get_by_label("Au").fill("2026-10-01")  # before the start of the period
    page.get_by_role("button", name="Afficher").click()
    page.locator("#erreur").wait_for()
    assert "précède son début" in page.inner_text("main")
    axe(page)
    page.get_by_label("Au").fill("2026-11-25")
    page.get_by_role("button", name="Afficher").click()
    page.get_by_role("heading", name="Ordonnancier, du 26 octobre 2026 au 25 novembre 2026").wait_for()
    assert "Aucune inscription sur cette période." in page.inner_text("main")
    page.emulate_media(media="print")
    assert not page.locator("header.bandeau").is_visible()  # printed: the register alone
    page.emulate_media(media="screen")
    axe(page)
    shot(page, tmp_path, "registres")
    assert not page.console_errors, page.console_errors


def test_secretary_registers_a_rights_request_after_a_missing_purpose(
    page: Any, served: tuple[Practice, Served], tmp_path: Path
) -> None:
    practice, server = served
    sign_in(page, practice, server, "sec.durand")
    page.get_by_label("Nom", exact=True).fill("Fictivé")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_role("link", name="Enregistrer une demande de droits pour Alix Fictivé").click()
    page.wait_for_url("**/patients/p-1/droits")
    axe(page)
    page.get_by_label("Droit exercé").select_option("objection")
    page.get_by_role("button", name="Enregistrer la demande").click()
    page.locator("#finalite-erreur").wait_for()
    assert "finalité" in page.locator("#finalite-erreur").inner_text()
    axe(page)
    page.get_by_label("Droit exercé").select_option("access")
    page.get_by_label("Finalité concernée").select_option("medical_record")
    page.get_by_role("button", name="Enregistrer la demande").click()
    page.get_by_role("heading", name="Demande enregistrée").wait_for()
    assert "3 décembre 2026" in page.inner_text("main")
    axe(page)
    shot(page, tmp_path, "droits")
    assert not page.console_errors, page.console_errors


def test_physician_records_a_consent_after_forgetting_its_purpose(
    page: Any, served: tuple[Practice, Served], tmp_path: Path
) -> None:
    practice, server = served
    sign_in(page, practice, server, "dr.martin")
    page.goto(server.url + "/patients/p-1")
    page.get_by_role("link", name="Enregistrer un consentement").click()
    page.wait_for_url("**/patients/p-1/consentement")
    axe(page)
    page.get_by_role("button", name="Enregistrer le consentement").click()  # no purpose chosen
    page.locator("#finalite-erreur").wait_for()
    axe(page)
    page.get_by_label("Finalité").select_option("medical_record")
    page.get_by_role("button", name="Enregistrer le consentement").click()
    page.get_by_role("heading", name="Dossier de Alix Fictivé").wait_for()
    assert "donné le 25 novembre 2026" in page.inner_text("main")
    shot(page, tmp_path, "consentement")
    assert not page.console_errors, page.console_errors


def test_the_console_switches_to_english(page: Any, served: tuple[Practice, Served], tmp_path: Path) -> None:
    practice, server = served
    page.goto(server.url + "/connexion")
    page.get_by_role("button", name="English").click()
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.url.endswith("/connexion") and page.get_by_role("heading", level=1).inner_text() == "Sign in"
    axe(page)
    page.get_by_label("Login").fill("dr.martin")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/connexion/code")
    page.get_by_label("Six-digit code from your authenticator app").fill(practice.code("dr.martin"))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/accueil")
    assert page.get_by_role("heading", level=1).inner_text() == "Find a patient"
    page.get_by_label("Family name").fill("Fictivé")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Open the chart of Alix Fictivé").wait_for()
    assert "21 March 1979" in page.inner_text("main") and "Sign out" in page.inner_text("header")
    axe(page)
    shot(page, tmp_path, "english")
    page.get_by_role("button", name="Français").click()
    page.wait_for_function("document.documentElement.lang === 'fr'")
    assert page.get_by_role("heading", level=1).inner_text() == "Rechercher un patient"
    assert not page.console_errors, page.console_errors
