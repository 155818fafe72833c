"""Sensitisation recorded per person and checked at login (AAC-SEC-SEN-1), beside the confidentiality charter
(AAC-SEC-SEN-2), on SQLite and PostgreSQL; and the administrator's commands that record and show them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from identity_fixtures import NEW_PASSWORD, START, Clock, TraceLog, make_context
from santegarde.cli.main import app
from santegarde.identity import accounts, grants, sessions, training
from santegarde.identity.context import IdentityContext
from santegarde.identity.errors import LoginRefused
from test_identity_cli import PASS, run

SUBJECT = "secret professionnel et risques du traitement de données de santé"


@pytest.fixture
def ctx(database_url: str, tmp_path: Path) -> Iterator[IdentityContext]:
    context = make_context(database_url, tmp_path, "aac-2022-106")
    object.__setattr__(context.settings, "training_months", 12)
    yield context
    context.engine.dispose()


def _clock(ctx: IdentityContext) -> Clock:
    assert isinstance(ctx.clock, Clock)
    return ctx.clock


def _person(ctx: IdentityContext, login: str = "pharm.durand") -> str:
    _, temporary = accounts.add(ctx, login, "Alix Durand", person_ref="10001234567", by="admin")
    assert temporary
    grants.give(
        ctx,
        login,
        "pharmacist_in_charge",
        validated_by="Dr Admin",
        validator_role="controller",
        reason="laboratory staff",
        ends_at=START + timedelta(days=3 * 365),
        by="admin",
    )
    return temporary


def _login(ctx: IdentityContext, login: str, password: str) -> sessions.LoginResult:
    return sessions.login(ctx, login, password, source="10.0.0.1", workstation_class="office")


def test_no_session_without_a_recorded_training_and_the_refusal_is_traced(ctx: IdentityContext) -> None:
    temporary = _person(ctx)
    with pytest.raises(training.TrainingRequired) as refused:
        _login(ctx, "pharm.durand", temporary)
    assert isinstance(refused.value, LoginRefused)
    assert str(refused.value).startswith("Aucune formation au secret professionnel")
    assert "santegarde user training" in str(refused.value)
    assert refused.value.in_language("en").startswith("No training in professional secrecy")
    log = ctx.trace
    assert isinstance(log, TraceLog)
    assert ("login", "denied", "pharm.durand", "no valid training") in log.events
    training.record(ctx, "pharm.durand", _clock(ctx).now.date() - timedelta(days=3), SUBJECT, by="admin")
    result = _login(ctx, "pharm.durand", temporary)
    assert result.pending[0] == "password_change"
    assert ("training.record", "success") in [(a, o) for a, o, _, _ in log.events]


def test_an_expired_training_is_refused_with_its_dates_until_a_new_one(ctx: IdentityContext) -> None:
    temporary = _person(ctx)
    training.record(ctx, "pharm.durand", date(2025, 11, 20), SUBJECT, by="admin")  # the clock says 2026-11-25
    with pytest.raises(training.TrainingRequired) as refused:
        _login(ctx, "pharm.durand", temporary)
    said = str(refused.value)
    assert "date du 20/11/2025" in said and "depuis le 20/11/2026" in said and "tous les 12 mois" in said
    assert "since 2026-11-20" in refused.value.in_language("en")
    training.record(ctx, "pharm.durand", date(2026, 11, 24), SUBJECT, by="admin")
    assert _login(ctx, "pharm.durand", temporary).token
    _clock(ctx).advance(days=365)  # 2027-11-25: a year and a day after the last training
    with pytest.raises(training.TrainingRequired):
        _login(ctx, "pharm.durand", temporary)


def test_the_last_training_counts_not_the_first(ctx: IdentityContext) -> None:
    temporary = _person(ctx)
    training.record(ctx, "pharm.durand", date(2026, 10, 1), SUBJECT, by="admin")
    training.record(ctx, "pharm.durand", date(2024, 1, 1), "rattrapage d'une ancienne session", by="admin")
    assert _login(ctx, "pharm.durand", temporary).token
    found = training.standing(ctx, "pharm.durand")
    assert found.last_training == date(2026, 10, 1) and found.subject == SUBJECT


def test_a_training_is_refused_in_the_future_without_subject_or_for_no_one(ctx: IdentityContext) -> None:
    _person(ctx)
    tomorrow = _clock(ctx).now.date() + timedelta(days=1)
    with pytest.raises(training.TrainingError, match="date future"):
        training.record(ctx, "pharm.durand", tomorrow, SUBJECT, by="admin")
    with pytest.raises(training.TrainingError, match="--subject"):
        training.record(ctx, "pharm.durand", date(2026, 11, 1), "rien", by="admin")
    with pytest.raises(training.TrainingError, match=r"pas de compte « personne\.inconnue »"):
        training.record(ctx, "personne.inconnue", date(2026, 11, 1), SUBJECT, by="admin")
    assert training.standing(ctx, "pharm.durand").last_training is None


def test_not_checked_when_the_organisation_sets_no_validity(ctx: IdentityContext) -> None:
    object.__setattr__(ctx.settings, "training_months", None)
    temporary = _person(ctx)
    assert _login(ctx, "pharm.durand", temporary).token


def test_the_charter_and_the_training_are_recorded_per_person(ctx: IdentityContext) -> None:
    temporary = _person(ctx)
    training.record(ctx, "pharm.durand", date(2026, 11, 2), SUBJECT, by="admin")
    result = _login(ctx, "pharm.durand", temporary)
    sessions.change_password(ctx, result.token, temporary, NEW_PASSWORD)
    result = _login(ctx, "pharm.durand", NEW_PASSWORD)
    assert "charter" in result.pending
    sessions.accept_charter(ctx, result.token, ctx.settings.charter_version)
    found = training.standing(ctx, "pharm.durand")
    assert [v for v, _ in found.charters] == ["1"] and found.last_training == date(2026, 11, 2)


def test_the_administrator_records_and_reads_a_training_from_the_cli(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from init_answers import init_answers

    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    directory = tmp_path / "org"
    made = runner.invoke(
        app,
        ["init", "--profile", "compassionate", "--dir", str(directory), "--name", "Laboratoire fictif",
         "--set", "retention_end_action=delete", "--set", "traces_retention=P6M",
         "--justify", "traces_retention=six mois suffisent pour détecter une anomalie dans la revue bimestrielle",
         *init_answers("compassionate")],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    config = directory / "santegarde.yaml"
    assert runner.invoke(app, ["keys", "init", "--config", str(config)]).exit_code == 0
    # The compassionate profile's init sets the validity (the text says "regularly", santegarde takes a year).
    assert yaml.safe_load(config.read_text(encoding="utf-8"))["access"]["training_months"] == 12
    c = ["--config", str(config)]
    added = run(runner, "user", "add", "pharm.durand", "--name", "Alix Durand", "--ref", "10001234565", *c,
                "--by", "admin")  # fmt: skip
    temporary = added.split("en main propre : ", 1)[1].split()[0]
    run(runner, "user", "grant", "pharm.durand", "pharmacist_in_charge", "--validated-by", "Dr Admin",
        "--reason", "laboratory staff", "--until", f"{date.today().year + 1}-12-31", *c, "--by", "admin")  # fmt: skip
    refused = runner.invoke(app, ["login", "pharm.durand", *c], input=f"{temporary}\n", env={"COLUMNS": "300"})
    assert refused.exit_code != 0 and "Aucune formation au secret professionnel" in refused.output
    assert "Demandez à votre administrateur de l'enregistrer" in refused.output  # what to do, in French
    missing = run(runner, "user", "standing", "pharm.durand", *c)
    assert "aucune formation enregistrée" in missing and "charte de confidentialité pas encore acceptée" in missing
    future = runner.invoke(app, ["user", "training", "pharm.durand", "--on", "2999-01-01", "--subject", SUBJECT, *c])
    assert future.exit_code == 2 and "date future" in future.output
    bad = runner.invoke(app, ["user", "training", "pharm.durand", "--on", "hier", "--subject", SUBJECT, *c])
    assert bad.exit_code == 2 and "n'est pas une date" in bad.output
    today = date.today()
    out = run(runner, "user", "training", "pharm.durand", "--on", today.isoformat(), "--subject", SUBJECT, *c)
    assert f"Formation de « pharm.durand » du {today:%d/%m/%Y} enregistrée" in out
    shown = run(runner, "user", "standing", "pharm.durand", *c, "--lang", "en")
    assert f"last training: {today.isoformat()}" in shown and "renewed every 12 months" in shown
    from santegarde.identifiers import make_rpps

    expired = (today - timedelta(days=400)).isoformat()
    added = run(runner, "user", "add", "pharm.ancien", "--name", "Noé Ancien", "--ref", make_rpps("1000123457"), *c,
                "--by", "admin")  # fmt: skip
    run(runner, "user", "training", "pharm.ancien", "--on", expired, "--subject", SUBJECT, *c)
    run(runner, "user", "grant", "pharm.ancien", "pharmacist_in_charge", "--validated-by", "Dr Admin",
        "--reason", "laboratory staff", "--until", f"{date.today().year + 1}-12-31", *c, "--by", "admin")  # fmt: skip
    temporary = added.split("en main propre : ", 1)[1].split()[0]
    refused = runner.invoke(app, ["login", "pharm.ancien", *c], input=f"{temporary}\n", env={"COLUMNS": "300"})
    assert refused.exit_code != 0 and "n'est plus valable depuis le" in refused.output
    assert "demandez à votre administrateur de l'enregistrer" in refused.output


def test_other_profiles_init_leaves_the_training_unchecked(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from santegarde.organisation import build_config

    for profile in ("practice", "pharmacy", "warehouse"):
        config, _ = build_config(tmp_path / profile, profile)
        assert config.access.training_months is None, profile
    config, _ = build_config(tmp_path / "lab", "compassionate")
    assert config.access.training_months == 12
