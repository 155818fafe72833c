"""santegarde user … and santegarde review … on an initialised practice, as its administrator would run them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from init_answers import init_answers
from santegarde.cli.main import app
from santegarde.identity import sessions
from santegarde.identity.errors import LoginRefused
from santegarde.runtime import identity_context, open_organisation

PASS = "a long enough test passphrase"


@pytest.fixture
def org(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    directory = tmp_path / "org"
    assert (
        runner.invoke(
            app,
            [
                "init",
                "--profile",
                "practice",
                "--dir",
                str(directory),
                "--name",
                "Cabinet",
                "--set",
                "retention_end_action=delete",
                *init_answers("practice"),
            ],
        ).exit_code
        == 0
    )
    config = directory / "santegarde.yaml"
    assert runner.invoke(app, ["keys", "init", "--config", str(config)]).exit_code == 0
    return config


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_user_lifecycle_through_the_cli(runner: CliRunner, org: Path) -> None:
    c = ["--config", str(org), "--by", "admin.test"]
    out = run(runner, "user", "add", "dr.martin", "--name", "Claire Martin", "--ref", "10001234565", *c)
    assert "Compte « dr.martin » créé (personne)." in out
    temporary = re.search(r"affiché une seule fois — remettez-le en main propre : (\S+)", out)
    assert temporary is not None
    run(
        runner,
        "user",
        "grant",
        "dr.martin",
        "practitioner",
        "--validated-by",
        "Dr Martin",
        "--reason",
        "holder of the practice",
        *c,
    )
    bad = runner.invoke(
        app, ["user", "grant", "dr.martin", "pharmacist", "--validated-by", "X", "--reason", "wrong", *c]
    )
    assert bad.exit_code == 2 and "n'est pas un profil du référentiel pra-2020-081" in bad.output
    listing = run(runner, "user", "list", "--grants", "--config", str(org))
    assert "Dr Martin (responsable du traitement)" in listing and "profils actifs" in listing
    said = " ".join(listing.split())  # the profile named in French beside the identifier --profile takes
    assert "Professionnel de santé responsable du traitement (practitioner)" in said, listing
    listing_en = run(runner, "user", "list", "--grants", "--lang", "en", "--config", str(org))
    assert "dr.martin" in listing_en and "practitioner" in listing_en and "Dr Martin (controller)" in listing_en
    assert "Health professional (data controller) (practitioner)" in " ".join(listing_en.split())

    organisation = open_organisation(org, PASS)
    try:
        ctx = identity_context(organisation)
        result = sessions.login(ctx, "dr.martin", temporary.group(1), source="127.0.0.1", workstation_class="office")
        assert result.pending[0] == "password_change"
        assert ctx.settings.idle_limits["public_area"].total_seconds() == 300
    finally:
        organisation.close()

    disabled = run(runner, "user", "disable", "dr.martin", "--reason", "left the practice", "--lang", "en", *c)
    assert "Account 'dr.martin' disabled; 1 grant(s) withdrawn and its sessions ended." in disabled
    organisation = open_organisation(org, PASS)
    try:
        with pytest.raises(LoginRefused):
            sessions.login(
                identity_context(organisation),
                "dr.martin",
                temporary.group(1),
                source="127.0.0.1",
                workstation_class="office",
            )
        assert organisation.audit.verify().intact
    finally:
        organisation.close()
    duplicate = runner.invoke(app, ["user", "add", "claire", "--name", "Claire Martin", "--ref", "10001234565", *c])
    assert duplicate.exit_code == 2 and "a déjà un compte" in duplicate.output


def test_review_campaign_through_the_cli(runner: CliRunner, org: Path) -> None:
    c = ["--config", str(org), "--by", "admin.test"]
    for login, ref, profile in (("dr.martin", "10001234565", "practitioner"), ("sec.durand", "S-2", "secretariat")):
        run(runner, "user", "add", login, "--name", login, "--ref", ref, *c)
        run(runner, "user", "grant", login, profile, "--validated-by", "Dr Martin", "--reason", "staff", *c)
    none_yet = runner.invoke(app, ["review", "status", "--config", str(org)])
    assert none_yet.exit_code == 2 and "Aucune revue des habilitations" in none_yet.output
    started = run(runner, "review", "start", *c)
    assert "revue annuelle" in started and "0 confirmée(s), 0 terminée(s), 2 en attente." in started
    decided = run(runner, "review", "decide", "1", "1", "--confirm", *c)
    assert "Habilitation n° 1 confirmée dans la revue n° 1." in decided
    closed = run(runner, "review", "close", "1", *c)
    assert "1 confirmée(s), 1 terminée(s), 0 en attente." in closed and "revue close sans confirmation" in closed
    status_en = run(runner, "review", "status", "--lang", "en", "--config", str(org))
    assert "closed by admin.test" in status_en and "1 confirmed, 1 ended, 0 pending" in status_en
    again = runner.invoke(app, ["review", "close", "1", *c])
    assert again.exit_code == 2 and "La revue n° 1 est close." in again.output
    bad_date = runner.invoke(
        app,
        [
            "user",
            "grant",
            "dr.martin",
            "secretariat",
            "--validated-by",
            "X",
            "--reason",
            "cover",
            "--until",
            "next week",
            *c,
        ],
    )
    assert bad_date.exit_code == 2 and "« next week » n'est pas une date" in bad_date.output
    assert "AAAA-MM-JJ" in bad_date.output


def test_served_app_uses_the_organisation(runner: CliRunner, org: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from santegarde.cli.serve import build_app
    from santegarde.config import load, save
    from santegarde.config.model import ProSanteConnectConfig
    from santegarde.identity.oidc import OidcError

    c = ["--config", str(org), "--by", "admin.test"]
    out = run(runner, "user", "add", "dr.martin", "--name", "Claire Martin", "--ref", "10001234565", *c)
    temporary = re.search(r"remettez-le en main propre : (\S+)", out)
    assert temporary is not None
    run(runner, "user", "grant", "dr.martin", "practitioner", "--validated-by", "Dr Martin", "--reason", "holder", *c)
    organisation = open_organisation(org, PASS)
    try:
        client = TestClient(build_app(organisation), base_url="https://testserver")
        answer = client.post("/auth/login", json={"login": "dr.martin", "password": temporary.group(1)})
        assert answer.status_code == 200 and answer.json()["pending"][0] == "password_change"
    finally:
        organisation.close()
    config = load(org)
    psc = ProSanteConnectConfig(issuer="https://psc.example", client_id="cabinet", redirect_uri="https://x/cb")
    save(config.model_copy(update={"pro_sante_connect": psc}), org)
    monkeypatch.delenv("SANTEGARDE_PSC_CLIENT_SECRET", raising=False)
    organisation = open_organisation(org, PASS)
    try:
        with pytest.raises(OidcError, match="SANTEGARDE_PSC_CLIENT_SECRET is not set"):
            build_app(organisation)
    finally:
        organisation.close()
