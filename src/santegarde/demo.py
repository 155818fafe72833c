"""The demo organisation: set up under a référentiel and filled with synthetic data through policy.

Every synthetic resource is written only with an allowed policy decision (the profile that
records it, the category its content belongs to, a declared purpose); what the référentiel
refuses is counted with the reason, never stored. All data is fictitious (COM-DEV-1).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from santegarde.config import CONFIG_NAME, load
from santegarde.config.model import OrganisationConfig
from santegarde.errors import SantegardeError
from santegarde.organisation import build_config, init_organisation
from santegarde.policy import AccessRequest, Decision, decide
from santegarde.referentials import loader
from santegarde.referentials.model import CategoryKind, Operation, Referential
from santegarde.store import records
from santegarde.store.db import make_engine
from santegarde.synthetic import generate_dataset

DEMO_NAME_PREFIX = "Démo"
WRITER = {
    "practice": "practitioner",
    "pharmacy": "pharmacist",
    "compassionate": "pharmacist_in_charge",
    "warehouse": "feeding",
}
# What a FHIR resource holds, as a category kind of the référentiels. Organizations are not personal data.
RESOURCE_KIND = {
    "Patient": CategoryKind.IDENTITY,
    "Practitioner": CategoryKind.PROFESSIONAL,
    "PractitionerRole": CategoryKind.PROFESSIONAL,
    "Appointment": CategoryKind.APPOINTMENT,
    "Encounter": CategoryKind.HEALTH,
    "Observation": CategoryKind.HEALTH,
    "Condition": CategoryKind.HEALTH,
    "MedicationRequest": CategoryKind.HEALTH,
    "MedicationDispense": CategoryKind.HEALTH,
    "Immunization": CategoryKind.HEALTH,
}
DEMO_JUSTIFICATION = "Demonstration organisation with fictitious data: the value is illustrative only."


@dataclass
class DemoReport:
    referential: Referential
    config_path: Path
    stored: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)


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
            values[choice.id] = "P5Y"
        elif choice.kind == "boolean":
            values[choice.id] = True
        elif choice.kind == "choice":
            values[choice.id] = choice.options[0]
        else:
            values[choice.id] = DEMO_JUSTIFICATION
        justifications[choice.id] = DEMO_JUSTIFICATION
    return values, justifications


def _route(ref: Referential, profile: str, kind: CategoryKind) -> Decision | None:
    """The first (category, purpose) under which the profile may write data of this kind."""
    first_refusal: Decision | None = None
    for category in (c for c in ref.categories if c.kind == kind):
        for purpose in (p for p in ref.purposes if category.id in p.categories):
            decision = decide(
                ref, AccessRequest(profile, Operation.WRITE, category.id, purpose.id, consent_recorded=False)
            )
            if decision.allowed:
                return decision
            first_refusal = first_refusal or decision
    return first_refusal


def _prepare_directory(directory: Path) -> None:
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
    shutil.rmtree(directory)


def run_demo(
    directory: Path,
    profile: str,
    patients: int,
    seed: int,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
) -> DemoReport:
    if patients < 1:
        raise SantegardeError("--patients must be at least 1")
    ref = loader.for_profile(profile)
    _prepare_directory(directory)
    values, justifications = demo_answers(ref)
    config, ref = build_config(
        directory,
        profile,
        organisation_name=f"{DEMO_NAME_PREFIX} {profile} ({ref.id})",
        choices=values,
        justifications=justifications,
    )
    result = init_organisation(directory, config, ref)
    report = DemoReport(ref, result.config_path)
    resources = generate_dataset(seed=seed, patients=patients, profile=profile).resources()
    writer = WRITER[profile]
    routes = {kind: _route(ref, writer, kind) for kind in set(RESOURCE_KIND.values())}
    engine = make_engine(config.database_url)
    try:
        with engine.begin() as conn:
            iterable: Iterable[Any] = progress(resources, len(resources)) if progress else resources
            for resource in iterable:
                body = json.loads(resource.model_dump_json(by_alias=True, exclude_none=True))
                kind = RESOURCE_KIND.get(body["resourceType"])
                if kind is None:
                    report.skipped[body["resourceType"]] += 1
                    continue
                decision = routes[kind]
                if decision is None or not decision.allowed:
                    report.refused[f"{body['resourceType']}: {decision or 'no category of this kind'}"] += 1
                    continue
                records.put(conn, decision, body)
                report.stored[body["resourceType"]] += 1
    finally:
        engine.dispose()
    return report
