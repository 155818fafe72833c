"""The conformity report (COM-SEC-1, PRA-7, PHA-6): every measure, its status, automatic evidence, --strict."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from santegarde.audit.tables import entry
from santegarde.cli.conformity import app as conformity_app
from santegarde.cli.main import app as main_app
from santegarde.config import load, save
from santegarde.config.model import MeasureStatus
from santegarde.governance import maintenance
from santegarde.governance.conformity import (
    CHECKS,
    build_report,
    checks_for,
    conformity_report,
    run_checks,
)
from santegarde.identity.tables import user
from santegarde.referentials import loader
from santegarde.runtime import Organisation, open_organisation

PASSPHRASE = "fictitious demo passphrase for the conformity tests"
ENV = {"SANTEGARDE_PASSPHRASE": PASSPHRASE}
JUSTIFICATION = "The organisation has no such equipment; the measure is handled by the landlord's contract."


def _demo(directory: Path, profile: str) -> Path:
    result = CliRunner().invoke(
        main_app, ["demo", "--profile", profile, "--dir", str(directory), "--patients", "2"], env=ENV
    )
    assert result.exit_code == 0, result.output
    return directory / "santegarde.yaml"


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _demo(tmp_path_factory.mktemp("practice") / "demo", "practice")


@pytest.fixture(scope="module")
def pharmacy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _demo(tmp_path_factory.mktemp("pharmacy") / "demo", "pharmacy")


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A demo of its own, for tests that change the configuration or the databases."""
    return _demo(tmp_path / "demo", "practice")


@pytest.fixture
def org(fresh: Path) -> Iterator[Organisation]:
    opened = open_organisation(fresh, PASSPHRASE)
    yield opened
    opened.close()


def _invoke(config: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(conformity_app, ["--out", str(out), "--config", str(config), *extra], env=ENV)
    return result.exit_code, result.output


def _json(config: Path, out: Path) -> dict:  # type: ignore[type-arg]
    code, output = _invoke(config, out)
    assert code == 0, output
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("which", ["practice", "pharmacy"])
def test_report_lists_every_measure_with_no_status(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    config_path: Path = request.getfixturevalue(which)
    data = _json(config_path, tmp_path / "report.json")
    ref = loader.get(load(config_path).referential)
    assert [m["code"] for m in data["measures"]] == [m.code for m in ref.measures]
    assert {m["status"] for m in data["measures"]} == {"no_status"}
    assert data["summary"]["measures"] == len(ref.measures) == data["summary"]["no_status"]
    assert all(m["section"] for m in data["measures"])
    assert len(data["problems"]) == len(ref.measures)


@pytest.mark.parametrize("which", ["practice", "pharmacy"])
def test_session_lock_and_two_factor_measures_are_evidenced(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """PRA-7 / PHA-6: the authentication lines of §10 / §10.1 carry passed automatic evidence."""
    data = _json(request.getfixturevalue(which), tmp_path / "report.json")
    by_check: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for m in data["measures"]:
        for e in m["evidence"]:
            by_check.setdefault(e["check"], []).append(m)
    lock = by_check["session_lock"]
    two = by_check["two_factor"]
    assert {m["audience"] for m in lock} == {"professional", "software_provider"}
    assert {m["audience"] for m in two} == {"professional", "software_provider"}
    assert all(m["area"] == "authentication" for m in two)
    for m in lock + two:
        assert all(e["outcome"] == "passed" for e in m["evidence"])
    if which == "pharmacy":
        assert any("five minutes" in m["title"] + loader.get("pha-2022-067").measure(m["code"]).text for m in lock)


def test_checks_compute_on_the_demo(practice: Path) -> None:
    opened = open_organisation(practice, PASSPHRASE)
    try:
        evidence = run_checks(opened)
    finally:
        opened.close()
    assert set(evidence) == {c.id for c in CHECKS}
    outcome = {k: v.outcome for k, v in evidence.items()}
    assert outcome["two_factor"] == "passed"
    assert "1 d'entre eux ont un second facteur TOTP" in evidence["two_factor"].text
    assert outcome["audit_intact"] == "passed"
    assert outcome["session_lock"] == "passed"
    assert outcome["encryption_at_rest"] == "passed"
    assert outcome["password_policy"] == "passed" and "argon2id" in evidence["password_policy"].text
    assert outcome["obsolete_permissions"] == "passed"
    assert outcome["trace_review"] == "failed"
    assert outcome["authorisation_review"] == "failed"
    assert outcome["maintenance_logbook"] == "not_available"
    assert outcome["backups"] == "not_available"
    assert outcome["archiving"] == "passed" and "agrégé" in evidence["archiving"].text
    assert "Aucune vérification de sauvegarde n'est enregistrée" in evidence["backups"].text
    assert all(e.computed_at.tzinfo is not None for e in evidence.values())


def test_checks_speak_english_on_request(practice: Path) -> None:
    opened = open_organisation(practice, PASSPHRASE)
    try:
        evidence = run_checks(opened, lang="en")
    finally:
        opened.close()
    assert "1 of them have a TOTP second factor" in evidence["two_factor"].text
    assert "aggregate" in evidence["archiving"].text and "Anonymisation by aggregation" in evidence["archiving"].text
    assert "No backup verification is recorded" in evidence["backups"].text
    assert "argon2id" in evidence["password_policy"].text and "stored password hash" in evidence["password_policy"].text


def test_maintenance_logbook_in_use_passes(org: Organisation) -> None:
    maintenance.record(
        org.engine,
        at=datetime.now(UTC),
        operator="Technicien Fictif",
        company="Prestataire Fictif",
        kind="update",
        equipment="poste d'accueil",
        description="Security updates of the operating system installed.",
        supervised_by="Démo Professionnel",
        recorded_by="demo",
    )
    evidence = run_checks(org)["maintenance_logbook"]
    assert evidence.outcome == "passed" and "1 intervention(s)" in evidence.text


def test_a_verified_backup_is_evidence(org: Organisation, tmp_path: Path) -> None:
    from santegarde.lifecycle.backup import create_backup, verify_backup

    assert verify_backup(org, create_backup(org, tmp_path / "backups")).ok
    evidence = run_checks(org)["backups"]
    assert evidence.outcome == "passed" and "vérifiée le" in evidence.text


def test_tampered_audit_trail_fails_and_contradicts(org: Organisation) -> None:
    with org.audit.engine.begin() as conn:
        conn.execute(update(entry).where(entry.c.seq == 2).values(content='{"forged": true}'))
    report = conformity_report(org)
    evidence = {e.check: e for e in report.evidence}
    assert evidence["audit_intact"].outcome == "failed"
    assert "N'EST PAS intact" in evidence["audit_intact"].text
    logging = next(line for line in report.lines if any(e.check == "audit_intact" for e in line.evidence))
    assert not logging.contradicted  # no status declared yet
    org.config.deviations.measures.append(MeasureStatus(code=logging.measure.code, status="implemented"))
    report = conformity_report(org)
    line = next(x for x in report.lines if x.measure.code == logging.measure.code)
    assert line.contradicted
    contradicted = (
        "est déclarée mise en œuvre mais la vérification automatique « Intégrité du journal d'audit » a échoué"
    )
    assert any(contradicted in p for p in report.problems())
    english = conformity_report(org, lang="en").problems()
    assert any("declared implemented but the automatic check “Audit trail integrity” failed" in p for p in english)


def test_grant_on_disabled_account_fails_obsolete_permissions(org: Organisation) -> None:
    with org.engine.begin() as conn:
        conn.execute(update(user).values(status="disabled"))
    evidence = run_checks(org)["obsolete_permissions"]
    assert evidence.outcome == "failed"
    assert "comptes désactivés : demo.writer" in evidence.text


def test_health_data_holder_without_second_factor_fails(org: Organisation) -> None:
    with org.engine.begin() as conn:
        conn.execute(update(user).values(totp_secret=None))
    evidence = run_checks(org)["two_factor"]
    assert evidence.outcome == "failed"
    assert "Sans second facteur : demo.writer" in evidence.text


def test_public_area_idle_limit_over_five_minutes_fails(org: Organisation) -> None:
    org.config.access.idle_minutes["public_area"] = 10  # bypasses the configuration's own validation on purpose
    assert run_checks(org)["session_lock"].outcome == "failed"
    del org.config.access.idle_minutes["public_area"]
    assert run_checks(org)["session_lock"].outcome == "failed"


def test_strict_exits_2_without_statuses_then_0_when_complete(fresh: Path, tmp_path: Path) -> None:
    code, output = _invoke(fresh, tmp_path / "r.json", "--strict")
    assert code == 2
    assert "n'a pas de statut déclaré dans la configuration (deviations.measures)" in output.replace("\n", " ")
    assert (tmp_path / "r.json").exists()  # the report is written all the same

    opened = open_organisation(fresh, PASSPHRASE)
    try:
        report = conformity_report(opened)
    finally:
        opened.close()
    config = load(fresh)
    config.deviations.measures = [
        MeasureStatus(code=line.measure.code, status="implemented")
        if not any(e.outcome == "failed" for e in line.evidence)
        else MeasureStatus(code=line.measure.code, status="not_implemented", justification=JUSTIFICATION)
        for line in report.lines
    ]
    save(config, fresh)
    code, output = _invoke(fresh, tmp_path / "r.json", "--strict")
    assert code == 0, output
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data["summary"]["no_status"] == 0 and data["summary"]["contradicted"] == 0
    assert data["summary"]["not_implemented"] >= 1  # the annual authorisation review was never done
    not_implemented = [m for m in data["measures"] if m["status"] == "not_implemented"]
    assert all(m["justification"] == JUSTIFICATION for m in not_implemented)
    assert data["problems"] == []


def test_strict_refuses_a_contradicted_status(fresh: Path, tmp_path: Path) -> None:
    ref = loader.get(load(fresh).referential)
    review = next(m for m in ref.measures if any(c.id == "authorisation_review" for c in checks_for(m)))
    config = load(fresh)
    config.deviations.measures = [MeasureStatus(code=m.code, status="implemented") for m in ref.measures]
    save(config, fresh)
    code, output = _invoke(fresh, tmp_path / "r.json", "--strict")
    assert code == 2
    said = f"La mesure {review.code} est déclarée mise en œuvre mais la vérification automatique « Revue des"
    assert said in output.replace("\n", " ")
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    line = next(m for m in data["measures"] if m["code"] == review.code)
    assert line["contradicted"] and line["evidence"][0]["outcome"] == "failed"
    assert data["summary"]["contradicted"] >= 1
    code, _ = _invoke(fresh, tmp_path / "r.json")
    assert code == 0  # without --strict the report is written and the command succeeds


def test_unjustified_status_is_refused(fresh: Path, tmp_path: Path) -> None:
    """The configuration itself refuses a measure status without justification (COM-REF-2); the report says so too."""
    ref = loader.get(load(fresh).referential)
    other = next(m for m in ref.measures if not checks_for(m))
    config = load(fresh)
    config.deviations.measures = [MeasureStatus(code=other.code, status="not_necessary", justification="")]
    save(config, fresh)
    code, output = _invoke(fresh, tmp_path / "r.json")
    assert code == 2
    assert f"measure {other.code}" in output and "no written justification" in output.replace("\n", " ")
    report = build_report(config, ref)
    line = next(x for x in report.lines if x.measure.code == other.code)
    assert line.needs_justification
    assert any(
        f"La mesure {other.code} est déclarée « non nécessaire » sans justification" in p for p in report.problems()
    )
    english = build_report(config, ref, lang="en").problems()
    assert any(f"Measure {other.code} is not necessary without a written justification" in p for p in english)


def test_pdf_and_html(practice: Path, tmp_path: Path) -> None:
    code, output = _invoke(practice, tmp_path / "report.pdf")
    assert code == 0, output
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    code, output = _invoke(practice, tmp_path / "report.html")
    assert code == 0, output
    html = unescape((tmp_path / "report.html").read_text(encoding="utf-8"))
    ref = loader.get(load(practice).referential)
    assert all(m.code in html for m in ref.measures)
    assert "Aucune vérification de sauvegarde n'est enregistrée" in html
    assert "Mesures de sécurité — rapport de conformité" in html and ref.deliberation in html
    code, output = _invoke(practice, tmp_path / "report-en.html", "--lang", "en")
    assert code == 0, output
    html = unescape((tmp_path / "report-en.html").read_text(encoding="utf-8"))
    assert "Security measures — conformity report" in html and "No backup verification is recorded" in html
    assert all(m.code in html for m in ref.measures) and ref.measures[0].title in html
    code, output = _invoke(practice, tmp_path / "report-de.html", "--lang", "de")
    assert code == 2 and "en français (fr) ou en anglais (en)" in output


def test_unknown_output_format_is_refused(practice: Path, tmp_path: Path) -> None:
    code, output = _invoke(practice, tmp_path / "report.txt")
    assert code == 2
    assert "Erreur : Impossible d'écrire « report.txt » : le document s'écrit en .html, .pdf ou .json" in output


def test_status_for_an_unknown_code_is_reported() -> None:
    from santegarde.demo import demo_answers
    from santegarde.organisation import build_config

    ref = loader.for_profile("pharmacy")
    values, justifications = demo_answers(ref)
    config, ref = build_config(
        Path("/nonexistent/o"), "pharmacy", organisation_name="Pharmacie Fictive", choices=values,
        justifications=justifications,
    )  # fmt: skip
    config.deviations.measures = [MeasureStatus(code="SEC-XYZ-9", status="implemented")]
    report = build_report(config, ref)
    assert report.unknown_codes == ("SEC-XYZ-9",)
    assert any("« SEC-XYZ-9 », qui n'est pas une mesure de pha-2022-067" in p for p in report.problems())
    assert all(not line.evidence for line in report.lines)  # no evidence computed without the organisation


@pytest.mark.parametrize("ref_id", sorted(loader.load_all()))
def test_checks_map_onto_every_referential_by_area_and_text(ref_id: str) -> None:
    """One table of checks, no codes: each référentiel gets its authentication, logging, encryption lines evidenced."""
    ref = loader.get(ref_id)
    mapped = {c.id for m in ref.measures for c in checks_for(m)}
    assert {"two_factor", "password_policy", "obsolete_permissions", "audit_intact", "encryption_at_rest"} <= mapped
    assert {"backups", "authorisation_review"} <= mapped
    for m in ref.measures:
        for c in checks_for(m):
            if c.id == "two_factor":
                assert m.area == "authentication"
            if c.id == "session_lock":
                assert m.area == "workstation"


def test_the_fax_conditions_are_a_checklist_under_compassionate_access(tmp_path: Path) -> None:
    """AAC-SEC-ÉCH-3: the fax requirements are boxes to tick in the report (HTML and JSON, French and English)."""
    from notice_fixtures import complete_config
    from santegarde.governance.conformity import render, to_data

    config, ref = complete_config(tmp_path, "compassionate")
    french = unescape(render(build_report(config, ref)))
    assert "À vérifier sur place" in french and "☐ L'impression des messages reçus demande un code d'accès" in french
    assert "santegarde aac report --to" in french
    data = to_data(build_report(config, ref, lang="en"))
    fax = next(m for m in data["measures"] if m["code"] == "SEC-ÉCH-3")
    assert len(fax["checklist"]) == 6 and "personal access code" in fax["checklist"][1]
    assert all(not m["checklist"] for m in data["measures"] if m["code"] != "SEC-ÉCH-3")
    practice, pref = complete_config(tmp_path / "p", "practice")
    assert all(not m["checklist"] for m in to_data(build_report(practice, pref))["measures"])
