"""AAC-1: the processing rests on a declaration of conformity only while it strictly complies with aac-2022-106;
any deviation in santegarde.yaml turns the conformity report's verdict into "authorisation needed (art. 66 III)",
until the specific authorisation is recorded."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from santegarde.config import OrganisationConfig, load, save
from santegarde.config.model import CnilFormality, Deviations, RetentionDeviation
from santegarde.demo import demo_answers
from santegarde.governance.conformity import build_report, render, to_data
from santegarde.governance.formality import verdict
from santegarde.organisation import build_config
from santegarde.referentials import loader
from santegarde.referentials.model import Duration, Referential

REASON = "Le protocole impose un suivi plus long que le référentiel pour la pharmacovigilance de ce médicament."


def _config(tmp_path: Path, profile: str = "compassionate") -> tuple[OrganisationConfig, Referential]:
    values, justifications = demo_answers(loader.for_profile(profile))
    return build_config(
        tmp_path / "org", profile, organisation_name="Laboratoire fictif", choices=values, justifications=justifications
    )


def _deviating(config: OrganisationConfig) -> OrganisationConfig:
    longer = RetentionDeviation(rule="follow_up_data", active=Duration(years=3), justification=REASON)
    return config.model_copy(update={"deviations": Deviations(retention=[longer])})


def test_the_verdict_follows_the_formality_and_the_deviations(tmp_path: Path) -> None:
    config, ref = _config(tmp_path)
    missing = verdict(config, ref)
    assert missing is not None and missing.code == "formality_missing"
    assert "configuration de l'organisme" in missing.sentence
    declared = config.model_copy(
        update={
            "cnil_formality": CnilFormality(
                kind="declaration_of_conformity", reference="DC-2026-0042", granted=date(2026, 3, 2)
            )
        }
    )
    ok = verdict(declared, ref)
    assert ok is not None and ok.code == "conformity_declared" and "DC-2026-0042, 02/03/2026" in ok.sentence
    needed = verdict(_deviating(declared), ref)
    assert needed is not None and needed.code == "authorisation_needed" and needed.deviations
    assert needed.sentence.startswith("Autorisation nécessaire (article 66 III")
    english = verdict(_deviating(declared), ref, "en")
    assert english is not None and english.sentence.startswith("Authorisation needed (article 66 III")
    authorised = _deviating(declared).model_copy(
        update={
            "cnil_formality": CnilFormality(
                kind="specific_authorisation", reference="DR-2026-123", granted=date(2026, 5, 4)
            )
        }
    )
    covered = verdict(authorised, ref)
    assert covered is not None and covered.code == "authorised" and "DR-2026-123 du 04/05/2026" in covered.sentence


def test_the_conformity_report_states_the_verdict(tmp_path: Path) -> None:
    config, ref = _config(tmp_path)
    report = build_report(_deviating(config), ref)
    assert to_data(report)["formality"]["kind"] == "authorisation_needed"
    page = render(report)
    assert "Formalité auprès de la CNIL" in page and "Autorisation nécessaire (article 66 III" in page


@pytest.mark.parametrize("profile", ["practice", "pharmacy"])
def test_other_texts_ask_no_such_formality(tmp_path: Path, profile: str) -> None:
    config, ref = _config(tmp_path, profile)
    assert verdict(config, ref) is None and to_data(build_report(config, ref))["formality"] is None


def test_the_formality_is_kept_in_santegarde_yaml(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    formality = CnilFormality(kind="declaration_of_conformity", reference="DC-2026-0042", granted=date(2026, 3, 2))
    path = tmp_path / "santegarde.yaml"
    save(config.model_copy(update={"cnil_formality": formality}), path)
    assert load(path).cnil_formality == formality


def test_the_legal_bases_are_the_texts_own_and_a_change_needs_an_authorisation(tmp_path: Path) -> None:
    """AAC-4: every purpose of the programme rests on a legal obligation (art. 6.1 c) and, for the health data, on
    the public interest in public health (art. 9.2 i), as the text says; the register states them in French, and
    another basis written in santegarde.yaml is a deviation that needs the CNIL's authorisation (art. 66 III)."""
    from santegarde.config.model import LegalBasisDeviation
    from santegarde.governance.register import LOGGING, build_register

    config, ref = _config(tmp_path)
    register = build_register(config, ref)
    activities = [a for a in register.activities if a.id != LOGGING]
    assert {a.id for a in activities} == {"access_initiation_follow_up", "professional_contacts", "summary_reports"}
    for activity in activities:
        assert [b.art6 for b in activity.legal_bases] == ["legal_obligation"], activity.id
        assert [(b.text, b.source) for b in activity.legal_bases] == [
            ("respect d'une obligation légale (art. 6.1.c RGPD)", "référentiel")
        ]
    for health in ("access_initiation_follow_up", "summary_reports"):
        art9 = next(a.art9 for a in activities if a.id == health)
        assert art9.startswith("motifs d'intérêt public dans le domaine de la santé publique (art. 9.2.i RGPD)")

    declared = config.model_copy(
        update={
            "cnil_formality": CnilFormality(
                kind="declaration_of_conformity", reference="DC-2026-0042", granted=date(2026, 3, 2)
            )
        }
    )
    consent = LegalBasisDeviation(purpose="summary_reports", art6="consent", justification=REASON)
    changed = declared.model_copy(update={"deviations": Deviations(legal_basis=[consent])})
    needed = verdict(changed, ref)
    assert needed is not None and needed.code == "authorisation_needed" and "66 III" in needed.sentence
