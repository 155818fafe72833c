"""The warehouse's desk in a real browser (Debian's Chromium through Playwright, as test_web_browser.py): an export
reviewer measures a request, which is quarantined with its reason, its class-size histogram and risk bars named
for screen readers; the data steward, at the desk but not an export reviewer, is refused its release with the rule;
the trained reviewer releases it with a written risk study. axe-core with no serious or critical violation on every
page; a screenshot of each. All data is fictitious."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from santegarde.warehouse.gate import RELEASED
from test_web_browser import axe, page, shot, sign_in  # noqa: F401 (page: a fixture)
from warehouse_desk_fixtures import RISK_STUDY, Place, make_place


class Served:
    """The warehouse organisation's console served by uvicorn on a free port of the loopback, in a thread."""

    def __init__(self, place: Place) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(place.console, host="127.0.0.1", port=self.port, log_level="warning")
        )
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
def served(tmp_path: Path) -> Iterator[tuple[Place, Served]]:
    place = make_place(tmp_path)
    server = Served(place)
    yield place, server
    server.stop()
    place.close()


def sign_out(page: Any) -> None:  # noqa: F811 (the fixture's name)
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion?fin=1")


def test_an_export_quarantined_then_released_by_the_right_profile_and_refused_to_another(
    page: Any,  # noqa: F811 (the fixture imported above)
    served: tuple[Place, Served],
    tmp_path: Path,
) -> None:
    place, server = served
    rid = place.request()
    indicator = place.request(qis=("year_of_birth",), kind="indicator")

    sign_in(page, place, server, "gest.export")
    page.get_by_role("link", name="Bureau de l'entrepôt").click()
    page.wait_for_url("**/entrepot")
    assert page.get_by_role("heading", level=1).inner_text() == "Bureau de l'entrepôt de données de santé"
    axe(page)
    shot(page, tmp_path, "entrepot-bureau")
    page.get_by_role("link", name="File des exports").first.click()
    page.wait_for_url("**/entrepot/exports")
    axe(page)
    page.get_by_role("link", name=f"Export n° {rid}", exact=True).click()
    page.wait_for_url(f"**/entrepot/exports/{rid}")
    page.get_by_role("button", name="Mesurer l'export maintenant").click()
    page.get_by_text("En quarantaine : k-anonymat non respecté(s)").wait_for()
    histogram = page.get_by_role("img", name="Classes d'équivalence par taille (en personnes)")
    risks = page.get_by_role("img", name="Risques de réidentification mesurés (anonymeter)")
    assert histogram.count() == 1 and risks.count() == 1  # the charts, named for screen readers
    assert "une classe plus petite que k = 20" in histogram.locator("desc").text_content()  # and described
    assert "10 à 19 personnes" in histogram.text_content()  # each bar labelled in words, not by colour alone
    axe(page)
    shot(page, tmp_path, "export-quarantaine")
    sign_out(page)

    sign_in(page, place, server, "dpo.entrepot")  # at the desk, but not an export reviewer
    page.goto(f"{server.url}/entrepot/exports/{rid}")
    page.get_by_label("Diffuser l'export").check()
    page.get_by_label("Décision écrite (étude de risque ou motif du rejet)").fill(RISK_STUDY)
    page.get_by_role("button", name="Enregistrer la décision").click()
    page.get_by_role("heading", name="Action refusée").wait_for()
    main = page.inner_text("main")
    assert "dpo.entrepot" in main and "EDS-SEC-EXP-2" in main
    axe(page)
    shot(page, tmp_path, "export-refuse")
    assert place.gate().get(rid).status != RELEASED
    sign_out(page)

    sign_in(page, place, server, "gest.export")
    page.goto(f"{server.url}/entrepot/exports/{rid}")
    page.get_by_label("Diffuser l'export").check()
    page.get_by_label("Décision écrite (étude de risque ou motif du rejet)").fill(RISK_STUDY)
    page.get_by_role("button", name="Enregistrer la décision").click()
    page.get_by_role("heading", name=f"Export n° {rid} — diffusé").wait_for()
    assert "diffusé après étude de risque" in page.inner_text("main")
    assert place.gate().get(rid).status == RELEASED
    axe(page)
    shot(page, tmp_path, "export-diffuse")

    page.goto(f"{server.url}/entrepot/exports/{indicator}")
    page.get_by_role("button", name="Mesurer l'export maintenant").click()
    page.get_by_role("heading", name="Cases de l'indicateur").wait_for()
    assert page.locator("td .etat.retard", has_text="masquée").count() == 2  # suppressed cells said in words
    axe(page)
    shot(page, tmp_path, "indicateur")
    for url in ("/entrepot/comites", "/entrepot/projets", "/entrepot/opposition"):
        page.goto(server.url + url)
        axe(page)
        shot(page, tmp_path, url.rsplit("/", 1)[-1])
    assert not page.console_errors, page.console_errors
