"""The ``santegarde`` command."""

from __future__ import annotations

import typer

from santegarde.cli import (
    audit,
    backup,
    conformity,
    consent,
    deid,
    demo,
    dpia,
    exchange,
    governance_docs,
    keys,
    maintenance,
    measures,
    organisation,
    policy,
    records,
    referential,
    registers,
    retention,
    rights,
    serve,
    session,
    trace,
    users,
    warehouse,
    warehouse_export,
)
from santegarde.private import owner_only_umask

app = typer.Typer(
    name="santegarde",
    help="French health-data processing compliant with the CNIL health référentiels by construction.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main() -> None:
    """French health-data processing compliant with the CNIL health référentiels by construction."""
    owner_only_umask()  # every file and directory a command creates is readable by its owner only


app.add_typer(referential.app, name="referential")
app.add_typer(organisation.config_app, name="config")
app.add_typer(policy.app, name="policy")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(users.app, name="user")
app.add_typer(users.review_app, name="review")
app.add_typer(maintenance.app, name="maintenance")
app.add_typer(measures.app, name="measure")
app.add_typer(exchange.app, name="exchange")
app.add_typer(dpia.app, name="dpia")
app.add_typer(backup.app, name="backup")
app.add_typer(registers.breach_app, name="breach")
app.add_typer(registers.processor_app, name="processor")
app.add_typer(registers.transfer_app, name="transfer")
app.add_typer(retention.app, name="retention")
app.add_typer(governance_docs.register_app, name="register")
app.add_typer(governance_docs.notice_app, name="notice")
app.add_typer(records.record_app, name="record")
app.add_typer(records.archive_app, name="archive")
app.add_typer(consent.consent_app, name="consent")
app.add_typer(consent.objection_app, name="objection")
app.add_typer(rights.app, name="rights")
warehouse.app.add_typer(warehouse_export.app, name="export")
warehouse.app.command("indicator")(warehouse_export.indicator)
app.add_typer(warehouse.app, name="warehouse")
app.add_typer(deid.app, name="deid")
app.command()(session.login)
app.command()(session.logout)
app.command()(session.whoami)
app.command()(session.unlock)
app.command()(organisation.init)
app.command()(trace.trace)
app.command()(demo.demo)
app.command()(serve.serve)
app.command("conformity")(conformity.conformity)
