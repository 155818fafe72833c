"""Information notices (COM-INF-1, AAC-10, EDS-8) generated from a demo configuration of each profile."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from santegarde.cli.governance_docs import notice_app
from santegarde.config import OrganisationConfig, save
from santegarde.demo import demo_answers
from santegarde.governance.notices import FORMATS, ONLY_FOR, NoticeError, build_notice, render_notice, write_notice
from santegarde.organisation import build_config
from santegarde.referentials import loader
from santegarde.referentials.model import Referential

PROFILES = ["practice", "pharmacy", "compassionate", "warehouse"]
RETENTION = {
    "practice": {
        "fr": ["5 ans en base active", "15 ans en archives"],
        "en": ["5 years in the active base", "15 years in archive"],
    },
    "pharmacy": {"fr": ["3 ans", "10 ans", "40 ans"], "en": ["3 years", "10 years", "40 years"]},
    "compassionate": {"fr": ["2 ans"], "en": ["2 years"]},
    "warehouse": {"fr": ["20 ans"], "en": ["20 years"]},
}


def _config(tmp_path: Path, profile: str) -> tuple[OrganisationConfig, Referential]:
    values, justifications = demo_answers(loader.for_profile(profile))
    if "objection_notice_period" in values:
        values["objection_notice_period"] = "P1M"
    return build_config(
        tmp_path / "org",
        profile,
        organisation_name=f"Fictitious {profile}",
        choices=values,
        justifications=justifications,
    )


def _text(tmp_path: Path, profile: str, fmt: str, lang: str) -> str:
    config, ref = _config(tmp_path, profile)
    text = render_notice(build_notice(config, ref, fmt, lang))
    return text if fmt == "email" else html.unescape(text)


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("profile", PROFILES)
def test_every_format_of_every_profile_renders(tmp_path: Path, profile: str, lang: str) -> None:
    config, ref = _config(tmp_path, profile)
    for fmt in FORMATS:
        if fmt in ONLY_FOR and ONLY_FOR[fmt] != ref.id:
            continue
        text = render_notice(build_notice(config, ref, fmt, lang))
        assert "www.cnil.fr" in text or fmt == "objection-form", fmt
        assert f"Fictitious {profile}" in text


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("profile", PROFILES)
def test_leaflet_states_retention_and_the_complaint_right(tmp_path: Path, profile: str, lang: str) -> None:
    text = _text(tmp_path, profile, "leaflet", lang)
    for fact in RETENTION[profile][lang]:
        assert fact in text, fact
    assert "CNIL" in text and "www.cnil.fr" in text
    assert ("Aucun : vos données ne sont pas transférées" if lang == "fr" else "None: your data are not") in text
    assert ("Aucun délégué" if lang == "fr" else "No data protection officer") in text  # the demo names none


def test_pharmacy_says_no_objection_to_the_dispensing_registers(tmp_path: Path) -> None:
    config, ref = _config(tmp_path, "pharmacy")
    notice = build_notice(config, ref, "leaflet", "fr")
    objection = next(r for r in notice.rights if r.right == "objection")
    assert objection.status == "partly"
    assert any(
        "Tenue de l'ordonnancier et des registres de dispensation" in e
        and "ne peut pas s'y opposer" in e
        and "(§9)" in e
        for e in objection.exceptions
    )
    english = build_notice(config, ref, "leaflet", "en")
    assert "the patient/client cannot object" in render_notice(english)


def test_practice_medical_record_cannot_be_objected_to(tmp_path: Path) -> None:
    text = _text(tmp_path, "practice", "email", "en")
    assert "keeping a medical file meets a legal obligation; the patient cannot object" in text


def test_compassionate_excludes_erasure_objection_portability(tmp_path: Path) -> None:
    config, ref = _config(tmp_path, "compassionate")
    notice = build_notice(config, ref, "prescriber", "fr")
    status = {r.right: r.status for r in notice.rights}
    assert status == {
        "access": "applies",
        "rectification": "applies",
        "restriction": "applies",
        "erasure": "excluded",
        "objection": "excluded",
        "portability": "excluded",
    }
    erasure = next(r for r in notice.rights if r.right == "erasure")
    assert "obligation légale" in erasure.exceptions[0] and "(§11.3)" in erasure.exceptions[0]


def test_prescriber_note_says_the_text(tmp_path: Path) -> None:
    text = _text(tmp_path, "compassionate", "prescriber", "fr")
    assert "Note d'information remise par le médecin prescripteur" in text
    assert "autorisation d'accès compassionnel" in text and "libre d'accepter ou de refuser" in text
    assert "personne de confiance" in text and "médecin de votre choix" in text
    assert "ne s'applique pas" in text


def test_related_persons_note_is_article_14_and_protects_medical_secrecy(tmp_path: Path) -> None:
    text = _text(tmp_path, "compassionate", "related-persons", "en")
    assert "art. 14 GDPR" in text and "art. 13 GDPR" in text
    assert "cannot act on your request" in text
    assert "Identification data of persons related to the patient" in text


def test_warehouse_one_month_delay_and_objection_form(tmp_path: Path) -> None:
    leaflet = _text(tmp_path, "warehouse", "leaflet", "fr")
    assert "Un délai de 1 mois s'écoule" in leaflet and "(§9.1)" in leaflet
    assert "formulaire d'opposition" in leaflet
    form = _text(tmp_path, "warehouse", "objection-form", "fr")
    assert "<form" in form and 'name="objection"' in form and 'name="birth_date"' in form
    assert "Je m'oppose" in form
    english = _text(tmp_path, "warehouse", "email", "en")
    assert "A period of 1 month elapses" in english
    portability = next(
        r for r in build_notice(*_config(tmp_path, "warehouse"), "web", "en").rights if r.right == "portability"
    )
    assert portability.status == "excluded" and "public interest" in portability.exceptions[0]


def test_platform_notice_for_professionals(tmp_path: Path) -> None:
    text = _text(tmp_path, "compassionate", "platform", "en")
    assert "first connection" in text.lower() and "(§10.6)" in text and "directly with the controller" in text
    assert 'type="checkbox"' in text


def test_email_is_plain_text(tmp_path: Path) -> None:
    text = _text(tmp_path, "pharmacy", "email", "fr")
    assert not re.search(r"<[a-z]+[ >]|&#\d+;|&amp;", text)
    assert "l'ordonnancier" in text


def test_notice_files_and_pdf(tmp_path: Path) -> None:
    config, ref = _config(tmp_path, "practice")
    pdf = write_notice(build_notice(config, ref, "poster", "fr"), tmp_path / "poster.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    mail = write_notice(build_notice(config, ref, "email", "en"), tmp_path / "mail.txt")
    assert "www.cnil.fr" in mail.read_text(encoding="utf-8")
    with pytest.raises(NoticeError, match=r"\.txt"):
        write_notice(build_notice(config, ref, "email", "en"), tmp_path / "mail.html")
    with pytest.raises(NoticeError, match=r"\.html or \.pdf"):
        write_notice(build_notice(config, ref, "web", "en"), tmp_path / "web.txt")


def test_refusals(tmp_path: Path) -> None:
    config, ref = _config(tmp_path, "pharmacy")
    with pytest.raises(NoticeError, match="eds-2021-118"):
        build_notice(config, ref, "objection-form", "fr")
    with pytest.raises(NoticeError, match="aac-2022-106"):
        build_notice(config, ref, "prescriber", "fr")
    with pytest.raises(NoticeError, match="language"):
        build_notice(config, ref, "leaflet", "de")
    with pytest.raises(NoticeError, match="not a notice format"):
        build_notice(config, ref, "flyer", "fr")


def test_cli_notice(tmp_path: Path) -> None:
    config, _ = _config(tmp_path, "warehouse")
    path = tmp_path / "santegarde.yaml"
    save(config, path)
    runner = CliRunner()
    ok = runner.invoke(
        notice_app,
        ["--format", "objection-form", "--lang", "en", "--out", str(tmp_path / "f.html"), "--config", str(path)],
    )
    assert ok.exit_code == 0, ok.output
    assert "I object" in (tmp_path / "f.html").read_text(encoding="utf-8")
    strict = runner.invoke(notice_app, ["--strict", "--out", str(tmp_path / "l.html"), "--config", str(path)])
    assert strict.exit_code == 2  # the demo configuration names no DPO
    refused = runner.invoke(
        notice_app, ["--format", "prescriber", "--out", str(tmp_path / "p.html"), "--config", str(path)]
    )
    assert refused.exit_code == 2 and "aac-2022-106" in refused.output
