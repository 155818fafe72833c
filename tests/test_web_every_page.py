"""axe-core on every page of the console, in French and in English, error pages included; the lock screen in a real
browser; the first sign-in's steps (enrolment with its QR code, password change, charter, profile) in both languages.

The pages are not listed by hand only: each test reads the GET routes the console serves for its organisation (a
practice, a pharmacy, a compassionate-access establishment) and fails if one has no sample here, so a new screen is
checked as soon as it exists. Each test saves a screenshot of its final page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest

from identity_fixtures import NEW_PASSWORD
from santegarde.identity import accounts, grants
from santegarde.web.pages import TAG
from test_web_browser import Served, axe, shot, sign_in
from web_fixtures import Practice, make_compassionate, make_pharmacy, make_practice

# The sign-in steps and the home page, in every organisation (signed in, a step page leads where the session is).
COMMON = {
    "/": "/",
    "/connexion": "/connexion",
    "/connexion/code": "/connexion/code",
    "/connexion/enrolement": "/connexion/enrolement",
    "/connexion/mot-de-passe": "/connexion/mot-de-passe",
    "/connexion/charte": "/connexion/charte",
    "/connexion/profil": "/connexion/profil",
    "/accueil": "/accueil",
}
PRACTICE = {
    **COMMON,
    "/patients/{pid}": "/patients/p-1",
    "/patients/{pid}/identite": "/patients/p-1/identite",
    "/patients/{pid}/historique": "/patients/p-1/historique",
    "/patients/{pid}/consentement": "/patients/p-1/consentement",
    "/patients/{pid}/droits": "/patients/p-1/droits",
    "/rendez-vous": "/rendez-vous?jour=2026-12-08",
    "/rendez-vous/nouveau/{pid}": "/rendez-vous/nouveau/p-1",
    "/rendez-vous/{aid}/deplacer": "{aid}",  # the appointment booked by the test
}
PHARMACY = {
    **COMMON,
    "/patients/{pid}": "/patients/p-1",
    "/pharmacie/delivrance/{pid}": "/pharmacie/delivrance/p-1",
    "/pharmacie/registres": "/pharmacie/registres",
    "/pharmacie/registres/pdf": "",  # a PDF, not a page
}
PROGRAMME = "/acces-compassionnel/programmes/velmorine-sla"
COMPASSIONATE = {
    **COMMON,
    "/patients/{pid}": "/patients/p-1",
    "/patients/{pid}/identite": "/patients/p-1/identite",
    "/patients/{pid}/historique": "/patients/p-1/historique",
    "/acces-compassionnel": "/acces-compassionnel",
    "/acces-compassionnel/information": "/acces-compassionnel/information",
    "/acces-compassionnel/programmes/{programme_id}": PROGRAMME,
    "/acces-compassionnel/programmes/{programme_id}/demande": PROGRAMME + "/demande",
    "/acces-compassionnel/dossiers/{pid}": "{case}",
    "/acces-compassionnel/dossiers/{pid}/formulaires/{form_id}": "{case}/formulaires/suivi",
}
# What a page of the console may never show, whatever happened.
TRACE = re.compile(r"Traceback|File \"/|Internal Server Error")


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(locale="fr-FR")
    yield context
    context.close()


def flat(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every route of an app, those of its included routers too (FastAPI keeps an included router whole)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from flat(inner.routes, prefix + route.include_context.prefix)
        else:
            yield prefix, route


def page_routes(server: Served) -> set[str]:
    """Every GET route of the console served (the pages), by its path template."""
    return {
        prefix + route.path
        for prefix, route in flat(server.app.routes)
        if TAG in (getattr(route, "tags", None) or ()) and "GET" in (getattr(route, "methods", None) or ())
    }


def english(page: Any) -> None:
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    page.wait_for_function("document.documentElement && document.documentElement.lang === 'en'")


def check(page: Any, url: str, lang: str, seen: list[str]) -> None:
    answer = page.goto(url)
    assert answer is not None and answer.status < 500, (url, answer.status if answer else None)
    assert page.evaluate("document.documentElement.lang") == lang, url
    assert not TRACE.search(page.content()), url
    axe(page)
    seen.append(f"{lang} {url} → {answer.status}")


def error_pages(page: Any, practice: Practice, server: Served, lang: str, seen: list[str]) -> None:
    """The pages of what went wrong: not found, a method not allowed, an expired form, the lock screen."""
    check(page, server.url + "/nulle-part", lang, seen)
    assert page.locator("h1").inner_text() == ("Page not found" if lang == "en" else "Page introuvable")
    check(page, server.url + "/deconnexion", lang, seen)  # GET on a form's address
    page.goto(server.url + "/accueil")
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(i => i.value = '0')")
    page.get_by_role("button", name="Français" if lang == "en" else "English").click()  # the language switch
    page.wait_for_load_state()
    assert ("Form expired" if lang == "en" else "Formulaire expiré") in page.inner_text("main")
    axe(page)
    seen.append(f"{lang} expired form")


def walk_pages(
    page: Any, server: Served, samples: dict[str, str], lang: str, filled: Callable[[str], str]
) -> list[str]:
    routes = page_routes(server)
    assert routes == set(samples), f"pages without a sample: {routes - set(samples)}; gone: {set(samples) - routes}"
    seen: list[str] = []
    for _, url in sorted(samples.items()):
        if url:
            check(page, server.url + filled(url), lang, seen)
    return seen


def practice_session(context: Any, tmp_path: Path, make: Callable[[Path], Practice]) -> tuple[Practice, Served, Any]:
    practice = make(tmp_path)
    server = Served(practice)
    return practice, server, context.new_page()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_axe_on_every_page_of_a_practice_and_its_error_pages(context: Any, tmp_path: Path, lang: str) -> None:
    practice, server, page = practice_session(context, tmp_path, make_practice)
    try:
        sign_in(page, practice, server, "dr.martin")
        if lang == "en":
            english(page)
        token = page.locator("input[name=csrf]").first.input_value()
        booked = page.request.post(
            server.url + "/rendez-vous/nouveau/p-1",
            form={"csrf": token, "jour": "2026-12-08", "heure": "14:30", "duree": "20", "praticien": "dr.martin"},
        )
        assert booked.ok
        page.goto(server.url + "/rendez-vous?jour=2026-12-08")
        move = page.locator("a[href$='/deplacer']").first.get_attribute("href")
        assert move
        seen = walk_pages(page, server, PRACTICE, lang, lambda url: url.replace("{aid}", move))
        error_pages(page, practice, server, lang, seen)
        # A refused chart, then the lock screen after inactivity (the clock moves, nobody waits).
        practice.place.clock.advance(minutes=16)
        check(page, server.url + "/patients/p-1", lang, seen)
        assert page.locator("h1").inner_text() == ("Session locked" if lang == "en" else "Session verrouillée")
        shot(page, tmp_path, f"toutes-les-pages-cabinet-{lang}")
        assert len(seen) >= len([u for u in PRACTICE.values() if u]) + 4, seen
    finally:
        server.stop()
        practice.close()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_axe_on_every_page_of_a_pharmacist_and_a_secretary_refused(context: Any, tmp_path: Path, lang: str) -> None:
    practice, server, page = practice_session(context, tmp_path, make_pharmacy)
    try:
        sign_in(page, practice, server, "ph.durand")
        if lang == "en":
            english(page)
        seen = walk_pages(page, server, PHARMACY, lang, lambda url: url)
        error_pages(page, practice, server, lang, seen)
        wrong = server.url + "/pharmacie/registres?du=2026-11-25&au=2026-11-01"  # a field error on the register
        check(page, wrong, lang, seen)
        assert page.locator("#au-erreur").count() == 1
        shot(page, tmp_path, f"toutes-les-pages-officine-{lang}")
    finally:
        server.stop()
        practice.close()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_axe_on_every_page_of_a_prescriber(context: Any, tmp_path: Path, lang: str) -> None:
    from test_web_aac import REQUEST

    practice, server, page = practice_session(context, tmp_path, make_compassionate)
    try:
        sign_in(page, practice, server, "dr.prescrit")
        if lang == "en":
            english(page)
        token = page.locator("input[name=csrf]").first.input_value()
        opened = page.request.post(server.url + PROGRAMME + "/demande", form={"csrf": token, **REQUEST})
        assert opened.ok and "/acces-compassionnel/dossiers/" in opened.url, opened.url
        case = opened.url.removeprefix(server.url).split("?")[0]
        seen = walk_pages(page, server, COMPASSIONATE, lang, lambda url: url.replace("{case}", case))
        error_pages(page, practice, server, lang, seen)
        shot(page, tmp_path, f"toutes-les-pages-aac-{lang}")
    finally:
        server.stop()
        practice.close()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_secretary_refused_a_chart_and_the_lock_screen_in_the_browser(
    context: Any, tmp_path: Path, lang: str
) -> None:
    """The refused chart names the rule; after sixteen minutes without activity the page is kept behind the lock
    screen, which asks the password again and comes back to the same page."""
    practice, server, page = practice_session(context, tmp_path, make_practice)
    try:
        sign_in(page, practice, server, "sec.durand")
        if lang == "en":
            english(page)
        seen: list[str] = []
        check(page, server.url + "/patients/p-1", lang, seen)
        assert ("Rule applied" if lang == "en" else "Règle appliquée") in page.inner_text("main")  # the rule named
        check(page, server.url + "/rendez-vous?jour=2026-12-08&vue=semaine", lang, seen)
        practice.place.clock.advance(minutes=16)  # the office limit is 15 minutes
        page.reload()
        assert page.locator("h1").inner_text() == ("Session locked" if lang == "en" else "Session verrouillée")
        assert page.url.endswith("vue=semaine")  # the page is kept
        axe(page)
        page.locator("#password").fill("pas-le-bon")
        page.locator("main button[type=submit]").click()
        page.locator("[role=alert]").first.wait_for()
        axe(page)
        page.locator("#password").fill(NEW_PASSWORD)
        page.locator("main button[type=submit]").click()
        page.wait_for_load_state()
        page.locator("h1").wait_for()
        assert page.url.endswith("/rendez-vous?jour=2026-12-08&vue=semaine"), (page.url, page.inner_text("main"))
        assert page.locator("h1").inner_text().startswith("Appointments" if lang == "en" else "Rendez-vous")
        shot(page, tmp_path, f"verrou-{lang}")
    finally:
        server.stop()
        practice.close()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_first_sign_in_steps_in_the_browser(context: Any, tmp_path: Path, lang: str) -> None:
    """A new account: the code asked, enrolment with its QR code drawn by the server, backup codes, the password
    change (a mismatch first), the charter and the choice of a profile — each page checked by axe-core."""
    practice, server, page = practice_session(context, tmp_path, make_practice)
    try:
        ctx = practice.place.identity
        _, temporary = accounts.add(ctx, "dr.neuf", "Dr Neuf", person_ref="10009999999", by="admin")
        assert temporary
        for profile, until in (("practitioner", None), ("replacement_practitioner", ctx.now() + timedelta(days=30))):
            grants.give(ctx, "dr.neuf", profile, validated_by="Responsable", validator_role="governance_body",
                        reason="new staff", by="admin", ends_at=until)  # fmt: skip
        page.goto(server.url + "/connexion")
        if lang == "en":
            english(page)
        axe(page)
        page.locator("#login").fill("dr.neuf")
        page.locator("#password").fill(temporary)
        page.locator("main button[type=submit]").click()
        page.wait_for_url("**/connexion/code")
        axe(page)
        page.locator("#code").fill("123456")
        page.locator("main button[type=submit]").click()
        page.wait_for_url("**/connexion/enrolement")
        assert page.locator("img[src^='data:image/svg+xml;base64,']").count() == 1
        axe(page)
        secret = page.locator("input[name=secret]").input_value()
        page.locator("#code").fill(pyotp.TOTP(secret).at(ctx.now()))
        page.locator("main button[type=submit]").click()
        page.locator("main li code").first.wait_for()  # the backup codes
        axe(page)
        page.goto(server.url + "/accueil")
        page.wait_for_url("**/connexion/mot-de-passe")
        axe(page)
        fields = page.locator("main input[type=password]")
        fields.nth(0).fill(temporary)
        fields.nth(1).fill(NEW_PASSWORD)
        fields.nth(2).fill(NEW_PASSWORD + "x")
        page.locator("main button[type=submit]").click()
        page.locator("[role=alert]").first.wait_for()
        axe(page)
        fields.nth(0).fill(temporary)
        fields.nth(1).fill(NEW_PASSWORD)
        fields.nth(2).fill(NEW_PASSWORD)
        page.locator("main button[type=submit]").click()
        page.wait_for_url("**/connexion/charte")
        axe(page)
        page.locator("main button[type=submit]").click()
        page.wait_for_url("**/connexion/profil")
        axe(page)
        page.locator("main input[type=radio]").last.check()
        page.locator("main button[type=submit]").click()
        page.wait_for_url("**/accueil")
        axe(page)
        assert page.evaluate("document.documentElement.lang") == lang
        shot(page, tmp_path, f"premiere-connexion-{lang}")
    finally:
        server.stop()
        practice.close()
