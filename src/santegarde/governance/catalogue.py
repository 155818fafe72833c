"""The controller's documents as one catalogue, produced on demand by the functions the CLI commands use.

The record of processing activities (``santegarde register``), the information notices in every format the text
allows (``santegarde notice``), the DPIA and its export for the CNIL's PIA tool (``santegarde dpia``) and the
conformity report (``santegarde conformity``): each is written by its own module into a private temporary
directory and handed back as bytes, so the console's copy is the CLI's copy. Producing a DPIA here does not
record it as the reference for later changes (``dpia generate`` does): a preview is not an adoption.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from santegarde.config import effective_referential
from santegarde.governance import conformity, doctext, dpia, ledgers, notices, transfers
from santegarde.governance.documents import DocumentError, write_document
from santegarde.governance.register import build_register, write_register
from santegarde.referentials import loader
from santegarde.runtime import Organisation

MEDIA = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "txt": "text/plain; charset=utf-8",
}
NOTICE = "notice-"


@dataclass(frozen=True)
class Document:
    key: str  # register, notice-leaflet, dpia, dpia-pia, conformity
    formats: tuple[str, ...]  # the first one is the preview's


def catalogue(org: Organisation) -> tuple[Document, ...]:
    """The documents of this organisation, with their formats (the notices its référentiel allows)."""
    rid = org.config.referential
    notice_formats = [f for f in notices.FORMATS if notices.ONLY_FOR.get(f, rid) == rid]
    return (
        Document("register", ("html", "pdf", "xlsx", "json")),
        *(Document(NOTICE + f, ("txt",) if f == "email" else ("html", "pdf")) for f in notice_formats),
        Document("dpia", ("html", "pdf", "json")),
        Document("dpia-pia", ("json",)),
        Document("conformity", ("html", "pdf", "json")),
    )


def find(org: Organisation, key: str, fmt: str) -> Document:
    """The document ``key`` in format ``fmt``, or a refusal saying what exists."""
    for doc in catalogue(org):
        if doc.key == key:
            if fmt not in doc.formats:
                raise DocumentError(doctext.refusal("catalogue_format", format=fmt, formats=", ".join(doc.formats)))
            return doc
    raise DocumentError(doctext.refusal("catalogue_key", document=key))


def produce(
    org: Organisation, key: str, fmt: str, lang: str = "fr", programmes: Sequence[notices.ProgrammeFacts] = ()
) -> bytes:
    """The document's bytes in ``fmt`` and ``lang``, written by its module (refusals are the module's own).

    ``programmes``: the compassionate-access programmes the notices name (the caller reads them from the
    organisation's programme files)."""
    doctext.check_lang(lang)
    find(org, key, fmt)
    with tempfile.TemporaryDirectory(prefix="santegarde-doc-") as folder:
        path = Path(folder) / f"{key}.{fmt}"
        if key.startswith(NOTICE):
            _notice(org, key, path, lang, programmes)
        else:
            _WRITERS[key](org, key, path, lang)
        return path.read_bytes()


def _register(org: Organisation, _: str, path: Path, lang: str) -> None:
    cfg = org.config
    ref = loader.get(cfg.referential)
    counts = ledgers.from_database(org.engine, effective_referential(cfg, ref), org.audit.now(), lang)
    write_register(build_register(cfg, ref, lang=lang, ledgers=counts), path)


def _notice(
    org: Organisation, key: str, path: Path, lang: str, programmes: Sequence[notices.ProgrammeFacts]
) -> None:
    cfg = org.config
    built = notices.build_notice(
        cfg,
        loader.get(cfg.referential),
        key[len(NOTICE) :],
        lang,
        programmes=programmes,
        declared=transfers.entries(org.engine),
    )
    notices.write_notice(built, path)


def _dpia(org: Organisation, key: str, path: Path, lang: str) -> None:
    cfg = org.config
    ref = loader.get(cfg.referential)
    counts = ledgers.from_database(org.engine, dpia.applied(cfg, ref), org.audit.now(), lang)
    document = dpia.build(cfg, ref, lang, counts)
    if key == "dpia-pia":
        write_document(path, data=dpia.to_pia(document))
    else:
        write_document(path, html=dpia.render(document), data=document)


def _conformity(org: Organisation, _: str, path: Path, lang: str) -> None:
    conformity.write(conformity.conformity_report(org, clock=org.audit.now, lang=lang), path)


_WRITERS: dict[str, Callable[[Organisation, str, Path, str], None]] = {
    "register": _register,
    "dpia": _dpia,
    "dpia-pia": _dpia,
    "conformity": _conformity,
}
