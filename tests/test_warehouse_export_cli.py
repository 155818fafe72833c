"""santegarde warehouse export request|check from the command line, thresholds from configuration (EDS-SEC-EXP-3).

On a demo warehouse organisation with the demo professional's own session: the gate's thresholds are read
from ``warehouse/export-thresholds.yaml`` next to the configuration (else the defaults); a file naming an
unknown threshold, or giving one of the wrong type, is refused with a sentence. All data is fictitious.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyotp
import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from santegarde.audit.tables import entry
from santegarde.cli import session
from santegarde.cli.main import app
from santegarde.cli.warehouse_core import warehouse_directory
from santegarde.cli.warehouse_export import load_thresholds, thresholds_path
from santegarde.identity import grants
from santegarde.identity.context import IdentityContext
from santegarde.runtime import Organisation, identity_context, open_organisation
from santegarde.warehouse import Warehouse
from santegarde.warehouse.gate import GateError, GateThresholds

PASS = "demo passphrase for the warehouse export cli tests"
QUICK = "n_attacks: 5\nmax_singling_out: 0.9\nmax_linkability: 0.9\nmax_inference: 0.9\n"
FAST = "k: 5\nl_distinct: 2\nt: null\nn_attacks: 5\nmax_singling_out: 0.9\nmax_linkability: 0.9\nmax_inference: 0.9\n"


@dataclass(frozen=True)
class Demo:
    config: Path
    login: str
    password: str
    secret: str


class Clock:
    """The identity clock of the commands: an hour ahead of real time, only moving forward (no TOTP replay)."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC) + timedelta(hours=1)

    def now(self) -> datetime:
        return self.at


CLOCK = Clock()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    directory = tmp_path_factory.mktemp("export-cli") / "demo"
    result = CliRunner().invoke(
        app,
        ["demo", "--profile", "warehouse", "--dir", str(directory), "--patients", "2", "--json"],
        env={"SANTEGARDE_PASSPHRASE": PASS, "COLUMNS": "300"},
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)["account"]
    assert found is not None
    demo = Demo(directory / "santegarde.yaml", found["login"], found["password"], found["totp_secret"])
    org = open_organisation(demo.config, PASS)
    try:  # the demo professional feeds; here they also work as internal staff, who may request exports
        grants.give(
            identity_context(org),
            demo.login,
            "internal_staff",
            validated_by="Comité de gouvernance (fictif)",
            validator_role="governance_body",
            reason="indicateurs d'activité (fictif)",
            by="admin",
        )
    finally:
        org.close()
    return demo


@pytest.fixture(autouse=True)
def private_sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Session files under tmp_path, the passphrase from the environment, the clock ahead of real time."""
    monkeypatch.setattr(session, "session_directory", lambda: tmp_path / "runtime" / "santegarde")
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    monkeypatch.setenv("COLUMNS", "250")
    real = session.identity_context

    def clocked(org: Organisation) -> IdentityContext:
        ctx = real(org)
        ctx.clock = CLOCK.now
        return ctx

    monkeypatch.setattr(session, "identity_context", clocked)
    CLOCK.at += timedelta(minutes=2)
    yield


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """60 fictitious rows: age band × sex classes of 5, with two diagnoses each."""
    path = tmp_path / "source.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            """CREATE TABLE stays AS SELECT i AS person_id,
                      ['0-19', '20-39', '40-59', '60-79', '80+', '90+'][1 + i % 6] AS age_band,
                      ['F', 'M'][1 + (i // 6) % 2] AS sex, ['E11', 'I10'][1 + (i // 12) % 2] AS diagnosis
               FROM range(60) t(i)"""
        )
    return path


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def login(demo: Demo, profile: str = "internal_staff") -> None:
    CLOCK.at += timedelta(minutes=2)
    code = pyotp.TOTP(demo.secret).at(CLOCK.now())
    result = run("login", demo.login, "--config", str(demo.config), "--profile", profile,
                 input=f"{demo.password}\n{code}\n")  # fmt: skip
    assert result.exit_code == 0, result.output


def request(demo: Demo) -> int:
    result = request_as(demo)
    assert result.exit_code == 0, result.output
    found = re.search(r"Demande d'export n° (\d+) enregistrée", result.output)
    assert found is not None
    return int(found.group(1))


def request_as(demo: Demo, *extra: str) -> Result:
    return run(
        "warehouse", "export", "request", "--config", str(demo.config), *extra,
        "--source", "SELECT person_id, age_band, sex, diagnosis FROM stays",
        "--recipient", "Observatoire régional (fictif)", "--person", "person_id",
        "--purpose", "activity_indicators", "--project", "PILOT-1", "--qi", "age_band", "--qi", "sex",
        "--sensitive", "diagnosis",
    )  # fmt: skip


def check(demo: Demo, rid: int, database: Path) -> Result:
    return run("warehouse", "export", "check", str(rid), "--database", str(database), "--config", str(demo.config))


def write_thresholds(demo: Demo, text: str) -> Path:
    path = thresholds_path(demo.config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def audit_events(demo: Demo) -> list[dict[str, Any]]:
    org = open_organisation(demo.config, PASS)
    try:
        with org.audit.engine.connect() as conn:
            return [json.loads(c) for c in conn.execute(select(entry.c.content).order_by(entry.c.seq)).scalars()]
    finally:
        org.close()


def words(result: Result) -> str:
    return " ".join(result.output.split())


def test_check_uses_the_configured_thresholds(demo: Demo, source: Path) -> None:
    login(demo)
    path = write_thresholds(demo, "")
    try:
        assert load_thresholds(demo.config) == GateThresholds()  # an empty file: the defaults
        write_thresholds(demo, QUICK)  # the default k = 10, fewer attacks
        quarantined = check(demo, request(demo), source)  # classes of 5 under k = 10
        assert quarantined.exit_code == 0, quarantined.output
        assert "en quarantaine" in quarantined.output and ">= 10" in quarantined.output
        assert "k-anonymat" in quarantined.output and "NON RESPECTÉ" in quarantined.output
        english = run("warehouse", "export", "check", str(request(demo)), "--database", str(source),
                      "--config", str(demo.config), "--lang", "en")  # fmt: skip
        assert english.exit_code == 0, english.output
        assert "quarantined" in english.output and "k-anonymity" in english.output and "NOT MET" in english.output
        refused = run("warehouse", "export", "check", str(request(demo)), "--database", str(source),
                      "--config", str(demo.config), "--lang", "de")  # fmt: skip
        assert refused.exit_code != 0 and "fr" in refused.output
        write_thresholds(demo, FAST)
        passed = check(demo, request(demo), source)
        assert passed.exit_code == 0, passed.output
        assert ">= 5" in passed.output and "en quarantaine" not in passed.output
        as_json = run("warehouse", "export", "check", str(request(demo)), "--database", str(source), "--json",
                      "--config", str(demo.config))  # fmt: skip
        assert as_json.exit_code == 0, as_json.output
        document = json.loads(as_json.output)  # the same facts as the table, under stable keys
        assert {"request", "status", "criteria", "proposal"} == set(document)
        k = next(c for c in document["criteria"] if c["criterion"] == "k")
        assert k["comparison"] == ">=" and k["threshold"] == 5 and k["met"] is True
    finally:
        path.unlink(missing_ok=True)


def test_unknown_threshold_key_is_refused_with_a_sentence(demo: Demo, source: Path) -> None:
    login(demo)
    rid = request(demo)
    path = write_thresholds(demo, "k: 5\nkay_anonymity: 3\nl_max: 4\n")
    try:
        refused = check(demo, rid, source)
        assert refused.exit_code != 0
        said = words(refused)
        assert "clés inconnues (kay_anonymity, l_max)" in said and "n'utilisez que k," in said
        english = words(
            run(
                "warehouse",
                "export",
                "check",
                str(rid),
                "--database",
                str(source),
                "--config",
                str(demo.config),
                "--lang",
                "en",
            )
        )
        assert "unknown key(s) kay_anonymity, l_max" in english and "use only k," in english
        with pytest.raises(GateError, match="kay_anonymity"):
            load_thresholds(demo.config)
    finally:
        path.unlink(missing_ok=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("k: ten\n", "k in .* must be a whole number"),
        ("k: 2.5\n", "k in .* must be a whole number"),
        ("t: yes\n", r"t in .* must be a number \(or null to disable it\)"),
        ("- k\n- 5\n", "must be a mapping"),
        ("k: [unclosed\n", "cannot be read"),
        ("max_linkability: 1.5\n", "between 0 and 1"),
    ],
)
def test_malformed_thresholds_are_refused(demo: Demo, text: str, message: str) -> None:
    path = write_thresholds(demo, text)
    try:
        with pytest.raises(GateError) as refused:
            load_thresholds(demo.config)
        assert re.search(message, refused.value.in_language("en")), refused.value.in_language("en")
        assert str(refused.value).startswith(("Le ", "Les ")), str(refused.value)
    finally:
        path.unlink(missing_ok=True)


def test_without_a_file_the_defaults_apply(tmp_path: Path) -> None:
    assert load_thresholds(tmp_path / "santegarde.yaml") == GateThresholds()
    override = tmp_path / "warehouse" / "export-thresholds.yaml"
    override.parent.mkdir()
    override.write_text("k: 20\nl_entropy: 1.5\nt: null\n", encoding="utf-8")
    loaded = load_thresholds(tmp_path / "santegarde.yaml")
    assert (loaded.k, loaded.l_entropy, loaded.t, loaded.l_distinct) == (20, 1.5, None, 2)


@pytest.mark.parametrize("command", ["request", "check", "release", "review", "reject", "training"])
def test_help_of_each_export_command(command: str) -> None:
    result = run("warehouse", "export", command, "--help")
    assert result.exit_code == 0 and "Usage" in result.output


def test_the_feeding_profile_may_not_request_an_export(demo: Demo) -> None:
    """Issue 15: a session under the feeding profile could file an export request; only export profiles may."""
    login(demo, "feeding")
    refused = request_as(demo)
    said = words(refused)
    assert refused.exit_code != 0 and "Le profil feeding ne peut pas demander d'export" in said, said
    assert "seul(s) internal_staff le peuvent" in said
    english = words(request_as(demo, "--lang", "en"))
    assert "The profile feeding may not request exports" in english and "only internal_staff may" in english
    login(demo, "internal_staff")
    assert request_as(demo).exit_code == 0


def test_an_export_is_checked_where_the_data_is_through_the_keyring(demo: Demo) -> None:
    """Issue 15: --database warehouse/omop.duckdb crashed (encrypted, no key); the gate opens the warehouse itself."""
    directory = warehouse_directory(demo.config)
    org = open_organisation(demo.config, PASS)
    try:
        with Warehouse.open(directory, org.keyring) as warehouse:
            warehouse.omop.execute(
                "INSERT INTO omop.person (person_id, gender_concept_id, year_of_birth, race_concept_id, "
                "ethnicity_concept_id) SELECT i, 8507 + 25 * (i % 2), 1950 + 10 * (i % 3), 0, 0 FROM range(60) t(i)"
            )
    finally:
        org.close()
    login(demo)
    asked = run(
        "warehouse", "export", "request", "--config", str(demo.config),
        "--source", "SELECT person_id, gender_concept_id, year_of_birth FROM person", "--person", "person_id",
        "--recipient", "Observatoire régional (fictif)", "--purpose", "activity_indicators", "--project", "PILOT-1",
        "--qi", "gender_concept_id", "--qi", "year_of_birth",
    )  # fmt: skip
    found = re.search(r"Demande d'export n° (\d+) enregistrée", asked.output)
    assert asked.exit_code == 0 and found is not None, asked.output
    plain = check(demo, int(found.group(1)), directory / "omop.duckdb")
    said = words(plain)
    assert plain.exit_code != 0 and "ne peut pas être ouvert comme une base DuckDB en clair" in said, said
    assert "omettez --database" in said and "Traceback" not in plain.output
    checked = run("warehouse", "export", "check", found.group(1), "--config", str(demo.config))
    assert checked.exit_code == 0, checked.output
    assert "k-anonymat" in checked.output and "60 personnes" in words(checked)


def test_an_export_review_training_is_recorded_by_the_controller_never_by_oneself(demo: Demo) -> None:
    """A manager who could record their own training would empower themselves to release exports (EDS-SEC-EXP-3):
    the command line applies the same rule as the warehouse desk — the controller's profile, another person."""
    login(demo, "internal_staff")
    training = ("warehouse", "export", "training", "--on", "2026-01-05", "--subject", "Revue des exports (fictif)")
    refused = run(*training[:3], "gest.fictif", *training[3:], "--config", str(demo.config))
    said = words(refused)
    assert refused.exit_code != 0 and "Le profil internal_staff ne peut pas enregistrer une formation" in said, said
    org = open_organisation(demo.config, PASS)
    try:
        grants.give(
            identity_context(org), demo.login, "data_steward", validated_by="Comité de gouvernance (fictif)",
            validator_role="governance_body", reason="responsable de l'entrepôt (fictif)", by="admin",
        )  # fmt: skip
    finally:
        org.close()
    denied_before = len([e for e in audit_events(demo) if e.get("rule") == "EDS-SEC-EXP-3.training"])
    login(demo, "data_steward")
    own = run(*training[:3], demo.login, *training[3:], "--config", str(demo.config), "--lang", "en")
    assert own.exit_code != 0 and "You may not attest your own export-review training" in words(own), words(own)
    done = run(*training[:3], "gest.fictif", *training[3:], "--config", str(demo.config))
    assert done.exit_code == 0, done.output
    denied = [e for e in audit_events(demo) if e.get("rule") == "EDS-SEC-EXP-3.training"]
    assert len(denied) == denied_before + 1 and denied[-1]["outcome"] == "denied"
