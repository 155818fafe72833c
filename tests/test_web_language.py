"""The console in French by default and in English on request: the switch in the banner keeps the choice in a
cookie of the browser; every phrase a template says goes through ``t()`` (documents_text.yaml, ``console``), whose
French and English trees hold the same keys; dates and numbers follow the page's language; so do the refusals and
the errors next to a form's fields, worded in Python from the catalogue (data/refusals.yaml, ``console`` and
``records``), and the names of profiles and purposes (governance vocabulary)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from santegarde.governance.doctext import words
from santegarde.governance.vocabulary import label
from santegarde.web.french import date_in, number_in
from santegarde.web.render import TEMPLATES
from test_web import DISPENSING, browser, csrf, error_of, sign_in, signed_in
from test_web import words as read
from test_web_aac import PROGRAMME, REQUEST
from test_web_records import IDENTITY
from test_web_registers import with_two_dispensings
from web_fixtures import Practice, make_compassionate, make_pharmacy, make_practice

KEY = re.compile(r"""\bt\(\s*["']([a-z_]+(?:\.[a-z_]+)+)["']""")


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = make_practice(tmp_path)
    yield p
    p.close()


def _keys(tree: Any, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict):
        return {prefix}
    return {k for name, sub in tree.items() for k in _keys(sub, f"{prefix}.{name}" if prefix else name)}


def test_french_and_english_hold_the_same_phrases_and_every_key_a_template_uses() -> None:
    fr, en = _keys(words("fr")["console"]), _keys(words("en")["console"])
    assert fr == en, f"only in one language: {sorted(fr ^ en)}"
    pages = [page.read_text(encoding="utf-8") for page in TEMPLATES.rglob("*.html")]
    used = {k for text in pages for k in KEY.findall(text)}
    # every quoted "group.key" of a template, also those chosen by a condition (t("a.b" if x else "a.c"))
    groups = "|".join(words("fr")["console"])
    found = (re.findall(rf"""["']((?:{groups})(?:\.[a-z_]+)+)["']""", text) for text in pages)
    quoted = {k for keys in found for k in keys if not k.endswith(".html")}
    assert used and not (used | quoted) - fr, (
        f"keys used by the templates but not written: {sorted((used | quoted) - fr)}"
    )
    assert "login.submit" in used and "base.switch" in used


def test_dates_and_numbers_in_the_pages_language() -> None:
    at = datetime(2026, 12, 4, 10, 15, tzinfo=UTC)  # 11:15 in Paris
    assert date_in(at, "fr") == "4 décembre 2026 à 11 h 15" and date_in(at, "en") == "4 December 2026 at 11:15"
    assert date_in("1979-03-21", "en") == "21 March 1979" and date_in(None, "en") == "—"
    assert number_in(61.5, "fr") == "61,5" and number_in(61.5, "en") == "61.5"


def test_the_switch_turns_the_console_into_english_and_back(practice: Practice) -> None:
    c = browser(practice)
    page = c.get("/connexion")
    assert '<html lang="fr">' in page.text and "Identifiant" in read(page) and ">English</button>" in page.text
    switched = c.post("/langue", data={"csrf": csrf(page), "langue": "en", "suite": "/connexion"})
    assert switched.status_code == 303 and switched.headers["location"] == "/connexion"
    cookie = switched.headers["set-cookie"]
    assert "sg_lang=en" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    english = c.get("/connexion")
    assert '<html lang="en">' in english.text
    for phrase in ("Sign in", "Login", "Password", "Workstation", "Every access to the data is traced"):
        assert phrase in english.text
    assert "Identifiant" not in english.text and "Se connecter" not in english.text
    back = c.post("/langue", data={"csrf": csrf(english), "langue": "fr", "suite": "/connexion"})
    assert "sg_lang=fr" in back.headers["set-cookie"] and "Identifiant" in read(c.get("/connexion"))


def test_a_signed_in_page_in_english_and_the_switch_refusals(practice: Practice) -> None:
    c, token = signed_in(practice, "dr.martin")
    c.post("/langue", data={"csrf": token, "langue": "en", "suite": "/accueil"})
    home = c.get("/accueil")
    assert "Find a patient" in home.text and "Family name" in home.text and ">Appointments</a>" in home.text
    found = read(c.post("/patients/recherche", data={"csrf": token, "nom": "Fictivé"}))
    assert "1 patient found" in found and "Open the chart of Alix Fictivé" in found and "21 March 1979" in found
    assert "female" in found and "Sign out" in found
    chart = read(c.get("/patients/p-1"))
    assert "Chart of Alix Fictivé" in chart and "Problems and diagnoses" in chart and "Given name(s)" in chart
    assert "4 December 2026 at 11:15" in chart and "61.5 kg" in chart and "No consent recorded." in chart
    assert "Dossier de" not in chart and "décembre" not in chart
    book = read(c.get("/rendez-vous?jour=2026-12-08"))
    assert "No appointment." in book and "Week view" in book and "Previous day" in book
    assert "Appointments — Tuesday 8 December 2026" in book
    week = read(c.get("/rendez-vous?jour=2026-12-08&vue=semaine"))
    assert "Appointments — Week of 7 December 2026" in week and "Sunday 13 December 2026" in week
    # Anything but French or English is French; the page to come back to is one of the console's.
    away = c.post("/langue", data={"csrf": token, "langue": "de", "suite": "//ailleurs.example/"})
    assert away.headers["location"] == "/accueil" and "sg_lang=fr" in away.headers["set-cookie"]
    forged = c.post("/langue", data={"csrf": "0" * 64, "langue": "en"})
    assert forged.status_code == 403 and "sg_lang" not in forged.headers.get("set-cookie", "")


def test_the_pharmacy_registers_in_english(tmp_path: Path) -> None:
    pharmacy = make_pharmacy(tmp_path)
    try:
        c, token = signed_in(pharmacy, "ph.durand")
        assert c.post("/pharmacie/delivrance/p-1", data={"csrf": token, **DISPENSING}).status_code == 200
        c.post("/langue", data={"csrf": token, "langue": "en", "suite": "/pharmacie/registres"})
        page = read(c.get("/pharmacie/registres"))
        assert "Prescription book, from 26 October 2026 to 25 November 2026" in page
        assert "List I" in page and "not yet validated" in page and "1 entry of this period is to be validated." in page
        assert "Validate and freeze the period" in page and "Ordonnancier" not in page and "à valider" not in page
    finally:
        pharmacy.close()


def in_language(c: Any, token: str, lang: str) -> None:
    answer = c.post("/langue", data={"csrf": token, "langue": lang, "suite": "/accueil"})
    assert answer.status_code == 303 and f"sg_lang={lang}" in answer.headers["set-cookie"]


# Tell-tale words of the other language in a refusal or a field error.
FRENCH_WORDS = re.compile(r"\b(le|la|les|du|des|est|pas|ne|Choisissez|Saisissez|Refusé|refusée?|Règle)\b")
ENGLISH_WORDS = re.compile(r"\b(the|is|not|and|Choose|Type|Refused|refused|Rule)\b")


def other_language(lang: str) -> re.Pattern[str]:
    return FRENCH_WORDS if lang == "en" else ENGLISH_WORDS


def refusal_text(page: Any) -> str:
    """The refusal's title, what happened, what to do and the rule, as drawn (without the banner and menu)."""
    found = re.search(r"<main[^>]*>(.*)</main>", read(page), re.S)
    assert found, read(page)[:2000]
    return re.sub(r"<[^>]+>", " ", found.group(1))


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        (
            "en",
            ("Access refused", "may not see these data for the purpose", "If the patient must be seen", "section"),
        ),
        ("fr", ("Accès refusé", "ne peut pas consulter ces données pour la finalité", "Si le patient doit", "section")),
    ],
)
def test_a_refused_chart_in_the_pages_language_with_the_profile_and_purpose_named(
    practice: Practice, lang: str, said: tuple[str, ...]
) -> None:
    c, token = signed_in(practice, "sec.durand")
    in_language(c, token, lang)
    refused = c.get("/patients/p-1")
    text = refusal_text(refused)
    assert refused.status_code == 403 and all(s in text for s in said), text
    assert "Rule applied" in text or "Règle appliquée" in text, text  # the rule is named
    # the profile and the purpose by their names in the page's language (the rule keeps its identifier)
    ref = practice.place.identity.referential
    who, why = label(ref, "accessor", "secretariat", lang), label(ref, "purpose", "medical_record", lang)
    assert (f"« {who} »" if lang == "fr" else f"'{who}'") in text and why in text, text
    if lang == "en":
        assert "Le profil" not in text and "Accès refusé" not in text and "référentiel «" not in text
    else:
        assert "The profile" not in text and "Access refused" not in text
    assert "61,5" not in refused.text and "61.5" not in refused.text


@pytest.mark.parametrize(
    ("lang", "title", "what"),
    [
        ("en", "No care relationship", "You have no care relationship with this patient."),
        ("fr", "Pas de relation de soin", "Vous n'avez pas de relation de soin enregistrée avec ce patient"),
    ],
)
def test_the_care_relationship_refusal_in_the_pages_language(
    practice: Practice, lang: str, title: str, what: str
) -> None:
    c, token = signed_in(practice, "dr.autre")
    in_language(c, token, lang)
    refused = c.get("/patients/p-1")
    text = refusal_text(refused)
    assert refused.status_code == 403 and title in text and what in text, text
    basis = "The patient consults me" if lang == "en" else "Le patient me consulte"  # the care form's choices
    assert basis in text and ("Le patient me consulte" in text) is (lang == "fr")


@pytest.mark.parametrize(
    ("lang", "title", "what"),
    [
        ("en", "Sign-in refused", "The login or the password is wrong."),
        ("fr", "Connexion refusée", "L'identifiant ou le mot de passe n'est pas correct."),
    ],
)
def test_sign_in_and_forged_form_refusals_in_the_pages_language(
    practice: Practice, lang: str, title: str, what: str
) -> None:
    c = browser(practice)
    token = csrf(c.get("/connexion"))
    c.post("/langue", data={"csrf": token, "langue": lang, "suite": "/connexion"})
    refused = c.post("/connexion", data={"csrf": token, "login": "dr.martin", "password": "pas le bon"})
    text = read(refused)
    assert refused.status_code == 401 and title in text and what in text
    forged = c.post("/connexion", data={"csrf": "0" * 64, "login": "dr.martin", "password": "x"})
    expired = "Form expired" if lang == "en" else "Formulaire expiré"
    assert forged.status_code == 403 and expired in read(forged)
    assert ("Formulaire expiré" in read(forged)) is (lang == "fr")


# (form's path, fields sent, field in error, its sentence in English, in French)
FIELD_CASES = [
    (
        "/rendez-vous/nouveau/p-1",
        {"jour": "2026-12-08", "heure": "25:00", "duree": "20", "praticien": "dr.martin"},
        "heure",
        "Type the time as 14:30.",
        "Saisissez l'heure sous la forme 14:30.",
    ),
    (
        "/rendez-vous/nouveau/p-1",
        {"jour": "2026-12-08", "heure": "14:30", "duree": "20", "praticien": ""},
        "praticien",
        "Choose the practitioner from the list.",
        "Choisissez le praticien dans la liste.",
    ),
    (
        "/patients/p-1/droits",
        {"droit": "access", "demandeur": "voisin"},
        "demandeur",
        "Choose who makes the request from the list.",
        "Choisissez qui fait la demande dans la liste.",
    ),
    (
        "/patients/p-1/consentement",
        {"categorie": "lifestyle", "finalite": "bookkeeping"},
        "finalite",
        "This purpose does not collect this data category: choose one that does.",
        "Cette finalité ne recueille pas cette catégorie de données : choisissez-en une.",
    ),
    (
        "/patients/p-1/identite",
        {**IDENTITY, "version": "1", "naissance": "31/02/1979"},
        "naissance",
        "This birth date does not exist or is badly written",
        "Cette date de naissance n'existe pas ou est mal écrite",
    ),
]


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize(("path", "form", "field", "english", "french"), FIELD_CASES)
def test_field_errors_of_the_practice_screens_in_the_pages_language(
    practice: Practice, lang: str, path: str, form: dict[str, str], field: str, english: str, french: str
) -> None:
    login = "sec.durand" if path.startswith(("/rendez-vous", "/patients/p-1/droits")) else "dr.martin"
    c, token = signed_in(practice, login)
    in_language(c, token, lang)
    refused = c.post(path, data={"csrf": token, **form})
    said = error_of(refused, field)
    assert refused.status_code == 422 and said.startswith(english if lang == "en" else french), said
    assert not other_language(lang).search(said), said


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_register_field_errors_and_the_validation_refusal_in_the_pages_language(tmp_path: Path, lang: str) -> None:
    pharmacy = make_pharmacy(tmp_path)
    try:
        with_two_dispensings(pharmacy)  # entries to validate
        pharmacy.person("prep.fictif", "preparer", ref="P-9")
        c = browser(pharmacy)
        sign_in(pharmacy, c, "prep.fictif")
        token = csrf(c.get("/accueil"))
        in_language(c, token, lang)
        wrong = c.get("/pharmacie/registres?du=2026-11-25&au=2026-11-01")
        said = error_of(wrong, "au")
        expected = "The end of the period comes before its start" if lang == "en" else "La fin de la période précède"
        assert wrong.status_code == 422 and said.startswith(expected) and not other_language(lang).search(said)
        refused = c.post(
            "/pharmacie/registres/validation",
            data={"csrf": token, "registre": "prescription_book", "du": "2026-10-26", "au": "2026-11-25"},
        )
        text = refusal_text(refused)
        only = "Only a pharmacist validates and freezes" if lang == "en" else "Seul un pharmacien valide et fige"
        title = "Validation refused" if lang == "en" else "Validation refusée"
        assert refused.status_code == 403 and only in text and title in text and "PHA-3" in text, text
    finally:
        pharmacy.close()


@pytest.mark.parametrize(
    ("lang", "bounds", "required", "yes_no", "title"),
    [
        (
            "en",
            "This value is outside the protocol's bounds: type a number between 20 and 250 kg.",
            "This field is required.",
            "Answer yes or no.",
            "Form refused",
        ),
        (
            "fr",
            "Cette valeur est hors des bornes du protocole : saisissez un nombre entre 20 et 250 kg.",
            "Ce champ est obligatoire.",
            "Répondez oui ou non.",
            "Formulaire refusé",
        ),
    ],
)
def test_compassionate_field_errors_and_statuses_in_the_pages_language(
    tmp_path: Path, lang: str, bounds: str, required: str, yes_no: str, title: str
) -> None:
    hospital = make_compassionate(tmp_path)
    try:
        c, token = signed_in(hospital, "dr.prescrit")
        in_language(c, token, lang)
        wrong = {**REQUEST, "poids": "300", "taille": "165,5", "date_diagnostic": "", "mutation_sod1": "peut-être"}
        refused = c.post(PROGRAMME + "/demande", data={"csrf": token, **wrong})
        assert refused.status_code == 422 and title in read(refused)
        assert error_of(refused, "poids") == bounds
        assert error_of(refused, "date_diagnostic") == required and error_of(refused, "mutation_sod1") == yes_no
        whole = "a whole number between 100 and 230 cm" if lang == "en" else "un nombre entier entre 100 et 230 cm"
        assert whole in error_of(refused, "taille")
        form = read(c.get(PROGRAMME + "/demande"))
        helped = "Whole number between 100 and 230 cm." if lang == "en" else "Nombre entier entre 100 et 230 cm."
        assert helped in form
        listed = read(c.get("/acces-compassionnel"))
        assert ("in force" if lang == "en" else "en vigueur") in listed
        assert ("en vigueur" in listed) is (lang == "fr")
    finally:
        hospital.close()


@pytest.mark.parametrize(
    ("lang", "criterion", "reason", "missing"),
    [
        (
            "en",
            "Fill in at least one criterion: family name, given name, birth date or INS.",
            "Write the reason in at least",
            "Page not found",
        ),
        (
            "fr",
            "Renseignez au moins un critère : nom, prénom, date de naissance ou INS.",
            "Écrivez la raison en au moins",
            "Page introuvable",
        ),
    ],
)
def test_search_break_the_glass_and_error_pages_in_the_pages_language(
    practice: Practice, lang: str, criterion: str, reason: str, missing: str
) -> None:
    c, token = signed_in(practice, "dr.autre")
    in_language(c, token, lang)
    assert criterion in read(c.post("/patients/recherche", data={"csrf": token, "nom": ""}))
    short = c.post("/patients/p-1/bris-de-glace", data={"csrf": token, "raison": "vite"})
    assert reason in read(short), read(short)[:3000]
    gone = c.get("/nulle-part")
    assert gone.status_code == 404 and missing in read(gone)


@pytest.mark.parametrize(
    ("lang", "cip"), [("en", "A CIP code is made of 13 digits"), ("fr", "Le code CIP est fait de 13 chiffres")]
)
def test_dispensing_field_errors_in_the_pages_language(tmp_path: Path, lang: str, cip: str) -> None:
    pharmacy = make_pharmacy(tmp_path)
    try:
        c, token = signed_in(pharmacy, "ph.durand")
        in_language(c, token, lang)
        refused = c.post("/pharmacie/delivrance/p-1", data={"csrf": token, **DISPENSING, "code": "12"})
        said = error_of(refused, "code")
        assert said.startswith(cip) and not other_language(lang).search(said), said
        classes = "List I" if lang == "en" else "Liste I"  # the product categories offered
        assert f">{classes}</option>" in read(refused)
        entered = read(c.post("/pharmacie/delivrance/p-1", data={"csrf": token, **DISPENSING}))
        assert ("the prescription book" if lang == "en" else "l'ordonnancier") in entered, entered[-3000:]
    finally:
        pharmacy.close()


@pytest.mark.parametrize(
    ("lang", "said", "other"),
    [
        (
            "en",
            (
                "February 1980",
                "61.5 kg",
                "1 February 2026",
                "Yes",
                "patient under treatment",
                "25 November 2026",
                "23 December 2026",
                "female",
            ),
            ("février", "61,5", "novembre", "décembre", "Oui", "sous traitement", "féminin"),
        ),
        (
            "fr",
            (
                "février 1980",
                "61,5 kg",
                "1er février 2026",
                "Oui",
                "patient sous traitement",
                "25 novembre 2026",
                "23 décembre 2026",
            ),
            ("February", "61.5", "November", "December", "Yes", "under treatment"),
        ),
    ],
)
def test_a_compassionate_case_and_its_timeline_in_the_pages_language(
    tmp_path: Path, lang: str, said: tuple[str, ...], other: tuple[str, ...]
) -> None:
    """The birth month, the case's step, the next visit and every stored answer (numbers, dates, yes or no) are
    worded by the page's language; the protocol's own labels stay as the laboratory wrote them."""
    from test_web_aac import open_case

    hospital = make_compassionate(tmp_path)
    try:
        c, token = signed_in(hospital, "dr.prescrit")
        pid = open_case(c, token)
        lab, lab_token = signed_in(hospital, "ph.labo")
        case = f"/acces-compassionnel/dossiers/{pid}"
        granted = lab.post(f"{case}/formulaires/decision_laboratoire", data={"csrf": lab_token, "decision": "granted"})
        assert granted.status_code == 303
        started = {"csrf": token, "date_debut": "2026-11-25", "posologie": "20", "score_alsfrs": "40"}
        assert c.post(f"{case}/formulaires/initiation", data=started).status_code == 303
        in_language(c, token, lang)
        page = refusal_text(c.get(case))
        assert all(s in page for s in said), page
        assert not [o for o in other if o in page], page
        marked = c.get(case).text.split("<main", 1)[1]  # the protocol's own (French) words marked so in English
        if lang == "en":
            assert '<dt lang="fr">Poids</dt>' in marked and '<dd lang="fr">Accès accordé</dd>' in marked
            assert "<dd>61.5 kg</dd>" in marked and "<dd>Yes</dd>" in marked  # santegarde's words: the page's
        else:
            assert "<dt>Poids</dt>" in marked and 'lang="fr"' not in marked
        listed = refusal_text(c.get(PROGRAMME))
        assert said[4] in listed and said[6] in listed and other[5] not in listed, listed
    finally:
        hospital.close()
