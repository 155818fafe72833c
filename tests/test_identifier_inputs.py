"""French identifiers typed by people are checked for their key: account references and the organisation's numbers.

(Identifiers inside FHIR resources are checked by the record path: tests/test_store_validation.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from santegarde.cli.main import app
from santegarde.config import ConfigFileError, load
from santegarde.identifiers import InvalidIdentifier, validate_person_ref
from santegarde.identity.tables import user
from santegarde.store.db import make_engine
from test_identity_cli import PASS, org  # noqa: F401 (the organisation fixture)


def test_person_references_have_their_rpps_key_checked() -> None:
    assert validate_person_ref(" 1000 1234 565 ") == "10001234565"
    assert validate_person_ref("810001234565") == "810001234565"  # idNatPs of the same RPPS
    assert validate_person_ref("S-2") == "S-2" and validate_person_ref("751234567") == "751234567"  # staff, ADELI
    for wrong in ("10001234566", "810001234566"):
        with pytest.raises(InvalidIdentifier, match="check digit"):
            validate_person_ref(wrong)


def test_user_add_refuses_an_rpps_with_a_wrong_key(runner: CliRunner, org: Path) -> None:  # noqa: F811
    c = ["--config", str(org), "--by", "admin.test"]
    env = {"SANTEGARDE_PASSPHRASE": PASS, "COLUMNS": "200"}
    wrong = runner.invoke(
        app, ["user", "add", "dr.martin", "--name", "Claire Martin", "--ref", "10001234566", *c], env=env
    )
    assert wrong.exit_code != 0 and "The RPPS check digit (Luhn, last digit) does not match" in wrong.output
    assert "10001234566" not in wrong.output
    added = runner.invoke(
        app, ["user", "add", "dr.martin", "--name", "Claire Martin", "--ref", "10001234565", *c], env=env
    )
    assert added.exit_code == 0, added.output
    engine = make_engine(load(org).database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(user.c.login, user.c.person_ref)).all() == [("dr.martin", "10001234565")]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("field", "wrong", "valid", "rule"),
    [
        ("siret", "73282932000018", "732 829 320 00017", "SIRET"),
        ("finess", "750712185", "750712184", "FINESS key"),
    ],
)
def test_the_organisation_numbers_in_the_configuration_are_checked(
    runner: CliRunner,
    org: Path,  # noqa: F811
    field: str,
    wrong: str,
    valid: str,
    rule: str,
) -> None:
    raw = yaml.safe_load(org.read_text())
    raw["organisation"][field] = wrong
    org.write_text(yaml.safe_dump(raw, allow_unicode=True))
    with pytest.raises(ConfigFileError, match=rf"organisation\.{field}.*{rule}"):
        load(org)
    checked = runner.invoke(app, ["config", "check", "--config", str(org)])
    assert checked.exit_code != 0 and rule in checked.output and wrong not in checked.output
    raw["organisation"][field] = valid
    org.write_text(yaml.safe_dump(raw, allow_unicode=True))
    assert getattr(load(org).organisation, field) == valid.replace(" ", "")
