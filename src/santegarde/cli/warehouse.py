"""santegarde warehouse committee | project | workspace | reidentify: governance, workspaces, re-identification.

Governance commands (EDS-2, EDS-3) record who acted with ``--by``. Working in a workspace and the
re-identification procedures need the user's own session (``santegarde login``): the actor is the session's
login and the profile chosen at login. ``app`` also carries ``init``, ``feed`` and ``oppose`` from
``santegarde.cli.warehouse_core``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from santegarde.atomic import write_atomic
from santegarde.cli import warehouse_core, warehouse_export, warehouse_identity, warehouse_measure
from santegarde.cli.common import JsonOption, console, friendly_errors, show_table
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.cli.session import CliSession, logged_in
from santegarde.config import CONFIG_NAME
from santegarde.governance import doctext
from santegarde.identity import sessions
from santegarde.referentials.model import Sensitivity
from santegarde.runtime import Organisation, identity_context
from santegarde.warehouse import Warehouse
from santegarde.warehouse import governance as gov
from santegarde.warehouse.reidentify import PROCEDURES, Operator, Reidentification
from santegarde.warehouse.workspace import Workspaces

app = typer.Typer(
    help="Health data warehouse: stores, feeds, governance, workspaces, re-identification.", no_args_is_help=True
)
committee_app = typer.Typer(
    help="Steering committee's data list; scientific and ethics committee.", no_args_is_help=True
)
project_app = typer.Typer(help="Projects submitted to the scientific and ethics committee.", no_args_is_help=True)
workspace_app = typer.Typer(help="Sealed project workspaces: create, query (traced), close.", no_args_is_help=True)
reidentify_app = typer.Typer(
    help="Re-identification procedures (recontact team, second approver).", no_args_is_help=True
)
app.registered_commands.extend(warehouse_core.app.registered_commands)
app.add_typer(committee_app, name="committee")
app.add_typer(project_app, name="project")
app.add_typer(workspace_app, name="workspace")
app.add_typer(reidentify_app, name="reidentify")
app.add_typer(warehouse_export.app, name="export")
app.add_typer(warehouse_identity.app, name="identity")
app.add_typer(warehouse_measure.app, name="measure")
app.command("indicator")(warehouse_export.indicator)

By = Annotated[str, typer.Option("--by", help="Who records it")]


@contextmanager
def _warehouse(org: Organisation, config: Path) -> Iterator[Warehouse]:
    warehouse = Warehouse.open(warehouse_core.warehouse_directory(config), org.keyring, create=False)
    try:
        yield warehouse
    finally:
        warehouse.close()


def _operator(s: CliSession) -> Operator:
    current = sessions.require(s.identity, s.token, sensitivity=Sensitivity.SPECIAL)
    return Operator(current.login, current.profile)


# ---- committee ---------------------------------------------------------------------------------------------------


@committee_app.command("variable-add")
@friendly_errors
def variable_add(
    variables: Annotated[list[str], typer.Argument(help="table.column, e.g. measurement.value_as_number (several)")],
    justification: Annotated[str, typer.Option("--justification", help="Why the warehouse needs them")],
    by: By,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Put variables on the steering committee's data list, with their justification (EDS-3): all or none."""
    with opened(config) as org:
        entries = gov.declare_variables(org.engine, variables, justification, by=by)
    for entry in entries:
        console.print(f"{entry.variable} is on the data list.")


@committee_app.command("variable-remove")
@friendly_errors
def variable_remove(variable: str, config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Take a variable off the data list."""
    with opened(config) as org:
        gov.remove_variable(org.engine, variable)
    console.print(f"{variable} is no longer on the data list.")


@committee_app.command("data-list")
@friendly_errors
def data_list(
    output: Annotated[Path | None, typer.Option("--output", help="Write it as YAML for `warehouse feed`")] = None,
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: JsonOption = False,
) -> None:
    """Show the data list (or write it as the YAML the feeds take)."""
    with opened(config) as org:
        entries = gov.data_list(org.engine)
    if output is not None:
        output.write_text(yaml.safe_dump({e.variable: e.justification for e in entries}, allow_unicode=True))
        console.print(f"{len(entries)} variable(s) written to {output}.")
        return
    table = Table("Variable", "Justification", "By", title="Steering committee's data list")
    for e in entries:
        table.add_row(e.variable, e.justification, e.recorded_by)
    show_table(table, as_json)


@committee_app.command("member-add")
@friendly_errors
def member_add(
    name: str,
    role: Annotated[list[str], typer.Option("--role", help=", ".join(gov.ROLES))],
    by: By,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Seat a member on the scientific and ethics committee."""
    with opened(config) as org:
        member = gov.add_member(org.engine, name, role, by=by)
        missing = gov.composition(org.engine).missing
    console.print(f"Member {member.id} seated: {member.name} ({', '.join(member.roles)}).")
    if missing:
        console.print("Still lacking: " + "; ".join(gov.ROLES[r] for r in missing) + ".")


@committee_app.command("member-remove")
@friendly_errors
def member_remove(member_id: int, config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """A member leaves the committee."""
    with opened(config) as org:
        gov.remove_member(org.engine, member_id)
    console.print(f"Member {member_id} has left the committee.")


@committee_app.command("show")
@friendly_errors
def committee_show(config: ConfigOption = Path(CONFIG_NAME), as_json: JsonOption = False) -> None:
    """The committee's members and whether its composition is complete."""
    with opened(config) as org:
        comp = gov.composition(org.engine)
    table = Table("Id", "Name", "Roles", title="Scientific and ethics committee")
    for m in comp.members:
        table.add_row(str(m.id), m.name, ", ".join(m.roles))
    show_table(table, as_json)
    console.print(
        "Composition complete."
        if comp.complete
        else "Incomplete, lacking: " + "; ".join(gov.ROLES[r] for r in comp.missing)
    )


@committee_app.command("opinion")
@friendly_errors
def opinion(
    code: str,
    decision: Annotated[str, typer.Option("--decision", help="favourable or unfavourable")],
    reasoning: Annotated[str, typer.Option("--reasoning", help="The committee's reasons")],
    by: By,
    decided_on: Annotated[str | None, typer.Option("--date", help="Date of the opinion, YYYY-MM-DD (today)")] = None,
    cohort: Annotated[str | None, typer.Option("--cohort", help="SELECT person_id … on OMOP (favourable)")] = None,
    approve: Annotated[list[str] | None, typer.Option("--approve", help="Approved variable (default: all)")] = None,
    notices: Annotated[Path, typer.Option("--notices", help="Where the letters are written")] = Path("notices"),
    lang: Annotated[str, typer.Option("--lang", help="The letter's language: fr (default) or en")] = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Record the committee's reasoned opinion and send the letter (French unless --lang en) to the project leader."""
    with opened(config) as org:
        recorded = gov.record_opinion(
            org.engine,
            org.referential,
            code,
            decision=decision,
            reasoning=reasoning,
            decided_on=date.fromisoformat(decided_on) if decided_on else date.today(),
            by=by,
            notices_dir=notices,
            organisation_name=org.config.organisation.name,
            cohort_sql=cohort,
            approved_variables=approve or None,
            lang=lang,
        )
    console.print(
        f"Opinion {recorded.id} ({recorded.decision}) recorded; letter to the leader: {recorded.notice_path}."
    )


@committee_app.command("yearly-list")
@friendly_errors
def yearly_list(
    year: int,
    output: Annotated[Path, typer.Option("--output", help=".html, .pdf or .json")],
    lang: Annotated[str, typer.Option("--lang", help="fr (default) or en")] = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """The list of the year's opinions for the DPO (French unless --lang en)."""
    doctext.check_lang(lang)
    with opened(config) as org:
        gov.write_yearly_list(org.engine, org.referential, year, output, org.config.organisation.name, lang)
    console.print(f"List of {year}'s opinions written to {output}.")


# ---- projects ----------------------------------------------------------------------------------------------------


def _variables(values: list[str]) -> dict[str, str]:
    out = {}
    for value in values:
        name, _, why = value.partition("=")
        out[name.strip()] = why.strip()
    return out


@project_app.command("submit")
@friendly_errors
def project_submit(
    code: str,
    title: Annotated[str, typer.Option("--title")],
    leader: Annotated[str, typer.Option("--leader")],
    contact: Annotated[str, typer.Option("--contact", help="The leader's e-mail or address")],
    purpose: Annotated[str, typer.Option("--purpose", help="A purpose of the référentiel (EDS-2)")],
    variable: Annotated[list[str], typer.Option("--variable", help="table.column=justification (repeat)")],
    by: By,
    formality: Annotated[str | None, typer.Option("--formality", help="Research formality reference")] = None,
    follow_up: Annotated[bool, typer.Option("--follow-up", help="Declared cohort follow-up")] = False,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Submit a project for the committee's opinion."""
    with opened(config) as org:
        project = gov.submit_project(
            org.engine,
            org.referential,
            code=code,
            title=title,
            leader=leader,
            leader_contact=contact,
            purpose=purpose,
            variables=_variables(variable),
            by=by,
            formality_reference=formality,
            cohort_follow_up=follow_up,
        )
    console.print(f"Project {project.code} submitted with {len(project.variables)} variable(s); awaiting the opinion.")


@project_app.command("list")
@friendly_errors
def project_list(config: ConfigOption = Path(CONFIG_NAME), as_json: JsonOption = False) -> None:
    """Every project and its status."""
    with opened(config) as org:
        projects = gov.list_projects(org.engine)
    table = Table("Code", "Title", "Purpose", "Status", "Leader", title="Warehouse projects")
    for p in projects:
        table.add_row(p.code, p.title, p.purpose, p.status, p.leader)
    show_table(table, as_json)


@project_app.command("show")
@friendly_errors
def project_show(code: str, config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """A project with its variables (requested, approved) and cohort."""
    with opened(config) as org:
        p = gov.get_project(org.engine, code)
    console.print(f"{p.code}: {p.title} — {p.purpose}, {p.status}; leader {p.leader} ({p.leader_contact}).")
    for v in p.variables:
        console.print(f"  {v.variable} [{'approved' if v.approved else 'requested'}]: {v.justification}")
    if p.cohort_sql:
        console.print(f"  cohort: {p.cohort_sql}")


# ---- workspaces --------------------------------------------------------------------------------------------------


@workspace_app.command("create")
@friendly_errors
def workspace_create(code: str, by: By, config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Build the workspace of a project with a favourable opinion."""
    with opened(config) as org, _warehouse(org, config) as warehouse:
        info = Workspaces(warehouse, org.engine, org.audit, identity=identity_context(org)).create(code, by=by)
    tables = "; ".join(f"{t} ({', '.join(c)})" for t, c in info.tables.items())
    console.print(f"Workspace of {code} created for {info.persons} person(s): {tables}.")


@workspace_app.command("query")
@friendly_errors
def workspace_query(code: str, sql: str, config: ConfigOption = Path(CONFIG_NAME), as_json: JsonOption = False) -> None:
    """Run SQL in a project's workspace as yourself (traced)."""
    with logged_in(config) as s, _warehouse(s.org, config) as warehouse:
        actor = _operator(s).login
        with Workspaces(warehouse, s.org.engine, s.org.audit, identity=s.identity).open(code, actor) as ws:
            result = ws.query(sql, actor)
    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*(str(v) for v in row))
    show_table(table, as_json)


@workspace_app.command("close")
@friendly_errors
def workspace_close(code: str, by: By, config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """End a project: delete its workspace and start the end-of-project reviews."""
    with opened(config) as org, _warehouse(org, config) as warehouse:
        ctx = identity_context(org)
        report = Workspaces(warehouse, org.engine, org.audit, identity=ctx).close_project(code, by=by)
    console.print(
        f"Project {code} closed; workspace deleted ({', '.join(report.deleted) or 'no file'}). "
        f"Authorisation review: {report.authorisation_review}; review of the traces: {report.audit_review}."
    )
    if report.note:
        console.print(report.note)


# ---- re-identification -------------------------------------------------------------------------------------------


def _parameters(
    kind: str, family: str | None, given: str | None, birthdate: str | None, criteria: str | None, pseudonym: str | None
) -> dict[str, str]:
    if kind == "rights":
        return {"family": family or "", "given": given or "", "birthdate": birthdate or ""}
    if kind == "recontact":
        return {"criteria": criteria or ""}
    return {"pseudonym": pseudonym or ""}


Family = Annotated[str | None, typer.Option("--family", help="rights: family name")]
Given = Annotated[str | None, typer.Option("--given", help="rights: first given name")]
Birthdate = Annotated[str | None, typer.Option("--birthdate", help="rights: YYYY-MM-DD")]
Criteria = Annotated[str | None, typer.Option("--criteria", help="recontact: SELECT person_id … on OMOP")]
Pseudonym = Annotated[str | None, typer.Option("--pseudonym", help="emergency: pseudonym or person_id")]


@reidentify_app.command("request")
@friendly_errors
def reidentify_request(
    kind: Annotated[str, typer.Argument(help=", ".join(PROCEDURES))],
    reference: Annotated[str, typer.Option("--reference", help="The request's reference")],
    justification: Annotated[str, typer.Option("--justification", help="Why (at least 20 characters)")],
    purpose: Annotated[str | None, typer.Option("--purpose")] = None,
    action: Annotated[str | None, typer.Option("--action", help="rights: extract or delete")] = None,
    family: Family = None,
    given: Given = None,
    birthdate: Birthdate = None,
    criteria: Criteria = None,
    pseudonym: Pseudonym = None,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Register a re-identification request; a second team member must approve it."""
    with logged_in(config) as s, _warehouse(s.org, config) as warehouse:
        rei = Reidentification(warehouse, s.org.engine, s.identity, s.org.audit)
        req = rei.request(
            _operator(s),
            kind,
            reference=reference,
            justification=justification,
            purpose=purpose,
            action=action,
            parameters=_parameters(kind, family, given, birthdate, criteria, pseudonym),
        )
    console.print(f"Request {req.id} registered ({req.kind}, {req.purpose}); a second team member approves it.")


@reidentify_app.command("approve")
@friendly_errors
def reidentify_approve(request_id: int, config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Approve a colleague's request (never your own)."""
    with logged_in(config) as s, _warehouse(s.org, config) as warehouse:
        req = Reidentification(warehouse, s.org.engine, s.identity, s.org.audit).approve(request_id, _operator(s))
    console.print(f"Request {req.id} approved by {req.decided_by}.")


@reidentify_app.command("reject")
@friendly_errors
def reidentify_reject(request_id: int, config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Turn a colleague's request down."""
    with logged_in(config) as s, _warehouse(s.org, config) as warehouse:
        req = Reidentification(warehouse, s.org.engine, s.identity, s.org.audit).reject(request_id, _operator(s))
    console.print(f"Request {req.id} rejected.")


@reidentify_app.command("list")
@friendly_errors
def reidentify_list(config: ConfigOption = Path(CONFIG_NAME), as_json: JsonOption = False) -> None:
    """The re-identification requests and their status."""
    with logged_in(config) as s, _warehouse(s.org, config) as warehouse:
        _operator(s)
        requests = Reidentification(warehouse, s.org.engine, s.identity, s.org.audit).list_requests()
    table = Table("Id", "Kind", "Reference", "Purpose", "Status", "By", "Approved by")
    for r in requests:
        table.add_row(str(r.id), r.kind, r.reference, r.purpose, r.status, r.requested_by, r.decided_by or "")
    show_table(table, as_json)


@reidentify_app.command("run")
@friendly_errors
def reidentify_run(
    request_id: int,
    output: Annotated[Path, typer.Option("--output", help="JSON file for the result (for this purpose only)")],
    family: Family = None,
    given: Given = None,
    birthdate: Birthdate = None,
    criteria: Criteria = None,
    pseudonym: Pseudonym = None,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Carry out your approved request with the same parameters; the result goes to a file, not the screen."""
    with logged_in(config) as s, _warehouse(s.org, config) as warehouse:
        rei = Reidentification(warehouse, s.org.engine, s.identity, s.org.audit)
        operator = _operator(s)
        kind = rei.get(request_id).kind
        result: Any
        if kind == "rights":
            result = rei.rights(request_id, operator, _parameters(kind, family, given, birthdate, None, None))
        elif kind == "recontact":
            result = rei.recontact(request_id, operator, criteria or "")
        else:
            result = rei.emergency(request_id, operator, pseudonym or "")
    write_atomic(output, json.dumps(asdict(result), ensure_ascii=False, indent=2, default=str) + "\n", mode=0o600)
    console.print(f"Request {request_id} carried out; result written to {output} (readable by you only).")
