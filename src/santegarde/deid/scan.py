"""Scans and images with text in their pixels (EDS-SEC-PSE-4): OCR, detection, identifiers blacked out.

The same masking serves the pictures embedded in office documents (`mask_image_bytes`) and the pixels of
DICOM images (`identifying_boxes`, see `santegarde.deid.dicom`).

Tesseract's French model (Debian's ``tesseract-ocr-fra``, installed by ``scripts/bootstrap``) reads the words and
their boxes (``tesseract IMAGE stdout -l fra tsv``); the words are put back into lines of text, the text detector
finds the identifying spans, and every word that touches one is painted black in the pixels. The result is
written as a new PNG (metadata not carried over). An image that cannot be read is refused with a sentence; an
image without text gives an unchanged picture and an empty result.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from santegarde.atomic import write_new_bytes
from santegarde.deid.entities import Entity
from santegarde.deid.refusal import DeidRefused

if TYPE_CHECKING:
    from PIL import Image

EntityFinder = Callable[[list[str]], Iterable[list[Entity]]]  # e.g. Detector.detect_many
Box = tuple[int, int, int, int]  # left, top, right, bottom (inclusive), in pixels
MARGIN = 3  # pixels painted around each word's box, at least (a sixth of its height if more)


class ScanRefused(DeidRefused):
    """An image that cannot be de-identified; the sentence says why."""


@dataclass(frozen=True)
class Word:
    text: str
    box: tuple[int, int, int, int]  # left, top, right, bottom
    line: tuple[int, int, int, int]  # page, block, paragraph, line


@dataclass(frozen=True)
class ScanReport:
    target: Path
    words: int
    masked: int
    labels: tuple[str, ...]


def ocr(image_png: bytes) -> list[Word]:
    """The words Tesseract (French) reads in a PNG, with their boxes."""
    tesseract = shutil.which("tesseract")
    if tesseract is None:
        raise ScanRefused("no_tesseract")
    done = subprocess.run(  # noqa: S603 - a fixed program and arguments; the image goes through stdin
        [tesseract, "stdin", "stdout", "-l", "fra", "tsv"], input=image_png, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise ScanRefused("tesseract_failed")
    words = []
    for row in csv.DictReader(io.StringIO(done.stdout.decode("utf-8", "replace")), delimiter="\t"):
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text:
            continue
        left, top, width, height = (int(row[k]) for k in ("left", "top", "width", "height"))
        line = tuple(int(row[k]) for k in ("page_num", "block_num", "par_num", "line_num"))
        words.append(Word(text, (left, top, left + width, top + height), (line[0], line[1], line[2], line[3])))
    return words


def _lines(words: list[Word]) -> Iterator[tuple[str, list[tuple[int, int, Word]]]]:
    """The words as a text, with each word's character span in it (lines joined by newlines)."""
    parts: list[str] = []
    spans: list[tuple[int, int, Word]] = []
    at = 0
    previous: tuple[int, int, int, int] | None = None
    for word in words:
        if previous is not None:
            sep = " " if word.line == previous else "\n"
            parts.append(sep)
            at += 1
        spans.append((at, at + len(word.text), word))
        parts.append(word.text)
        at += len(word.text)
        previous = word.line
    yield "".join(parts), spans


def image_text(image: Image.Image) -> str:
    """The text the OCR reads in ``image``, one line of the page a line (empty for an image without text)."""
    png = io.BytesIO()
    image.save(png, format="PNG")
    return next(_lines(ocr(png.getvalue())))[0]


def identifying_boxes(image: Image.Image, find: EntityFinder) -> tuple[int, list[Box], tuple[str, ...]]:
    """The words the OCR reads in ``image``, the boxes (with their margin) of those that touch an identifying span,
    and the labels found."""
    png = io.BytesIO()
    image.save(png, format="PNG")
    words = ocr(png.getvalue())
    boxes: list[Box] = []
    labels: set[str] = set()
    for text, spans in _lines(words):
        entities = next(iter(find([text]))) if text else []
        for start, end, word in spans:
            hits = [e for e in entities if e.start < end and start < e.end]
            if hits:
                left, top, right, bottom = word.box
                pad = max(MARGIN, (bottom - top) // 6)
                boxes.append((left - pad, top - pad, right + pad, bottom + pad))
                labels.update(e.label for e in hits)
    return len(words), boxes, tuple(sorted(labels))


def black_out(image: Image.Image, find: EntityFinder) -> tuple[int, int, tuple[str, ...]]:
    """Paint black, in ``image`` itself, every word the OCR reads that touches an identifying span; returns the
    number of words read, of words blacked out, and the labels found."""
    from PIL import ImageDraw

    words, boxes, labels = identifying_boxes(image, find)
    draw = ImageDraw.Draw(image)
    for box in boxes:
        draw.rectangle(box, fill=(0, 0, 0))
    return words, len(boxes), labels


@dataclass(frozen=True)
class MaskedImage:
    data: bytes  # re-encoded in the source's format when it is a common one, else PNG; metadata not carried over
    format: str  # PIL's name of that format: "PNG", "JPEG"…
    words: int
    masked: int


KEPT_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF")


def mask_image_bytes(data: bytes, find: EntityFinder) -> MaskedImage | None:
    """An embedded picture with its identifying words blacked out, re-encoded; None when it cannot be read as an
    image (the caller removes it: it is never kept as it was)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            kind = opened.format if opened.format in KEPT_FORMATS else "PNG"
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    words, masked, _ = black_out(image, find)
    out = io.BytesIO()
    image.save(out, format=kind)
    return MaskedImage(out.getvalue(), kind, words, masked)


def deidentify_scan(source: Path, out_dir: Path, find: EntityFinder, *, name: str | None = None) -> ScanReport:
    """Write ``source`` into ``out_dir`` as a PNG whose identifying words are blacked out."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as opened:
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ScanRefused("image_unreadable", name=source.name, kind=type(exc).__name__) from None
    words, masked, labels = black_out(image, find)
    out = io.BytesIO()
    image.save(out, format="PNG")
    target = out_dir / (name or f"{source.stem}.png")
    write_new_bytes(target, out.getvalue())
    return ScanReport(target, words, masked, labels)
