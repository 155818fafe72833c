"""Messages of the lower layers a DPO or an operator reads are French by default, English as the option.

One check per area of the follow-up to issue 14: the audit trail's problems, the retention plan's notes, the
verification of a backup, and the justifications / référentiel / workers refusals. The French text must hold no
English tell-tale word and no raw snake_case identifier; the English text says the same facts.
"""

from __future__ import annotations

import re

import pytest

from santegarde.audit import chain
from santegarde.audit.trail import TrailTampered
from santegarde.cli import retention as retention_cli
from santegarde.cli import serve_workers
from santegarde.lifecycle.backup import restored_trail
from santegarde.referentials import loader
from santegarde.refusals import Said, catalogue
from santegarde.store.justifications import JustificationNotFound
from santegarde.store.retention import Note

ENGLISH = re.compile(
    r"\b(the|and|of|was|is|not|entry|trail|head|anchor|rows|restored|waiting|rule|purpose|longest|"
    r"deletion|there|no|workers?|memory)\b",
    re.IGNORECASE,
)
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def _french(text: str) -> None:
    text = re.sub(r"« santegarde [^»]*»|--[a-z-]+", "", text)  # commands and options are quoted as typed
    assert not ENGLISH.findall(text), (ENGLISH.findall(text), text)
    assert not SNAKE.findall(text), (SNAKE.findall(text), text)


@pytest.mark.parametrize("key", sorted(k for k in catalogue()["audit_chain"] if k != "entry"))
def test_every_problem_of_the_audit_trail_is_french_with_its_entry(key: str) -> None:
    facts = {"expected": 4, "last": 3, "sealed": 9, "number": 2, "path": "/srv/org/audit.anchor", "anchored": 5,
             "head": 3, "n": 1, "cause": "OperationalError", "seq": 7}  # fmt: skip
    problem = chain.problem(7, key, **facts)
    said = str(problem).replace("/srv/org/audit.anchor", "").replace("OperationalError", "")
    assert said.startswith("entrée 7 : ")
    _french(said)
    assert problem.in_language("en").startswith("entry 7: ") and problem.what in problem.in_language("en")


def test_a_tampered_trail_refuses_in_french_and_english() -> None:
    refused = TrailTampered("forged_head", seq=12)
    _french(str(refused))
    assert "entrée 12" in str(refused) and "santegarde audit verify" in str(refused)
    assert "(entry 12) does not carry a valid seal" in refused.in_language("en")


def test_the_problems_of_a_restored_trail_are_introduced_in_each_language() -> None:
    [said] = restored_trail([chain.problem(2, "edited")])
    assert str(said) == "Chaîne des traces restaurée : entrée 2 : son contenu a été modifié après son écriture."
    assert said.in_language("en") == "Restored audit trail: entry 2: its content was edited after it was written."


@pytest.mark.parametrize("key", sorted(catalogue()["backup_check"]))
def test_every_backup_verification_problem_is_french(key: str) -> None:
    facts = {"table": "record_part", "columns": "token", "got": 3, "expected": 4, "what": "…",
             "error": "CommandError", "found": {"fr": "entrée 3", "en": "entry 3"}, "seq": 4,
             "backup": "backup-1.sgb", "problems": "…"}  # fmt: skip
    said = Said.of("backup_check", key, **facts)
    # The table's and the error's own names are identifiers of the database and of a library, quoted as they are.
    _french(str(said).replace("record_part", "").replace("CommandError", "").replace("backup-1.sgb", ""))
    assert said.in_language("en") != str(said)


def test_retention_notes_name_the_items_of_the_text_in_french() -> None:
    ref = loader.get("aac-2022-106")
    rule = ref.retention[0].id
    event = next(r.active.start_event for r in ref.retention if r.active.start_event)
    purpose = ref.retention[0].applies_to[0]
    notes = [
        Note("waiting_event", event=event),
        Note("no_duration", rule=rule),
        Note("several_rules", rule=rule, others=(ref.retention[-1].id,), purpose=purpose),
        Note("unruled", purpose=purpose),
    ]
    for note in notes:
        said = retention_cli._note(ref, note, "fr")
        _french(said)
        assert retention_cli._note(ref, note, "en") != said
    for action in ("delete", "anonymise", "delete_or_anonymise"):
        _french(retention_cli._end_action(action, "fr"))


def test_justification_referential_and_workers_refusals_are_french() -> None:
    missing = JustificationNotFound(999)
    _french(str(missing))
    assert "There is no justification no. 999" in missing.in_language("en")
    with pytest.raises(loader.UnknownReferential) as unknown:
        loader.get("nope")
    _french(str(unknown.value).split("connus :")[0])  # the known ones are identifiers, listed as they are
    assert "There is no référentiel 'nope'" in unknown.value.in_language("en")
    with pytest.raises(serve_workers.WorkersRefused) as refused:
        serve_workers.check_count(0)
    _french(str(refused.value))
    assert "is not a number of worker processes" in refused.value.in_language("en")
