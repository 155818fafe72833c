"""Organisations: practices (health centres), pharmacies, pharmaceutical laboratories, hospitals.

Each carries a FINESS number (Luhn), its idNatSt ("1" + FINESS), a SIREN and a SIRET (Luhn).
"""

from __future__ import annotations

from typing import Literal

from fhir.resources.R4B.organization import Organization

from santegarde.identifiers import (
    FINESS_SYSTEM,
    IDENTIFIER_TYPE_SYSTEM,
    IDNATST_SYSTEM,
    SIRENE_SYSTEM,
    make_finess,
    make_siren,
    make_siret,
)
from santegarde.synthetic import codes
from santegarde.synthetic.context import JSON, Context, coding, identifier
from santegarde.synthetic.places import COMMUNES, Commune

OrganisationKind = Literal["practice", "pharmacy", "laboratory", "hospital"]

_PROVIDER = ("prov", "Healthcare Provider")
_BUSINESS = ("bus", "Non-Healthcare Business or Corporation")
# kind → (HL7 organization-type, FINESS category code and label or None)
_TYPES: dict[str, tuple[tuple[str, str], tuple[str, str] | None]] = {
    "practice": (_PROVIDER, ("124", "Centre de Santé")),
    "pharmacy": (_PROVIDER, ("620", "Pharmacie d'Officine")),
    "laboratory": (_BUSINESS, None),
    "hospital": (_PROVIDER, ("355", "Centre Hospitalier (C.H.)")),
}


def _name(ctx: Context, kind: str, commune: Commune) -> str:
    if kind == "practice":
        return f"Centre de santé {ctx.fake.last_name()}"
    if kind == "pharmacy":
        return f"Pharmacie {ctx.fake.last_name()}"
    if kind == "laboratory":
        return f"Laboratoires {ctx.fake.last_name()}"
    return f"Centre hospitalier {ctx.fake.last_name()} de {commune.city}"


def organisation_identifiers(ctx: Context, department: str) -> list[JSON]:
    """FINESS, idNatSt, SIREN and SIRET identifiers for an organisation in ``department``."""
    finess = make_finess(department[:2] + ctx.digits(6))
    siren = make_siren(str(ctx.rng.randint(1, 9)) + ctx.digits(7))
    siret = make_siret(siren, f"{ctx.rng.randint(1, 99):04d}")
    return [
        identifier(FINESS_SYSTEM, finess, IDENTIFIER_TYPE_SYSTEM, "FINEG"),
        identifier(IDNATST_SYSTEM, "1" + finess, IDENTIFIER_TYPE_SYSTEM, "IDNST"),
        identifier(SIRENE_SYSTEM, siren, IDENTIFIER_TYPE_SYSTEM, "SIREN"),
        identifier(SIRENE_SYSTEM, siret, IDENTIFIER_TYPE_SYSTEM, "SIRET"),
    ]


def make_organisation(ctx: Context, kind: OrganisationKind, commune: Commune | None = None) -> Organization:
    """An organisation of ``kind`` in ``commune`` (drawn at random when not given)."""
    place = commune or ctx.rng.choice(COMMUNES)
    org_type, category = _TYPES[kind]
    types: list[JSON] = [coding(codes.ORGANIZATION_TYPE, *org_type)]
    if category:
        types.append(coding(codes.ESTABLISHMENT_CATEGORY, *category))
    return Organization.model_validate(
        {
            "resourceType": "Organization",
            "id": ctx.new_id(),
            "identifier": organisation_identifiers(ctx, place.insee[:2]),
            "active": True,
            "type": types,
            "name": _name(ctx, kind, place),
            "telecom": [{"system": "phone", "value": ctx.phone(), "use": "work"}],
            "address": [
                {
                    "use": "work",
                    "line": [ctx.fake.street_address()],
                    "postalCode": place.postal_code,
                    "city": place.city,
                    "country": "FR",
                }
            ],
        }
    )
