"""The web console's test place: a record service with a fictitious practice, people whose TOTP secret is known.

Every name and number here is fictitious (the INS uses the test NIR of the store tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp

from identity_fixtures import NEW_PASSWORD
from notice_fixtures import complete_config
from santegarde.compassionate.first_connection import PlatformNotice
from santegarde.compassionate.registry import Registry, example_text
from santegarde.compassionate.service import CompassionateService
from santegarde.compassionate.tables import aac_notice_acknowledgement
from santegarde.demo import demo_answers
from santegarde.identity import accounts, grants, sessions, totp
from santegarde.organisation import build_config
from santegarde.referentials import loader
from santegarde.rights import RightsService
from santegarde.runtime import Organisation
from santegarde.store.db import migrate
from santegarde.store.service import Request
from store_fixtures import Workplace, make_workplace
from test_store import INS

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


@dataclass
class Practice:
    place: Workplace
    secrets: dict[str, str] = field(default_factory=dict)
    compassionate: CompassionateService | None = None
    rights: RightsService | None = None
    notice: PlatformNotice | None = None  # the platform notice shown at first connection (compassionate access)

    def person(self, login: str, profile: str, *, ref: str, days: int | None = None, informed: bool = True) -> None:
        """An account with a grant, its password changed, the charter accepted and a TOTP secret known here;
        its set-up session ended (the person signs in afresh through the console). Under compassionate access,
        ``informed``: the person acknowledged the platform notice already."""
        ctx = self.place.identity
        _, temporary = accounts.add(ctx, login, login.replace(".", " ").title(), person_ref=ref, by="admin")
        assert temporary
        grants.give(
            ctx,
            login,
            profile,
            validated_by="Responsable",
            validator_role="governance_body",
            reason="test staff",
            by="admin",
            ends_at=ctx.now() + timedelta(days=days) if days else None,
            establishment="h1" if profile in grants.ESTABLISHMENT_PROFILES else None,
        )
        opened = sessions.login(ctx, login, temporary, source="10.0.0.1", workstation_class="office")
        sessions.change_password(ctx, opened.token, temporary, NEW_PASSWORD)
        sessions.accept_charter(ctx, opened.token, ctx.settings.charter_version)
        secret = totp.new_secret()
        sessions.enrol_second_factor(ctx, opened.token, secret, pyotp.TOTP(secret).at(ctx.now()))
        sessions.logout(ctx, opened.token)
        self.secrets[login] = secret
        if self.notice is not None and informed:
            self.informed(login)

    def informed(self, login: str) -> None:
        """The person acknowledged the current platform notice already (as at an earlier connection)."""
        assert self.notice is not None
        version = self.notice.shown("fr").version
        with self.place.service.engine.begin() as conn:
            conn.execute(
                aac_notice_acknowledgement.insert().values(
                    login=login, version=version, acknowledged_at=self.place.identity.now()
                )
            )

    def code(self, login: str) -> str:
        """The TOTP code of now, after moving the clock one step on (a code is never accepted twice)."""
        self.place.clock.advance(seconds=30)
        return pyotp.TOTP(self.secrets[login]).at(self.place.identity.now())

    def close(self) -> None:
        self.place.close()


def chart_resources(pid: str = "p-1") -> list[dict[str, Any]]:
    subject = {"reference": f"Patient/{pid}"}
    return [
        {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [INS],
            "name": [{"family": "Fictivé", "given": ["Alix"]}],
            "gender": "female",
            "birthDate": "1979-03-21",
        },
        {
            "resourceType": "Observation",
            "id": "o-1",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Poids"}]},
            "subject": subject,
            "effectiveDateTime": "2026-12-04T10:15:00+00:00",
            "valueQuantity": {"value": 61.5, "unit": "kg"},
        },
        {
            "resourceType": "Condition",
            "id": "c-1",
            "code": {"text": "Diabète de type 2 (fictif)"},
            "subject": subject,
            "onsetDateTime": "2021-06-01",
        },
        {
            "resourceType": "MedicationRequest",
            "id": "m-1",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "Metformine 500 mg (fictif)"},
            "subject": subject,
            "authoredOn": "2026-11-02",
        },
    ]


def make_pharmacy(tmp_path: Path) -> Practice:
    """ph.durand, pharmacist, and one fictitious patient of the pharmacy (p-1)."""
    practice = Practice(make_workplace(f"sqlite:///{tmp_path / 'pharmacie.db'}", tmp_path, "pha-2022-067"))
    practice.person("ph.durand", "pharmacist", ref="10009876543")
    ctx = practice.place.identity
    opened = sessions.login(ctx, "ph.durand", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    sessions.second_factor(ctx, opened.token, practice.code("ph.durand"))
    token = sessions.rotate(ctx, opened.token)
    practice.place.service.create(Request(token, "dispensing"), chart_resources()[0])
    sessions.logout(ctx, token)
    return practice


def make_practice(tmp_path: Path) -> Practice:
    """dr.martin (the patient's practitioner, who created the record), dr.autre (no care relationship), sec.durand."""
    place = make_workplace(f"sqlite:///{tmp_path / 'web.db'}", tmp_path)
    migrate(place.service.engine, package="santegarde.rights")
    practice = Practice(place, rights=RightsService(place.service, organisation="Cabinet fictif"))
    practice.person("dr.martin", "practitioner", ref="10001234567")
    practice.person("dr.autre", "practitioner", ref="10007654321")
    practice.person("sec.durand", "secretariat", ref="S-2")
    ctx = practice.place.identity
    opened = sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    sessions.second_factor(ctx, opened.token, practice.code("dr.martin"))
    token = sessions.rotate(ctx, opened.token)
    for body in chart_resources():
        practice.place.service.create(Request(token, "medical_record"), body)
    sessions.logout(ctx, token)
    return practice


def organisation_of(practice: Practice, tmp_path: Path) -> Organisation:
    """The practice as an opened organisation (configuration with the demo's answers, its records and audit
    databases, governance and rights tables), for the governance desks. Fictitious organisation."""
    place = practice.place
    for package in ("santegarde.governance", "santegarde.rights"):
        migrate(place.service.engine, package=package)
    ref = loader.get(place.identity.referential.id)
    choices, justifications = demo_answers(ref)
    config, _ = build_config(
        tmp_path / "org",
        "practice" if ref.id.startswith("pra-") else "pharmacy",
        organisation_name="Cabinet Fictif",
        choices=choices,
        justifications=justifications,
        database_url=place.service.engine.url.render_as_string(hide_password=False),
        audit_database_url=place.audit.engine.url.render_as_string(hide_password=False),
    )
    return Organisation(
        tmp_path / "org" / "santegarde.yaml", config, ref, place.identity.keyring, place.service.engine, place.audit
    )


def make_compassionate(tmp_path: Path) -> Practice:
    """A hospital under aac-2022-106 with the example programme: dr.prescrit and dr.ailleurs (establishment staff,
    prescribers) and ph.labo (the laboratory's pharmacist in charge). No case yet."""
    place = make_workplace(f"sqlite:///{tmp_path / 'aac.db'}", tmp_path, "aac-2022-106")
    migrate(place.service.engine, package="santegarde.compassionate")
    registry = Registry(tmp_path / "programmes", place.service.ref)
    registry.add(example_text(), "example")
    config, ref = complete_config(tmp_path / "notice", "compassionate")
    practice = Practice(
        place,
        compassionate=CompassionateService(place.service, registry),
        notice=PlatformNotice(config, ref, registry, lambda: []),
    )
    for login, profile, person_ref in (
        ("dr.prescrit", "care_establishment_staff", "10001112223"),
        ("dr.ailleurs", "care_establishment_staff", "10001112224"),
        ("ph.labo", "pharmacist_in_charge", "L-1"),
    ):
        practice.person(login, profile, ref=person_ref, days=365)
    return practice
