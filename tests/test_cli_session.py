"""A professional's own session from the command line, and data through it (COM-PUR-1, COM-RGT-1, COM-ARC-1).

On a demo organisation: login (password, second factor; charter and password change for a new
account), the token in a private file only, record search/read/history and the archive through
identity → policy → store → audit, the rights desk, logout, the inactivity lock and its unlock.
The identity clock is a fake one that only moves forward, so TOTP codes are never replays and
nothing waits.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from santegarde.audit.tables import entry
from santegarde.cli import session
from santegarde.cli.main import app as main_app
from santegarde.config import load
from santegarde.identity.context import IdentityContext
from santegarde.identity.tables import session as session_table
from santegarde.runtime import Organisation, open_organisation
from santegarde.store.db import make_engine
from santegarde.store.schema import record
from santegarde.synthetic import generate_dataset

PASS = "demo passphrase for the cli session tests"
SEED = 2026
PURPOSE = ["--purpose", "medical_record"]
NOT_LOGGED_IN = "Vous n'êtes pas connecté : lancez santegarde login."


APP = main_app


class Clock:
    """The identity clock of the CLI commands: starts an hour ahead of real time and only moves forward."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC) + timedelta(hours=1)

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


CLOCK = Clock()


@dataclass(frozen=True)
class Demo:
    config: Path
    login: str
    password: str
    secret: str


@dataclass(frozen=True)
class People:
    """The synthetic patients of the demo seed (fictitious), and one observation of the first."""

    patient_id: str
    family: str
    given: str
    birthdate: str
    observation_id: str


def make_demo(directory: Path) -> Demo:
    result = CliRunner().invoke(
        main_app,
        ["demo", "--dir", str(directory), "--patients", "2", "--seed", str(SEED), "--json"],
        env={"SANTEGARDE_PASSPHRASE": PASS, "COLUMNS": "300"},
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)["account"]
    assert found is not None
    return Demo(directory / "santegarde.yaml", found["login"], found["password"], found["totp_secret"])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return make_demo(tmp_path_factory.mktemp("cli-session") / "demo")


@pytest.fixture(scope="module")
def people() -> People:
    resources: list[Any] = list(generate_dataset(seed=SEED, patients=2, profile="practice").resources())
    first = next(r for r in resources if r.__resource_type__ == "Patient")
    observation = next(
        r
        for r in resources
        if r.__resource_type__ == "Observation" and r.subject and r.subject.reference == f"Patient/{first.id}"
    )
    name = first.name[0]
    return People(str(first.id), str(name.family), str(name.given[0]), str(first.birthDate), str(observation.id))


@pytest.fixture(autouse=True)
def private_sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Session files under tmp_path, the keystore passphrase from the environment, the fake identity clock."""
    directory = tmp_path / "runtime" / "santegarde"
    monkeypatch.setattr(session, "session_directory", lambda: directory)
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    monkeypatch.setenv("COLUMNS", "250")
    real = session.identity_context

    def clocked(org: Organisation) -> IdentityContext:
        ctx = real(org)
        ctx.clock = CLOCK.now
        return ctx

    monkeypatch.setattr(session, "identity_context", clocked)
    CLOCK.advance(minutes=2)
    yield directory


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(APP, list(args), input=input)


def ok(*args: str, input: str | None = None) -> str:
    result = run(*args, input=input)
    assert result.exit_code == 0, result.output
    return result.output


def flat(*args: str) -> str:
    """A command's output on one line (Rich wraps long sentences at the terminal's width)."""
    return " ".join(ok(*args).split())


def refused(*args: str, input: str | None = None) -> str:
    result = run(*args, input=input)
    assert result.exit_code == 2, result.output
    return " ".join(result.output.split())


def code(demo: Demo) -> str:
    return pyotp.TOTP(demo.secret).at(CLOCK.now())


def wrong_code(demo: Demo) -> str:
    totp = pyotp.TOTP(demo.secret)
    valid = {totp.at(CLOCK.now() + timedelta(seconds=30 * k)) for k in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def login(demo: Demo, *extra: str) -> str:
    return ok("login", demo.login, "--config", str(demo.config), *extra, input=f"{demo.password}\n{code(demo)}\n")


def audit_events(demo: Demo) -> list[dict[str, Any]]:
    org = open_organisation(demo.config, PASS)
    try:
        with org.audit.engine.connect() as conn:
            return [json.loads(c) for c in conn.execute(select(entry.c.content).order_by(entry.c.seq)).scalars()]
    finally:
        org.close()


def open_sessions(demo: Demo) -> int:
    org = open_organisation(demo.config, PASS)
    try:
        with org.engine.connect() as conn:
            return len(conn.execute(select(session_table.c.token_hash).where(session_table.c.ended_at.is_(None))).all())
    finally:
        org.close()


# -- login, the session file, logout ------------------------------------------------------------------


def test_login_reads_records_through_the_path_then_logout(demo: Demo, people: People, private_sessions: Path) -> None:
    c = ["--config", str(demo.config)]
    out = login(demo, "--workstation", "office")
    assert f"Connecté en tant que {demo.login}, profil practitioner" in out and "Aucune étape en attente" in out
    path = session.session_path(demo.config)
    token = path.read_text()
    assert path.parent == private_sessions and path.name.endswith(".session")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert token not in out and demo.password not in out
    who = ok("whoami", *c)
    assert demo.login in who and "Facteurs d'authentification : 2 (mot de passe)" in who
    who_en = ok("whoami", "--lang", "en", *c)
    assert f"Logged in as {demo.login}" in who_en and "Factors: 2 (password)" in who_en and "No pending step" in who_en

    found = ok("record", "search", "Patient", "--family", people.family, *PURPOSE, *c)
    assert people.patient_id in found and people.family.upper() in found and people.birthdate in found
    assert people.patient_id in ok("record", "search", "Patient", "--given", people.given, *PURPOSE, *c)
    both = ok("record", "search", "Patient", "--birthdate", people.birthdate, "--family", people.family, *PURPOSE, *c)
    assert people.patient_id in both
    none = ["record", "search", "Patient", "--family", "Inexistant", *PURPOSE, *c]
    assert "Aucune ressource Patient ne correspond" in ok(*none)
    assert "No Patient matches" in ok(*none, "--lang", "en")
    assert "au moins un critère de recherche" in refused("record", "search", "Patient", *PURPOSE, *c)
    assert "at least one search criterion" in refused("record", "search", "Patient", *PURPOSE, "--lang", "en", *c)

    body = json.loads(ok("record", "read", "Patient", people.patient_id, *PURPOSE, *c))
    assert body["resourceType"] == "Patient" and body["name"][0]["family"] == people.family
    observation = json.loads(ok("record", "read", "Observation", people.observation_id, *PURPOSE, *c))
    assert observation["subject"]["reference"] == f"Patient/{people.patient_id}"
    versions = json.loads(ok("record", "history", "Patient", people.patient_id, *PURPOSE, *c))
    assert [v["meta"]["versionId"] for v in versions] == ["1"]
    nope = refused("record", "read", "Patient", "nope", *PURPOSE, *c)
    assert "Erreur : Aucune ressource Patient d'identifiant « nope »" in nope
    assert "no Patient with id 'nope'" in refused("record", "read", "Patient", "nope", *PURPOSE, "--lang", "en", *c)
    assert "Refusé : « marketing » n'est pas une finalité" in refused(
        "record", "read", "Patient", people.patient_id, "--purpose", "marketing", *c
    )

    events = [e for e in audit_events(demo) if e["actor"] == demo.login and e["source"].startswith("cli@")]
    done = {(e["operation"], e["allowed"]) for e in events}
    assert {("search", True), ("read", True), ("history", True), ("read", False)} <= done
    assert all(e["purpose"] for e in events)

    assert "Déconnecté : la session est terminée." in ok("logout", *c)
    assert "You are not logged in: run santegarde login." in refused("whoami", "--lang", "en", *c)
    assert not path.exists()
    assert NOT_LOGGED_IN in refused("record", "read", "Patient", people.patient_id, *PURPOSE, *c)
    assert NOT_LOGGED_IN in refused("whoami", *c)
    assert NOT_LOGGED_IN in refused("logout", *c)
    # The server-side session has ended too: the old token is refused even if someone kept it.
    session.save_token(demo.config, token)
    assert "does not exist or has ended" in refused("whoami", *c)
    session.forget_token(demo.config)


def test_a_wrong_second_factor_or_password_opens_nothing(demo: Demo) -> None:
    before = open_sessions(demo)
    c = ["--config", str(demo.config)]
    bad = refused("login", demo.login, *c, input=f"{demo.password}\n{wrong_code(demo)}\n")
    assert "The code is not valid" in bad
    assert not session.session_path(demo.config).exists() and open_sessions(demo) == before
    assert "The login or the password is not correct." in refused("login", demo.login, *c, input="not it\n")
    assert "Unknown workstation class" in refused(
        "login", demo.login, "--workstation", "corridor", *c, input=f"{demo.password}\n"
    )
    assert not session.session_path(demo.config).exists() and open_sessions(demo) == before


def test_a_session_file_readable_by_others_is_not_used(demo: Demo, people: People) -> None:
    login(demo)
    path = session.session_path(demo.config)
    path.chmod(0o644)
    out = refused("record", "read", "Patient", people.patient_id, *PURPOSE, "--config", str(demo.config))
    assert "lisible par d'autres" in out and NOT_LOGGED_IN in out and not path.exists()


def test_a_new_login_replaces_the_previous_session(demo: Demo) -> None:
    login(demo)
    first = session.session_path(demo.config).read_text()
    CLOCK.advance(minutes=1)
    login(demo)
    assert session.session_path(demo.config).read_text() != first
    session.save_token(demo.config, first)
    assert "has ended" in refused("whoami", "--config", str(demo.config))


def test_the_session_locks_after_inactivity_and_unlocks_with_the_password(demo: Demo, people: People) -> None:
    c = ["--config", str(demo.config)]
    login(demo, "--workstation", "public_area")
    CLOCK.advance(minutes=6)
    assert "locked itself after 5 minutes" in refused("record", "read", "Patient", people.patient_id, *PURPOSE, *c)
    assert session.session_path(demo.config).exists()  # a locked session is kept, to be unlocked
    assert "The login or the password is not correct." in refused("unlock", *c, input="not it\n")
    assert "Connecté en tant que" in ok("unlock", *c, input=f"{demo.password}\n")
    assert json.loads(ok("record", "read", "Patient", people.patient_id, *PURPOSE, *c))["id"] == people.patient_id
    ok("logout", *c)


def test_charter_and_password_change_of_a_new_account(demo: Demo, people: People) -> None:
    c = ["--config", str(demo.config)]
    added = ok("user", "add", "dr.nouveau", "--name", "Camille Nouveau", "--ref", "10009990002", "--by", "adm", *c)
    found = re.search(r"remettez-le en main propre : (\S+)", added)
    assert found is not None
    ok(
        "user",
        "grant",
        "dr.nouveau",
        "practitioner",
        "--validated-by",
        "Dr Martin",
        "--reason",
        "joins the practice",
        "--by",
        "adm",
        *c,
    )
    new = "a long enough new passphrase for the cli"
    declined = refused("login", "dr.nouveau", *c, input=f"{found.group(1)}\n{new}\n{new}\nn\n")
    assert "pas accepté la charte de confidentialité" in declined and "Charte" in declined
    assert not session.session_path(demo.config).exists()
    out = ok("login", "dr.nouveau", *c, input=f"{new}\ny\nn\n")  # the enrolment offered, declined
    assert "Aucune application d'authentification n'est enrôlée" in " ".join(out.split())
    assert "Étapes en attente : donner le second facteur." in ok("whoami", *c)
    assert "Pending steps: give the second factor." in ok("whoami", "--lang", "en", *c)
    health = refused("record", "read", "Observation", people.observation_id, *PURPOSE, *c)
    assert "session à deux facteurs" in health
    ok("logout", *c)


# -- the rights desk ---------------------------------------------------------------------------------


def _number(out: str) -> int:
    found = re.search(r"Demande n° (\d+) :", out)
    assert found is not None, out
    return int(found.group(1))


def test_an_access_request_through_the_cli(demo: Demo, people: People, tmp_path: Path) -> None:
    c = ["--config", str(demo.config)]
    assert NOT_LOGGED_IN in refused("rights", "status", *c)
    login(demo)
    new = ["rights", "request", "--right", "access", "--patient", people.patient_id, *PURPOSE, *c]
    assert "n'est pas un type de demandeur" in refused(*new, "--requester", "neighbour")
    assert "not a kind of requester" in refused(*new, "--requester", "neighbour", "--lang", "en")
    number = _number(ok(*new, "--requester", "person", "--concerns", "medical_record"))
    n = str(number)
    assert "n'a pas été vérifiée" in refused("rights", "execute", n, *PURPOSE, "--out-dir", str(tmp_path), *c)
    assert "comment l'identité a été vérifiée" in refused("rights", "identity-check", n, "--how", "ok", *PURPOSE, *c)
    en = ("--lang", "en")
    assert "how the identity was checked" in refused("rights", "identity-check", n, "--how", "ok", *PURPOSE, *en, *c)
    how = "carte d'identité présentée à l'accueil, conforme"
    checked = ok("rights", "identity-check", n, "--how", how, *PURPOSE, *c)
    assert "identité vérifiée" in checked and "pour le patient" in checked and " the " not in checked
    assert "ne peut pas être prolongé" in refused(
        "rights", "extend", n, "--reason", "many requests this month, complex file", *PURPOSE, *c
    )
    assert "--out-dir DOSSIER" in refused("rights", "execute", n, *PURPOSE, *c)
    assert "carries the person's data" in refused("rights", "execute", n, *PURPOSE, "--lang", "en", *c)
    executed = ok("rights", "execute", n, *PURPOSE, "--out-dir", str(tmp_path), *c)
    assert "Exécutée : " in executed and f"Patient/{people.patient_id}" in executed
    bundle_path = tmp_path / f"rights-{number}-bundle.json"
    bundle = json.loads(bundle_path.read_text())
    assert bundle["resourceType"] == "Bundle" and stat.S_IMODE(bundle_path.stat().st_mode) == 0o600
    assert any(e["resource"]["id"] == people.patient_id for e in bundle["entry"])
    assert (tmp_path / f"rights-{number}-summary.html").exists()
    assert "déjà reçu une réponse" in refused("rights", "execute", n, *PURPOSE, *c)

    letter = tmp_path / "letter.html"
    ok("rights", "letter", n, "--out", str(letter), *c)
    assert "droit d'accès" in unescape(letter.read_text()) and stat.S_IMODE(letter.stat().st_mode) == 0o600
    assert "existe déjà et n'est jamais écrasé" in refused("rights", "letter", n, "--out", str(letter), *c)
    assert "never overwritten" in refused("rights", "letter", n, "--out", str(letter), "--lang", "en", *c)
    assert ".html ou .pdf" in refused("rights", "letter", n, "--out", str(tmp_path / "letter.txt"), *c)
    sent = ["rights", "sent", n, *PURPOSE, *c]
    assert "n'est pas un moyen d'envoi" in refused(*sent, "--channel", "pigeon")
    assert "Lettre de réponse envoyée le" in ok(*sent, "--channel", "post") and "par courrier postal" in ok(
        "rights", "status", n, *c
    )
    assert "déjà été envoyée" in refused(*sent, "--channel", "email")
    assert "was already sent" in refused(*sent, "--channel", "email", "--lang", "en")
    full = ok("rights", "status", n, *c)
    assert "exécutée" in full and "Reçue le" in full and "Identité vérifiée le" in full and how in full
    assert "status:" not in full and "identity_check" not in full  # words, not field names
    assert "Identity checked on" in ok("rights", "status", n, "--lang", "en", *c)
    listing = ok("rights", "status", *c)
    assert people.patient_id in listing and "exécutée" in listing and "droit d'accès" in listing
    assert "executed" in ok("rights", "status", "--lang", "en", *c)
    assert "Aucune demande en retard." in ok("rights", "status", "--overdue", *c)
    assert "pas de demande d'exercice des droits n° 999" in refused("rights", "status", "999", *c)

    other = _number(ok("rights", "request", "--right", "rectification", "--patient", people.patient_id, *PURPOSE, *c))
    assert "délai prolongé" in ok(
        "rights", "extend", str(other), "--reason", "many requests this month, complex file", *PURPOSE, *c
    )
    events = {(e["operation"], e["allowed"]) for e in audit_events(demo) if e["resource_type"] == "RightsRequest"}
    assert {("rights.register", True), ("rights.identity_check", True), ("rights.access", True)} <= events
    assert ("rights.letter_sent", True) in events
    assert ("rights.execute", False) in events
    ok("logout", *c)


# -- the intermediate archive ------------------------------------------------------------------------


def test_archived_records_through_the_justified_cli_procedure(tmp_path: Path, people: People) -> None:
    demo = make_demo(tmp_path / "archived")
    c = ["--config", str(demo.config)]
    later = f"{datetime.now(UTC).year + 6}-01-01"
    assert "est dans le futur" in refused("retention", "run", "--at", later, *c)  # a run happens now
    engine = make_engine(load(demo.config).database_url)
    with engine.begin() as conn:  # the file is six years old: due for the archive now
        for rid, version, created in conn.execute(select(record.c.id, record.c.version, record.c.created_at)).all():
            older = created - timedelta(days=6 * 366)
            conn.execute(update(record).where(record.c.id == rid, record.c.version == version).values(created_at=older))
    engine.dispose()
    assert "archivé(s)" in ok("retention", "run", *c)
    login(demo)
    archived = refused("record", "read", "Patient", people.patient_id, *PURPOSE, *c)
    assert "Aucune ressource Patient d'identifiant" in archived
    access = ["archive", "access", "Patient", people.patient_id, *PURPOSE, *c]
    assert "au moins 15 caractères" in refused(*access, "--justification", "because")
    versions = json.loads(ok(*access, "--justification", "the patient asks for a copy of the file"))
    assert versions[0]["id"] == people.patient_id and versions[0]["meta"]["tag"][0]["code"] == "archived"
    events = [(e["operation"], e["allowed"]) for e in audit_events(demo) if e["operation"] == "archive.access"]
    assert events == [("archive.access", False), ("archive.access", True)]
    ok("logout", *c)


def test_care_declaration_and_research_formality_through_the_cli(demo: Demo, people: People) -> None:
    c = ["--config", str(demo.config)]
    login(demo)
    whatever = refused("record", "care", people.patient_id, "--basis", "whatever", *PURPOSE, *c)
    assert "n'est pas un motif de prise en charge" in whatever and "referral" in whatever
    assert "a home visit" not in whatever
    out = ok(
        "record", "care", people.patient_id, "--basis", "referral", "--note", "adressé par un confrère", *PURPOSE, *c
    )
    assert "la prochaine revue des traces la liste" in out
    research = ["--purpose", "research"]
    forged = refused("record", "read", "Observation", people.observation_id, *research, "--formality", "x", *c)
    assert "exige une formalité enregistrée" in forged
    declared = [e for e in audit_events(demo) if e["operation"] == "care.declare"]
    assert declared[-1]["rule"] == "care_relationship.declared.referral" and declared[-1]["allowed"]
    missing = refused("audit", "justification", "999", "--reviewer", "Camille Revue", *c)
    assert "Il n'y a pas de justification n° 999 : prenez le numéro dans le rapport de revue" in missing
    english = refused("audit", "justification", "999", "--reviewer", "Camille Revue", "--lang", "en", *c)
    assert "There is no justification no. 999" in english


def test_consent_and_objection_through_the_cli(demo: Demo, people: People) -> None:
    c = ["--config", str(demo.config)]
    pid = people.patient_id
    assert NOT_LOGGED_IN in refused("consent", "show", pid, *PURPOSE, *c)
    login(demo)
    assert "is not a category of pra-2020-081 collected on consent" in refused(
        "consent", "give", pid, "--category", "health", "--for", "medical_record", *PURPOSE, *c
    )
    before = ok("consent", "show", pid, *PURPOSE, "--json", *c)
    assert "pas en « de »" in refused(
        "consent", "give", pid, "--category", "lifestyle", "--for", "medical_record", *PURPOSE, "--lang", "de", *c
    )
    assert ok("consent", "show", pid, *PURPOSE, "--json", *c) == before  # refused before anything is written
    given = flat("consent", "give", pid, "--category", "lifestyle", "--for", "medical_record", *PURPOSE, *c)
    found = re.search(r"Consentement (\S+) enregistré pour le patient", given)
    assert found is not None and "habitudes de vie" in given and "lifestyle" not in given
    consent_id = found.group(1)
    shown = flat("consent", "show", pid, *PURPOSE, *c)
    assert consent_id in shown and "habitudes de vie" in shown and "Consentements du patient" in shown
    shown_en = flat("consent", "show", pid, *PURPOSE, "--lang", "en", *c)
    assert "Consents of" in shown_en and "Consentements" not in shown_en
    assert "retiré : désormais" in flat("consent", "withdraw", consent_id, *PURPOSE, *c)
    assert "n'est pas en vigueur (inactif)" in refused("consent", "withdraw", consent_id, *PURPOSE, *c)
    assert "is not active (inactive)" in refused("consent", "withdraw", consent_id, *PURPOSE, "--lang", "en", *c)

    assert "ne s'applique pas à cette finalité (RGPD, art. 21.1)" in refused(
        "objection", "record", pid, "--against", "medical_record", *PURPOSE, *c
    )
    assert "does not apply to 'medical_record' (GDPR art. 21.1)" in refused(
        "objection", "record", pid, "--against", "medical_record", *PURPOSE, "--lang", "en", *c
    )
    recorded = flat("objection", "record", pid, "--against", "appointments", *PURPOSE, *c)
    assert "à la finalité « Gestion des rendez-vous » enregistrée le" in recorded and "appointments" not in recorded
    assert "en vigueur" in flat("objection", "show", pid, *PURPOSE, *c)
    shown_en = flat("objection", "show", pid, *PURPOSE, "--lang", "en", *c)
    assert "in force" in shown_en and "Objections of" in shown_en
    assert "doivent être écrits" in refused(
        "objection", "lift", pid, "--against", "appointments", "--compelling-grounds", "no", *PURPOSE, *c
    )
    assert "« Gestion des rendez-vous » levée." in flat(
        "objection", "lift", pid, "--against", "appointments", *PURPOSE, *c
    )
    assert "levée par la personne" in flat("objection", "show", pid, *PURPOSE, *c)
    again = flat("objection", "record", pid, "--against", "appointments", *PURPOSE, "--lang", "en", *c)
    assert "recorded on" in again and "every request for it on this patient is now refused" in again
    assert "' lifted." in flat("objection", "lift", pid, "--against", "appointments", *PURPOSE, "--lang", "en", *c)
    nothing = refused("objection", "lift", pid, "--against", "appointments", *PURPOSE, *c)
    assert "n'a pas d'opposition en vigueur" in nothing
    events = {(e["operation"], e["allowed"]) for e in audit_events(demo)}
    assert {
        ("create", True),
        ("update", True),
        ("consent.show", True),
        ("objection.record", False),
        ("objection.show", True),
        ("objection.lift", True),
    } <= events


def test_an_operator_without_http_enrols_an_authenticator_in_the_terminal(
    demo: Demo, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: at login, a pending second factor without an authenticator offers the enrolment in the terminal
    (QR code drawn in text, key shown once); a wrong code stores nothing; a right one opens a two-factor session and
    shows the recovery codes once."""
    from santegarde.identity import totp

    c = ["--config", str(demo.config)]
    added = ok("user", "add", "dr.terminal", "--name", "Claude Terminal", "--ref", "10009990010", "--by", "adm", *c)
    found = re.search(r"remettez-le en main propre : (\S+)", added)
    assert found is not None
    ok("user", "grant", "dr.terminal", "practitioner", "--validated-by", "Dr Martin", "--reason", "joins", "--by",
       "adm", *c)  # fmt: skip
    secret = pyotp.random_base32()
    monkeypatch.setattr(totp, "new_secret", lambda: secret)
    new = "quite another long passphrase for this first test"
    valid = {pyotp.TOTP(secret).at(CLOCK.now() + timedelta(seconds=30 * k)) for k in (-1, 0, 1)}
    wrong = next(x for x in ("000000", "111111", "222222") if x not in valid)
    said = refused("login", "dr.terminal", *c, input=f"{found.group(1)}\n{new}\n{new}\ny\ny\n{wrong}\n")
    assert secret in said and "█" in said  # the key and the QR code, drawn in text
    assert not session.session_path(demo.config).exists()  # nothing opened, nothing stored: asked again below
    out = ok("login", "dr.terminal", *c, input=f"{new}\ny\n{pyotp.TOTP(secret).at(CLOCK.now())}\n")
    flat_out = " ".join(out.split())
    assert "Application enrôlée : la session a ses deux facteurs" in flat_out
    assert len(re.findall(r"\b[A-Z0-9]{5}-[A-Z0-9]{5}\b", out)) == 10
    assert "second facteur" not in ok("whoami", *c)
    ok("logout", *c)
    # enrolled now: the next login asks for a code, never offers to enrol again
    out = ok("login", "dr.terminal", *c, input=f"{new}\n{pyotp.TOTP(secret).at(CLOCK.now() + timedelta(seconds=30))}\n")
    assert "L'enrôler maintenant" not in out
    ok("logout", *c)
