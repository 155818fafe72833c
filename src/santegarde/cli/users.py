"""santegarde user add | list | disable | reset-password | grant | revoke;
santegarde review start | status | decide | close.

Administration commands open the organisation with its keystore passphrase (the administrator's
credential) and name the administrator who acts (``--by``) in the audit trail.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from santegarde.cli.common import JsonOption, console, friendly_errors, show_table, table_rows
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.identifiers import validate_person_ref
from santegarde.identity import accounts, grants, reviews
from santegarde.identity.errors import GrantError
from santegarde.identity.tables import user
from santegarde.runtime import identity_context

app = typer.Typer(
    help="Accounts and their grants: one login per person, profiles from the référentiel.", no_args_is_help=True
)
review_app = typer.Typer(help="Authorisation reviews: every grant re-approved at least yearly.", no_args_is_help=True)

ByOption = Annotated[str, typer.Option("--by", help="The administrator acting (recorded in the audit trail)")]


def _by(value: str | None) -> str:
    return value or getpass.getuser()


def _until(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise GrantError(f"'{value}' is not a date: write the end date as YYYY-MM-DD.") from None
    return datetime.combine(day.date(), time.max, tzinfo=UTC)


@app.command("add")
@friendly_errors
def add(
    login: Annotated[str, typer.Argument(help="Individual login, e.g. dr.martin")],
    name: Annotated[str, typer.Option(help="The person's full name")],
    ref: Annotated[str | None, typer.Option(help="RPPS, ADELI or staff number: one account per person")] = None,
    technical: Annotated[
        bool, typer.Option(help="An account for a job; it never opens an interactive session")
    ] = False,
    by: ByOption = "",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Create an account; a person gets a one-time password to change at first login."""
    person_ref = validate_person_ref(ref) if ref else ref  # a mistyped RPPS is refused before anything is opened
    with opened(config) as org:
        account, temporary = accounts.add(
            identity_context(org),
            login,
            name,
            person_ref=person_ref,
            kind="technical" if technical else "person",
            by=_by(by),
        )
    console.print(f"Account '{account.login}' created ({account.kind}).")
    if temporary:
        console.print(f"One-time password, shown once — give it in person: {temporary}")
        console.print("It must be changed at first login. Grant a profile with `santegarde user grant`.")


@app.command("list")
@friendly_errors
def list_users(
    show_grants: Annotated[bool, typer.Option("--grants", help="List every grant too")] = False,
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: JsonOption = False,
) -> None:
    """The accounts, their status and second factor; with --grants, every grant and who validated it."""
    with opened(config) as org:
        ctx = identity_context(org)
        with org.engine.connect() as conn:
            rows = [accounts.Account.from_row(r) for r in conn.execute(user.select().order_by(user.c.login))]
        all_grants = grants.all_grants(ctx)
        now = ctx.now()
    table = Table("login", "name", "kind", "status", "2FA", "active profiles")
    for a in rows:
        active = ", ".join(g.profile for g in all_grants if g.login == a.login and g.active(now))
        table.add_row(a.login, a.display_name, a.kind, a.status, "yes" if a.totp_enrolled else "no", active or "—")
    if not as_json:
        show_table(table)
    gt = None
    if show_grants:
        gt = Table("grant", "login", "profile", "project", "validated by", "until", "status")
        for g in all_grants:
            state = "active" if g.active(now) else ("withdrawn" if g.revoked_at else "ended")
            until = f"{g.ends_at:%Y-%m-%d}" if g.ends_at else "—"
            gt.add_row(
                str(g.id), g.login, g.profile, g.project or "—", f"{g.validated_by} ({g.validator_role})", until, state
            )
        if not as_json:
            show_table(gt)
    if as_json:  # one document: the accounts, and the grants when asked
        found = {"accounts": table_rows(table), **({"grants": table_rows(gt)} if gt is not None else {})}
        print(json.dumps(found, ensure_ascii=False, indent=2))


@app.command("disable")
@friendly_errors
def disable(
    login: Annotated[str, typer.Argument(help="The account to disable")],
    reason: Annotated[str, typer.Option(help="Why, e.g. 'left the practice on 2026-11-30'")],
    by: ByOption = "",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Departure: disable the account at once, withdraw its grants and end its sessions."""
    with opened(config) as org:
        withdrawn = accounts.disable(identity_context(org), login, reason, by=_by(by))
    console.print(f"Account '{login}' disabled; {withdrawn} grant(s) withdrawn and its sessions ended.")


@app.command("reset-password")
@friendly_errors
def reset_password(
    login: Annotated[str, typer.Argument(help="The account whose password is reset")],
    by: ByOption = "",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Give a one-time password; the person must choose a new one at next login."""
    with opened(config) as org:
        temporary = accounts.reset_password(identity_context(org), login, by=_by(by))
    console.print(f"One-time password for '{login}', shown once — give it in person: {temporary}")


@app.command("grant")
@friendly_errors
def grant(
    login: Annotated[str, typer.Argument(help="The account")],
    profile: Annotated[str, typer.Argument(help="A profile of the organisation's référentiel")],
    validated_by: Annotated[str, typer.Option(help="Who validated this authorisation")],
    reason: Annotated[str, typer.Option(help="Why this person needs the profile")],
    role: Annotated[str, typer.Option(help="controller, governance_body or line_manager")] = "controller",
    until: Annotated[str | None, typer.Option(help="End date YYYY-MM-DD (required for time-limited profiles)")] = None,
    project: Annotated[str | None, typer.Option(help="Warehouse project of a project member")] = None,
    establishment: Annotated[
        str | None, typer.Option(help="The establishment whose patients a collecting staff member sees (AAC-8)")
    ] = None,
    by: ByOption = "",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Grant a référentiel profile, naming who validated it."""
    with opened(config) as org:
        given = grants.give(
            identity_context(org),
            login,
            profile,
            validated_by=validated_by,
            validator_role=role,
            reason=reason,
            ends_at=_until(until),
            project=project,
            establishment=establishment,
            by=_by(by),
        )
    console.print(
        f"Grant {given.id}: '{given.login}' may work as '{given.profile}'"
        + (f" until {given.ends_at:%Y-%m-%d}." if given.ends_at else ".")
    )


@app.command("revoke")
@friendly_errors
def revoke(
    grant_id: Annotated[int, typer.Argument(help="Grant number (santegarde user list --grants)")],
    reason: Annotated[str, typer.Option(help="Why it is withdrawn")],
    by: ByOption = "",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Withdraw a grant at once."""
    with opened(config) as org:
        withdrawn = grants.revoke(identity_context(org), grant_id, reason, by=_by(by))
    console.print(f"Grant {withdrawn.id} ('{withdrawn.login}' as '{withdrawn.profile}') withdrawn.")


def _print_report(report: reviews.ReviewReport) -> None:
    state = f"closed by {report.closed_by} on {report.closed_at:%Y-%m-%d}" if report.closed_at else "open"
    console.print(
        f"Review {report.id} ({report.reason}{' ' + report.project if report.project else ''}), "
        f"started by {report.started_by} on {report.started_at:%Y-%m-%d}: {state}."
    )
    table = Table("grant", "login", "profile", "project", "validated by", "decision", "decided by")
    for line in report.lines:
        table.add_row(
            str(line.grant_id),
            line.login,
            line.profile,
            line.project or "—",
            line.validated_by,
            line.decision,
            line.decided_by or "—",
        )
    show_table(table)
    console.print(
        f"{report.count('confirmed')} confirmed, {report.count('ended')} ended, {report.count('pending')} pending."
    )


@review_app.command("start")
@friendly_errors
def review_start(
    reason: Annotated[str, typer.Option(help="yearly, or project_end for a warehouse project")] = "yearly",
    project: Annotated[str | None, typer.Option(help="The project whose grants are reviewed")] = None,
    by: ByOption = "",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Open a review: every active grant is listed for re-approval."""
    with opened(config) as org:
        _print_report(reviews.start(identity_context(org), reason=reason, project=project, by=_by(by)))


@review_app.command("status")
@friendly_errors
def review_status(
    review_id: Annotated[int | None, typer.Argument(help="Review number (default: the latest)")] = None,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Print a review and its decisions."""
    with opened(config) as org:
        ctx = identity_context(org)
        chosen = review_id if review_id is not None else reviews.latest_id(ctx)
        if chosen is None:
            raise GrantError("No review has been run yet; start one with `santegarde review start`.")
        _print_report(reviews.report(ctx, chosen))


@review_app.command("decide")
@friendly_errors
def review_decide(
    review_id: Annotated[int, typer.Argument(help="Review number")],
    grant_id: Annotated[int, typer.Argument(help="Grant number")],
    confirm: Annotated[bool, typer.Option("--confirm/--end", help="Keep the grant, or end it now")],
    by: ByOption = "",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Confirm or end one grant of an open review."""
    with opened(config) as org:
        reviews.decide(identity_context(org), review_id, grant_id, confirm=confirm, by=_by(by))
    console.print(f"Grant {grant_id} {'confirmed' if confirm else 'ended'} in review {review_id}.")


@review_app.command("close")
@friendly_errors
def review_close(
    review_id: Annotated[int, typer.Argument(help="Review number")],
    by: ByOption = "",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Close a review: every grant not confirmed is ended now; prints the report."""
    with opened(config) as org:
        _print_report(reviews.close(identity_context(org), review_id, by=_by(by)))
