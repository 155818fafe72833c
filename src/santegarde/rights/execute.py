"""Executing data-subject requests through the one record path, and the answer letter (COM-RGT-1, COM-QUAL-1).

Every execution uses the handling professional's session on ``RecordService`` (identity → policy →
store → audit). Whether a right applies is decided by ``policy.rights.right_applies`` for each
purpose the patient's records were written under (the organisation's chosen legal basis, or the
référentiel's single one); every refusal names the rule and the section. Under aac-2022-106 a
related person's request is refused without revealing anything (AAC-11).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from santegarde.audit.trail import AuditTrail
from santegarde.config.check import basis_choice
from santegarde.config.model import OrganisationConfig
from santegarde.errors import WordedError
from santegarde.faults import crash_point
from santegarde.governance import refusals, rights_text, vocabulary
from santegarde.governance.documents import html_to_pdf, render_html
from santegarde.identity.clock import aware
from santegarde.lifecycle.backup import forget_patient_keys
from santegarde.policy.rights import RightDecision, right_applies
from santegarde.referentials.model import Art6Basis, Right
from santegarde.rights.requests import (
    Requester,
    RightsError,
    RightsRegister,
    RightsRequest,
    Status,
    day,
    status_words,
)
from santegarde.rights.tables import rights_freeze
from santegarde.store import inspection, mapping, objections
from santegarde.store.service import AccessDenied, NotFound, RecordService, Request
from santegarde.store.writeahead import INTENT

REQUESTER_FR = {
    Requester.PERSON: "la personne concernée",
    Requester.LEGAL_REPRESENTATIVE: "son représentant légal",
    Requester.RELATED_PERSON: "un proche",
}
COMPASSIONATE = "aac-"
WAREHOUSE = "eds-"


class PatientUnknown(WordedError, NotFound):
    """The patient of a request has no record in the store."""


@dataclass(frozen=True)
class Outcome:
    """What an execution did: the request as answered, and what goes to the person (bundle, summary)."""

    request: RightsRequest
    executed: bool
    message: str
    bundle: dict[str, Any] | None = None
    summary_html: str | None = None
    affected: tuple[str, ...] = ()


class RightsService:
    """The rights desk: register, identity check, deadlines, execution through RecordService, letters."""

    def __init__(
        self,
        records: RecordService,
        *,
        config: OrganisationConfig | None = None,
        bases: Mapping[str, Art6Basis] | None = None,
        organisation: str = "",
        clock: Callable[[], datetime] | None = None,
        audit: AuditTrail | None = None,
    ) -> None:
        self.records = records
        self.ref = records.ref
        self.config = config
        self.bases = dict(bases or {})
        self.organisation = organisation or (config.organisation.name if config else "")
        self.register = RightsRegister(records.engine, records.ref, records.identity, audit or records.audit, clock)

    # -- the register, delegated ----------------------------------------------------------------------

    def receive(
        self, req: Request, right: Right | str, patient_id: str, requester: Requester | str, **details: Any
    ) -> RightsRequest:
        """Register a request (see ``RightsRegister.register`` for the details accepted)."""
        return self.register.register(req, right, patient_id, requester, **details)

    def get(self, request_id: int) -> RightsRequest:
        return self.register.get(request_id)

    # -- decisions ------------------------------------------------------------------------------------

    def basis(self, purpose: str) -> Art6Basis | None:
        """The organisation's chosen legal basis for a purpose (None: the référentiel's single basis)."""
        if purpose in self.bases:
            return self.bases[purpose]
        return basis_choice(self.config, self.ref, purpose) if self.config is not None else None

    def decide(self, right: Right, purpose: str) -> RightDecision:
        return right_applies(self.ref, purpose, right, self.basis(purpose))

    def purpose_name(self, purpose: str) -> str:
        """The purpose as the person reads it, in French."""
        return vocabulary.label(self.ref, "purpose", purpose)

    def _record_purposes(self, patient_id: str, *, current_only: bool) -> dict[str, str]:
        return inspection.record_purposes(self.records.engine, patient_id, current_only=current_only)

    # -- execution ------------------------------------------------------------------------------------

    def execute(self, req: Request, request_id: int, *, corrected: dict[str, Any] | None = None) -> Outcome:
        """Execute (or refuse, with rule and section) a request whose identity check is recorded."""
        ctx = self.register.who(req)
        request = self.register.get(request_id)
        if request.status not in (Status.IDENTITY_CHECKED, Status.EXTENDED) or not request.identity_check:
            if request.status in (Status.EXECUTED, Status.REFUSED):
                raise RightsError("already_answered", id=request_id, status=status_words(request.status))
            self.register.trace(
                ctx, req, "rights.execute", request, allowed=False, rule="COM-RGT-1.identity", outcome="denied"
            )
            raise RightsError("identity_unchecked", id=request_id)
        if request.requester is Requester.RELATED_PERSON and self.ref.id.startswith(COMPASSIONATE):
            section = self.decide(Right.ACCESS, self._any_purpose()).section
            return self._refuse(
                ctx.login,
                req,
                request,
                "AAC-11",
                section,
                f"La demande d'un proche ne peut pas recevoir de réponse : y répondre révélerait des informations "
                f"couvertes par le secret médical sur le patient ({self.ref.id}, §{section}). Le patient peut exercer "
                "ce droit lui-même, auprès du professionnel de santé qui le suit ou directement auprès du "
                "responsable du traitement.",
            )
        handler = {
            Right.ACCESS: self._access,
            Right.RECTIFICATION: self._rectification,
            Right.ERASURE: self._erasure,
            Right.RESTRICTION: self._restriction,
            Right.OBJECTION: self._objection,
            Right.PORTABILITY: self._portability,
        }[request.right]
        return handler(ctx.login, req, request, corrected)

    def _any_purpose(self) -> str:
        return next(p.id for p in self.ref.purposes if not (p.forbidden or p.out_of_scope))

    def _check_all(self, login: str, req: Request, request: RightsRequest, *, current_only: bool) -> Outcome | None:
        """A refusal when the right does not apply to one of the purposes of the patient's records."""
        purposes = sorted(set(self._record_purposes(request.patient_id, current_only=current_only).values()))
        if not purposes:
            raise PatientUnknown(refusals.sentences("rights", "no_patient", patient=request.patient_id))
        for purpose in purposes:
            decision = self.decide(request.right, purpose)
            if not decision.applies:
                return self._refuse_decision(login, req, request, decision)
        return None

    def _access(self, login: str, req: Request, request: RightsRequest, _: Any) -> Outcome:
        refused = self._check_all(login, req, request, current_only=True)
        if refused is not None:
            return refused
        resources = self.records.patient_records(req, request.patient_id)
        bundle = collection(resources, self.register.now())
        consent_lines, objection_lines = self._ledger_lines(req, request.patient_id)
        summary = render_html(
            "rights_access.html.j2",
            title="Copie de vos données",
            organisation_name=self.organisation,
            referential=self.ref.id,
            patient_id=request.patient_id,
            resources=[
                (rights_text.resource_name(r["resourceType"]), r["id"], r.get("meta", {}), _lines(r)) for r in resources
            ],
            consents=consent_lines,
            objections=objection_lines,
            footer=f"Demande n° {request.id}.",
        )
        message = (
            f"Une copie complète de vos données ({len(resources)} enregistrement(s)) vous est remise sous une forme "
            "lisible (résumé) et sous une forme structurée lisible par machine (FHIR R4, JSON)."
        )
        answered = self._done(
            login, req, request, message, "GDPR art. 15", self.decide(Right.ACCESS, self._any_purpose()).section
        )
        return Outcome(
            answered, True, message, bundle, summary, tuple(f"{r['resourceType']}/{r['id']}" for r in resources)
        )

    def _ledger_lines(self, req: Request, patient_id: str) -> tuple[list[str], list[str]]:
        """The person's consents and objections, in French, read through the path (each reading traced); a ledger
        the handling profile may not read is left out (the refusal is traced)."""
        day = "%d/%m/%Y"
        consents: list[str] = []
        try:
            entries = self.records.consent_ledger(req, patient_id)
        except AccessDenied:
            entries = []
        for e in reversed(entries):
            until = f"jusqu'au {e.end:{day}}" if e.end else "sans date de fin"
            line = (
                f"Consentement n° {e.consent_id} : « {vocabulary.label(self.ref, 'category', e.category)} » pour la "
                f"finalité « {self.purpose_name(e.purpose)} », à compter du {e.start:{day}}, {until}"
            )
            consents.append(line + (f" ; retiré le {e.withdrawn_at:{day}}." if e.withdrawn_at else "."))
        objected: list[str] = []
        try:
            found = self.records.objections_of(req, patient_id)
        except AccessDenied:
            found = []
        for o in found:
            line = (
                f"Opposition n° {o.number} au traitement de vos données pour la finalité "
                f"« {self.purpose_name(o.purpose)} », enregistrée le {o.recorded_at:{day}}"
            )
            if o.lifted_at is None:
                line += " : en vigueur."
            elif o.lift_kind == "compelling_grounds":
                line += f" : écartée le {o.lifted_at:{day}} pour des motifs légitimes et impérieux."
            else:
                line += f" : levée à votre demande le {o.lifted_at:{day}}."
            objected.append(line)
        return consents, objected

    def _rectification(self, login: str, req: Request, request: RightsRequest, corrected: Any) -> Outcome:
        if not isinstance(corrected, dict) or not corrected.get("resourceType") or not corrected.get("id"):
            raise RightsError("corrected_missing")
        if mapping.patient_of(corrected) != request.patient_id:
            resource = f"{corrected['resourceType']}/{corrected['id']}"
            raise RightsError("corrected_other_patient", resource=resource, patient=request.patient_id)
        refused = self._check_all(login, req, request, current_only=True)
        if refused is not None:
            return refused
        updated = self.records.update(req, str(corrected["resourceType"]), str(corrected["id"]), corrected)
        ref = f"{updated['resourceType']}/{updated['id']}"
        message = (
            f"Vos données ont été rectifiées ({ref}, version {updated['meta']['versionId']}) ; la version "
            "précédente est conservée dans l'historique du dossier."
        )
        answered = self._done(
            login, req, request, message, "GDPR art. 16", self.decide(Right.RECTIFICATION, self._any_purpose()).section
        )
        return Outcome(answered, True, message, affected=(ref,))

    def _erasure(self, login: str, req: Request, request: RightsRequest, _: Any) -> Outcome:
        try:
            refused = self._check_all(login, req, request, current_only=False)
        except NotFound:
            # Erased by an execution killed before it answered: the trail holds the erasure's write-ahead
            # entries; finish the procedure (key escrow, answer) instead of refusing a done erasure.
            erased_records = self._erased_in_trail(request.patient_id)
            if not erased_records:
                raise
            return self._erased(login, req, request, f"{erased_records} enregistrement(s)")
        if refused is not None:
            return refused
        kept = self._permanently_frozen(request.patient_id)
        if kept:
            purpose = self._record_purposes(request.patient_id, current_only=False)[kept[0]]
            decision = self.decide(Right.ERASURE, purpose)
            return self._refuse(
                login,
                req,
                request,
                "GDPR art. 17.3 b",
                decision.section,
                "Vos données figurent dans un registre tenu en application d'une obligation légale "
                f"(« {self.purpose_name(purpose)} ») : elles ne peuvent pas être effacées (art. 17.3 b du RGPD).",
            )
        erased = self.records.erase_patient(req, request.patient_id, f"erasure requested, rights request {request.id}")
        return self._erased(login, req, request, f"{erased} version(s) d'enregistrement")

    def _erased(self, login: str, req: Request, request: RightsRequest, what: str) -> Outcome:
        """The end of an erasure once the records are gone: forget the escrowed keys, answer (idempotent)."""
        crash_point("rights.erased")
        if self.config is not None and self.config.backup_directory:
            # The only other copy of the patient's keys is the backups' key escrow: forget it there too.
            forget_patient_keys(Path(self.config.backup_directory), request.patient_id)
        message = (
            f"Vos données ont été effacées ({what}) : les clés qui les chiffraient ont "
            "été détruites, ce qui les rend illisibles y compris dans les sauvegardes."
        )
        answered = self._done(
            login, req, request, message, "GDPR art. 17", self.decide(Right.ERASURE, self._any_purpose()).section
        )
        return Outcome(answered, True, message)

    def _erased_in_trail(self, patient_id: str) -> int:
        """How many records of the patient an erasure announced in the trail (its write-ahead entries)."""
        trail = self.records.audit
        with trail.engine.connect() as conn:
            return len(
                {
                    (e.content.get("resource_type"), e.content.get("resource_id"))
                    for e in trail.entries(conn)
                    if e.content.get("operation") == "erase"
                    and e.content.get("outcome") == INTENT
                    and e.content.get("patient") == patient_id
                }
            )

    def _permanently_frozen(self, patient_id: str) -> list[str]:
        return inspection.permanently_frozen(self.records.engine, patient_id)

    def _restriction(self, login: str, req: Request, request: RightsRequest, _: Any) -> Outcome:
        refused = self._check_all(login, req, request, current_only=True)
        if refused is not None:
            return refused
        purposes = self._record_purposes(request.patient_id, current_only=True)
        reason = f"restriction, rights request {request.id}: {request.grounds or 'accuracy disputed'}"[:300]
        frozen: list[str] = []
        for resource in self.records.patient_records(req, request.patient_id):
            rtype, rid = str(resource["resourceType"]), str(resource["id"])
            if any(t.get("code") == mapping.FROZEN_TAG.get("code") for t in resource.get("meta", {}).get("tag", [])):
                continue  # already frozen (e.g. a validated register entry): stays as it is
            self.records.freeze(Request(req.token, purposes[rid], req.source), rtype, rid, reason)
            with self.records.engine.begin() as conn:
                conn.execute(insert(rights_freeze).values(request_id=request.id, resource_type=rtype, record_id=rid))
            frozen.append(f"{rtype}/{rid}")
        message = (
            f"Le traitement de vos données est limité le temps des vérifications ({len(frozen)} enregistrement(s) "
            "gelé(s)) : elles sont conservées mais ne peuvent plus être modifiées tant que la limitation n'est pas "
            "levée ; vous serez informé(e) avant sa levée."
        )
        answered = self._done(
            login, req, request, message, "COM-QUAL-1", self.decide(Right.RESTRICTION, self._any_purpose()).section
        )
        return Outcome(answered, True, message, affected=tuple(frozen))

    def lift_restriction(self, req: Request, request_id: int) -> RightsRequest:
        """End a restriction: unfreeze the records it froze (and only those); traced."""
        ctx = self.register.who(req)
        request = self.register.get(request_id)
        if request.right is not Right.RESTRICTION or request.status is not Status.EXECUTED:
            raise RightsError("not_restriction", id=request_id)
        if request.lifted_at is not None:
            raise RightsError("already_lifted", id=request_id, date=day(request.lifted_at))
        purposes = self._record_purposes(request.patient_id, current_only=True)
        with self.records.engine.connect() as conn:
            rows = conn.execute(select(rights_freeze).where(rights_freeze.c.request_id == request_id)).all()
        for row in rows:
            if row.record_id in purposes:
                self.records.unfreeze(
                    Request(req.token, purposes[row.record_id], req.source), row.resource_type, row.record_id
                )
        lifted = self.register.mark_lifted(request_id)
        self.register.trace(ctx, req, "rights.restriction.lift", lifted, rule="COM-QUAL-1")
        return lifted

    def _objection(self, login: str, req: Request, request: RightsRequest, _: Any) -> Outcome:
        purpose = str(request.purpose)
        decision = self.decide(Right.OBJECTION, purpose)
        if not decision.applies:
            return self._refuse_decision(login, req, request, decision)
        warehouse = self.ref.id.startswith(WAREHOUSE)
        with self.records.engine.begin() as conn:  # the path's objection ledger: every later request obeys it
            objections.oppose(
                conn, request.patient_id, purpose, self.register.now(), f"{login} (request {request.id})"[:64],
                objections.PATIENT,
            )  # fmt: skip
        message = (
            f"Votre opposition au traitement de vos données pour la finalité « {self.purpose_name(purpose)} » "
            "est enregistrée"
        )
        message += (
            " : elle est respectée durablement, y compris lors des alimentations futures de l'entrepôt."
            if warehouse
            else "."
        )
        answered = self._done(login, req, request, message, decision.source, decision.section)
        return Outcome(answered, True, message)

    def objections(self, patient_id: str) -> list[str]:
        """The purposes the patient's objection to is in force (for the warehouse: every later feed skips them)."""
        with self.records.engine.connect() as conn:
            return sorted({o.purpose for o in objections.of_patient(conn, patient_id) if o.lifted_at is None})

    def _portability(self, login: str, req: Request, request: RightsRequest, _: Any) -> Outcome:
        purpose = str(request.purpose)
        decision = self.decide(Right.PORTABILITY, purpose)
        if not decision.applies:
            return self._refuse_decision(login, req, request, decision)
        ids = {rid for rid, p in self._record_purposes(request.patient_id, current_only=True).items() if p == purpose}
        resources = [r for r in self.records.patient_records(req, request.patient_id) if r["id"] in ids]
        bundle = collection(resources, self.register.now())
        message = (
            f"Les données que vous avez fournies pour la finalité « {self.purpose_name(purpose)} » "
            f"({len(resources)} enregistrement(s)) "
            "vous sont remises dans un format structuré, couramment utilisé et lisible par machine (FHIR R4, JSON)."
        )
        answered = self._done(login, req, request, message, decision.source, decision.section)
        return Outcome(
            answered, True, message, bundle, affected=tuple(f"{r['resourceType']}/{r['id']}" for r in resources)
        )

    # -- answers --------------------------------------------------------------------------------------

    def _done(
        self, login: str, req: Request, request: RightsRequest, message: str, rule: str, section: str
    ) -> RightsRequest:
        answered = self.register.answer(request.id, Status.EXECUTED, message, login, rule=rule, section=section)
        ctx = self.register.who(req)
        self.register.trace(ctx, req, f"rights.{request.right}", answered, rule=rule, section=section)
        return answered

    def _refuse_decision(self, login: str, req: Request, request: RightsRequest, decision: RightDecision) -> Outcome:
        message = (
            f"Le {_right_fr(request.right)} ne s'applique pas au traitement « {self.purpose_name(decision.purpose)} » "
            f"({rights_text.article(decision)}) : {rights_text.reason(decision)}."
        )
        rule = f"{decision.referential} rights.{decision.right}.{decision.purpose} ({decision.source})"
        return self._refuse(login, req, request, rule, decision.section, message)

    def _refuse(
        self, login: str, req: Request, request: RightsRequest, rule: str, section: str, message: str
    ) -> Outcome:
        answered = self.register.answer(request.id, Status.REFUSED, message, login, rule=rule, section=section)
        ctx = self.register.who(req)
        self.register.trace(
            ctx, req, f"rights.{request.right}", answered, allowed=False, rule=rule, section=section, outcome="denied"
        )
        return Outcome(answered, False, message)

    def letter(self, request_id: int, fmt: str = "html") -> str | bytes:
        """The answer letter, in French: what was done or why not, the deadline, the right to complain to the CNIL."""
        request = self.register.get(request_id)
        title = vocabulary.label(self.ref, "referential", self.ref.id)
        deliberation = vocabulary.label(self.ref, "deliberation", self.ref.id)
        html = render_html(
            "rights_letter.html.j2",
            title=f"Réponse à votre demande d'exercice du {_right_fr(request.right)}",
            organisation_name=self.organisation,
            referential_title=title,
            request=request,
            purpose_name=self.purpose_name(request.purpose) if request.purpose else None,
            right_fr=_right_fr(request.right),
            requester_fr=REQUESTER_FR[request.requester],
            footer=f"Demande n° {request.id} — {title} (délibération de la CNIL n° {deliberation}).",
        )
        if fmt == "pdf":
            return html_to_pdf(html)
        if fmt != "html":
            raise RightsError("letter_format", fmt=fmt)
        return html


def _right_fr(right: Right) -> str:
    """ "droit d'accès", as in "l'exercice du droit d'accès"."""
    name = rights_text.right_name(right)
    return name[0].lower() + name[1:]


def collection(resources: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """A FHIR Bundle of type collection."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": now.isoformat(),
        "entry": [
            {"fullUrl": f"urn:santegarde:{r['resourceType']}/{r['id']}", "resource": _instant(r)} for r in resources
        ],
    }


def _instant(resource: dict[str, Any]) -> dict[str, Any]:
    """meta.lastUpdated as a FHIR instant: SQLite gives back naive UTC datetimes, say so."""
    meta = resource.get("meta") or {}
    updated = meta.get("lastUpdated")
    if not isinstance(updated, str) or "+" in updated[10:] or updated.endswith("Z"):
        return resource
    return {**resource, "meta": {**meta, "lastUpdated": aware(datetime.fromisoformat(updated)).isoformat()}}


def _lines(resource: dict[str, Any], prefix: tuple[tuple[str, int | None], ...] = ()) -> list[tuple[str, str]]:
    """A resource flattened to (element in words, value) lines a person can read ("Nom › Prénom", "Camille")."""
    lines: list[tuple[str, str]] = []
    for key, value in resource.items():
        if key in ("resourceType", "id", "meta") and not prefix:
            continue
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            path = (*prefix, (key, i if isinstance(value, list) and len(value) > 1 else None))
            if isinstance(item, dict):
                lines.extend(_lines(item, path))
            else:
                shown = ("oui" if item else "non") if isinstance(item, bool) else str(item)
                lines.append((rights_text.element_path(list(path)), shown))
    return lines
