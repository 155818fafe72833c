"""santegarde pharmacy dispense | register | print | validate: every action of the console's pharmacy screens from the
command line, through the same pieces (pharmacy.desk) and under a logged-in session, on a pharmacy demo organisation.

The pharmacist enters a dispensing, browses the prescription book (French, English, --json), prints it (PDF, HTML),
validates and freezes the period; a préparateur is refused the validation with the rule's sentence; a mistyped
dispensing or period is refused before anything is written, each mistake after its option.
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
from typer.testing import CliRunner, Result

from santegarde.cli import session
from santegarde.cli.main import app
from santegarde.identity import accounts, grants, sessions, totp
from santegarde.pharmacy import PharmacyRegister
from santegarde.runtime import identity_context, open_organisation

PASS = "fictitious passphrase for the pharmacy cli tests"  # fictitious
PASSWORD = "Mortier-Pilon-9-Officine!"  # fictitious


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
class Shop:
    config: Path
    patient: str
    pharmacist: Person
    preparer: Person


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
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    directory = tmp_path_factory.mktemp("pharmacy-cli") / "demo"
    made = CliRunner().invoke(
        app,
        ["demo", "--profile", "pharmacy", "--dir", str(directory), "--patients", "2", "--seed", "7", "--json"],
        env={"SANTEGARDE_PASSPHRASE": PASS, "COLUMNS": "300"},
    )
    assert made.exit_code == 0, made.output
    made_json = json.loads(made.output)
    found, patient = made_json["account"], made_json["example_patient"]
    assert found["login"] and patient is not None, made.output
    config = directory / "santegarde.yaml"
    org = open_organisation(config, PASS)  # a préparateur, set up as a person would be
    try:
        ctx = identity_context(org)
        _, temporary = accounts.add(ctx, "prep.cli", "Préparateur Exemple", person_ref="P-1", by="admin")
        assert temporary is not None
        grants.give(ctx, "prep.cli", "preparer", validated_by="Titulaire", validator_role="governance_body",
                    reason="fictitious preparer", by="admin", ends_at=ctx.now() + timedelta(days=365))  # fmt: skip
        opened = sessions.login(ctx, "prep.cli", temporary, source="setup", workstation_class="office")
        sessions.change_password(ctx, opened.token, temporary, PASSWORD)
        sessions.accept_charter(ctx, opened.token, ctx.settings.charter_version)
        secret = totp.new_secret()
        sessions.enrol_second_factor(ctx, opened.token, secret, pyotp.TOTP(secret).now())
        sessions.logout(ctx, opened.token)
    finally:
        org.close()
    CLOCK.at = datetime.now(UTC)  # the CLI's clock starts after the set-up
    pharmacist = Person(found["login"], found["password"], found["totp_secret"])
    return Shop(config, patient["id"], pharmacist, Person("prep.cli", PASSWORD, secret))


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.output


def login(shop: Shop, person: Person) -> None:
    CLOCK.at += timedelta(minutes=2)
    code = pyotp.TOTP(person.secret).at(CLOCK.now())
    result = run("login", person.login, "--config", str(shop.config), input=f"{person.password}\n{code}\n")
    assert result.exit_code == 0 and f"Connecté en tant que {person.login}" in result.output, result.output


DISPENSING = ["--class", "list_i", "--code", "3400930000001", "--product", "Produit fictif 10 mg", "--quantity", "2",
              "--unit", "boîte", "--rpps", "10001234565", "--prescriber", "Dr Prescriptrice Fictive"]  # fmt: skip


def entries(shop: Shop) -> list[Any]:
    org = open_organisation(shop.config, PASS)
    try:
        from santegarde.cli.records import records_of

        class Bare:  # what records_of reads of a CLI session
            def __init__(self) -> None:
                self.org = org
                self.identity = identity_context(org)

        return PharmacyRegister(records_of(Bare())).entries("prescription_book")  # type: ignore[arg-type]
    finally:
        org.close()


def test_the_pharmacist_enters_browses_prints_and_validates_from_the_command_line(shop: Shop, tmp_path: Path) -> None:
    c = ("--config", str(shop.config))
    refused = run("pharmacy", "register", *c)
    assert refused.exit_code == 2 and "pas connecté" in refused.output  # no session: nothing is read

    login(shop, shop.pharmacist)
    before = len(entries(shop))
    entered = ok("pharmacy", "dispense", shop.patient, *DISPENSING, *c)
    number = before + 1
    assert f"Délivrance inscrite dans l'ordonnancier sous le n° {number}." in entered, entered
    english = ok("pharmacy", "dispense", shop.patient, *DISPENSING, "--lang", "en", *c)
    assert f"Dispensing entered in the prescription book as No. {number + 1}." in english, english

    today = CLOCK.now().date()
    listed = ok("pharmacy", "register", "--product", "fictif", *c)
    assert "Ordonnancier (listes I et II, stupéfiants, préparations), du" in listed, listed
    assert "Produit fictif 10 mg (3400930000001)" in listed and "Liste I" in listed and "à valider" in listed
    assert "Dr Prescriptrice Fictive — RPPS 10001234565" in listed and "2 boîte" in listed
    assert re.search(r"\d+ inscription\(s\) de cette période à valider par un pharmacien\.", listed), listed
    rows = json.loads(ok("pharmacy", "register", "--product", "3400930000001", "--json", *c))
    assert [r["N°"] for r in rows][-2:] == [str(number), str(number + 1)]
    assert rows[-1]["Catégorie"] == "Liste I" and rows[-1]["État"] == "à valider"
    assert ok("pharmacy", "register", "--product", "aucun produit ainsi", "--json", *c).strip() == "[]"
    in_english = ok("pharmacy", "register", "--lang", "en", *c)
    assert "Prescription book" in in_english and "not yet validated" in in_english and "à valider" not in in_english

    pdf, html = tmp_path / "ordonnancier.pdf", tmp_path / "ordonnancier.html"
    printed = ok("pharmacy", "print", "--out", str(pdf), *c)
    assert pdf.read_bytes().startswith(b"%PDF") and f"écrite(s) dans {pdf}" in printed, printed
    ok("pharmacy", "print", "--out", str(html), "--from", today.isoformat(), "--lang", "en", *c)
    page = html.read_text(encoding="utf-8")
    assert '<html lang="en">' in page and "Produit fictif 10 mg" in page and "Prescription book" in page
    wrong_suffix = run("pharmacy", "print", "--out", str(tmp_path / "registre.txt"), *c)
    assert wrong_suffix.exit_code == 2 and "Erreur" in wrong_suffix.output and not (tmp_path / "registre.txt").exists()

    # A préparateur enters but never validates: refused with the rule's sentence, in French, and traced.
    login(shop, shop.preparer)
    ok("pharmacy", "dispense", shop.patient, *DISPENSING, *c)
    refused = run("pharmacy", "validate", *c)
    assert refused.exit_code == 2 and "Seul un pharmacien valide et fige" in refused.output, refused.output
    assert "Demandez à un pharmacien" in refused.output and not any(e.validated for e in entries(shop))

    login(shop, shop.pharmacist)
    validated = ok("pharmacy", "validate", "--from", today.isoformat(), *c)
    assert f"{number + 2 - before} inscription(s) de l'ordonnancier validée(s) et figée(s)" in validated, validated
    assert all(e.validated for e in entries(shop)[before:])
    again = ok("pharmacy", "validate", "--from", today.isoformat(), "--lang", "en", *c)
    assert "0 entry/entries of the prescription book validated and frozen" in again
    assert "Aucune inscription de cette période n'attend de validation." in ok("pharmacy", "register", *c)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--code", "12", "--quantity", "-1"],
            ["--code : Le code CIP est fait de 13 chiffres", "--quantity : La quantité doit être positive"],
        ),
        (["--class", "bonbon", "--rpps", "12345678901"], ["--class : Choisissez la catégorie", "--rpps : Un numéro"]),
    ],
)
def test_a_mistyped_dispensing_is_refused_before_anything_is_written(
    shop: Shop, args: list[str], said: list[str]
) -> None:
    c = ("--config", str(shop.config))
    login(shop, shop.pharmacist)
    before = len(entries(shop))
    typed = dict(zip(DISPENSING[::2], DISPENSING[1::2], strict=True)) | dict(zip(args[::2], args[1::2], strict=True))
    flat = [x for pair in typed.items() for x in pair]
    refused = run("pharmacy", "dispense", shop.patient, *flat, *c)
    assert refused.exit_code == 2 and all(s in refused.output for s in said), refused.output
    assert len(entries(shop)) == before
    english = run("pharmacy", "dispense", shop.patient, *flat, "--lang", "en", *c)
    assert english.exit_code == 2 and "Error:" in english.output and "Le code" not in english.output


def test_a_wrong_period_or_register_and_another_patient_id(shop: Shop) -> None:
    c = ("--config", str(shop.config))
    login(shop, shop.pharmacist)
    backwards = run("pharmacy", "register", "--from", "2026-11-25", "--to", "2026-11-01", *c)
    assert backwards.exit_code == 2 and "--to : La fin de la période précède son début" in backwards.output
    unreadable = run("pharmacy", "validate", "--from", "25/11/2026", "--lang", "en", *c)
    assert unreadable.exit_code == 2 and "--from: Type a complete date" in unreadable.output, unreadable.output
    unknown = run("pharmacy", "register", "--register", "carnet", *c)
    assert unknown.exit_code == 2 and "Ce registre n'existe pas." in unknown.output
    before = len(entries(shop))
    nobody = run("pharmacy", "dispense", "patient-inconnu", *DISPENSING, *c)
    assert nobody.exit_code == 2 and "Traceback" not in nobody.output and len(entries(shop)) == before, nobody.output
