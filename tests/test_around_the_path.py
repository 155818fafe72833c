"""Trying to reach records around identity → policy → store → audit must fail (COM-PUR-1, ARCHITECTURE.md).

Other routes, direct use of the store's internals, other packages reading the record tables, and
the database itself: none of them gives health data without a session, a purpose and a decision.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from santegarde.api import create_app
from santegarde.crypto import DecryptionRefused, ScryptParams, create_keyring, create_keystore
from santegarde.store import vault
from store_fixtures import Workplace, make_workplace
from test_store import observation, patient

PUBLIC = {"/fhir/metadata", "/auth/login", "/auth/charter", "/auth/psc/start", "/auth/psc/callback"}
SRC = Path(__file__).resolve().parents[1] / "src" / "santegarde"


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(f"sqlite:///{tmp_path / 'path.db'}", tmp_path)
    token = w.person("dr.martin", "practitioner", ref="10001234567")
    w.service.create(vault_request(token), patient())
    w.service.create(vault_request(token), observation())
    yield w
    w.close()


def vault_request(token: str):  # type: ignore[no-untyped-def]
    from santegarde.store.service import Request

    return Request(token, "medical_record")


def test_every_route_needs_a_session(place: Workplace) -> None:
    app = create_app(place.identity, records=place.service)
    anonymous = TestClient(app, base_url="https://testserver")
    checked = 0
    for path_template, operations in app.openapi()["paths"].items():
        if path_template in PUBLIC:
            continue
        path = path_template.replace("{resource_type}", "Observation").replace("{rid}", "o-1")
        for method in operations:
            answer = anonymous.request(method.upper(), path, headers={"X-Purpose": "medical_record"}, json={})
            assert answer.status_code in (400, 401, 422), (method, path, answer.status_code)
            assert "61.5" not in answer.text
            checked += 1
    assert checked >= 10


def test_only_the_store_service_uses_the_vault_and_record_tables() -> None:
    """No package but store reaches the vault or the record tables: the path cannot be skipped by import."""
    offenders = []
    # Backups copy every table as ciphertext, like a database dump, and keep patient keys apart: the one
    # module outside the store that names the record tables, and it never decrypts (tests/test_lifecycle_backup.py).
    dumps = {SRC / "lifecycle" / "backup.py"}
    for module in SRC.rglob("*.py"):
        if module.is_relative_to(SRC / "store") or module in dumps:
            continue
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {a.name for a in node.names}
                if node.module == "santegarde.store.vault" or (node.module == "santegarde.store" and "vault" in names):
                    offenders.append(f"{module.relative_to(SRC)} imports the vault")
                if node.module == "santegarde.store.schema" and names & {
                    "record",
                    "record_part",
                    "record_index",
                    "patient_key",
                }:
                    offenders.append(f"{module.relative_to(SRC)} reads the record tables")
    assert offenders == []


def test_the_vault_without_the_organisations_keys_reads_nothing(place: Workplace, tmp_path: Path) -> None:
    stranger = create_keyring(
        create_keystore(tmp_path / "other", "another long passphrase", ScryptParams(n=2**10, r=8, p=1)),
        tmp_path / "other",
    )
    keys = vault.PatientKeys(stranger)
    with place.service.engine.connect() as conn:
        version = vault.versions(conn, "o-1", current_only=True)[0]
        token = vault.part_tokens(conn, version)["health"]
        with pytest.raises(DecryptionRefused):
            vault.open_part(keys, conn, place.service.ref, version, "health", token)


def test_search_without_a_session_reveals_nothing(place: Workplace) -> None:
    from santegarde.identity.errors import SessionRefused
    from santegarde.store.service import Request

    with pytest.raises(SessionRefused):
        place.service.search(Request("", "medical_record"), "Patient", {"family": "Fictivé"})
