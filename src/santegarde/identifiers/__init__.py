"""French identifiers: NIR/INS, RPPS, ADELI, idNatPs, FINESS, idNatSt, SIREN, SIRET.

Validators return the compact value or raise :class:`InvalidIdentifier` (``kind`` + a message that
never repeats the value); ``compute_*_key`` and ``make_*`` build valid values (synthetic data).
:func:`validate` dispatches on a FHIR ``identifier.system`` (ARCHITECTURE.md, "French identifiers").
"""

from santegarde.identifiers.errors import InvalidIdentifier, UnknownIdentifierSystem
from santegarde.identifiers.nir import NirParts, compute_nir_key, make_nir, parse_nir, validate_ins, validate_nir
from santegarde.identifiers.professional import (
    IdNatPs,
    compute_rpps_key,
    make_idnatps,
    make_rpps,
    parse_idnatps,
    validate_adeli,
    validate_idnatps,
    validate_person_ref,
    validate_rpps,
)
from santegarde.identifiers.structure import (
    compute_finess_key,
    compute_luhn_key,
    make_finess,
    make_siren,
    make_siret,
    validate_finess,
    validate_idnatst,
    validate_siren,
    validate_siret,
)
from santegarde.identifiers.systems import (
    FINESS_SYSTEM,
    IDENTIFIER_TYPE_SYSTEM,
    IDNATPS_SYSTEM,
    IDNATST_SYSTEM,
    INS_DEMO_SYSTEM,
    INS_NIA_SYSTEM,
    INS_NIR_SYSTEM,
    INS_TEST_SYSTEM,
    KNOWN_SYSTEMS,
    NIR_SYSTEM,
    RPPS_SYSTEM,
    SIRENE_SYSTEM,
    ins_system,
    validate,
)

__all__ = [
    "FINESS_SYSTEM",
    "IDENTIFIER_TYPE_SYSTEM",
    "IDNATPS_SYSTEM",
    "IDNATST_SYSTEM",
    "INS_DEMO_SYSTEM",
    "INS_NIA_SYSTEM",
    "INS_NIR_SYSTEM",
    "INS_TEST_SYSTEM",
    "KNOWN_SYSTEMS",
    "NIR_SYSTEM",
    "RPPS_SYSTEM",
    "SIRENE_SYSTEM",
    "IdNatPs",
    "InvalidIdentifier",
    "NirParts",
    "UnknownIdentifierSystem",
    "compute_finess_key",
    "compute_luhn_key",
    "compute_nir_key",
    "compute_rpps_key",
    "ins_system",
    "make_finess",
    "make_idnatps",
    "make_nir",
    "make_rpps",
    "make_siren",
    "make_siret",
    "parse_idnatps",
    "parse_nir",
    "validate",
    "validate_adeli",
    "validate_finess",
    "validate_idnatps",
    "validate_idnatst",
    "validate_ins",
    "validate_nir",
    "validate_person_ref",
    "validate_rpps",
    "validate_siren",
    "validate_siret",
]
