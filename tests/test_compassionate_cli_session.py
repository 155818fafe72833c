"""santegarde aac request | submit | report with a logged-in CLI session, on a compassionate demo organisation.

Each person logs in with the login command (password, then second factor), as at a terminal; the commands then go
through the one record path under that session: the prescriber requests and initiates, the laboratory's pharmacist
decides and writes the summary report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from typer.testing import CliRunner, Result

from santegarde.cli import session
from santegarde.cli.main import app
from santegarde.crypto.exchange import ExchangeError, open_envelope, parse_recipient
from santegarde.identity import accounts, grants, sessions, totp, training
from santegarde.runtime import identity_context, open_organisation

PASS = "fictitious passphrase for the compassionate cli tests"  # fictitious
PASSWORD = "Tisane-Violette-7-Horloge!"  # fictitious
REQUEST = ["poids=70", "taille=170", "diagnostic=G12.2", "date_diagnostic=2026-01-10", "mutation_sod1=true",
           "score_alsfrs=40"]  # fmt: skip


class Clock:
    """The CLI's identity clock, moved on two minutes per login: a TOTP code is never replayed in its window."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at


CLOCK = Clock()


@dataclass(frozen=True)
class Person:
    login: str
    password: str
    secret: str


@dataclass(frozen=True)
class Lab:
    config: Path
    pharmacist: Person
    prescriber: Person


@pytest.fixture(autouse=True)
def private_sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "runtime" / "santegarde"
    monkeypatch.setattr(session, "session_directory", lambda: directory)
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    monkeypatch.setenv("COLUMNS", "250")
    real = session.identity_context

    def clocked(org: Any) -> Any:
        ctx = real(org)
        ctx.clock = CLOCK.now
        return ctx

    monkeypatch.setattr(session, "identity_context", clocked)
    yield directory


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    directory = tmp_path_factory.mktemp("aac-cli") / "demo"
    made = CliRunner().invoke(
        app,
        ["demo", "--profile", "compassionate", "--dir", str(directory), "--patients", "1", "--seed", "11", "--json"],
        env={"SANTEGARDE_PASSPHRASE": PASS, "COLUMNS": "300"},
    )
    assert made.exit_code == 0, made.output
    found = json.loads(made.output)["account"]
    assert found is not None
    config = directory / "santegarde.yaml"
    listed = CliRunner().invoke(  # the demo registered the example programme, its ANSM decision in force
        app, ["aac", "programme", "list", "--config", str(config)], env={"SANTEGARDE_PASSPHRASE": PASS}
    )
    assert listed.exit_code == 0 and "velmorine-sla (versions 1)" in listed.output and "en vigueur" in listed.output
    org = open_organisation(config, PASS)  # the establishment's prescriber, set up as a person would be
    try:
        ctx = identity_context(org)
        _, temporary = accounts.add(ctx, "dr.cli", "Docteur Exemple", person_ref="10001234567", by="admin")
        assert temporary is not None
        # The compassionate profile checks the sensitisation training at login (access.training_months, 12).
        training.record(ctx, "dr.cli", ctx.now().date(), "Secret professionnel et données de santé", by="admin")
        grants.give(ctx, "dr.cli", "care_establishment_staff", validated_by="Responsable",
                    validator_role="governance_body", reason="fictitious prescriber", by="admin", establishment="h1",
                    ends_at=ctx.now() + timedelta(days=365))  # fmt: skip
        opened = sessions.login(ctx, "dr.cli", temporary, source="setup", workstation_class="office")
        sessions.change_password(ctx, opened.token, temporary, PASSWORD)
        sessions.accept_charter(ctx, opened.token, ctx.settings.charter_version)
        secret = totp.new_secret()
        sessions.enrol_second_factor(ctx, opened.token, secret, pyotp.TOTP(secret).now())
        sessions.logout(ctx, opened.token)
    finally:
        org.close()
    CLOCK.at = datetime.now(UTC)  # the CLI's clock starts after the set-up (grants, second factors)
    pharmacist = Person(found["login"], found["password"], found["totp_secret"])
    return Lab(config, pharmacist, Person("dr.cli", PASSWORD, secret))


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def ok(*args: str, input: str | None = None) -> str:
    result = run(*args, input=input)
    assert result.exit_code == 0, result.output
    return result.output


def login(lab: Lab, person: Person) -> None:
    CLOCK.at += timedelta(minutes=2)
    code = pyotp.TOTP(person.secret).at(CLOCK.now())
    out = ok("login", person.login, "--config", str(lab.config), input=f"{person.password}\n{code}\n")
    assert f"Connecté en tant que {person.login}" in out


def answers(pairs: list[str]) -> list[str]:
    return [arg for pair in pairs for arg in ("--answer", pair)]


def test_request_submit_and_report_under_a_logged_in_session(lab: Lab, tmp_path: Path) -> None:
    c = ("--config", str(lab.config))
    refused = run("aac", "submit", "no-such-patient", "suivi", *answers(["poids=70"]), *c)
    assert refused.exit_code == 2 and "pas connecté" in refused.output  # no session: nothing reaches the records

    login(lab, lab.prescriber)
    requested = ok("aac", "request", "velmorine-sla", "--surname", "Exemple", "--first-name", "Alix", "--sex",
                   "female", "--birth", "1970-01", "--establishment", "h1", *answers(REQUEST), *c)  # fmt: skip
    found = re.search(r"Patient (EXEAL-\d{5}) \(dossier (\S+)\)", requested)
    assert found is not None and " : en attente de décision." in requested, requested
    assert "demande_acces : demande d'accès" in requested and "access_request" not in requested
    patient = found.group(2)
    # The establishment does not decide: refused with the sentence, exit 2, nothing stored.
    decided_here = run("aac", "submit", patient, "decision_laboratoire", *answers(["decision=granted"]), *c)
    assert decided_here.exit_code == 2 and "c'est le laboratoire qui statue" in decided_here.output

    login(lab, lab.pharmacist)
    decided = ok("aac", "submit", patient, "decision_laboratoire", *answers(["decision=granted"]), *c)
    assert " : accès accordé." in decided and "decision_laboratoire" in decided

    login(lab, lab.prescriber)
    today = date.today().isoformat()
    started = ok("aac", "submit", patient, "initiation",
                 *answers([f"date_debut={today}", "posologie=20", "score_alsfrs=39"]), *c)  # fmt: skip
    assert " : sous traitement." in started
    follow_up = [f"date_visite={today}", "poids=69.5", "score_alsfrs=38", "observance=complete"]
    visit = ok("aac", "submit", patient, "suivi", *answers(follow_up), *c)
    assert " : sous traitement." in visit and "suivi : suivi" in visit
    english = ok("aac", "case", patient, "--lang", "en", *c)
    assert ": treated." in english and "suivi: follow-up" in english
    bad = run("aac", "submit", patient, "suivi", *answers([f"date_visite={today}", "poids=900"]), *c)
    assert bad.exit_code == 2 and "poids" in bad.output and "Traceback" not in bad.output

    login(lab, lab.pharmacist)
    out = tmp_path / "rapport.json"
    period = f"{(date.today() - timedelta(days=30)).isoformat()}..{(date.today() + timedelta(days=1)).isoformat()}"
    written = ok("aac", "report", "--programme", "velmorine-sla", "--period", period, "--out", str(out), *c)
    assert "écrit dans" in written and out.exists()
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["programme"] == "velmorine-sla@1" and data["small_cell_threshold"] == 11 and data["entries"]
    # One patient in the programme: every count is under the threshold, so none is shown.
    shown = [e for e in data["entries"] if e["value"] is not None and not e["suppressed"]]
    assert all(not isinstance(e["value"], int) or e["value"] == 0 or e["value"] >= 11 for e in shown), shown
    assert any(e["suppressed"] for e in data["entries"])


def test_extract_rebuild_and_export_from_the_cli(lab: Lab, tmp_path: Path) -> None:
    c = ("--config", str(lab.config))
    login(lab, lab.pharmacist)
    rebuilt = ok("aac", "extract", "rebuild", "velmorine-sla", *c)
    assert "reconstruit(s) à partir de leurs dossiers" in rebuilt
    out = tmp_path / "export.json"
    wanted = ("--categories", "patient_indirect_identity")
    refused = run("aac", "export", "velmorine-sla", "--recipient", "Filiale Exemple Inc.", "--country", "US",
                  *wanted, "--out", str(out), *c)  # fmt: skip
    assert refused.exit_code == 2 and "déclaré dans le registre des transferts" in " ".join(refused.output.split())
    assert not out.exists()  # nothing written
    done = ok("aac", "export", "velmorine-sla", "--recipient", "Prestataire Exemple", "--country", "FR", *wanted,
              "--out", str(out), *c)  # fmt: skip
    assert "dans l'Union européenne" in done and json.loads(out.read_text(encoding="utf-8"))["country"] == "FR"


def _opened(output: str, folder: Path, to: str) -> tuple[str, bytes]:
    """The document name and content of the envelope a command wrote, opened with the secret it printed."""
    said = " ".join(output.split())
    secret = re.search(r"Secret à usage unique, affiché seulement maintenant : (\S+)", said)
    envelope = re.search(r"l'enveloppe (\S+\.sgx) contient", said)
    assert secret is not None and envelope is not None, said
    assert Path(envelope.group(1)).parent == folder
    opened = open_envelope(Path(envelope.group(1)).read_bytes(), secret.group(1), recipient=parse_recipient(to))
    return opened.filename, opened.document


def test_reports_and_exports_for_the_authorities_leave_encrypted(lab: Lab, tmp_path: Path) -> None:
    c = ("--config", str(lab.config))
    login(lab, lab.pharmacist)
    to = "pharmacovigilance.exemple@crpv-exemple.mssante.fr"
    folder = tmp_path / "envois"
    folder.mkdir()
    out = folder / "export.json"
    wanted = ("--categories", "patient_indirect_identity")
    for recipient in ("CRPV Exemple", "ANSM", "regional_pharmacovigilance_centres"):
        refused = run("aac", "export", "velmorine-sla", "--recipient", recipient, "--country", "FR", *wanted,
                      "--out", str(out), *c)  # fmt: skip
        assert refused.exit_code == 2 and "part chiffré, le secret par un autre canal" in " ".join(
            refused.output.split()
        ), recipient
    unverified = run("aac", "export", "velmorine-sla", "--recipient", "ANSM", "--country", "FR", *wanted,
                     "--out", str(out), "--to", "someone@example.org", *c)  # fmt: skip
    assert unverified.exit_code == 2 and not list(folder.iterdir())
    sealed = ok("aac", "export", "velmorine-sla", "--recipient", "CRPV Exemple", "--country", "FR", *wanted,
                "--out", str(out), "--to", to, *c)  # fmt: skip
    assert not out.exists()  # nothing in clear
    name, document = _opened(sealed, folder, to)
    assert name == "export.json" and json.loads(document)["country"] == "FR"
    with pytest.raises(ExchangeError):  # addressed to the centre, not to anyone else
        other = "autre@ansm-exemple.mssante.fr"
        _opened(sealed, folder, other)
    period = f"{(date.today() - timedelta(days=30)).isoformat()}..{(date.today() + timedelta(days=1)).isoformat()}"
    report = folder / "rapport.csv"
    sealed = ok("aac", "report", "--programme", "velmorine-sla", "--period", period, "--out", str(report),
                "--to", "10001234565", *c)  # fmt: skip
    assert not report.exists()
    name, document = _opened(sealed, folder, "10001234565")
    assert name == "rapport.csv" and document.decode("utf-8").count("\n") > 1
    trail = open_organisation(lab.config, PASS)
    try:
        with trail.audit.engine.connect() as conn:
            sent = [e.content for e in trail.audit.entries(conn) if e.content.get("operation") == "exchange.send"]
    finally:
        trail.close()
    assert sum(e.get("rule") == "AAC-SEC-ÉCH-2" for e in sent) >= 2


def test_a_staff_grant_names_its_establishment_from_the_cli(lab: Lab) -> None:
    org = open_organisation(lab.config, PASS)
    try:
        accounts.add(identity_context(org), "dr.sud", "Docteur Sud", person_ref="10001234568", by="admin")
    finally:
        org.close()
    until = (CLOCK.now() + timedelta(days=200)).date().isoformat()
    who = ["--validated-by", "Responsable", "--reason", "prescripteur fictif", "--role", "governance_body"]
    grant = ["user", "grant", "dr.sud", "care_establishment_staff", *who, "--until", until, "--config", str(lab.config)]
    refused = run(*grant)
    assert refused.exit_code != 0 and "--establishment" in refused.output, refused.output
    given = ok(*grant, "--establishment", "ch-exemple-sud")
    assert "peut travailler sous le profil « care_establishment_staff »" in given
    assert "patients de l'établissement « ch-exemple-sud »" in given


def test_the_vigilance_inbox_is_pharmacovigilances_only_from_the_cli(lab: Lab) -> None:
    c = ("--config", str(lab.config))
    for person in (lab.pharmacist, lab.prescriber):
        login(lab, person)
        refused = run("aac", "vigilance", "list", "velmorine-sla", *c)
        assert refused.exit_code == 2 and "celle de la pharmacovigilance" in refused.output, refused.output
        english = run("aac", "vigilance", "ack", "1", *c, "--lang", "en")
        assert english.exit_code == 2 and "pharmacovigilance" in english.output
