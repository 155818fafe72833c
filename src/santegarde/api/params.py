"""Path parameters checked before any route runs: FHIR ids and register numbers, refused with a sentence.

A FHIR id is ``[A-Za-z0-9\\-\\.]{1,64}`` (FHIR R4, datatype ``id``); a register number (rights requests…)
is a positive integer that fits the registers' INTEGER columns (32-bit on PostgreSQL). Anything else
is answered 400 or 404, never a server error.
"""

# No `from __future__ import annotations`: FastAPI reads these dependencies' annotations.
from typing import Annotated

from fastapi import Depends

from santegarde.rights.requests import RequestNotFound, RightsError
from santegarde.store.mapping import MappingError
from santegarde.store.validation import FHIR_ID

MAX_NUMBER = 2**31 - 1  # the largest INTEGER of PostgreSQL (SQLite's go to 2**63 - 1)


def fhir_id(rid: str) -> str:
    """The ``rid`` path parameter, if it is a FHIR id."""
    if not FHIR_ID.fullmatch(rid):
        raise MappingError(
            f"The id in this URL ({len(rid)} characters) is not a FHIR id: an id is 1 to 64 letters, digits, '-' "
            "or '.'; check the URL."
        )
    return rid


def request_number(request_id: str) -> int:
    """The ``request_id`` path parameter, if it is a number the register can hold."""
    if not request_id.isascii() or not request_id.isdigit():
        raise RightsError("not_a_number")
    number = int(request_id)
    if not 1 <= number <= MAX_NUMBER:
        raise RequestNotFound("not_found", number=request_id[:40])
    return number


FhirId = Annotated[str, Depends(fhir_id)]
RequestNumber = Annotated[int, Depends(request_number)]
