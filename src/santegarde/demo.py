"""The demo organisation: set up under a référentiel and filled with synthetic data through the one path.

The demo is a job like any other: it creates a demo professional's account (individual login,
password, charter, TOTP second factor), opens a session, and writes every synthetic resource
through ``RecordService`` — identity, policy, encrypted store, audit. What the référentiel refuses
is counted with the reason, never stored. All data is fictitious (COM-DEV-1).
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyotp

from santegarde.config import CONFIG_NAME, load
from santegarde.config.model import LegalBasisDeviation, OrganisationConfig
from santegarde.crypto import create_keyring, create_keystore
from santegarde.errors import SantegardeError
from santegarde.governance import doctext
from santegarde.identity import accounts, grants, sessions, totp, training
from santegarde.identity.passwords import strength
from santegarde.organisation import InitAnswers, build_config, init_organisation
from santegarde.policy import trigger_facts
from santegarde.referentials import loader
from santegarde.referentials.model import Art6Basis, Art9Condition, Referential
from santegarde.runtime import identity_context, open_organisation
from santegarde.store.service import AccessDenied, RecordService, Request
from santegarde.synthetic import generate_dataset

if TYPE_CHECKING:
    from santegarde.compassionate.demo import CompassionateDemo

DEMO_NAME_PREFIX = "Démo"
WRITER = {
    "practice": "practitioner",
    "pharmacy": "pharmacist",
    "compassionate": "pharmacist_in_charge",
    "warehouse": "feeding",
}
DEMO_JUSTIFICATION = "Demonstration organisation with fictitious data: the value is illustrative only."
DEMO_LOGIN = "demo.writer"
DEMO_TRAINING = "Sensibilisation au secret professionnel et aux données de santé (démonstration)"


@dataclass
class DemoReport:
    referential: Referential
    config_path: Path
    login: str = DEMO_LOGIN
    password: str = ""
    totp_secret: str = ""
    stored: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # in English (``demo --json``), with their count
    refused_fr: dict[str, str] = field(default_factory=dict)  # the French sentence of each
    example_patient: tuple[str, str] | None = None  # (id, family name) of a stored patient, to try the API with
    compassionate: CompassionateDemo | None = None  # the programme's workflow and report (profile compassionate)

    def refuse(self, said: dict[str, str]) -> None:
        """Count a record the path refused, by its sentence (``said``: French and English)."""
        self.refused[said["en"]] += 1
        self.refused_fr[said["en"]] = said["fr"]


def demo_answers(ref: Referential) -> tuple[dict[str, str | bool], dict[str, str]]:
    """Fill every controller choice for a demo: the first admissible legal basis, illustrative values."""
    values: dict[str, str | bool] = {}
    justifications: dict[str, str] = {}
    for choice in ref.choices:
        if choice.kind == "legal_basis":
            values[choice.id] = next(
                b.art6.value for p in ref.purposes if p.legal_basis_choice == choice.id for b in p.legal_bases
            )
        elif choice.kind == "duration":
            values[choice.id] = str(choice.maximum or choice.minimum or "P5Y")
        elif choice.kind == "boolean":
            values[choice.id] = True
        elif choice.kind == "choice":
            values[choice.id] = choice.options[0]
        else:
            values[choice.id] = DEMO_JUSTIFICATION
        justifications[choice.id] = DEMO_JUSTIFICATION
    return values, justifications


def demo_organisation(ref: Referential) -> InitAnswers:
    """The demo controller's contact, a fictitious DPO, facts below every threshold, the warehouse's policy."""
    facts: dict[str, str | bool] = {}
    for name, cond in trigger_facts(ref).items():
        if cond.op == "is_true":
            facts[name] = False
        else:
            threshold = float(cond.value or 0)
            facts[name] = str(int(threshold // 2) if cond.op in (">", ">=") else int(threshold * 2))
    return InitAnswers(
        controller_email="contact@demo.invalid",
        controller_address="1 rue de la Démonstration, 00000 Nulle-part",
        dpo_name="Délégué Démo",
        dpo_email="dpo@demo.invalid",
        facts=facts,
        data_protection_policy="https://demo.invalid/protection-des-donnees" if ref.id == "eds-2021-118" else None,
    )


def demo_legal_bases(ref: Referential) -> list[LegalBasisDeviation]:
    """A legal basis for each purpose the text leaves without one, so that the demo's notices can be produced."""
    return [
        LegalBasisDeviation(
            purpose=p.id,
            art6=Art6Basis.LEGITIMATE_INTEREST,
            art9=Art9Condition.RESEARCH if "stud" in p.id or "research" in p.id else Art9Condition.HEALTH_CARE,
            justification=DEMO_JUSTIFICATION,
        )
        for p in ref.purposes
        if not (p.legal_bases or p.out_of_scope or p.forbidden or p.requires_formality)
    ]


def _prepare_directory(directory: Path, *, force: bool) -> None:
    config_path = directory / CONFIG_NAME
    if not config_path.exists():
        if directory.exists() and any(directory.iterdir()):
            raise SantegardeError(f"{directory} exists and is not a demo organisation; choose another --dir")
        return
    existing: OrganisationConfig = load(config_path)
    if not existing.organisation.name.startswith(DEMO_NAME_PREFIX):
        raise SantegardeError(
            f"{directory} holds the organisation '{existing.organisation.name}', not a demo; "
            "the demo never overwrites a real organisation: choose another --dir"
        )
    if not force:
        raise SantegardeError(
            f"{directory} already holds a demo organisation (its data, keys and the account printed when it was "
            "made): run again with --force to replace it all, or choose another --dir."
        )
    shutil.rmtree(directory)


def _demo_session(
    service: RecordService,
    profile: str,
    login_name: str = DEMO_LOGIN,
    display: str = "Démo Professionnel",
    person_ref: str = "DEMO-0001",
    establishment: str | None = None,
) -> tuple[str, str, str]:
    """A demo professional: account, grant, password, charter and TOTP, as a person would do it."""
    ctx = service.identity
    _, temporary = accounts.add(ctx, login_name, display, person_ref=person_ref, by="demo")
    assert temporary is not None
    # The sensitisation training the person attended (SEC-SEN-1), checked at login where the profile asks for it.
    training.record(ctx, login_name, ctx.now().date(), DEMO_TRAINING, by="demo")
    ends = ctx.now().replace(year=ctx.now().year + 1)
    grants.give(
        ctx,
        login_name,
        profile,
        validated_by="Démo",
        validator_role="governance_body",
        reason="demonstration with fictitious data",
        ends_at=ends,
        project="DEMO",
        establishment=establishment,
        by="demo",
    )
    login = sessions.login(ctx, login_name, temporary, source="demo", workstation_class="office")
    password = secrets.token_hex(16)  # 32 characters, about 165 bits by the CNIL's estimate
    while not strength(password, attempts_limited=True, context=[login_name]).ok:
        password = secrets.token_hex(16)  # a random draw can repeat a character four times: draw again
    sessions.change_password(ctx, login.token, temporary, password)
    sessions.accept_charter(ctx, login.token, ctx.settings.charter_version)
    secret = totp.new_secret()
    sessions.enrol_second_factor(ctx, login.token, secret, pyotp.TOTP(secret).at(ctx.now()))
    return login.token, password, secret


def run_demo(
    directory: Path,
    profile: str,
    patients: int,
    seed: int,
    passphrase: str,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
    *,
    force: bool = False,
) -> DemoReport:
    """Set up the demo organisation; an existing demo in ``directory`` is replaced only with ``force``."""
    if patients < 1:
        raise SantegardeError("--patients must be at least 1")
    ref = loader.for_profile(profile)
    _prepare_directory(directory, force=force)
    values, justifications = demo_answers(ref)
    config, ref = build_config(
        directory,
        profile,
        organisation_name=f"{DEMO_NAME_PREFIX} {profile} ({ref.id})",
        choices=values,
        justifications=justifications,
        answers=demo_organisation(ref),
    )
    deviations = config.deviations.model_copy(update={"legal_basis": demo_legal_bases(ref)})
    config = config.model_copy(update={"deviations": deviations})
    result = init_organisation(directory, config, ref)
    keydir = Path(config.keyring_path)
    create_keyring(create_keystore(keydir, passphrase), keydir)
    report = DemoReport(ref, result.config_path)
    resources = generate_dataset(seed=seed, patients=patients, profile=profile).resources()
    org = open_organisation(result.config_path, passphrase)
    try:
        service = RecordService(org.engine, org.referential, org.keyring, org.audit, identity_context(org))
        token, report.password, report.totp_secret = _demo_session(service, WRITER[profile])
        if profile == "compassionate":  # a laboratory's platform: the programme's workflow, not loose records
            report.compassionate = _compassionate(service, token, directory, patients, seed, progress)
            return report
        iterable: Iterable[Any] = progress(resources, len(resources)) if progress else resources
        for resource in iterable:
            body = json.loads(resource.model_dump_json(by_alias=True, exclude_none=True))
            purposes = service.purposes_for(WRITER[profile], body)
            if not purposes:
                report.refuse(
                    {
                        lang: doctext.words(lang)["cli"]["demo"]["no_purpose"].format(
                            resource=body["resourceType"], rid=ref.id, writer=WRITER[profile]
                        )
                        for lang in ("fr", "en")
                    }
                )
                continue
            try:
                created = service.create(Request(token, purposes[0], source="demo"), body)
            except AccessDenied as exc:
                report.refuse({lang: f"{body['resourceType']}: {exc.in_language(lang)}" for lang in ("fr", "en")})
                continue
            report.stored[body["resourceType"]] += 1
            if report.example_patient is None and body["resourceType"] == "Patient":
                family = next((n.get("family") for n in body.get("name", []) if n.get("family")), "")
                report.example_patient = (str(created["id"]), str(family))
    finally:
        org.close()
    return report


def _compassionate(
    service: RecordService,
    token: str,
    directory: Path,
    patients: int,
    seed: int,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None,
) -> CompassionateDemo:
    """The example programme, a prescriber per establishment, the patients through the workflow, the report."""
    from santegarde.compassionate import demo as compassionate_demo  # the report's engine only for this profile
    from santegarde.compassionate.registry import Registry
    from santegarde.compassionate.service import CompassionateService

    registry = Registry.beside(directory / CONFIG_NAME, service.ref)
    compassionate_demo.register_example(registry, service.identity.now().date())
    prescribers = {
        where: Request(
            _demo_session(
                service,
                "care_establishment_staff",
                f"demo.prescripteur{n}",
                f"Démo Prescripteur {n}",
                f"1000000000{n}",
                where,
            )[0],
            compassionate_demo.PURPOSE,
            source="demo",
        )
        for n, where in enumerate(compassionate_demo.ESTABLISHMENTS, start=1)
    }
    laboratory = Request(token, compassionate_demo.PURPOSE, source="demo")
    return compassionate_demo.populate(
        CompassionateService(service, registry), prescribers, laboratory, patients, seed, directory, progress
    )
