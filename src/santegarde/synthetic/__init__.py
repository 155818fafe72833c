"""Deterministic fictitious French health data for tests and demonstrations (COM-DEV-1).

``generate_dataset(seed, patients, profile)`` returns FHIR R4B resources (fhir.resources) whose
identifiers all validate with :mod:`santegarde.identifiers`; patients' INS are on the test INS
system so that they can never pass for real ones.
"""

from santegarde.synthetic.context import REFERENCE_DATE, Context
from santegarde.synthetic.dataset import BASE_URL, PROFILES, Profile, SyntheticDataset, generate_dataset
from santegarde.synthetic.organisations import make_organisation
from santegarde.synthetic.people import PersonFacts, make_patient, make_practitioner, make_role

__all__ = [
    "BASE_URL",
    "PROFILES",
    "REFERENCE_DATE",
    "Context",
    "PersonFacts",
    "Profile",
    "SyntheticDataset",
    "generate_dataset",
    "make_organisation",
    "make_patient",
    "make_practitioner",
    "make_role",
]
