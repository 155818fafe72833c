"""Patients and professionals: Patient, Practitioner and PractitionerRole resources.

Patients carry an INS on the *test* system (urn:oid:1.2.250.1.213.1.4.10), so that no synthetic
INS can pass for a real one, and the same number as NIR for billing (type NH). Both agree with the
patient's sex, birth year and month and birthplace. Compassionate-access patients (AAC-5) get an
indirect identity only: a code made of the first three letters of the surname, the first two of
the first name and a number, sex, and year and month of birth (full date for children).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole

from santegarde.identifiers import (
    IDENTIFIER_TYPE_SYSTEM,
    IDNATPS_SYSTEM,
    INS_TEST_SYSTEM,
    NIR_SYSTEM,
    RPPS_SYSTEM,
    make_idnatps,
    make_nir,
    make_rpps,
)
from santegarde.identifiers.structure import compute_luhn_key
from santegarde.identifiers.systems import V2_0203_SYSTEM
from santegarde.synthetic import codes
from santegarde.synthetic.context import JSON, Context, ascii_letters, coding, identifier, ref
from santegarde.synthetic.places import BIRTH_COUNTRIES, COMMUNES, Commune

BIRTH_PLACE_URL = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"


@dataclass(frozen=True, slots=True)
class PersonFacts:
    """What the clinical builders need to know about a patient without reading the resource."""

    id: str
    male: bool
    birth_date: date
    commune: Commune


def _birthplace(ctx: Context, home: Commune, birth_year: int) -> tuple[str, int, JSON]:
    """(NIR department, NIR commune, FHIR Address) of a birthplace, often the home department."""
    if ctx.chance(0.08):
        country, code = ctx.rng.choice(BIRTH_COUNTRIES)
        return "99", code, {"country": country}
    place = home if ctx.chance(0.6) else ctx.rng.choice(COMMUNES)
    return place.nir_department(birth_year), place.nir_commune, {"city": place.city, "country": "FR"}


def make_patient(ctx: Context, *, with_ins: bool = True) -> tuple[Patient, PersonFacts]:
    """A patient with a full identity, INS (test system) and NIR — or, without INS, an AAC-5 identity."""
    male = ctx.chance(0.49)
    given = ctx.fake.first_name_male() if male else ctx.fake.first_name_female()
    family = ctx.fake.last_name()
    born = ctx.birth_date(1, 95) if ctx.chance(0.1) else ctx.birth_date(18, 95)
    home = ctx.rng.choice(COMMUNES)
    facts = PersonFacts(ctx.new_id(), male, born, home)
    data: JSON = {"resourceType": "Patient", "id": facts.id, "gender": "male" if male else "female"}
    if not with_ins:
        code = f"{ascii_letters(family)[:3]}-{ascii_letters(given)[:2]}-{ctx.digits(5)}"
        data["identifier"] = [{"use": "usual", "system": codes.LOCAL_PATIENT_CODE, "value": code}]
        data["birthDate"] = born.isoformat() if ctx.age(born) < 18 else born.isoformat()[:7]
        return Patient.model_validate(data), facts
    department, commune, birth_address = _birthplace(ctx, home, born.year)
    nir = make_nir(
        male=male,
        year=born.year,
        month=born.month,
        department=department,
        commune=commune,
        order=ctx.rng.randint(1, 999),
    )
    data |= {
        "identifier": [
            identifier(INS_TEST_SYSTEM, nir, IDENTIFIER_TYPE_SYSTEM, "INS-NIR-TEST"),
            identifier(NIR_SYSTEM, nir, V2_0203_SYSTEM, "NH", use="secondary"),
        ],
        "extension": [{"url": BIRTH_PLACE_URL, "valueAddress": birth_address}],
        "name": [{"use": "official", "family": family.upper(), "given": [given]}],
        "birthDate": born.isoformat(),
        "address": [
            {
                "use": "home",
                "line": [ctx.fake.street_address()],
                "postalCode": home.postal_code,
                "city": home.city,
                "country": "FR",
            }
        ],
        "telecom": ctx.telecom(given, family, "mobile"),
    }
    return Patient.model_validate(data), facts


def _professional_ids(ctx: Context, profession: codes.Profession, department: str) -> list[JSON]:
    if ctx.chance(profession.adeli_share):
        body = f"{department[:2]}{profession.code}{ctx.digits(4)}"
        adeli = body + compute_luhn_key(body.replace("A", "0").replace("B", "0"))
        return [identifier(IDNATPS_SYSTEM, make_idnatps("ADELI", adeli), IDENTIFIER_TYPE_SYSTEM, "IDNPS")]
    rpps = make_rpps("19" + ctx.digits(8))  # a fictitious range: real RPPS numbers start with 10
    return [
        identifier(RPPS_SYSTEM, rpps, IDENTIFIER_TYPE_SYSTEM, "RPPS"),
        identifier(IDNATPS_SYSTEM, make_idnatps("RPPS", rpps), IDENTIFIER_TYPE_SYSTEM, "IDNPS"),
    ]


def make_practitioner(ctx: Context, profession: codes.Profession, department: str) -> Practitioner:
    """A professional identified by RPPS + idNatPs ("8"+RPPS), or idNatPs "0"+ADELI for some paramedics."""
    male = ctx.chance(0.45)
    given = ctx.fake.first_name_male() if male else ctx.fake.first_name_female()
    family = ctx.fake.last_name()
    name: JSON = {"use": "official", "family": family.upper(), "given": [given]}
    if profession.title:
        name["prefix"] = [profession.title]
    return Practitioner.model_validate(
        {
            "resourceType": "Practitioner",
            "id": ctx.new_id(),
            "identifier": _professional_ids(ctx, profession, department),
            "active": True,
            "name": [name],
            "gender": "male" if male else "female",
            "telecom": ctx.telecom(given, family, "work"),
        }
    )


def make_role(
    ctx: Context, practitioner: Practitioner, organization_id: str, profession: codes.Profession
) -> PractitionerRole:
    """The practitioner's activity in an organisation, with the profession (and specialty) codes."""
    data: JSON = {
        "resourceType": "PractitionerRole",
        "id": ctx.new_id(),
        "active": True,
        "practitioner": ref("Practitioner", str(practitioner.id)),
        "organization": ref("Organization", organization_id),
        "code": [coding(codes.PROFESSION, profession.code, profession.display)],
    }
    if profession.specialty:
        data["specialty"] = [coding(codes.SPECIALTY, *profession.specialty)]
    return PractitionerRole.model_validate(data)
