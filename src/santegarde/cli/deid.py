"""santegarde deid — de-identify French clinical text and measure how well it is done (EDS-SEC-PSE-4)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from santegarde.cli.common import LangOption, friendly_errors
from santegarde.errors import WordedError

if TYPE_CHECKING:
    from santegarde.deid.detector import Detector
    from santegarde.deid.jsonl import Batch

app = typer.Typer(help="De-identification of unstructured documents (EDS-SEC-PSE-4, COM-FREE-1).", no_args_is_help=True)


def _say(lang: str, key: str, **facts: Any) -> str:
    """A line of the deid commands in ``lang`` (documents_text.yaml, ``deid_desk``)."""
    from santegarde.governance import doctext

    return str(doctext.words(lang)["deid_desk"][key]).format(**facts)


def _summary_line(lang: str, noun: str, **facts: Any) -> str:
    from santegarde.governance import doctext

    return str(doctext.words(lang)["deid_desk"]["summary"][noun]).format(**facts)


def _detector(lang: str) -> Detector:
    from santegarde.deid.detector import Detector, DetectorUnavailable

    try:
        return Detector()
    except DetectorUnavailable as exc:
        typer.echo(exc.in_language(lang), err=True)
        raise typer.Exit(2) from None


def _read(path: Path, lang: str) -> Batch:
    from santegarde.deid.jsonl import BadInput, parse, read_lines

    if not path.is_file():
        typer.echo(_say(lang, "not_a_file", path=path), err=True)
        raise typer.Exit(2)
    try:
        batch = parse(read_lines(path))
    except BadInput as exc:
        typer.echo(exc.in_language(lang), err=True)
        raise typer.Exit(2) from None
    for failure in batch.failures:
        typer.echo(failure[lang], err=True)
    return batch


def _summary(done: int, failed: int, noun: str, out: Path, lang: str) -> None:
    """The batch's last line; exit status 1 when an item was refused (the others were written all the same)."""
    typer.echo(_summary_line(lang, noun, done=done, out=out, failed=failed))
    if failed:
        raise typer.Exit(1)


def _each(
    sources: Sequence[Path],
    work: Callable[[int, Path], str],
    refused: type[WordedError],
    noun: str,
    out: Path,
    lang: str,
) -> None:
    """Run ``work`` on each source (its number in the batch, its path → the line to print); a refused item is
    reported by its sentence and the batch carries on with the others."""
    failed = 0
    for number, source in enumerate(sources):
        try:
            line = work(number, source)
        except refused as exc:
            failed += 1
            typer.echo(exc.in_language(lang), err=True)
            continue
        typer.echo(line)
    _summary(len(sources) - failed, failed, noun, out, lang)


@app.command("text")
@friendly_errors
def text(
    source: Annotated[Path, typer.Argument(help="Notes as JSONL (note_id, note_text[, entities])")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the de-identified JSONL")],
    surrogates_key: Annotated[
        Path | None,
        typer.Option(
            "--surrogates-key-file",
            help="Replace names and dates by consistent surrogates under this key (32+ random bytes) instead of tags",
        ),
    ] = None,
    patient_field: Annotated[
        str, typer.Option("--patient-field", help="The field naming each note's patient (surrogates mode)")
    ] = "patient_id",
    lang: LangOption = "fr",
) -> None:
    """Detect identifiers in each note; write the note with the detected entities and note_text_deid."""
    from santegarde.deid.jsonl import deidentify, write
    from santegarde.deid.surrogates import Surrogates
    from santegarde.governance import doctext

    doctext.check_lang(lang)
    surrogates = None
    if surrogates_key is not None:
        key = surrogates_key.read_bytes() if surrogates_key.is_file() else b""
        if len(key) < 32:
            typer.echo(_say(lang, "short_key", path=surrogates_key, n=len(key)), err=True)
            raise typer.Exit(2)
        surrogates = Surrogates(key)
    batch = _read(source, lang)
    rows = deidentify(batch, _detector(lang), surrogates, patient_field)
    write(out, rows)
    typer.echo(_summary_line(lang, "notes", done=len(rows), out=out, failed=len(batch.failures)))


@app.command("eval")
@friendly_errors
def evaluate(
    gold_file: Annotated[Path, typer.Argument(help="Labelled notes (deid-fr JSONL)")],
    predicted: Annotated[
        Path | None, typer.Argument(help="Predictions (the output of deid text); else run now")
    ] = None,
    lang: LangOption = "fr",
) -> None:
    """Per-label and overall recall, precision and F1, exact and overlapping span matching, with counts."""
    from santegarde.deid.evaluate import evaluate as score
    from santegarde.deid.jsonl import deidentify, gold
    from santegarde.governance import doctext

    doctext.check_lang(lang)
    gold_rows = _read(gold_file, lang).rows
    if predicted is None:
        from santegarde.deid.jsonl import Batch

        pred_rows = deidentify(Batch(rows=gold_rows), _detector(lang))
    else:
        pred_rows = _read(predicted, lang).rows
    by_id = {r.get("note_id"): r for r in pred_rows}
    missing = [r.get("note_id") for r in gold_rows if r.get("note_id") not in by_id]
    if missing:
        typer.echo(_say(lang, "no_prediction", n=len(missing), first=missing[0]), err=True)
        raise typer.Exit(2)
    report = score((gold(r), gold(by_id[r.get("note_id")])) for r in gold_rows)
    typer.echo(_say(lang, "notes", n=len(gold_rows)))
    for line in report.lines():
        typer.echo(line)


@app.command("office")
@friendly_errors
def office(
    sources: Annotated[list[Path], typer.Argument(help=".docx, .xlsx, .pptx, .odt or text-layer .pdf documents")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the de-identified documents")],
    lang: LangOption = "fr",
) -> None:
    """Rewrite office documents de-identified (text, properties, pictures, file name); refuse unreadable ones.

    A PDF becomes a de-identified .txt of its text layer (a PDF cannot be rewritten safely in place).
    """
    from santegarde.deid.office import OfficeRefused, deidentify_office
    from santegarde.deid.pdf import deidentify_pdf
    from santegarde.governance import doctext

    doctext.check_lang(lang)
    detector = _detector(lang)

    def one(_: int, source: Path) -> str:
        if source.suffix.lower() == ".pdf":
            pdf = deidentify_pdf(source, out, detector.deidentify)
            return _say(lang, "pdf", source=source.name, target=pdf.target.name, changed=pdf.changed, pages=pdf.pages)
        report = deidentify_office(source, out, detector.deidentify, detector.detect_many)
        line = _say(
            lang, "office", source=source.name, target=report.target.name, changed=report.changed, texts=report.texts
        )
        if report.images or report.images_removed:
            line += _say(
                lang,
                "pictures",
                images=report.images,
                blacked=report.images_blacked,
                removed=report.images_removed,
            )
        return line + "."

    _each(sources, one, OfficeRefused, "documents", out, lang)


@app.command("dicom")
@friendly_errors
def dicom(
    sources: Annotated[list[Path], typer.Argument(help="DICOM files")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the de-identified files")],
    key_file: Annotated[
        Path,
        typer.Option("--key-file", help="A file of at least 32 random bytes: the key UIDs and IDs are mapped under"),
    ],
    ocr_pixels: Annotated[
        bool,
        typer.Option(
            "--ocr-pixels", help="Read every image's pixels by OCR and black out the identifying words burned into them"
        ),
    ] = False,
    lang: LangOption = "fr",
) -> None:
    """De-identify DICOM headers (PS3.15 basic profile), patient IDs as keyed pseudonyms; refuse unreadable files.

    The files are processed on every core and flushed to disk once for the whole batch (each still written
    atomically, never over an existing file). A file whose header says its pixels carry burned-in text is refused
    unless --ocr-pixels is given; with it, every file is read by OCR (Tesseract, French) one after the other.
    """
    from santegarde.deid.dicom import DicomRefused, KeyedPseudonym, deidentify_dicom, deidentify_dicom_batch
    from santegarde.governance import doctext

    doctext.check_lang(lang)
    key = key_file.read_bytes()
    if len(key) < 32:
        typer.echo(_say(lang, "short_key", path=key_file, n=len(key)), err=True)
        raise typer.Exit(2)
    names = [f"{number:06d}.dcm" for number in range(len(sources))]
    if ocr_pixels:
        detector = _detector(lang)

        def one(number: int, source: Path) -> str:
            report = deidentify_dicom(
                source, out, key, KeyedPseudonym(key), name=names[number], find=detector.detect_many
            )
            return _say(lang, "dicom_ocr", source=source.name, target=report.target.name, masked=report.masked)

        _each(sources, one, DicomRefused, "dicom", out, lang)
        return
    batch = deidentify_dicom_batch(sources, out, key, KeyedPseudonym(key), names=names)
    for _, sentences in batch.failures:
        typer.echo(sentences[lang], err=True)
    _summary(len(batch.reports), len(batch.failures), "dicom", out, lang)


@app.command("scan")
@friendly_errors
def scan(
    sources: Annotated[list[Path], typer.Argument(help="Scanned pages or images (PNG, JPEG, TIFF…)")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the de-identified PNG images")],
    lang: LangOption = "fr",
) -> None:
    """Black out the identifying words of scans (Tesseract, French); refuse images that cannot be read."""
    from santegarde.deid.scan import ScanRefused, deidentify_scan
    from santegarde.governance import doctext

    doctext.check_lang(lang)
    detector = _detector(lang)

    def one(number: int, source: Path) -> str:
        report = deidentify_scan(source, out, detector.detect_many, name=f"{number:06d}.png")
        return _say(
            lang, "scan", source=source.name, target=report.target.name, masked=report.masked, words=report.words
        )

    _each(sources, one, ScanRefused, "images", out, lang)
