"""The governance desks in a real browser (Debian's Chromium through Playwright, as test_web_browser.py): the
controller's dashboard with a late rights request and a breach's 72-hour clock, the documents previewed in the page,
the auditor searching the trail, running and signing the review, the chart with its accessible text; a secretary
refused; axe-core with no serious or critical violation on every page; a screenshot of each final page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from identity_fixtures import NEW_PASSWORD
from santegarde.governance import breaches
from santegarde.identity import sessions
from santegarde.rights.execute import RightsService
from santegarde.store.service import Request as RecordRequest
from test_web_browser import Served, axe, page, shot, sign_in  # noqa: F401 (page: a fixture)
from web_fixtures import Practice, make_practice, organisation_of


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Practice, Served]]:
    practice = make_practice(tmp_path)
    org = organisation_of(practice, tmp_path)
    place = practice.place
    rights = RightsService(place.service, config=org.config, audit=place.audit)
    server = Served(practice, rights=rights, organisation=org)
    yield practice, server
    server.stop()
    practice.close()


def late_request_and_breach(practice: Practice) -> None:
    place = practice.place
    now = place.identity.now()
    opened = sessions.login(place.identity, "dr.martin", NEW_PASSWORD, source="t", workstation_class="office")
    sessions.second_factor(place.identity, opened.token, practice.code("dr.martin"))
    rights = RightsService(place.service, audit=place.audit)
    rights.receive(
        RecordRequest(opened.token, "medical_record"),
        "access",
        "p-1",
        "person",
        purpose="medical_record",
        received_at=now - timedelta(days=10),
    )
    sessions.logout(place.identity, opened.token)
    breaches.record(
        place.service.engine,
        nature=["confidentiality"],
        description="Ordinateur portable égaré (fictif)",
        data_categories=["health"],
        person_categories=["patients"],
        likely_consequences="Consultation par un tiers (fictif)",
        measures_taken="Effacement à distance demandé",
        discovered_at=now - timedelta(hours=20),
        reported_by="staff",
        recorded_by="dr.martin",
        clock=lambda: now,
    )


def test_controller_reads_the_dashboard_and_previews_a_document(
    page: Any,  # noqa: F811 (the fixture imported above)
    served: tuple[Practice, Served],
    tmp_path: Path,
) -> None:
    practice, server = served
    late_request_and_breach(practice)
    sign_in(page, practice, server, "dr.martin")
    page.get_by_role("link", name="Tableau du responsable").click()
    page.wait_for_url("**/controle")
    assert page.get_by_role("heading", level=1).inner_text() == "Tableau du responsable du traitement"
    main = page.inner_text("main")
    assert "En retard de 2 jour(s)" in main  # 8 days for the medical record, received 10 days ago
    assert "Violation n° 1" in main and "heure" in main  # the 72-hour clock, in words
    late = page.locator("tr.ligne-retard .etat.retard").first
    assert "En retard" in late.inner_text()  # said in words, not by the colour alone
    axe(page)
    shot(page, tmp_path, "tableau-responsable")
    page.get_by_role("link", name="voir le rapport de conformité").click()
    page.wait_for_url("**/controle/documents/conformity")
    frame = page.frame_locator("iframe.apercu")
    frame.locator("h1").first.wait_for()
    assert "conformité" in frame.locator("body").inner_text().lower()
    axe(page)
    shot(page, tmp_path, "apercu-conformite")
    assert not page.console_errors, page.console_errors


def test_auditor_searches_and_signs_the_review_and_the_secretary_is_refused(
    page: Any,  # noqa: F811 (the fixture imported above)
    served: tuple[Practice, Served],
    tmp_path: Path,
) -> None:
    practice, server = served
    sign_in(page, practice, server, "sec.durand")
    page.goto(server.url + "/audit")
    assert page.get_by_role("heading", level=1).inner_text() == "Accès refusé"
    assert "COM-LOG-4.reviewer" in page.inner_text("main")
    axe(page)
    shot(page, tmp_path, "audit-refuse")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion?fin=1")

    sign_in(page, practice, server, "dr.autre")  # no care relationship: breaks the glass (an anomaly)
    page.goto(server.url + "/patients/p-1")
    page.get_by_label("Raison de l'accès d'urgence").fill("Patiente inconsciente aux urgences (fictif)")
    page.get_by_role("button", name="Ouvrir le dossier en bris de glace").click()
    page.wait_for_url("**/bris-de-glace")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion?fin=1")

    sign_in(page, practice, server, "dr.martin")
    page.get_by_role("link", name="Bureau d'audit").click()
    page.wait_for_url("**/audit")
    chart = page.get_by_role("img", name="Entrées du journal par jour et par profil")
    assert chart.count() == 1  # the chart, named for screen readers
    axe(page)
    page.get_by_label("Personne (identifiant)").fill("sec.durand")
    page.get_by_label("Issue").select_option("denied")
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_url("**/audit/recherche")
    assert "sec.durand" not in page.url  # the criteria went by POST
    results = page.locator("table").first.inner_text()
    assert "refusé" in results and "Ouverture du bureau d'audit" in results  # the operation by its name
    page.get_by_label("Personne (identifiant)").fill("")
    page.get_by_label("Issue").select_option("")
    page.get_by_label("Opération").select_option(label="Vérification de la chaîne du journal")
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_url("**/audit/recherche")
    assert "Aucune entrée ne correspond" in page.inner_text("main")  # nobody verified the chain yet
    axe(page)
    page.get_by_role("button", name="Vérifier la chaîne du journal").click()
    page.get_by_text("✓ Intact").wait_for()
    page.get_by_role("button", name="Lancer une revue depuis la précédente").click()
    page.wait_for_url("**/audit/revue/*")
    assert "Accès en bris de glace" in page.inner_text("main")
    axe(page)
    button = page.get_by_role("button", name="Clore et signer").first
    page.get_by_label("Ce que vous avez vérifié et conclu").first.fill("Urgence confirmée par le service (fictif)")
    button.click()
    page.get_by_text("par dr.martin").first.wait_for()
    axe(page)
    shot(page, tmp_path, "revue-signee")
    assert not page.console_errors, page.console_errors


def test_controller_documents_a_breach_and_sees_its_72_hour_clock(
    page: Any,  # noqa: F811 (the fixture imported above)
    served: tuple[Practice, Served],
    tmp_path: Path,
) -> None:
    practice, server = served
    sign_in(page, practice, server, "dr.martin")
    page.goto(server.url + "/controle")
    page.get_by_role("link", name="registre des violations").click()
    page.wait_for_url("**/controle/violations")
    axe(page)
    page.get_by_label("Perte de confidentialité").check()
    page.get_by_label("Ce qui s'est passé").fill("court")
    page.get_by_role("button", name="Enregistrer la violation").click()
    error = page.locator("#description-erreur")
    error.wait_for()
    assert "au moins 10 caractères" in error.inner_text()
    assert page.get_by_label("Ce qui s'est passé").get_attribute("aria-invalid") == "true"
    axe(page)
    page.get_by_label("Ce qui s'est passé").fill("Dossier papier oublié dans la salle d'attente (fictif)")
    page.get_by_label("Données de santé").check()
    page.get_by_label("Catégories de personnes concernées").fill("patients")
    page.get_by_label("Conséquences probables pour les personnes").fill("Lecture par un autre patient (fictif)")
    page.get_by_label("Mesures prises pour y mettre fin").fill("Dossier récupéré, salle vérifiée")
    page.get_by_role("button", name="Enregistrer la violation").click()
    page.wait_for_url("**/controle/violations#violation-1")
    item = page.locator("#violation-1")
    assert "Dans les délais" in item.inner_text() and "pour notifier" in item.inner_text()
    axe(page)
    shot(page, tmp_path, "violation-72h")
    page.get_by_role("link", name="Violation n° 1").click()
    page.wait_for_url("**/controle/violations/1")
    assert "Dans les délais" in page.inner_text("main")
    page.get_by_label("Vraisemblance", exact=True).select_option(label="importante")
    page.get_by_label("Gravité", exact=True).select_option(label="importante")
    page.get_by_label("Pourquoi cette vraisemblance et cette gravité").fill(
        "Données de santé lues par un tiers (fictif)"
    )
    page.get_by_role("button", name="Enregistrer l'évaluation").click()
    page.get_by_text("Réviser l'évaluation de la gravité").wait_for()
    assert "risque élevé : notification à la CNIL et communication" in page.inner_text("main")
    frame = page.frame_locator("iframe.apercu").first
    frame.locator("h1").first.wait_for()
    assert "CNIL" in frame.locator("body").inner_text()
    axe(page)
    page.get_by_role("button", name="Noter : notification à la cnil (art. 33) faite").click()
    page.get_by_text("Notifiée à la CNIL").wait_for()
    axe(page)
    shot(page, tmp_path, "violation-notifiee")
    page.goto(server.url + "/controle/transferts")  # the transfers' register: its form, accessible too
    page.get_by_label("Pays de destination").fill("IN")
    page.get_by_label("Destinataire", exact=True).fill("Laboratoire fictif")
    page.get_by_role("button", name="Vérifier et enregistrer le transfert").click()
    page.get_by_role("alert").first.wait_for()
    axe(page)
    page.goto(server.url + "/controle/sous-traitants")  # the processors' register: its form, accessible too
    page.get_by_label("Nom", exact=True).fill("Hébergeur Fictif")
    page.get_by_role("button", name="Enregistrer le sous-traitant").click()
    page.locator("#service-erreur").wait_for()
    axe(page)
    assert not page.console_errors, page.console_errors


def test_dpo_handles_a_rights_request_to_its_letter(
    page: Any,  # noqa: F811 (the fixture imported above)
    served: tuple[Practice, Served],
    tmp_path: Path,
) -> None:
    practice, server = served
    sign_in(page, practice, server, "dr.martin")
    page.goto(server.url + "/controle")
    page.get_by_role("link", name="registre des demandes").click()
    page.wait_for_url("**/controle/droits")
    axe(page)
    page.get_by_label("Droit exercé").select_option("access")
    page.get_by_label("Référence du dossier du patient").fill("p-1")
    page.get_by_label("Finalité concernée").select_option("medical_record")
    page.get_by_role("button", name="Enregistrer la demande").click()
    page.wait_for_url("**/controle/droits/1")
    assert "p-1" not in page.url
    axe(page)
    # the public health code fixes the deadline of access to the medical record (8 days): nothing offers to extend it
    assert page.get_by_role("button", name="Prolonger de deux mois").count() == 0
    page.get_by_label("Comment l'identité").fill("Carte d'identité présentée au cabinet (fictif)")
    page.get_by_role("button", name="Enregistrer la vérification").click()
    with page.expect_download() as copy:
        page.get_by_role("button", name="Exécuter la demande n° 1").click()
    assert copy.value.suggested_filename == "copie-des-donnees-demande-1.json"
    page.reload()
    page.get_by_role("heading", name="3. Lettre de réponse").wait_for()
    letter = page.frame_locator("iframe.apercu")
    letter.locator("body").wait_for()
    assert "droit d'accès" in letter.locator("body").inner_text()
    page.get_by_label("Comment la lettre est partie").select_option(label="par messagerie sécurisée de santé")
    page.get_by_role("button", name="Noter la lettre comme envoyée").press("Enter")
    page.get_by_text("✓ Envoyée").wait_for()
    axe(page)
    shot(page, tmp_path, "droits-lettre")
    axe(page)
    assert not page.console_errors, page.console_errors


def test_controller_runs_the_access_review(
    page: Any,  # noqa: F811 (the fixture imported above)
    served: tuple[Practice, Served],
    tmp_path: Path,
) -> None:
    practice, server = served
    sign_in(page, practice, server, "dr.martin")
    page.goto(server.url + "/controle")
    page.get_by_role("link", name="revue des habilitations").click()
    page.wait_for_url("**/controle/habilitations")
    axe(page)
    page.get_by_role("button", name="Ouvrir une revue de toutes les habilitations en cours").click()
    page.get_by_text("3 à décider").wait_for()
    axe(page)
    page.get_by_role("button", name="Confirmer l'habilitation n°").first.click()
    page.get_by_text("2 à décider").wait_for()
    page.get_by_role("button", name="Clore la revue n° 1").click()
    page.get_by_role("button", name="Ouvrir une revue de toutes les habilitations en cours").wait_for()
    assert "1 confirmée(s), 2 retirée(s)" in page.inner_text("main")
    axe(page)
    shot(page, tmp_path, "revue-habilitations")
    assert not page.console_errors, page.console_errors


def test_controller_reads_the_retention_timeline(
    page: Any,  # noqa: F811 (the fixture imported above)
    served: tuple[Practice, Served],
    tmp_path: Path,
) -> None:
    practice, server = served
    sign_in(page, practice, server, "dr.martin")
    page.get_by_role("link", name="Tableau du responsable").click()
    page.wait_for_url("**/controle")
    page.get_by_role("link", name="calendrier de conservation").click()
    page.wait_for_url("**/controle/conservation")
    assert "Aucun dossier n'arrive à échéance" in page.inner_text("main")  # the records are days old
    axe(page)
    page.get_by_label("Période").select_option(label="les vingt-cinq prochaines années, année par année")
    page.get_by_role("button", name="Afficher").click()
    page.wait_for_url("**/controle/conservation?horizon=25-ans")
    chart = page.get_by_role("img", name="Calendrier de conservation : ce qu'un passage ferait à chaque date")
    assert chart.count() == 1
    table = page.locator("table", has_text="Données enregistrées pour la gestion du cabinet").inner_text()
    assert "Entre le" in table and "suppression" in table
    axe(page)
    shot(page, tmp_path, "calendrier-conservation")
    assert not page.console_errors, page.console_errors
