"""FHIR ``identifier.system`` URIs of French identifiers (ARCHITECTURE.md, "French identifiers"),
FR Core-style identifier types, and :func:`validate`, which checks a value by its system.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from santegarde.identifiers.errors import InvalidIdentifier, UnknownIdentifierSystem, compact
from santegarde.identifiers.nir import validate_nir
from santegarde.identifiers.professional import validate_idnatps, validate_rpps
from santegarde.identifiers.structure import validate_finess, validate_idnatst, validate_siren, validate_siret

INS_NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
INS_NIA_SYSTEM = "urn:oid:1.2.250.1.213.1.4.9"
INS_TEST_SYSTEM = "urn:oid:1.2.250.1.213.1.4.10"
INS_DEMO_SYSTEM = "urn:oid:1.2.250.1.213.1.4.11"
NIR_SYSTEM = INS_NIR_SYSTEM  # the NIR for billing (type NH) shares the INS-NIR system
IDNATPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
IDNATST_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
FINESS_SYSTEM = "https://finess.esante.gouv.fr"
SIRENE_SYSTEM = "https://sirene.fr"  # SIREN (9 digits) and SIRET (14 digits)

# FR Core-style identifier.type codings.
IDENTIFIER_TYPE_SYSTEM = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
V2_0203_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"

InsType = Literal["NIR", "NIA", "TEST", "DEMO"]
_INS_SYSTEMS: dict[str, str] = {
    "NIR": INS_NIR_SYSTEM,
    "NIA": INS_NIA_SYSTEM,
    "TEST": INS_TEST_SYSTEM,
    "DEMO": INS_DEMO_SYSTEM,
}


def ins_system(ins_type: InsType | str) -> str:
    """The FHIR system of an INS: ``"NIR"``, ``"NIA"``, ``"TEST"`` or ``"DEMO"`` (case-insensitive)."""
    key = ins_type.upper().removeprefix("INS-")
    try:
        return _INS_SYSTEMS[key]
    except KeyError:
        raise ValueError(f"Unknown INS type {ins_type!r}: expected one of NIR, NIA, TEST, DEMO.") from None


def _ins(kind: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        return validate_nir(value, kind)

    return check


def _sirene(value: str) -> str:
    number = compact(value)
    if len(number) == 9:
        return validate_siren(number)
    if len(number) == 14:
        return validate_siret(number)
    raise InvalidIdentifier(
        "SIREN/SIRET",
        f"A {SIRENE_SYSTEM} identifier is a SIREN (9 digits) or a SIRET (14 digits); "
        f"this value has {len(number)} characters.",
    )


_VALIDATORS: dict[str, Callable[[str], str]] = {
    INS_NIR_SYSTEM: _ins("INS-NIR"),
    INS_NIA_SYSTEM: _ins("INS-NIA"),
    INS_TEST_SYSTEM: _ins("INS (test)"),
    INS_DEMO_SYSTEM: _ins("INS (demo)"),
    IDNATPS_SYSTEM: validate_idnatps,
    RPPS_SYSTEM: validate_rpps,
    IDNATST_SYSTEM: validate_idnatst,
    FINESS_SYSTEM: validate_finess,
    SIRENE_SYSTEM: _sirene,
}

KNOWN_SYSTEMS: frozenset[str] = frozenset(_VALIDATORS)


def validate(system: str, value: str) -> str:
    """Validate ``value`` by the rule of its FHIR ``system``; returns the compact value.

    Raises :class:`InvalidIdentifier` for a bad value and :class:`UnknownIdentifierSystem` for a
    system not in :data:`KNOWN_SYSTEMS`.
    """
    try:
        check = _VALIDATORS[system]
    except KeyError:
        raise UnknownIdentifierSystem(system) from None
    return check(value)
