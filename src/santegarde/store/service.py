"""The one request path for records (COM-PUR-1): identity → policy → encrypted store → audit.

Every read, search, history, create and update of a FHIR resource takes a session token and a
declared purpose. Identity checks the session (steps done, grant valid, two factors for health
data); policy decides, per data category the resource holds, for the session's profile; a
practitioner needs a care relationship with the patient, or breaks the glass with a written
reason that is flagged for review; the vault encrypts or decrypts; the audit trail records the
decision — allowed or refused — before the answer leaves. This class is the only public way in.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, Select, bindparam, delete, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from santegarde import refusals
from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.config.model import Formality
from santegarde.crypto import KeyFamily, Keyring
from santegarde.deid import screen
from santegarde.errors import SantegardeError, WordedError
from santegarde.faults import crash_point
from santegarde.identity import grants, sessions
from santegarde.identity.clock import aware
from santegarde.identity.context import IdentityContext
from santegarde.policy import AccessRequest, Decision, decide, decisions
from santegarde.policy.rights import RightsUndecidable, right_applies, rights_handlers
from santegarde.referentials.model import Art6Basis, CategoryKind, Operation, Referential, Right, Sensitivity
from santegarde.store import bundle, consents, ledgers, mapping, objections, retention, vault
from santegarde.store import search as fhir_search
from santegarde.store.schema import (
    access_justification,
    archive_access,
    archive_part,
    archive_record,
    care_relationship,
    consent_ledger,
    objection_ledger,
    patient_key,
    record,
    record_freeze,
    record_index,
    record_part,
)
from santegarde.store.writeahead import INTENT, trace_ahead

T = TypeVar("T")
P = ParamSpec("P")
BREAK_GLASS_MIN = 15
REASON_MIN = 15  # the written reason of an ad hoc access
ARCHIVE_JUSTIFICATION_MIN = 15
SENSITIVITY_ORDER = [Sensitivity.ORDINARY, Sensitivity.HIGHLY_PERSONAL, Sensitivity.SPECIAL]
JUSTIFICATION_MAX = 1000
# The bases on which a practitioner takes in care a patient whose record someone else created (COM-LOG-4: each
# declaration is flagged in the trace review, which checks it against the appointment book or the referral).
CARE_BASES = {
    "consultation": "the patient consults the practitioner",
    "referral": "the patient was referred by another professional",
    "replacement": "the practitioner replaces the patient's usual practitioner",
    "care_team": "the practitioner belongs to the patient's care team (art. L. 1110-12 CSP)",
    "home_visit": "a home visit or a visit in an institution",
}


def _worded(said: str | dict[str, str], facts: dict[str, Any]) -> dict[str, str]:
    """A refusal of the record path in each language: ``said`` is a key of ``records`` in data/refusals.yaml
    (filled from ``facts``), or the sentences already worded (the policy's, the compassionate desk's)."""
    return refusals.sentences("records", said, **facts) if isinstance(said, str) else said


class AccessDenied(WordedError, PermissionError):
    """Policy, care relationship or minimisation refuses the request; the sentence says why and what to do, in
    French (the default) and English, and names the rule and section that decided."""

    def __init__(self, said: str | dict[str, str], rule: str = "", section: str = "", /, **facts: Any) -> None:
        super().__init__(_worded(said, facts))
        self.rule = rule
        self.section = section


class NotFound(WordedError, LookupError):
    """No such resource, said in French (the default) and English."""

    def __init__(self, said: str | dict[str, str], /, **facts: Any) -> None:
        super().__init__(_worded(said, facts))


class VersionConflict(SantegardeError):
    """The update names a version (If-Match) that is no longer the current one."""


class WriteConflict(VersionConflict):
    """Another request wrote the same record at the same time (without If-Match): nothing of this one was saved."""


class _NoMatch(Exception):
    """A search candidate whose content does not match a criterion: not returned, not traced as read."""


@dataclass(frozen=True)
class Page:
    """A page of search results, the candidate ids it examined (in order), and whether others lie beyond."""

    entries: list[dict[str, Any]]
    examined: list[str]
    more_after: bool
    more_before: bool
    refused: int = 0  # candidates the read path refused (each refusal traced): left out, counted


@dataclass(frozen=True)
class Request:
    """Who asks (the session token), why (the declared purpose), from where, and any break-the-glass reason."""

    token: str
    purpose: str
    source: str = "local"
    break_glass: str | None = None
    formality: str | None = None
    reason: str | None = None  # the written reason of an ad hoc access (a ``motivated`` profile, e.g. aac audit)


def one_audit_batch(
    method: Callable[Concatenate[RecordService, P], T],
) -> Callable[Concatenate[RecordService, P], T]:
    """A request that reaches several resources appends its audit entries together as it ends: one transaction,
    one head move and one multi-row insert, instead of one of each per resource. Nothing it read leaves before
    they are written (if the trail refuses them, the request raises)."""

    @functools.wraps(method)
    def batched(self: RecordService, *args: P.args, **kwargs: P.kwargs) -> T:
        with self.audit.deferred():
            return method(self, *args, **kwargs)

    return batched


class RecordService:
    def __init__(
        self,
        engine: Engine,
        referential: Referential,
        keyring: Keyring,
        audit: AuditTrail,
        identity: IdentityContext,
        *,
        formalities: Sequence[Formality] = (),
        legal_bases: Mapping[str, Art6Basis] | None = None,
    ) -> None:
        self.engine = engine
        self.ref = referential
        self.audit = audit
        self.identity = identity
        self.formalities = tuple(formalities)
        self.legal_bases = dict(legal_bases or {})  # the organisation's choice where the text leaves it open
        self._keys = vault.PatientKeys(keyring)
        self._index_key = vault.index_key(keyring)
        self._page_key = vault.page_key(keyring)
        self.console_key = vault.console_key(keyring)  # the console's CSRF key (web/render.py), never stored

    @contextmanager
    def one_request(self) -> Iterator[None]:
        """Several calls answering one request (a search page and the resources it includes): their audit entries
        are written together as the block ends, in one transaction of the trail, before the answer is built from
        what they returned (if the trail refuses them, the block raises)."""
        with self.audit.deferred():
            yield

    # -- helpers -----------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.identity.now()

    def _sensitivity(self, categories: list[str]) -> Sensitivity | None:
        levels = [c.sensitivity for c in (self.ref.category(x) for x in categories) if c is not None]
        return max(levels, key=SENSITIVITY_ORDER.index) if levels else None

    def _trace(
        self,
        ctx: sessions.SessionContext | None,
        req: Request,
        operation: str,
        resource: tuple[str, str],
        *,
        allowed: bool,
        rule: str,
        section: str = "",
        outcome: str,
        patient: str | None = None,
        break_glass: bool = False,
        care: bool | None = None,
        justification: int | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Append the event to the trail (within AuditTrail.deferred, as the request ends: one_audit_batch)."""
        event = AuditEvent(
            actor=ctx.login if ctx else "unauthenticated",
            profile=(ctx.profile or "") if ctx else "",
            operation=operation,
            resource_type=resource[0],
            resource_id=resource[1],
            purpose=req.purpose,
            allowed=allowed,
            rule=rule,
            section=section,
            outcome=outcome,
            source=req.source,
            referential=self.ref.id,
            patient=patient or "",
            break_glass=break_glass,
            care_relationship=care,
            justification=justification,
        )
        self.audit.append(event, conn)

    def _refuse(
        self,
        ctx: sessions.SessionContext,
        req: Request,
        operation: str,
        resource: tuple[str, str],
        decision: Decision,
        *,
        patient: str | None = None,
    ) -> AccessDenied:
        """Trace a policy refusal (the rule and section that decided) and return the error to raise."""
        self._trace(
            ctx,
            req,
            operation,
            resource,
            allowed=False,
            rule=decision.rule,
            section=decision.section,
            outcome="denied",
            patient=patient,
        )
        reason = {lang: decision.reason_in(lang) for lang in refusals.LANGS}
        return AccessDenied("refused", decision.rule, decision.section, reason=reason)

    def _not_found(
        self, ctx: sessions.SessionContext | None, req: Request, operation: str, resource: tuple[str, str]
    ) -> NotFound:
        """Trace a lookup that found nothing (a probe is an access attempt too) and return the error to raise."""
        self._trace(ctx, req, operation, resource, allowed=False, rule="record.not_found", outcome="not_found")
        return NotFound("not_found", type=resource[0], id=resource[1])

    def _justify(
        self,
        conn: Connection,
        ctx: sessions.SessionContext,
        req: Request,
        resource: tuple[str, str],
        patient: str | None,
        *,
        glass: bool,
    ) -> int | None:
        """Keep the written reasons of an exceptional access (break-the-glass, research formality); their id."""
        reasons = []
        if glass:
            reasons.append(("break_glass", (req.break_glass or "").strip()))
        accessor = self.ref.accessor(ctx.profile or "")
        if accessor is not None and accessor.motivated:
            reasons.append(("ad_hoc", (req.reason or "").strip()))
        purpose = self.ref.purpose(req.purpose)
        if purpose is not None and purpose.requires_formality and req.formality:
            reasons.append(("formality", req.formality.strip()))
        if not reasons:
            return None
        return int(
            conn.execute(
                insert(access_justification)
                .values(
                    at=self._now(),
                    login=ctx.login,
                    kind="+".join(kind for kind, _ in reasons),
                    resource_type=resource[0],
                    record_id=resource[1],
                    patient_id=patient,
                    text=" | ".join(text for _, text in reasons)[:JUSTIFICATION_MAX],
                )
                .returning(access_justification.c.id)
            ).scalar_one()
        )

    def seal_derived(self, conn: Connection, patient_id: str, label: str, content: Any) -> bytes:
        """Seal a module's data derived from a patient's records (a pseudonymised extract kept in the module's own
        table, written in the record's transaction) under that patient's key, as the records are: erasing the
        patient makes it unreadable too. The caller decides who may have it computed from it."""
        return vault.seal_derived(self._keys, conn, patient_id, label, content, self._now())

    def open_derived(
        self,
        conn: Connection,
        patient_id: str,
        label: str,
        token: bytes,
        wrapped: dict[str, bytes | None] | None = None,
    ) -> Any:
        """What ``seal_derived`` sealed, or None once the patient's keys were destroyed. ``wrapped``: the patient's
        wrapped keys by family as the caller's statement read them from ``patient_key`` (one join for many
        patients instead of a lookup each)."""
        return vault.open_derived(self._keys, conn, patient_id, label, token, wrapped)

    def open_derived_many(self, conn: Connection, sealed: Sequence[tuple[str, str, bytes]]) -> list[Any]:
        """``open_derived`` of many (patient id, label, token), the patients' keys read in a few statements: each
        content, or None where the patient's keys were destroyed."""
        keys = self._keys.wrapped_health_keys(conn, [patient for patient, _, _ in sealed])
        return [
            vault.open_derived(self._keys, conn, patient, label, token, {KeyFamily.HEALTH: keys.get(patient)})
            for patient, label, token in sealed
        ]

    def version_counts(self, conn: Connection, patient_ids: Sequence[str]) -> dict[str, int]:
        """How many record versions each patient has, read in ``conn``: a module that keeps data derived from them
        tells, without reading any, whether they were written since (a rectification adds a version)."""
        return vault.version_counts(conn, patient_ids)

    def current_count(self, conn: Connection, patient_id: str, resource_type: str, id_suffix: str = "") -> int:
        """How many current records of this type the patient has (ids ending with ``id_suffix``): a module that
        keeps data derived from them checks it saw them all, in its own transaction, without reading any."""
        return vault.current_count(conn, patient_id, resource_type, id_suffix)

    def trace_refusal(self, req: Request, operation: str, resource: tuple[str, str], rule: str) -> None:
        """Trace a request refused before it reached the path (no purpose, a malformed body): probes leave marks."""
        try:
            ctx = sessions.state(self.identity, req.token) if req.token else None
        except SantegardeError:
            ctx = None
        self._trace(ctx, req, operation, resource, allowed=False, rule=rule, outcome="denied")

    def _session(
        self,
        req: Request,
        categories: list[str],
        operation: str,
        resource: tuple[str, str],
        checked: sessions.SessionContext | None = None,
    ) -> sessions.SessionContext:
        """The session, allowed to reach ``categories``; ``checked``: the session as this request already read it
        (one identity check per request; its steps, grant and factors are demanded again for these categories)."""
        try:
            sensitivity = self._sensitivity(categories)
            if checked is not None:
                return sessions.demand(self.identity, checked, sensitivity=sensitivity)
            return sessions.require(self.identity, req.token, sensitivity=sensitivity)
        except SantegardeError as exc:
            self._trace(None, req, operation, resource, allowed=False, rule="identity", outcome="denied")
            raise exc from None

    def _category_for(self, kind: CategoryKind | None, purpose: str) -> str | None:
        if kind is None:
            return mapping.DIRECTORY
        declared = self.ref.purpose(purpose)
        used = set(declared.categories) if declared else set()
        current: CategoryKind | None = kind
        while current is not None:
            match = next((c.id for c in self.ref.categories if c.kind == current and c.id in used), None)
            if match:
                return match
            if any(c.kind == current for c in self.ref.categories):
                return None  # the text has this kind of data, and this purpose does not use it
            current = mapping.FALLBACK.get(current)  # the text has no such category: the broader kind holds it
        return None

    def _decide_all(
        self,
        ctx: sessions.SessionContext,
        req: Request,
        operation: Operation,
        categories: list[str],
        patient: str | None = None,
        consented: Mapping[tuple[str, str], consents.Standing] | None = None,
    ) -> dict[str, Decision | None]:
        """A decision per category; the directory needs only that operation on some data, for a usable purpose.

        A category collected on consent is decided from the consent ledger for ``patient``, never from the client
        (``consented``: the ledger as a page of search results read it for all its candidates).
        """
        decisions: dict[str, Decision | None] = {}
        formality = self._recorded_formality(req)
        for category in categories:
            if category == mapping.DIRECTORY:
                decisions[category] = _directory(self.ref, ctx.profile or "", operation, req)
                continue
            standing = self._consent(patient, category, req.purpose, consented)
            decision = decide(
                self.ref,
                AccessRequest(
                    ctx.profile or "",
                    operation,
                    category,
                    req.purpose,
                    consent_active=standing.active,
                    formality=formality,
                ),
            )
            if standing.ended_at is not None:
                decision = _consent_ended(decision, category, operation, standing)
            decisions[category] = decision
        return decisions

    def _consent(
        self,
        patient: str | None,
        category: str,
        purpose: str,
        consented: Mapping[tuple[str, str], consents.Standing] | None = None,
    ) -> consents.Standing:
        """The patient's consent for a category collected on consent: one indexed lookup in the ledger, unless
        ``consented`` (read for a page's candidates at once) holds it."""
        declared = self.ref.category(category)
        if patient is None or declared is None or not declared.requires_consent:
            return consents.Standing(False)
        if consented is not None and (patient, category) in consented:
            return consented[patient, category]
        with self.engine.connect() as conn:
            return consents.standing(conn, patient, category, purpose, self._now())

    def _recorded_formality(self, req: Request) -> str | None:
        """The request's formality reference when the organisation recorded it for this purpose, in force today."""
        if not req.formality:
            return None
        today = self._now().date()
        found = any(f.covers(req.purpose, req.formality, today) for f in self.formalities)
        return req.formality if found else None

    def _gate(
        self, req: Request, resource_type: str, operation: str, resource: tuple[str, str]
    ) -> sessions.SessionContext:
        """Session and policy for this type of resource before any lookup: a refusal never depends on existence."""
        rmap = mapping.resource_map(resource_type)
        categories = [mapping.DIRECTORY] if rmap.main is None else self._type_categories(rmap, req.purpose)
        if not categories:
            return self._session(req, [], operation, resource)
        ctx = self._session(req, categories, operation, resource)
        decisions = [
            d if d is None or not d.allowed else _limited(d, resource_type, None)
            for d in self._decide_all(ctx, req, Operation.READ, categories).values()
        ]
        decision = None if any(d is None or d.allowed for d in decisions) else decisions[0]
        if decision is not None:
            raise self._refuse(ctx, req, operation, resource, decision)
        return ctx

    def _type_categories(self, rmap: mapping.ResourceMap, purpose: str) -> list[str]:
        """The référentiel categories a resource of this type may hold parts of, main category first."""
        kinds = [rmap.main, *rmap.variants, *rmap.elements.values()]
        if rmap.main is CategoryKind.IDENTITY:
            kinds += [CategoryKind.NIR, CategoryKind.INS]
        found: list[str] = []
        for kind in dict.fromkeys(kinds):
            category = self._category_for(kind, purpose) or next(
                (c.id for c in self.ref.categories if c.kind == kind), None
            )
            if category is not None and category not in found:
                found.append(category)
        return found

    def _consent_scope(
        self,
        ctx: sessions.SessionContext,
        req: Request,
        operation: str,
        resource: tuple[str, str],
        body: dict[str, Any],
    ) -> consents.Scope | None:
        """A Consent's scope, checked against the référentiel before anything is stored (refusal traced)."""
        if resource[0] != "Consent":
            return None
        try:
            return consents.check(self.ref, body)
        except consents.ConsentScopeError:
            self._trace(ctx, req, operation, resource, allowed=False, rule="COM-MIN-1.consent_scope", outcome="denied")
            raise

    def _needs_care(self, ctx: sessions.SessionContext, patient_id: str | None) -> bool:
        accessor = self.ref.accessor(ctx.profile or "")
        return patient_id is not None and accessor is not None and accessor.care_relationship

    def _probe(
        self,
        conn: Connection,
        ctx: sessions.SessionContext,
        req: Request,
        patient_id: str | None,
        *,
        care: bool,
        exists: str | None = None,
        frozen: str | None = None,
        taken: str | None = None,
        keys: Iterable[str] = (),
    ) -> _Probe:
        """What the checks after the decision read, in one statement: the patient's objection in force to the
        purpose, the session's care relationship with the patient (``care``), whether Patient ``exists``, why
        record ``frozen`` is frozen, whether id ``taken`` has a current record, and the patient's wrapped keys of
        the categories ``keys``. Read in the request's transaction, never kept beyond it."""
        families = tuple(vault.families(self.ref, keys)) if patient_id is not None else ()
        has_patient = patient_id is not None
        shape = (families, taken is not None, has_patient, care and has_patient, exists is not None, frozen is not None)
        values = {
            "patient": patient_id,
            "purpose": req.purpose,
            "login": ctx.login,
            "now": self._now(),
            "taken": taken,
            "exists": exists,
            "frozen": frozen,
        }
        row = conn.execute(_probe_statement(*shape), values).one()._mapping
        return _Probe(
            patient_id,
            row.get("objection") is not None,
            (row.get("care") is not None) if care and patient_id is not None else None,
            row.get("patient") is not None,
            row.get("frozen"),
            row.get("taken") is not None,
            {str(f): row[f"key_{f}"] for f in families},
        )

    def _write_probe(
        self,
        conn: Connection,
        ctx: sessions.SessionContext,
        req: Request,
        stored_patient: str | None,
        rid: str,
        categories: list[str],
        new_patient: bool,
        named: str | None = None,
    ) -> _Probe:
        """The probe of a write: the stored patient's objection and care, the named patient's existence, the
        freeze, whether the id is taken, and the patient's wrapped keys for the parts to encrypt."""
        named = stored_patient if named is None else named
        return self._probe(
            conn,
            ctx,
            req,
            stored_patient,
            care=not new_patient and self._needs_care(ctx, stored_patient),
            exists=named if named is not None and not new_patient else None,
            frozen=rid,
            taken=rid,
            keys=categories,
        )

    def _objected(
        self,
        conn: Connection,
        ctx: sessions.SessionContext,
        req: Request,
        patient_id: str | None,
        operation: str,
        resource: tuple[str, str],
        probe: _Probe | None = None,
    ) -> None:
        """Refuse (and trace) a request for a purpose the patient objected to (COM-RGT-1, GDPR art. 21.1)."""
        if patient_id is None:
            return
        if probe is not None and probe.patient == patient_id and not probe.objected:
            return
        found = objections.in_force(conn, patient_id, req.purpose)
        if found is None:
            return
        self._trace(
            ctx,
            req,
            operation,
            resource,
            allowed=False,
            rule="COM-RGT-1.objection",
            section="GDPR art. 21.1",
            outcome="denied",
            patient=patient_id,
        )
        what = refusals.sentences(
            "records",
            "objected",
            why={"fr": "cette finalité", "en": f"the purpose '{req.purpose}'"},
            since={
                "fr": f" le {found.recorded_at:%d/%m/%Y à %H h %M} (UTC)",
                "en": f" on {found.recorded_at:%Y-%m-%d %H:%M} UTC",
            },
            number={"fr": f", opposition n° {found.number}", "en": f", objection no. {found.number}"},
        )
        todo = refusals.sentences("records", "objected_todo")
        said = {lang: f"{what[lang]} {todo[lang]}" for lang in refusals.LANGS}
        raise AccessDenied(said, "COM-RGT-1.objection", "GDPR art. 21.1")

    def _care(
        self,
        conn: Connection,
        ctx: sessions.SessionContext,
        req: Request,
        patient_id: str | None,
        operation: str,
        resource: tuple[str, str],
        probe: _Probe | None = None,
    ) -> tuple[bool | None, bool]:
        """(care relationship, break-glass used); refuses (and traces) a practitioner without either, and a
        ``motivated`` profile (an ad hoc access, e.g. the audit service) without its written reason."""
        accessor = self.ref.accessor(ctx.profile or "")
        if accessor is not None and accessor.motivated and len((req.reason or "").strip()) < REASON_MIN:
            rule = f"accessors.{accessor.id}.motivated"
            self._trace(
                ctx, req, operation, resource, allowed=False, rule=rule, section=accessor.section, outcome="denied",
                patient=patient_id,
            )  # fmt: skip
            raise AccessDenied(refusals.sentences("records", "no_reason", min=REASON_MIN), rule, accessor.section)
        if patient_id is None or accessor is None or not accessor.care_relationship:
            return None, False
        if probe is not None and probe.patient == patient_id and probe.care is not None:
            found: object = True if probe.care else None
        else:
            now = self._now()
            found = conn.execute(
                select(care_relationship.c.id).where(
                    care_relationship.c.login == ctx.login,
                    care_relationship.c.patient_id == patient_id,
                    care_relationship.c.since <= now,
                    (care_relationship.c.until.is_(None)) | (care_relationship.c.until > now),
                )
            ).first()
        if found is not None:
            return True, False
        reason = (req.break_glass or "").strip()
        if len(reason) >= BREAK_GLASS_MIN:
            return False, True
        rule = f"accessors.{accessor.id}.care_relationship"
        self._trace(
            ctx,
            req,
            operation,
            resource,
            allowed=False,
            rule=rule,
            section=accessor.section,
            outcome="denied",
            patient=patient_id,
            care=False,
        )
        what, todo = (
            refusals.sentences("records", "no_care"),
            refusals.sentences("records", "no_care_todo", min=BREAK_GLASS_MIN),
        )
        raise AccessDenied({lang: f"{what[lang]} {todo[lang]}" for lang in refusals.LANGS}, rule, accessor.section)

    def _decode(
        self,
        conn: Connection,
        v: vault.Version,
        allowed: list[str],
        limits: dict[str, frozenset[str]] | None = None,
        wrapped: dict[str, bytes | None] | None = None,
    ) -> dict[str, Any]:
        """The version's parts the request may see, decrypted and merged; ``wrapped``: the patient's wrapped keys
        as this request's transaction read them."""
        tokens = vault.part_tokens(conn, v)
        parts = []
        redacted = bool(set(v.categories) - set(allowed))
        sealed = [c for c in allowed if c in tokens and tokens[c].startswith(b"SGP1")]
        # The patient's wrapped keys, read once for this version in this transaction (never kept beyond it).
        if wrapped is None and len(sealed) > 1 and v.patient_id:
            wrapped = self._keys.wrapped_keys(conn, v.patient_id)
        for c in allowed:
            if c not in tokens:
                continue
            part = vault.open_part(self._keys, conn, self.ref, v, c, tokens[c], wrapped)
            only = (limits or {}).get(c)
            if only is not None:
                kept = {k: value for k, value in part.items() if k in only}
                redacted = redacted or len(kept) != len(part)
                part = kept
            parts.append(part)
        meta: dict[str, Any] = {"versionId": str(v.version), "lastUpdated": aware(v.created_at).isoformat()}
        tags = [mapping.FREE_TEXT_TAG] if v.free_text else []
        frozen = vault.freeze_reason(conn, v)
        if frozen is not None:
            tags.append({**mapping.FROZEN_TAG, "display": frozen})
        if tags:
            meta["tag"] = tags
        if redacted:
            meta["security"] = [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "REDACTED"}
            ]
        return mapping.merge(v.resource_type, v.id, meta, parts)

    # -- reads -------------------------------------------------------------------------------------

    def _read_version(
        self,
        conn: Connection,
        req: Request,
        v: vault.Version,
        operation: str,
        checked: sessions.SessionContext | None = None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        page: _PageChecks | None = None,
    ) -> dict[str, Any]:
        """The version as the decision lets the caller read it, traced; a search's ``keep`` checks its content
        first (a resource that does not match raises _NoMatch, before anything is traced as read). ``page``: the
        ledgers and keys a page of search results read for all its candidates (the same checks, asked once)."""
        resource = (v.resource_type, v.id)
        ctx, decisions, allowed, limits = self._decided(req, v, operation, checked, page)
        if not allowed:
            first = next(d for d in decisions.values() if d is not None)
            raise self._refuse(ctx, req, operation, resource, first, patient=v.patient_id)
        probe = page.probes.get(v.patient_id) if page is not None and v.patient_id is not None else None
        if probe is None and v.patient_id is not None:
            probe = self._probe(conn, ctx, req, v.patient_id, care=self._needs_care(ctx, v.patient_id), keys=allowed)
        self._objected(conn, ctx, req, v.patient_id, operation, resource, probe)
        care, glass = self._care(conn, ctx, req, v.patient_id, operation, resource, probe)
        body = self._decode(conn, v, allowed, limits, probe.keys if probe is not None else None)
        if keep is not None and not keep(body):
            raise _NoMatch
        justification = self._justify(conn, ctx, req, resource, v.patient_id, glass=glass)
        if justification is not None:
            conn.commit()
        decided = next((d for d in decisions.values() if d is not None and d.allowed), None)
        self._trace(
            ctx,
            req,
            operation,
            resource,
            allowed=True,
            rule=decided.rule if decided else "directory",
            section=decided.section if decided else "",
            outcome="success",
            patient=v.patient_id,
            break_glass=glass,
            care=care,
            justification=justification,
        )
        return body

    def _decided(
        self,
        req: Request,
        v: vault.Version,
        operation: str,
        checked: sessions.SessionContext | None,
        page: _PageChecks | None,
    ) -> _Decided:
        """The session demanded for the version's categories and the policy's decision on each, with the categories
        allowed and the elements each is limited to. A page of search results asks once per kind of record (its
        type and categories, and its patient when one of them is collected on consent): every record of a kind gets
        the same answer, so each is still decided — and traced — as a direct read of it is. Refusals are not kept."""
        kind = None
        if page is not None:
            kind = (v.resource_type, v.categories, v.patient_id if page.on_consent.intersection(v.categories) else None)
            if (known := page.decided.get(kind)) is not None:
                return known
        ctx = self._session(req, list(v.categories), operation, (v.resource_type, v.id), checked)
        consented = page.consented if page is not None else None
        decisions = {
            c: d if d is None or not d.allowed else _limited(d, v.resource_type, None)
            for c, d in self._decide_all(ctx, req, Operation.READ, list(v.categories), v.patient_id, consented).items()
        }
        allowed = [c for c, d in decisions.items() if d is None or d.allowed]
        limits = {c: only for c, d in decisions.items() if d is not None and (only := d.elements_of(v.resource_type))}
        decided = _Decided(ctx, decisions, allowed, limits)
        if kind is not None:
            page.decided[kind] = decided  # type: ignore[union-attr]  # kind is set only with a page
        return decided

    def read(self, req: Request, resource_type: str, rid: str) -> dict[str, Any]:
        ctx = self._gate(req, resource_type, "read", (resource_type, rid))
        with self.engine.connect() as conn:
            found = [v for v in vault.versions(conn, rid, current_only=True) if v.resource_type == resource_type]
            if not found:
                raise self._not_found(ctx, req, "read", (resource_type, rid))
            return self._read_version(conn, req, found[0], "read", ctx)

    @one_audit_batch
    def read_each(self, req: Request, resource_type: str, rids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``read`` of several records in one request (the patients a search includes), the records readable to the
        caller by id: each one refused, not found or read, and traced, as ``read`` would, but the session checked
        once and the page's checks read for all at once. A refusal of the whole type is traced for each id."""
        wanted = list(dict.fromkeys(rids))
        if not wanted:
            return {}
        try:
            ctx = self._gate(req, resource_type, "read", (resource_type, wanted[0]))
        except AccessDenied:
            for rid in wanted[1:]:  # the policy refuses the type: as many refusals in the trail as reads refused
                with suppress(AccessDenied):
                    self._gate(req, resource_type, "read", (resource_type, rid))
            raise
        read: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            current = {
                i: v for i, v in vault.current_versions(conn, wanted).items() if v.resource_type == resource_type
            }
            checks = self._page_checks(conn, ctx, req, list(current.values()))
            for rid in wanted:
                v = current.get(rid)
                try:
                    if v is None:
                        raise self._not_found(ctx, req, "read", (resource_type, rid))
                    read[rid] = self._read_version(conn, req, v, "read", ctx, page=checks)
                except (AccessDenied, NotFound):
                    continue
        return read

    @one_audit_batch
    def history(self, req: Request, resource_type: str, rid: str) -> list[dict[str, Any]]:
        """Every version, newest first (the rectification history, COM-QUAL-1)."""
        ctx = self._gate(req, resource_type, "history", (resource_type, rid))
        with self.engine.connect() as conn:
            found = [v for v in vault.versions(conn, rid, current_only=False) if v.resource_type == resource_type]
            if not found:
                raise self._not_found(ctx, req, "history", (resource_type, rid))
            return [self._read_version(conn, req, v, "history", ctx) for v in found]

    @one_audit_batch
    def search_page(
        self,
        req: Request,
        query: fhir_search.Query,
        cursor: fhir_search.Cursor | None = None,
        *,
        operation: str = "search",
    ) -> Page:
        """One page of the current resources matching a parsed search (store/search.py says how it runs);
        ``operation`` names it in the trail (a bulk export reads its pages as ``export``)."""
        resource_type = query.resource_type
        ctx = self._gate(req, resource_type, operation, (resource_type, ""))
        cursor = cursor or fhir_search.Cursor()
        found: list[dict[str, Any]] = []
        examined: list[str] = []
        refused = 0
        # The entries of the resources returned and of the refusals are written together with the search's own as
        # the page ends (one_audit_batch: one commit per page rather than one per resource — issue 17's profile found
        # nine tenths of a search in those commits), before the page is returned.
        with self.engine.connect() as conn:
            after, before = cursor.after, cursor.before
            batch = query.count + 1  # one more than a page: whether another page follows, without a second query
            while True:
                if len(found) == query.count:  # the page is full: is anything after?
                    more = bool(
                        vault.search_ids(
                            conn,
                            self._index_key,
                            resource_type,
                            query.index,
                            ids=query.ids,
                            patients=query.patients,
                            after=after,
                            before=before,
                            limit=1,
                        )
                    )
                    break
                # the candidates with their current versions, in one statement (a concurrent write: the next search
                # finds the new version)
                candidates = vault.search_versions(
                    conn,
                    self._index_key,
                    resource_type,
                    query.index,
                    ids=query.ids,
                    patients=query.patients,
                    after=after,
                    before=before,
                    limit=batch,
                )
                if not candidates:
                    more = False
                    break
                ids = [v.id for v in candidates]
                checks = self._page_checks(conn, ctx, req, candidates)
                for v in candidates:
                    if len(found) == query.count:
                        break
                    examined.append(v.id)
                    try:
                        found.append(self._read_version(conn, req, v, operation, ctx, keep=query.matches, page=checks))
                    except AccessDenied:
                        refused += 1  # refused and traced: not returned
                    except _NoMatch:
                        continue  # not matching: not returned, not traced as read
                if len(found) == query.count and examined[-1] != ids[-1]:
                    more = True
                    break
                if len(ids) < batch:
                    more = False
                    break
                # every candidate of the batch examined, the page not full (refusals, content checks): read on
                after, before = (None, ids[-1]) if cursor.before is not None else (ids[-1], None)
                batch = min(batch * 2, 1000)
        # The search itself is an access, traced even when it finds nothing (its criteria are not: personal data).
        self._trace(ctx, req, operation, (resource_type, ""), allowed=True, rule=operation, outcome="success")
        if cursor.before is None:
            return Page(found, examined, more_after=more, more_before=cursor.after is not None, refused=refused)
        return Page(found[::-1], examined[::-1], more_after=True, more_before=more, refused=refused)

    def _page_checks(
        self, conn: Connection, ctx: sessions.SessionContext, req: Request, candidates: Sequence[vault.Version]
    ) -> _PageChecks:
        """What the read path checks after the decision, for every patient of a batch of candidates at once: their
        objections to the purpose and the session's care relationships with them (one statement), their wrapped
        keys (one), and their consents to the categories collected on consent that the candidates hold (one, only
        if any). The same facts the per-record probe reads, in the request's transaction, never kept beyond it."""
        patients = sorted({v.patient_id for v in candidates if v.patient_id is not None})
        if not patients:
            return _PageChecks({}, {}, frozenset())
        now = self._now()
        care = self._needs_care(ctx, patients[0])  # the profile's rule, the same for every patient
        found = ledgers.standing(conn, patients, req.purpose, ctx.login, now, care=care)
        keys = self._keys.wrapped_keys_of(conn, patients)
        probes = {
            p: _Probe(
                p,
                p in found.objecting,
                (p in found.cared) if found.cared is not None else None,
                False,
                None,
                keys=keys[p],
            )
            for p in patients
        }
        held = {c for v in candidates for c in v.categories}
        on_consent = sorted(c for c in held if (d := self.ref.category(c)) and d.requires_consent)
        consented = consents.standings(conn, patients, on_consent, req.purpose, now) if on_consent else {}
        return _PageChecks(probes, consented, frozenset(on_consent))

    def search(
        self, req: Request, resource_type: str, criteria: Mapping[str, str] | Sequence[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        """Every current resource matching the criteria (FHIR search parameters), page after page; given as pairs,
        a parameter may come twice (``[("date", "ge…"), ("date", "lt…")]``: both hold)."""
        pairs = list(criteria.items()) if isinstance(criteria, Mapping) else list(criteria)
        query = fhir_search.parse(resource_type, pairs)
        query = replace(query, count=fhir_search.MAX_COUNT)
        page = self.search_page(req, query)
        results = list(page.entries)
        while page.more_after and page.examined:
            page = self.search_page(req, query, fhir_search.Cursor(after=page.examined[-1]))
            results.extend(page.entries)
        return results

    def page_token(self, req: Request, query: fhir_search.Query, cursor: fhir_search.Cursor) -> str:
        """A link's token for another page of this search (encrypted, bound to the session)."""
        return fhir_search.seal_page(self._page_key, req.token, query.resource_type, query.pairs, cursor)

    def open_page_token(self, req: Request, token: str) -> tuple[str, list[tuple[str, str]], fhir_search.Cursor]:
        return fhir_search.open_page(self._page_key, req.token, token)

    # -- writes ------------------------------------------------------------------------------------

    def create(
        self, req: Request, body: dict[str, Any], *, in_transaction: Callable[[Connection], None] | None = None
    ) -> dict[str, Any]:
        """Store a new record. ``in_transaction`` (a module's ledger, like the consent ledger) runs in the record's
        transaction once every check passed, before the commit: what it writes is committed with the record, and
        if it raises nothing is stored (the caller traces its refusal)."""
        rid = str(body.get("id") or uuid.uuid4())
        return self._write(req, {**body, "id": rid}, creating=True, in_transaction=in_transaction)

    def update(
        self, req: Request, resource_type: str, rid: str, body: dict[str, Any], *, if_match: int | None = None
    ) -> dict[str, Any]:
        """A new version; with ``if_match``, only if that version is still the current one (no lost update)."""
        if body.get("resourceType") != resource_type or str(body.get("id", rid)) != rid:
            raise mapping.MappingError(
                f"The body is a {body.get('resourceType')} with id '{body.get('id')}', not {resource_type}/{rid}."
            )
        return self._write(req, {**body, "id": rid}, creating=False, if_match=if_match)

    def transaction(self, req: Request, writes: Sequence[bundle.Write]) -> list[dict[str, Any]]:
        """A FHIR transaction: every write decided, encrypted and traced as if sent alone, all in one database
        transaction with one identity check — all stored, or none. The first refusal or error rolls back the others,
        whose entries in the trail then say ``rolled_back``. The request's entries are appended in one batch before
        the records commit (a trail that refuses them leaves nothing stored)."""
        with self.engine.connect() as conn:
            with self.audit.deferred() as batch:
                start = len(batch.events)
                ctx = self._session(req, [], "transaction", ("Bundle", ""))
                results = []
                try:
                    for i, w in enumerate(writes, start=1):
                        try:
                            results.append(
                                self._write(
                                    req, w.body, creating=w.creating, if_match=w.if_match, within=conn, checked=ctx
                                )
                            )
                        except SantegardeError as exc:
                            _in_entry(exc, i, w.body)
                            raise
                except BaseException:
                    conn.rollback()
                    batch.rolled_back(start)
                    raise
            conn.commit()
        return results

    def batch(
        self, req: Request, items: Sequence[bundle.Write | mapping.MappingError]
    ) -> list[dict[str, Any] | SantegardeError]:
        """A FHIR batch: after one identity check, each write decided, encrypted, traced and committed on its own, as
        if sent alone; a refused entry (unreadable, denied, missing, stale) is that entry's outcome and the others go
        on. The outcomes in the entries' order: the resource stored, or the refusal."""
        ctx = self._session(req, [], "batch", ("Bundle", ""))
        outcomes: list[dict[str, Any] | SantegardeError] = []
        for item in items:
            if isinstance(item, mapping.MappingError):
                outcomes.append(item)
                continue
            try:
                outcomes.append(
                    self._write(req, item.body, creating=item.creating, if_match=item.if_match, checked=ctx)
                )
            except SantegardeError as exc:
                outcomes.append(exc)
        return outcomes

    def _write(
        self,
        req: Request,
        body: dict[str, Any],
        *,
        creating: bool,
        if_match: int | None = None,
        in_transaction: Callable[[Connection], None] | None = None,
        within: Connection | None = None,
        checked: sessions.SessionContext | None = None,
    ) -> dict[str, Any]:
        """``within``: the connection of a transaction that holds several writes (its caller commits or rolls back);
        ``checked``: the session as that request already checked it."""
        resource_type = str(body.get("resourceType"))
        rmap = mapping.resource_map(resource_type)
        _validate(body)
        texts = mapping.free_text(body)
        rid = str(body["id"])
        resource = (resource_type, rid)
        operation = "create" if creating else "update"
        kinds = mapping.split(body)
        categories: dict[str, dict[str, Any]] = {}
        for kind, content in kinds.items():
            category = self._category_for(kind, req.purpose)
            if category is None:
                ctx = self._session(req, [], operation, resource, checked)
                elements = ", ".join(sorted(content))
                self._trace(ctx, req, operation, resource, allowed=False, rule="COM-MIN-1", outcome="denied")
                raise AccessDenied(
                    "elements_not_needed",
                    "COM-MIN-1",
                    elements=elements,
                    why={"fr": "cette finalité", "en": f"the purpose '{req.purpose}'"},
                    referential=self.ref.id,
                )
            categories.setdefault(category, {}).update(content)
        ctx = self._session(req, list(categories), operation, resource, checked)
        scope = self._consent_scope(ctx, req, operation, resource, body)
        free_cat = next((c for c in self.ref.categories if c.kind == CategoryKind.FREE_TEXT and c.forbidden), None)
        if texts and free_cat is not None:
            self._trace(
                ctx,
                req,
                operation,
                resource,
                allowed=False,
                rule=f"categories.{free_cat.id}.forbidden",
                section=free_cat.section,
                outcome="denied",
            )
            raise AccessDenied(
                "free_text",
                f"categories.{free_cat.id}.forbidden",
                free_cat.section,
                referential=self.ref.id,
                section=free_cat.section,
                field=texts[0][0],
            )
        patient_id = self._patient_reference(ctx, req, operation, resource, rmap, body)
        decisions = {
            c: d if d is None or not d.allowed else _limited(d, resource_type, categories[c])
            for c, d in self._decide_all(ctx, req, Operation.WRITE, list(categories), patient_id).items()
        }
        refused = next((d for d in decisions.values() if d is not None and not d.allowed), None)
        if refused is not None:
            raise self._refuse(ctx, req, operation, resource, refused, patient=patient_id)
        if resource_type == "Patient" and _tied(ctx):
            given = body.get("managingOrganization")
            if not isinstance(given, dict) or given.get("reference") != f"Organization/{ctx.establishment}":
                raise self._other_establishment(ctx, req, operation, resource, rid)
        now = self._now()
        with nullcontext(within) if within is not None else self.engine.connect() as conn:
            new_patient = creating and resource_type == "Patient"
            probe = None
            if creating:  # most creates name a new id: one probe tells so, with everything else the checks read
                probe = self._write_probe(conn, ctx, req, patient_id, rid, list(categories), new_patient)
            existing = vault.versions(conn, rid, current_only=True) if probe is None or probe.taken else []
            if existing and existing[0].resource_type != resource_type:
                existing = []  # another type's id: for this type, no such record (its type is not disclosed)
                if creating:
                    self._trace(ctx, req, operation, resource, allowed=False, rule="record.id_taken", outcome="denied")
                    raise mapping.MappingError(
                        f"The id '{rid}' is already taken; create the {resource_type} without it."
                    )
            if creating and existing:
                self._trace(ctx, req, operation, resource, allowed=False, rule="record.id_taken", outcome="denied")
                raise mapping.MappingError(f"{resource_type}/{rid} already exists; update it instead.")
            if not creating and not existing:
                raise self._not_found(ctx, req, operation, resource)
            if if_match is not None and existing and existing[0].version != if_match:
                self._trace(
                    ctx, req, operation, resource, allowed=False, rule="record.version_conflict", outcome="denied"
                )
                raise VersionConflict(
                    f"{resource_type}/{rid} is at version {existing[0].version}, not {if_match} as If-Match says: "
                    "someone changed it since you read it. Read it again, apply your change to the current version "
                    "and send it with the new ETag."
                )
            stored_patient = existing[0].patient_id if existing else patient_id
            if probe is None or probe.patient != stored_patient:
                probe = self._write_probe(
                    conn, ctx, req, stored_patient, rid, list(categories), new_patient, patient_id
                )
            # The stored record's patient decides, never the body's: a record cannot be moved to another patient.
            # Creating a patient's record is what establishes the creator's care relationship (below).
            care, glass = (
                (None, False) if new_patient else self._care(conn, ctx, req, stored_patient, operation, resource, probe)
            )
            if stored_patient != patient_id:
                self._trace(
                    ctx,
                    req,
                    operation,
                    resource,
                    allowed=False,
                    rule="record.patient_changed",
                    outcome="denied",
                    patient=stored_patient,
                )
                raise AccessDenied("patient_changed", "record.patient_changed", record=f"{resource_type}/{rid}")
            if patient_id is not None and not new_patient and not probe.exists:
                self._trace(
                    ctx, req, operation, resource, allowed=False, rule="record.patient_unknown", outcome="denied"
                )
                raise mapping.MappingError(
                    f"The {resource_type} names Patient/{patient_id}, which is not a patient of this organisation: "
                    "create the patient's record first, or correct the reference."
                )
            self._objected(conn, ctx, req, stored_patient, operation, resource, probe)
            if probe.frozen is not None:
                self._trace(
                    ctx,
                    req,
                    operation,
                    resource,
                    allowed=False,
                    rule="record.frozen",
                    outcome="denied",
                    patient=patient_id,
                )
                raise AccessDenied("frozen", "record.frozen", record=f"{resource_type}/{rid}", reason=probe.frozen)
            try:  # a concurrent writer of the same id breaks the (id, version) key: refused, never a lost update
                version = vault.Version(
                    rid,
                    existing[0].version + 1 if existing else 1,  # the current version is the latest
                    resource_type,
                    patient_id,
                    now,
                    ctx.login,
                    req.purpose,
                    bool(texts),
                    tuple(sorted(categories)),
                )
                vault.write_version(
                    self._keys, conn, self.ref, version, categories, first=not existing, wrapped=probe.keys
                )
                if resource_type == "Patient" or rmap.main is None:
                    vault.reindex(conn, self._index_key, rid, body, first=not existing)
                if scope is not None and patient_id is not None:  # the ledger follows the record, in its transaction
                    consents.record(conn, rid, patient_id, scope, now, ctx.login)
                if in_transaction is not None:
                    in_transaction(conn)
                accessor = self.ref.accessor(ctx.profile or "")
                if new_patient and accessor is not None and accessor.care_relationship:
                    conn.execute(
                        insert(care_relationship).values(
                            login=ctx.login, patient_id=rid, basis="created the patient's record", since=now
                        )
                    )
                justification = self._justify(conn, ctx, req, resource, patient_id, glass=glass)
                decided = next((d for d in decisions.values() if d is not None), None)
                self._trace(
                    ctx,
                    req,
                    operation,
                    resource,
                    allowed=True,
                    rule=decided.rule if decided else "directory",
                    section=decided.section if decided else "",
                    outcome="success",
                    patient=patient_id,
                    break_glass=glass,
                    care=care,
                    justification=justification,
                )
                if within is None:
                    conn.commit()
            except IntegrityError:
                conn.rollback()
                raise self._write_conflict(conn, ctx, req, operation, resource, if_match) from None
        # What was just validated, encrypted and committed, as a read of it would give it (every part allowed, not
        # frozen: a frozen record was refused above): no read-back, no decryption of what was just encrypted.
        meta: dict[str, Any] = {"versionId": str(version.version), "lastUpdated": aware(now).isoformat()}
        if texts:
            meta["tag"] = [mapping.FREE_TEXT_TAG]
        # COM-FREE-1: free text that looks identifying is flagged to the writer (the text's rules refuse it for AAC)
        findings = screen.screen(texts)
        if findings:
            meta["tag"] = [*meta.get("tag", []), screen.flag(findings)]
        parts = json.loads(json.dumps(list(categories.values()), ensure_ascii=False))
        return mapping.merge(resource_type, rid, meta, parts)

    def _write_conflict(
        self,
        conn: Connection,
        ctx: sessions.SessionContext,
        req: Request,
        operation: str,
        resource: tuple[str, str],
        if_match: int | None,
    ) -> VersionConflict:
        """The refusal (traced) of a write that lost the race to another writer of the same record."""
        resource_type, rid = resource
        current = vault.versions(conn, rid, current_only=True)
        conn.rollback()
        if if_match is not None:
            self._trace(ctx, req, operation, resource, allowed=False, rule="record.version_conflict", outcome="denied")
            now = f"it is now at version {current[0].version}" if current else "it changed"
            return VersionConflict(
                f"{resource_type}/{rid} was changed by another request at the same time as this one: {now}, not "
                f"{if_match} as If-Match says. Read it again, apply your change to the current version and send it "
                "with the new ETag."
            )
        self._trace(ctx, req, operation, resource, allowed=False, rule="record.write_conflict", outcome="denied")
        return WriteConflict(
            f"{resource_type}/{rid} was written by another request at the same time as this {operation}: nothing of "
            f"this {operation} was saved. Read {resource_type}/{rid} again, then send your change again."
        )

    def _patient_reference(
        self,
        ctx: sessions.SessionContext,
        req: Request,
        operation: str,
        resource: tuple[str, str],
        rmap: mapping.ResourceMap,
        body: dict[str, Any],
    ) -> str | None:
        """The one patient a record belongs to: named by its patient reference, and no other patient named in it."""
        if rmap.main is None:
            return None
        named = mapping.patients_named(body)
        patient_id = mapping.patient_of(body)
        problem = None
        if resource[0] != "Patient" and patient_id is None:
            where = " or ".join(rmap.patient_refs)
            problem = f"A {resource[0]} belongs to a patient: set {where} to a reference 'Patient/<id>'."
        elif named - {patient_id}:
            problem = (
                f"This {resource[0]} refers to another patient ({', '.join(sorted(f'Patient/{p}' for p in named))}): "
                "a record names only its own patient."
            )
        if problem is None:
            return patient_id
        self._trace(ctx, req, operation, resource, allowed=False, rule="record.patient_reference", outcome="denied")
        raise mapping.MappingError(problem)

    def purposes_for(self, profile: str, body: dict[str, Any]) -> list[str]:
        """The declared purposes under which ``profile`` may write this resource (policy only, no data access)."""
        kinds = mapping.split(body)
        usable = []
        for purpose in self.ref.purposes:
            if purpose.forbidden or purpose.out_of_scope or purpose.requires_formality:
                continue
            categories = [self._category_for(kind, purpose.id) for kind in kinds]
            if any(c is None for c in categories):
                continue
            if all(
                c == mapping.DIRECTORY
                or decide(self.ref, AccessRequest(profile, Operation.WRITE, c, purpose.id)).allowed
                for c in categories
                if c is not None
            ):
                usable.append(purpose.id)
        return usable

    # -- freezing ----------------------------------------------------------------------------------

    def freeze(self, req: Request, resource_type: str, rid: str, reason: str, *, permanent: bool = False) -> None:
        """Freeze a record: writes refused until unfrozen (never, when permanent). Needs write rights on it."""
        if len(reason.strip()) < 5:
            raise AccessDenied("freeze_reason")
        self._check_write_rights(req, resource_type, rid, "freeze")
        ctx = sessions.state(self.identity, req.token)
        with self.engine.begin() as conn:
            existing = conn.execute(select(record_freeze).where(record_freeze.c.record_id == rid)).first()
            if existing is not None:
                raise AccessDenied("already_frozen", record=f"{resource_type}/{rid}", reason=existing.reason)
            conn.execute(
                insert(record_freeze).values(
                    record_id=rid,
                    reason=reason.strip()[:300],
                    permanent=permanent,
                    frozen_at=self._now(),
                    frozen_by=ctx.login,
                )
            )
        self._trace(ctx, req, "freeze", (resource_type, rid), allowed=True, rule="record.freeze", outcome="success")

    def unfreeze(self, req: Request, resource_type: str, rid: str) -> None:
        """Lift a (non-permanent) freeze, e.g. when a restriction of processing ends."""
        self._check_write_rights(req, resource_type, rid, "unfreeze")
        ctx = sessions.state(self.identity, req.token)
        with self.engine.begin() as conn:
            existing = conn.execute(select(record_freeze).where(record_freeze.c.record_id == rid)).first()
            if existing is None:
                raise NotFound("not_frozen", record=f"{resource_type}/{rid}")
            if existing.permanent:
                raise AccessDenied("frozen_for_good", record=f"{resource_type}/{rid}", reason=existing.reason)
            conn.execute(delete(record_freeze).where(record_freeze.c.record_id == rid))
        self._trace(ctx, req, "unfreeze", (resource_type, rid), allowed=True, rule="record.freeze", outcome="success")

    def _check_write_rights(self, req: Request, resource_type: str, rid: str, operation: str) -> None:
        with self.engine.connect() as conn:
            found = [v for v in vault.versions(conn, rid, current_only=True) if v.resource_type == resource_type]
        if not found:
            raise self._not_found(
                self._session(req, [], operation, (resource_type, rid)), req, operation, (resource_type, rid)
            )
        v = found[0]
        ctx = self._session(req, list(v.categories), operation, (resource_type, rid))
        decisions = self._decide_all(ctx, req, Operation.WRITE, list(v.categories), v.patient_id)
        refused = next((d for d in decisions.values() if d is not None and not d.allowed), None)
        if refused is not None:
            raise self._refuse(ctx, req, operation, (resource_type, rid), refused, patient=v.patient_id)
        with self.engine.connect() as conn:  # freezing a record is writing to it: the care check applies
            self._care(conn, ctx, req, v.patient_id, operation, (resource_type, rid))

    # -- data-subject rights (COM-RGT-1) ---------------------------------------------------------------

    @one_audit_batch
    def patient_records(
        self, req: Request, patient_id: str, within: frozenset[str] | None = None
    ) -> list[dict[str, Any]]:
        """Every current record of the patient the session may read, each read under its own stored purpose;
        ``within``: only the records whose every category is one of these (the others are not read at all — e.g.
        what a viewing from outside the EU may carry, aac-2022-106 §12)."""
        with self.engine.connect() as conn:
            ids = conn.execute(
                select(record.c.id)
                .where(record.c.patient_id == patient_id, record.c.current.is_(True))
                .order_by(record.c.resource_type != "Patient", record.c.resource_type, record.c.id)
            ).scalars()
            found = [vault.versions(conn, rid, current_only=True)[0] for rid in ids]
            if within is not None:
                found = [v for v in found if v.categories and set(v.categories) <= within]
            resource = ("Patient", patient_id)
            if not found:
                self._not_found(self._session(req, [], "rights.records", resource), req, "rights.records", resource)
                raise NotFound("no_patient", patient=patient_id)
            ctx = self._session(req, sorted({c for v in found for c in v.categories}), "rights.records", resource)
            results = []
            for v in found:
                # Under the record's own purpose, or the request's (e.g. rights management) if it reaches more.
                purpose = max(dict.fromkeys((v.purpose, req.purpose)), key=lambda p: self._reach(ctx, req, p, v))
                try:
                    results.append(self._read_version(conn, replace(req, purpose=purpose), v, "rights.records", ctx))
                except AccessDenied:
                    continue  # refused and traced; not returned
            return results

    def _reach(self, ctx: sessions.SessionContext, req: Request, purpose: str, v: vault.Version) -> int:
        """How many of the version's categories the session may read under ``purpose`` (no trace: a comparison)."""
        decisions = self._decide_all(
            ctx, replace(req, purpose=purpose), Operation.READ, list(v.categories), v.patient_id
        )
        return sum(1 for d in decisions.values() if d is None or _limited(d, v.resource_type, None).allowed)

    def erase_patient(self, req: Request, patient_id: str, reason: str) -> int:
        """Erase a patient: keys destroyed (crypto-shredding), live and archived rows deleted in one transaction.

        Write-ahead (:mod:`santegarde.store.writeahead`): the erasure is staged, one ``erase`` entry per record
        and one ``erase.keys_destroyed`` (outcome ``intent``) are committed in the trail, then the erasure
        commits and a ``success`` entry follows. Killed before the commit, nothing is erased; after, all is traced.
        """
        if len(reason.strip()) < 5:
            raise AccessDenied("erase_reason")
        resource = ("Patient", patient_id)
        with self.engine.connect() as conn:
            ids = conn.execute(
                select(record.c.id).where(record.c.patient_id == patient_id, record.c.current.is_(True))
            ).scalars()
            found = [vault.versions(conn, rid, current_only=True)[0] for rid in ids]
        if not found:
            self._not_found(self._session(req, [], "erase", resource), req, "erase", resource)
            raise NotFound("no_patient", patient=patient_id)
        ctx = self._session(req, sorted({c for v in found for c in v.categories}), "erase", resource)
        for v in found:  # delete rights under the request's purpose (e.g. rights management) or the record's own
            tried = [
                self._decide_all(ctx, replace(req, purpose=p), Operation.DELETE, list(v.categories))
                for p in dict.fromkeys((req.purpose, v.purpose))
            ]
            refusals = [next((d for d in t.values() if d is not None and not d.allowed), None) for t in tried]
            refused = refusals[0]
            if refused is not None and all(r is not None for r in refusals):
                raise self._refuse(ctx, req, "erase", resource, refused, patient=patient_id)
        with self.engine.connect() as conn:  # erasing is the most final write: the care check applies
            self._care(conn, ctx, req, patient_id, "erase", resource)
        with self.engine.begin() as conn:
            doomed = sorted(
                {
                    (row.resource_type, row.id)
                    for table in (record, archive_record)
                    for row in conn.execute(
                        select(table.c.resource_type, table.c.id).where(table.c.patient_id == patient_id)
                    )
                }
            )
            keys = self._keys.destroy(conn, patient_id)
            rows = select(record.c.id).where(record.c.patient_id == patient_id)
            conn.execute(delete(record_part).where(record_part.c.record_id.in_(rows)))
            conn.execute(delete(record_index).where(record_index.c.record_id.in_(rows)))
            conn.execute(
                delete(record_freeze).where(record_freeze.c.record_id.in_(rows), record_freeze.c.permanent.is_(False))
            )
            erased = int(conn.execute(delete(record).where(record.c.patient_id == patient_id)).rowcount)
            archived = select(archive_record.c.id).where(archive_record.c.patient_id == patient_id)
            conn.execute(delete(archive_part).where(archive_part.c.record_id.in_(archived)))
            erased += int(
                conn.execute(delete(archive_record).where(archive_record.c.patient_id == patient_id)).rowcount
            )
            conn.execute(delete(care_relationship).where(care_relationship.c.patient_id == patient_id))
            conn.execute(delete(access_justification).where(access_justification.c.patient_id == patient_id))
            conn.execute(delete(consent_ledger).where(consent_ledger.c.patient_id == patient_id))
            conn.execute(delete(objection_ledger).where(objection_ledger.c.patient_id == patient_id))
            intents = [("erase", rtype, rid) for rtype, rid in doomed]
            if keys:
                intents.append(("erase.keys_destroyed", "Patient", patient_id))
            trace_ahead(
                self.audit,
                [
                    AuditEvent(
                        ctx.login,
                        ctx.profile or "",
                        operation,
                        rtype,
                        rid,
                        req.purpose,
                        True,
                        "COM-RGT-1",
                        "",
                        INTENT,
                        req.source,
                        self.ref.id,
                        patient_id,
                    )
                    for operation, rtype, rid in intents
                ],
                "erase.intent",
            )
        crash_point("erase.committed")
        self._trace(ctx, req, "erase", resource, allowed=True, rule="COM-RGT-1", outcome="success", patient=patient_id)
        return erased

    # -- consent and objection (COM-MIN-1, COM-RGT-1) -------------------------------------------------

    def withdraw_consent(self, req: Request, consent_id: str) -> dict[str, Any]:
        """The person withdraws a consent: stored as ``inactive`` from now on (a new version); earlier data stay."""
        current = self.read(req, "Consent", consent_id)
        if current.get("status") != "active":
            raise AccessDenied("consent_inactive", consent=consent_id, status=_consent_status(current.get("status")))
        body = {k: v for k, v in current.items() if k != "meta"}
        return self.update(req, "Consent", consent_id, {**body, "status": "inactive"})

    def consent_ledger(self, req: Request, patient_id: str) -> list[consents.Entry]:
        """The patient's consent ledger, newest first; reading it is reading the patient's Consents (traced)."""
        return self._ledger(req, "Consent", "consent.show", "COM-MIN-1", patient_id, consents.entries)

    def record_objection(self, req: Request, patient_id: str, purpose: str) -> objections.Objection:
        """Record a patient's objection to a purpose, where GDPR art. 21.1 (or the text) gives that right."""
        resource = ("Patient", patient_id)
        ctx = self._patient_gate(req, "Patient", "objection.record", patient_id)
        declared = self.ref.purpose(purpose)
        try:
            if declared is None:
                raise RightsUndecidable(
                    f"'{purpose}' is not a purpose of {self.ref.id}; name one of: "
                    + ", ".join(p.id for p in self.ref.purposes if not (p.forbidden or p.out_of_scope))
                )
            right = right_applies(self.ref, purpose, Right.OBJECTION, self.legal_bases.get(purpose))
        except RightsUndecidable as exc:
            self._trace(
                ctx,
                req,
                "objection.record",
                resource,
                allowed=False,
                rule="COM-RGT-1",
                outcome="denied",
                patient=patient_id,
            )
            raise AccessDenied("objection_refused", "COM-RGT-1", reason=str(exc)) from None
        if not right.applies:
            rule = f"COM-RGT-1.objection.{purpose}"
            self._trace(
                ctx,
                req,
                "objection.record",
                resource,
                allowed=False,
                rule=rule,
                section=right.article,
                outcome="denied",
                patient=patient_id,
            )
            raise AccessDenied(
                "objection_not_applicable",
                rule,
                right.article,
                why={"fr": "cette finalité", "en": f"'{purpose}'"},
                article={"fr": right.article.replace("GDPR art.", "RGPD, art."), "en": right.article},
                reason={"fr": "", "en": f": {right.reason}"},
            )
        with self.engine.begin() as conn:
            existing = objections.in_force(conn, patient_id, purpose)
            number = existing.number if existing else objections.add(conn, patient_id, purpose, self._now(), ctx.login)
            found = objections.in_force(conn, patient_id, purpose)
            self._trace(
                ctx,
                req,
                "objection.record",
                resource,
                allowed=True,
                rule=f"COM-RGT-1.objection.{purpose}",
                section=right.article,
                outcome="success",
                patient=patient_id,
            )
        if found is None or found.number != number:  # pragma: no cover - the row was written just above
            raise NotFound("objection_unread", patient=patient_id, why={"fr": "cette finalité", "en": f"'{purpose}'"})
        return found

    def lift_objection(
        self, req: Request, patient_id: str, purpose: str, *, grounds: str | None = None
    ) -> objections.Objection:
        """Lift an objection (the person withdrew it), or override it on compelling legitimate grounds, written,
        kept apart and flagged in the trace review (GDPR art. 21.1)."""
        resource = ("Patient", patient_id)
        ctx = self._patient_gate(req, "Patient", "objection.lift", patient_id)
        handlers = rights_handlers(self.ref)
        if ctx.profile not in handlers:
            rule = "COM-RGT-1.controller"
            self._trace(
                ctx, req, "objection.lift", resource, allowed=False, rule=rule, outcome="denied", patient=patient_id
            )
            who = ", ".join(handlers) or f"no profile of {self.ref.id}"
            raise AccessDenied(
                "controller_only", rule, "GDPR art. 21.1", referential=self.ref.id, who=who, profile=ctx.profile
            )
        reason = (grounds or "").strip()
        if grounds is not None and len(reason) < BREAK_GLASS_MIN:
            self._trace(
                ctx,
                req,
                "objection.lift",
                resource,
                allowed=False,
                rule="COM-RGT-1.compelling_grounds",
                outcome="denied",
                patient=patient_id,
            )
            raise AccessDenied("compelling_grounds", "COM-RGT-1.compelling_grounds", min=BREAK_GLASS_MIN)
        with self.engine.begin() as conn:
            found = objections.in_force(conn, patient_id, purpose)
            if found is None:
                self._trace(
                    ctx, req, "objection.lift", resource, allowed=False, rule="COM-RGT-1", outcome="not_found",
                    patient=patient_id,
                )  # fmt: skip
                raise NotFound("no_objection", patient=patient_id, why={"fr": "cette finalité", "en": f"'{purpose}'"})
            justification = None
            if grounds is not None:
                justification = int(
                    conn.execute(
                        insert(access_justification)
                        .values(
                            at=self._now(),
                            login=ctx.login,
                            kind=objections.COMPELLING_GROUNDS[:20],
                            resource_type="Patient",
                            record_id=patient_id,
                            patient_id=patient_id,
                            text=reason[:JUSTIFICATION_MAX],
                        )
                        .returning(access_justification.c.id)
                    ).scalar_one()
                )
            kind = objections.COMPELLING_GROUNDS if grounds is not None else objections.LIFTED
            objections.lift(conn, found.number, self._now(), ctx.login, kind, justification)
            self._trace(
                ctx,
                req,
                "objection.lift",
                resource,
                allowed=True,
                rule=f"COM-RGT-1.{kind}",
                section="GDPR art. 21.1",
                outcome="success",
                patient=patient_id,
                justification=justification,
            )
        return replace(found, lifted_at=self._now(), lifted_by=ctx.login, lift_kind=kind, justification=justification)

    def objections_of(self, req: Request, patient_id: str) -> list[objections.Objection]:
        """Every objection of the patient, in force or lifted (traced: it says what the person asked)."""
        return self._ledger(req, "Patient", "objection.show", "COM-RGT-1", patient_id, objections.of_patient)

    def _ledger(
        self,
        req: Request,
        resource_type: str,
        operation: str,
        rule: str,
        patient_id: str,
        read: Callable[[Connection, str], list[T]],
    ) -> list[T]:
        """A patient's ledger (consents, objections) read through the gate, the reading traced."""
        ctx = self._patient_gate(req, resource_type, operation, patient_id)
        with self.engine.connect() as conn:
            found = read(conn, patient_id)
        resource = ("Patient", patient_id)
        self._trace(ctx, req, operation, resource, allowed=True, rule=rule, outcome="success", patient=patient_id)
        return found

    def _patient_gate(
        self, req: Request, resource_type: str, operation: str, patient_id: str
    ) -> sessions.SessionContext:
        """Session and policy for reading this type under the purpose, on an existing patient; traced when it passes."""
        resource = ("Patient", patient_id)
        ctx = self._gate(req, resource_type, operation, resource)
        with self.engine.connect() as conn:
            if not vault.patient_exists(conn, patient_id):
                raise self._not_found(ctx, req, operation, resource)
        return ctx

    # -- care relationships ------------------------------------------------------------------------

    def declare_care(
        self, req: Request, patient_id: str, basis: str, until: datetime | None = None, note: str = ""
    ) -> None:
        """A practitioner takes in care a patient someone else registered: a coded basis, recorded, traced, flagged.

        The trace review lists every declaration (``care_declared``) for the reviewer to check against the
        appointment book or the referral letter: a declaration is the practitioner's word, not a proof.
        """
        basis = basis.strip()
        if basis not in CARE_BASES:
            choices = {
                "fr": ", ".join(CARE_BASES),
                "en": "; ".join(f"{code} ({meaning})" for code, meaning in CARE_BASES.items()),
            }
            raise AccessDenied("care_basis", basis=basis[:40], choices=choices)
        ctx = self._session(req, [], "care.declare", ("Patient", patient_id))
        accessor = self.ref.accessor(ctx.profile or "")
        if accessor is None or not accessor.care_relationship:
            raise AccessDenied("no_care_profile", profile=ctx.profile)
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(record.c.id).where(record.c.id == patient_id, record.c.resource_type == "Patient")
            ).first()
            if exists is None:
                raise self._not_found(ctx, req, "care.declare", ("Patient", patient_id))
            if _tied(ctx) and not self._of_establishment(conn, patient_id, ctx.establishment):
                raise self._other_establishment(ctx, req, "care.declare", ("Patient", patient_id), patient_id)
            recorded = f"{basis}: {' '.join(note.split())}" if note.strip() else basis
            conn.execute(
                insert(care_relationship).values(
                    login=ctx.login, patient_id=patient_id, basis=recorded[:200], since=self._now(), until=until
                )
            )
        self._trace(
            ctx,
            req,
            "care.declare",
            ("Patient", patient_id),
            allowed=True,
            rule=f"care_relationship.declared.{basis}",
            outcome="success",
            patient=patient_id,
            care=True,
        )

    def _of_establishment(self, conn: Connection, patient_id: str, establishment: str | None) -> bool:
        """Whether the patient's record names this establishment as its managing organisation (blind index); a
        session tied to no establishment (a grant given before grants carried one) is of none."""
        if establishment is None:
            return False
        term = vault.digest(self._index_key, "organization", f"Organization/{establishment}")
        found = conn.execute(
            select(record_index.c.record_id).where(
                record_index.c.record_id == patient_id,
                record_index.c.kind == "organization",
                record_index.c.digest == term,
            )
        ).first()
        return found is not None

    def _other_establishment(
        self, ctx: sessions.SessionContext, req: Request, operation: str, resource: tuple[str, str], patient: str
    ) -> AccessDenied:
        """Trace and word the refusal of a session tied to an establishment acting on another's patient (§8.1)."""
        rule = "care_relationship.establishment"
        self._trace(ctx, req, operation, resource, allowed=False, rule=rule, outcome="denied", patient=patient or None)
        own = {"fr": ctx.establishment or "aucun", "en": ctx.establishment or "none"}
        return AccessDenied("other_establishment", rule, "8.1", own=own)

    def end_care(self, req: Request, patient_id: str) -> None:
        ctx = self._session(req, [], "care.end", ("Patient", patient_id))
        with self.engine.begin() as conn:
            conn.execute(
                update(care_relationship)
                .where(care_relationship.c.login == ctx.login, care_relationship.c.patient_id == patient_id)
                .values(until=self._now())
            )
        self._trace(
            ctx,
            req,
            "care.end",
            ("Patient", patient_id),
            allowed=True,
            rule="care_relationship",
            outcome="success",
            patient=patient_id,
        )

    # -- the intermediate archive (COM-ARC-1) ---------------------------------------------------------

    def read_archived(self, req: Request, resource_type: str, rid: str, justification: str) -> list[dict[str, Any]]:
        """Every archived version of a record, newest first: a restricted profile, a written justification, traced."""
        mapping.resource_map(resource_type)
        resource = (resource_type, rid)
        with self.engine.connect() as conn:
            found = [v for v in retention.archived_versions(conn, rid) if v.resource_type == resource_type]
        if not found:
            self._not_found(self._session(req, [], "archive.access", resource), req, "archive.access", resource)
            raise NotFound("archive_not_found", type=resource_type, id=rid)
        categories = sorted({c for v in found for c in v.categories})
        patient = found[0].patient_id
        ctx = self._session(req, categories, "archive.access", resource)
        if len(justification.strip()) < ARCHIVE_JUSTIFICATION_MIN:
            self._trace(
                ctx, req, "archive.access", resource, allowed=False, rule="COM-ARC-1", outcome="denied", patient=patient
            )
            raise AccessDenied("archive_reason", "COM-ARC-1", min=ARCHIVE_JUSTIFICATION_MIN)
        decisions = self._decide_all(ctx, req, Operation.ARCHIVE, categories)
        allowed = [c for c, d in decisions.items() if d is None or d.allowed]
        decided = next((d for d in decisions.values() if d is not None and d.allowed), None)
        if not allowed or (decided is None and mapping.DIRECTORY not in allowed):
            first = next(d for d in decisions.values() if d is not None)
            raise self._refuse(ctx, req, "archive.access", resource, first, patient=patient)
        with self.engine.begin() as conn:
            conn.execute(
                insert(archive_access).values(
                    at=self._now(),
                    login=ctx.login,
                    resource_type=resource_type,
                    record_id=rid,
                    justification=justification.strip()[:1000],
                )
            )
            self._trace(
                ctx,
                req,
                "archive.access",
                resource,
                allowed=True,
                rule=decided.rule if decided else "COM-ARC-1",
                section=decided.section if decided else "",
                outcome="success",
                patient=patient,
            )
        return retention.open_archived(self.engine, self._keys.ring, self.ref, rid, allowed)


def _tied(ctx: sessions.SessionContext) -> bool:
    """Whether the session acts for one establishment and reaches only its patients (aac-2022-106 §8.1); deny by
    default: a profile tied to establishments whose grant names none reaches no patient."""
    return ctx.establishment is not None or ctx.profile in grants.ESTABLISHMENT_PROFILES


@functools.lru_cache(maxsize=64)
def _probe_statement(
    families: tuple[str, ...], taken: bool, patient: bool, care: bool, exists: bool, frozen: bool
) -> Select[Any]:
    """The probe's statement for one shape, built once with bound parameters (patient, purpose, login, now, taken,
    exists, frozen): scalar subqueries in one SELECT, on SQLite and PostgreSQL alike."""
    columns: list[Any] = [literal(1).label("probe")]
    columns += [
        select(patient_key.c.wrapped)
        .where(patient_key.c.patient_id == bindparam("patient"), patient_key.c.family == family)
        .scalar_subquery()
        .label(f"key_{family}")
        for family in families
    ]
    if taken:
        columns.append(
            select(record.c.id)
            .where(record.c.id == bindparam("taken"), record.c.current.is_(True))
            .limit(1)
            .scalar_subquery()
            .label("taken")
        )
    if patient:
        o = objection_ledger.c
        columns.append(
            select(o.id)
            .where(o.patient_id == bindparam("patient"), o.purpose == bindparam("purpose"), o.lifted_at.is_(None))
            .order_by(o.id)
            .limit(1)
            .scalar_subquery()
            .label("objection")
        )
    if care:
        c = care_relationship.c
        now = bindparam("now", type_=c.since.type)
        columns.append(
            select(c.id)
            .where(
                c.login == bindparam("login"),
                c.patient_id == bindparam("patient"),
                c.since <= now,
                (c.until.is_(None)) | (c.until > now),
            )
            .limit(1)
            .scalar_subquery()
            .label("care")
        )
    if exists:
        columns.append(
            select(record.c.id)
            .where(record.c.id == bindparam("exists"), record.c.resource_type == "Patient", record.c.current.is_(True))
            .limit(1)
            .scalar_subquery()
            .label("patient")
        )
    if frozen:
        columns.append(
            select(record_freeze.c.reason)
            .where(record_freeze.c.record_id == bindparam("frozen"))
            .limit(1)
            .scalar_subquery()
            .label("frozen")
        )
    return select(*columns)


@dataclass(frozen=True, slots=True)
class _Probe:
    """What :meth:`RecordService._probe` read for ``patient`` in the request's transaction."""

    patient: str | None
    objected: bool
    care: bool | None  # None: not asked (no care relationship needed)
    exists: bool
    frozen: str | None
    taken: bool = False
    keys: dict[str, bytes | None] | None = None  # the patient's wrapped keys by family (None: no such key)


@dataclass(frozen=True, slots=True)
class _PageChecks:
    """What :meth:`RecordService._page_checks` read for the patients of a batch of search candidates."""

    probes: dict[str, _Probe]
    consented: dict[tuple[str, str], consents.Standing]
    on_consent: frozenset[str]  # the candidates' categories collected on consent
    decided: dict[tuple[str, tuple[str, ...], str | None], _Decided] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Decided:
    """The session and the decisions a record's categories got (``RecordService._decided``)."""

    ctx: sessions.SessionContext
    decisions: dict[str, Decision | None]
    allowed: list[str]
    limits: dict[str, frozenset[str]]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.ctx, self.decisions, self.allowed, self.limits))


def _directory(ref: Referential, profile: str, operation: Operation, req: Request) -> Decision | None:
    """The directory of professionals and organisations holds no patient data, but it is no open door: a profile
    reaches it only for an operation it may do on some data, under a purpose the text neither forbids nor excludes.
    None when allowed; else the refusal."""
    purpose = ref.purpose(req.purpose)
    accessor = ref.accessor(profile)
    if purpose is None or purpose.forbidden or purpose.out_of_scope:
        said = refusals.sentences("access_store", "directory_purpose", purpose=req.purpose, referential=ref.id)
        rule, section = "directory.purpose", purpose.section if purpose else "3"
    elif accessor is None or not any(operation in access.operations for access in accessor.access):
        said = refusals.sentences(
            "access_store",
            "directory_profile",
            who=decisions.who(accessor.name if accessor else profile),
            referential=ref.id,
            operation={"fr": decisions.OPERATION_FR[operation], "en": str(operation)},
        )
        rule, section = "directory.profile", accessor.section if accessor else "6"
    else:
        return None
    request = AccessRequest(profile, operation, mapping.DIRECTORY, req.purpose)
    return Decision(False, ref.id, rule, section, said["en"], request, said=said)


CONSENT_STATUS_FR = {
    "inactive": "inactif",
    "draft": "brouillon",
    "proposed": "proposé",
    "rejected": "refusé",
    "entered-in-error": "saisi par erreur",
}


def _consent_status(status: object) -> dict[str, str]:
    """A FHIR Consent's status in each language."""
    return {"fr": CONSENT_STATUS_FR.get(str(status), str(status)), "en": str(status)}


def _consent_ended(decision: Decision, category: str, operation: Operation, standing: consents.Standing) -> Decision:
    """The decision once the patient's consent ended (withdrawn, or its period ran out): no further collection or
    use from that moment, with the rule and the date; what was collected before stays lawful (GDPR art. 7.3)."""
    at = f"{standing.ended_at:%Y-%m-%d %H:%M} UTC"
    le = f"{standing.ended_at:%d/%m/%Y à %H h %M} (UTC)"
    if standing.ended == consents.WITHDRAWN:
        told = {"fr": f"le patient l'a retiré le {le}", "en": f"the patient withdrew it on {at}"}
        since = {
            "fr": f"depuis que le patient a retiré son consentement le {le}",
            "en": f"since the patient withdrew consent on {at}",
        }
    else:
        told = {
            "fr": f"son consentement a expiré le {le} (fin de sa durée)",
            "en": f"their consent expired on {at} (end of its period)",
        }
        since = {
            "fr": f"depuis l'expiration du consentement du patient le {le}",
            "en": f"since the patient's consent expired on {at}",
        }
    if decision.allowed and operation is not Operation.WRITE:
        return decisions.refused(
            decision,
            f"categories.{category}.requires_consent",
            "consent_lapsed",
            what=decisions.what(category),
            why=decisions.why(decision.request.purpose),
            since=since,
        )
    if not decision.allowed and decision.rule.endswith("requires_consent"):
        reason = {lang: decision.reason_in(lang) for lang in refusals.LANGS}
        return decisions.reworded(decision, "consent_ended", reason=reason, told=told)
    return decision


def _limited(d: Decision, resource_type: str, elements: Iterable[str] | None) -> Decision:
    """The decision, or a refusal when its access is limited to elements that ``elements`` (or the type) exceed."""
    only = d.elements_of(resource_type)
    if only is None:
        return d
    outside = sorted(set(elements or ()) - only)
    if only and not outside:
        return d
    outside_words = (
        {
            "fr": f"aux éléments {', '.join(outside)} d'une ressource {resource_type}",
            "en": f"the element(s) {', '.join(outside)} of a {resource_type}",
        }
        if only
        else {"fr": f"à une ressource {resource_type}", "en": f"a {resource_type}"}
    )
    return decisions.refused(
        d,
        f"{d.rule}.elements",
        "elements_limited",
        granted={"fr": "l'accès de votre profil à ces données est", "en": d.reason},
        elements=f" ({', '.join(d.elements)})",
        outside=outside_words,
    )


def _in_entry(exc: SantegardeError, i: int, body: Mapping[str, Any]) -> None:
    """Say which entry of a transaction the refusal is about, and that nothing of it was stored."""
    what = f"{body.get('resourceType')}/{body.get('id')}"
    if isinstance(exc, WordedError):
        where = {
            "fr": f"Entrée {i} de la transaction ({what}), rien n'a été enregistré : ",
            "en": f"Entry {i} of the transaction ({what}), nothing stored: ",
        }
        exc.sentences = {lang: where.get(lang, where["en"]) + said for lang, said in exc.sentences.items()}
        exc.args = (exc.sentences["fr"], *exc.args[1:])
    elif exc.args and isinstance(exc.args[0], str):
        exc.args = (f"Entry {i} of the transaction ({what}), nothing stored: {exc.args[0]}", *exc.args[1:])


def _validate(body: dict[str, Any]) -> None:
    """The resource must be valid FHIR R4 (fhir.resources' R4B models), its bound codes and French identifiers too."""
    from fhir.resources.R4B import get_fhir_model_class

    from santegarde.store import validation

    try:
        model = get_fhir_model_class(str(body["resourceType"])).model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or body["resourceType"]
        raise mapping.MappingError(
            f"This {body['resourceType']} is not valid FHIR R4: at {where}, {first['msg']}. Fix it and send it again.",
            ".".join(str(p) for p in first["loc"] if not isinstance(p, int)),
        ) from None
    validation.check(model, str(body["resourceType"]))
