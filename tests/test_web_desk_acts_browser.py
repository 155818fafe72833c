"""The screens of the controller's and the auditor's remaining acts (issue 21) in a real browser: a security
measure's status and a legal hold recorded through their forms, a wrong field marked; axe-core with no serious or
critical violation on each page, in French and in English."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from santegarde.config import save
from santegarde.rights.execute import RightsService
from test_web_browser import Served, axe, page, shot, sign_in  # noqa: F401 (page: a fixture)
from web_fixtures import Practice, make_practice, organisation_of


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Practice, Served]]:
    practice = make_practice(tmp_path)
    org = organisation_of(practice, tmp_path)
    save(org.config, org.config_path)
    place = practice.place
    rights = RightsService(place.service, config=org.config, audit=place.audit)
    server = Served(practice, rights=rights, organisation=org)
    yield practice, server
    server.stop()
    practice.close()


def test_the_controller_records_a_measure_and_a_hold_in_the_browser(
    page: Any,  # noqa: F811 (the fixture imported above)
    served: tuple[Practice, Served],
    tmp_path: Path,
) -> None:
    practice, server = served
    sign_in(page, practice, server, "dr.martin")
    page.goto(server.url + "/controle/mesures")
    axe(page)
    page.get_by_label("Mesure", exact=True).select_option("PRA-PRO-2")
    page.get_by_label("Statut", exact=True).select_option("partial")
    page.get_by_label("Preuve", exact=False).fill("Procédure P-12")
    page.get_by_role("button", name="Enregistrer le statut").click()
    page.wait_for_load_state()
    assert "demande une justification écrite" in page.inner_text("main")
    assert page.get_by_label("Justification", exact=False).get_attribute("aria-invalid") == "true"
    axe(page)  # the form with its errors marked
    page.get_by_label("Justification", exact=False).fill("Chiffrement des postes au prochain renouvellement (fictif)")
    page.get_by_role("button", name="Enregistrer le statut").click()
    page.wait_for_load_state()
    assert "Mesure PRA-PRO-2 enregistrée" in page.inner_text("main")
    shot(page, tmp_path, "controle-mesures")

    page.goto(server.url + "/controle/conservation")
    page.get_by_role("link", name="Événements, règles et gels de conservation").click()
    page.wait_for_url("**/controle/conservation/actes")
    axe(page)
    page.locator("#gel-portee-patient").check()
    page.locator("#gel-identifiant").fill("p-1")
    page.locator("#gel-motif").fill("Contentieux en cours (fictif)")
    page.get_by_role("button", name="Poser le gel").click()
    page.wait_for_load_state()
    assert "Gel n° 1 enregistré" in page.inner_text("main")
    axe(page)
    page.get_by_role("button", name="Lever le gel n° 1").click()
    page.wait_for_load_state()
    assert "Gel n° 1 levé." in page.inner_text("main")
    shot(page, tmp_path, "controle-conservation-actes")

    page.goto(server.url + "/audit/justifications?numero=42")
    assert "Il n'y a pas de justification n° 42" in page.inner_text("main")
    axe(page)
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    for url in ("/controle/mesures", "/controle/conservation/actes", "/audit/justifications"):
        page.goto(server.url + url)
        assert page.evaluate("document.documentElement.lang") == "en"
        axe(page)
