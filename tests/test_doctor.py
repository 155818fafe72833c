"""``santegarde doctor``: an installation that passes every check, and each check failing with what to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from init_answers import init_answers
from santegarde.audit.tables import entry, head
from santegarde.cli import doctor as doctor_cli
from santegarde.cli.main import app
from santegarde.config import load, save
from santegarde.lifecycle import doctor
from santegarde.runtime import PASSPHRASE_ENV, open_organisation
from santegarde.store.reach import MIN_FREE_BYTES

PASS = "a long enough doctor passphrase"


@pytest.fixture
def org(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    monkeypatch.delenv(doctor.FORWARDED_ENV, raising=False)
    # this machine's own /etc/nginx or /etc/caddy is not the test's: doctor looks in the test's directory instead
    monkeypatch.setattr(doctor_cli, "KNOWN_PLACES", (tmp_path / "etc" / "caddy" / "Caddyfile",))
    directory = tmp_path / "org"
    made = runner.invoke(
        app,
        ["init", "--profile", "practice", "--dir", str(directory), "--name", "Cabinet Docteur (fictif)",
         "--set", "retention_end_action=delete", *init_answers("practice")],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    config = directory / "santegarde.yaml"
    assert runner.invoke(app, ["keys", "init", "--config", str(config)]).exit_code == 0
    return config


def run(runner: CliRunner, config: Path, *more: str) -> tuple[int, str]:
    done = runner.invoke(app, ["doctor", "--config", str(config), *more])
    return done.exit_code, done.output


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """timedatectl says the clock is synchronised; the probes asked."""
    asked: list[tuple[str, ...]] = []

    def probe(argv: tuple[str, ...]) -> str | None:
        asked.append(argv)
        return "yes\n" if argv[0] == "timedatectl" else None

    monkeypatch.setattr(doctor, "run_probe", probe)
    return asked


@pytest.fixture
def front(runner: CliRunner, org: Path, tmp_path: Path) -> Path:
    """The nginx front santegarde deploy writes for this organisation."""
    done = runner.invoke(app, ["deploy", "nginx", "--config", str(org), "--to", str(tmp_path / "front"),
                               "--server-name", "sante.cabinet.invalid"])  # fmt: skip
    assert done.exit_code == 0, done.output
    return tmp_path / "front" / "santegarde.conf"


def test_a_sound_installation_passes_in_french_and_english_and_is_journaled(
    runner: CliRunner, org: Path, front: Path, synced: list[tuple[str, ...]]
) -> None:
    code, out = run(runner, org, "--proxy-config", str(front))
    assert code == 0, out
    assert "Installation prête : les 12 vérifications sont passées." in out
    assert out.count("✓") == 12 and "✗" not in out
    assert "Fin de la chaîne d'audit : OK" in out and "Horloge : OK" in out
    assert "ne sont crus que de 127.0.0.1 (FORWARDED_ALLOW_IPS)" in out  # what it trusts, said
    assert f"Configuration du mandataire inverse : nginx ({front}) : TLS 1.2 et 1.3 seulement" in out
    assert "limité à 1024 Kio" in out
    assert "Synchronisation de l'horloge : synchronisée par NTP (selon timedatectl)" in out
    code, out = run(runner, org, "--lang", "en", "--proxy-config", str(front))
    assert code == 0 and "Installation ready: all 12 checks passed." in out and "Clock: OK" in out
    assert synced[0] == ("timedatectl", "show", "--property=NTPSynchronized", "--value")
    trail = open_organisation(org, PASS)
    try:
        with trail.audit.engine.connect() as conn:
            last = [e.content for e in trail.audit.entries(conn)][-1]
    finally:
        trail.close()
    assert last["operation"] == "administration.command" and last["outcome"] == "success"
    assert last["resource_id"].endswith("doctor --config --lang --proxy-config"), last  # journaled like every command


def test_a_language_it_does_not_speak_is_refused(runner: CliRunner, org: Path) -> None:
    code, out = run(runner, org, "--lang", "de")
    assert code == 2 and "français (fr) ou en anglais (en)" in out


def test_an_unreadable_configuration_is_the_only_finding(runner: CliRunner, org: Path) -> None:
    org.write_text("profile: [unclosed\n", encoding="utf-8")
    code, out = run(runner, org)
    assert code == 2 and "Configuration : Le fichier de configuration" in out and "Corrigez-le" in out
    assert "Points à corriger : 1 ;" in out


def test_a_missing_configuration_says_where_it_was_looked_for(runner: CliRunner, tmp_path: Path) -> None:
    code, out = run(runner, tmp_path / "nowhere.yaml", "--lang", "en")
    assert code == 2 and "There is no configuration file at" in out and "santegarde init" in out


def test_a_configuration_open_to_other_accounts_is_refused(runner: CliRunner, org: Path) -> None:
    org.chmod(0o644)
    code, out = run(runner, org)
    assert code == 2 and f"chmod go-rwx {org}" in out and "-rw-r--r--" in out


def test_a_wrong_passphrase_stops_at_the_keys_and_skips_what_needs_them(
    runner: CliRunner, org: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "not the passphrase of this keystore")
    code, out = run(runner, org)
    assert code == 2 and "Clés : Le trousseau de clés ne s'ouvre pas" in out and "SANTEGARDE_PASSPHRASE" in out
    assert out.count("non vérifié : il faut d'abord que le trousseau s'ouvre.") == 6
    assert "Points à corriger : 1 ;" in out  # what could not be checked is marked, not counted
    assert "not the passphrase" not in out  # never the secret


@pytest.mark.parametrize(
    ("value", "said"),
    [("*", "n'importe quel client"), ("8.8.8.8", "une adresse publique"), ("proxy.invalid", "ni un réseau")],
)
def test_the_api_trusts_proxy_headers_only_from_a_private_address(
    runner: CliRunner, org: Path, monkeypatch: pytest.MonkeyPatch, value: str, said: str
) -> None:
    monkeypatch.setenv(doctor.FORWARDED_ENV, value)
    code, out = run(runner, org)
    assert code == 2 and said in out and doctor.FORWARDED_ENV in out
    monkeypatch.setenv(doctor.FORWARDED_ENV, "127.0.0.1, 10.0.0.0/8")
    assert run(runner, org)[0] == 0


def test_a_site_allowed_to_write_over_plain_http_is_refused(runner: CliRunner, org: Path) -> None:
    config = load(org)
    save(config.model_copy(update={"server": config.server.model_copy(update={"allowed_origins": [
        "https://console.cabinet.invalid", "http://console.cabinet.invalid"]})}), org)  # fmt: skip
    code, out = run(runner, org)
    assert code == 2 and "http://console.cabinet.invalid en http" in out


def test_an_unreachable_records_database_skips_the_schemas(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    config = load(org)
    save(config.model_copy(update={"database_url": f"sqlite:///{tmp_path}/no/such/dir/records.db"}), org)
    code, out = run(runner, org)
    assert code == 2 and "La base des dossiers ne répond pas" in out and "database_url" in out
    assert "Versions des schémas : non vérifié : il faut d'abord que les deux bases répondent." in out


def test_a_schema_older_than_the_code_says_to_upgrade(runner: CliRunner, org: Path) -> None:
    trail = open_organisation(org, PASS)
    try:
        with trail.audit.engine.begin() as conn:
            conn.execute(text("UPDATE audit_alembic_version SET version_num = 'a_revision_older_than_the_code'"))
    finally:
        trail.close()
    code, out = run(runner, org, "--lang", "en")
    assert code == 2 and f"run 'santegarde upgrade --config {org}'" in out and "audit" in out


@pytest.mark.parametrize(
    ("tamper", "said"),
    [("edit", "was edited after it was written"), ("delete", "does not match its last entry"),
     ("seal", "is not valid"), ("unseal", "is not sealed")],
)  # fmt: skip
def test_a_tampered_end_of_the_audit_chain_is_found(runner: CliRunner, org: Path, tamper: str, said: str) -> None:
    trail = open_organisation(org, PASS)
    try:
        with trail.audit.engine.begin() as conn:
            last = conn.execute(select(entry.c.seq).order_by(entry.c.seq.desc()).limit(1)).scalar_one()
            if tamper == "edit":
                conn.execute(update(entry).where(entry.c.seq == last).values(content='{"operation": "rien"}'))
            elif tamper == "delete":
                conn.execute(entry.delete().where(entry.c.seq == last))
            else:
                conn.execute(update(head).values(seal="0" * 64 if tamper == "seal" else None))
    finally:
        trail.close()
    code, out = run(runner, org, "--lang", "en")
    assert code == 2 and said in out and "santegarde audit" in out


def test_little_disk_and_a_clock_behind_the_trail_are_found(org: Path) -> None:
    found = {f.check: f for f in doctor.examine(org, lambda: PASS, min_free_bytes=2**62)}
    assert found["disk"].problem == "disk_records" and found["disk"].facts["mib"] == 2**62 // 2**20
    earlier = datetime.now(UTC) - timedelta(hours=1)
    found = {f.check: f for f in doctor.examine(org, lambda: PASS, now=earlier, min_free_bytes=MIN_FREE_BYTES)}
    assert found["clock"].problem == "clock_behind" and found["clock"].facts["minutes"] >= 59
    assert all(f.ok or f.skipped for name, f in found.items() if name != "clock")  # no front, no NTP probe here


def test_what_cannot_be_seen_is_said_and_does_not_fail(runner: CliRunner, org: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(doctor, "run_probe", lambda argv: None)  # neither timedatectl nor chronyc answers
    code, out = run(runner, org, "--proxy-config", str(tmp_path / "nowhere.conf"))
    assert code == 0, out
    assert "– Configuration du mandataire inverse : non vérifié : aucune configuration" in out
    assert "santegarde deploy nginx" in out and str(tmp_path / "nowhere.conf") in out
    assert "– Synchronisation de l'horloge : impossible à dire : ni timedatectl / chronyc ne répondent" in out
    assert "Rien à corriger : 10 vérifications passées, 2 impossibles ici (marquées –)." in out
    code, out = run(runner, org, "--lang", "en", "--proxy-config", str(tmp_path / "nowhere.conf"))
    assert code == 0 and "Nothing to fix: 10 checks passed, 2 could not be made here (marked –)." in out


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("X-Forwarded-For $remote_addr;", "X-Forwarded-For $proxy_add_x_forwarded_for;", "fausse adresse"),
        ("ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1.1 TLSv1.2 TLSv1.3;", "TLSv1.1"),
        ("client_max_body_size 1024k;", "client_max_body_size 50m;", "51200 Kio, plus que les 1024 Kio"),
        ("proxy_pass http://127.0.0.1:8000;", "proxy_pass http://203.0.113.9:8000;", "203.0.113.9:8000"),
    ],
)
def test_a_front_that_lets_a_client_forge_its_address_or_downgrade_tls_fails(
    runner: CliRunner, org: Path, front: Path, synced: list[tuple[str, ...]], old: str, new: str, said: str
) -> None:
    front.write_text(front.read_text().replace(old, new))
    code, out = run(runner, org, "--proxy-config", str(front))
    assert code == 2 and "✗ Configuration du mandataire inverse" in out and said in out, out


@pytest.mark.parametrize(
    ("answers", "problem", "note"),
    [
        ({"timedatectl": "no\n"}, "clock_unsynced", None),
        ({"chronyc": "Reference ID    : 7F7F0101 ()\nLeap status     : Not synchronised\n"}, "clock_unsynced", None),
        ({"chronyc": "Reference ID    : C0A80001 (ntp.invalid)\nLeap status     : Normal\n"}, None, "clock_synced"),
        ({"chronyc": "506 Cannot talk to daemon\n"}, "clock_unknown", None),
        ({}, "clock_unknown", None),
    ],
)
def test_clock_synchronisation_is_read_from_timedatectl_or_chrony(
    answers: dict[str, str], problem: str | None, note: str | None
) -> None:
    found = doctor.clock_sync(lambda argv: answers.get(argv[0]))
    assert (found.problem, found.note) == (problem, note)
    assert found.skipped == (problem == "clock_unknown")


def test_a_distributions_own_caddyfile_is_not_taken_for_santegardes_front(tmp_path: Path) -> None:
    from santegarde.lifecycle.fronts import find_front

    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(  # what Debian's caddy package installs: a static site, the proxy only in a comment
        ":80 {\n\troot * /usr/share/caddy\n\tfile_server\n\t# reverse_proxy localhost:8080\n}\n", encoding="utf-8"
    )
    assert find_front((caddyfile,)) is None
    caddyfile.write_text("sante.exemple.fr {\n\treverse_proxy 127.0.0.1:8000\n}\n", encoding="utf-8")
    assert find_front((caddyfile,)) == caddyfile
