"""Governance of the health data warehouse (EDS-2, EDS-3): data list, ethics committee, projects and opinions.

The steering committee keeps the exhaustive list of the warehouse's variables (``table.column``), each with its
justification. The scientific and ethics committee gives a prior reasoned opinion on every project; it cannot
record one until its composition is complete. A project is submitted with one of the référentiel's purposes
(forbidden and out-of-scope purposes are refused, research needs its formality reference) and the variables it
needs, each justified and each on the data list. The opinion is sent to the project leader as a letter and the
yearly list of opinions is produced for the DPO. Everything lives in the records database (governance history).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update

from santegarde.clock import utc_now
from santegarde.errors import SantegardeError
from santegarde.governance import doctext
from santegarde.governance.documents import render_html, write_document
from santegarde.governance.tables import (
    wh_committee_members,
    wh_data_list,
    wh_opinions,
    wh_project_variables,
    wh_projects,
)
from santegarde.governance.vocabulary import VocabularyError, label
from santegarde.referentials.model import Granularity, Purpose, Referential
from santegarde.warehouse import omop

Clock = Callable[[], datetime]

# The composition the text requires of the scientific and ethics committee (eds 3.2.3, EDS-3).
ROLES: dict[str, str] = {
    "health_ethics": "a person qualified in health ethics",
    "independent": "a person independent of the controller",
    "health_professional": "a health professional",
    "medico_social_professional": "a medico-social professional",
    "researcher": "a researcher",
    "patient_representative": "a patient or user representative",
}
DECISIONS = ("favourable", "unfavourable")
STATUSES = ("submitted", "favourable", "unfavourable", "closed")
MIN_JUSTIFICATION = 10
MIN_REASONING = 20
_VARIABLE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,39}$")
OPINION_TEMPLATE = "warehouse_opinion.html.j2"
YEARLY_TEMPLATE = "warehouse_opinions_list.html.j2"


class GovernanceError(SantegardeError, ValueError):
    """A governance step of the warehouse cannot be done as asked."""


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns; they were written in UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


# ---- values --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataListEntry:
    variable: str
    justification: str
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class Member:
    id: int
    name: str
    roles: tuple[str, ...]
    joined_at: datetime
    left_at: datetime | None


@dataclass(frozen=True)
class Composition:
    """The sitting members and the roles the text requires that none of them holds."""

    members: tuple[Member, ...]
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class RequestedVariable:
    variable: str
    justification: str
    approved: bool


@dataclass(frozen=True)
class Project:
    id: int
    code: str
    title: str
    leader: str
    leader_contact: str
    purpose: str
    formality_reference: str | None
    cohort_follow_up: bool
    cohort_sql: str | None
    status: str
    submitted_by: str
    submitted_at: datetime
    closed_at: datetime | None
    variables: tuple[RequestedVariable, ...]

    @property
    def approved_variables(self) -> tuple[str, ...]:
        return tuple(v.variable for v in self.variables if v.approved)


@dataclass(frozen=True)
class Opinion:
    id: int
    project: str
    decision: str
    reasoning: str
    decided_on: date
    members_present: tuple[str, ...]
    recorded_by: str
    recorded_at: datetime
    notice_path: str | None
    notice_sent_at: datetime | None


# ---- the steering committee's data list (EDS-3) --------------------------------------------------------------


def _check_variable(variable: str) -> str:
    name = variable.strip().lower()
    if not _VARIABLE.match(name):
        raise GovernanceError(
            f"'{variable}' is not a warehouse variable: name it as table.column (e.g. measurement.value_as_number)."
        )
    table, column = name.split(".", 1)
    if table not in omop.OMOP_TABLES or omop.column(table, column) is None:
        raise GovernanceError(f"'{name}' is not an OMOP CDM 5.4 column; the warehouse holds only those.")
    return name


def declare_variable(
    engine: Engine, variable: str, justification: str, *, by: str, clock: Clock = utc_now
) -> DataListEntry:
    """Add a variable to the steering committee's data list, or update its justification."""
    return declare_variables(engine, [variable], justification, by=by, clock=clock)[0]


def declare_variables(
    engine: Engine, variables: Sequence[str], justification: str, *, by: str, clock: Clock = utc_now
) -> list[DataListEntry]:
    """Add variables to the data list under one justification (or update theirs), all checked before any is
    written and written in one transaction: all of them or none."""
    names = list(dict.fromkeys(_check_variable(v) for v in variables))
    if not names:
        raise GovernanceError("Name at least one variable as table.column (e.g. measurement.value_as_number).")
    if len(justification.strip()) < MIN_JUSTIFICATION:
        raise GovernanceError(
            f"Every variable of the data list carries its justification (at least {MIN_JUSTIFICATION} characters): "
            f"say why '{names[0]}' is needed in the warehouse."
        )
    now = clock()
    values = {"justification": justification.strip(), "recorded_by": by, "recorded_at": now}
    with engine.begin() as conn:
        existing = {str(r.variable): r.id for r in conn.execute(
            select(wh_data_list.c.id, wh_data_list.c.variable).where(wh_data_list.c.variable.in_(names)))}  # fmt: skip
        for name in names:
            if name in existing:
                conn.execute(update(wh_data_list).where(wh_data_list.c.id == existing[name]).values(**values))
            else:
                conn.execute(insert(wh_data_list).values(variable=name, **values))
    return [DataListEntry(name, justification.strip(), by, now) for name in names]


def remove_variable(engine: Engine, variable: str) -> None:
    """Take a variable off the data list (the data no longer needed is then deleted, eds 5.7)."""
    name = _check_variable(variable)
    with engine.begin() as conn:
        if not conn.execute(wh_data_list.delete().where(wh_data_list.c.variable == name)).rowcount:
            raise GovernanceError(f"'{name}' is not on the data list; see `santegarde warehouse committee data-list`.")


def data_list(engine: Engine) -> list[DataListEntry]:
    """The exhaustive list of the warehouse's variables with their justifications."""
    with engine.connect() as conn:
        rows = conn.execute(select(wh_data_list).order_by(wh_data_list.c.variable)).all()
    return [
        DataListEntry(r.variable, r.justification, r.recorded_by, _aware(r.recorded_at) or r.recorded_at) for r in rows
    ]


def allowed_variables(engine: Engine) -> frozenset[str]:
    """The variables on the data list, as ``table.column`` names."""
    return frozenset(e.variable for e in data_list(engine))


def feed_data_list(engine: Engine) -> Any:
    """The data list as the feeds take it (``santegarde.warehouse.feed.DataList``)."""
    from santegarde.warehouse.feed import DataList

    return DataList.from_mapping({e.variable: e.justification for e in data_list(engine)})


# ---- the scientific and ethics committee (EDS-3) -------------------------------------------------------------


def add_member(engine: Engine, name: str, roles: Iterable[str], *, by: str, clock: Clock = utc_now) -> Member:
    """Seat a member on the scientific and ethics committee with the roles they hold."""
    wanted = tuple(dict.fromkeys(r.strip() for r in roles if r.strip()))
    unknown = [r for r in wanted if r not in ROLES]
    if unknown:
        raise GovernanceError(f"Unknown committee role(s) {', '.join(unknown)}: use {', '.join(ROLES)}.")
    if not name.strip() or not wanted:
        raise GovernanceError("A committee member is recorded with a name and at least one role (--role).")
    now = clock()
    with engine.begin() as conn:
        new_id = conn.execute(
            insert(wh_committee_members)
            .values(name=name.strip(), roles=json.dumps(list(wanted)), joined_at=now, recorded_by=by)
            .returning(wh_committee_members.c.id)
        ).scalar_one()
    return Member(int(new_id), name.strip(), wanted, now, None)


def remove_member(engine: Engine, member_id: int, *, clock: Clock = utc_now) -> None:
    """A member leaves the committee (kept in the history of past opinions)."""
    with engine.begin() as conn:
        done = conn.execute(
            update(wh_committee_members)
            .where(wh_committee_members.c.id == member_id, wh_committee_members.c.left_at.is_(None))
            .values(left_at=clock())
        ).rowcount
    if not done:
        raise GovernanceError(f"There is no sitting committee member {member_id}; see `warehouse committee show`.")


def _members(conn: Connection) -> tuple[Member, ...]:
    rows = conn.execute(
        select(wh_committee_members).where(wh_committee_members.c.left_at.is_(None)).order_by(wh_committee_members.c.id)
    ).all()
    return tuple(
        Member(r.id, r.name, tuple(json.loads(r.roles)), _aware(r.joined_at) or r.joined_at, None) for r in rows
    )


def _composition(conn: Connection) -> Composition:
    members = _members(conn)
    held = {role for m in members for role in m.roles}
    return Composition(members, tuple(r for r in ROLES if r not in held))


def composition(engine: Engine) -> Composition:
    """The committee as it sits now, and what its composition lacks."""
    with engine.connect() as conn:
        return _composition(conn)


# ---- projects (EDS-2) ----------------------------------------------------------------------------------------


def project_purposes(ref: Referential) -> list[Purpose]:
    """Purposes a project may pursue: neither forbidden nor out of scope, on pseudonymised data only."""
    return [
        p
        for p in ref.purposes
        if not p.forbidden
        and not p.out_of_scope
        and p.output is not Granularity.IDENTIFYING
        and "direct_identity" not in p.categories
    ]


def check_purpose(ref: Referential, purpose_id: str, formality_reference: str | None) -> Purpose:
    """The purpose a project may be submitted with; refusals name the text's section."""
    purpose = ref.purpose(purpose_id)
    allowed = ", ".join(p.id for p in project_purposes(ref))
    if purpose is None:
        raise GovernanceError(f"'{purpose_id}' is not a purpose of {ref.id}; a project pursues one of: {allowed}.")
    if purpose.forbidden:
        raise GovernanceError(
            f"The purpose '{purpose.id}' ({purpose.name}) is forbidden by {ref.id} (section {purpose.section}): "
            "the warehouse's data cannot be used for it."
        )
    if purpose.out_of_scope:
        raise GovernanceError(
            f"The purpose '{purpose.id}' ({purpose.name}) is outside the scope of {ref.id} (section "
            f"{purpose.section}): it needs its own formality, not a warehouse project."
        )
    if purpose not in project_purposes(ref):
        raise GovernanceError(
            f"The purpose '{purpose.id}' uses identifying data (section {purpose.section}) and is carried out by the "
            f"re-identification procedures, not by a project; a project pursues one of: {allowed}."
        )
    if purpose.requires_formality and not (formality_reference or "").strip():
        raise GovernanceError(
            f"The purpose '{purpose.id}' needs its own formality (section {purpose.section}): give the reference of "
            "the reference-methodology declaration or of the authorisation (--formality)."
        )
    return purpose


def _check_variables(conn: Connection, variables: Mapping[str, str]) -> dict[str, str]:
    if not variables:
        raise GovernanceError("A project names the variables it needs (table.column), each with its justification.")
    listed = {r.variable for r in conn.execute(select(wh_data_list.c.variable))}
    checked: dict[str, str] = {}
    for variable, justification in variables.items():
        name = _check_variable(variable)
        if name not in listed:
            raise GovernanceError(
                f"'{name}' is not on the steering committee's data list: a project can only request listed "
                "variables; ask the steering committee to add it with its justification first."
            )
        if len(justification.strip()) < MIN_JUSTIFICATION:
            raise GovernanceError(
                f"The request for '{name}' has no justification (at least {MIN_JUSTIFICATION} characters): "
                "say why the project needs it (minimisation)."
            )
        checked[name] = justification.strip()
    return checked


def submit_project(
    engine: Engine,
    ref: Referential,
    *,
    code: str,
    title: str,
    leader: str,
    leader_contact: str,
    purpose: str,
    variables: Mapping[str, str],
    by: str,
    formality_reference: str | None = None,
    cohort_follow_up: bool = False,
    clock: Clock = utc_now,
) -> Project:
    """Submit a project for the committee's opinion, with its purpose and its justified variables."""
    if not _CODE.match(code):
        raise GovernanceError(
            f"'{code}' is not a project code: use 2 to 40 letters, digits, '-' or '_' (e.g. P2026-07)."
        )
    if not title.strip() or not leader.strip() or not leader_contact.strip():
        raise GovernanceError("A project is submitted with its title, its leader and the leader's contact.")
    check_purpose(ref, purpose, formality_reference)
    now = clock()
    with engine.begin() as conn:
        if conn.execute(select(wh_projects.c.id).where(wh_projects.c.code == code)).first():
            raise GovernanceError(f"A project '{code}' already exists; choose another code.")
        checked = _check_variables(conn, variables)
        project_id = conn.execute(
            insert(wh_projects)
            .values(
                code=code,
                title=title.strip(),
                leader=leader.strip(),
                leader_contact=leader_contact.strip(),
                purpose=purpose,
                formality_reference=(formality_reference or "").strip() or None,
                cohort_follow_up=cohort_follow_up,
                cohort_sql=None,
                status="submitted",
                submitted_by=by,
                submitted_at=now,
            )
            .returning(wh_projects.c.id)
        ).scalar_one()
        for name, justification in checked.items():
            conn.execute(
                insert(wh_project_variables).values(
                    project_id=project_id, variable=name, justification=justification, approved=False
                )
            )
        return _project(conn, code)


def _project(conn: Connection, code: str) -> Project:
    row = conn.execute(select(wh_projects).where(wh_projects.c.code == code)).first()
    if row is None:
        raise GovernanceError(f"There is no warehouse project '{code}'; see `santegarde warehouse project list`.")
    variables = tuple(
        RequestedVariable(v.variable, v.justification, bool(v.approved))
        for v in conn.execute(
            select(wh_project_variables)
            .where(wh_project_variables.c.project_id == row.id)
            .order_by(wh_project_variables.c.id)
        )
    )
    return Project(
        row.id,
        row.code,
        row.title,
        row.leader,
        row.leader_contact,
        row.purpose,
        row.formality_reference,
        bool(row.cohort_follow_up),
        row.cohort_sql,
        row.status,
        row.submitted_by,
        _aware(row.submitted_at) or row.submitted_at,
        _aware(row.closed_at),
        variables,
    )


def get_project(engine: Engine, code: str) -> Project:
    with engine.connect() as conn:
        return _project(conn, code)


def list_projects(engine: Engine) -> list[Project]:
    with engine.connect() as conn:
        codes = [r.code for r in conn.execute(select(wh_projects.c.code).order_by(wh_projects.c.id))]
        return [_project(conn, c) for c in codes]


def close_project_record(engine: Engine, code: str, *, by: str, clock: Clock = utc_now) -> Project:
    """Mark a project closed: its workspace access ends (see ``workspace.close_project``)."""
    with engine.begin() as conn:
        project = _project(conn, code)
        if project.status == "closed":
            raise GovernanceError(f"The project '{code}' is already closed.")
        conn.execute(
            update(wh_projects)
            .where(wh_projects.c.id == project.id)
            .values(status="closed", closed_at=clock(), closed_by=by)
        )
        return _project(conn, code)


# ---- the committee's reasoned opinion (EDS-3) ----------------------------------------------------------------


def check_cohort_sql(cohort_sql: str) -> str:
    """A cohort is one SELECT (or WITH … SELECT) statement over the OMOP tables returning ``person_id``."""
    text = cohort_sql.strip().rstrip(";").strip()
    if not re.match(r"^(select|with)\b", text, re.IGNORECASE) or ";" in text:
        raise GovernanceError(
            "The cohort is one SELECT statement over the OMOP tables returning person_id "
            "(e.g. SELECT person_id FROM condition_occurrence WHERE condition_concept_id = 201826)."
        )
    return text


def record_opinion(
    engine: Engine,
    ref: Referential,
    code: str,
    *,
    decision: str,
    reasoning: str,
    decided_on: date,
    by: str,
    notices_dir: Path,
    organisation_name: str,
    cohort_sql: str | None = None,
    approved_variables: Iterable[str] | None = None,
    clock: Clock = utc_now,
    lang: str = "fr",
) -> Opinion:
    """Record the committee's reasoned opinion on a project and send the notice (in ``lang``) to the project leader."""
    doctext.check_lang(lang)
    if decision not in DECISIONS:
        raise GovernanceError(f"An opinion is {' or '.join(DECISIONS)}, not '{decision}'.")
    if len(reasoning.strip()) < MIN_REASONING:
        raise GovernanceError(
            f"The committee's opinion is reasoned: give its reasons (at least {MIN_REASONING} characters)."
        )
    cohort = check_cohort_sql(cohort_sql) if decision == "favourable" and cohort_sql is not None else None
    if decision == "favourable" and cohort is None:
        raise GovernanceError(
            "A favourable opinion sets the project's cohort (--cohort), so that its workspace holds only that cohort."
        )
    now = clock()
    with engine.begin() as conn:
        sitting = _composition(conn)
        if not sitting.complete:
            lacking = "; ".join(ROLES[r] for r in sitting.missing)
            raise GovernanceError(
                f"The scientific and ethics committee is incomplete (lacking: {lacking}): no opinion can be recorded "
                "until its composition is complete (`warehouse committee add-member`)."
            )
        project = _project(conn, code)
        if project.status != "submitted":
            raise GovernanceError(f"The project '{code}' already has an opinion ({project.status}).")
        requested = {v.variable for v in project.variables}
        approved = set(requested if approved_variables is None else (_check_variable(v) for v in approved_variables))
        if approved - requested:
            raise GovernanceError(
                f"The committee can only approve variables the project requested; not requested: "
                f"{', '.join(sorted(approved - requested))}."
            )
        if decision == "favourable":
            if not approved:
                raise GovernanceError("A favourable opinion approves at least one of the requested variables.")
            conn.execute(
                update(wh_project_variables)
                .where(
                    and_(wh_project_variables.c.project_id == project.id, wh_project_variables.c.variable.in_(approved))
                )
                .values(approved=True)
            )
        conn.execute(
            update(wh_projects).where(wh_projects.c.id == project.id).values(status=decision, cohort_sql=cohort)
        )
        opinion_id = conn.execute(
            insert(wh_opinions)
            .values(
                project_id=project.id,
                decision=decision,
                reasoning=reasoning.strip(),
                decided_on=decided_on,
                members_present=json.dumps([m.name for m in sitting.members]),
                recorded_by=by,
                recorded_at=now,
            )
            .returning(wh_opinions.c.id)
        ).scalar_one()
        project = _project(conn, code)
        opinion = _opinion(conn, int(opinion_id))
    notice = notices_dir / f"opinion-{project.code}-{opinion.id}.html"
    notices_dir.mkdir(parents=True, exist_ok=True)
    write_document(notice, html=opinion_letter(ref, project, opinion, organisation_name, lang))
    sent = clock()
    with engine.begin() as conn:
        conn.execute(
            update(wh_opinions)
            .where(wh_opinions.c.id == opinion.id)
            .values(notice_path=str(notice), notice_sent_at=sent)
        )
        return _opinion(conn, opinion.id)


def _opinion(conn: Connection, opinion_id: int) -> Opinion:
    row = conn.execute(
        select(wh_opinions, wh_projects.c.code)
        .join(wh_projects, wh_projects.c.id == wh_opinions.c.project_id)
        .where(wh_opinions.c.id == opinion_id)
    ).one()
    return Opinion(
        row.id,
        row.code,
        row.decision,
        row.reasoning,
        row.decided_on,
        tuple(json.loads(row.members_present)),
        row.recorded_by,
        _aware(row.recorded_at) or row.recorded_at,
        row.notice_path,
        _aware(row.notice_sent_at),
    )


def _words(lang: str) -> dict[str, Any]:
    found: dict[str, Any] = doctext.words(lang)["warehouse"]
    return found


def _purpose_name(ref: Referential, purpose_id: str, lang: str) -> str:
    """A purpose's name in the document's language; an id the référentiel does not know stays as it is."""
    try:
        return label(ref, "purpose", purpose_id, lang)
    except VocabularyError:
        return purpose_id


def opinion_letter(
    ref: Referential, project: Project, opinion: Opinion, organisation_name: str, lang: str = "fr"
) -> str:
    """The letter that brings the committee's opinion to the project leader (HTML, French unless ``lang="en"``)."""
    t = _words(lang)
    return render_html(
        OPINION_TEMPLATE,
        title=t["opinion_title"].format(code=project.code),
        organisation_name=organisation_name,
        lang=lang,
        t=t,
        referential_title=label(ref, "referential", ref.id, lang),
        project=project,
        purpose_name=_purpose_name(ref, project.purpose, lang),
        opinion=opinion,
    )


def opinions(engine: Engine, year: int | None = None) -> list[Opinion]:
    """Every opinion recorded (or those decided in ``year``), oldest first."""
    with engine.connect() as conn:
        query = select(wh_opinions.c.id).order_by(wh_opinions.c.decided_on, wh_opinions.c.id)
        if year is not None:
            query = query.where(
                wh_opinions.c.decided_on >= date(year, 1, 1), wh_opinions.c.decided_on <= date(year, 12, 31)
            )
        return [_opinion(conn, int(r.id)) for r in conn.execute(query)]


def yearly_list(
    engine: Engine, ref: Referential, year: int, organisation_name: str, lang: str = "fr"
) -> dict[str, Any]:
    """The list of the processings the committee ruled on in ``year``, for the DPO (eds 3.2.3.2), in ``lang``."""
    t = _words(lang)
    projects = {p.code: p for p in list_projects(engine)}
    rows = []
    for o in opinions(engine, year):
        p = projects[o.project]
        rows.append(
            {
                "project": p.code,
                "title": p.title,
                "leader": p.leader,
                "purpose": p.purpose,
                "purpose_name": _purpose_name(ref, p.purpose, lang),
                "formality_reference": p.formality_reference,
                "decision": o.decision,
                "decided_on": o.decided_on.isoformat(),
                "decided_day": o.decided_on.strftime(str(t["date"])),
                "reasoning": o.reasoning,
                "variables": list(p.approved_variables)
                if o.decision == "favourable"
                else [v.variable for v in p.variables],
                "notice_sent_at": o.notice_sent_at.isoformat() if o.notice_sent_at else None,
            }
        )
    return {
        "lang": lang,
        "organisation": organisation_name,
        "referential": ref.id,
        "year": year,
        "count": len(rows),
        "favourable": sum(1 for r in rows if r["decision"] == "favourable"),
        "unfavourable": sum(1 for r in rows if r["decision"] == "unfavourable"),
        "opinions": rows,
    }


def write_yearly_list(
    engine: Engine, ref: Referential, year: int, path: Path, organisation_name: str, lang: str = "fr"
) -> Path:
    """Write the yearly list of opinions for the DPO as .html, .pdf or .json (French unless ``lang="en"``)."""
    data = yearly_list(engine, ref, year, organisation_name, lang)
    t = _words(lang)
    html = render_html(
        YEARLY_TEMPLATE,
        title=t["yearly_title"].format(year=year),
        organisation_name=organisation_name,
        lang=lang,
        t=t,
        referential=ref,
        data=data,
    )
    return write_document(path, html=html, data=data)
