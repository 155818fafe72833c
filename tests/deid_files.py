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
