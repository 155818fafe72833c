"""Text-layer PDF (EDS-SEC-PSE-4): the text of every page read with pypdf, de-identified, written as a text file.

Why text and not a rewritten PDF: a PDF's text lives in content streams as glyph codes in font encodings, often
cut into pieces by kerning and positioning operators, and the same words can remain in annotations, form fields,
XMP metadata, bookmarks and earlier incremental revisions of the file. Replacing a name in a content stream
cannot be made safe in general (a piece left behind is a leak), so the document is rebuilt as de-identified text:
one block per page, pages separated by a form feed, no metadata carried over. A password-protected PDF, an
unreadable one, or one without any text layer (a scan: de-identify its page images with ``santegarde deid scan``)
is refused with a sentence, never copied through.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from santegarde.atomic import write_new_bytes
from santegarde.deid.office import OfficeRefused, TextDeidentifier, deidentified_name

MAX_BYTES = 50 * 1024 * 1024
PageImages = Callable[[list[bytes]], str]  # the pictures of a page without text → the text read in them


@dataclass(frozen=True)
class PdfReport:
    target: Path
    pages: int
    pages_without_text: int
    changed: int  # pages of which some text was replaced by tags


READ_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, OSError)


def pdf_pages(data: bytes, name: str, page_images: PageImages | None = None) -> list[str]:
    """The text layer of each page of the PDF ``data`` (named ``name`` in refusals); metadata is never read.

    With ``page_images``, a page without text (a scanned page) is given the text it returns for the page's
    embedded pictures (the OCR, see `santegarde.deid.attachments`).
    """
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise OfficeRefused("no_pypdf") from None
    if len(data) > MAX_BYTES:
        raise OfficeRefused("pdf_too_large", name=name, megabytes=MAX_BYTES // 1024 // 1024)
    if not data.startswith(b"%PDF-"):
        raise OfficeRefused("pdf_not_pdf", name=name)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise OfficeRefused("pdf_locked", name=name)
        pages = []
        for page in reader.pages:
            text = page.extract_text() or ""
            if not text.strip() and page_images is not None:
                text = page_images([picture.data for picture in page.images])
            pages.append(text)
        return pages
    except OfficeRefused:
        raise
    except (PdfReadError, *READ_ERRORS) as exc:
        raise OfficeRefused("pdf_unreadable", name=name, kind=type(exc).__name__) from None


def _pages(source: Path) -> list[str]:
    if not source.is_file():
        raise OfficeRefused("not_a_file", name=source.name)
    if source.stat().st_size > MAX_BYTES:  # refused before it is read into memory
        raise OfficeRefused("pdf_too_large", name=source.name, megabytes=MAX_BYTES // 1024 // 1024)
    return pdf_pages(source.read_bytes(), source.name)


def deidentify_pdf(source: Path, out_dir: Path, deidentify: TextDeidentifier) -> PdfReport:
    """Write the de-identified text of ``source`` into ``out_dir`` as a ``.txt`` under a de-identified name."""
    pages = _pages(source)
    if not any(page.strip() for page in pages):
        raise OfficeRefused("pdf_no_text", name=source.name)
    cleaned = deidentify(pages)
    target = out_dir / deidentified_name(Path(source.name).with_suffix(".txt").name, deidentify)
    write_new_bytes(target, "\f".join(cleaned).encode("utf-8"))
    changed = sum(1 for before, after in zip(pages, cleaned, strict=True) if before != after)
    return PdfReport(target, len(pages), sum(1 for page in pages if not page.strip()), changed)
