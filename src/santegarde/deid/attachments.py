"""A document's attachment read as plain text, so that it can be de-identified before the warehouse (EDS-SEC-PSE-4).

The warehouse feed gives every attachment of a FHIR ``DocumentReference`` (inline ``data``, base64-decoded) with its
``contentType``; what comes back is the text that the de-identifier then rewrites, never the file itself:

- ``text/plain``: decoded with the ``charset`` it declares (UTF-8 when none); a text that is not valid in it refused;
- ``text/html``, ``application/xhtml+xml``: the text a reader sees (scripts, styles, comments and attributes left
  out); a Word ``.docx``: the text of its paragraphs (body, tables, headers, footers, notes, comments);
- ``application/pdf``: the text layer of each page (`santegarde.deid.pdf.pdf_pages`), pages separated by a form
  feed; a page without text (a scanned page) is read by the OCR in its embedded pictures. The PDF's metadata
  (author, title, XMP), annotations and form fields are never read, so none of it can reach the warehouse;
- ``image/png``, ``image/jpeg``, ``image/tiff``, ``image/gif``, ``image/bmp``: the text the OCR (Tesseract's French
  model, `santegarde.deid.scan`) reads in each frame; the pixels are not kept.

Anything else, a file too large, unreadable or without any text is refused with a sentence (`AttachmentRefused`),
and the caller leaves it out: nothing is ever passed through as it came.
"""

from __future__ import annotations

import io

from santegarde.deid.refusal import DeidRefused

MAX_TEXT_BYTES = 10 * 1024 * 1024  # a plain-text note larger than this is not a note
MAX_IMAGE_PIXELS = 60_000_000  # about an A4 page at 600 dpi, in colour; larger is refused, never decoded
IMAGE_TYPES = ("image/png", "image/jpeg", "image/tiff", "image/gif", "image/bmp")
HTML_TYPES = ("text/html", "application/xhtml+xml")
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
READ_TYPES = ("text/plain", *HTML_TYPES, "application/pdf", DOCX_TYPE, *IMAGE_TYPES)


class AttachmentRefused(DeidRefused):
    """An attachment that cannot be read as text; the sentence names it and says why."""


def _media_type(content_type: str) -> tuple[str, str | None]:
    """``text/plain; charset=ISO-8859-1`` → (``text/plain``, ``iso-8859-1``)."""
    kind, *params = (p.strip() for p in str(content_type or "").split(";"))
    charset = next((p.split("=", 1)[1].strip("\"' ").lower() for p in params if p.lower().startswith("charset=")), None)
    return kind.lower(), charset


def _plain(data: bytes, charset: str | None, name: str) -> str:
    if len(data) > MAX_TEXT_BYTES:
        raise AttachmentRefused("attachment_too_large", name=name, megabytes=MAX_TEXT_BYTES // 1024 // 1024)
    encoding = charset or "utf-8"
    try:
        text = data.decode(encoding)
    except LookupError:
        raise AttachmentRefused("attachment_charset_unknown", name=name, charset=encoding) from None
    except UnicodeDecodeError:
        raise AttachmentRefused("attachment_not_in_charset", name=name, charset=encoding) from None
    if "\x00" in text:
        raise AttachmentRefused("attachment_binary", name=name)
    return text.removeprefix("\ufeff")


def _html(data: bytes, charset: str | None, name: str) -> str:
    """The text a reader sees in an HTML page: scripts, styles and comments dropped, attributes never read."""
    from lxml import etree, html  # type: ignore[import-untyped]  # python-docx's dependency

    if len(data) > MAX_TEXT_BYTES:
        raise AttachmentRefused("attachment_too_large", name=name, megabytes=MAX_TEXT_BYTES // 1024 // 1024)
    parser = html.HTMLParser(encoding=charset, remove_comments=True, remove_pis=True, no_network=True)
    try:
        root = html.document_fromstring(data, parser=parser)
    except (etree.ParserError, ValueError, LookupError) as exc:
        raise AttachmentRefused("attachment_html_unreadable", name=name, kind=type(exc).__name__) from None
    for hidden in root.xpath("//script | //style | //head"):
        hidden.drop_tree()
    return "\n".join(line.strip() for line in root.text_content().splitlines() if line.strip())


def _pictures_text(pictures: list[bytes], name: str) -> str:
    """The text the OCR reads in pictures (every frame of each), pictures separated by blank lines."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    from santegarde.deid.scan import image_text

    texts = []
    for data in pictures:
        try:
            with Image.open(io.BytesIO(data)) as opened:
                pixels = opened.width * opened.height
                if pixels > MAX_IMAGE_PIXELS:
                    raise AttachmentRefused("attachment_image_too_large", name=name, pixels=pixels)
                texts += [image_text(frame.convert("RGB")) for frame in ImageSequence.Iterator(opened)]
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            raise AttachmentRefused("attachment_image_unreadable", name=name) from None
    return "\n\n".join(t for t in texts if t.strip())


def attachment_text(data: bytes, content_type: str, name: str) -> str:
    """The plain text of an attachment of type ``content_type`` (``name`` is how refusals call it)."""
    kind, charset = _media_type(content_type)
    if kind == "text/plain":
        text = _plain(data, charset, name)
    elif kind in HTML_TYPES:
        text = _html(data, charset, name)
    elif kind == DOCX_TYPE:
        from santegarde.deid.office import docx_text

        text = docx_text(data, name)
    elif kind == "application/pdf":
        from santegarde.deid.pdf import pdf_pages

        text = "\f".join(pdf_pages(data, name, lambda pictures: _pictures_text(pictures, name)))
        if not text.strip("\f \n"):
            raise AttachmentRefused("attachment_pdf_no_text", name=name)
    elif kind in IMAGE_TYPES:
        text = _pictures_text([data], name)
        if not text.strip():
            raise AttachmentRefused("attachment_image_no_text", name=name)
    else:
        raise AttachmentRefused("attachment_type", name=name, kind=kind or "?", kinds=", ".join(READ_TYPES))
    if not text.strip():
        raise AttachmentRefused("attachment_empty", name=name)
    return text
