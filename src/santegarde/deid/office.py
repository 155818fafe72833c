"""Office documents (EDS-SEC-PSE-4): visible text, metadata and file names de-identified, the document rewritten.

``.docx`` (python-docx, the ``deid`` extra): every paragraph of the body, tables, headers, footers, footnotes and
comments; the core properties (author, last editor, title, subject, keywords, comments, category) emptied and the
company and manager of the application properties removed. ``.xlsx`` (openpyxl): every text cell, comment, sheet
title and the workbook properties. A paragraph whose text changes keeps its first run's formatting (the tags
replace the whole text of the paragraph). The result is written as a new file, atomically; a file that cannot
be read (corrupt, password-protected, another format) is refused with a sentence, never copied through.
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
SUFFIXES = (".docx", ".xlsx")
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


def deidentify_office(source: Path, out_dir: Path, deidentify: TextDeidentifier) -> OfficeReport:
    """Write ``source`` de-identified into ``out_dir`` under a de-identified name; refuse what cannot be read."""
    suffix = source.suffix.lower()
    if suffix not in SUFFIXES:
        raise OfficeRefused(f"{source.name}: only {', '.join(SUFFIXES)} documents are de-identified here.")
    data = _check_container(source)
    rewritten, texts, changed = (_docx if suffix == ".docx" else _xlsx)(data, deidentify)
    target = out_dir / deidentified_name(source.name, deidentify)
    write_new_bytes(target, rewritten)
    return OfficeReport(target, texts, changed)
