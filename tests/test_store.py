"""The store on SQLite and PostgreSQL: migrations, and writes and reads only under an allowed decision."""

from __future__ import annotations

import pytest

from santegarde.policy import AccessRequest, decide
from santegarde.referentials import loader
from santegarde.referentials.model import Operation
from santegarde.store import records
from santegarde.store.db import DatabaseUrlError, make_engine, migrate, normalise_url, tables

PATIENT = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Fictif", "given": ["Alix"]}]}


def _decision(profile: str, operation: Operation, category: str, purpose: str):  # type: ignore[no-untyped-def]
    return decide(loader.get("pra-2020-081"), AccessRequest(profile, operation, category, purpose))


def test_migrations_create_the_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # idempotent
    assert {"organisation", "fhir_resource", "alembic_version"} <= tables(engine)
    engine.dispose()


def test_write_and_read_need_allowed_decisions(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    write = _decision("practitioner", Operation.WRITE, "identity_contact", "medical_record")
    read = _decision("practitioner", Operation.READ, "identity_contact", "medical_record")
    assert write.allowed and read.allowed
    with engine.begin() as conn:
        first = records.put(conn, write, PATIENT)
        second = records.put(conn, write, {**PATIENT, "gender": "female"})
        assert (first.version, second.version) == (1, 2)
        got = records.get(conn, read, "p1")
        assert got is not None and got.version == 2 and got.body["gender"] == "female"
        assert records.counts(conn) == {"Patient": 1}
        with pytest.raises(records.PolicyRequired, match="allows 'read', not 'write'"):
            records.put(conn, read, PATIENT)
        denied = _decision("maintenance", Operation.READ, "health", "medical_record")
        assert not denied.allowed
        with pytest.raises(records.PolicyRequired, match="refused"):
            records.get(conn, denied, "p1")
    engine.dispose()


@pytest.mark.parametrize("url", ["mysql://root@localhost/x", "not a url"])
def test_unsupported_database_is_refused(url: str) -> None:
    with pytest.raises(DatabaseUrlError):
        normalise_url(url)


def test_postgres_url_uses_psycopg3() -> None:
    assert normalise_url("postgresql://postgres@127.0.0.1/db").startswith("postgresql+psycopg://")
