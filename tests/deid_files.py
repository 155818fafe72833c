"""Fictitious files for the de-identification tests: a text-layer PDF, a picture of a letter (built, never read
from disk)."""

from __future__ import annotations


def text_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds ``lines`` (Helvetica, WinAnsi), built by hand."""
    ops = "BT /F1 12 Tf 50 750 Td " + " ".join(
        "(" + line.replace("(", "\\(").replace(")", "\\)") + ") Tj 0 -16 Td" for line in lines
    )
    stream = ops.encode("cp1252") + b" ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def letter_png(line: str = "Madame Ysolde MARCHETAUX, service de cardiologie") -> bytes:
    """A picture of a letter: dark blue text, so that the blacked-out boxes are the only pure black pixels."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    picture = Image.new("RGB", (1300, 120), "white")
    ImageDraw.Draw(picture).text((30, 30), line, fill=(20, 20, 120), font=ImageFont.load_default(size=44))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def black_pixels(data: bytes) -> int:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as picture:
        pixels = picture.convert("RGB").tobytes()
    return sum(1 for at in range(0, len(pixels), 3) if pixels[at : at + 3] == b"\0\0\0")


def scanned_pdf(picture_png: bytes) -> bytes:
    """A PDF of one page that is only a picture (a scanned letter): no text layer."""
    import io

    from PIL import Image

    out = io.BytesIO()
    with Image.open(io.BytesIO(picture_png)) as picture:
        picture.convert("RGB").save(out, format="PDF", resolution=150)
    return out.getvalue()


def _zip_with(data: bytes, parts: dict[str, bytes], edits: dict[str, tuple[bytes, bytes]]) -> bytes:
    """An OPC package ``data`` with ``parts`` added and, in each named part, one ``(old, new)`` replacement."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            content = source.read(name)
            if name in edits:
                old, new = edits[name]
                assert old in content, (name, old)
                content = content.replace(old, new, 1)
            target.writestr(name, content)
        for name, content in parts.items():
            target.writestr(name, content)
    return out.getvalue()


def workbook_with_hidden_fields() -> bytes:
    """An .xlsx naming a fictitious patient in a cell, a custom property, a printed header and a cell's link."""
    import io

    import openpyxl
    from openpyxl.packaging.custom import StringProperty

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["A1"] = "Bilan de Mme Ysolde Marchetaux"
    sheet["A2"] = "écrire"
    sheet["A2"].hyperlink = "mailto:ysolde.marchetaux@example.fr"
    sheet.oddHeader.left.text = "Dr Quenardel"
    workbook.custom_doc_props.append(StringProperty(name="Patient", value="Marchetaux Ysolde"))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def docx_with_hidden_parts() -> bytes:
    """A .docx naming a fictitious patient and doctor where python-docx's paragraphs do not look: a comment, a
    footer, a tracked deletion, a field code, a link's target, a footnote, the people part, an embedded workbook
    (with its custom properties) and an embedded OLE binary."""
    import io

    import docx

    document = docx.Document()
    paragraph = document.add_paragraph("Compte rendu de consultation.")
    document.add_comment(paragraph.runs, text="Voir avec le Dr Quenardel", author="Hugues Quenardel", initials="HQ")
    document.sections[0].footer.paragraphs[0].text = "Dr Hugues Quenardel, cardiologie"
    buffer = io.BytesIO()
    document.save(buffer)
    change = 'w:id="%d" w:author="Hugues Quenardel" w:date="2024-01-01T00:00:00Z"'
    body = (
        '<w:p><w:r><w:t xml:space="preserve">Patiente </w:t></w:r>'
        f'<w:del {change % 901}><w:r><w:delText>Ysolde Marchetaux</w:delText></w:r></w:del>'
        f'<w:ins {change % 902}><w:r><w:t>vue ce jour.</w:t></w:r></w:ins></w:p>'
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> HYPERLINK '
        '"mailto:ysolde.marchetaux@example.fr" </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        '<w:r><w:t>écrire</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
        '<w:p><w:hyperlink r:id="rIdLink"><w:r><w:t>Dossier en ligne</w:t></w:r></w:hyperlink>'
        '<w:r><w:footnoteReference w:id="1"/></w:r></w:p>'
        '<w:p><w:r><w:object><v:shape id="o1" style="width:10pt;height:10pt"/>'
        '<o:OLEObject Type="Embed" ProgID="Excel.Sheet.12" ShapeID="o1" r:id="rIdXl"/></w:object></w:r></w:p>'
        '<w:p><w:r><w:object><v:shape id="o2" style="width:10pt;height:10pt"/>'
        '<o:OLEObject Type="Embed" ProgID="Package" ShapeID="o2" r:id="rIdOle"/></w:object></w:r></w:p>'
    ).encode()
    w = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    footnotes = (
        b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n<w:footnotes " + w + b'><w:footnote w:id="1">'
        b"<w:p><w:r><w:t>Adress\xc3\xa9e par le Dr Quenardel</w:t></w:r></w:p></w:footnote></w:footnotes>"
    )
    people = (
        b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n<w15:people "
        b'xmlns:w15="http://schemas.microsoft.com/office/word/2012/wordml"><w15:person w15:author="Hugues Quenardel">'
        b'<w15:presenceInfo w15:providerId="AD" w15:userId="hugues.quenardel@example.fr"/></w15:person></w15:people>'
    )
    rels = (
        f'<Relationship Id="rIdLink" Type="{REL}/hyperlink" Target="mailto:ysolde.marchetaux@example.fr" '
        'TargetMode="External"/>'
        f'<Relationship Id="rIdFoot" Type="{REL}/footnotes" Target="footnotes.xml"/>'
        '<Relationship Id="rIdPeople" Type="http://schemas.microsoft.com/office/2011/relationships/people" '
        'Target="people.xml"/>'
        f'<Relationship Id="rIdXl" Type="{REL}/package" Target="embeddings/Feuille1.xlsx"/>'
        f'<Relationship Id="rIdOle" Type="{REL}/oleObject" Target="embeddings/oleObject1.bin"/>'
        "</Relationships>"
    ).encode()
    wml = "application/vnd.openxmlformats-officedocument.wordprocessingml"
    types = (
        f'<Override PartName="/word/footnotes.xml" ContentType="{wml}.footnotes+xml"/>'
        f'<Override PartName="/word/people.xml" ContentType="{wml}.people+xml"/>'
        '<Override PartName="/word/embeddings/Feuille1.xlsx" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"/>'
        '<Override PartName="/word/embeddings/oleObject1.bin" '
        'ContentType="application/vnd.openxmlformats-officedocument.oleObject"/></Types>'
    ).encode()
    return _zip_with(
        buffer.getvalue(),
        {
            "word/footnotes.xml": footnotes,
            "word/people.xml": people,
            "word/embeddings/Feuille1.xlsx": workbook_with_hidden_fields(),
            "word/embeddings/oleObject1.bin": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"Ysolde Marchetaux" * 8,
        },
        {
            "word/document.xml": (b"<w:sectPr", body + b"<w:sectPr"),
            "word/_rels/document.xml.rels": (b"</Relationships>", rels),
            "[Content_Types].xml": (b"</Types>", types),
        },
    )
