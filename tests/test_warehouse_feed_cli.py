"""santegarde warehouse feed | oppose from the command line (EDS-3, EDS-4, EDS-9, EDS-SEC-LOG-6).

On a demo warehouse organisation (fictitious data), with the demo person's own session (``santegarde login``):
the feed needs the session under the feeding profile — without a session, or under another profile chosen at
login, it is refused with a sentence and the refusal is in the audit trail; without --data-list the feed uses
the list recorded with ``santegarde warehouse committee variable-add``; an empty list is refused with a sentence
saying what to do. An objection is registered under the profile handling the rights (data_steward).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner, Result

from santegarde.audit.tables import entry
from santegarde.cli import session
from santegarde.cli.keys import opened
from santegarde.cli.main import app
from santegarde.identity import grants
from santegarde.identity.context import IdentityContext
from santegarde.runtime import Organisation, identity_context, open_organisation
from santegarde.synthetic import generate_dataset

PASS = "demo passphrase for the warehouse feed cli tests"
LIST = {
    "person.gender_concept_id": "the sex, for every study",
    "person.year_of_birth": "age at the events",
    "measurement.measurement_concept_id": "which measurement",
    "measurement.measurement_date": "when it was measured",
    "measurement.value_as_number": "the measured value",
    "measurement.unit_concept_id": "the unit of the value",
}


@dataclass(frozen=True)
class Demo:
    config: Path
    login: str
    password: str
    secret: str


class Clock:
    """The identity clock of the commands: ahead of real time and moved forward at each login (no TOTP replay)."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC) + timedelta(hours=1)

    def now(self) -> datetime:
        return self.at


@pytest.fixture(autouse=True)
def passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """The passphrase from the environment, session files under tmp_path, the identity clock of the commands."""
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setattr(session, "session_directory", lambda: tmp_path / "runtime" / "santegarde")
    clock = Clock()
    real = session.identity_context

    def clocked(org: Organisation) -> IdentityContext:
        ctx = real(org)
        ctx.clock = clock.now
        return ctx

    monkeypatch.setattr(session, "identity_context", clocked)
    yield clock


@pytest.fixture
def demo(tmp_path: Path, passphrase: Clock) -> Demo:
    directory = tmp_path / "demo"
    result = run("demo", "--profile", "warehouse", "--dir", str(directory), "--patients", "1", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)["account"]
    assert found is not None
    path = directory / "santegarde.yaml"
    ok("warehouse", "init", "--config", str(path))
    return Demo(path, found["login"], found["password"], found["totp_secret"])


@pytest.fixture
def config(demo: Demo, passphrase: Clock) -> Path:
    """The demo organisation, its person logged in under the feeding profile (the only one the demo grants)."""
    login(demo, passphrase)
    return demo.config


def login(demo: Demo, clock: Clock, *extra: str) -> str:
    clock.at += timedelta(minutes=2)
    code = pyotp.TOTP(demo.secret).at(clock.now())
    return ok("login", demo.login, "--config", str(demo.config), *extra, input=f"{demo.password}\n{code}\n")


def grant(demo: Demo, profile: str) -> None:
    with opened(demo.config) as org:
        grants.give(
            identity_context(org),
            demo.login,
            profile,
            validated_by="Comité de gouvernance (fictif)",
            validator_role="governance_body",
            reason="also handles the rights requests of the persons",
            by="admin",
        )


def audit_events(demo: Demo) -> list[dict[str, Any]]:
    org = open_organisation(demo.config, PASS)
    try:
        with org.audit.engine.connect() as conn:
            return [json.loads(c) for c in conn.execute(select(entry.c.content).order_by(entry.c.seq)).scalars()]
    finally:
        org.close()


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    path = tmp_path / "bundle.json"
    path.write_text(generate_dataset(7, 3, profile="warehouse").bundle().json(), encoding="utf-8")
    return path


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def ok(*args: str, input: str | None = None) -> str:
    result = run(*args, input=input)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_an_empty_committee_list_is_refused_with_a_sentence(config: Path, bundle: Path) -> None:
    result = run("warehouse", "feed", "--source", "dpi", "--fhir", str(bundle), "--config", str(config))
    assert result.exit_code != 0
    said = " ".join(result.output.split())
    assert "data list is empty" in said and "declare variables with santegarde warehouse committee variable-add" in said
    assert not any((config.parent / "warehouse" / "transit").iterdir())


def test_feed_uses_the_committee_list_by_default(config: Path, bundle: Path) -> None:
    for variable, why in LIST.items():
        ok("warehouse", "committee", "variable-add", variable, "--justification", why, "--by", "Comité de pilotage",
           "--config", str(config))  # fmt: skip
    out = ok("warehouse", "feed", "--source", "dpi", "--fhir", str(bundle), "--config", str(config))
    assert "measurement" in out and "person" in out
    assert "Refused condition_occurrence.condition_concept_id: not on the steering committee's data list" in out
    again = json.loads(ok("warehouse", "feed", "--source", "dpi", "--fhir", str(bundle), "--json", "--config",
                          str(config)))  # fmt: skip
    assert {"rows", "refused", "objected_skipped", "expired_skipped", "files"} == set(again) and again["files"] == 1
    assert {"item": "condition_occurrence.condition_concept_id", "reason": "not on the steering committee's data "
            "list"} in again["refused"]  # fmt: skip


def test_an_explicit_data_list_still_wins(config: Path, bundle: Path, tmp_path: Path) -> None:
    explicit = tmp_path / "list.yaml"
    explicit.write_text(yaml.safe_dump(LIST), encoding="utf-8")
    out = ok(
        "warehouse",
        "feed",
        "--source",
        "dpi",
        "--fhir",
        str(bundle),
        "--data-list",
        str(explicit),
        "--config",
        str(config),
    )
    assert "measurement" in out


def test_feed_without_a_session_is_refused(demo: Demo, bundle: Path, tmp_path: Path) -> None:
    explicit = tmp_path / "list.yaml"
    explicit.write_text(yaml.safe_dump(LIST), encoding="utf-8")
    result = run(
        "warehouse",
        "feed",
        "--source",
        "dpi",
        "--fhir",
        str(bundle),
        "--data-list",
        str(explicit),
        "--config",
        str(demo.config),
    )
    assert result.exit_code != 0
    assert "Vous n'êtes pas connecté : lancez santegarde login." in " ".join(result.output.split())


def test_feed_under_another_profile_is_refused_then_oppose_and_feed_again(
    demo: Demo, passphrase: Clock, bundle: Path, tmp_path: Path
) -> None:
    """The account holds feeding and data_steward; the profile chosen at login decides (EDS-SEC-LOG-5, LOG-6)."""
    explicit = tmp_path / "list.yaml"
    explicit.write_text(yaml.safe_dump(LIST), encoding="utf-8")
    feed = (
        "warehouse",
        "feed",
        "--source",
        "dpi",
        "--fhir",
        str(bundle),
        "--data-list",
        str(explicit),
        "--config",
        str(demo.config),
    )
    grant(demo, "data_steward")
    assert "profil data_steward" in login(demo, passphrase, "--profile", "data_steward")
    refused = run(*feed)
    said = " ".join(refused.output.split())
    assert refused.exit_code != 0 and "only the profile(s) feeding may feed the warehouse" in said, said
    assert "santegarde login --profile" in said
    denied = [e for e in audit_events(demo) if e["operation"] == "warehouse.feed" and e["outcome"] == "denied"]
    assert [(e["actor"], e["profile"], e["rule"]) for e in denied] == [(demo.login, "data_steward", "EDS-SEC-ALI-1")]
    assert not any((demo.config.parent / "warehouse" / "transit").iterdir())

    login(demo, passphrase, "--profile", "feeding")
    assert "person" in ok(*feed)
    patient = generate_dataset(7, 3, profile="warehouse").patients[0]
    oppose = ["warehouse", "oppose", "--family", patient.name[0].family, "--given", patient.name[0].given[0],
              "--birthdate", str(patient.birthDate), "--config", str(demo.config)]  # fmt: skip
    wrong_profile = run(*oppose)
    assert wrong_profile.exit_code != 0 and "only the profile(s) data_steward may register an objection" in " ".join(
        wrong_profile.output.split()
    )

    login(demo, passphrase, "--profile", "data_steward")
    wrong = run(*oppose, "--ins", "299999999999999")
    assert wrong.exit_code != 0 and "INS" in wrong.output
    assert "Opposition enregistrée" in ok(*oppose)
    login(demo, passphrase, "--profile", "feeding")
    assert "Persons skipped because they objected: 1" in ok(*feed)
    erased = [e for e in audit_events(demo) if e["operation"] == "warehouse.genetic_location.erase"]
    assert [(e["profile"], e["outcome"]) for e in erased] == [("data_steward", "success")]


def test_warehouse_init_is_never_overwritten(demo: Demo) -> None:
    result = run("warehouse", "init", "--config", str(demo.config))
    assert result.exit_code != 0 and "never overwritten" in result.output


def test_feed_and_oppose_say_what_they_need(demo: Demo) -> None:
    for command in ("feed", "oppose"):
        said = " ".join(ok("warehouse", command, "--help").split())
        assert "santegarde login" in said


def test_a_feed_without_its_source_is_refused(config: Path, bundle: Path) -> None:
    """Issue 15: the CLI named every OMOP source 'omop', so two unrelated sources merged their person_id 1."""
    result = run("warehouse", "feed", "--fhir", str(bundle), "--config", str(config))
    assert result.exit_code != 0 and "--source" in result.output
    bad = run("warehouse", "feed", "--source", "Mon DPI", "--fhir", str(bundle), "--config", str(config))
    said = " ".join(bad.output.split())
    assert bad.exit_code != 0 and "The source name 'Mon DPI' is not valid" in said, said
    assert not any((config.parent / "warehouse" / "transit").iterdir())


def test_notes_enter_only_with_deidentify_notes(config: Path, tmp_path: Path) -> None:
    omop_dir = tmp_path / "omop"
    omop_dir.mkdir()
    (omop_dir / "person.csv").write_text(
        "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id\n101,8507,1950,0,0\n"
    )
    (omop_dir / "note.csv").write_text(
        "note_id,person_id,note_date,note_type_concept_id,note_class_concept_id,encoding_concept_id,"
        'language_concept_id,note_text\n1,101,2024-01-01,32817,0,0,0,"Mme Ysolde Marchetaux, tél 06 12 34 56 78"\n',
        encoding="utf-8",
    )
    explicit = tmp_path / "list.yaml"
    explicit.write_text(
        yaml.safe_dump(
            {**LIST, **{f"note.{c}": "text mining" for c in ("note_date", "note_text", "note_class_concept_id",
                                                              "encoding_concept_id", "language_concept_id")}}
        ),
        encoding="utf-8",
    )  # fmt: skip
    feed = ("warehouse", "feed", "--source", "dpi", "--omop", str(omop_dir), "--data-list", str(explicit))
    feed = (*feed, "--config", str(config))
    out = ok(*feed)
    assert "Refused note: unstructured text is refused until a de-identifier is configured" in out
    alone = run(*feed, "--note-surrogates")
    said = " ".join(alone.output.split())
    assert alone.exit_code != 0 and "--note-surrogates only applies with --deidentify-notes" in said, said
    out = ok(*feed, "--deidentify-notes", "--note-surrogates")
    assert "Refused note" not in out and re.search(r"\bnote\W+1\b", out), out
    for file in (config.parent / "warehouse").rglob("*"):
        if file.is_file():
            assert b"Marchetaux" not in file.read_bytes() and b"Ysolde" not in file.read_bytes(), file.name


def test_identity_review_link_undo_and_separate_from_the_command_line(
    config: Path, demo: Demo, passphrase: Clock, tmp_path: Path
) -> None:
    """Issue 15: the identity-vigilance queue is read and decided from the CLI, traced; other profiles are refused."""
    from test_warehouse_core import FULL
    from test_warehouse_matching import patient

    full = tmp_path / "full.yaml"
    full.write_text(yaml.safe_dump(FULL), encoding="utf-8")
    for source, pid, sex in (("dpi-a", "a", "male"), ("dpi-b", "b", "female")):
        path = tmp_path / f"{source}.json"
        entries = [{"resource": r} for r in patient(pid, "LEROY", "Dominique", "1960-01-02", sex, place="Metz")]
        path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}), "utf-8")
        ok("warehouse", "feed", "--source", source, "--fhir", str(path), "--data-list", str(full),
           "--config", str(config))  # fmt: skip
    listed = " ".join(re.sub("[│┃]", " ", ok("warehouse", "identity", "review", "--config", str(config))).split())
    assert "LEROY" not in listed and "1960" not in listed
    found = re.search(r"(\d+) à examiner \S+ identique identique identique différent identique inconnu", listed)
    assert found is not None, listed
    review = found.group(1)
    assert review == "1"  # a short number the reviewer types, not a 19-digit id
    pairs = json.loads(ok("warehouse", "identity", "review", "--json", "--config", str(config)))  # the same facts
    assert [(p["review"], p["status"], p["identities"]) for p in pairs] == [(1, "open", None)]
    assert pairs[0]["traits"] == {"family": "identique", "given": "identique", "birth_date": "identique",
                                  "sex": "différent", "birth_place": "identique", "ins": "inconnu"}  # fmt: skip
    assert "LEROY" not in json.dumps(pairs)
    assert "lignes rattachées" in ok("warehouse", "identity", "link", review, "--config", str(config))
    assert "Aucune paire" in ok("warehouse", "identity", "review", "--config", str(config))
    assert "à examiner" in ok("warehouse", "identity", "undo", review, "--config", str(config))
    assert "distinctes" in ok("warehouse", "identity", "separate", review, "--config", str(config))
    again = run("warehouse", "identity", "link", review, "--config", str(config))
    assert again.exit_code != 0 and "identity undo" in " ".join(again.output.split())
    unknown = run("warehouse", "identity", "link", "2", "--config", str(config))
    assert unknown.exit_code != 0 and "Aucune paire n°2" in " ".join(unknown.output.split())
    typo = run("warehouse", "identity", "separate", "un", "--config", str(config))
    assert typo.exit_code != 0 and "un" in typo.output
    grant(demo, "data_steward")
    login(demo, passphrase, "--profile", "data_steward")
    refused = run("warehouse", "identity", "review", "--config", str(config))
    assert refused.exit_code != 0 and "only the profile(s) feeding" in " ".join(refused.output.split())
    decided = [(e["operation"], e["outcome"]) for e in audit_events(demo) if e["operation"].startswith("warehouse.id")]
    assert ("warehouse.identity.link", "success") in decided and ("warehouse.identity.review", "denied") in decided


def test_vocabulary_loads_athena_files_from_the_command_line_and_refuses_with_sentences(
    config: Path, demo: Demo, passphrase: Clock, tmp_path: Path
) -> None:
    """Issue 15: `warehouse vocabulary FOLDER` loads an Athena download, traced; wrong folders and profiles refused."""
    from test_warehouse_vocabulary import athena

    folder = athena(tmp_path / "athena")
    out = ok("warehouse", "vocabulary", str(folder), "--config", str(config))
    assert "Vocabulaires chargés : concept 4, concept_ancestor 2, concept_relationship 2, vocabulary 1." in out
    # loaded again: each table replaced whole, nothing doubles
    assert "concept 4," in ok("warehouse", "vocabulary", str(folder), "--config", str(config))
    # a file that is not an Athena vocabulary table: refused, and the load before is kept as it was
    (folder / "PERSON.csv").write_text("person_id\n1\n", encoding="utf-8")
    refused = run("warehouse", "vocabulary", str(folder), "--config", str(config))
    said = " ".join(refused.output.split())
    assert refused.exit_code != 0 and "doit contenir les fichiers Athena" in said and "inconnus : person" in said
    assert "Traceback" not in refused.output
    empty = tmp_path / "vide"
    empty.mkdir()
    refused = run("warehouse", "vocabulary", str(empty), "--config", str(config))
    assert refused.exit_code != 0 and "CONCEPT.csv" in refused.output
    # only the feeding profile loads vocabularies
    grant(demo, "data_steward")
    login(demo, passphrase, "--profile", "data_steward")
    (folder / "PERSON.csv").unlink()
    refused = run("warehouse", "vocabulary", str(folder), "--config", str(config))
    assert refused.exit_code != 0 and "feeding" in " ".join(refused.output.split())
    outcomes = [(e["operation"], e["outcome"]) for e in audit_events(demo) if e["operation"] == "warehouse.vocabulary"]
    assert outcomes.count(("warehouse.vocabulary", "success")) == 2 and ("warehouse.vocabulary", "denied") in outcomes
