"""What the FHIR models do not check: coded values against their required bindings, French identifiers' keys.

``fhir.resources`` checks the shape of a resource (types, cardinalities); a ``gender`` of "banana"
or an INS with a wrong key passes it. :func:`check` walks the validated model, element by element
(nested ones included), and refuses:

- a code outside the value set of a FHIR R4 *required* binding (``bindings.yaml``: the value sets
  with their URL, and the elements bound to them, by resource path or by data type);
- a resource id (contained ones too) longer than the 64 characters of a FHIR id;
- an ``Identifier`` whose system is a French identifier (INS-NIR, INS-NIA, NIR, RPPS, idNatPs,
  FINESS, idNatSt, SIREN/SIRET: ``santegarde.identifiers.KNOWN_SYSTEMS``) and whose value fails
  its check (length, shape, key).

The refusal names the element, the value (codes only: an identifier's value is never repeated)
and what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.resource import Resource
from pydantic import BaseModel

from santegarde.identifiers import KNOWN_SYSTEMS, InvalidIdentifier
from santegarde.identifiers import validate as validate_identifier
from santegarde.store.mapping import MappingError

INDEX = re.compile(r"\[\d+\]")
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # FHIR R4 datatype id (the models do not bound its length)


class InvalidCode(MappingError):
    """A coded value outside the value set of its required binding."""


@dataclass(frozen=True)
class ValueSet:
    name: str
    url: str
    system: str
    codes: tuple[str, ...]


@dataclass(frozen=True)
class Bindings:
    value_sets: dict[str, ValueSet]
    elements: dict[str, ValueSet]  # "<path or data type>.<element>" → value set


@cache
def bindings() -> Bindings:
    """The required bindings shipped in ``bindings.yaml``."""
    raw = yaml.safe_load(resources.files("santegarde.store").joinpath("bindings.yaml").read_text(encoding="utf-8"))
    sets = {
        name: ValueSet(name, entry["url"], entry["system"], tuple(str(c) for c in entry["codes"]))
        for name, entry in raw["value_sets"].items()
    }
    return Bindings(sets, {element: sets[name] for element, name in raw["elements"].items()})


def check(model: BaseModel, resource_type: str) -> None:
    """Refuse the resource (already valid FHIR R4 in shape) if a bound code or a French identifier is wrong."""
    _walk(model, resource_type, resource_type)


def _without_repeats(path: str) -> str:
    """``Consent.provision.provision.type`` → ``Consent.provision.type``: a nested element checked as its first."""
    parts: list[str] = []
    for part in path.split("."):
        if not parts or parts[-1] != part:
            parts.append(part)
    return ".".join(parts)


def _binding(owner: BaseModel, path: str, element: str) -> ValueSet | None:
    known = bindings().elements
    found = known.get(_without_repeats(INDEX.sub("", f"{path}.{element}")))
    if found is not None:
        return found
    for cls in type(owner).__mro__:
        found = known.get(f"{cls.__name__}.{element}")
        if found is not None:
            return found
    return None


def element_of(shown: str) -> str:
    """``Patient.name[0].family`` → ``name.family``: the element's path for a form, without indexes nor type."""
    return INDEX.sub("", shown).partition(".")[2]


def _walk(model: BaseModel, path: str, shown: str) -> None:
    if isinstance(model, Identifier):
        _check_identifier(model, shown)
    if isinstance(model, Resource) and model.id is not None and not FHIR_ID.fullmatch(model.id):
        raise MappingError(
            f"{shown}.id ({len(model.id)} characters) is not a FHIR id: an id is 1 to 64 letters, digits, '-' or '.'.",
            element_of(f"{shown}.id"),
        )
    for name, field in type(model).model_fields.items():
        value = getattr(model, name, None)
        if value is None:
            continue
        element = field.alias or name
        value_set = _binding(model, path, element)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            here = f"{shown}.{element}" + (f"[{i}]" if isinstance(value, list) else "")
            if value_set is not None:
                _check_code(item, value_set, here)
            if isinstance(item, BaseModel):
                _walk(item, f"{path}.{element}", here)


def _refuse(where: str, value: str, value_set: ValueSet) -> None:
    shown = value if len(value) <= 40 else value[:40] + "…"
    raise InvalidCode(
        f"{where} is '{shown}', which is not in its required value set {value_set.url}: use one of "
        f"{', '.join(value_set.codes)}.",
        element_of(where),
    )


def _check_code(item: Any, value_set: ValueSet, where: str) -> None:
    if isinstance(item, str):
        if item not in value_set.codes:
            _refuse(where, item, value_set)
    elif isinstance(item, Coding):
        _check_codings([item], value_set, where)
    elif isinstance(item, CodeableConcept):
        _check_codings(list(item.coding or []), value_set, f"{where}.coding")


def _check_codings(codings: list[Coding], value_set: ValueSet, where: str) -> None:
    """At least one coding from the value set's system, and every coding of that system one of its codes."""
    ours = [(i, c) for i, c in enumerate(codings) if c.system == value_set.system]
    if not ours:
        raise InvalidCode(
            f"{where} needs a coding from {value_set.system} (required value set {value_set.url}): use one of "
            f"{', '.join(value_set.codes)}.",
            element_of(where),
        )
    for i, coding in ours:
        if coding.code not in value_set.codes:
            _refuse(f"{where}[{i}].code", str(coding.code), value_set)


def _check_identifier(identifier: Identifier, where: str) -> None:
    system, value = identifier.system, identifier.value
    if system not in KNOWN_SYSTEMS or value is None:
        return
    try:
        validate_identifier(system, value)
    except InvalidIdentifier as exc:
        raise MappingError(
            f"{where} (system {system}) is not a valid {exc.kind}: {exc.message}", element_of(where)
        ) from None
