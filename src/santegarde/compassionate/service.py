"""The compassionate-access workflow on the one record path (AAC-3, AAC-5, AAC-7, AAC-8).

A prescriber's access request opens a case: the platform allocates the patient's number, builds the indirect code
(initials, §7.2) and stores a ``Patient`` holding only that code, the sex, the year and month of birth (the full
date only for a child when the protocol asks for it) and the establishment. Every form is then stored as FHIR
``QuestionnaireResponse`` records — coded answers only, one record per category kind (a genetic answer is filed
under the genetic category) — through :class:`~santegarde.store.service.RecordService`: the session, the
policy decision for the profile, the encryption and the audit entry are the record path's, never this module's.

The workflow state (requested, granted or refused, initiated, follow-ups, stopped) is kept in a ledger row per
case (:data:`~santegarde.compassionate.tables.aac_workflow`: the step and its dates, no answer and no health
datum), checked and written by RecordService's ``in_transaction`` hook in the transaction that stores the form's
record — after the session, the policy decision and the care relationship allowed the write, so nobody learns a
case's step without the right to write to it, and two concurrent submissions cannot both take the same turn. A
case opened before the ledger existed has its row rebuilt once from its records, read through the path.
``state`` still reads the whole case through the path, so a profile sees the cases it may read and no other.
Everything is checked before anything is written: a NIR or INS anywhere, a suspended or expired programme, a value
outside its field, a form out of turn (a follow-up after the stop) — each refused with a sentence, traced,
nothing stored.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from santegarde import refusals
from santegarde.audit.trail import AuditEvent
from santegarde.compassionate import extract, vigilance
from santegarde.compassionate.forms import Answer, SubmissionRefused, check_answers
from santegarde.compassionate.patient_code import InitialsError, initials
from santegarde.compassionate.programme import Form, FormKind, Programme, status_sentence
from santegarde.compassionate.registry import Registry, UnknownProgramme
from santegarde.compassionate.screening import nir_fields
from santegarde.compassionate.tables import aac_case, aac_workflow
from santegarde.errors import SantegardeError, WordedError
from santegarde.governance import transfers
from santegarde.identity import grants, sessions
from santegarde.identity.clock import aware
from santegarde.policy import Decision
from santegarde.referentials.model import CategoryKind, Referential
from santegarde.store.mapping import KIND_TAG_SYSTEM
from santegarde.store.service import REASON_MIN, AccessDenied, NotFound, RecordService, Request

CODE_SYSTEM = "https://santegarde.fr/aac/patient-code"
FORM_URL = "https://santegarde.fr/aac/{programme}/{form}"
AFTER_THE_DECISION = (FormKind.STOP, FormKind.ADVERSE_EFFECT, FormKind.RELATED_PERSON)
ESTABLISHMENT_PROFILE = "care_establishment_staff"  # §8.1: collects; the laboratory decides (§8.2)
CODE_CATEGORY = "patient_indirect_identity"  # the case's code (and sex, year and month of birth): the Patient record
SEXES = {"female": "F", "male": "M", "other": "autre", "unknown": "inconnu"}
# A case's status in the French of a refusal ("le dossier est accordé").
CASE_STATUS_FR = {
    "requested": "en attente de décision",
    "granted": "accordé",
    "refused": "refusé",
    "treated": "sous traitement",
    "stopped": "arrêté",
}
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
YEAR_MONTH = re.compile(r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$")
# The kinds a form's answers are filed under, beside health (store.mapping: QuestionnaireResponse variants).
TAGGED_KINDS = (
    CategoryKind.FAMILY,
    CategoryKind.GENETIC,
    CategoryKind.ETHNIC_ORIGIN,
    CategoryKind.SEX_LIFE,
    CategoryKind.LIFESTYLE,
)


class ReportRefused(WordedError, ValueError):
    """A report that cannot be produced as asked (period, threshold, format), worded in French and English
    (``data/refusals.yaml``, ``aac``)."""

    def __init__(self, key: str, /, **facts: Any) -> None:
        super().__init__(refusals.sentences("aac", key, **facts))


class WorkflowRefused(WordedError, ValueError):
    """A form out of turn (a follow-up before initiation or after the stop, a second decision…), worded in French
    and English (``data/refusals.yaml``, ``aac``)."""

    def __init__(self, key: str, /, rule: str = "AAC-3.workflow", **facts: Any) -> None:
        super().__init__(refusals.sentences("aac", key, **facts))
        self.key = key
        self.rule = rule


class IncompleteRequest(WordedError):
    """The patient's record was created but the request form was not: the sentence says how to complete it."""


class CaseAccessDenied(AccessDenied):
    """An access refusal of the compassionate-access desk, worded in French and English; its rule and section are
    those that decided it."""

    def __init__(self, key: str, rule: str, section: str, /, **facts: Any) -> None:
        super().__init__(refusals.sentences("aac", key, **facts), rule, section)


def profile_refused(key: str, decision: Decision) -> CaseAccessDenied:
    """The policy's refusal of a profile, with the policy's reason in each language, its rule and section."""
    reason = {lang: decision.reason_in(lang) for lang in refusals.LANGS}
    return CaseAccessDenied(
        key, decision.rule, decision.section, reason=reason, rule=decision.rule, section=decision.section
    )


class CaseNotFound(NotFound):
    """No compassionate-access case for this patient."""


@dataclass(frozen=True)
class Submitted:
    form: str
    kind: FormKind
    authored: datetime
    answers: dict[str, Any]
    submission: str = ""  # what the submission's records share ("<submission>-<n>")


@dataclass
class CaseState:
    """A case as the asking profile may read it: its code and its steps, from its records."""

    number: int
    patient_id: str
    programme: str
    version: str
    establishment: str
    code: str | None = None
    sex: str | None = None
    birth: str | None = None
    forms: list[Submitted] = field(default_factory=list)
    ledger_status: str | None = None  # after a submission: the step from the ledger (``forms`` is then that form)
    viewed_from: str | None = None  # read from this country outside the EU (§12.4): only §12.1's data, step withheld

    def of(self, kind: FormKind) -> list[Submitted]:
        return [f for f in self.forms if f.kind is kind]

    @property
    def decision(self) -> str | None:
        found = self.of(FormKind.DECISION)
        return str(found[-1].answers.get("decision")) if found else None

    @property
    def initiated(self) -> datetime | None:
        found = self.of(FormKind.INITIATION)
        return found[0].authored if found else None

    @property
    def stopped(self) -> datetime | None:
        found = self.of(FormKind.STOP)
        return found[0].authored if found else None

    @property
    def status(self) -> str:
        if self.ledger_status is not None:
            return self.ledger_status
        if self.viewed_from is not None:
            return "withheld"  # the step tells the medicinal product's use: it does not leave the EU (§12.1)
        if self.stopped:
            return "stopped"
        if self.initiated:
            return "treated"
        if self.decision == "refused":
            return "refused"
        if self.decision == "granted":
            return "granted"
        return "requested"

    def next_due(self, interval_days: int) -> date | None:
        """The day the next follow-up visit is due (from the last visit, or the initiation); None if not treated."""
        if self.status != "treated" or self.initiated is None:
            return None
        visits = self.of(FormKind.FOLLOW_UP)
        last = visits[-1].authored if visits else self.initiated
        return (last + timedelta(days=interval_days)).date()

    @property
    def adverse_effects(self) -> int:
        return len(self.of(FormKind.ADVERSE_EFFECT))


@dataclass(frozen=True)
class Workflow:
    """A case's row in the workflow-state ledger: its step and dates, nothing of what the forms say.

    An adverse-effect or related-person report does not change it (its kind would tell a health event)."""

    status: str
    request_recorded: bool
    last_kind: str | None = None
    last_at: datetime | None = None
    initiated_at: datetime | None = None
    stopped_at: datetime | None = None
    next_due: date | None = None

    @classmethod
    def of_case(cls, case: CaseState, interval_days: int) -> Workflow:
        """The row of a case read through the path (a case opened before the ledger existed)."""
        steps = [f for f in case.forms if f.kind in STEPS]
        return cls(
            case.status,
            bool(case.of(FormKind.ACCESS_REQUEST)),
            steps[-1].kind.value if steps else None,
            steps[-1].authored if steps else None,
            case.initiated,
            case.stopped,
            case.next_due(interval_days),
        )

    @classmethod
    def of_row(cls, row: Any) -> Workflow:
        def at(value: datetime | None) -> datetime | None:
            return aware(value) if value is not None else None

        return cls(
            row.status,
            bool(row.request_recorded),
            row.last_kind,
            at(row.last_at),
            at(row.initiated_at),
            at(row.stopped_at),
            row.next_due,
        )

    def after(self, kind: FormKind, values: dict[str, Any], at: datetime, interval_days: int) -> Workflow:
        """The row once a form of this kind (its turn checked) is stored."""
        if kind not in STEPS:
            return self
        new = dataclasses.replace(self, last_kind=kind.value, last_at=at)
        due = (at + timedelta(days=interval_days)).date()
        if kind is FormKind.ACCESS_REQUEST:
            return dataclasses.replace(new, request_recorded=True)
        if kind is FormKind.DECISION:
            return dataclasses.replace(new, status=str(values.get("decision")))
        if kind is FormKind.INITIATION:
            return dataclasses.replace(new, status="treated", initiated_at=at, next_due=due)
        if kind is FormKind.FOLLOW_UP:
            return dataclasses.replace(new, next_due=due)
        return dataclasses.replace(new, status="stopped", stopped_at=at, next_due=None)  # STOP

    def values(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "request_recorded": self.request_recorded,
            "last_kind": self.last_kind,
            "last_at": self.last_at,
            "initiated_at": self.initiated_at,
            "stopped_at": self.stopped_at,
            "next_due": self.next_due,
        }


# A case's index row and whether the ledger has its row, in one statement built once (bound by patient id).
_CASE = (
    select(aac_case, aac_workflow.c.patient_id.is_not(None).label("ledger"))
    .select_from(aac_case.outerjoin(aac_workflow, aac_workflow.c.patient_id == aac_case.c.patient_id))
    .where(aac_case.c.patient_id == bindparam("patient_id"))
)
STEPS = (FormKind.ACCESS_REQUEST, FormKind.DECISION, FormKind.INITIATION, FormKind.FOLLOW_UP, FormKind.STOP)


@dataclass(frozen=True)
class Patient:
    """What the prescriber gives at the access request; the names serve only to take the initials."""

    surname: str
    first_name: str
    sex: str
    birth: str  # YYYY-MM, or YYYY-MM-DD for a child when the protocol asks for it
    establishment: str  # the establishment's Organization id


class CompassionateService:
    def __init__(self, records: RecordService, registry: Registry) -> None:
        self.records = records
        self.registry = registry
        self.engine = records.engine

    # -- refusals before the path: traced like every refusal -----------------------------------------

    def _refuse(self, req: Request, operation: str, patient_id: str, rule: str, error: SantegardeError) -> None:
        self.records.trace_refusal(req, operation, ("QuestionnaireResponse", patient_id), rule)
        raise error

    def _screen(self, req: Request, operation: str, patient_id: str, submission: Any) -> None:
        found = nir_fields(submission)
        if found:
            self._refuse(
                req,
                operation,
                patient_id,
                "AAC-5.nir_ins",
                SubmissionRefused(
                    "nir_found", "AAC-5", on=found[0].removeprefix("answers."), reason="nir", where=", ".join(found)
                ),
            )

    def _own_establishment(
        self, req: Request, operation: str, patient_id: str, establishment: str
    ) -> sessions.SessionContext:
        """Refuse (traced) a collecting staff member acting on a case of another establishment than the one their
        grant is tied to (§4.1, §8.1): deny by default, a grant tied to no establishment reaches none. The session
        as read for this check, for the rest of the request."""
        ctx = self._session(req, operation)
        if ctx.profile not in grants.ESTABLISHMENT_PROFILES or ctx.establishment == establishment:
            return ctx
        own = {"fr": ctx.establishment or "aucun", "en": ctx.establishment or "none"}
        self.records.trace_refusal(req, operation, ("Patient", patient_id), "AAC-8.establishment")
        raise CaseAccessDenied("other_establishment", "AAC-8.establishment", "8.1", own=own)

    def _transfer_scope(
        self, req: Request, operation: str, patient_id: str, ctx: sessions.SessionContext
    ) -> frozenset[str] | None:
        """What a reading may carry when the session's grant is used from outside the EU/EEA: remote viewing from
        outside the EU is a transfer (§12.4), so only the categories the text lets leave the EU (§12.1) that a
        declared remote-access transfer to that country covers. None inside the EU/EEA (no limit of this rule).
        Refused (traced) when no declared transfer covers at least the patient's code: nothing is read."""
        if ctx.country is None:
            return None
        status = transfers.country_status(ctx.country)
        if status.kind == "eea":
            return None
        allowed = transferable(self.records.ref)
        declared = [t for t in transfers.entries(self.engine) if t.country == status.code and t.remote_access]
        covered = allowed & {c for t in declared for c in t.data_categories}
        if CODE_CATEGORY in covered:
            return frozenset(covered)
        self.records.trace_refusal(req, operation, ("Patient", patient_id), "AAC-12.remote_view")
        name = {lang: transfers.country_name(status.code, lang) for lang in refusals.LANGS}
        key = "remote_view_not_covered" if declared else "remote_view_undeclared"
        raise CaseAccessDenied(
            key, "AAC-12.remote_view", "12.4", country=name, code=status.code, category=CODE_CATEGORY
        )

    def _trace_transfer(self, ctx: sessions.SessionContext, req: Request, patient_id: str) -> None:
        """Trace a reading from outside the EU as the transfer it is (§12.4): the country in the rule."""
        self.records.audit.append(
            AuditEvent(
                actor=ctx.login,
                profile=ctx.profile or "",
                operation="aac.remote_view",
                resource_type="Patient",
                resource_id=patient_id,
                purpose=req.purpose,
                allowed=True,
                rule=f"AAC-12.remote_view.{ctx.country}",
                section="12.4",
                outcome="success",
                source=req.source,
                referential=self.records.ref.id,
                patient=patient_id,
            )
        )

    def _reason_given(self, req: Request, operation: str, patient_id: str) -> None:
        """Refuse (traced, by the record path's rule) a profile the text lets reach the data only ad hoc and on a
        written reason (the audit service, §8.2) when none is given: the sentence says to give it, where the case
        would otherwise only be "not readable"."""
        accessor = self.records.ref.accessor(self._session(req, operation).profile or "")
        if accessor is None or not accessor.motivated or len((req.reason or "").strip()) >= REASON_MIN:
            return
        rule = f"accessors.{accessor.id}.motivated"
        self.records.trace_refusal(req, operation, ("Patient", patient_id), rule)
        raise AccessDenied(refusals.sentences("records", "no_reason", min=REASON_MIN), rule, accessor.section)

    def _active(
        self, req: Request, operation: str, patient_id: str, programme: Programme, kind: FormKind | None = None
    ) -> None:
        """Refuse (traced) a form under a programme the ANSM decision no longer covers; what reports the treatment's
        end and its effects (stop, adverse effect, related person) is still taken."""
        why = status_sentence(programme, self.records.identity.now().date())
        if why and kind not in AFTER_THE_DECISION:
            self._refuse(
                req,
                operation,
                patient_id,
                "AAC-3.programme_status",
                WorkflowRefused(
                    "programme_inactive",
                    "AAC-3.workflow",
                    programme=programme.id,
                    why=why,
                    decision=programme.ansm_decision.number,
                ),
            )

    def _answers(
        self, req: Request, operation: str, patient_id: str, programme: Programme, form_id: str, answers: Any
    ) -> tuple[Any, list[Answer]]:
        form = programme.form(form_id)
        if form is None:
            self._refuse(
                req,
                operation,
                patient_id,
                "AAC-7.unknown_form",
                SubmissionRefused(
                    "unknown_form",
                    programme=programme.key,
                    form=form_id[:40],
                    forms=", ".join(f"{f.id} ({f.title})" for f in programme.forms),
                ),
            )
        assert form is not None
        try:
            return form, check_answers(form, answers, self.records.identity.now().date())
        except SubmissionRefused as exc:
            self._refuse(req, operation, patient_id, exc.rule + ".value", exc)
            raise  # unreachable: _refuse raises

    # -- FHIR bodies ----------------------------------------------------------------------------------

    def _responses(
        self, programme: Programme, form_id: str, patient_id: str, answers: list[Answer]
    ) -> list[dict[str, Any]]:
        """One QuestionnaireResponse per category kind the answers belong to (health first)."""
        groups: dict[CategoryKind, list[Answer]] = {}
        for a in answers:
            category = self.records.ref.category(a.field.category)
            kind = category.kind if category is not None and category.kind in TAGGED_KINDS else CategoryKind.HEALTH
            groups.setdefault(kind, []).append(a)
        now = self.records.identity.now()
        submission = str(uuid.uuid4())  # the records of one submission share it: "<submission>-<n>"
        bodies = []
        for n, kind in enumerate(sorted(groups, key=lambda k: k is not CategoryKind.HEALTH)):
            body: dict[str, Any] = {
                "resourceType": "QuestionnaireResponse",
                "id": f"{submission}-{n}",
                "questionnaire": FORM_URL.format(programme=programme.id, form=form_id) + f"|{programme.version}",
                "status": "completed",
                "subject": {"reference": f"Patient/{patient_id}"},
                "authored": now.isoformat(),
                "item": [{"linkId": a.field.id, "answer": [a.fhir()]} for a in groups[kind]],
            }
            if kind is not CategoryKind.HEALTH:
                body["meta"] = {"tag": [{"system": KIND_TAG_SYSTEM, "code": kind.value}]}
            bodies.append(body)
        if not bodies:  # a form whose optional fields were all left empty is still a step of the workflow
            bodies.append(
                {
                    "resourceType": "QuestionnaireResponse",
                    "id": f"{submission}-0",
                    "questionnaire": FORM_URL.format(programme=programme.id, form=form_id) + f"|{programme.version}",
                    "status": "completed",
                    "subject": {"reference": f"Patient/{patient_id}"},
                    "authored": now.isoformat(),
                }
            )
        return bodies

    def _birth(self, req: Request, programme: Programme, birth: str) -> str:
        today = self.records.identity.now().date()
        problem = None
        if YEAR_MONTH.match(birth):
            if int(birth[:4]) > today.year or (int(birth[:4]), int(birth[5:])) > (today.year, today.month):
                problem = "birth_future"
        else:
            try:
                full = date.fromisoformat(birth) if len(birth) == 10 else None
            except ValueError:
                full = None
            if full is None:
                problem = "birth_format"
            elif not programme.paediatric_full_birth_date:
                problem = "birth_full_not_asked"
            elif full > today or (today.year - full.year) - ((today.month, today.day) < (full.month, full.day)) >= (
                programme.paediatric_age_limit
            ):
                problem = "birth_full_adult"
        if problem:
            refused = SubmissionRefused(
                problem, "AAC-5", on="patient.birth", reason="birth", age=programme.paediatric_age_limit
            )
            self._refuse(req, "aac.access_request", "", "AAC-5.birth", refused)
        return birth

    # -- the workflow ---------------------------------------------------------------------------------

    def request_access(self, req: Request, programme_id: str, patient: Patient, answers: dict[str, Any]) -> CaseState:
        """A prescriber's access request: the case is opened, the patient's code built, the request stored."""
        operation = "aac.access_request"
        programme = self.registry.get(programme_id)
        self._screen(req, operation, "", {"patient": vars(patient), "answers": answers})
        self._active(req, operation, "", programme)
        form = programme.form_of(FormKind.ACCESS_REQUEST)
        _, checked = self._answers(req, operation, "", programme, form.id, answers)
        if patient.sex not in SEXES:
            self._refuse(
                req,
                operation,
                "",
                "AAC-5.sex",
                SubmissionRefused(
                    "bad_sex", "AAC-5", on="patient.sex", reason="choice", choices=refusals.choices(SEXES)
                ),
            )
        birth = self._birth(req, programme, patient.birth)
        if not FHIR_ID.match(patient.establishment):
            self._refuse(
                req,
                operation,
                "",
                "AAC-8.establishment",
                SubmissionRefused("bad_establishment", "AAC-8", on="patient.establishment", reason="establishment"),
            )
        self._own_establishment(req, operation, "", patient.establishment)
        try:
            letters = initials(patient.surname, patient.first_name)
        except InitialsError as exc:
            self._refuse(req, operation, "", "AAC-5.initials", exc)
        login = self._session(req, operation).login
        patient_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            number = int(
                conn.execute(
                    insert(aac_case)
                    .values(
                        programme=programme.id,
                        version=programme.version,
                        patient_id=patient_id,
                        establishment=patient.establishment,
                        opened_at=self.records.identity.now(),
                        opened_by=login,
                    )
                    .returning(aac_case.c.number)
                ).scalar_one()
            )
            conn.execute(insert(aac_workflow).values(patient_id=patient_id, status="requested", request_recorded=False))
        code = f"{letters}-{number:05d}"
        body = {
            "resourceType": "Patient",
            "id": patient_id,
            "identifier": [{"system": CODE_SYSTEM, "value": code}],
            "gender": patient.sex,
            "birthDate": birth,
            "managingOrganization": {"reference": f"Organization/{patient.establishment}"},
        }
        try:
            self.records.create(req, body)
        except BaseException:
            with self.engine.begin() as conn:  # the number is released: no case without its patient record
                conn.execute(delete(aac_workflow).where(aac_workflow.c.patient_id == patient_id))
                conn.execute(delete(aac_case).where(aac_case.c.number == number))
            raise
        responses = self._responses(programme, form.id, patient_id, checked)
        step = self._step(
            req, patient_id, programme, form, checked, None, [], opened=extract.opening(patient.sex, birth),
            to_come=len(responses) - 1,
        )  # fmt: skip
        try:
            for n, response in enumerate(responses):
                self.records.create(req, response, in_transaction=step if n == 0 else None)
        except SantegardeError as exc:
            error = {lang: exc.in_language(lang) if isinstance(exc, WordedError) else str(exc) for lang in ("fr", "en")}
            facts = {"code": code, "patient": patient_id, "form": form.id, "error": error}
            raise IncompleteRequest(refusals.sentences("aac", "incomplete_request", **facts)) from exc
        case = CaseState(number, patient_id, programme.id, programme.version, patient.establishment, code)
        case.sex, case.birth = patient.sex, birth
        case.forms = [_submitted(form.id, form.kind, responses, checked)]
        return case  # what was just stored, as stored: no second read of the same records

    def _case(self, req: Request, operation: str, patient_id: str) -> Any:
        """The case's index row, and (``ledger``) whether the workflow ledger has its row: one statement."""
        with self.engine.connect() as conn:
            row = conn.execute(_CASE, {"patient_id": patient_id}).first()
        if row is None:
            self.records.trace_refusal(req, operation, ("Patient", patient_id), "record.not_found")
            raise CaseNotFound(refusals.sentences("aac", "no_case", patient=patient_id[:64]))
        return row

    def state(self, req: Request, patient_id: str) -> CaseState:
        """The case as the session may read it, through the record path (each record read is traced)."""
        row = self._case(req, "aac.state", patient_id)
        ctx = self._own_establishment(req, "aac.state", patient_id, row.establishment)
        self._reason_given(req, "aac.state", patient_id)
        within = self._transfer_scope(req, "aac.state", patient_id, ctx)
        case = CaseState(row.number, patient_id, row.programme, row.version, row.establishment)
        prefix = FORM_URL.format(programme=row.programme, form="")
        by_submission: dict[str, Submitted] = {}
        for record in self.records.patient_records(req, patient_id, within):
            if record["resourceType"] == "Patient":
                case.code = next(
                    (i.get("value") for i in record.get("identifier", []) if i.get("system") == CODE_SYSTEM), None
                )
                case.sex, case.birth = record.get("gender"), record.get("birthDate")
                continue
            url = str(record.get("questionnaire", ""))
            if record["resourceType"] != "QuestionnaireResponse" or not url.startswith(prefix):
                continue
            form_id, _, version = url.removeprefix(prefix).partition("|")
            programme = self.registry.get(row.programme, version or row.version)
            form = programme.form(form_id)
            if form is None:
                continue
            key = str(record["id"]).rsplit("-", 1)[0]  # the records of one submission: "<submission>-<n>"
            answers = {
                item["linkId"]: _value(item["answer"][0]) for item in record.get("item", []) if item.get("answer")
            }
            if key in by_submission:
                by_submission[key].answers.update(answers)
            else:
                authored = datetime.fromisoformat(str(record["authored"]))
                by_submission[key] = Submitted(form_id, form.kind, authored, answers, key)
        if case.code is None:  # the path refused (and traced) the patient's record: the case is not this session's
            raise CaseAccessDenied("case_not_readable", "AAC-8.case", "8")
        if within is not None:
            self._trace_transfer(ctx, req, patient_id)
            case.viewed_from = ctx.country
        order = list(FormKind)  # at the same instant, the workflow's order
        case.forms = sorted(by_submission.values(), key=lambda s: (s.authored, order.index(s.kind)))
        return case

    def submit(self, req: Request, patient_id: str, form_id: str, answers: dict[str, Any]) -> CaseState:
        """A form of the case's protocol version, checked then stored through the record path."""
        operation = "aac.submit"
        row = self._case(req, operation, patient_id)
        ctx = self._own_establishment(req, operation, patient_id, row.establishment)
        try:
            programme = self.registry.get(row.programme, row.version)
        except UnknownProgramme:
            self.records.trace_refusal(req, operation, ("Patient", patient_id), "AAC-3.programme_missing")
            raise
        self._screen(req, operation, patient_id, answers)
        form, checked = self._answers(req, operation, patient_id, programme, form_id, answers)
        self._active(req, operation, patient_id, programme, form.kind)
        known = None
        if not row.ledger:  # a case opened before the ledger: its row rebuilt once, from its records through the path
            known = Workflow.of_case(self.state(req, patient_id), programme.follow_up.interval_days)
        profile = ctx.profile if form.kind is FormKind.DECISION else None
        after: list[Workflow] = []
        responses = self._responses(programme, form.id, patient_id, checked)
        step = self._step(
            req,
            patient_id,
            programme,
            form,
            checked,
            known,
            after,
            profile,
            to_come=len(responses) - 1,
            submission=str(responses[0]["id"]).rsplit("-", 1)[0],
        )
        try:
            for n, response in enumerate(responses):  # the step is taken with the submission's first record
                self.records.create(req, response, in_transaction=step if n == 0 else None)
        except WorkflowRefused as exc:  # the ledger refused the turn; the record's transaction was rolled back
            self.records.trace_refusal(req, operation, ("QuestionnaireResponse", patient_id), exc.rule)
            raise
        case = CaseState(row.number, patient_id, row.programme, row.version, row.establishment)
        case.ledger_status = after[0].status if after else None
        case.forms = [_submitted(form.id, form.kind, responses, checked)]
        return case

    def _step(
        self,
        req: Request,
        patient_id: str,
        programme: Programme,
        form: Form,
        answers: list[Answer],
        known: Workflow | None,
        after: list[Workflow],
        profile: str | None = None,
        opened: dict[str, Any] | None = None,
        to_come: int = 0,
        submission: str | None = None,
    ) -> Callable[[Connection], None]:
        """The ledgers' part of the form's transaction: the turn checked on the case's row (locked), the row moved,
        the form's line added to the reports' extract (``opened``: a new case's first content; ``to_come``: the
        submission's records written after its first, in their own transactions), an adverse-effect report put in
        pharmacovigilance's inbox (``submission``: what the report's records share)."""
        kind = form.kind

        def step(conn: Connection) -> None:
            row = conn.execute(
                select(aac_workflow).where(aac_workflow.c.patient_id == patient_id).with_for_update()
            ).first()
            current = Workflow.of_row(row) if row is not None else known
            if current is None:
                current = Workflow("requested", False)
            problem = _turn(current, kind, answers, profile)
            if problem:
                raise WorkflowRefused("out_of_turn", f"AAC-3.workflow.{kind.value}", problem=problem)
            values = {a.field.id: a.value for a in answers}
            new = current.after(kind, values, self.records.identity.now(), programme.follow_up.interval_days)
            if row is None:
                conn.execute(insert(aac_workflow).values(patient_id=patient_id, **new.values()))
            elif new != current:
                conn.execute(update(aac_workflow).where(aac_workflow.c.patient_id == patient_id).values(**new.values()))
            stored = {a.field.id: _value(a.fhir()) for a in answers}
            today = self.records.identity.now().date()
            line = extract.line(form, stored, today)
            extract.refresh(self.records, conn, patient_id, programme, line, opened, to_come=to_come)
            if kind is FormKind.ADVERSE_EFFECT and submission is not None:
                vigilance.route(self.records, conn, patient_id, programme.id, submission)
            after.append(new)

        return step

    def _session(self, req: Request, operation: str) -> sessions.SessionContext:
        try:
            return sessions.state(self.records.identity, req.token)
        except SantegardeError:
            self.records.trace_refusal(req, operation, ("QuestionnaireResponse", ""), "identity")
            raise

    def cases(self, programme_id: str | None = None) -> list[tuple[int, str]]:
        """(number, patient record id) of the cases, for the callers that then read each through the path."""
        query = select(aac_case.c.number, aac_case.c.patient_id).order_by(aac_case.c.number)
        if programme_id:
            query = query.where(aac_case.c.programme == programme_id)
        with self.engine.connect() as conn:
            return [(int(n), str(p)) for n, p in conn.execute(query)]

    def trace_programme(
        self,
        ctx: sessions.SessionContext,
        req: Request,
        operation: str,
        programme_id: str,
        *,
        purpose: str,
        rule: str,
        section: str,
    ) -> None:
        """Trace an allowed action on a whole programme (a report, an export, an event, a rebuild)."""
        self.records.audit.append(
            AuditEvent(
                actor=ctx.login,
                profile=ctx.profile or "",
                operation=operation,
                resource_type="Programme",
                resource_id=programme_id,
                purpose=purpose,
                allowed=True,
                rule=rule,
                section=section,
                outcome="success",
                source=req.source,
                referential=self.records.ref.id,
            )
        )

    def readable(self, req: Request, programme_id: str) -> list[CaseState]:
        """The programme's cases this session may read, in the order they were opened; each read goes through the
        record path, which decides (and traces) whether the session may see it."""
        self.registry.get(programme_id)
        found = []
        for _, patient_id in self.cases(programme_id):
            try:
                found.append(self.state(req, patient_id))
            except (AccessDenied, NotFound):
                continue  # refused and traced by the record path: not this session's patient
        return found

    def adverse_effects(
        self, req: Request, programme_id: str, since: date | None = None
    ) -> list[tuple[CaseState, Submitted]]:
        """The adverse-effect reports of the cases this session may read (pharmacovigilance's queue), newest first.

        The extract names the cases with an adverse effect in the period (and those it lacks, opened before it):
        only those are read, through the path, which decides whether this session may see each one."""
        self.registry.get(programme_id)
        self._session(req, "aac.adverse_effects")
        known, missing = extract.rows(self.records, programme_id)
        candidates = sorted(
            [
                (r.number, r.patient_id)
                for r in known
                if any(
                    k is FormKind.ADVERSE_EFFECT and (since is None or at.date() >= since) for _, k, at, _ in r.forms
                )
            ]
            + missing
        )
        found: list[tuple[CaseState, Submitted]] = []
        for _, patient_id in candidates:
            try:
                case = self.state(req, patient_id)
            except (AccessDenied, NotFound):
                continue  # refused and traced by the record path
            found.extend(
                (case, f)
                for f in case.forms
                if f.kind is FormKind.ADVERSE_EFFECT and (since is None or f.authored.date() >= since)
            )
        return sorted(found, key=lambda item: item[1].authored, reverse=True)

    def overdue(self, req: Request, programme_id: str) -> list[tuple[CaseState, date]]:
        """The treated patients this session may read whose follow-up visit is overdue, with the day it was due."""
        programme = self.registry.get(programme_id)
        today = self.records.identity.now().date()
        latest = today - timedelta(days=programme.follow_up.tolerance_days + 1)
        # The ledger names the candidates (a case opened before it has no row: read too); each is then read through
        # the path, which decides whether this session may see it.
        query = (
            select(aac_case.c.patient_id)
            .select_from(aac_case.outerjoin(aac_workflow, aac_workflow.c.patient_id == aac_case.c.patient_id))
            .where(aac_case.c.programme == programme_id)
            .where(
                aac_workflow.c.patient_id.is_(None)
                | ((aac_workflow.c.status == "treated") & (aac_workflow.c.next_due <= latest))
            )
            .order_by(aac_case.c.number)
        )
        with self.engine.connect() as conn:
            candidates = [str(p) for p in conn.execute(query).scalars()]
        late = []
        for patient_id in candidates:
            try:
                case = self.state(req, patient_id)
            except (AccessDenied, NotFound):
                continue  # refused and traced by the record path: not this session's patient
            due = case.next_due(programme.follow_up.interval_days)
            if due is not None and due + timedelta(days=programme.follow_up.tolerance_days) < today:
                late.append((case, due))
        return late


def transferable(ref: Referential) -> frozenset[str]:
    """The categories the référentiel lets leave the EU (aac-2022-106 §12.1: the patients' and related persons'
    indirectly identifying data and the professionals' data)."""
    return frozenset(c for t in ref.transfers for c in t.categories)


def _turn(case: Workflow, kind: FormKind, answers: list[Answer], profile: str | None) -> dict[str, str] | None:
    """Why the workflow does not expect this form now, in each language (None when it does)."""
    found = _turn_key(case, kind, answers, profile)
    if found is None:
        return None
    key, facts = found
    return refusals.sentences("aac", key, **facts)


def _turn_key(
    case: Workflow, kind: FormKind, answers: list[Answer], profile: str | None
) -> tuple[str, dict[str, Any]] | None:
    status = case.status
    words = {"fr": CASE_STATUS_FR.get(status, status), "en": status}
    values = {a.field.id: a.value for a in answers}
    if kind is FormKind.ACCESS_REQUEST:  # only to complete a request whose form was not stored
        if case.request_recorded:
            return "request_recorded", {}
    elif kind is FormKind.DECISION:
        if profile == ESTABLISHMENT_PROFILE:
            return "laboratory_decides", {}
        if status != "requested":
            decided = "refused" if status == "refused" else "granted"
            return "already_decided", {"decision": {"fr": CASE_STATUS_FR[decided], "en": decided}}
        if not case.request_recorded:
            return "request_missing", {}
        if values.get("decision") == "refused" and not any(
            a.field.id != "decision" and a.field.type == "choice" for a in answers
        ):
            return "refusal_reason", {}
    elif kind is FormKind.INITIATION and status != "granted":
        return "not_granted", {"status": words}
    elif kind in (FormKind.FOLLOW_UP, FormKind.STOP, FormKind.RELATED_PERSON) and status != "treated":
        return "not_treated", {"status": words}
    return None


def _submitted(form_id: str, kind: FormKind, responses: list[dict[str, Any]], answers: list[Answer]) -> Submitted:
    """The submission just stored, as ``state`` reads it back (answers by field id, as stored)."""
    stored = {a.field.id: _value(a.fhir()) for a in answers}
    authored = datetime.fromisoformat(str(responses[0]["authored"]))
    return Submitted(form_id, kind, authored, stored, str(responses[0]["id"]).rsplit("-", 1)[0])


def _value(answer: dict[str, Any]) -> Any:
    if "valueCoding" in answer:
        return answer["valueCoding"].get("code")
    if "valueQuantity" in answer:
        return answer["valueQuantity"].get("value")
    if "valueDate" in answer:
        return answer["valueDate"]
    return answer.get("valueBoolean")
