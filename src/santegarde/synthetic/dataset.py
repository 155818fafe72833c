"""``generate_dataset``: a deterministic, fictitious French dataset shaped by an organisation profile.

- practice: a health centre, GPs and paramedics (some ADELI); appointments, encounters, vital
  signs, conditions, prescriptions, immunisations;
- pharmacy: a pharmacy, its pharmacists and outside prescribers; prescriptions and dispenses,
  some immunisations;
- compassionate: a laboratory holding compassionate-access authorisations and hospitals;
  patients with an indirect identity only (no NIR, no INS, no name, no contact: AAC-5);
  indications, prescriptions and dispenses of the (fictitious) medicine, weight and height;
- warehouse: a hospital; stays (ambulatory and inpatient), diagnoses and vital signs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from typing import Literal, get_args

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.domainresource import DomainResource
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.immunization import Immunization
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole

from santegarde.synthetic import clinical, codes
from santegarde.synthetic.context import PARIS, REFERENCE_DATE, Context
from santegarde.synthetic.organisations import OrganisationKind, make_organisation
from santegarde.synthetic.people import PersonFacts, make_patient, make_practitioner, make_role
from santegarde.synthetic.places import COMMUNES

Profile = Literal["practice", "pharmacy", "compassionate", "warehouse"]
PROFILES: tuple[str, ...] = get_args(Profile)
BASE_URL = "https://santegarde.invalid/fhir"  # .invalid: a reserved name that never resolves

HOSPITAL_DOCTOR = codes.Profession("10", "Médecin", "Dr")


@dataclass(frozen=True)
class SyntheticDataset:
    """The resources of one generation, by type, in generation order."""

    seed: int
    profile: str
    reference_date: date = REFERENCE_DATE
    organizations: tuple[Organization, ...] = ()
    practitioners: tuple[Practitioner, ...] = ()
    practitioner_roles: tuple[PractitionerRole, ...] = ()
    patients: tuple[Patient, ...] = ()
    appointments: tuple[Appointment, ...] = ()
    encounters: tuple[Encounter, ...] = ()
    observations: tuple[Observation, ...] = ()
    conditions: tuple[Condition, ...] = ()
    medication_requests: tuple[MedicationRequest, ...] = ()
    medication_dispenses: tuple[MedicationDispense, ...] = ()
    immunizations: tuple[Immunization, ...] = ()

    def resources(self) -> list[DomainResource]:
        """Every resource: organisations and people first, then clinical resources."""
        out: list[DomainResource] = []
        for f in fields(self):
            if f.name not in ("seed", "profile", "reference_date"):
                out.extend(getattr(self, f.name))
        return out

    def bundle(self, base_url: str = BASE_URL) -> Bundle:
        """A FHIR R4B Bundle of type collection holding every resource."""
        # Every resource was validated when it was built; validating them again inside the Bundle would
        # triple the cost for nothing, so the (trivially valid) envelope is assembled without it.
        entries = [
            BundleEntry.model_construct(fullUrl=f"{base_url}/{r.get_resource_type()}/{r.id}", resource=r)
            for r in self.resources()
        ]
        envelope = Bundle.model_validate({"type": "collection", "timestamp": self.timestamp()})
        return Bundle.model_construct(type=envelope.type, timestamp=envelope.timestamp, entry=entries)

    def timestamp(self) -> str:
        """When the data is "as of": midnight, Paris time, on the reference date (never the clock)."""
        return datetime.combine(self.reference_date, time(0), tzinfo=PARIS).isoformat()


@dataclass
class _Builder:
    ctx: Context
    # role name → practitioner ids; "centre" / "hospital" → the id of the organisation the activity happens in
    staff: dict[str, list[str]] = field(default_factory=dict)
    out: dict[str, list[DomainResource]] = field(default_factory=dict)
    departments: dict[str, str] = field(default_factory=dict)  # organisation id → department

    def add(self, name: str, *resources: DomainResource) -> None:
        self.out.setdefault(name, []).extend(resources)

    def organisation(self, kind: OrganisationKind) -> str:
        commune = self.ctx.rng.choice(COMMUNES)
        org = make_organisation(self.ctx, kind, commune)
        self.add("organizations", org)
        self.departments[str(org.id)] = commune.department
        return str(org.id)

    def hire(self, role: str, profession: codes.Profession, organization_id: str, count: int) -> None:
        department = self.departments[organization_id]
        for _ in range(count):
            person = make_practitioner(self.ctx, profession, department)
            self.add("practitioners", person)
            self.add("practitioner_roles", make_role(self.ctx, person, organization_id, profession))
            self.staff.setdefault(role, []).append(str(person.id))

    def pick(self, role: str) -> str:
        return self.ctx.rng.choice(self.staff[role])


def _practice(b: _Builder, patient: PersonFacts) -> None:
    ctx = b.ctx
    centre = b.staff["centre"][0]
    visits = sorted(ctx.past_visit() for _ in range(ctx.rng.randint(1, 3)))
    for number, when in enumerate(visits):
        doctor = b.pick("gp")
        appointment_id = None
        if ctx.chance(0.8):  # the others walked in
            appointment = clinical.make_appointment(ctx, patient, doctor, when, fulfilled=True)
            b.add("appointments", appointment)
            appointment_id = str(appointment.id)
        encounter = clinical.make_encounter(ctx, patient, doctor, centre, when, appointment_id=appointment_id)
        b.add("encounters", encounter)
        b.add("observations", *clinical.make_vital_signs(ctx, patient, str(encounter.id), when, height=number == 0))
        if ctx.chance(0.3):
            b.add("conditions", clinical.make_condition(ctx, patient, doctor, when, encounter_id=str(encounter.id)))
        if ctx.chance(0.4):
            b.add(
                "medication_requests",
                clinical.make_medication_request(ctx, patient, doctor, when, encounter_id=str(encounter.id)),
            )
        if ctx.chance(0.15):
            b.add("immunizations", clinical.make_immunization(ctx, patient, b.pick("nurse"), when))
    if ctx.chance(0.3):
        start = ctx.office_time(ctx.day_in(ctx.today + timedelta(days=1), ctx.today + timedelta(days=60)))
        b.add("appointments", clinical.make_appointment(ctx, patient, b.pick("gp"), start, fulfilled=False))


def _pharmacy(b: _Builder, patient: PersonFacts) -> None:
    ctx = b.ctx
    for when in sorted(ctx.past_visit() for _ in range(ctx.rng.randint(1, 3))):
        request = clinical.make_medication_request(ctx, patient, b.pick("prescriber"), when)
        b.add("medication_requests", request)
        handed = when + timedelta(hours=ctx.rng.randint(1, 72))
        b.add("medication_dispenses", clinical.make_dispense(ctx, request, patient, b.pick("pharmacist"), handed))
    if ctx.chance(0.2):
        b.add("immunizations", clinical.make_immunization(ctx, patient, b.pick("pharmacist"), ctx.past_visit(1)))


def _compassionate(b: _Builder, patient: PersonFacts) -> None:
    ctx = b.ctx
    doctor = b.pick("doctor")
    start = ctx.past_visit()
    b.add("conditions", clinical.make_condition(ctx, patient, doctor, start, choices=codes.AAC_INDICATIONS))
    b.add("observations", *clinical.make_vital_signs(ctx, patient, None, start, blood_pressure=False))
    medicine = (ctx.rng.choice(codes.AAC_MEDICATIONS),)
    for month in range(ctx.rng.randint(1, 3)):
        when = start + timedelta(days=30 * month)
        if when.date() >= ctx.today:
            break
        request = clinical.make_medication_request(
            ctx, patient, doctor, when, choices=medicine, system=codes.LOCAL_MEDICATION
        )
        b.add("medication_requests", request)
        b.add("medication_dispenses", clinical.make_dispense(ctx, request, patient, b.pick("pharmacist"), when))


def _warehouse(b: _Builder, patient: PersonFacts) -> None:
    ctx = b.ctx
    hospital = b.staff["hospital"][0]
    stays = sorted(ctx.past_visit(5) for _ in range(ctx.rng.randint(1, 3)))
    for number, when in enumerate(stays):
        doctor = b.pick("doctor")
        stay = clinical.make_encounter(ctx, patient, doctor, hospital, when, inpatient=ctx.chance(0.3))
        b.add("encounters", stay)
        b.add("observations", *clinical.make_vital_signs(ctx, patient, str(stay.id), when, height=number == 0))
        for _ in range(ctx.rng.randint(1, 2)):
            b.add("conditions", clinical.make_condition(ctx, patient, doctor, when, encounter_id=str(stay.id)))


def _staff(b: _Builder, profile: str, patients: int) -> None:
    if profile == "practice":
        centre = b.organisation("practice")
        b.staff["centre"] = [centre]
        b.hire("gp", codes.GP, centre, 2 + patients // 500)
        b.hire("nurse", codes.NURSE, centre, 1 + patients // 1000)
        b.hire("paramedic", codes.PHYSIOTHERAPIST, centre, 1)
        b.hire("paramedic", codes.ORTHOPTIST, centre, 1)
        b.organisation("pharmacy")
        b.organisation("hospital")
    elif profile == "pharmacy":
        b.hire("pharmacist", codes.PHARMACIST, b.organisation("pharmacy"), 2 + patients // 800)
        b.hire("prescriber", codes.GP, b.organisation("practice"), 3)
    elif profile == "compassionate":
        b.organisation("laboratory")
        for _ in range(2):
            hospital = b.organisation("hospital")
            b.hire("doctor", HOSPITAL_DOCTOR, hospital, 2)
            b.hire("pharmacist", codes.PHARMACIST, hospital, 1)
    else:
        hospital = b.organisation("hospital")
        b.staff["hospital"] = [hospital]
        b.hire("doctor", HOSPITAL_DOCTOR, hospital, 3 + patients // 300)


_ACTIVITY = {"practice": _practice, "pharmacy": _pharmacy, "compassionate": _compassionate, "warehouse": _warehouse}


def generate_dataset(
    seed: int, patients: int = 10, profile: Profile | str = "practice", *, reference_date: date = REFERENCE_DATE
) -> SyntheticDataset:
    """Fictitious data for ``profile``; the same ``seed`` (and reference date) gives the same dataset."""
    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}: expected one of {', '.join(PROFILES)}.")
    if patients < 0:
        raise ValueError("The number of patients cannot be negative.")
    b = _Builder(Context(seed, reference_date))
    _staff(b, profile, patients)
    activity = _ACTIVITY[profile]
    for _ in range(patients):
        patient, facts = make_patient(b.ctx, with_ins=profile != "compassionate")
        b.add("patients", patient)
        activity(b, facts)
    return SyntheticDataset(seed, profile, reference_date, **{name: tuple(items) for name, items in b.out.items()})  # type: ignore[arg-type]
