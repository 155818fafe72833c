"""The warehouse's desk test place: a demo warehouse organisation (fictitious), its warehouse with 60 fictitious
persons, the console over it (as ``santegarde serve`` builds it, with a test clock for the identity), and its staff:
``dpo.entrepot`` (data steward: the controller's profile), ``gest.export`` (export reviewer, trained),
``gest.novice`` (export reviewer, not trained) and ``chercheur`` (internal staff, who requests exports).

Every person, value and name here is fictitious.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyotp
from fastapi import FastAPI
from typer.testing import CliRunner

from identity_fixtures import NEW_PASSWORD, Clock
from santegarde.cli.main import app as cli
from santegarde.config.check import chosen_bases
from santegarde.identity import accounts, grants, sessions, totp
from santegarde.identity.context import IdentityContext
from santegarde.rights.execute import RightsService
from santegarde.runtime import Organisation, identity_context, open_organisation
from santegarde.store.service import RecordService
from santegarde.warehouse import Warehouse
from santegarde.warehouse.gate import ExportRequest, Gate, GrantReviewers
from santegarde.warehouse.place import exports_directory, load_thresholds, thresholds_path, warehouse_directory
from santegarde.web import create_console

PASS = "desk passphrase of the fictitious warehouse organisation"
# k of 20 persons: the classes of 10 (and the one of 3) of the row-level request below fail it (quarantine);
# quick risk attacks.
THRESHOLDS = "k: 20\nn_attacks: 5\nmax_singling_out: 0.9\nmax_linkability: 0.9\nmax_inference: 0.9\n"
ROWS = "SELECT person_id, gender_concept_id, year_of_birth FROM person"
COUNTS = "SELECT person_id, gender_concept_id, year_of_birth FROM person"
RISK_STUDY = (
    "Étude de risque (fictive) : l'export ne contient que le sexe et l'année de naissance de soixante personnes "
    "fictives, réparties en six classes de dix personnes ; le destinataire est un observatoire lié par contrat, sans "
    "autre source à croiser. Le risque résiduel est jugé acceptable pour cette finalité d'indicateurs d'activité."
)


@dataclass
class Place:
    org: Organisation
    identity: IdentityContext
    console: FastAPI
    clock: Clock
    secrets: dict[str, str] = field(default_factory=dict)

    def person(self, login: str, profile: str) -> None:
        """An account with one grant, its password changed, the charter accepted, a TOTP secret known here."""
        ctx = self.identity
        _, temporary = accounts.add(ctx, login, login.replace(".", " ").title(), person_ref=f"ref-{login}", by="admin")
        assert temporary
        grants.give(ctx, login, profile, validated_by="Comité (fictif)", validator_role="governance_body",
                    reason="test staff", by="admin")  # fmt: skip
        opened = sessions.login(ctx, login, temporary, source="10.0.0.1", workstation_class="office")
        sessions.change_password(ctx, opened.token, temporary, NEW_PASSWORD)
        sessions.accept_charter(ctx, opened.token, ctx.settings.charter_version)
        secret = totp.new_secret()
        sessions.enrol_second_factor(ctx, opened.token, secret, pyotp.TOTP(secret).at(ctx.now()))
        sessions.logout(ctx, opened.token)
        self.secrets[login] = secret

    def code(self, login: str) -> str:
        self.clock.advance(seconds=30)
        return pyotp.TOTP(self.secrets[login]).at(self.identity.now())

    def gate(self) -> Gate:
        return Gate(exports_directory(self.org.config_path), self.org.audit, GrantReviewers(self.identity),
                    thresholds=load_thresholds(self.org.config_path))  # fmt: skip

    def request(self, *, qis: tuple[str, ...] = ("gender_concept_id", "year_of_birth"), kind: str = "row") -> int:
        """An export request by ``chercheur`` (internal staff), as ``santegarde warehouse export request`` makes it."""
        if kind == "indicator":
            from santegarde.warehouse.gate import IndicatorSpec

            asked = ExportRequest(COUNTS, "Observatoire (fictif)", "activity_indicators", "PILOTE-1", "chercheur",
                                  format="csv", kind="indicator",
                                  indicator=IndicatorSpec(qis, (), (), "person_id"))  # fmt: skip
        else:
            asked = ExportRequest(ROWS, "Observatoire (fictif)", "activity_indicators", "PILOTE-1", "chercheur",
                                  qis, (), "parquet", person="person_id")  # fmt: skip
        return self.gate().submit_as(asked, "internal_staff", self.org.referential)

    def close(self) -> None:
        self.org.close()


def make_place(tmp_path: Path) -> Place:
    directory = tmp_path / "entrepot"
    made = CliRunner().invoke(
        cli, ["demo", "--profile", "warehouse", "--dir", str(directory), "--patients", "2"],
        env={"SANTEGARDE_PASSPHRASE": PASS},
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "Compte de démonstration" in made.output, made.output
    config = directory / "santegarde.yaml"
    thresholds_path(config).parent.mkdir(parents=True, exist_ok=True)
    thresholds_path(config).write_text(THRESHOLDS, encoding="utf-8")
    org = open_organisation(config, PASS)
    with Warehouse.open(warehouse_directory(config), org.keyring) as warehouse:
        warehouse.omop.execute(
            "INSERT INTO omop.person (person_id, gender_concept_id, year_of_birth, race_concept_id, "
            "ethnicity_concept_id) SELECT i, 8507 + 25 * (i % 2), 1950 + 10 * (i % 3), 0, 0 FROM range(60) t(i)"
        )
        warehouse.omop.execute(  # three persons born in 1999: a small cell of an indicator by year
            "INSERT INTO omop.person (person_id, gender_concept_id, year_of_birth, race_concept_id, "
            "ethnicity_concept_id) SELECT 100 + i, 8507, 1999, 0, 0 FROM range(3) t(i)"
        )
    clock = Clock()
    identity = identity_context(org)
    identity.clock = clock
    records = RecordService(
        org.engine,
        org.referential,
        org.keyring,
        org.audit,
        identity,
        formalities=org.config.formalities,
        legal_bases=chosen_bases(org.config, org.referential),
    )
    rights = RightsService(records, config=org.config, organisation=org.config.organisation.name, audit=org.audit)
    console = create_console(identity, records=records, rights=rights, organisation=org)
    place = Place(org, identity, console, clock)
    for login, profile in (
        ("dpo.entrepot", "data_steward"),
        ("gest.export", "export_reviewer"),
        ("gest.novice", "export_reviewer"),
        ("chercheur", "internal_staff"),
    ):
        place.person(login, profile)
    place.gate().record_training("gest.export", clock().date(), "Anonymisation et secret médical (fictif)", by="admin")
    return place
