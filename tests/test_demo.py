"""The README's main job: a demo organisation on SQLite, filled with synthetic data through policy."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from santegarde.audit.tables import entry
from santegarde.cli.main import app
from santegarde.config import load
from santegarde.runtime import open_organisation
from santegarde.store.db import make_engine
from santegarde.store.schema import record, record_part


@pytest.mark.parametrize("profile", ["practice", "pharmacy", "warehouse"])
def test_demo_fills_an_organisation_through_the_path(runner: CliRunner, tmp_path: Path, profile: str) -> None:
    directory = tmp_path / "demo"
    env = {"SANTEGARDE_PASSPHRASE": "demo passphrase for the tests"}
    result = runner.invoke(app, ["demo", "--profile", profile, "--dir", str(directory), "--patients", "5"], env=env)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # French by default, as every line a person reads
    assert "Un patient de démonstration pour essayer l'API (fictif) : Patient/" in said
    assert "Compte de démonstration (données fictives uniquement) : identifiant demo." in said
    assert "Données synthétiques enregistrées" in said and "Demo account" not in said
    config = load(directory / "santegarde.yaml")
    engine = make_engine(config.database_url)
    with engine.connect() as conn:
        types = [r.resource_type for r in conn.execute(select(record.c.resource_type).where(record.c.current))]
        categories = set(conn.execute(select(record_part.c.category)).scalars())
    engine.dispose()
    assert types.count("Patient") == 5 and categories
    org = open_organisation(directory / "santegarde.yaml", env["SANTEGARDE_PASSPHRASE"])
    try:
        with org.audit.engine.connect() as conn:
            events = [json.loads(c) for c in conn.execute(select(entry.c.content)).scalars()]
        assert org.audit.verify().intact
    finally:
        org.close()
    creates = [e for e in events if e["operation"] == "create"]
    assert len(creates) == len(types) and all(e["allowed"] and e["actor"] == "demo.writer" for e in creates)
    # Running it again replaces it only when asked to (its data and account would be gone).
    again = ["demo", "--profile", profile, "--dir", str(directory), "--patients", "5"]
    refused = runner.invoke(app, again, env=env)
    assert refused.exit_code == 2 and "--force" in refused.output
    english = runner.invoke(app, [*again, "--force", "--lang", "en"], env=env)
    assert english.exit_code == 0, english.output
    said = " ".join(english.output.split())
    assert "A demo patient to try the API with (fictitious): Patient/" in said
    assert "Demo account (fictitious data only): login demo." in said and "Synthetic records written" in said
    assert "Compte de démonstration" not in said and "données fictives" not in said


def test_the_compassionate_demo_lives_a_programme_through(runner: CliRunner, tmp_path: Path) -> None:
    """A laboratory's platform a new user can open at once: the programme, patients through the workflow in two
    establishments, a summary report written and its approval recorded — no name stored, nothing under 11 shown."""
    directory = tmp_path / "demo"
    env = {"SANTEGARDE_PASSPHRASE": "demo passphrase for the tests"}
    args = ["demo", "--profile", "compassionate", "--dir", str(directory), "--patients", "30"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert re.search(r"demandes d'accès\s*│\s*30\s", result.output) and "Rapport périodique de synthèse" in said
    assert "santegarde aac case" in said and "l'horloge de conservation court" in said
    assert "Compte de démonstration" in said and "Demo account" not in said
    assert (directory / "programmes" / "velmorine-sla" / "1.yaml").exists()
    report = json.loads(next((directory / "rapports").glob("*.json")).read_text(encoding="utf-8"))
    counts = {e["item"]: e["value"] for e in report["entries"] if e["section"] == "Effectifs"}
    assert counts["Patients ayant fait l'objet d'une demande d'accès"] == 30
    assert all(
        e["value"] is None or e["value"] == 0 or e["value"] >= 11
        for e in report["entries"]
        if e["section"] not in ("Exposition", "Efficacité")
    )
    assert list((directory / "rapports").glob("*.html")) and list((directory / "rapports").glob("*.csv"))
    config = load(directory / "santegarde.yaml")
    engine = make_engine(config.database_url)
    with engine.connect() as conn:
        types = [r.resource_type for r in conn.execute(select(record.c.resource_type).where(record.c.current))]
        categories = set(conn.execute(select(record_part.c.category)).scalars())
    engine.dispose()
    assert types.count("Patient") == 30 and types.count("QuestionnaireResponse") > 30 * 3
    assert "patient_indirect_identity" in categories and not categories & {"nir", "ins", "free_text"}
    org = open_organisation(directory / "santegarde.yaml", env["SANTEGARDE_PASSPHRASE"])
    try:
        with org.audit.engine.connect() as conn:
            events = [json.loads(c) for c in conn.execute(select(entry.c.content)).scalars()]
        assert org.audit.verify().intact
    finally:
        org.close()
    creators = {e["actor"] for e in events if e["operation"] == "create" and e["resource_type"] == "Patient"}
    assert creators == {"demo.prescripteur1", "demo.prescripteur2"}  # each establishment's prescriber
    assert any(e["operation"] == "aac.event.summary_report_approved" and e["allowed"] for e in events)
    assert any(e["operation"] == "aac.report" and e["allowed"] for e in events)


def test_demo_serving_on_a_busy_port_refuses_before_building(runner: CliRunner, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["demo", "--serve", "--port", str(port), "--dir", str(tmp_path / "demo")])
        english = runner.invoke(
            app, ["demo", "--serve", "--port", str(port), "--dir", str(tmp_path / "d"), "--lang", "en"]
        )
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and f"Le port {port} de 127.0.0.1 est déjà occupé" in said and "--port" in said
    assert not (tmp_path / "demo").exists()  # nothing was built
    assert f"Port {port} on 127.0.0.1 is already in use" in " ".join(english.output.split())


def test_demo_never_overwrites_a_real_organisation(runner: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    env = {"SANTEGARDE_PASSPHRASE": "demo passphrase for the tests"}
    assert runner.invoke(app, ["demo", "--dir", str(directory), "--patients", "2"], env=env).exit_code == 0
    path = directory / "santegarde.yaml"
    path.write_text(path.read_text().replace("Démo practice", "Cabinet Réel"))
    result = runner.invoke(app, ["demo", "--dir", str(directory), "--patients", "2", "--force"], env=env)
    assert result.exit_code == 2 and "never overwrites a real organisation" in result.output


def test_readme_commands_and_ci(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^(\./scripts/\w+)\s+#", readme, flags=re.MULTILINE)
    assert commands == ["./scripts/demo", "./scripts/test"]
    ci = (repo_root / ".ci" / "run").read_text(encoding="utf-8")
    assert [line for line in ci.splitlines() if line and not line.startswith(("#", "set ", "cd "))] == [
        "./scripts/test"
    ]
    for command in commands:
        assert (repo_root / command).stat().st_mode & 0o111
