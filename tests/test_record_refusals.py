"""The record path's refusals (policy, store) in French by default and English as the option: each carries its
sentence in both languages, names no raw identifier in French, and keeps the rule that decided it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from santegarde.atomic import AlreadyExists, write_new_bytes
from santegarde.errors import WordedError
from santegarde.policy import AccessRequest, decide
from santegarde.referentials import loader
from santegarde.referentials.model import Operation
from santegarde.store.service import AccessDenied, NotFound

SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")
ENGLISH = re.compile(r"\b(the|and|is|not|may|profile|purpose|category|allowed)\b")


def test_an_existing_file_is_refused_in_french_by_default_and_english_as_the_option(tmp_path: Path) -> None:
    target = tmp_path / "lettre.html"
    target.write_text("déjà là", encoding="utf-8")
    with pytest.raises(AlreadyExists) as refused:
        write_new_bytes(target, b"autre")
    assert isinstance(refused.value, WordedError)
    assert str(refused.value) == f"Le fichier {target} existe déjà et n'est jamais écrasé : choisissez un autre nom."
    assert refused.value.in_language("en") == f"{target} already exists and is never overwritten; choose another name."
    assert target.read_text(encoding="utf-8") == "déjà là"


def _denials() -> list[tuple[str, AccessRequest]]:
    """One request per way the policy refuses, on the practice's référentiel."""
    return [
        ("purpose.undeclared", AccessRequest("practitioner", Operation.READ, "identity_contact", "mailing")),
        ("category.unknown", AccessRequest("practitioner", Operation.READ, "horoscope", "medical_record")),
        ("profile.unknown", AccessRequest("gardener", Operation.READ, "identity_contact", "medical_record")),
        ("accessors.secretariat", AccessRequest("secretariat", Operation.READ, "health", "medical_record")),
        ("accessors.maintenance", AccessRequest("maintenance", Operation.WRITE, "identity_contact", "medical_record")),
    ]


@pytest.mark.parametrize(("kind", "request_"), _denials(), ids=[k for k, _ in _denials()])
def test_a_policy_refusal_is_worded_in_french_without_english_or_identifiers(
    kind: str, request_: AccessRequest
) -> None:
    ref = loader.get("pra-2020-081")
    decision = decide(ref, request_)
    assert not decision.allowed and decision.rule.startswith(kind)
    french = decision.reason_in("fr")
    assert decision.reason_in("en") == decision.reason and french != decision.reason
    typed = re.sub(r"«[^»]*»|: [\w, -]+$", "", french)  # what the person typed, and the identifiers to type
    assert not ENGLISH.search(typed), french
    assert not SNAKE.search(typed), french


def test_the_store_frames_the_policy_reason_in_each_language() -> None:
    ref = loader.get("pra-2020-081")
    decision = decide(ref, AccessRequest("secretariat", Operation.READ, "health", "medical_record"))
    reason = {"fr": decision.reason_in("fr"), "en": decision.reason}
    refused = AccessDenied("refused", decision.rule, decision.section, reason=reason)
    assert str(refused).startswith("Refusé : votre profil n'est pas autorisé à lire cette catégorie de données")
    assert refused.in_language("en").startswith("Refused: the profile '")
    assert refused.rule == decision.rule and isinstance(refused, PermissionError)


def test_a_missing_record_is_said_in_both_languages() -> None:
    missing = NotFound("not_found", type="Observation", id="o-9")
    assert str(missing).startswith("Aucune ressource Observation d'identifiant « o-9 »")
    assert missing.in_language("en") == "There is no Observation with id 'o-9'."
    assert missing.in_language("de") == str(missing)  # a language not offered: French
