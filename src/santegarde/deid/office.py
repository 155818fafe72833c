"""Office documents (EDS-SEC-PSE-4): visible text, metadata and file names de-identified, the document rewritten.

``.docx`` (python-docx, the ``deid`` extra): every paragraph of every XML part (body, tables, text boxes,
headers, footers, footnotes, endnotes, comments, custom XML), field codes (a ``HYPERLINK "mailto:…"``), drawings'
names and alternative texts, the targets of external links; tracked deletions removed (their text is no longer
the document's); the authors of comments, tracked changes and the people part emptied; embedded workbooks,
documents and presentations rewritten the same way, any other embedded object (an OLE binary) removed with the
trace ``[objet retiré]``; the core properties (author, last editor, title, subject, keywords, comments, category)
emptied, the custom properties dropped, the company, manager and titles of parts of the application properties
removed. ``.xlsx`` (openpyxl): every text cell, comment, sheet title, printed header and footer, the targets of
cells' links, the workbook properties; the custom properties (``docProps/custom.xml``) dropped. A paragraph
whose text changes keeps its first run's formatting (the tags replace the whole text of the paragraph). The
result is written as a new file, atomically; a file that cannot be read (corrupt, password-protected, another
format) is refused with a sentence, never copied through.
``.odt`` (OpenDocument, read with lxml): every paragraph and heading of ``content.xml`` (body, tables, frames,
notes, comments) and ``styles.xml`` (headers and footers), the same way; ``meta.xml`` keeps only its generator,
dates and statistics; the thumbnail (a picture of the first page) is dropped; an encrypted package is refused.
``.pptx`` (python-pptx): every paragraph of the slides, speaker notes, layouts, masters and charts' rich text, the
strings cached in charts, comments, slides' and shapes' names, alternative texts, and the targets of links (a
``mailto:``);
comment authors emptied; the workbook embedded behind a chart rewritten like an ``.xlsx`` (any other embedded
object refuses the document); the core properties emptied and, as for ``.docx``, ``docProps/app.xml`` loses its
company, manager and the titles of the parts; the custom properties and the thumbnail dropped.

Pictures embedded in a document (``.docx`` media, ``.odt`` ``Pictures/`` and object previews, ``.xlsx`` sheet
images) may carry names in their pixels (a scanned letter pasted in a report): each is read by the OCR, its
identifying words blacked out (`santegarde.deid.scan.mask_image_bytes`) and re-encoded without its metadata. A
picture that cannot be read as an image (a vector drawing, a damaged file), or every picture when no OCR finder
is given, is removed and a trace left in its place (the text ``[image retirée]``); the report counts both.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from santegarde.atomic import write_new_bytes
from santegarde.deid.refusal import DeidRefused
from santegarde.deid.scan import EntityFinder, MaskedImage, mask_image_bytes

TextDeidentifier = Callable[[list[str]], list[str]]
SUFFIXES = (".docx", ".xlsx", ".pptx", ".odt")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an encrypted (password-protected) Office file is an OLE container


IMAGE_REMOVED = "[image retirée]"  # the trace left where a picture was removed (the documents are in French)
CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "BMP": "image/bmp", "TIFF": "image/tiff"}


class OfficeRefused(DeidRefused):
    """A document that cannot be de-identified; the sentence says why and what to do."""


@dataclass(frozen=True)
class OfficeReport:
    target: Path
    texts: int  # paragraphs or cells read
    changed: int  # of which some text was replaced by tags
    images: int = 0  # embedded pictures read by the OCR and re-encoded
    images_blacked: int = 0  # of which some words were blacked out
    images_removed: int = 0  # pictures that could not be read (or no OCR was given): removed, a trace left


@dataclass
class Pictures:
    """Cleans the embedded pictures of one document and counts what it did; ``find`` None removes them all."""

    find: EntityFinder | None
    cleaned: int = 0
    blacked: int = 0
    removed: int = 0

    def __call__(self, data: bytes) -> MaskedImage | None:
        result = mask_image_bytes(data, self.find) if self.find is not None else None
        if result is None:
            self.removed += 1
        else:
            self.cleaned += 1
            self.blacked += result.masked > 0
        return result


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
        raise OfficeRefused("not_a_file", name=source.name)
    data = source.read_bytes()
    if data.startswith(OLE_MAGIC):
        raise OfficeRefused("office_locked", name=source.name, suffix=source.suffix)
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise OfficeRefused("office_unreadable", name=source.name, suffix=source.suffix)
    return data


R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _remove_picture(package: Any, picture: Any, holders: set[str], trace: Callable[[Any], Any]) -> None:
    """Cut every relationship to ``picture`` (an OPC part of python-docx or python-pptx); each element of ``holders``
    that showed it is replaced by ``trace(holder)`` (a ``[image retirée]`` text), any other reference removed."""
    for part in list(package.iter_parts()):
        element = getattr(part, "_element", None)
        for rid, rel in list(part.rels.items()):
            if rel.is_external or rel.target_part is not picture:
                continue
            references = [] if element is None else [
                node for node in element.iter() if rid in (node.get(f"{{{R_NS}}}{a}") for a in ("embed", "id", "link"))
            ]  # fmt: skip
            for node in references:
                holder = next((a for a in node.iterancestors() if a.tag in holders), None)
                if holder is None:
                    if node.getparent() is not None:
                        node.getparent().remove(node)
                    continue
                holder.getparent().replace(holder, trace(holder))
            part.rels.pop(rid)


def _docx_remove_picture(package: Any, picture: Any) -> None:
    """The drawing that showed ``picture`` becomes the text ``[image retirée]``."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def trace(_: Any) -> Any:
        text = OxmlElement("w:t")
        text.text = IMAGE_REMOVED
        return text

    _remove_picture(package, picture, {qn("w:drawing"), qn("w:pict"), qn("w:object")}, trace)


def _docx_pictures(package: Any, pictures: Pictures) -> None:
    for part in [p for p in package.iter_parts() if str(p.content_type).startswith("image/")]:
        cleaned = pictures(part.blob)
        if cleaned is None:
            _docx_remove_picture(package, part)
            continue
        part._blob = cleaned.data  # python-docx keeps an image part's bytes there
        part._content_type = CONTENT_TYPES[cleaned.format]


W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
PERSON_LOCAL_NAMES = ("author", "initials", "userId", "providerId")  # who wrote a comment, a change, a reply
OBJECT_REMOVED = "[objet retiré]"  # the trace left where an embedded object that cannot be rewritten was


def _own(node: Any, paragraph: Any) -> bool:
    """``node`` belongs to ``paragraph`` itself, not to a paragraph nested in it (a text box's)."""
    return next(node.iterancestors(f"{{{W}}}p"), None) is paragraph


def _word_slots(root: Any) -> list[_Slot]:
    """Every text of one WordprocessingML part, tracked deletions removed first: paragraphs (body, tables, text
    boxes, headers, footers, footnotes, comments), field codes (a ``HYPERLINK "mailto:…"``), and the alternative
    texts and names of drawings."""
    for deleted in list(root.iter(f"{{{W}}}del", f"{{{W}}}moveFrom")):  # deleted text of tracked changes: removed
        if deleted.getparent() is not None and len(deleted):
            deleted.getparent().remove(deleted)
    slots = []
    for p in root.iter(f"{{{W}}}p"):
        nodes = [t for t in p.iter(f"{{{W}}}t") if _own(t, p)]
        if nodes:
            slots.append(_Slot(nodes))
    slots += [_Slot([node]) for node in root.iter(f"{{{W}}}instrText", f"{{{W}}}delInstrText") if node.text]
    slots += [_Slot([node], f"{{{W}}}instr") for node in root.iter(f"{{{W}}}fldSimple") if node.get(f"{{{W}}}instr")]
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag.endswith(("}docPr", "}cNvPr")):  # a drawing's name and alt text
            slots += [_Slot([node], a) for a in SHAPE_TEXT_ATTRIBUTES if node.get(a)]
    return slots


def _empty_persons(root: Any) -> None:
    """The authors of comments, tracked changes and replies emptied (w:author, w15:author, w15:userId…)."""
    for node in root.iter():
        for name in list(node.attrib) if isinstance(node.tag, str) else ():
            if name.rsplit("}", 1)[-1] in PERSON_LOCAL_NAMES:
                node.set(name, "")


def _docx_open(data: bytes) -> tuple[Any, list[_Slot], list[tuple[Any, Any]]]:
    """The opened document, the text slots of every XML part, and the XML parts python-docx keeps as bytes
    (footnotes, endnotes, people, custom XML), parsed here and to be written back."""
    import docx
    from lxml import etree  # type: ignore[import-untyped]  # python-docx's dependency

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several kinds on a damaged package
        raise OfficeRefused("office_damaged", suffix=".docx", kind=type(exc).__name__) from None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    slots: list[_Slot] = []
    loose: list[tuple[Any, Any]] = []
    for part in document.part.package.iter_parts():
        root = getattr(part, "_element", None)
        if root is None and str(part.content_type).endswith("+xml") and str(part.partname) != "/docProps/app.xml":
            try:
                root = etree.fromstring(part.blob, parser)
            except etree.XMLSyntaxError as exc:
                raise OfficeRefused("office_damaged", suffix=".docx", kind=type(exc).__name__) from None
            loose.append((part, root))
        if root is not None:
            slots += _word_slots(root)
    return document, slots, loose


def docx_text(data: bytes, name: str) -> str:
    """The text of a .docx, one paragraph a line (what the warehouse feed takes of a Word attachment)."""
    if data.startswith(OLE_MAGIC):
        raise OfficeRefused("office_locked", name=name, suffix=".docx")
    return "\n".join(slot.read() for slot in _docx_open(data)[1] if slot.attribute is None)


def _docx_embedded(package: Any, deidentify: TextDeidentifier, pictures: Pictures) -> None:
    """Embedded documents (a workbook, a document, a presentation) rewritten the same way; any other embedded
    object (an OLE binary) removed, the text ``[objet retiré]`` left where it was shown."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def trace(_: Any) -> Any:
        text = OxmlElement("w:t")
        text.text = OBJECT_REMOVED
        return text

    rewriters = {".xlsx": _xlsx, ".docx": _docx, ".pptx": _pptx}
    for part in list(package.iter_parts()):
        if not str(part.partname).startswith("/word/embeddings/"):
            continue
        rewriter = rewriters.get(Path(str(part.partname)).suffix.lower())
        if rewriter is not None and not part.blob.startswith(OLE_MAGIC):
            part._blob = rewriter(part.blob, deidentify, pictures)[0]  # a plain Part keeps its bytes there
        else:
            _remove_picture(package, part, {qn("w:object"), qn("w:drawing"), qn("w:pict")}, trace)


def _docx(data: bytes, deidentify: TextDeidentifier, pictures: Pictures) -> tuple[bytes, int, int]:
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from lxml import etree

    document, slots, loose = _docx_open(data)
    package = document.part.package
    for rid, rel in list(package.rels.items()):  # the thumbnail (a picture of the first page) and custom properties
        if rel.reltype in (RT.THUMBNAIL, RT.CUSTOM_PROPERTIES):
            del package.rels[rid]  # a part no relationship reaches is not saved
    texts = [slot.read() for slot in slots]
    cleaned = deidentify(texts)
    changed = 0
    for slot, before, after in zip(slots, texts, cleaned, strict=True):
        if before != after:
            changed += 1
            slot.write(re.sub(r"[<>]", "", after) if slot.attribute else after)
    links = [rel for part in package.iter_parts() for rel in part.rels.values() if rel.is_external]
    for rel, target in zip(links, deidentify([rel.target_ref for rel in links]), strict=True):
        rel._target = re.sub(r"[<>]", "", target)  # python-docx keeps an external target there (a mailto, a web link)
    for part in package.iter_parts():
        root = getattr(part, "_element", None)
        if root is not None:
            _empty_persons(root)
    for part, root in loose:
        _empty_persons(root)
        part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    _docx_embedded(package, deidentify, pictures)
    _docx_pictures(package, pictures)
    props = document.core_properties
    for name in ("author", "last_modified_by", "title", "subject", "keywords", "comments", "category", "identifier"):
        setattr(props, name, "")
    _scrub_app_properties(package)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue(), len(texts), changed


def _scrub_app_properties(package: Any) -> None:
    """docProps/app.xml without its company, manager and the titles of the parts (a slide's or document's title)."""
    for part in package.iter_parts():
        if str(part.partname) == "/docProps/app.xml":
            blob = re.sub(rb"<(Company|Manager|HeadingPairs|TitlesOfParts)>.*?</\1>", b"", part.blob, flags=re.S)
            part._blob = blob  # a plain Part keeps its bytes there; neither library has an API for these


def _xlsx_margins(sheet: Any, deidentify: TextDeidentifier) -> None:
    """A sheet's printed headers and footers and the targets of its cells' links (a ``mailto:``) de-identified."""
    slots = []
    for margin in ("oddHeader", "oddFooter", "evenHeader", "evenFooter", "firstHeader", "firstFooter"):
        block = getattr(sheet.HeaderFooter, margin, None)
        for side in ("left", "center", "right") if block is not None else ():
            item = getattr(block, side)
            if item is not None and item.text:
                slots.append((item, "text"))
    for row in sheet.iter_rows():
        for cell in row:
            if cell.hyperlink is not None:
                slots += [(cell.hyperlink, a) for a in ("target", "tooltip", "display") if getattr(cell.hyperlink, a)]
    texts = [str(getattr(holder, name)) for holder, name in slots]
    for (holder, name), before, after in zip(slots, texts, deidentify(texts), strict=True):
        if before != after:
            setattr(holder, name, re.sub(r"[<>]", "", after))


def _xlsx(data: bytes, deidentify: TextDeidentifier, pictures: Pictures) -> tuple[bytes, int, int]:
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.packaging.custom import CustomPropertyList

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data))
    except Exception as exc:  # openpyxl raises several kinds on a damaged package
        raise OfficeRefused("office_damaged", suffix=".xlsx", kind=type(exc).__name__) from None
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
        for image in list(sheet._images):  # openpyxl keeps a sheet's pictures there (Pillow installed)
            masked = pictures(image._data())
            if masked is None:
                sheet._images.remove(image)
                continue
            image.ref, image.format = io.BytesIO(masked.data), masked.format.lower()
        title = deidentify([sheet.title])[0]
        if title != sheet.title:
            sheet.title = re.sub(r"[<>\[\]:*?/\\]", "", title)[:31] or "Feuille"
        _xlsx_margins(sheet, deidentify)
    props = workbook.properties
    for name in ("creator", "lastModifiedBy", "title", "subject", "description", "keywords", "category"):
        setattr(props, name, None)
    workbook.custom_doc_props = CustomPropertyList()  # docProps/custom.xml: free fields ("Patient", "Médecin")
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue(), len(texts), changed


PML = "http://schemas.openxmlformats.org/presentationml/2006/main"
DML = "http://schemas.openxmlformats.org/drawingml/2006/main"
CHART = "http://schemas.openxmlformats.org/drawingml/2006/chart"
PERSON_ATTRIBUTES = ("name", "initials", "userId", "providerId")  # of comment authors (cmAuthor, p188:author)
SHAPE_TEXT_ATTRIBUTES = ("name", "descr", "title")  # a shape's name and alternative text (cNvPr)


@dataclass
class _Slot:
    """One text of a presentation: a paragraph's runs, an element's text, or one attribute of an element."""

    nodes: list[Any]
    attribute: str | None = None

    def read(self) -> str:
        if self.attribute is not None:
            return str(self.nodes[0].get(self.attribute) or "")
        return "".join(n.text or "" for n in self.nodes)

    def write(self, text: str) -> None:
        if self.attribute is not None:
            self.nodes[0].set(self.attribute, text)
            return
        self.nodes[0].text = text
        for node in self.nodes[1:]:
            node.text = ""


def _pptx_slots(root: Any) -> list[_Slot]:
    """Every text of one XML part: paragraphs (slides, notes, layouts, masters, charts' rich text), comments, the
    strings cached in charts, shapes' names and alternative texts."""
    slots = [_Slot(nodes) for p in root.iter(f"{{{DML}}}p") if (nodes := list(p.iter(f"{{{DML}}}t")))]
    slots += [_Slot([node]) for node in root.iter(f"{{{PML}}}text") if node.text]  # a legacy comment's text
    slots += [_Slot([v]) for cache in root.iter(f"{{{CHART}}}strCache") for v in cache.iter(f"{{{CHART}}}v")]
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag.endswith(("}cNvPr", "}cSld")):  # a shape's or a slide's name
            slots += [_Slot([node], a) for a in SHAPE_TEXT_ATTRIBUTES if node.get(a)]
    return slots


def _pptx_trace(picture: Any) -> Any:
    """A text box where a removed picture was, at its place and size, saying ``[image retirée]``."""
    from lxml import etree  # python-pptx's dependency

    box = etree.Element(f"{{{PML}}}sp")
    names = etree.SubElement(box, f"{{{PML}}}nvSpPr")
    shown = picture.find(f"{{{PML}}}nvPicPr/{{{PML}}}cNvPr")
    etree.SubElement(names, f"{{{PML}}}cNvPr", id=shown.get("id", "0") if shown is not None else "0", name="Image")
    etree.SubElement(names, f"{{{PML}}}cNvSpPr", txBox="1")
    etree.SubElement(names, f"{{{PML}}}nvPr")
    shape = picture.find(f"{{{PML}}}spPr")
    box.append(shape if shape is not None else etree.Element(f"{{{PML}}}spPr"))
    body = etree.SubElement(box, f"{{{PML}}}txBody")
    etree.SubElement(body, f"{{{DML}}}bodyPr")
    run = etree.SubElement(etree.SubElement(body, f"{{{DML}}}p"), f"{{{DML}}}r")
    etree.SubElement(run, f"{{{DML}}}t").text = IMAGE_REMOVED
    return box


def _pptx(data: bytes, deidentify: TextDeidentifier, pictures: Pictures) -> tuple[bytes, int, int]:
    import pptx
    from lxml import etree  # python-pptx's dependency
    from pptx.opc.constants import RELATIONSHIP_TYPE as RT

    try:
        presentation = pptx.Presentation(io.BytesIO(data))
    except Exception as exc:  # python-pptx raises several kinds on a damaged package
        raise OfficeRefused("office_damaged", suffix=".pptx", kind=type(exc).__name__) from None
    package = presentation.part.package
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    loose: list[tuple[Any, Any]] = []  # XML parts python-pptx keeps as bytes (comments, authors): parsed here
    slots: list[_Slot] = []
    links: list[Any] = []  # external relationships: a mailto or a web address may carry a name
    embedded = {".xlsx": _xlsx, ".docx": _docx}  # embedded packages rewritten the same way (a chart's workbook)
    for part in list(package.iter_parts()):
        partname, kind = str(part.partname), str(part.content_type)
        root = getattr(part, "_element", None)
        if root is None and kind.endswith("+xml") and partname != "/docProps/app.xml":
            try:
                root = etree.fromstring(part.blob, parser)
            except etree.XMLSyntaxError as exc:
                raise OfficeRefused("office_damaged", suffix=".pptx", kind=type(exc).__name__) from None
            loose.append((part, root))
        if root is not None:
            slots += _pptx_slots(root)
            for node in root.iter():
                if isinstance(node.tag, str) and node.tag.endswith(("}cmAuthor", "}author")):
                    for name in PERSON_ATTRIBUTES:
                        if node.get(name) is not None:
                            node.set(name, "")
        if partname.startswith("/ppt/embeddings/"):
            rewriter = embedded.get(Path(partname).suffix.lower())
            if rewriter is None:
                raise OfficeRefused("office_embedded", suffix=".pptx", name=Path(partname).name)
            part._blob = rewriter(part.blob, deidentify, pictures)[0]
        links += [rel for rel in part.rels.values() if rel.is_external]
    for rel, target in zip(links, deidentify([rel.target_ref for rel in links]), strict=True):
        rel._target = re.sub(r"[<>]", "", target)  # python-pptx keeps an external target there
        rel.__dict__.pop("target_ref", None)  # and caches it once read (a lazyproperty)
    texts = [slot.read() for slot in slots]
    cleaned = deidentify(texts)
    changed = 0
    for slot, before, after in zip(slots, texts, cleaned, strict=True):
        if before != after:
            changed += 1
            slot.write(re.sub(r"[<>]", "", after) if slot.attribute else after)
    for part, root in loose:
        part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    for rid, rel in list(package._rels.items()):  # the thumbnail (a picture of the first slide), custom properties
        if rel.reltype in (RT.THUMBNAIL, RT.CUSTOM_PROPERTIES):
            package._rels.pop(rid)  # a part no relationship reaches is not saved
    for part in [p for p in package.iter_parts() if str(p.content_type).startswith("image/")]:
        masked = pictures(part.blob)
        if masked is None:
            _remove_picture(package, part, {f"{{{PML}}}pic"}, _pptx_trace)
            continue
        part._blob, part._content_type = masked.data, CONTENT_TYPES[masked.format]
    props = presentation.core_properties
    for name in ("author", "last_modified_by", "title", "subject", "keywords", "comments", "category", "identifier"):
        setattr(props, name, "")
    _scrub_app_properties(package)
    out = io.BytesIO()
    presentation.save(out)
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


ODF_DRAW = "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
XLINK = "http://www.w3.org/1999/xlink"
ODF_PICTURES = ("Pictures/", "ObjectReplacements/")


def _odf_pictures(parts: dict[str, bytes], trees: Mapping[str, Any], pictures: Pictures) -> list[str]:
    """Clean the package's pictures in ``parts``; a removed one's frames become the text ``[image retirée]``.
    Returns the removed names (for the manifest)."""
    removed = []
    for name in [n for n in parts if n.startswith(ODF_PICTURES) and not n.endswith("/")]:
        cleaned = pictures(parts[name])
        if cleaned is not None:
            parts[name] = cleaned.data
            continue
        removed.append(name)
        del parts[name]
        for tree in trees.values():
            for reference in list(tree.iter(f"{{{ODF_DRAW}}}image", f"{{{ODF_DRAW}}}object-ole")):
                if reference.get(f"{{{XLINK}}}href", "").lstrip("./") != name:
                    continue
                frame = reference.getparent()
                holder = frame if frame is not None and frame.tag == f"{{{ODF_DRAW}}}frame" else reference
                parent = holder.getparent()
                previous = holder.getprevious()
                kept = IMAGE_REMOVED + (holder.tail or "")
                if previous is not None:
                    previous.tail = (previous.tail or "") + kept
                else:
                    parent.text = (parent.text or "") + kept
                parent.remove(holder)
    return removed


def _odt(data: bytes, deidentify: TextDeidentifier, pictures: Pictures) -> tuple[bytes, int, int]:
    from lxml import etree  # python-docx's dependency

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        names = package.namelist()
        try:
            manifest = package.read("META-INF/manifest.xml")
            if b"encryption-data" in manifest:
                raise OfficeRefused("odt_locked")
            mimetype = package.read("mimetype")
            if mimetype.strip() != b"application/vnd.oasis.opendocument.text":
                raise OfficeRefused("odt_not_text")
            trees: dict[str, Any] = {
                n: etree.fromstring(package.read(n), parser) for n in ("content.xml", "styles.xml") if n in names
            }
            meta = etree.fromstring(package.read("meta.xml"), parser) if "meta.xml" in names else None
            parts = {n: package.read(n) for n in names}
        except (KeyError, etree.XMLSyntaxError, zipfile.BadZipFile) as exc:
            raise OfficeRefused("office_damaged", suffix=".odt", kind=type(exc).__name__) from None
    texts, changed = _odf_texts(list(trees.values()), deidentify)
    dropped = [n for n in parts if n.startswith("Thumbnails/")]
    for thumbnail in dropped:
        del parts[thumbnail]
    dropped += _odf_pictures(parts, trees, pictures)
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
    if dropped:
        tree = etree.fromstring(parts["META-INF/manifest.xml"], parser)
        for entry in list(tree):
            if str(entry.get(f"{{{ODF_MANIFEST}}}full-path", "")) in dropped:
                tree.remove(entry)
        parts["META-INF/manifest.xml"] = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(zipfile.ZipInfo("mimetype"), parts.pop("mimetype"), compress_type=zipfile.ZIP_STORED)
        for part, blob in parts.items():
            package.writestr(part, blob)
    return out.getvalue(), texts, changed


def deidentify_office(
    source: Path, out_dir: Path, deidentify: TextDeidentifier, find: EntityFinder | None = None
) -> OfficeReport:
    """Write ``source`` de-identified into ``out_dir`` under a de-identified name; refuse what cannot be read.

    ``find`` (e.g. `Detector.detect_many`) lets the embedded pictures be OCRed and blacked out; without it they are
    all removed, a trace left in their place.
    """
    suffix = source.suffix.lower()
    if suffix not in SUFFIXES:
        raise OfficeRefused("office_suffix", name=source.name, suffixes=", ".join(SUFFIXES))
    data = _check_container(source)
    rewriter = {".docx": _docx, ".xlsx": _xlsx, ".pptx": _pptx, ".odt": _odt}[suffix]
    pictures = Pictures(find)
    rewritten, texts, changed = rewriter(data, deidentify, pictures)
    target = out_dir / deidentified_name(source.name, deidentify)
    write_new_bytes(target, rewritten)
    return OfficeReport(target, texts, changed, pictures.cleaned, pictures.blacked, pictures.removed)
