"""The professionals who follow the patients (§7.2 c): name, profession and specialty, RPPS, work contact.

A professional is a FHIR ``Practitioner`` of the directory, stored through the record path under the purpose
``professional_contacts``; the RPPS number's key is checked by the store's identifier validation, the profession is
a code of the national nomenclature (TRE-G15), the specialty one of its ordinal specialties (TRE-R38, from the bundled
sample set), and nothing else is taken (no address, no free text).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from santegarde.compassionate.codes import code_set
from santegarde.compassionate.forms import SubmissionRefused
from santegarde.identifiers import InvalidIdentifier, validate_rpps
from santegarde.identifiers.systems import RPPS_SYSTEM
from santegarde.store.service import RecordService, Request

PURPOSE = "professional_contacts"
PROFESSION_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
PROFESSIONS = {"10": "Médecin", "21": "Pharmacien", "60": "Infirmier"}
SPECIALTY_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9.\-]{1,190}\.[A-Za-z]{2,24}$")
PHONE = re.compile(r"^\+?[0-9 .]{10,20}$")
NAME = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")


@dataclass(frozen=True)
class Professional:
    last_name: str
    first_name: str
    profession: str  # TRE-G15 code
    rpps: str
    work_email: str | None = None
    work_phone: str | None = None
    specialty: str | None = None  # TRE-R38 code


def body(p: Professional) -> dict[str, Any]:
    """The Practitioner resource, after checking each element (refused with a sentence naming it)."""
    last, first = {"fr": "nom", "en": "last name"}, {"fr": "prénom", "en": "first name"}
    for label, value in ((last, p.last_name), (first, p.first_name)):
        if not NAME.match(value.strip()) or len(value) > 100:
            raise SubmissionRefused("name_letters", "AAC-6", label=label)
    if p.profession not in PROFESSIONS:
        shown = ", ".join(f"{c} ({label})" for c, label in PROFESSIONS.items())
        raise SubmissionRefused("profession", "AAC-6", shown=shown)
    specialties = code_set("tre_r38")
    if p.specialty is not None and p.specialty not in specialties:
        shown = ", ".join(f"{c} ({label})" for c, label in specialties.items())
        raise SubmissionRefused("specialty", "AAC-6", shown=shown)
    try:
        rpps = validate_rpps(p.rpps)
    except InvalidIdentifier as exc:
        raise SubmissionRefused("rpps", "AAC-6", error=exc) from None
    telecom = []
    if p.work_email:
        if not EMAIL.match(p.work_email):
            raise SubmissionRefused("work_email", "AAC-6")
        telecom.append({"system": "email", "use": "work", "value": p.work_email})
    if p.work_phone:
        if not PHONE.match(p.work_phone):
            raise SubmissionRefused("work_phone", "AAC-6")
        telecom.append({"system": "phone", "use": "work", "value": p.work_phone})
    if not telecom:
        raise SubmissionRefused("work_contact", "AAC-6")
    profession = {"system": PROFESSION_SYSTEM, "code": p.profession, "display": PROFESSIONS[p.profession]}
    qualification = [{"code": {"coding": [profession]}}]
    if p.specialty is not None:
        coding = {"system": SPECIALTY_SYSTEM, "code": p.specialty, "display": specialties[p.specialty]}
        qualification.append({"code": {"coding": [coding]}})
    return {
        "resourceType": "Practitioner",
        "id": str(uuid.uuid4()),
        "identifier": [{"system": RPPS_SYSTEM, "value": rpps}],
        "name": [{"use": "official", "family": p.last_name.strip(), "given": [p.first_name.strip()]}],
        "telecom": telecom,
        "qualification": qualification,
    }


def add(records: RecordService, req: Request, professional: Professional) -> dict[str, Any]:
    """Record a professional through the record path (policy, audit); refusals before it are traced too."""
    request = Request(req.token, PURPOSE, source=req.source)
    try:
        practitioner = body(professional)
    except SubmissionRefused as exc:
        records.trace_refusal(request, "create", ("Practitioner", ""), f"{exc.rule}.professional")
        raise
    return records.create(request, practitioner)
