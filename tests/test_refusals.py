"""The refusals catalogue (data/refusals.yaml): every refusal in French and English, same facts, and
the language a person reads it in (CLI --lang, API Accept-Language)."""

from __future__ import annotations

import re
import string

import pytest

from santegarde import refusals
from santegarde.api.errors import language
from santegarde.rights.requests import RequestNotFound, RightsError

SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")
ENGLISH = re.compile(r"\b(the|and|is|not|was|request|choose|give|say)\b", re.IGNORECASE)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize(
    ("area", "key"), [(area, key) for area, entries in refusals.catalogue().items() for key in entries]
)
def test_every_refusal_is_worded_in_french_and_english_with_the_same_facts(area: str, key: str) -> None:
    entry = refusals.catalogue()[area][key]
    assert set(entry) == {"fr", "en"}, (area, key)
    assert _fields(entry["fr"]) == _fields(entry["en"]), (area, key)
    french = re.sub(r"\{\w+\}", "", entry["fr"])
    # What a person types (commands, options, headers, a column named as an example) is not wording.
    typed = r"(santegarde [\w -]+|--[\w-]+|X-Purpose[^)]*|POST \S+|resourceType|[\w.]+\.yaml|par exemple \w+)"
    french = re.sub(typed, "", french)
    assert not ENGLISH.search(french), (area, key, entry["fr"])
    assert not SNAKE.search(french), (area, key, entry["fr"])
    for text in entry.values():  # a sentence, or a clause another refusal puts in its sentence (lower case, or
        # opening on a fact worded in lower case: "{why} est interdite…")
        assert text[0].islower() or text[0] in "{«" or text.rstrip().endswith((".", ")", "»", "}")), (area, key)


def test_a_refusal_is_french_by_default_and_english_as_the_option() -> None:
    refused = RightsError("bad_requester", value="voisin", choices=refusals.choices(["person", "related_person"]))
    assert str(refused) == "« voisin » n'est pas un type de demandeur : choisissez parmi person ou related_person."
    assert refused.in_language("en") == "'voisin' is not a kind of requester; use one of: person or related_person."
    missing = RequestNotFound("not_found", number=7)
    assert isinstance(missing, RightsError) and "n° 7" in str(missing) and "number 7" in missing.in_language("en")


def test_a_fact_worded_per_language_takes_each_language_its_own() -> None:
    words = refusals.sentences("rights", "already_lifted", id=3, date={"fr": "31/12/2026", "en": "2026-12-31"})
    assert "levée le 31/12/2026" in words["fr"] and "lifted on 2026-12-31" in words["en"]


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, "fr"),
        ("", "fr"),
        ("en", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("de-DE,en;q=0.7,fr;q=0.5", "en"),
        ("de-DE", "fr"),
        ("en;q=0.2,fr;q=0.8", "fr"),
        ("en;q=abc", "fr"),
        ("*", "fr"),
    ],
)
def test_the_api_answers_in_the_language_the_request_prefers(header: str | None, lang: str) -> None:
    assert language(header) == lang


def test_grant_and_rebuild_refusals_are_french_by_default_and_english_as_the_option() -> None:
    from santegarde.compassionate.rebuild import RebuildInterrupted
    from santegarde.identity.errors import GrantError

    refused = GrantError("time_limited", profile="researcher", rid="eds-2021-118", section="8.2")
    assert str(refused) == (
        "Le profil « researcher » est limité dans le temps par le référentiel eds-2021-118 (§8.2) : donnez une date "
        "de fin (--until)."
    )
    assert (
        refused.in_language("en")
        == "The profile 'researcher' is time-limited under eds-2021-118 (§8.2): give an end date (--until)."
    )
    assert isinstance(refused, ValueError) and refused.key == "time_limited"  # still caught where it was
    interrupted = RebuildInterrupted(refusals.sentences("rebuild", "interrupted", number=4, programme=2))
    assert "Le cas n° 4" in str(interrupted) and "aac extract rebuild 2" in interrupted.in_language("en")
