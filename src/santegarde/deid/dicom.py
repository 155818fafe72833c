"""DICOM headers (EDS-SEC-PSE-4) after the PS3.15 Basic Application Level Confidentiality Profile, with pydicom.

Actions of the basic profile (PS3.15 table E.1-1), for the attributes a warehouse meets: Z (emptied), X
(removed), U (UIDs re-mapped consistently under the warehouse key: the same UID gives the same new UID in every
file, so studies and series stay linked), and the patient ID replaced by the warehouse pseudonym. Every private
tag is removed; every remaining person name (VR PN), wherever it is, is emptied; sequences are walked (only the
elements acted on are decoded). The pixel data are left as they are; an image whose header says its pixels carry
burned-in text (BurnedInAnnotation YES) is refused, since the text in the pixels is not removed here.
A file that pydicom cannot read is refused with a sentence, never copied through.
"""

from __future__ import annotations

import ctypes
import hashlib
import hmac
import io
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from santegarde.atomic import AlreadyExists, write_new_bytes
from santegarde.errors import SantegardeError
from santegarde.private import PRIVATE_FILE, missing_parents

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


_TAGS: tuple[frozenset[int], ...] = ()


def _load_tags() -> tuple[frozenset[int], ...]:
    global _TAGS  # the keyword → tag look-ups, once per process
    _TAGS = (_tags(REMOVED), _tags(EMPTIED), _tags(REMAPPED_UIDS))
    return _TAGS


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


def _tags(names: tuple[str, ...]) -> frozenset[int]:
    from pydicom.datadict import tag_for_keyword

    return frozenset(t for t in map(tag_for_keyword, names) if t is not None)


def _walk(dataset: Any, key: bytes, counts: dict[str, int], tags: tuple[frozenset[int], ...]) -> None:
    """Apply the profile to ``dataset`` and its sequences; tags are compared as numbers, and only the elements
    acted on (or whose VR says person name or sequence) are decoded."""
    from pydicom.datadict import dictionary_VR

    removed, emptied, remapped = tags
    for tag in list(dataset.keys()):
        number = int(tag)
        if number in removed or tag.is_private:
            del dataset[tag]
            counts["removed"] += 1
            continue
        raw = dataset.get_item(tag)
        vr = getattr(raw, "VR", None)
        if vr is None or vr == "UN":
            try:
                vr = dictionary_VR(tag)
            except KeyError:
                vr = ""
        if number in emptied or vr == "PN":
            element = dataset[tag]
            if element.value:
                element.value = ""
                counts["emptied"] += 1
        elif number in remapped:
            element = dataset[tag]
            if element.value:
                values = element.value if element.VM > 1 else [element.value]
                new = [remap_uid(str(v), key) for v in values]
                element.value = new if element.VM > 1 else new[0]
                counts["remapped"] += len(new)
        elif vr == "SQ":
            for item in dataset[tag].value:
                _walk(item, key, counts, tags)


def _deidentified_bytes(
    source: Path, key: bytes, patient_pseudonym: Callable[[str], str]
) -> tuple[bytes, str, dict[str, int]]:
    """The de-identified bytes, the remapped SOP Instance UID and the counts; `DicomRefused` if unreadable."""
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
    original_id = str(dataset.get("PatientID", ""))
    _walk(dataset, key, counts, _TAGS or _load_tags())
    if hasattr(dataset, "file_meta") and "MediaStorageSOPInstanceUID" in dataset.file_meta:
        meta = dataset.file_meta
        meta.MediaStorageSOPInstanceUID = UID(remap_uid(str(meta.MediaStorageSOPInstanceUID), key))
    dataset.PatientID = patient_pseudonym(original_id) if original_id else ""
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = METHOD
    out = io.BytesIO()
    dataset.save_as(out, enforce_file_format=hasattr(dataset, "file_meta") and bool(dataset.file_meta))
    return out.getvalue(), str(dataset.get("SOPInstanceUID", "image")), counts


def deidentify_dicom(
    source: Path, out_dir: Path, key: bytes, patient_pseudonym: Callable[[str], str], *, name: str | None = None
) -> DicomReport:
    """Write ``source`` de-identified into ``out_dir`` (as ``name``, else its remapped SOP Instance UID + .dcm)."""
    data, sop, counts = _deidentified_bytes(source, key, patient_pseudonym)
    target = out_dir / (name or f"{sop}.dcm")
    write_new_bytes(target, data)
    return DicomReport(target, counts["removed"], counts["emptied"], counts["remapped"])


class KeyedPseudonym:
    """The warehouse pseudonym of a patient ID under a key (picklable, for the worker processes of a batch)."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def __call__(self, patient_id: str) -> str:
        return "P-" + hmac.new(self.key, b"patient|" + patient_id.encode(), hashlib.sha256).hexdigest()[:24]


def _chunk(args: tuple[list[Path], bytes, Callable[[str], str]]) -> list[tuple[bytes, str, dict[str, int]] | str]:
    sources, key, pseudonym = args
    out: list[tuple[bytes, str, dict[str, int]] | str] = []
    for source in sources:
        try:
            out.append(_deidentified_bytes(source, key, pseudonym))
        except DicomRefused as exc:
            out.append(str(exc))
    return out


def _sync_directory_files(folder: Path, temps: list[Path]) -> None:
    """Make the written temporary files durable: one ``syncfs`` of their file system on Linux, else an fsync each."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
        if libc is not None and hasattr(libc, "syncfs") and libc.syncfs(fd) == 0:
            return
    finally:
        os.close(fd)
    for temp in temps:
        with temp.open("rb+") as handle:
            os.fsync(handle.fileno())


@dataclass(frozen=True)
class DicomBatch:
    reports: list[DicomReport]
    failures: list[tuple[int, str]]  # (index in the batch, the sentence saying why it was refused)


def deidentify_dicom_batch(
    sources: Sequence[Path],
    out_dir: Path,
    key: bytes,
    patient_pseudonym: Callable[[str], str],
    *,
    names: Sequence[str] | None = None,
    workers: int | None = None,
) -> DicomBatch:
    """De-identify many files on ``workers`` processes (default: every core) with one flush to disk for the batch.

    Each file is still written atomically and never over an existing one: every result goes to a temporary file,
    the temporary files are made durable together (one ``syncfs``, where a single file would take one fsync each),
    then each is linked under its final name and the directory synced. A refused file is reported by its index and
    the others carry on. ``patient_pseudonym`` must be picklable when ``workers`` > 1 (`KeyedPseudonym` is).
    """
    paths = list(sources)
    workers = max(1, min(workers or os.cpu_count() or 1, len(paths) or 1))
    chunks = [paths[i::workers] for i in range(workers)]
    if workers == 1:
        done = [_chunk((chunks[0], key, patient_pseudonym))] if paths else []
    else:
        with ProcessPoolExecutor(workers) as pool:
            done = list(pool.map(_chunk, [(chunk, key, patient_pseudonym) for chunk in chunks]))
    results: list[tuple[bytes, str, dict[str, int]] | str] = [""] * len(paths)
    for i, chunk_results in enumerate(done):
        for j, result in enumerate(chunk_results):
            results[i + j * workers] = result
    missing_parents(out_dir / "x")  # creates out_dir owner-only if it is missing
    reports: list[DicomReport] = []
    failures: list[tuple[int, str]] = []
    temps: list[tuple[int, Path, Path, dict[str, int]]] = []
    try:
        for index, result in enumerate(results):
            if isinstance(result, str):
                failures.append((index, result))
                continue
            data, sop, counts = result
            target = out_dir / (names[index] if names is not None else f"{sop}.dcm")
            fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{target.name}.", suffix=".tmp")
            temps.append((index, Path(tmp), target, counts))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, PRIVATE_FILE)
        _sync_directory_files(out_dir, [t[1] for t in temps])
        for index, tmp_path, target, counts in temps:
            try:
                os.link(tmp_path, target)  # never over an existing file, unlike a rename
            except FileExistsError:
                failures.append((index, str(AlreadyExists(target))))
                continue
            reports.append(DicomReport(target, counts["removed"], counts["emptied"], counts["remapped"]))
    finally:
        for _, tmp_path, _, _ in temps:
            tmp_path.unlink(missing_ok=True)
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        os.fsync(fd)  # the new names themselves
    finally:
        os.close(fd)
    failures.sort()
    return DicomBatch(reports, failures)
