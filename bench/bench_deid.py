"""French clinical text de-identification: quality and speed on deid-fr's dev split, Presidio side by side.

Run: ``python bench/bench_deid.py [--data ../shared/data/deid-fr/public_small_dev_data.jsonl] [--repeat 20]``.

1. Quality: santegarde's `Detector` on every note of the file; recall, precision and F1 per label and overall,
   overlapping and exact span matching (the report of ``santegarde deid eval``).
2. Speed: notes per second of ``Detector.detect_many`` over the file repeated ``--repeat`` times, in one process
   and in one process per core (the model loaded once per process, not timed).
3. DICOM: ``--dicom`` generated CT files (64×64 pixels, a patient/study header and a private tag) de-identified by
   one by one by `deidentify_dicom` (an fsync per file), then as one batch by `deidentify_dicom_batch` (every core,
   one flush for the batch), files per second (reading, rewriting and the atomic writes timed, generating not),
   against the baseline of pydicom reading and writing the same files unchanged in memory, in the same run.
4. Presidio (``presidio-analyzer``, installed by the ``dev`` extra for this comparison only; santegarde never
   imports it): an `AnalyzerEngine` on the same spaCy model (fr_core_news_sm) with the recognisers
   Presidio offers for French, as a user would configure it; its entity types are mapped to deid-fr labels
   (PERSON → NOM, LOCATION → VILLE, DATE_TIME → DATE, PHONE_NUMBER → TEL, EMAIL_ADDRESS → MAIL, FR_NIR → SECU…),
   so compare it on the "any label" lines. Its public-suffix list is the bundled snapshot (nothing downloaded).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from santegarde.deid.detector import Detector
from santegarde.deid.entities import Entity
from santegarde.deid.evaluate import evaluate

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "deid-fr" / "public_small_dev_data.jsonl"
PRESIDIO_LABELS = {
    "PERSON": "NOM",
    "LOCATION": "VILLE",
    "DATE_TIME": "DATE",
    "PHONE_NUMBER": "TEL",
    "EMAIL_ADDRESS": "MAIL",
    "FR_NIR": "SECU",
    "NRP": "NOM",
    "ORGANIZATION": "HOPITAL",
}
_WORKER: Detector | None = None


def _work(texts: list[str]) -> int:
    global _WORKER  # one detector per worker process
    if _WORKER is None:
        _WORKER = Detector()
    return sum(len(found) for found in _WORKER.detect_many(texts))


def _warm(_: int) -> int:
    return _work(["Mme Dupont, née le 3 mars 1950."])


def presidio(texts: list[str]) -> tuple[list[list[Entity]], float] | None:
    try:
        import tldextract
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider
    except ImportError:
        return None
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "fr", "model_name": "fr_core_news_sm"}]}
    nlp_engine = NlpEngineProvider(nlp_configuration=config).create_engine()
    registry = RecognizerRegistry(supported_languages=["fr"])
    registry.load_predefined_recognizers(languages=["fr"], nlp_engine=nlp_engine)
    analyzer = AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=["fr"])
    analyzer.analyze("Mme Dupont", language="fr")
    start = time.perf_counter()
    out = []
    for text in texts:
        found = analyzer.analyze(text, language="fr")
        out.append([Entity(r.start, r.end, PRESIDIO_LABELS.get(r.entity_type, r.entity_type)) for r in found])
    return out, time.perf_counter() - start


def bench_dicom(count: int) -> tuple[float, float, float]:
    """Files per second: one by one, as one batch, and the baseline (pydicom reading and writing each file in
    memory, nothing changed, one process), measured in the same run."""
    import io
    import tempfile

    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    from santegarde.deid.dicom import KeyedPseudonym, deidentify_dicom, deidentify_dicom_batch

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for number in range(count):
            sop = f"1.2.250.1.59.2.{number}"
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, sop
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
            ds.StudyInstanceUID, ds.SeriesInstanceUID = (
                f"1.2.250.1.59.{number // 100}",
                f"1.2.250.1.59.9.{number // 10}",
            )
            ds.PatientName, ds.PatientID, ds.PatientBirthDate = f"PATIENT^{number}", f"IPP{number:08d}", "19540312"
            ds.InstitutionName, ds.ReferringPhysicianName, ds.StudyDate = "Hopital fictif", "DOCTEUR^FICTIF", "20240103"
            ds.Modality, ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = "CT", 64, 64, 16, 16, 15
            ds.PixelRepresentation, ds.SamplesPerPixel, ds.PhotometricInterpretation = 0, 1, "MONOCHROME2"
            ds.add_new(0x00091010, "LO", "private")
            ds.PixelData = bytes(64 * 64 * 2)
            ds.save_as(root / f"{number}.dcm", enforce_file_format=True)
        key = b"k" * 32
        start = time.perf_counter()
        for number in range(count):
            pydicom.dcmread(root / f"{number}.dcm").save_as(io.BytesIO(), enforce_file_format=True)
        baseline = count / (time.perf_counter() - start)
        start = time.perf_counter()
        for number in range(count):
            deidentify_dicom(root / f"{number}.dcm", root / "one", key, KeyedPseudonym(key), name=f"{number}.dcm")
        one = count / (time.perf_counter() - start)
        start = time.perf_counter()
        sources = [root / f"{number}.dcm" for number in range(count)]
        batch = deidentify_dicom_batch(sources, root / "batch", key, KeyedPseudonym(key))
        assert not batch.failures and len(batch.reports) == count
        return one, count / (time.perf_counter() - start), baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--dicom", type=int, default=1000)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [r["note_text"] for r in rows]
    gold = [[Entity(e["start"], e["end"], e["label"]) for e in r["entities"]] for r in rows]
    mean = sum(map(len, texts)) / len(texts)
    print(f"{args.data.name}: {len(rows)} notes, {mean:.0f} characters on average, {sum(map(len, gold))} spans")

    start = time.perf_counter()
    detector = Detector()
    print(f"santegarde Detector loaded in {time.perf_counter() - start:.1f} s")
    predicted = list(detector.detect_many(texts))
    print("\n## santegarde")
    print("\n".join(evaluate(zip(gold, predicted, strict=True)).lines()))

    batch = texts * args.repeat
    start = time.perf_counter()
    for _ in detector.detect_many(batch):
        pass
    one = len(batch) / (time.perf_counter() - start)
    cores = os.cpu_count() or 1
    chunks = [batch[i::cores] for i in range(cores)]
    with ProcessPoolExecutor(cores) as pool:
        list(pool.map(_warm, range(cores)))
        start = time.perf_counter()
        list(pool.map(_work, chunks))
        many = len(batch) / (time.perf_counter() - start)
    print(f"\nspeed: {one:.0f} notes/s in one process, {many:.0f} notes/s on {cores} processes ({len(batch)} notes)")

    if args.dicom:
        one, many, baseline = bench_dicom(args.dicom)
        print(
            f"\nDICOM: {one:.0f} files/s one by one (an fsync each), {many:.0f} files/s as one batch "
            f"(every core, one flush) ({args.dicom} files); baseline, pydicom reading and writing each file in "
            f"memory unchanged: {baseline:.0f} files/s (batch/baseline {many / baseline:.2f})"
        )

    # Presidio runs in a fresh process: spaCy's factories must not see the edsnlp pipeline registered here.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = pool.submit(presidio, texts).result()
    if result is None:
        print("\nPresidio: presidio-analyzer is not installed; scripts/bootstrap dev installs it.")
        return
    found, seconds = result
    print("\n## Presidio (presidio-analyzer, fr_core_news_sm)")
    print("\n".join(evaluate(zip(gold, found, strict=True)).lines()))
    print(f"\nPresidio speed: {len(texts) / seconds:.0f} notes/s in one process")


if __name__ == "__main__":
    main()
