"""FHIR search parameters: what each stored type is searched by, how a request's parameters are read, and
how a stored resource is matched.

``PARAMETERS`` is the one list of what is supported: ``parse`` refuses anything else (FHIR's
``handling=strict``; with ``lenient`` unknown parameters are ignored and reported), and the
CapabilityStatement is generated from it. A parameter is *identifying* when its value may be an
identifier, a name or a birth date: it is accepted in a request body only, never in a URL (COM-CRY-1).

How a search runs (``RecordService.search_page``): identifiers, names (prefixes) and birth dates narrow the
candidates through the blind index, ``patient``/``subject`` and ``_id`` through the ids kept in clear; every
candidate then goes through the policy decision like a direct read, and the criteria no index can answer
exactly (codes, statuses, date ranges, a name longer than the indexed prefix) are checked on the resource the
decision lets the caller read: a caller who may not see that element does not find by it (names excepted: one who
may not see them is answered on their first indexed letters, as a name search always was). Only the resources
returned are traced as read; the search itself is traced too, never its criteria.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from santegarde.store import mapping, vault
from santegarde.store.validation import FHIR_ID

DEFAULT_COUNT = 20
MAX_COUNT = 100
FIRST_YEAR = 1850  # the earliest birth year a birthdate range search looks for
PAGE_LIFETIME = timedelta(hours=1)


@dataclass(frozen=True)
class Param:
    """A search parameter: its FHIR type, the elements it looks at, whether its value identifies a person."""

    name: str
    type: str  # FHIR search parameter type: token, string, date, reference
    elements: tuple[str, ...]
    identifying: bool = False
    documentation: str = ""


COMMON = (
    Param("_id", "token", ("id",), documentation="The resource id (comma-separated ids for any of them)."),
    Param("_lastUpdated", "date", ("meta.lastUpdated",), documentation="When the current version was written."),
)
PATIENT_REFS = {
    "patient": Param("patient", "reference", (), documentation="The patient: Patient/<id> (or the id alone)."),
    "subject": Param("subject", "reference", (), documentation="The subject, a patient: Patient/<id>."),
}
_NAME_DOC = "Starts with, ignoring case, accents and hyphens (at least 2 letters); :exact for the whole name."
_PERSON = (
    Param("identifier", "token", ("identifier",), True, "system|value, or the value alone (e.g. an INS, an RPPS)."),
    Param("family", "string", ("name.family",), True, _NAME_DOC),
    Param("given", "string", ("name.given",), True, _NAME_DOC),
    Param("name", "string", ("name.family", "name.given"), True, _NAME_DOC),
)
_CLINICAL: dict[str, tuple[Param, ...]] = {
    "Observation": (
        Param("code", "token", ("code",)),
        Param("category", "token", ("category",)),
        Param("status", "token", ("status",)),
        Param("date", "date", ("effectiveDateTime", "effectivePeriod", "effectiveInstant")),
    ),
    "Condition": (
        Param("code", "token", ("code",)),
        Param("category", "token", ("category",)),
        Param("clinical-status", "token", ("clinicalStatus",)),
        Param("onset-date", "date", ("onsetDateTime", "onsetPeriod")),
        Param("recorded-date", "date", ("recordedDate",)),
    ),
    "MedicationRequest": (
        Param("code", "token", ("medicationCodeableConcept",)),
        Param("category", "token", ("category",)),
        Param("status", "token", ("status",)),
        Param("intent", "token", ("intent",)),
        Param("authoredon", "date", ("authoredOn",)),
    ),
    "MedicationDispense": (
        Param("code", "token", ("medicationCodeableConcept",)),
        Param("status", "token", ("status",)),
        Param("whenhandedover", "date", ("whenHandedOver",)),
    ),
    "Encounter": (
        Param("status", "token", ("status",)),
        Param("class", "token", ("class",)),
        Param("type", "token", ("type",)),
        Param("date", "date", ("period",)),
    ),
    "DocumentReference": (
        Param("status", "token", ("status",)),
        Param("category", "token", ("category",)),
        Param("type", "token", ("type",)),
        Param("date", "date", ("date",)),
    ),
    "Immunization": (
        Param("status", "token", ("status",)),
        Param("vaccine-code", "token", ("vaccineCode",)),
        Param("date", "date", ("occurrenceDateTime",)),
    ),
    "Consent": (
        Param("status", "token", ("status",)),
        Param("category", "token", ("category",)),
        Param("date", "date", ("dateTime",)),
    ),
    "Communication": (
        Param("status", "token", ("status",)),
        Param("category", "token", ("category",)),
        Param("sent", "date", ("sent",)),
    ),
    "Appointment": (
        Param("status", "token", ("status",)),
        Param("date", "date", ("start",)),
    ),
    "QuestionnaireResponse": (
        Param("status", "token", ("status",)),
        Param("authored", "date", ("authored",)),
    ),
}
_OWN: dict[str, tuple[Param, ...]] = {
    "Patient": (
        *_PERSON,
        Param("birthdate", "date", ("birthDate",), True, "eq, ne, lt, gt, le, ge, sa, eb; YYYY, YYYY-MM or a date."),
        Param("gender", "token", ("gender",)),
    ),
    "Practitioner": _PERSON,
    # An organisation's identifier (FINESS, SIRET) and name are no person's: they may go in a URL.
    "Organization": (
        Param("identifier", "token", ("identifier",), documentation="system|value or the value alone (FINESS…)."),
        Param("name", "string", ("name",), documentation=_NAME_DOC),
    ),
    "PractitionerRole": (),
    **_CLINICAL,
}


def _parameters(resource_type: str) -> dict[str, Param]:
    rmap = mapping.RESOURCES[resource_type]
    found = {p.name: p for p in COMMON}
    found.update((p.name, p) for p in _OWN[resource_type])
    if rmap.patient_refs:
        found["patient"] = PATIENT_REFS["patient"]
        if "subject" in rmap.patient_refs:
            found["subject"] = PATIENT_REFS["subject"]
    return found


PARAMETERS: dict[str, dict[str, Param]] = {t: _parameters(t) for t in sorted(mapping.RESOURCES)}
# Parameters that shape the answer rather than select resources.
CONTROL = ("_count", "_include", "_revinclude")
DATE_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge", "sa", "eb")
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)?)?")


class SearchRefused(mapping.MappingError):
    """A search parameter this server does not support, or a value it cannot read."""


@dataclass(frozen=True)
class Query:
    """A parsed search: index criteria, ids and patients in clear, checks on the content, page size."""

    resource_type: str
    index: list[list[tuple[str, str]]] = field(default_factory=list)
    ids: list[str] | None = None
    patients: list[str] | None = None
    checks: list[Callable[[dict[str, Any]], bool]] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    pairs: tuple[tuple[str, str], ...] = ()  # the parameters as given, to carry them to the next page
    ignored: tuple[str, ...] = ()  # parameters ignored under handling=lenient
    include: tuple[str, ...] = ()  # reference parameters whose patient is returned with each match
    revinclude: tuple[tuple[str, str], ...] = ()  # (type, parameter) of the records returned with each patient

    def matches(self, resource: dict[str, Any]) -> bool:
        return all(check(resource) for check in self.checks)


def in_url_refused(resource_type: str, names: Iterable[str]) -> str | None:
    """The first parameter that must not go in a URL (an identifier, a name, a birth date), or None."""
    known = PARAMETERS.get(resource_type, {})
    for name in names:
        param = known.get(name.split(":")[0])
        if param is not None and param.identifying:
            return name
    return None


def parse(resource_type: str, pairs: Iterable[tuple[str, str]], *, lenient: bool = False) -> Query:
    """Read a search's parameters; refuse what is not supported (unless lenient) with a sentence that names it."""
    mapping.resource_map(resource_type)
    known = PARAMETERS[resource_type]
    given = tuple(pairs)
    query = Query(resource_type, pairs=given)
    ignored: list[str] = []
    for raw_name, value in given:
        name, _, modifier = raw_name.partition(":")
        if name in CONTROL:
            query = _control(query, name, value)
            continue
        param = known.get(name)
        if param is None or modifier not in _MODIFIERS.get(param.type, ("",)):
            if lenient:
                ignored.append(raw_name)
                continue
            supported = ", ".join([*known, *CONTROL])
            what = f"the modifier :{modifier} of {name}" if param is not None else f"the parameter {name!r}"
            raise SearchRefused(
                f"{resource_type} cannot be searched by {what}; supported: {supported}. "
                "Remove it, or send 'Prefer: handling=lenient' to have unsupported parameters ignored."
            )
        if value == "":
            raise SearchRefused(f"The search parameter {raw_name} has no value: give one, or leave it out.")
        query = _apply(query, param, modifier, value)
    return _with(query, ignored=tuple(ignored))


_MODIFIERS = {"string": ("", "exact"), "token": ("",), "date": ("",), "reference": ("",)}


def _control(query: Query, name: str, value: str) -> Query:
    if name == "_count":
        if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_COUNT:
            raise SearchRefused(
                f"_count must be a whole number from 1 to {MAX_COUNT} (the page size); it is {value[:20]!r}."
            )
        return _with(query, count=int(value))
    kind, _, rest = value.partition(":")
    param, _, target = rest.partition(":")
    if name == "_include":
        if (
            kind == query.resource_type
            and param in PATIENT_REFS
            and param in PARAMETERS[kind]
            and target in ("", "Patient")
        ):
            return _with(query, include=(*query.include, param))
        raise SearchRefused(
            f"_include takes {query.resource_type}:<parameter> for a patient reference of {query.resource_type} "
            f"(e.g. {query.resource_type}:patient); {value[:60]!r} is not one."
        )
    if (
        query.resource_type == "Patient"
        and kind in PARAMETERS
        and param in PATIENT_REFS
        and param in PARAMETERS[kind]
        and target in ("", "Patient")
    ):
        return _with(query, revinclude=(*query.revinclude, (kind, param)))
    raise SearchRefused(
        "_revinclude is for a Patient search, with <type>:patient or <type>:subject (e.g. Observation:patient); "
        f"{value[:60]!r} is not one."
    )


def _with(query: Query, **changes: Any) -> Query:
    return Query(**{**query.__dict__, **changes})


def _apply(query: Query, param: Param, modifier: str, value: str) -> Query:
    values = [v for v in value.split(",") if v]
    if not values:
        raise SearchRefused(f"The search parameter {param.name} has no value: give one, or leave it out.")
    if param.type == "reference":
        patients = [_patient_id(param.name, v) for v in values]
        if query.patients is not None:  # patient and subject both given: the records of both
            patients = [p for p in patients if p in query.patients]
        return _with(query, patients=patients)
    if param.name == "_id":
        ids = [v for v in values if _fhir_id(v)]
        return _with(query, ids=ids if query.ids is None else [i for i in ids if i in query.ids])
    if param.type == "token":
        return _token(query, param, values)
    if param.type == "string":
        return _string(query, param, values, exact=modifier == "exact")
    return _date(query, param, values)


def _fhir_id(value: str) -> bool:
    if not FHIR_ID.fullmatch(value):
        raise SearchRefused(f"_id takes FHIR ids (1 to 64 letters, digits, '-' or '.'); {value[:70]!r} is not one.")
    return True


def _patient_id(name: str, value: str) -> str:
    rid = value.rsplit("/", 1)[-1] if "/" in value else value
    kind = value.rsplit("/", 2)[-2] if value.count("/") >= 1 else "Patient"
    if kind != "Patient" or not FHIR_ID.fullmatch(rid):
        raise SearchRefused(
            f"The search parameter {name} takes a patient reference, Patient/<id> (or the id alone); "
            f"{value[:80]!r} is not one."
        )
    return rid


# -- tokens ----------------------------------------------------------------------------------------


def _codings(value: Any) -> list[tuple[str | None, str]]:
    """(system, code) pairs of an element: a code, a Coding, a CodeableConcept, an Identifier, or a list of them."""
    if isinstance(value, list):
        return [c for item in value for c in _codings(item)]
    if isinstance(value, str | bool):
        return [(None, str(value).lower() if isinstance(value, bool) else value)]
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        return _codings(value["coding"])
    if "code" in value:
        return [(value.get("system"), str(value["code"]))]
    if "value" in value:
        return [(value.get("system"), str(value["value"]))]
    return []


def _token_matches(wanted: str, found: list[tuple[str | None, str]]) -> bool:
    if "|" not in wanted:
        return any(code == wanted for _, code in found)
    system, _, code = wanted.partition("|")
    return any((s or "") == system and (code == "" or c == code) for s, c in found)


def _token(query: Query, param: Param, values: list[str]) -> Query:
    if param.name == "identifier":
        alternatives = []
        for v in values:
            system, bar, ident = v.partition("|")
            ident = ident if bar else system
            if not ident:
                raise SearchRefused(
                    "identifier takes system|value or the value alone; give the value (e.g. "
                    "urn:oid:1.2.250.1.213.1.4.8|<INS>)."
                )
            alternatives.append(("identifier", v) if bar else ("identifier_value", ident))
        return _with(query, index=[*query.index, alternatives])
    elements = param.elements
    return _with(
        query,
        checks=[
            *query.checks,
            lambda r: any(_token_matches(v, _codings([_at(r, e) for e in elements])) for v in values),
        ],
    )


def _at(resource: dict[str, Any], path: str) -> Any:
    value: Any = resource
    for step in path.split("."):
        if isinstance(value, list):
            value = [v.get(step) for v in value if isinstance(v, dict)]
            value = [x for v in value for x in (v if isinstance(v, list) else [v]) if x is not None]
        elif isinstance(value, dict):
            value = value.get(step)
        else:
            return None
    return value


# -- strings (names) -------------------------------------------------------------------------------


def _string(query: Query, param: Param, values: list[str], *, exact: bool) -> Query:
    kinds = {"family": ("family",), "given": ("given",), "name": ("family", "given")}[param.name]
    if query.resource_type == "Organization":
        kinds = ("name",)
    alternatives: list[tuple[str, str]] = []
    for v in values:
        wanted = vault.normalise(v)
        if exact:
            alternatives.extend((k, v) for k in kinds)
            continue
        if len(wanted) < vault.PREFIX_MIN:
            raise SearchRefused(
                f"A search by {param.name} needs at least {vault.PREFIX_MIN} letters (shorter prefixes are not "
                "indexed: they would give away how many names start with each letter)."
            )
        alternatives.extend((k + vault.PREFIX, wanted[: vault.PREFIX_MAX]) for k in kinds)
    query = _with(query, index=[*query.index, alternatives])
    if exact or all(len(vault.normalise(v)) <= vault.PREFIX_MAX for v in values):
        return query  # the index answers exactly
    elements = param.elements

    def check(resource: dict[str, Any]) -> bool:
        names = _texts([_at(resource, e) for e in elements])
        # confirmed on the names the caller may see; one who may not relies on the index's first PREFIX_MAX letters
        return not names or any(_name_matches(v, names, exact=False) for v in values)

    return _with(query, checks=[*query.checks, check])


def _texts(value: Any) -> list[str]:
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    return [value] if isinstance(value, str) else []


def _name_matches(wanted: str, names: list[str], *, exact: bool) -> bool:
    target = vault.normalise(wanted)
    if exact:
        return any(vault.normalise(n) == target for n in names)
    return any(vault.normalise(n).startswith(target) for n in names)


# -- dates -----------------------------------------------------------------------------------------


def _range(text: str) -> tuple[datetime, datetime] | None:
    """The instants [start, end) a FHIR date, partial date or dateTime stands for; None if it is not one."""
    found = _DATE.fullmatch(text)
    if found is None:
        return None
    year, month, day, time = found.groups()
    try:
        if time:
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            return at, at + timedelta(seconds=1)
        start = datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
    except ValueError:
        return None
    if day:
        return start, start + timedelta(days=1)
    if month:
        return start, (start + timedelta(days=32)).replace(day=1)
    return start, start.replace(year=start.year + 1)


def _element_range(value: Any) -> tuple[datetime, datetime] | None:
    if isinstance(value, str):
        return _range(value)
    if isinstance(value, dict) and ("start" in value or "end" in value):  # a Period; an open end is unbounded
        start = _range(value["start"]) if value.get("start") else None
        end = _range(value["end"]) if value.get("end") else None
        low = start[0] if start else datetime.min.replace(tzinfo=UTC)
        high = end[1] if end else datetime.max.replace(tzinfo=UTC)
        return low, high
    return None


def _compare(prefix: str, wanted: tuple[datetime, datetime], found: tuple[datetime, datetime]) -> bool:
    (lo, hi), (flo, fhi) = wanted, found
    equal = lo <= flo and fhi <= hi
    return {
        "eq": equal,
        "ne": not equal,
        "gt": fhi > hi,
        "lt": flo < lo,
        "ge": fhi > hi or equal,
        "le": flo < lo or equal,
        "sa": flo >= hi,
        "eb": fhi <= lo,
    }[prefix]


def _date(query: Query, param: Param, values: list[str]) -> Query:
    wanted: list[tuple[str, tuple[datetime, datetime]]] = []
    for v in values:
        prefix, rest = (v[:2], v[2:]) if v[:2] in DATE_PREFIXES else ("eq", v)
        bounds = _range(rest)
        if bounds is None:
            raise SearchRefused(
                f"{param.name} takes a date with an optional prefix ({', '.join(DATE_PREFIXES)}): e.g. ge1944-01-01, "
                f"1944 or 1944-06; {v[:40]!r} is not one."
            )
        wanted.append((prefix, bounds))
    elements = param.elements

    def check(resource: dict[str, Any]) -> bool:
        found = [r for r in (_element_range(_at(resource, e)) for e in elements) if r is not None]
        return any(_compare(p, b, f) for p, b in wanted for f in found)

    query = _with(query, checks=[*query.checks, check])  # always: a reader who may not see the birth date finds none
    if param.name == "birthdate":  # a whole day or a whole year: the index narrows exactly
        exact = [_exact_birth(v) for v in values]
        if all(exact):
            return _with(query, index=[*query.index, [e for e in exact if e is not None]])
    if param.name != "birthdate":
        return query
    years: set[str] = set()
    for prefix, (lo, hi) in wanted:
        if prefix == "ne":
            return query  # nothing to narrow by
        first = FIRST_YEAR if prefix in ("lt", "le", "eb") else lo.year
        last = datetime.now(UTC).year if prefix in ("gt", "ge", "sa") else (hi - timedelta(microseconds=1)).year
        years.update(str(y) for y in range(first, last + 1))
    return _with(query, index=[*query.index, [("birthyear", y) for y in sorted(years)]])


def _exact_birth(value: str) -> tuple[str, str] | None:
    """The index term that answers a birthdate value exactly (a day, or a year, without prefix), if any."""
    day = re.fullmatch(r"(?:eq)?(\d{4}-\d{2}-\d{2})", value)
    if day:
        return ("birthdate", day.group(1))
    year = re.fullmatch(r"(?:eq)?(\d{4})", value)
    return ("birthyear", year.group(1)) if year else None


# -- pages -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after an id (forward) or before one (backward); None for the first page."""

    after: str | None = None
    before: str | None = None


def seal_page(key: bytes, session: str, resource_type: str, pairs: Iterable[tuple[str, str]], cursor: Cursor) -> str:
    """An opaque page token: the search's parameters and where the page starts, encrypted and bound to the
    session, so that a paging link carries no identifier, name or birth date in clear and serves no one else."""
    payload = {
        "t": resource_type,
        "p": [list(p) for p in pairs],
        "a": cursor.after,
        "b": cursor.before,
        "x": int((datetime.now(UTC) + PAGE_LIFETIME).timestamp()),
    }
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, json.dumps(payload).encode(), _bound(session))
    return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def open_page(key: bytes, session: str, token: str) -> tuple[str, list[tuple[str, str]], Cursor]:
    """The search a page token stands for; refused when altered, expired or from another session."""
    refused = SearchRefused(
        "This page link is not valid for your session (it expired after an hour, belongs to another session, or "
        "was altered): run the search again."
    )
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], _bound(session)))
    except (ValueError, InvalidTag):
        raise refused from None
    if payload["x"] < datetime.now(UTC).timestamp():
        raise refused
    return payload["t"], [(str(k), str(v)) for k, v in payload["p"]], Cursor(payload["a"], payload["b"])


def _bound(session: str) -> bytes:
    return b"santegarde:search-page:" + hashlib.sha256(session.encode()).digest()
