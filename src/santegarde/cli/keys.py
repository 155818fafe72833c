"""santegarde keys init | rotate | rotate-master — the key-management procedure (COM-CRY-1)."""

from __future__ import annotations

import getpass
import importlib
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from santegarde.audit.trail import AuditEvent
from santegarde.cli.common import LangOption, console, friendly_errors
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME, load
from santegarde.crypto import KeyFamily, create_keyring, create_keystore
from santegarde.crypto.keyring import rotate_master_key
from santegarde.errors import WordedError
from santegarde.faults import crash_point
from santegarde.runtime import PASSPHRASE_ENV, Organisation, database_present, open_organisation
from santegarde.store.writeahead import INTENT, trace_ahead

app = typer.Typer(
    help="Keys: create the keystore and keyring, rotate data keys or the master key.", no_args_is_help=True
)


def _said(lang: str) -> dict[str, Any]:
    """What the key commands print and ask, in ``lang`` (documents_text.yaml, keys_desk)."""
    from santegarde.governance import doctext

    found: dict[str, Any] = doctext.words(lang)["keys_desk"]
    return found


def _refused(key: str, **facts: Any) -> WordedError:
    """A refusal of the key commands in French and English (refusals.yaml, keys)."""
    from santegarde import refusals

    return WordedError(refusals.sentences("keys", key, **facts))


def ask_passphrase(
    prompt: str = "ask_keystore", *, confirm: bool = False, env: str = PASSPHRASE_ENV, lang: str = "fr"
) -> str:
    """From the environment variable if set (jobs, CI), else typed without echo; never an argument.

    ``prompt`` names the question in ``keys_desk`` (the keystore's passphrase by default), asked in ``lang``."""
    value = os.environ.get(env)
    if value:
        return value
    try:
        return str(typer.prompt(_said(lang)[prompt], hide_input=True, confirmation_prompt=confirm))
    except typer.Abort:  # no terminal (a job, a pipe) or Ctrl-C: say what is missing rather than "Aborted."
        raise _refused("no_passphrase", env=env) from None


@contextmanager
def opened(config: Path) -> Iterator[Organisation]:
    """The organisation of ``config``, opened with its keys for the duration of one command.

    Every command that opens the keys is journaled in the audit trail when it ends (EDS-SEC-DAY-2): who ran
    it (the operating-system account and host), which command and which options were given (names only:
    values may be identities or health data), and whether it succeeded.
    """
    org = open_organisation(config, ask_passphrase())
    outcome = "error"
    try:
        yield org
        outcome = "success"
    except typer.Exit as done:
        outcome = "success" if not done.exit_code else "error"
        raise
    finally:
        try:
            if database_present(org.audit.engine, "audit_entry"):  # no trail here yet: create no empty database
                journal_command(org, outcome)
        finally:
            org.close()


def _current_context() -> Any:
    """The running command's context (Typer now carries its own copy of Click; older releases used Click's)."""
    typer_main = importlib.import_module("typer.main")
    getter = getattr(typer_main, "get_current_context", None)
    if getter is None:  # pragma: no cover - Typer releases that still run on Click
        getter = importlib.import_module("click").get_current_context
    return getter(silent=True)


def journal_command(org: Organisation, outcome: str) -> None:
    """Append the running command to the organisation's audit trail (references only, never an option's value)."""
    ctx = _current_context()
    command = ctx.command_path if ctx is not None else "santegarde"
    given = sorted(
        name for name, source in ((n, ctx.get_parameter_source(n)) for n in (ctx.params if ctx else {}))
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")
    ) if ctx is not None else []  # fmt: skip
    org.audit.append(
        AuditEvent(
            actor=getpass.getuser(),
            profile="",
            operation="administration.command",
            resource_type="command",
            resource_id=" ".join([command, *(f"--{name.replace('_', '-')}" for name in given)]),
            purpose="administration",
            allowed=outcome == "success",
            rule="EDS-SEC-DAY-2",
            section="",
            outcome=outcome,
            source=f"cli@{socket.gethostname()}",
            referential=org.referential.id,
        )
    )


@app.command("init")
@friendly_errors
def init_keys(lang: LangOption = "fr", config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Create the passphrase-protected keystore and a data key for every family."""
    said = _said(lang)
    keydir = Path(load(config).keyring_path)
    master = create_keystore(keydir, ask_passphrase(confirm=True, lang=lang))
    ring = create_keyring(master, keydir)
    families = ", ".join(said["families"][f.value] for f in ring.keys)
    console.print(said["created"].format(directory=keydir, families=families), markup=False)


def _key_event(org: Organisation, operation: str, resource_id: str, outcome: str) -> AuditEvent:
    return AuditEvent(
        actor=getpass.getuser(),
        profile="",
        operation=operation,
        resource_type="Keyring",
        resource_id=resource_id,
        purpose="security",
        allowed=True,
        rule="COM-CRY-1",
        section="",
        outcome=outcome,
        source=f"cli@{socket.gethostname()}",
        referential=org.referential.id,
    )


@app.command("rotate")
@friendly_errors
def rotate(
    family: Annotated[KeyFamily, typer.Argument(help="The data-key family to rotate")],
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Add a new version of a family's data key; values under older versions stay readable.

    Traced write-ahead: the intent is in the audit trail before the keyring is rewritten (atomically).
    """
    said = _said(lang)
    if family is KeyFamily.AUDIT_SEAL:
        raise _refused("audit_seal_rotation")
    with opened(config) as org:
        target = f"{family.value} v{org.keyring.current_version(family) + 1}"
        trace_ahead(org.audit, [_key_event(org, "keys.rotate", target, INTENT)], "keys.rotate.intent")
        version = org.keyring.rotate(family)
        org.keyring.save(Path(org.config.keyring_path))
        crash_point("keys.rotate.saved")
        org.audit.append(_key_event(org, "keys.rotate", target, "success"))
    console.print(said["rotated"].format(family=said["families"][family.value], version=version), markup=False)


@app.command("rotate-master")
@friendly_errors
def rotate_master(lang: LangOption = "fr", config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Re-wrap every data key under a master key from a new passphrase; the old master key is gone after it.

    Traced write-ahead: the intent is in the audit trail before anything is rewritten. Interrupted, the next
    opening with the new passphrase completes it; with the old one, run the rotation again.
    """
    said = _said(lang)
    keydir = Path(load(config).keyring_path)
    old = ask_passphrase("ask_current", lang=lang)
    new = ask_passphrase("ask_new", confirm=True, env="SANTEGARDE_NEW_PASSPHRASE", lang=lang)
    org = open_organisation(config, old)
    try:
        trace_ahead(org.audit, [_key_event(org, "keys.rotate_master", "master", INTENT)], "keys.master.intent")
        ring = rotate_master_key(keydir, old, new)
        crash_point("keys.master.done")
        org.audit.append(_key_event(org, "keys.rotate_master", "master", "success"))
    finally:
        org.close()
    console.print(said["rewrapped"].format(n=sum(len(v) for v in ring.keys.values())))
