"""Information notices (COM-INF-1, AAC-10, EDS-8): complete under art. 13/14, French, refused when a fact is missing."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notice_fixtures import PROFILES, complete_config
from notice_fixtures import notice as build
from santegarde.cli.governance_docs import notice_app
from santegarde.config import OrganisationConfig, save
from santegarde.config.check import check
from santegarde.config.model import Contact
from santegarde.errors import SantegardeError
from santegarde.governance.notices import (
    FORMATS,
    ONLY_FOR,
    NoticeError,
    render_notice,
    write_notice,
)
from santegarde.referentials.model import Referential

RETENTION = {
    "practice": {
        "fr": [
            "5 ans en base active à compter de la dernière intervention sur le dossier du patient",
            "puis 15 ans en archives à compter de la fin de la conservation en base active",
            "3 mois en base active à compter de la télétransmission de la feuille de soins électronique",
        ],
        "en": ["5 years in the active base from the last intervention on the patient's file", "15 years in archive"],
    },
    "pharmacy": {
        "fr": ["3 ans en base active à compter de la délivrance", "10 ans", "40 ans", "3 mois en base active"],
        "en": ["3 years", "10 years", "40 years"],
    },
    "compassionate": {
        "fr": [
            "2 ans en base active à compter de l'approbation par l'ANSM",
            "puis au plus 70 ans en archives à compter de l'expiration de l'autorisation d'accès compassionnel",
        ],
        "en": ["2 years"],
    },
    "warehouse": {"fr": ["20 ans en base active à compter de la collecte des données"], "en": ["20 years"]},
}
ENGLISH = re.compile(r"\b(the|and|of|by|to|Generated|years|set by controller|applies|corrected)\b")
SNAKE = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")


def _formats(ref: Referential) -> list[str]:
    return [f for f in FORMATS if ONLY_FOR.get(f, ref.id) == ref.id]


def _visible(text: str) -> str:
    """What a reader sees: no markup, no style sheet, no form field names."""
    text = re.sub(r"<style.*?</style>", " ", text, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


def _text(tmp_path: Path, profile: str, fmt: str, lang: str) -> str:
    config, ref = complete_config(tmp_path, profile)
    return _visible(render_notice(build(config, ref, fmt, lang)))


@pytest.mark.parametrize(
    ("profile", "referential"), [(p, None) for p in PROFILES] + [("practice", "pra-2020-081-draft")]
)
def test_every_notice_in_french_has_no_english_and_no_identifier(
    tmp_path: Path, profile: str, referential: str | None
) -> None:
    config, ref = complete_config(tmp_path, profile, referential)
    for fmt in _formats(ref):
        text = _visible(render_notice(build(config, ref, fmt, "fr")))
        assert not ENGLISH.findall(text), (fmt, sorted(set(ENGLISH.findall(text))))
        assert not SNAKE.findall(text), (fmt, sorted(set(SNAKE.findall(text))))
        assert "Organisation fictive" in text and ("www.cnil.fr" in text or fmt == "objection-form")


@pytest.mark.parametrize("profile", PROFILES)
def test_every_notice_renders_in_english(tmp_path: Path, profile: str) -> None:
    config, ref = complete_config(tmp_path, profile)
    for fmt in _formats(ref):
        text = _visible(render_notice(build(config, ref, fmt, "en")))
        assert "Organisation fictive" in text and not SNAKE.findall(text), fmt


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("profile", PROFILES)
def test_leaflet_states_retention_with_its_starting_point(tmp_path: Path, profile: str, lang: str) -> None:
    text = " ".join(_text(tmp_path, profile, "leaflet", lang).split())
    for fact in RETENTION[profile][lang]:
        assert fact in text, fact
    assert "www.cnil.fr" in text


@pytest.mark.parametrize("profile", PROFILES)
def test_leaflet_states_every_item_of_article_13(tmp_path: Path, profile: str) -> None:
    text = " ".join(_text(tmp_path, profile, "leaflet", "fr").split())
    assert "Camille Exemple" in text and "contact@exemple.invalid" in text  # 13.1 a
    assert "dpo@exemple.invalid" in text  # 13.1 b
    assert "Base légale" in text and "art. 6.1" in text  # 13.1 c
    assert "Fourniture des données" in text  # 13.2 e
    assert "Qui reçoit vos données" in text and "Transferts hors de l'Union européenne" in text  # 13.1 e, f
    assert "après votre décès (art. 85 de la loi Informatique et Libertés)" in text
    assert "Réclamation auprès de la CNIL" in text  # 13.2 d
    if profile in ("practice", "pharmacy"):
        assert "Intérêt légitime poursuivi" in text  # 13.1 d
        assert "art. L. 1111-7 du code de la santé publique" in text
        assert "Retrait de votre consentement" in text and "habitudes de vie" in text  # 13.2 c
    if profile == "compassionate":
        assert "L. 1111-7" not in text


def test_no_objection_where_article_21_does_not_open_it(tmp_path: Path) -> None:
    config, ref = complete_config(tmp_path, "pharmacy")
    notice = build(config, ref, "leaflet", "fr")
    objection = next(r for r in notice.rights if r.right == "objection")
    excluded = " ".join(objection.excluded_purposes)
    for purpose in ("Tenue de l'ordonnancier", "Vaccinations", "Établissement et télétransmission", "Dispensation"):
        assert purpose in excluded, purpose
    assert "Gestion des rendez-vous" not in excluded
    text = " ".join(render_notice(notice).split())
    assert "la transmission de votre ordonnance pour la délivrance de médicaments sur prescription" in text
    erasure = next(r for r in notice.rights if r.right == "erasure")
    assert "Tenue de l'ordonnancier" in " ".join(erasure.excluded_purposes)
    assert "art. 17.3 b du RGPD" in " ".join(erasure.exceptions)


def test_practice_care_file_and_medical_record_are_not_open_to_objection(tmp_path: Path) -> None:
    config, ref = complete_config(tmp_path, "practice")
    objection = next(r for r in build(config, ref, "leaflet", "fr").rights if r.right == "objection")
    excluded = " ".join(objection.excluded_purposes)
    assert "Gestion des dossiers médicaux" in excluded and "dossier de soins infirmiers" in excluded
    english = _text(tmp_path, "practice", "email", "en")
    assert "keeping a medical file meets a legal obligation; the patient cannot object" in english


def test_research_is_a_further_use_not_a_purpose_without_basis(tmp_path: Path) -> None:
    for profile in ("practice", "pharmacy", "warehouse"):
        text = " ".join(_text(tmp_path, profile, "leaflet", "fr").split())
        assert "non précisée" not in text
        assert "Réutilisation de vos données pour la recherche" in text and "art. 13.3 du RGPD" in text


def test_compassionate_access_tells_of_transfers_and_excludes_erasure_objection_portability(tmp_path: Path) -> None:
    config, ref = complete_config(tmp_path, "compassionate")
    notice = build(config, ref, "prescriber", "fr")
    status = {r.right: r.status for r in notice.rights}
    assert status == {
        "access": "applies",
        "rectification": "applies",
        "restriction": "applies",
        "erasure": "excluded",
        "objection": "excluded",
        "portability": "excluded",
    }
    text = " ".join(_visible(render_notice(notice)).split())
    assert "ne sont pas transférées" not in text
    assert "autres sociétés du groupe" in text and "art. 46.2 du RGPD" in text and "(§12)" in text
    assert "durée fixée" not in text
    poster = " ".join(_text(tmp_path, "compassionate", "poster", "fr").split())
    assert "peuvent être transférées hors de l'Union européenne" in poster and "ne sont pas transférées" not in poster
    assert "libre d'accepter ou de refuser" in text and "personne de confiance" in text


def test_related_persons_note_is_article_14_with_source_and_categories(tmp_path: Path) -> None:
    text = " ".join(_text(tmp_path, "compassionate", "related-persons", "fr").split())
    assert "D'où viennent ces données ?" in text and "art. 14 du RGPD" in text
    assert "Données d'identification des personnes en lien avec le patient" in text
    assert "ne peut pas donner suite à votre demande" in text


def test_platform_notice_for_professionals(tmp_path: Path) -> None:
    text = " ".join(_text(tmp_path, "compassionate", "platform", "fr").split())
    assert "première connexion" in text and "(§10.6)" in text
    assert "Données relatives aux professionnels de santé" in text and "art. 14 du RGPD" in text
    raw = render_notice(build(*complete_config(tmp_path, "warehouse"), "platform", "fr"))
    assert 'type="checkbox"' in raw
    config, ref = complete_config(tmp_path, "practice")
    notice = build(config, ref, "platform", "fr")
    assert [p.id for p in notice.purposes] == ["security"]  # the practice's purposes concern patients, not them
    assert not notice.further and not notice.consent_items and not notice.csp_access
    objection = next(r for r in notice.rights if r.right == "objection")
    assert objection.status == "excluded" and "obligation légale" in objection.exceptions[0]


def test_warehouse_delay_policy_source_and_objection_form(tmp_path: Path) -> None:
    leaflet = " ".join(_text(tmp_path, "warehouse", "leaflet", "fr").split())
    assert "Un délai de 1 mois s'écoule" in leaflet and "(§9.1)" in leaflet
    assert "Notre politique de protection des données personnelles" in leaflet
    assert "https://exemple.invalid/protection-des-donnees" in leaflet
    assert "D'où viennent ces données ?" in leaflet and "Données génétiques" in leaflet
    form = render_notice(build(*complete_config(tmp_path, "warehouse"), "objection-form", "fr"))
    assert "<form" in form and 'name="objection"' in form and "Je m&#39;oppose" in form
    config, ref = complete_config(tmp_path, "warehouse")
    rights = {r.right: r for r in build(config, ref, "web", "fr").rights}
    assert rights["erasure"].status == "applies" and rights["objection"].status == "applies"
    assert rights["portability"].status == "excluded"
    exception = {**config.choices, "information_exception": config.choices["information_exception"].model_copy()}
    for value, told in ((True, True), (False, False)):
        exception["information_exception"] = exception["information_exception"].model_copy(update={"value": value})
        web = render_notice(build(config.model_copy(update={"choices": exception}), ref, "web", "fr"))
        assert ("art. 14.5 b du RGPD" in web) is told


def _without(config: OrganisationConfig, **organisation: object) -> OrganisationConfig:
    return config.model_copy(update={"organisation": config.organisation.model_copy(update=organisation)})


def test_a_notice_with_a_missing_fact_is_refused_naming_the_setting(tmp_path: Path) -> None:
    config, ref = complete_config(tmp_path, "warehouse")
    with pytest.raises(NoticeError) as refused:
        build(_without(config, dpo=None, data_protection_policy=None), ref, "leaflet", "fr")
    assert "organisation.dpo" in str(refused.value) and "organisation.data_protection_policy" in str(refused.value)
    practice, pref = complete_config(tmp_path, "practice")
    anonymous = _without(practice, controller=Contact(name="Camille Exemple"), dpo=None)
    with pytest.raises(NoticeError, match=r"organisation\.controller\.email"):
        build(anonymous, pref, "poster", "fr")
    no_basis = practice.model_copy(update={"deviations": practice.deviations.model_copy(update={"legal_basis": []})})
    with pytest.raises(NoticeError, match=r"deviations\.legal_basis"):
        build(no_basis, pref, "leaflet", "fr")
    warned = {f.subject for f in check(no_basis, pref) if f.kind == "no_legal_basis"}
    assert warned == {"professional_communications", "internal_studies"}  # config check says so before any notice
    assert not [f for f in check(practice, pref) if f.kind == "no_legal_basis"]
    pharmacy, phref = complete_config(tmp_path, "pharmacy")
    choices = {k: v for k, v in pharmacy.choices.items() if k != "other_data_retention_start"}
    with pytest.raises(SantegardeError, match=r"choices\.other_data_retention_start"):  # the configuration check
        build(pharmacy.model_copy(update={"choices": choices}), phref, "leaflet", "fr")


def test_email_is_plain_text(tmp_path: Path) -> None:
    text = _text(tmp_path, "pharmacy", "email", "fr")
    config, ref = complete_config(tmp_path, "pharmacy")
    raw = render_notice(build(config, ref, "email", "fr"))
    assert not re.search(r"<[a-z]+[ >]|&#\d+;|&amp;", raw)
    assert "l'ordonnancier" in text


def test_notice_files_and_the_poster_on_one_a4_page(tmp_path: Path) -> None:
    config, ref = complete_config(tmp_path, "pharmacy")
    from weasyprint import HTML

    poster = build(config, ref, "poster", "fr")
    assert write_notice(poster, tmp_path / "affiche.pdf").read_bytes().startswith(b"%PDF")
    assert len(HTML(string=render_notice(poster)).render().pages) == 1, "the poster must fit on one A4 page"
    mail = write_notice(build(config, ref, "email", "en"), tmp_path / "mail.txt")
    assert "www.cnil.fr" in mail.read_text(encoding="utf-8")
    with pytest.raises(NoticeError, match=r"\.txt"):
        write_notice(build(config, ref, "email", "en"), tmp_path / "mail.html")
    with pytest.raises(NoticeError, match=r"\.html ou \.pdf"):
        write_notice(build(config, ref, "web", "en"), tmp_path / "web.txt")


def test_refusals(tmp_path: Path) -> None:
    config, ref = complete_config(tmp_path, "pharmacy")
    with pytest.raises(NoticeError, match="eds-2021-118"):
        build(config, ref, "objection-form", "fr")
    with pytest.raises(NoticeError, match="aac-2022-106"):
        build(config, ref, "prescriber", "fr")
    with pytest.raises(NoticeError, match="La langue « de » n'est pas disponible"):
        build(config, ref, "leaflet", "de")
    with pytest.raises(NoticeError, match="n'est pas un format de notice") as refused:
        build(config, ref, "flyer", "fr")
    assert refused.value.in_language("en").startswith("The format 'flyer' is not a notice format")


def test_cli_notice(tmp_path: Path) -> None:
    config, _ = complete_config(tmp_path, "warehouse")
    path = tmp_path / "santegarde.yaml"
    save(config, path)
    runner = CliRunner()
    ok = runner.invoke(
        notice_app,
        ["--format", "objection-form", "--lang", "en", "--out", str(tmp_path / "f.html"), "--config", str(path)],
    )
    assert ok.exit_code == 0, ok.output
    assert "I object" in (tmp_path / "f.html").read_text(encoding="utf-8")
    save(_without(config, dpo=None), path)
    refused = runner.invoke(notice_app, ["--out", str(tmp_path / "l.html"), "--config", str(path)])
    assert refused.exit_code == 2 and "organisation.dpo" in refused.output
    said = " ".join(refused.output.split())
    assert said.startswith("Erreur : La notice n'est pas produite") and "délégué à la protection des données" in said
    english = runner.invoke(notice_app, ["--lang", "en", "--out", str(tmp_path / "l.html"), "--config", str(path)])
    assert " ".join(english.output.split()).startswith("Error: The notice is not produced")
    assert not (tmp_path / "l.html").exists()
    wrong = runner.invoke(
        notice_app, ["--format", "prescriber", "--out", str(tmp_path / "p.html"), "--config", str(path)]
    )
    assert wrong.exit_code == 2 and "aac-2022-106" in wrong.output
