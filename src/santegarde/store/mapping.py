"""Which data category each element of a FHIR resource belongs to (COM-MIN-1, COM-FREE-1).

A resource is split, element by element, into parts: one per category kind of the référentiels'
shared vocabulary (identity, NIR, INS, family, appointment, health…). Each part is then stored
under the organisation's référentiel category of that kind that the declared purpose uses, and
encrypted with that category's key. Directory resources (professionals, organisations) hold no
patient data: they form a single "directory" part.

Free-text elements are flagged and length-limited: they are where the unexpected ends up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from santegarde.errors import SantegardeError
from santegarde.identifiers.systems import INS_DEMO_SYSTEM, INS_NIA_SYSTEM, INS_NIR_SYSTEM, INS_TEST_SYSTEM
from santegarde.referentials.model import CategoryKind

DIRECTORY = "directory"
FREE_TEXT_LIMIT = 2000
FREE_TEXT_TAG = {"system": "https://santegarde.fr/CodeSystem/tags", "code": "free-text"}
FROZEN_TAG = {"system": "https://santegarde.fr/CodeSystem/tags", "code": "frozen"}
# A form's answers on a special category (e.g. genetic data a compassionate-access protocol needs) say so in a
# meta tag of this system: the resource is then stored whole under the category of that kind.
KIND_TAG_SYSTEM = "https://santegarde.fr/CodeSystem/category-kind"
INS_SYSTEMS = {INS_NIR_SYSTEM, INS_NIA_SYSTEM, INS_TEST_SYSTEM, INS_DEMO_SYSTEM}
STRUCTURE = ("resourceType", "id", "meta")


class MappingError(SantegardeError, ValueError):
    """The resource cannot be stored as given (unsupported type, free text too long…); ``element``, when known,
    is the refused element's path without indexes nor resource type (``birthDate``, ``name.family``), for a form
    to show the refusal next to its field."""

    def __init__(self, message: str, element: str = "") -> None:
        super().__init__(message)
        self.element = element


@dataclass(frozen=True)
class ResourceMap:
    main: CategoryKind | None  # None: a directory resource (no patient data)
    elements: dict[str, CategoryKind] = field(default_factory=dict)
    patient_refs: tuple[str, ...] = ()  # elements whose reference names the patient
    variants: tuple[CategoryKind, ...] = ()  # other kinds a resource of this type may hold whole (see main_kind)


HEALTH = CategoryKind.HEALTH
RESOURCES: dict[str, ResourceMap] = {
    "Patient": ResourceMap(CategoryKind.IDENTITY, {"maritalStatus": CategoryKind.FAMILY}),
    "Practitioner": ResourceMap(None),
    "PractitionerRole": ResourceMap(None),
    "Organization": ResourceMap(None),
    "Appointment": ResourceMap(
        CategoryKind.APPOINTMENT,
        {k: HEALTH for k in ("reasonCode", "reasonReference", "comment", "description", "patientInstruction")},
        ("participant",),
    ),
    "Encounter": ResourceMap(HEALTH, patient_refs=("subject",)),
    "Observation": ResourceMap(HEALTH, patient_refs=("subject",), variants=(CategoryKind.LIFESTYLE,)),
    "Condition": ResourceMap(HEALTH, patient_refs=("subject",)),
    "MedicationRequest": ResourceMap(HEALTH, patient_refs=("subject",)),
    "MedicationDispense": ResourceMap(HEALTH, patient_refs=("subject",)),
    "Immunization": ResourceMap(HEALTH, patient_refs=("patient",)),
    "DocumentReference": ResourceMap(HEALTH, patient_refs=("subject",)),
    "Consent": ResourceMap(CategoryKind.ADMINISTRATIVE, patient_refs=("patient",)),
    "Communication": ResourceMap(HEALTH, patient_refs=("subject",)),
    "QuestionnaireResponse": ResourceMap(
        HEALTH,
        patient_refs=("subject",),
        variants=(
            CategoryKind.FAMILY,
            CategoryKind.GENETIC,
            CategoryKind.ETHNIC_ORIGIN,
            CategoryKind.SEX_LIFE,
            CategoryKind.LIFESTYLE,
        ),
    ),
}

# Where a référentiel has no category of a kind at all, the kind it is part of (e.g. an appointment is part
# of the identity and contact data when the text lists no appointment data of its own; the warehouse text
# lists the NIR with the INS).
FALLBACK = {
    CategoryKind.NIR: CategoryKind.INS,
    CategoryKind.CONTACT: CategoryKind.IDENTITY,
    CategoryKind.ADMINISTRATIVE: CategoryKind.IDENTITY,
    CategoryKind.APPOINTMENT: CategoryKind.IDENTITY,
}


def resource_map(resource_type: str) -> ResourceMap:
    found = RESOURCES.get(resource_type)
    if found is None:
        raise MappingError(
            f"santegarde does not store '{resource_type}' resources; supported: {', '.join(sorted(RESOURCES))}."
        )
    return found


def _identifier_kind(identifier: dict[str, Any]) -> CategoryKind:
    codes = {c.get("code") for c in identifier.get("type", {}).get("coding", [])}
    if "NH" in codes:
        return CategoryKind.NIR
    if identifier.get("system") in INS_SYSTEMS:
        return CategoryKind.INS
    return CategoryKind.IDENTITY


# An Observation of the social history (tobacco, alcohol, physical activity…) is lifestyle data, which some texts
# collect only on consent (pra-2020-081 §5).
SOCIAL_HISTORY = ("http://terminology.hl7.org/CodeSystem/observation-category", "social-history")


def main_kind(body: dict[str, Any], rmap: ResourceMap) -> CategoryKind | None:
    """The kind a resource's elements belong to by default: its type's, or a variant its own coding names."""
    tags = (body.get("meta") or {}).get("tag") or []
    tagged = {t.get("code") for t in tags if isinstance(t, dict) and t.get("system") == KIND_TAG_SYSTEM}
    if tagged:
        kinds = [k for k in rmap.variants if k.value in tagged]
        if len(tagged) != 1 or not kinds:
            allowed = ", ".join(k.value for k in rmap.variants) or "none"
            raise MappingError(
                f"A {body.get('resourceType')} names one category kind in its meta tag ({KIND_TAG_SYSTEM}); "
                f"allowed: {allowed}."
            )
        return kinds[0]
    if CategoryKind.LIFESTYLE in rmap.variants:
        for concept in body.get("category") or []:
            codings = concept.get("coding", []) if isinstance(concept, dict) else []
            if any(isinstance(c, dict) and (c.get("system"), c.get("code")) == SOCIAL_HISTORY for c in codings):
                return CategoryKind.LIFESTYLE
    return rmap.main


def split(body: dict[str, Any]) -> dict[CategoryKind | None, dict[str, Any]]:
    """The resource's elements grouped by category kind (None for a directory resource's single part)."""
    rmap = resource_map(str(body.get("resourceType")))
    main = main_kind(body, rmap)
    parts: dict[CategoryKind | None, dict[str, Any]] = {}
    for key, value in body.items():
        if key in STRUCTURE or value is None or value == [] or value == {}:
            continue
        if rmap.main is None:
            parts.setdefault(None, {})[key] = value
        elif key == "identifier" and isinstance(value, list):
            for identifier in value:
                parts.setdefault(_identifier_kind(identifier), {}).setdefault("identifier", []).append(identifier)
        else:
            parts.setdefault(rmap.elements.get(key, main), {})[key] = value
    return parts


def merge(resource_type: str, rid: str, meta: dict[str, Any], parts: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"resourceType": resource_type, "id": rid, "meta": meta}
    for part in parts:
        for key, value in part.items():
            if key == "identifier":
                body.setdefault("identifier", []).extend(value)
            else:
                body[key] = value
    return body


def patient_of(body: dict[str, Any]) -> str | None:
    """The id of the patient a resource is about, from its references (never from its content)."""
    if body.get("resourceType") == "Patient":
        return str(body["id"]) if body.get("id") else None
    rmap = resource_map(str(body.get("resourceType")))
    for key in rmap.patient_refs:
        value = body.get(key)
        candidates = value if isinstance(value, list) else [value]
        for item in candidates:
            if not isinstance(item, dict):
                continue
            ref = item.get("reference") or (item.get("actor") or {}).get("reference")
            if isinstance(ref, str) and ref.startswith("Patient/"):
                return ref.removeprefix("Patient/")
    return None


_PATIENT_REFERENCE = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[0-9]+)?$")


def patients_named(value: Any) -> set[str]:
    """Every patient id a resource refers to, wherever the reference stands (relative or absolute)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "reference" and isinstance(inner, str):
                match = _PATIENT_REFERENCE.search(inner.strip())
                if match:
                    found.add(match.group(1))
            else:
                found |= patients_named(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= patients_named(inner)
    return found


def _free_texts(value: Any, path: str) -> list[tuple[str, str]]:
    """Free-text strings of an element: annotation texts, comments, descriptions, narrative, message contents."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            here = f"{path}.{key}"
            if (
                key in ("comment", "description", "patientInstruction", "contentString", "div")
                and isinstance(inner, str)
            ) or (key == "text" and isinstance(inner, str) and path.split(".")[-1].startswith("note")):
                found.append((here, inner))
            else:
                found.extend(_free_texts(inner, here))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found.extend(_free_texts(inner, f"{path}[{i}]"))
    return found


def free_text(body: dict[str, Any]) -> list[tuple[str, str]]:
    """Every free-text field of the resource, with its path; refuses any over the length limit."""
    texts = _free_texts({k: v for k, v in body.items() if k not in STRUCTURE}, body.get("resourceType", "resource"))
    for path, text in texts:
        if len(text) > FREE_TEXT_LIMIT:
            raise MappingError(
                f"The free-text field {path} holds {len(text)} characters; the limit is {FREE_TEXT_LIMIT}. "
                "Keep free text short and factual, or attach a document (DocumentReference)."
            )
    return texts
