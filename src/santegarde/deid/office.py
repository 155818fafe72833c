"""Office documents (EDS-SEC-PSE-4): visible text, metadata and file names de-identified, the document rewritten.

``.docx`` (python-docx, the ``deid`` extra): every paragraph of the body, tables, headers, footers, footnotes and
comments; the core properties (author, last editor, title, subject, keywords, comments, category) emptied and the
company and manager of the application properties removed. ``.xlsx`` (openpyxl): every text cell, comment, sheet
title and the workbook properties. A paragraph whose text changes keeps its first run's formatting (the tags
replace the whole text of the paragraph). The result is written as a new file, atomically; a file that cannot
be read (corrupt, password-protected, another format) is refused with a sentence, never copied through.
``.odt`` (OpenDocument, read with lxml): every paragraph and heading of ``content.xml`` (body, tables, frames,
notes, comments) and ``styles.xml`` (headers and footers), the same way; ``meta.xml`` keeps only its generator,
dates and statistics; the thumbnail (a picture of the first page) is dropped; an encrypted package is refused.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from santegarde.atomic import write_new_bytes
from santegarde.errors import SantegardeError

TextDeidentifier = Callable[[list[str]], list[str]]
SUFFIXES = (".docx", ".xlsx", ".odt")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an encrypted (password-protected) Office file is an OLE container


class OfficeRefused(SantegardeError):
    """A document that cannot be de-identified; the message says why and what to do."""


@dataclass(frozen=True)
class OfficeReport:
    target: Path
    texts: int  # paragraphs or cells read
    changed: int  # of which some text was replaced by tags


def deidentified_name(name: str, deidentify: TextDeidentifier) -> str:
    """A file name with its identifying parts replaced by tag names (``Courrier_Mme_Dupont.docx`` →
    ``Courrier_Mme_NOM.docx``); separators become underscores."""
    path = Path(name)
    spaced = re.sub(r"[_.]+", " ", path.stem)  # "CR_Dupont_Jean" is read as words
    cleaned = deidentify([spaced])[0]
    if cleaned == spaced:
        return name
    return re.sub(r"[<>]", "", cleaned).replace(" ", "_") + path.suffix


def _check_container(source: Path) -> bytes:
    if not source.is_file():
        raise OfficeRefused(f"{source.name} is not a file.")
    data = source.read_bytes()
    if data.startswith(OLE_MAGIC):
        raise OfficeRefused(
            f"{source.name} is password-protected or in the old binary format; remove the password or save it as "
            f"{source.suffix} first: it was not de-identified."
        )
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise OfficeRefused(f"{source.name} is not a readable {source.suffix} document (corrupt or another format).")
    return data


def _docx(data: bytes, deidentify: TextDeidentifier) -> tuple[bytes, int, int]:
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml.ns import qn

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several kinds on a damaged package
        raise OfficeRefused(f"The document cannot be read as .docx ({type(exc).__name__}).") from None
    paragraphs: list[list[Any]] = []
    for part in document.part.package.iter_parts():
        element = getattr(part, "_element", None)
        if element is None:
            continue
        for p in element.iter(qn("w:p")):
            nodes = list(p.iter(qn("w:t")))
            if nodes:
                paragraphs.append(nodes)
    texts = ["".join(t.text or "" for t in nodes) for nodes in paragraphs]
    cleaned = deidentify(texts)
    changed = 0
    for nodes, before, after in zip(paragraphs, texts, cleaned, strict=True):
        if before != after:
            changed += 1
            nodes[0].text = after
            for node in nodes[1:]:
                node.text = ""
    package = document.part.package
    for rid, rel in list(package.rels.items()):  # the thumbnail: a picture of the first page, names and all
        if rel.reltype == RT.THUMBNAIL:
            del package.rels[rid]  # a part no relationship reaches is not saved
    props = document.core_properties
    for name in ("author", "last_modified_by", "title", "subject", "keywords", "comments", "category", "identifier"):
        setattr(props, name, "")
    for part in document.part.package.iter_parts():
        if str(part.partname) == "/docProps/app.xml":
            blob = re.sub(rb"<(Company|Manager)>[^<]*</\1>", b"", part.blob)
            part._blob = blob  # a plain Part keeps its bytes there; python-docx has no API for these two
    out = io.BytesIO()
    document.save(out)
    return out.getvalue(), len(texts), changed


def _xlsx(data: bytes, deidentify: TextDeidentifier) -> tuple[bytes, int, int]:
    import openpyxl
    from openpyxl.comments import Comment

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data))
    except Exception as exc:  # openpyxl raises several kinds on a damaged package
        raise OfficeRefused(f"The workbook cannot be read as .xlsx ({type(exc).__name__}).") from None
    cells = [
        c
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for c in row
        if isinstance(c.value, str) and not c.value.startswith("=")
    ]
    texts = [c.value for c in cells]
    cleaned = deidentify(texts)
    changed = 0
    for cell, before, after in zip(cells, texts, cleaned, strict=True):
        if before != after:
            cell.value = after
            changed += 1
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.comment is not None:
                    cell.comment = Comment(deidentify([cell.comment.text])[0], "")
        title = deidentify([sheet.title])[0]
        if title != sheet.title:
            sheet.title = re.sub(r"[<>\[\]:*?/\\]", "", title)[:31] or "Feuille"
    props = workbook.properties
    for name in ("creator", "lastModifiedBy", "title", "subject", "description", "keywords", "category"):
        setattr(props, name, None)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue(), len(texts), changed


ODF_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
ODF_META = "urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
ODF_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
DC = "http://purl.org/dc/elements/1.1/"
ODF_MANIFEST = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
ODF_KEPT_META = {  # what meta.xml may keep: no person, title, subject, keyword or free field
    f"{{{ODF_META}}}generator",
    f"{{{ODF_META}}}creation-date",
    f"{{{DC}}}date",
    f"{{{ODF_META}}}editing-cycles",
    f"{{{ODF_META}}}editing-duration",
    f"{{{ODF_META}}}document-statistic",
}


def _odf_paragraph_slots(paragraph: Any) -> list[tuple[Any, str]]:
    """The (element, "text" | "tail") places holding the paragraph's own text, in reading order; a paragraph
    nested inside it (a frame's text box, a note, a comment) is left to be read as a paragraph of its own."""
    nested = (f"{{{ODF_TEXT}}}p", f"{{{ODF_TEXT}}}h", f"{{{ODF_TEXT}}}note")
    slots: list[tuple[Any, str]] = [(paragraph, "text")]

    def visit(element: Any) -> None:
        for child in element:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag and tag not in nested and "annotation" not in tag and "frame" not in tag:
                slots.append((child, "text"))
                visit(child)
            slots.append((child, "tail"))

    visit(paragraph)
    return slots


def _odf_texts(roots: list[Any], deidentify: TextDeidentifier) -> tuple[int, int]:
    paragraphs = [_odf_paragraph_slots(p) for root in roots for p in root.iter(f"{{{ODF_TEXT}}}p", f"{{{ODF_TEXT}}}h")]
    texts = ["".join(getattr(e, where) or "" for e, where in slots) for slots in paragraphs]
    cleaned = deidentify(texts)
    changed = 0
    for slots, before, after in zip(paragraphs, texts, cleaned, strict=True):
        if before != after:
            changed += 1
            for element, where in slots:
                setattr(element, where, None)
            slots[0][0].text = after
    return len(texts), changed


def _odt(data: bytes, deidentify: TextDeidentifier) -> tuple[bytes, int, int]:
    from lxml import etree  # type: ignore[import-untyped]  # python-docx's dependency

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        names = package.namelist()
        try:
            manifest = package.read("META-INF/manifest.xml")
            if b"encryption-data" in manifest:
                raise OfficeRefused(
                    "The .odt document is password-protected; remove the password first: it was not de-identified."
                )
            mimetype = package.read("mimetype")
            if mimetype.strip() != b"application/vnd.oasis.opendocument.text":
                raise OfficeRefused("The document is not an .odt text document (its mimetype says otherwise).")
            trees = {n: etree.fromstring(package.read(n), parser) for n in ("content.xml", "styles.xml") if n in names}
            meta = etree.fromstring(package.read("meta.xml"), parser) if "meta.xml" in names else None
            parts = {n: package.read(n) for n in names}
        except (KeyError, etree.XMLSyntaxError, zipfile.BadZipFile) as exc:
            raise OfficeRefused(f"The document cannot be read as .odt ({type(exc).__name__}).") from None
    texts, changed = _odf_texts(list(trees.values()), deidentify)
    for tree in trees.values():
        for author in tree.iter(f"{{{DC}}}creator"):  # of comments and tracked changes
            author.text = ""
    for name, tree in trees.items():
        parts[name] = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    if meta is not None:
        for holder in meta.iter(f"{{{ODF_OFFICE}}}meta"):
            for child in list(holder):
                if child.tag not in ODF_KEPT_META:
                    holder.remove(child)
        parts["meta.xml"] = etree.tostring(meta, xml_declaration=True, encoding="UTF-8")
    dropped = [n for n in parts if n.startswith("Thumbnails/")]
    for thumbnail in dropped:
        del parts[thumbnail]
    if dropped:
        tree = etree.fromstring(parts["META-INF/manifest.xml"], parser)
        for entry in list(tree):
            if str(entry.get(f"{{{ODF_MANIFEST}}}full-path", "")).startswith("Thumbnails/"):
                tree.remove(entry)
        parts["META-INF/manifest.xml"] = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(zipfile.ZipInfo("mimetype"), parts.pop("mimetype"), compress_type=zipfile.ZIP_STORED)
        for part, blob in parts.items():
            package.writestr(part, blob)
    return out.getvalue(), texts, changed


def deidentify_office(source: Path, out_dir: Path, deidentify: TextDeidentifier) -> OfficeReport:
    """Write ``source`` de-identified into ``out_dir`` under a de-identified name; refuse what cannot be read."""
    suffix = source.suffix.lower()
    if suffix not in SUFFIXES:
        raise OfficeRefused(f"{source.name}: only {', '.join(SUFFIXES)} documents are de-identified here.")
    data = _check_container(source)
    rewriter = {".docx": _docx, ".xlsx": _xlsx, ".odt": _odt}[suffix]
    rewritten, texts, changed = rewriter(data, deidentify)
    target = out_dir / deidentified_name(source.name, deidentify)
    write_new_bytes(target, rewritten)
    return OfficeReport(target, texts, changed)
