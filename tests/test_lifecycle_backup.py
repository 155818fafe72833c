"""Encrypted backups and their verified restore (COM-BAK-1, AAC SEC-SAU-1..3), on SQLite and PostgreSQL.

A backup restores into a scratch store and verifies; any altered byte is detected; the file holds no
plaintext; patient keys live only in the key escrow, so an erased patient stays unreadable in older backups.
"""

from __future__ import annotations

import dataclasses
import json
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from santegarde.audit.tables import entry
from santegarde.cli.backup import app as backup_app
from santegarde.crypto import DecryptionRefused, ScryptParams, create_keyring, create_keystore
from santegarde.demo import demo_answers
from santegarde.governance import maintenance
from santegarde.lifecycle import (
    BackupRefused,
    create_backup,
    forget_patient_keys,
    list_backups,
    restore_key_escrow,
    restore_to_scratch,
    verify_backup,
)
from santegarde.lifecycle.backup import ESCROW_NAME, LOG_NAME, read_header
from santegarde.lifecycle.restore import RestoreRefused, restore_organisation
from santegarde.organisation import build_config, init_organisation
from santegarde.referentials import loader
from santegarde.runtime import Organisation, open_organisation
from santegarde.store import vault
from santegarde.store.db import migrate
from santegarde.store.service import Request
from store_fixtures import Workplace, make_workplace

PASS = "a long passphrase for the backup tests"
FAMILY_1, FAMILY_2 = "Zyxwvutsr", "Qwertyfam"
FAST = ScryptParams(n=2**10, r=8, p=1)


def _patient(pid: str, family: str) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": family, "given": ["Alix"]}],
        "gender": "female",
        "birthDate": "1979-03-21",
    }


def _observation(pid: str, oid: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "valueQuantity": {"value": 61.5, "unit": "kg"},
    }


@pytest.fixture
def place(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(database_url, tmp_path)
    migrate(w.service.engine, package="santegarde.governance")
    doc = w.person("dr.martin", "practitioner", ref="10001234567")
    for pid, family in (("p-1", FAMILY_1), ("p-2", FAMILY_2)):
        w.service.create(Request(doc, "medical_record"), _patient(pid, family))
        w.service.create(Request(doc, "medical_record"), _observation(pid, f"o-{pid}"))
    yield w
    w.close()


@pytest.fixture
def org(place: Workplace, database_url: str, tmp_path: Path) -> Organisation:
    ref = loader.get("pra-2020-081")
    choices, justifications = demo_answers(ref)
    config, _ = build_config(
        tmp_path / "org",
        "practice",
        organisation_name="Cabinet Fictif",
        choices=choices,
        justifications=justifications,
        database_url=database_url,
        audit_database_url=place.audit.engine.url.render_as_string(hide_password=False),
    )
    ring = place.identity.keyring
    return Organisation(tmp_path / "org" / "santegarde.yaml", config, ref, ring, place.service.engine, place.audit)


def _audit_operations(org: Organisation) -> list[str]:
    with org.audit.engine.connect() as conn:
        return [
            json.loads(c)["operation"] for c in conn.execute(select(entry.c.content).order_by(entry.c.seq)).scalars()
        ]


def test_backup_is_created_encrypted_and_verifies(org: Organisation, tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    path = create_backup(org, directory, by="admin")
    assert path.name.startswith("backup-") and path.suffix == ".sgb"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((directory / ESCROW_NAME).stat().st_mode) == 0o600
    header, _, _ = read_header(path)
    names = {t["table"] for t in header["tables"]}
    assert {"record", "record_part", "audit_entry", "organisation"} <= names and "patient_key" not in names
    assert header["organisation"] == "Cabinet Fictif" and header["engine"] == org.engine.dialect.name
    for blob in (path.read_bytes(), (directory / ESCROW_NAME).read_bytes()):
        for secret in (FAMILY_1, FAMILY_2, "1979-03-21", "61.5"):
            assert secret.encode() not in blob and secret.lower().encode() not in blob.lower()

    report = verify_backup(org, path, by="admin")
    assert report.ok, report.problems
    assert report.rows > 0 and report.audit_entries > 0 and report.tables == len(header["tables"])
    assert report.sample_part_bytes and report.sample_part_bytes > 16
    assert report.escrow_patients == 2
    assert "audit.audit_entry" in report.changed_since  # the backup.create event came after the snapshot
    assert _audit_operations(org)[-2:] == ["backup.create", "backup.verify"]
    log = [json.loads(line) for line in (directory / LOG_NAME).read_text().splitlines()]
    assert [(e["action"], e["result"]) for e in log] == [("create", "ok"), ("verify", "ok")]
    [info] = list_backups(directory)
    assert info.path == path and info.last_result == "ok" and info.rows == report.rows


def test_an_altered_byte_is_detected(org: Organisation, tmp_path: Path) -> None:
    path = create_backup(org, tmp_path / "backups")
    original = path.read_bytes()
    for position in (len(original) - 1, len(original) - 40):  # inside the ciphertext, after the clear header
        damaged = bytearray(original)
        damaged[position] ^= 0x01
        path.write_bytes(bytes(damaged))
        report = verify_backup(org, path)
        assert not report.ok and "modifié ou tronqué" in str(report.problems[0])
    renamed = original.replace(b"Cabinet Fictif", b"Cabinet Fictiv")
    assert renamed != original
    path.write_bytes(renamed)
    assert "modifié ou tronqué" in str(verify_backup(org, path).problems[0])
    path.write_bytes(b"not a backup at all")
    assert "n'est pas une sauvegarde santegarde" in str(verify_backup(org, path).problems[0])
    log = [json.loads(line) for line in (path.parent / LOG_NAME).read_text().splitlines()]
    assert [e["result"] for e in log if e["action"] == "verify"] == ["problems"] * 4


def test_refusals(org: Organisation, tmp_path: Path) -> None:
    with pytest.raises(BackupRefused, match="pas de fichier de sauvegarde"):
        verify_backup(org, tmp_path / "missing.sgb")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(BackupRefused, match="est un fichier, pas un répertoire"):
        create_backup(org, tmp_path / "afile")
    with pytest.raises(BackupRefused, match="n'est pas un répertoire de sauvegardes"):
        list_backups(tmp_path / "nowhere")
    path = create_backup(org, tmp_path / "backups")
    other_dir = tmp_path / "other-keys"
    other = create_keyring(create_keystore(other_dir, PASS, FAST), other_dir)
    report = verify_backup(dataclasses.replace(org, keyring=other), path)
    assert not report.ok and "La clé de" in str(report.problems[0]) and "ne se déchiffre pas" in str(report.problems[0])
    assert forget_patient_keys(tmp_path / "empty", "p-1") == 0


def test_an_erased_patient_stays_unreadable_in_older_backups(org: Organisation, tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    older = create_backup(org, directory)
    with org.engine.begin() as conn:
        assert vault.PatientKeys(org.keyring).destroy(conn, "p-1") == 2
    assert forget_patient_keys(directory, "p-1") == 1
    assert forget_patient_keys(directory, "p-1") == 0

    scratch = restore_to_scratch(org.keyring, older, tmp_path / "scratch")
    try:
        assert not scratch.problems
        assert restore_key_escrow(org.keyring, directory, scratch.records) == 2  # p-2: identity and health keys
        keys = vault.PatientKeys(org.keyring)
        with scratch.records.connect() as conn:
            for pid, readable in (("p-2", True), ("p-1", False)):
                for rid in (pid, f"o-{pid}"):
                    [v] = vault.versions(conn, rid, current_only=True)
                    for category, token in vault.part_tokens(conn, v).items():
                        if readable:
                            assert vault.open_part(keys, conn, org.referential, v, category, token)
                        else:
                            with pytest.raises(DecryptionRefused, match="ont été détruites"):
                                vault.open_part(keys, conn, org.referential, v, category, token)
    finally:
        scratch.close()
    create_backup(org, directory)  # a new backup rewrites the escrow from the live keys: p-1 stays out
    assert verify_backup(org, older).escrow_patients == 1


def test_cli_create_verify_list(runner: CliRunner, database_url: str, tmp_path: Path) -> None:
    ref = loader.for_profile("practice")
    choices, justifications = demo_answers(ref)
    directory = tmp_path / "org"
    config, ref = build_config(
        directory,
        "practice",
        organisation_name="Cabinet CLI",
        choices=choices,
        justifications=justifications,
        database_url=database_url,
    )  # on PostgreSQL the audit trail shares the records database
    result = init_organisation(directory, config, ref)
    keydir = Path(config.keyring_path)
    create_keyring(create_keystore(keydir, PASS, FAST), keydir)
    env = {"SANTEGARDE_PASSPHRASE": PASS, "COLUMNS": "200"}
    backups = tmp_path / "backups"
    cfg = ["--config", str(result.config_path)]
    created = runner.invoke(backup_app, ["create", "--to", str(backups), *cfg], env=env)
    assert created.exit_code == 0, created.output
    [path] = backups.glob("backup-*.sgb")
    header, _, _ = read_header(path)
    assert all(t["table"].startswith("audit_") for t in header["tables"] if t["database"] == "audit")
    assert not {t["table"] for t in header["tables"] if t["database"] == "records"} & {"audit_entry", "patient_key"}
    verified = runner.invoke(backup_app, ["verify", str(path), *cfg], env=env)
    assert verified.exit_code == 0 and "se restaure et se vérifie" in verified.output, verified.output
    listed = runner.invoke(backup_app, ["list", "--to", str(backups)], env=env)
    assert listed.exit_code == 0 and path.name in listed.output and "dernière vérification" in listed.output
    listed = runner.invoke(backup_app, ["list", "--to", str(backups), "--lang", "en"], env=env)
    assert listed.exit_code == 0 and path.name in listed.output and "last verified" in listed.output
    assert "ok" in listed.output
    twice = runner.invoke(backup_app, ["list", str(backups), "--to", str(tmp_path)], env=env)
    assert twice.exit_code == 2 and "Nommez le répertoire une seule fois" in twice.output
    by_argument = runner.invoke(backup_app, ["list", str(backups)], env=env)
    assert by_argument.exit_code == 0 and path.name in by_argument.output
    path.write_bytes(path.read_bytes()[:-5])
    broken = runner.invoke(backup_app, ["verify", str(path), *cfg], env=env)
    assert broken.exit_code == 2 and "modifié ou tronqué" in broken.output
    missing = runner.invoke(backup_app, ["list", "--to", str(tmp_path / "nowhere")], env=env)
    assert missing.exit_code == 2 and "n'est pas un répertoire de sauvegardes" in missing.output


def _intervention(engine: object, description: str) -> None:
    maintenance.record(
        engine,  # type: ignore[arg-type]
        at=datetime.now(UTC),
        operator="Technicien Fictif",
        company="Prestataire Fictif",
        kind="update",
        equipment="serveur",
        description=description,
        supervised_by="Responsable Fictif",
        recorded_by="admin",
    )


@pytest.fixture
def empty_target(database_url: str) -> Iterator[str | None]:
    """On PostgreSQL, a second empty database to restore into; on SQLite, none (the restore goes into the directory)."""
    if not database_url.startswith("postgresql"):
        yield None
        return
    server, name = database_url.rsplit("/", 1)[0], f"santegarde_restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_restore_organisation_on_both_engines(org: Organisation, empty_target: str | None, tmp_path: Path) -> None:
    """A restore into a new directory (SQLite) or into an empty PostgreSQL database; then into a non-empty one."""
    _intervention(org.engine, "Before the backup.")
    path = create_backup(org, tmp_path / "backups", by="admin")
    report = restore_organisation(
        path, tmp_path / "restored", ring=org.keyring, keyring_source=tmp_path / "keyring", config=org.config,
        database_url=empty_target, by="admin",
    )  # fmt: skip
    assert report.ok and report.hashes_ok and report.audit_ok, report.problems
    assert report.patient_keys == 4 and report.sampled_records == 4 and report.rows > 0
    assert report.config_path == tmp_path / "restored" / "santegarde.yaml"
    restored = open_organisation(report.config_path, "correct horse battery staple")
    try:
        assert restored.engine.dialect.name == ("postgresql" if empty_target else "sqlite")
        trail = restored.audit.verify()
        assert trail.intact and trail.entries == report.audit_entries
        _intervention(restored.engine, "After the restore.")  # new ids follow the restored ones (sequences moved)
        assert [e.description for e in maintenance.entries(restored.engine)] == [
            "Before the backup.",
            "After the restore.",
        ]
        keys = vault.PatientKeys(restored.keyring)
        with restored.engine.connect() as conn:
            [v] = vault.versions(conn, "p-1", current_only=True)
            parts = [
                vault.open_part(keys, conn, restored.referential, v, c, t)
                for c, t in vault.part_tokens(conn, v).items()
            ]
        assert any(FAMILY_1 in json.dumps(part) for part in parts)
    finally:
        restored.close()
    if empty_target:
        with pytest.raises(RestoreRefused, match="n'est pas vide"):
            restore_organisation(
                path, tmp_path / "again", ring=org.keyring, keyring_source=tmp_path / "keyring", config=org.config,
                database_url=empty_target,
            )  # fmt: skip
        assert not (tmp_path / "again").exists()
