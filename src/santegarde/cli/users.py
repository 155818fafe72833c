"""santegarde user add | list | disable | reset-password | training | standing | grant | revoke;
santegarde review start | status | decide | close.

Administration commands open the organisation with its keystore passphrase (the administrator's
credential) and name the administrator who acts (``--by``) in the audit trail.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from santegarde.cli.common import JsonOption, LangOption, ReportJson, console, friendly_errors, show_table, table_rows
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.errors import WordedError
from santegarde.governance import transfers
from santegarde.identifiers import validate_person_ref
from santegarde.identity import accounts, grants, reviews, training
from santegarde.identity.tables import user
from santegarde.referentials.model import Referential
from santegarde.runtime import identity_context

app = typer.Typer(
    help="Accounts and their grants: one login per person, profiles from the référentiel.", no_args_is_help=True
)
review_app = typer.Typer(help="Authorisation reviews: every grant re-approved at least yearly.", no_args_is_help=True)

ByOption = Annotated[str, typer.Option("--by", help="The administrator acting (recorded in the audit trail)")]


def _by(value: str | None) -> str:
    return value or getpass.getuser()


def _profile_name(ref: Referential, profile: str, lang: str) -> str:
    """A profile as a person reads it: its name in ``lang`` beside its identifier (the one --profile takes)."""
    from santegarde.governance import vocabulary

    try:
        return f"{vocabulary.label(ref, 'accessor', profile, lang)} ({profile})"
    except vocabulary.VocabularyError:  # a grant of a profile the référentiel no longer has: its identifier
        return profile


def _said(lang: str) -> dict[str, Any]:
    """What the account and review commands print, in ``lang`` (documents_text.yaml, users_desk)."""
    from santegarde.governance import doctext

    found: dict[str, Any] = doctext.words(lang)["users_desk"]
    return found


def _refused(key: str, **facts: Any) -> WordedError:
    """A refusal of the account and review commands in French and English (refusals.yaml, users)."""
    from santegarde import refusals

    return WordedError(refusals.sentences("users", key, **facts))


def _until(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise _refused("not_a_date", value=value) from None
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
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Create an account; a person gets a one-time password to change at first login."""
    said = _said(lang)  # an unknown --lang is refused before anything is written
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
    kind = said["kinds"].get(account.kind, account.kind)
    console.print(said["created"].format(login=account.login, kind=kind), markup=False)
    if temporary:
        console.print(said["one_time"].format(password=temporary), markup=False, highlight=False)
        console.print(said["change_it"], markup=False)


@app.command("list")
@friendly_errors
def list_users(
    show_grants: Annotated[bool, typer.Option("--grants", help="List every grant too")] = False,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: JsonOption = False,
) -> None:
    """The accounts, their status and second factor; with --grants, every grant and who validated it."""
    said = _said("en" if as_json else lang)  # --json: stable keys and values for scripts
    with opened(config) as org:
        ctx = identity_context(org)
        with org.engine.connect() as conn:
            rows = [accounts.Account.from_row(r) for r in conn.execute(user.select().order_by(user.c.login))]
        all_grants = grants.all_grants(ctx)
        now = ctx.now()
        ref = org.referential

    def named(profile: str) -> str:  # --json: the identifier alone, for scripts
        return profile if as_json else _profile_name(ref, profile, lang)

    table = Table(*said["account_columns"])
    for a in rows:
        active = ", ".join(named(g.profile) for g in all_grants if g.login == a.login and g.active(now))
        table.add_row(
            a.login,
            a.display_name,
            said["kinds"].get(a.kind, a.kind),
            said["statuses"].get(a.status, a.status),
            said["yes"] if a.totp_enrolled else said["no"],
            active or "—",
        )
    if not as_json:
        show_table(table)
    gt = None
    if show_grants:
        gt = Table(*said["grant_columns"])
        for g in all_grants:
            state = said["grant_states"]["active" if g.active(now) else ("withdrawn" if g.revoked_at else "ended")]
            until = g.ends_at.strftime(said["date"]) if g.ends_at else "—"
            role = said["roles"].get(g.validator_role, g.validator_role)
            validated = said["validated_by"].format(who=g.validated_by, role=role)
            gt.add_row(
                str(g.id), g.login, named(g.profile), g.project or "—", g.country or "—", validated, until, state
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
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Departure: disable the account at once, withdraw its grants and end its sessions."""
    said = _said(lang)
    with opened(config) as org:
        withdrawn = accounts.disable(identity_context(org), login, reason, by=_by(by))
    console.print(said["disabled"].format(login=login, n=withdrawn), markup=False)


@app.command("reset-password")
@friendly_errors
def reset_password(
    login: Annotated[str, typer.Argument(help="The account whose password is reset")],
    by: ByOption = "",
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Give a one-time password; the person must choose a new one at next login."""
    said = _said(lang)
    with opened(config) as org:
        temporary = accounts.reset_password(identity_context(org), login, by=_by(by))
    console.print(said["reset"].format(login=login, password=temporary), markup=False, highlight=False)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _refused("not_a_date", value=value) from None


def _shown(day: date, lang: str) -> str:
    return f"{day:%d/%m/%Y}" if lang == "fr" else day.isoformat()


@app.command("training")
@friendly_errors
def training_add(
    login: Annotated[str, typer.Argument(help="The trained person's login")],
    on: Annotated[str, typer.Option("--on", help="The day the training took place, YYYY-MM-DD")],
    subject: Annotated[str, typer.Option(help="What it covered, e.g. professional secrecy and data risks")],
    by: ByOption = "",
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Record a sensitisation training a person attended (SEC-SEN-1); checked at login when access.training_months
    is set."""
    said = _said(lang)
    day = _day(on)
    with opened(config) as org:
        training.record(identity_context(org), login, day, subject, by=_by(by))
    console.print(said["trained"].format(login=login, date=_shown(day, lang), subject=subject.strip()), markup=False)


@app.command("standing")
@friendly_errors
def standing(
    login: Annotated[str, typer.Argument(help="The account")],
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """A person's sensitisation: the last training, its validity, and the confidentiality charters accepted."""
    said = _said(lang)
    with opened(config) as org:
        ctx = identity_context(org)
        found = training.standing(ctx, login)
        today = ctx.now().date()
    months = ctx.settings.training_months
    lines = [said["standing"].format(login=found.login)]
    if found.last_training is None:
        lines.append(said["no_training"])
    else:
        lines.append(said["last_training"].format(date=_shown(found.last_training, lang), subject=found.subject))
        if months is not None:
            until = training.valid_until(found.last_training, months)
            key = "valid_until" if today < until else "expired"
            lines.append(said[key].format(date=_shown(until, lang), months=months))
    if months is None:
        lines.append(said["not_checked"])
    lines += [said["charter"].format(version=v, date=_shown(at.date(), lang)) for v, at in found.charters]
    if not found.charters:
        lines.append(said["no_charter"])
    for line in lines:
        console.print(line, markup=False)


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
    country: Annotated[
        str | None,
        typer.Option(help="ISO 3166 code of the country it is used from (none: the EU/EEA); outside, a transfer"),
    ] = None,
    by: ByOption = "",
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Grant a référentiel profile, naming who validated it."""
    said = _said(lang)
    ends_at = _until(until)  # a mistyped date is refused before anything is opened
    with opened(config) as org:
        given = grants.give(
            identity_context(org),
            login,
            profile,
            validated_by=validated_by,
            validator_role=role,
            reason=reason,
            ends_at=ends_at,
            project=project,
            establishment=establishment,
            country=country,
            by=_by(by),
        )
    facts = {"id": given.id, "login": given.login, "profile": given.profile}
    if given.ends_at:
        console.print(said["granted_until"].format(**facts, until=given.ends_at.strftime(said["date"])), markup=False)
    else:
        console.print(said["granted"].format(**facts), markup=False)
    if given.establishment:
        console.print(said["establishment"].format(establishment=given.establishment), markup=False)
    if given.country:
        status = transfers.country_status(given.country)
        where = said["used_from"] if status.kind == "eea" else said["used_from_outside"]
        console.print(where.format(country=transfers.country_name(status.code, lang), code=status.code), markup=False)


@app.command("revoke")
@friendly_errors
def revoke(
    grant_id: Annotated[int, typer.Argument(help="Grant number (santegarde user list --grants)")],
    reason: Annotated[str, typer.Option(help="Why it is withdrawn")],
    by: ByOption = "",
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Withdraw a grant at once."""
    said = _said(lang)
    with opened(config) as org:
        withdrawn = grants.revoke(identity_context(org), grant_id, reason, by=_by(by))
    console.print(
        said["revoked"].format(id=withdrawn.id, login=withdrawn.login, profile=withdrawn.profile), markup=False
    )


def report_document(report: reviews.ReviewReport) -> dict[str, Any]:
    """A review as ``--json`` prints it: the same facts as the report, under stable English keys and codes."""
    return {
        "review": report.id,
        "reason": report.reason,
        "project": report.project,
        "started_by": report.started_by,
        "started_at": report.started_at.isoformat(),
        "closed_by": report.closed_by,
        "closed_at": report.closed_at.isoformat() if report.closed_at else None,
        "grants": [
            {
                "grant": item.grant_id,
                "login": item.login,
                "profile": item.profile,
                "project": item.project,
                "validated_by": item.validated_by,
                "decision": item.decision,
                "decided_by": item.decided_by,
            }
            for item in report.lines
        ],
        "counts": {d: report.count(d) for d in ("confirmed", "ended", "pending")},
    }


def _print_report(report: reviews.ReviewReport, said: dict[str, Any], as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(report_document(report), ensure_ascii=False, indent=2))
        return
    day = said["date"]
    state = (
        said["review_closed"].format(by=report.closed_by, at=report.closed_at.strftime(day))
        if report.closed_at
        else said["review_open"]
    )
    reason = said["reasons"].get(report.reason, report.reason)
    project = f" {report.project}" if report.project else ""
    at = report.started_at.strftime(day)
    line = said["review"].format(id=report.id, reason=reason, project=project, by=report.started_by, at=at, state=state)
    console.print(line, markup=False)
    table = Table(*said["review_columns"])
    for item in report.lines:
        decided_by = said["unconfirmed"] if item.decided_by == reviews.UNCONFIRMED else item.decided_by
        table.add_row(
            str(item.grant_id),
            item.login,
            item.profile,
            item.project or "—",
            item.validated_by,
            said["decisions"].get(item.decision, item.decision),
            decided_by or "—",
        )
    show_table(table)
    counts = {d: report.count(d) for d in ("confirmed", "ended", "pending")}
    console.print(said["counts"].format(**counts))


@review_app.command("start")
@friendly_errors
def review_start(
    reason: Annotated[str, typer.Option(help="yearly, or project_end for a warehouse project")] = "yearly",
    project: Annotated[str | None, typer.Option(help="The project whose grants are reviewed")] = None,
    by: ByOption = "",
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: ReportJson = False,
) -> None:
    """Open a review: every active grant is listed for re-approval."""
    said = _said(lang)
    with opened(config) as org:
        opened_review = reviews.start(identity_context(org), reason=reason, project=project, by=_by(by))
    _print_report(opened_review, said, as_json)


@review_app.command("status")
@friendly_errors
def review_status(
    review_id: Annotated[int | None, typer.Argument(help="Review number (default: the latest)")] = None,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: ReportJson = False,
) -> None:
    """Print a review and its decisions."""
    said = _said(lang)
    with opened(config) as org:
        ctx = identity_context(org)
        chosen = review_id if review_id is not None else reviews.latest_id(ctx)
        if chosen is None:
            raise _refused("no_review")
        _print_report(reviews.report(ctx, chosen), said, as_json)


@review_app.command("decide")
@friendly_errors
def review_decide(
    review_id: Annotated[int, typer.Argument(help="Review number")],
    grant_id: Annotated[int, typer.Argument(help="Grant number")],
    confirm: Annotated[bool, typer.Option("--confirm/--end", help="Keep the grant, or end it now")],
    by: ByOption = "",
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Confirm or end one grant of an open review."""
    said = _said(lang)
    with opened(config) as org:
        reviews.decide(identity_context(org), review_id, grant_id, confirm=confirm, by=_by(by))
    console.print(said["decided_confirmed" if confirm else "decided_ended"].format(grant=grant_id, review=review_id))


@review_app.command("close")
@friendly_errors
def review_close(
    review_id: Annotated[int, typer.Argument(help="Review number")],
    by: ByOption = "",
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: ReportJson = False,
) -> None:
    """Close a review: every grant not confirmed is ended now; prints the report."""
    said = _said(lang)
    with opened(config) as org:
        closed = reviews.close(identity_context(org), review_id, by=_by(by))
    _print_report(closed, said, as_json)
