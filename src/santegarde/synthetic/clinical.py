"""Clinical resources for demonstrations: appointments, encounters, vital signs, conditions,
prescriptions, dispenses and immunisations. No free text anywhere (COM-FREE-1, AAC-7).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.immunization import Immunization
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation

from santegarde.synthetic import codes
from santegarde.synthetic.context import JSON, Context, coding, ref
from santegarde.synthetic.people import PersonFacts

VITAL_SIGNS = coding(codes.OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")


def make_appointment(
    ctx: Context, patient: PersonFacts, practitioner_id: str, start: datetime, *, fulfilled: bool
) -> Appointment:
    minutes = ctx.rng.choice((15, 20, 30))
    return Appointment.model_validate(
        {
            "resourceType": "Appointment",
            "id": ctx.new_id(),
            "status": "fulfilled" if fulfilled else "booked",
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=minutes)).isoformat(),
            "minutesDuration": minutes,
            "created": (start - timedelta(days=ctx.rng.randint(1, 30))).isoformat(),
            "participant": [
                {"actor": ref("Patient", patient.id), "required": "required", "status": "accepted"},
                {"actor": ref("Practitioner", practitioner_id), "required": "required", "status": "accepted"},
            ],
        }
    )


def make_encounter(
    ctx: Context,
    patient: PersonFacts,
    practitioner_id: str,
    organization_id: str,
    start: datetime,
    *,
    appointment_id: str | None = None,
    inpatient: bool = False,
) -> Encounter:
    end = start + (timedelta(days=ctx.rng.randint(1, 12)) if inpatient else timedelta(minutes=20))
    data: JSON = {
        "resourceType": "Encounter",
        "id": ctx.new_id(),
        "status": "finished",
        "class": {
            "system": codes.ACT_CODE,
            "code": "IMP" if inpatient else "AMB",
            "display": "inpatient encounter" if inpatient else "ambulatory",
        },
        "subject": ref("Patient", patient.id),
        "participant": [{"individual": ref("Practitioner", practitioner_id)}],
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "serviceProvider": ref("Organization", organization_id),
    }
    if appointment_id:
        data["appointment"] = [ref("Appointment", appointment_id)]
    return Encounter.model_validate(data)


def _body(ctx: Context, patient: PersonFacts, on: date) -> tuple[float, float]:
    """(height cm, weight kg), plausible for the sex and age."""
    age = max(ctx.age(patient.birth_date) - (ctx.today - on).days // 365, 0)
    if age < 18:
        height = 75 + 6.2 * age + ctx.rng.gauss(0, 4)
        return round(height, 1), round(max(3.5, 2.3 * age + 8 + ctx.rng.gauss(0, 2)), 1)
    height = ctx.rng.gauss(176 if patient.male else 163, 7)
    bmi = min(max(ctx.rng.gauss(25, 4), 17.5), 40)
    return round(height, 1), round(bmi * (height / 100) ** 2, 1)


def _observation(ctx: Context, patient: PersonFacts, encounter_id: str | None, when: datetime, code: JSON) -> JSON:
    data: JSON = {
        "resourceType": "Observation",
        "id": ctx.new_id(),
        "status": "final",
        "category": [VITAL_SIGNS],
        "code": code,
        "subject": ref("Patient", patient.id),
        "effectiveDateTime": when.isoformat(),
    }
    if encounter_id:
        data["encounter"] = ref("Encounter", encounter_id)
    return data


def _quantity(value: float, unit: str) -> JSON:
    return {"value": value, "unit": unit, "system": codes.UCUM, "code": unit}


def make_vital_signs(
    ctx: Context,
    patient: PersonFacts,
    encounter_id: str | None,
    when: datetime,
    *,
    height: bool = True,
    blood_pressure: bool = True,
) -> list[Observation]:
    """Weight, height (LOINC 29463-7, 8302-2) and, for adults, a blood-pressure panel (85354-9)."""
    measured_height, weight = _body(ctx, patient, when.date())
    measures = [(codes.WEIGHT, weight)] + ([(codes.HEIGHT, measured_height)] if height else [])
    out = []
    for (code, display, unit), value in measures:
        data = _observation(ctx, patient, encounter_id, when, coding(codes.LOINC, code, display))
        data["valueQuantity"] = _quantity(value, unit)
        out.append(Observation.model_validate(data))
    if blood_pressure and ctx.age(patient.birth_date) >= 18:
        systolic = ctx.rng.randint(105, 165)
        diastolic = min(ctx.rng.randint(60, 98), systolic - 30)
        data = _observation(ctx, patient, encounter_id, when, coding(codes.LOINC, *codes.BLOOD_PRESSURE))
        data["component"] = [
            {"code": coding(codes.LOINC, *codes.SYSTOLIC), "valueQuantity": _quantity(systolic, "mm[Hg]")},
            {"code": coding(codes.LOINC, *codes.DIASTOLIC), "valueQuantity": _quantity(diastolic, "mm[Hg]")},
        ]
        out.append(Observation.model_validate(data))
    return out


def make_condition(
    ctx: Context,
    patient: PersonFacts,
    recorder_id: str,
    when: datetime,
    *,
    encounter_id: str | None = None,
    choices: tuple[tuple[str, str], ...] = codes.CONDITIONS,
) -> Condition:
    code, display = ctx.rng.choice(choices)
    data: JSON = {
        "resourceType": "Condition",
        "id": ctx.new_id(),
        "clinicalStatus": coding(codes.CONDITION_CLINICAL, "active", "Active"),
        "verificationStatus": coding(codes.CONDITION_VERIFICATION, "confirmed", "Confirmed"),
        "category": [
            coding(codes.CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")
            if encounter_id
            else coding(codes.CONDITION_CATEGORY, "problem-list-item", "Problem List Item")
        ],
        "code": coding(codes.ICD10, code, display),
        "subject": ref("Patient", patient.id),
        "onsetDateTime": (when - timedelta(days=ctx.rng.randint(0, 900))).isoformat(),
        "recordedDate": when.isoformat(),
        "recorder": ref("Practitioner", recorder_id),
    }
    if encounter_id:
        data["encounter"] = ref("Encounter", encounter_id)
    return Condition.model_validate(data)


def make_medication_request(
    ctx: Context,
    patient: PersonFacts,
    requester_id: str,
    when: datetime,
    *,
    encounter_id: str | None = None,
    choices: tuple[tuple[str, str, int], ...] = codes.MEDICATIONS,
    system: str = codes.ATC,
) -> MedicationRequest:
    code, display, per_box = ctx.rng.choice(choices)
    data: JSON = {
        "resourceType": "MedicationRequest",
        "id": ctx.new_id(),
        "status": "active" if (ctx.today - when.date()).days < 90 else "completed",
        "intent": "order",
        "medicationCodeableConcept": coding(system, code, display),
        "subject": ref("Patient", patient.id),
        "authoredOn": when.isoformat(),
        "requester": ref("Practitioner", requester_id),
        "dosageInstruction": [
            {"timing": {"repeat": {"frequency": ctx.rng.randint(1, 3), "period": 1, "periodUnit": "d"}}}
        ],
        "dispenseRequest": {"numberOfRepeatsAllowed": ctx.rng.randint(0, 2), "quantity": {"value": per_box}},
    }
    if encounter_id:
        data["encounter"] = ref("Encounter", encounter_id)
    return MedicationRequest.model_validate(data)


def make_dispense(
    ctx: Context, request: MedicationRequest, patient: PersonFacts, pharmacist_id: str, when: datetime
) -> MedicationDispense:
    """The dispense of a prescription by a pharmacist."""
    medication = request.medicationCodeableConcept
    if medication is None:
        raise ValueError("A synthetic prescription always names its medication by a code.")
    return MedicationDispense.model_validate(
        {
            "resourceType": "MedicationDispense",
            "id": ctx.new_id(),
            "status": "completed",
            "medicationCodeableConcept": medication.model_dump(mode="json", exclude_none=True),
            "subject": ref("Patient", patient.id),
            "performer": [{"actor": ref("Practitioner", pharmacist_id)}],
            "authorizingPrescription": [ref("MedicationRequest", str(request.id))],
            "quantity": {"value": ctx.rng.randint(1, 3)},
            "whenPrepared": when.isoformat(),
            "whenHandedOver": (when + timedelta(minutes=ctx.rng.randint(2, 30))).isoformat(),
        }
    )


def make_immunization(ctx: Context, patient: PersonFacts, performer_id: str, when: datetime) -> Immunization:
    code, display = ctx.rng.choice(codes.VACCINES)
    return Immunization.model_validate(
        {
            "resourceType": "Immunization",
            "id": ctx.new_id(),
            "status": "completed",
            "vaccineCode": coding(codes.CVX, code, display),
            "patient": ref("Patient", patient.id),
            "occurrenceDateTime": when.isoformat(),
            "primarySource": True,
            "lotNumber": f"LOT{ctx.digits(6)}",
            "performer": [{"actor": ref("Practitioner", performer_id)}],
        }
    )
