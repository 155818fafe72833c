"""santegarde upgrade: an organisation on an older schema is backed up, verified, migrated, and keeps its data.

The older organisation is made by the code of today, filled through the record path, then taken back to the schema
revisions an earlier release had (``OLDER``: before the objection ledger's subject, the rights desk's move to the
ledger, the warehouse governance tables and the compassionate-access tables) with the migrations' own downgrades,
which keep every row of the tables they leave. That is the state an installation of that release is in when the
new wheel is installed over it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pyotp
import pytest
from alembic import command
from sqlalchemy import text
from typer.testing import CliRunner

from santegarde import compassionate
from santegarde.cli.main import app
from santegarde.config import load
from santegarde.crypto import ScryptParams, create_keyring, create_keystore
from santegarde.demo import demo_answers
from santegarde.identity import accounts, grants, sessions, totp
from santegarde.identity.context import IdentityContext
from santegarde.identity.hashing import FAST_TEST_PARAMS
from santegarde.lifecycle.upgrade import UpgradeRefused, outdated, refuse_outdated
from santegarde.organisation import build_config, init_organisation
from santegarde.referentials import loader
from santegarde.runtime import PASSPHRASE_ENV, Organisation, audit_tracer, identity_settings, open_organisation
from santegarde.store.db import alembic_config
from santegarde.store.service import RecordService, Request
from santegarde.synthetic import generate_dataset

PASS = "upgrade passphrase, fictitious"
PASSWORD = "Tisane-Violette-7-Horloge!"
# (package, revision) to go back to, in the order the downgrades must run (rights r002 needs store 0008).
OLDER = (
    ("santegarde.rights", "r001"),
    ("santegarde.store", "0007"),
    ("santegarde.governance", "g002"),
    ("santegarde.compassionate", "base"),
)


@dataclass
class Older:
    config: Path
    token: str
    patients: list[str]


def _person(ctx: IdentityContext) -> str:
    _, temporary = accounts.add(ctx, "dr.upgrade", "Dr Upgrade Fictif", person_ref="10001234565", by="admin")
    assert temporary
    grants.give(
        ctx, "dr.upgrade", "practitioner", validated_by="Responsable", validator_role="governance_body",
        reason="upgrade tests", by="admin",
    )  # fmt: skip
    result = sessions.login(ctx, "dr.upgrade", temporary, source="10.0.0.1", workstation_class="office")
    sessions.change_password(ctx, result.token, temporary, PASSWORD)
    sessions.accept_charter(ctx, result.token, ctx.settings.charter_version)
    secret = totp.new_secret()
    sessions.enrol_second_factor(ctx, result.token, secret, pyotp.TOTP(secret).at(ctx.now()))
    return result.token


def _service(config: Path) -> tuple[RecordService, Organisation]:
    org = open_organisation(config, PASS)
    settings = identity_settings(org.config)
    ctx = IdentityContext(
        org.engine, org.referential, org.keyring, audit_tracer(org), replace(settings, hash_params=FAST_TEST_PARAMS)
    )
    return RecordService(org.engine, org.referential, org.keyring, org.audit, ctx), org


@pytest.fixture
def older(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Older]:
    directory = tmp_path / "org"
    ref = loader.for_profile("practice")
    choices, justifications = demo_answers(ref)
    config, ref = build_config(
        directory, "practice", organisation_name="Cabinet Ancien (fictif)", choices=choices,
        justifications=justifications,
    )  # fmt: skip
    init_organisation(directory, config, ref)
    keydir = Path(config.keyring_path)
    create_keyring(create_keystore(keydir, PASS, ScryptParams(n=2**10, r=8, p=1)), keydir)
    path = directory / "santegarde.yaml"
    service, org = _service(path)
    try:
        token = _person(service.identity)
        patients = []
        for resource in generate_dataset(25, 4, "practice").resources():
            body = json.loads(resource.model_dump_json(by_alias=True, exclude_none=True))
            purposes = service.purposes_for("practitioner", body)
            if purposes:
                service.create(Request(token, purposes[0]), body)
                if body["resourceType"] == "Patient":
                    patients.append(body["id"])
        for package, revision in OLDER:
            command.downgrade(alembic_config(service.engine, package), revision)
        with service.engine.begin() as conn:  # the release before compassionate access had no version table for it
            conn.execute(text("DROP TABLE compassionate_alembic_version"))
    finally:
        org.close()
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    monkeypatch.chdir(tmp_path)
    yield Older(path, token, patients)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={**os.environ, "COLUMNS": "200"})
    return result.exit_code, result.output


def test_an_older_organisation_is_refused_by_the_server_then_upgraded_with_its_data(older: Older) -> None:
    org = open_organisation(older.config, PASS)
    try:
        behind = {state.package for state in outdated(org.engine, org.audit.engine)}
        assert behind == {package for package, _ in OLDER}
        with pytest.raises(UpgradeRefused, match="santegarde upgrade --config"):
            refuse_outdated(org, older.config)
    finally:
        org.close()
    code, out = run("serve", "--config", str(older.config))
    assert code != 0 and "santegarde upgrade --config" in out and "Traceback" not in out

    code, out = run("upgrade", "--config", str(older.config), "--backup-to", "backups")
    assert code == 0, out
    assert "Sauvegarde vérifiée faite d'abord" in out and "santegarde.store : 0007 → 0009" in out.replace("\n", " ")
    assert len(list(Path("backups").glob("backup-*.sgb"))) == 1

    service, org = _service(older.config)
    try:
        assert outdated(service.engine, service.audit.engine) == []
        for rid in older.patients:
            assert service.read(Request(older.token, "medical_record"), "Patient", rid)["id"] == rid
    finally:
        org.close()
    code, out = run("audit", "verify", "--config", str(older.config))
    assert code == 0, out
    code, out = run("upgrade", "--config", str(older.config), "--backup-to", "backups", "--lang", "en")
    assert code == 0 and "nothing to upgrade" in out
    assert len(list(Path("backups").glob("backup-*.sgb"))) == 1  # no backup when nothing is migrated


def test_an_upgrade_without_the_keys_is_refused_and_migrates_nothing(older: Older) -> None:
    keyring = Path(load(older.config).keyring_path)
    shutil.move(keyring, keyring.with_name("keyring-elsewhere"))
    code, out = run("upgrade", "--config", str(older.config), "--backup-to", "backups")
    assert code != 0 and "Traceback" not in out
    assert "keystore" in out.lower() or "keyring" in out.lower()
    assert not Path("backups").exists()
    shutil.move(keyring.with_name("keyring-elsewhere"), keyring)
    org = open_organisation(older.config, PASS)
    try:
        assert {state.package for state in outdated(org.engine, org.audit.engine)} == {p for p, _ in OLDER}
    finally:
        org.close()


def test_an_upgrade_needs_to_know_where_its_backup_goes(older: Older) -> None:
    code, out = run("upgrade", "--config", str(older.config))
    assert code != 0 and "--backup-to" in out


def test_a_schema_taken_back_to_its_base_is_backed_up_and_upgraded(older: Older) -> None:
    # An empty version table (alembic downgrade base) is a schema at its base: its backup verifies as such.
    org = open_organisation(older.config, PASS)
    try:
        with org.engine.begin() as conn:
            conn.execute(text("CREATE TABLE compassionate_alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
    finally:
        org.close()
    code, out = run("upgrade", "--config", str(older.config), "--backup-to", "backups")
    assert code == 0, out
    versions = Path(compassionate.__file__).parent / "migrations" / "versions"
    head = max(f.name.split("_")[0] for f in versions.glob("c[0-9]*.py"))  # the newest revision, whichever it is
    assert f"santegarde.compassionate : aucune révision → {head}" in out.replace("\n", " ")
