"""DICOM headers (EDS-SEC-PSE-4) after the PS3.15 Basic Application Level Confidentiality Profile, with pydicom.

Actions of the basic profile (PS3.15 table E.1-1), for the attributes a warehouse meets: Z (emptied), X
(removed), U (UIDs re-mapped consistently under the warehouse key: the same UID gives the same new UID in every
file, so studies and series stay linked), and the patient ID replaced by the warehouse pseudonym. Every private
tag is removed; every remaining person name (VR PN), wherever it is, is emptied; sequences are walked (only the
elements acted on are decoded); overlays (60xx,3000) and their comments, which draw text over the image, are
removed. Text burned into the pixels: given an OCR finder (`santegarde.deid.scan`, ``--ocr-pixels`` in the CLI),
every frame is read by Tesseract and the boxes of its identifying words set to black in the pixel data itself
(uncompressed MONOCHROME1/2 or RGB); the pixel data are left byte for byte when nothing identifying is read. Without
a finder, an image whose header says its pixels carry burned-in text (BurnedInAnnotation YES) is refused.
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
from santegarde.deid.refusal import DeidRefused
from santegarde.deid.scan import EntityFinder
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


# What a file of a batch becomes: its bytes, SOP Instance UID and counts, or why it was refused (in each language).
Result = tuple[bytes, str, dict[str, int]] | dict[str, str]


class DicomRefused(DeidRefused):
    """A DICOM file that cannot be de-identified; the sentence says why."""


@dataclass(frozen=True)
class DicomReport:
    target: Path
    removed: int  # attributes removed, private tags included
    emptied: int
    remapped: int  # UIDs
    masked: int = 0  # words blacked out in the pixels


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
        overlay = 0x6000 <= number >> 16 <= 0x60FF and number & 0xFFFF in (0x3000, 0x4000)  # overlay data, comments
        if number in removed or tag.is_private or overlay:
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


def _mask_pixels(dataset: Any, find: EntityFinder, name: str) -> int:
    """Black out the identifying words burned into every frame; the pixel data are rewritten only if some were."""
    import numpy as np
    from PIL import Image

    from santegarde.deid.scan import identifying_boxes

    syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and syntax.is_compressed:
        raise DicomRefused("dicom_compressed", name=name, syntax=syntax.name)
    photometric = str(dataset.get("PhotometricInterpretation", ""))
    if photometric not in ("MONOCHROME1", "MONOCHROME2", "RGB") or int(dataset.get("BitsAllocated", 0)) < 8:
        raise DicomRefused(
            "dicom_pixels", name=name, photometric=photometric or "?", bits=dataset.get("BitsAllocated", "?")
        )
    try:
        pixels = dataset.pixel_array
    except Exception as exc:  # pydicom raises several kinds on damaged pixel data
        raise DicomRefused("dicom_pixel_data", name=name, kind=type(exc).__name__) from None
    colour = photometric == "RGB"
    frames = pixels.copy() if int(dataset.get("NumberOfFrames", 1) or 1) > 1 else pixels.copy()[np.newaxis]
    black = 0 if colour else (frames.max() if photometric == "MONOCHROME1" else frames.min())
    masked = 0
    for frame in frames:
        if colour:
            image = Image.fromarray(frame.astype(np.uint8), "RGB")
        else:
            grey = frame.astype(np.float64)
            low, high = float(grey.min()), float(grey.max())
            grey = (grey - low) / ((high - low) or 1.0) * 255.0
            if photometric == "MONOCHROME1":
                grey = 255.0 - grey
            image = Image.fromarray(grey.astype(np.uint8), "L").convert("RGB")
        _, boxes, _ = identifying_boxes(image, find)
        for left, top, right, bottom in boxes:
            frame[max(0, top) : bottom + 1, max(0, left) : right + 1] = black
        masked += len(boxes)
    if masked:
        dataset.PixelData = frames.astype(pixels.dtype).tobytes()
        if colour:
            dataset.PlanarConfiguration = 0  # pixel_array gives the samples interleaved
    return masked


def _deidentified_bytes(
    source: Path, key: bytes, patient_pseudonym: Callable[[str], str], find: EntityFinder | None = None
) -> tuple[bytes, str, dict[str, int]]:
    """The de-identified bytes, the remapped SOP Instance UID and the counts; `DicomRefused` if unreadable."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import UID

    try:
        dataset = pydicom.dcmread(source)
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError) as exc:
        raise DicomRefused("dicom_unreadable", name=source.name, kind=type(exc).__name__) from None
    if find is None and str(dataset.get("BurnedInAnnotation", "")).upper() == "YES":
        raise DicomRefused("dicom_burned_in", name=source.name)
    counts = {"removed": 0, "emptied": 0, "remapped": 0, "masked": 0}
    if find is not None and "PixelData" in dataset:
        counts["masked"] = _mask_pixels(dataset, find, source.name)
    original_id = str(dataset.get("PatientID", ""))
    _walk(dataset, key, counts, _TAGS or _load_tags())
    if hasattr(dataset, "file_meta") and "MediaStorageSOPInstanceUID" in dataset.file_meta:
        meta = dataset.file_meta
        meta.MediaStorageSOPInstanceUID = UID(remap_uid(str(meta.MediaStorageSOPInstanceUID), key))
    dataset.PatientID = patient_pseudonym(original_id) if original_id else ""
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = METHOD
    return _encoded(dataset), str(dataset.get("SOPInstanceUID", "image")), counts


def _encoded(dataset: Any) -> bytes:
    """The file's bytes. For the little-endian, not deflated transfer syntaxes (nearly every file), the preamble, the
    file meta group and the data set are written directly: pydicom's ``save_as`` would first deep-copy and validate
    the file meta group again, a third of the writing time; the bytes are the same."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info

    meta = getattr(dataset, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta else None
    if meta is None or syntax is None or syntax.is_deflated or not syntax.is_little_endian:
        out = io.BytesIO()
        dataset.save_as(out, enforce_file_format=bool(meta))
        return out.getvalue()
    for kept, source in (("MediaStorageSOPClassUID", "SOPClassUID"), ("MediaStorageSOPInstanceUID", "SOPInstanceUID")):
        if dataset.get(source):  # as save_as does: the file meta group follows the data set
            setattr(meta, kept, dataset.get(source))
    fp = DicomBytesIO()
    fp.write(dataset.preamble or b"\x00" * 128)
    fp.write(b"DICM")
    write_file_meta_info(fp, meta, enforce_standard=True)
    fp.is_little_endian, fp.is_implicit_VR = True, syntax.is_implicit_VR
    write_dataset(fp, dataset)
    return bytes(fp.getvalue())


def deidentify_dicom(
    source: Path,
    out_dir: Path,
    key: bytes,
    patient_pseudonym: Callable[[str], str],
    *,
    name: str | None = None,
    find: EntityFinder | None = None,
) -> DicomReport:
    """Write ``source`` de-identified into ``out_dir`` (as ``name``, else its remapped SOP Instance UID + .dcm).

    ``find`` (e.g. `Detector.detect_many`) has the pixels read by OCR and their identifying words blacked out.
    """
    data, sop, counts = _deidentified_bytes(source, key, patient_pseudonym, find)
    target = out_dir / (name or f"{sop}.dcm")
    write_new_bytes(target, data)
    return DicomReport(target, counts["removed"], counts["emptied"], counts["remapped"], counts["masked"])


class KeyedPseudonym:
    """The warehouse pseudonym of a patient ID under a key (picklable, for the worker processes of a batch)."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def __call__(self, patient_id: str) -> str:
        return "P-" + hmac.new(self.key, b"patient|" + patient_id.encode(), hashlib.sha256).hexdigest()[:24]


def _chunk(args: tuple[list[Path], bytes, Callable[[str], str]]) -> list[Result]:
    sources, key, pseudonym = args
    out: list[Result] = []
    for source in sources:
        try:
            out.append(_deidentified_bytes(source, key, pseudonym))
        except DicomRefused as exc:
            out.append(exc.sentences)
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
    failures: list[tuple[int, dict[str, str]]]  # (index in the batch, why it was refused, in each language)


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
    results: list[Result] = [{}] * len(paths)
    for i, chunk_results in enumerate(done):
        for j, result in enumerate(chunk_results):
            results[i + j * workers] = result
    missing_parents(out_dir / "x")  # creates out_dir owner-only if it is missing
    reports: list[DicomReport] = []
    failures: list[tuple[int, dict[str, str]]] = []
    temps: list[tuple[int, Path, Path, dict[str, int]]] = []
    try:
        for index, result in enumerate(results):
            if isinstance(result, dict):
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
                failures.append((index, AlreadyExists(target).sentences))
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
    failures.sort(key=lambda failure: failure[0])
    return DicomBatch(reports, failures)
