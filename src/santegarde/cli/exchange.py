"""santegarde exchange send | open — documents encrypted for a verified recipient, the secret sent apart (COM-EXC-1)."""

from __future__ import annotations

import errno
import getpass
import hashlib
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from santegarde.atomic import AlreadyExists, write_new_bytes
from santegarde.audit.trail import AuditEvent
from santegarde.cli.common import LangOption, console, friendly_errors
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.crypto.exchange import (
    ExchangeError,
    Recipient,
    check_recipient,
    open_envelope,
    parse_recipient,
    seal,
)
from santegarde.errors import WordedError
from santegarde.runtime import Organisation

SECRET_ENV = "SANTEGARDE_EXCHANGE_SECRET"  # noqa: S105 - the name of a variable, not a secret

app = typer.Typer(
    help="Secure exchange: encrypt a document for a verified recipient; the secret goes by another channel.",
    no_args_is_help=True,
)


def _exists(path: Path) -> WordedError:
    from santegarde import refusals

    return WordedError(refusals.sentences("files", "out_exists", path=escape(str(path))))


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise _exists(path)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        french = {
            errno.ENOENT: "fichier introuvable",
            errno.EACCES: "accès refusé",
            errno.EISDIR: "c'est un répertoire",
        }
        why = {"fr": french.get(exc.errno or 0, exc.strerror or "erreur"), "en": exc.strerror or "error"}
        raise ExchangeError("unreadable", path=escape(str(path)), why=why) from None


def write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path`` (mode 0600) atomically: all or nothing, never over an existing file."""
    try:
        write_new_bytes(path, data)
    except AlreadyExists:
        raise _exists(path) from None


def neutral_name(directory: Path) -> Path:
    """A new envelope path in ``directory`` that says nothing of the document: ``<8 random hex>.sgx``."""
    return directory / f"{secrets.token_hex(4)}.sgx"


def seal_to(
    org: Organisation,
    document: bytes,
    filename: str,
    recipient: Recipient,
    target: Path,
    *,
    actor: str,
    purpose: str = "professional_communications",
    rule: str = "COM-EXC-1",
) -> str:
    """Seal ``document`` for ``recipient`` into the new file ``target`` and trace it (by the envelope's hash, never
    its content); the one-time secret, to be given by another channel. Nothing is left behind when it fails."""
    envelope, secret = seal(document, recipient, filename=filename)
    write_new(target, envelope)
    try:
        org.audit.append(
            AuditEvent(
                actor=actor,
                profile="",
                operation="exchange.send",
                resource_type="Document",
                resource_id=hashlib.sha256(envelope).hexdigest(),
                purpose=purpose,
                allowed=True,
                rule=rule,
                section="",
                outcome="success",
                referential=org.referential.id,
            )
        )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return secret


@app.command("send")
@friendly_errors
def send(
    file: Annotated[Path, typer.Argument(help="The document to send")],
    to: Annotated[str, typer.Option("--to", help="RPPS number or secure health messaging address (….mssante.fr)")],
    out: Annotated[
        Path | None, typer.Option("--out", help="The envelope to write (default: <8 random hex>.sgx beside FILE)")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who sends (default: the system user)")] = None,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Encrypt FILE for a verified recipient; print the one-time secret to give by another channel."""
    recipient = parse_recipient(to)
    target = out if out is not None else neutral_name(file.parent)
    _refuse_existing(target)
    document = _read(file)
    with opened(config) as org:
        secret = seal_to(org, document, file.name, recipient, target, actor=by or getpass.getuser())
    console.print(
        f"Envelope for {recipient.kind} {escape(recipient.value)} written to {escape(str(target))}.", soft_wrap=True
    )
    console.print(f"One-time secret (shown only now): [bold]{secret}[/]", soft_wrap=True)
    console.print(
        "Send the envelope by e-mail; give this secret to the recipient by another channel (phone, SMS or in "
        "person), never in the same e-mail nor by e-mail at all.",
        soft_wrap=True,
    )


def _ask_secret() -> str:
    """From SANTEGARDE_EXCHANGE_SECRET if set (scripts, tests), else typed without echo; never an argument."""
    value = os.environ.get(SECRET_ENV)
    if value:
        return value
    return str(typer.prompt("One-time secret", hide_input=True))


@app.command("open")
@friendly_errors
def open_(
    envelope: Annotated[Path, typer.Argument(help="The envelope received (.sgx)")],
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the document")] = None,
    recipient: Annotated[
        str | None, typer.Option("--recipient", help="Your RPPS number or MSSanté address: refuse envelopes for others")
    ] = None,
    lang: LangOption = "fr",
) -> None:
    """Decrypt an envelope with the secret received by another channel."""
    expected = parse_recipient(recipient) if recipient is not None else None
    data = _read(envelope)
    if expected is not None:
        check_recipient(data, expected)
    if out is not None:
        _refuse_existing(out)
    result = open_envelope(data, _ask_secret(), recipient=expected)
    if out is None and not result.filename:
        raise ExchangeError("no_filename")
    target = out if out is not None else envelope.parent / result.filename
    write_new(target, result.document)
    console.print(
        f"Document for {result.recipient.kind} {escape(result.recipient.value)}, sealed "
        f"{result.created_at.isoformat()}, written to {escape(str(target))}.",
        soft_wrap=True,
    )
