"""Rendering the documents a controller files: Jinja2 templates → HTML, WeasyPrint → PDF, JSON, written atomically.

Templates live in ``governance/templates`` (autoescaped HTML). Every document carries the
organisation, the référentiel it applies and the date it was generated, so that a printed copy
says where it comes from.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from santegarde.atomic import write_atomic
from santegarde.errors import WordedError
from santegarde.governance.doctext import engine_message, refusal

_ENV = Environment(
    loader=PackageLoader("santegarde.governance", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.globals["engine_message"] = engine_message  # the anonymity engine's messages in the document's language

FORMATS = ("html", "pdf", "json")


class DocumentError(WordedError, ValueError):
    """A document cannot be produced as asked (worded in French and English: ``doctext.refusal``)."""


def render_html(template: str, **context: Any) -> str:
    """Render a template of governance/templates with the context (and the generation time)."""
    return _ENV.get_template(template).render(generated_at=datetime.now(UTC), **context)


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML

    return bytes(HTML(string=html).write_pdf())


def write_document(path: Path, *, html: str | None = None, data: Any = None) -> Path:
    """Write a document in the format its suffix names (.html, .pdf or .json), atomically."""
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise DocumentError(refusal("suffix", name=path.name))
    if fmt == "json":
        if data is None:
            raise DocumentError(refusal("no_json"))
        write_atomic(path, json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
        return path
    if html is None:
        raise DocumentError(refusal("no_html"))
    if fmt == "html":
        write_atomic(path, html)
    else:
        from santegarde.atomic import write_new_bytes

        if path.exists():
            path.unlink()
        write_new_bytes(path, html_to_pdf(html))
    return path
