"""DICOM headers (EDS-SEC-PSE-4) after the PS3.15 Basic Application Level Confidentiality Profile, with pydicom.

Actions of the basic profile (PS3.15 table E.1-1), for the attributes a warehouse meets: Z (emptied), X
(removed), U (UIDs re-mapped consistently under the warehouse key: the same UID gives the same new UID in every
file, so studies and series stay linked), and the patient ID replaced by the warehouse pseudonym. Every private
tag is removed; every remaining person name (VR PN), wherever it is, is emptied; sequences are walked. The
pixel data are left as they are; an image whose header says its pixels carry burned-in text
(BurnedInAnnotation YES) is refused, since the text in the pixels is not removed here. A file that pydicom
cannot read is refused with a sentence, never copied through.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from santegarde.atomic import write_new_bytes
from santegarde.errors import SantegardeError

# PS3.15 E.1-1, basic profile: Z = zero-length, X = removed, D = dummy value (emptied here, as Z).
EMPTIED = (
    "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "ReferringPhysicianName", "StudyID",
    "StudyDate", "StudyTime", "ContentDate", "ContentTime", "ContentCreatorName",
)  # fmt: skip
REMOVED = (
    "InstitutionName", "InstitutionAddress", "InstitutionCodeSequence", "InstitutionalDepartmentName",
    "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers", "ReferringPhysicianIdentificationSequence",
    "StationName", "StudyDescription", "SeriesDescription", "PhysiciansOfRecord", "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy", "OperatorsName", "AdmittingDiagnosesDescription", "DerivationDescription",
    "PatientBirthTime", "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames", "PatientBirthName",
    "PatientAge", "PatientSize", "PatientWeight", "PatientAddress", "PatientMotherBirthName",
    "PatientTelephoneNumbers", "MedicalRecordLocator", "EthnicGroup", "Occupation", "AdditionalPatientHistory",
    "PatientComments", "DeviceSerialNumber", "ProtocolName", "RequestingPhysician", "RequestingService",
    "ImageComments", "SeriesDate", "AcquisitionDate", "SeriesTime", "AcquisitionTime", "AcquisitionDateTime",
    "IssuerOfPatientID", "MilitaryRank", "BranchOfService", "CountryOfResidence", "RegionOfResidence",
    "ReferencedPatientSequence", "RequestAttributesSequence", "PerformedProcedureStepDescription",
    "PerformedProcedureStepID", "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
    "ScheduledPerformingPhysicianName", "PatientState", "ResponsiblePerson", "ResponsibleOrganization",
    "PatientInsurancePlanCodeSequence", "InsurancePlanIdentification", "AdmissionID", "IssuerOfAdmissionID",
    "CurrentPatientLocation", "PatientInstitutionResidence", "StudyComments", "InterpretationAuthor",
    "TextComments", "PersonName", "VerifyingObserverName", "PersonAddress", "PersonTelephoneNumbers",
)  # fmt: skip
REMAPPED_UIDS = (
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID", "ReferencedSOPInstanceUID",
    "MediaStorageSOPInstanceUID", "SynchronizationFrameOfReferenceUID", "IrradiationEventUID",
    "ReferencedFrameOfReferenceUID", "RelatedFrameOfReferenceUID", "ConcatenationUID", "DimensionOrganizationUID",
    "StorageMediaFileSetUID", "TargetUID", "TransactionUID",
)  # fmt: skip
METHOD = "santegarde, PS3.15 basic confidentiality profile"  # LO: at most 64 characters


class DicomRefused(SantegardeError):
    """A DICOM file that cannot be de-identified; the message says why."""


@dataclass(frozen=True)
class DicomReport:
    target: Path
    removed: int  # attributes removed, private tags included
    emptied: int
    remapped: int  # UIDs


def remap_uid(uid: str, key: bytes) -> str:
    """A new UID for ``uid`` under ``key`` (PS3.5 "2.25." + a 128-bit integer), the same every time."""
    digest = hmac.new(key, uid.encode("ascii", "replace"), hashlib.sha256).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def _walk(dataset: Any, key: bytes, counts: dict[str, int]) -> None:
    for name in REMOVED:
        if name in dataset:
            delattr(dataset, name)
            counts["removed"] += 1
    for name in EMPTIED:
        if name in dataset:
            dataset.data_element(name).value = ""
            counts["emptied"] += 1
    for name in REMAPPED_UIDS:
        if name in dataset and dataset.data_element(name).value:
            element = dataset.data_element(name)
            values = element.value if element.VM > 1 else [element.value]
            new = [remap_uid(str(v), key) for v in values]
            element.value = new if element.VM > 1 else new[0]
            counts["remapped"] += len(new)
    for element in list(dataset):
        if element.VR == "PN" and element.value:
            element.value = ""
            counts["emptied"] += 1
        elif element.VR == "SQ":
            for item in element.value:
                _walk(item, key, counts)


def deidentify_dicom(
    source: Path, out_dir: Path, key: bytes, patient_pseudonym: Callable[[str], str], *, name: str | None = None
) -> DicomReport:
    """Write ``source`` de-identified into ``out_dir`` (as ``name``, else its remapped SOP Instance UID + .dcm)."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import UID

    try:
        dataset = pydicom.dcmread(source)
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError) as exc:
        raise DicomRefused(
            f"{source.name} cannot be read as DICOM ({type(exc).__name__}); it was not de-identified."
        ) from None
    if str(dataset.get("BurnedInAnnotation", "")).upper() == "YES":
        raise DicomRefused(
            f"{source.name} says its pixels carry burned-in text (BurnedInAnnotation YES): its header could be "
            "cleaned but not its pixels, so it was refused."
        )
    counts = {"removed": 0, "emptied": 0, "remapped": 0}
    private = sum(1 for element in dataset.iterall() if element.tag.is_private)
    dataset.remove_private_tags()
    counts["removed"] += private
    original_id = str(dataset.get("PatientID", ""))
    _walk(dataset, key, counts)
    if hasattr(dataset, "file_meta") and "MediaStorageSOPInstanceUID" in dataset.file_meta:
        meta = dataset.file_meta
        meta.MediaStorageSOPInstanceUID = UID(remap_uid(str(meta.MediaStorageSOPInstanceUID), key))
    dataset.PatientID = patient_pseudonym(original_id) if original_id else ""
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = METHOD
    out = io.BytesIO()
    dataset.save_as(out, enforce_file_format=hasattr(dataset, "file_meta") and bool(dataset.file_meta))
    target = out_dir / (name or f"{dataset.get('SOPInstanceUID', 'image')}.dcm")
    write_new_bytes(target, out.getvalue())
    return DicomReport(target, counts["removed"], counts["emptied"], counts["remapped"])
