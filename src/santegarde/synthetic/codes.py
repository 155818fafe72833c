"""Terminology used by the synthetic data: code systems and the small value sets drawn from."""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
CVX = "http://hl7.org/fhir/sid/cvx"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
PROFESSION = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
SPECIALTY = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
ESTABLISHMENT_CATEGORY = (
    "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement"
)
LOCAL_PATIENT_CODE = "urn:santegarde:synthetic:aac-patient-code"  # compassionate access: indirect identity

WEIGHT = ("29463-7", "Body weight", "kg")
HEIGHT = ("8302-2", "Body height", "cm")
BLOOD_PRESSURE = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = ("8480-6", "Systolic blood pressure")
DIASTOLIC = ("8462-4", "Diastolic blood pressure")


@dataclass(frozen=True, slots=True)
class Profession:
    code: str  # TRE_G15, also the profession field of an ADELI number
    display: str
    title: str | None = None
    specialty: tuple[str, str] | None = None
    adeli_share: float = 0.0  # share of these professionals still identified by ADELI rather than RPPS


GP = Profession("10", "Médecin", "Dr", ("SM54", "Médecine générale"))
PHARMACIST = Profession("21", "Pharmacien", "Dr")
NURSE = Profession("60", "Infirmier", adeli_share=0.3)
PHYSIOTHERAPIST = Profession("70", "Masseur-Kinésithérapeute", adeli_share=0.3)
ORTHOPTIST = Profession("92", "Orthoptiste", adeli_share=1.0)

# (ICD-10 code, display)
CONDITIONS = (
    ("I10", "Hypertension essentielle (primitive)"),
    ("E11.9", "Diabète sucré de type 2, sans complication"),
    ("E78.0", "Hypercholestérolémie essentielle"),
    ("J45.9", "Asthme, sans précision"),
    ("M54.5", "Lombalgie basse"),
    ("J06.9", "Infection aiguë des voies respiratoires supérieures, sans précision"),
    ("F41.1", "Anxiété généralisée"),
    ("K21.9", "Reflux gastro-œsophagien sans œsophagite"),
)
# (ATC code, display, units per box)
MEDICATIONS = (
    ("N02BE01", "paracétamol", 8),
    ("C09AA05", "ramipril", 30),
    ("A10BA02", "metformine", 30),
    ("C10AA05", "atorvastatine", 30),
    ("R03AC02", "salbutamol", 1),
    ("J01CA04", "amoxicilline", 12),
    ("A02BC01", "oméprazole", 28),
)
# Compassionate-access medicines are fictitious: no real product is named.
LOCAL_MEDICATION = "urn:santegarde:synthetic:medication"
AAC_MEDICATIONS = (("AAC-A", "médicament sous AAC (fictif) A", 30), ("AAC-B", "médicament sous AAC (fictif) B", 28))
AAC_INDICATIONS = (
    ("C91.1", "Leucémie lymphoïde chronique à cellules B"),
    ("G12.1", "Autres amyotrophies spinales héréditaires"),
)
# (CVX code, display)
VACCINES = (("140", "Influenza, seasonal, injectable, preservative free"), ("115", "Tdap"), ("208", "COVID-19, mRNA"))
