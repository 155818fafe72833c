"""The French vocabulary of référentiel items: complete for every référentiel, no English fallback."""

from __future__ import annotations

import re

import pytest

from santegarde.governance import vocabulary
from santegarde.governance.vocabulary import VocabularyError, duration, label, missing, since
from santegarde.referentials import loader
from santegarde.referentials.model import Duration

REFS = sorted(loader.load_all())
_SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")


@pytest.mark.parametrize("ref_id", REFS)
def test_every_item_of_every_referential_has_a_french_label(ref_id: str) -> None:
    ref = loader.get(ref_id)
    assert missing(ref) == []
    for kind, item_id in vocabulary.items(ref):
        text = label(ref, kind, item_id)
        assert text.strip() and not _SNAKE.search(text), (kind, item_id, text)
        assert not _SNAKE.search(label(ref, kind, item_id, "en")), (kind, item_id)
        if ref.language == "en" and kind not in ("event", "deliberation"):
            assert text != label(ref, kind, item_id, lang="en"), f"{ref_id} {kind} {item_id} is still English"


def test_a_missing_french_label_is_an_error_not_an_english_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {k: v for k, v in vocabulary._vocabulary().items()}
    table["pha-2022-067"] = {k: dict(v) if isinstance(v, dict) else v for k, v in table["pha-2022-067"].items()}
    del table["pha-2022-067"]["purpose"]["vaccination"]
    monkeypatch.setattr(vocabulary, "_vocabulary", lambda: table)
    ref = loader.get("pha-2022-067")
    assert missing(ref) == ["purpose vaccination"]
    with pytest.raises(VocabularyError, match=r"vaccination.*vocabulary\.fr\.yaml"):
        label(ref, "purpose", "vaccination")


def test_labels_in_english_are_the_referentials_own_wording() -> None:
    assert label("pha-2022-067", "purpose", "vaccination", "en").startswith("Vaccines that pharmacists")
    assert label("pha-2022-067", "purpose", "vaccination") == (
        "Vaccinations que les pharmaciens sont autorisés à administrer (art. L. 5125-1-1 A, 9°, du CSP)"
    )
    assert label("eds-2021-118", "section", "9") == "Droits des personnes"
    draft = loader.get("pra-2020-081-draft")
    assert label(draft, "purpose", "medical_record") == next(p.name for p in draft.purposes if p.id == "medical_record")


def test_unknown_items_kinds_and_languages_are_refused_with_a_sentence() -> None:
    with pytest.raises(VocabularyError, match="has no purpose 'nope'"):
        label("pha-2022-067", "purpose", "nope")
    with pytest.raises(VocabularyError, match="not a kind"):
        label("pha-2022-067", "measures", "PHA-PRO-1")
    with pytest.raises(VocabularyError, match="has no measure 'PHA-PRO-99'"):
        label("pha-2022-067", "measure", "PHA-PRO-99")
    with pytest.raises(VocabularyError, match="language 'de'"):
        label("pha-2022-067", "purpose", "dispensing", "de")


@pytest.mark.parametrize("ref_id", REFS)
def test_every_security_measure_has_a_french_title(ref_id: str) -> None:
    ref = loader.get(ref_id)
    titles = {m.code: label(ref, "measure", m.code) for m in ref.measures}
    assert ref.measures and all(vocabulary.items(ref).count(("measure", code)) == 1 for code in titles)
    if ref.language == "en":
        own = {m.code: m.title for m in ref.measures}
        english = [code for code, title in titles.items() if title == own[code]]
        assert english == [], f"{ref_id}: measures still titled in English: {english}"
        extra = set(vocabulary._vocabulary()[ref_id]["measure"]) - set(titles)
        assert extra == set(), f"{ref_id}: French titles for measures the référentiel does not have: {sorted(extra)}"


def test_a_measure_without_a_french_title_is_reported_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(vocabulary._vocabulary())
    table["aac-2022-106"] = {**table["aac-2022-106"], "measure": dict(table["aac-2022-106"]["measure"])}
    del table["aac-2022-106"]["measure"]["SEC-AUT-2"]
    monkeypatch.setattr(vocabulary, "_vocabulary", lambda: table)
    ref = loader.get("aac-2022-106")
    assert missing(ref) == ["measure SEC-AUT-2"]
    with pytest.raises(VocabularyError, match=r"SEC-AUT-2.*vocabulary\.fr\.yaml"):
        label(ref, "measure", "SEC-AUT-2")
    assert label("pha-2022-067", "measure", "PHA-PRO-11") == "Verrouillage automatique de session"
    assert label("pha-2022-067", "measure", "PHA-PRO-11", "en") == "Automatic session lock"


def test_deliberations_are_written_in_french() -> None:
    corrected = "2021-118 (rectifiée par la délibération n° 2021-123)"
    assert label("eds-2021-118", "deliberation", "eds-2021-118") == corrected
    assert label("pha-2022-067", "deliberation", "pha-2022-067") == "2022-067"


def test_starting_points_and_durations_are_written_as_a_french_dpo_writes_them() -> None:
    assert since("pra-2020-081", "last_intervention") == (
        "à compter de la dernière intervention sur le dossier du patient"
    )
    assert since("eds-2021-118", "collection") == "à compter de la collecte des données"
    assert since("pha-2022-067", "trace_recorded") == "à compter de l'enregistrement de la trace"
    assert since("pha-2022-067", "trace_recorded", "en") == "from the recording of the trace"
    assert duration(Duration.model_validate("P5Y")) == "5 ans"
    assert duration(Duration.model_validate("P1Y")) == "1 an"
    assert duration(Duration.model_validate("P1Y6M")) == "1 an et 6 mois"
    assert duration(Duration.model_validate("P1Y6M3D")) == "1 an, 6 mois et 3 jours"
    assert duration(Duration.model_validate("P3M"), "en") == "3 months"


def test_every_stored_record_type_has_a_french_name_for_the_copy_of_the_data() -> None:
    from santegarde.governance.rights_text import resource_name
    from santegarde.store.mapping import RESOURCES

    for resource_type in RESOURCES:
        assert resource_name(resource_type) != resource_type
    with pytest.raises(VocabularyError, match=r"rights\.fr\.yaml"):
        resource_name("Basic")


def test_every_element_the_synthetic_records_use_has_a_french_name_in_the_copy_of_the_data() -> None:
    import dataclasses

    from santegarde.governance.rights_text import element_name, element_path
    from santegarde.synthetic import generate_dataset

    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                found.add(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for profile in ("practice", "pharmacy", "compassionate", "warehouse"):
        data = generate_dataset(3, 3, profile)
        for f in dataclasses.fields(data):
            for resource in getattr(data, f.name) if isinstance(getattr(data, f.name), tuple) else ():
                walk(resource if isinstance(resource, dict) else resource.model_dump(mode="json", exclude_none=True))
    unnamed = sorted(key for key in found - {"resourceType", "meta"} if element_name(key).startswith("«"))
    assert unnamed == [], f"add these FHIR elements under elements in governance/data/rights.fr.yaml: {unnamed}"
    assert element_path([("name", None), ("given", 1)]) == "Nom › Prénom n° 2"
    assert element_name("somethingNew") == "« somethingNew »"  # shown, never dropped


def _engine_errors() -> list[str]:
    """Every message the anonymity engine raises, its interpolated values replaced by a sample value."""
    import ast
    from pathlib import Path

    import santegarde.warehouse.anonymity as engine

    found = []
    for source in sorted(Path(engine.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            called = getattr(node, "func", None)
            if not (
                isinstance(node, ast.Call) and getattr(called, "id", None) in ("AnonymityError", "IndicatorRefused")
            ):
                continue
            message = node.args[0]
            if isinstance(message, ast.Constant):
                found.append(str(message.value))
            else:
                assert isinstance(message, ast.JoinedStr), f"{source.name}:{node.lineno}: a message the test can read"
                found.append(
                    "".join(str(v.value) if isinstance(v, ast.Constant) else "'age', 'sexe'" for v in message.values)
                )
    return found


def test_every_message_of_the_anonymity_engine_has_a_french_sentence() -> None:
    from santegarde.governance.doctext import engine_message

    messages = _engine_errors()
    assert len(messages) > 30
    untranslated = [m for m in messages if not engine_message(m, "fr").known]
    assert untranslated == [], f"add these to governance/data/engine_messages.yaml: {untranslated}"
    said = engine_message("The hierarchy has a cycle through 'dep'; fix the configuration.", "fr")
    assert said.text == "La hiérarchie comporte un cycle passant par 'dep' ; corrigez la configuration."
    assert not engine_message("Something new went wrong.", "fr").known  # shown as a technical message
    assert engine_message("Something new went wrong.", "en").known  # English is the engine's own language
