"""The conformity report (COM-SEC-1, PRA-7, PHA-6): every security measure of the référentiel, its status, evidence.

Each measure of the référentiel as applied carries the status the organisation declared in its
configuration (``deviations.measures``) or "no status". Where santegarde can check a measure
itself, an automatic check gives evidence. Checks are one table (``CHECKS``): each says which measures
it evidences as a predicate on the measure's area, title and text — never a list of one référentiel's
codes, since the four texts number differently — and how its evidence is computed. What a check proves,
how, and every sentence of its evidence are French by default, English on request, in
``data/documents_text.yaml`` (``conformity``). A check never decrypts anything and never pretends: what
it cannot see is "not available".
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from santegarde.audit import review as trace_review
from santegarde.audit.tables import entry as audit_entry
from santegarde.audit.tables import review as trace_review_table
from santegarde.config import OrganisationConfig, is_justified
from santegarde.crypto import KeyFamily, KeystoreError
from santegarde.errors import SantegardeError
from santegarde.governance import doctext, gaps, ledgers, maintenance
from santegarde.governance.documents import render_html, write_document
from santegarde.governance.formality import Verdict, verdict
from santegarde.governance.gaps import Gap
from santegarde.governance.ledgers import LedgerSummary
from santegarde.governance.vocabulary import label
from santegarde.identity import grants as identity_grants
from santegarde.identity.clock import aware
from santegarde.identity.passwords import required_bits
from santegarde.identity.sessions import second_factor_required
from santegarde.identity.tables import review as authorisation_review
from santegarde.identity.tables import session as identity_session
from santegarde.identity.tables import user as identity_user
from santegarde.lifecycle import restore
from santegarde.referentials.model import Measure, Referential, Sensitivity
from santegarde.runtime import Organisation, identity_settings
from santegarde.store.inspection import archive_status, encryption_at_rest
from santegarde.store.retention import ANONYMISATION_METHOD

Outcome = Literal["passed", "failed", "not_available"]
STATUSES = ("implemented", "partial", "equivalent", "not_necessary", "not_implemented")
NO_STATUS = "no_status"
AUTHORISATION_REVIEW_INTERVAL = timedelta(days=365)
RESTORE_DRILL_INTERVAL = timedelta(days=365)
PUBLIC_AREA_MAX_IDLE_MINUTES = 5
AT_REST_FAMILIES = (KeyFamily.IDENTITY, KeyFamily.HEALTH, KeyFamily.GENETIC_LOCATION)
MAX_NAMES = 10
NONCE_AND_TAG = 12 + 16

Words = dict[str, Any]


class ConformityError(SantegardeError, ValueError):
    """The conformity report cannot be produced as asked."""


@dataclass(frozen=True)
class Evidence:
    """The result of one automatic check, when it was computed (``text`` in the report's language)."""

    check: str
    outcome: Outcome
    text: str
    computed_at: datetime


@dataclass(frozen=True)
class Check:
    """One automatic check: which measures it evidences (a predicate on the measure) and how it is computed.

    ``compute`` gets the evidence phrases of the report's language (``conformity.evidence`` of
    documents_text.yaml); what the check proves and how are ``conformity.checks.<id>`` (``wording``).
    """

    id: str
    evidences: Callable[[Measure], bool]
    compute: Callable[[Organisation, datetime, Words], tuple[Outcome, str]]

    def wording(self, lang: str) -> dict[str, str]:
        """Its name, what it proves and how it is computed, in ``lang``."""
        found: dict[str, str] = _words(lang)["checks"][self.id]
        return found


def _words(lang: str) -> Words:
    table: Words = doctext.words(lang)["conformity"]
    return table


@dataclass(frozen=True)
class MeasureLine:
    """One measure of the référentiel as the report shows it."""

    measure: Measure
    status: str
    justification: str
    justified: bool
    evidence: tuple[Evidence, ...]
    declared_evidence: str = ""  # what the organisation says shows the status (santegarde measure set --evidence)
    set_by: str = ""  # who recorded the status
    set_at: datetime | None = None  # when

    @property
    def contradicted(self) -> bool:
        """Declared implemented while an automatic check failed."""
        return self.status == "implemented" and any(e.outcome == "failed" for e in self.evidence)

    @property
    def needs_justification(self) -> bool:
        return self.status in ("partial", "equivalent", "not_necessary", "not_implemented") and not self.justified


@dataclass(frozen=True)
class ConformityReport:
    config: OrganisationConfig
    referential: Referential
    lines: tuple[MeasureLine, ...]
    evidence: tuple[Evidence, ...]
    unknown_codes: tuple[str, ...] = field(default=())
    gaps: tuple[Gap, ...] = field(default=())  # the measures with no status (governance.gaps)
    lang: str = "fr"
    ledgers: LedgerSummary | None = None  # consents and objections counted per purpose (governance.ledgers)
    formality: Verdict | None = None  # the formality the processing rests on, where the text asks one (AAC-1)

    def summary(self) -> dict[str, int]:
        """Counts per status, evidence outcome and problem."""
        counts: Counter[str] = Counter(line.status for line in self.lines)
        result = {status: counts.get(status, 0) for status in (*STATUSES, NO_STATUS)}
        result["measures"] = len(self.lines)
        result["with_evidence"] = sum(1 for line in self.lines if line.evidence)
        for outcome in ("passed", "failed", "not_available"):
            result[f"checks_{outcome}"] = sum(1 for e in self.evidence if e.outcome == outcome)
        result["contradicted"] = sum(1 for line in self.lines if line.contradicted)
        result["unjustified"] = sum(1 for line in self.lines if line.needs_justification)
        result["unknown_codes"] = len(self.unknown_codes)
        return result

    def problems(self) -> list[str]:
        """Sentences for what ``--strict`` refuses: no status, a contradicted status, a missing justification."""
        said = _words(self.lang)["problems"]
        missing = [
            said["no_status"].format(
                code=line.measure.code,
                name=doctext.measure_title(line.measure, self.referential, self.lang),
                section=line.measure.section,
            )
            for line in self.lines
            if line.status == NO_STATUS
        ]
        return missing + self.corrections()

    def corrections(self) -> list[str]:
        """The problems other than a missing status: contradicted, unjustified, unknown codes."""
        t = _words(self.lang)
        said, names = t["problems"], t["checks"]
        found: list[str] = []
        for line in self.lines:
            m = line.measure
            if line.contradicted:
                failed = ", ".join(names[e.check]["name"] for e in line.evidence if e.outcome == "failed")
                found.append(said["contradicted"].format(code=m.code, checks=failed))
            if line.needs_justification:
                found.append(said["unjustified"].format(code=m.code, status=t["statuses"][line.status]))
        found.extend(said["unknown"].format(code=code, rid=self.referential.id) for code in self.unknown_codes)
        return found


# -- predicates on measures ------------------------------------------------------------------------


def _matches(measure: Measure, pattern: str, *, areas: Iterable[str] | None = None) -> bool:
    if areas is not None and measure.area not in set(areas):
        return False
    return re.search(pattern, f"{measure.title} {measure.text}", re.IGNORECASE) is not None


def _is_two_factor(m: Measure) -> bool:
    pattern = (
        r"two[- ]factor|two distinct factors|multi-factor|strong authentication|authentification forte|deux facteurs"
    )
    return _matches(m, pattern, areas={"authentication"})


def _is_session_lock(m: Measure) -> bool:
    pattern = r"session lock|session locking|locking of the (computer )?session|verrouillage automatique"
    return _matches(m, pattern, areas={"workstation"})


def _is_encryption_at_rest(m: Measure) -> bool:
    if _matches(m, r"storage media|supports? de stockage|mobile|before sending|avant (leur )?envoi|e-mail|messagerie"):
        return False
    pattern = r"at rest|stored data|données stockées|encrypted separately|specific key|different keys"
    return _matches(m, pattern, areas={"encryption", "cryptography"})


def _is_logging(m: Measure) -> bool:
    if _matches(m, r"\binform(?!ation)|informer|retention|kept for|conserv|check|control|contrôle"):
        return False
    return _matches(m, r"\blog|journalis|logged", areas={"logging"})


def _is_archiving(m: Measure) -> bool:
    return _matches(m, r"archiv", areas={"archiving"})


def _is_trace_review(m: Measure) -> bool:
    pattern = r"check(ed)? the traces|traces must be checked|control of (the )?traces|contrôle des traces|anomal"
    return _matches(m, pattern, areas={"logging"})


def _is_authorisation_review(m: Measure) -> bool:
    return _matches(m, r"review|revue", areas={"authorisation"})


def _is_obsolete_permissions(m: Measure) -> bool:
    pattern = r"obsolete|obsolètes|withdrawn|withdrawal|retir"
    return _matches(m, pattern, areas={"authorisation"})


def _is_maintenance_logbook(m: Measure) -> bool:
    pattern = r"logbook|daybook|main courante|supervis|encadr"
    return _matches(m, pattern, areas={"maintenance"})


def _is_password_policy(m: Measure) -> bool:
    pattern = r"password policy|politique de mots de passe|CNIL (password )?recommendation|password recommendation"
    return _matches(m, pattern, areas={"authentication"})


def _is_restore_test(m: Measure) -> bool:
    """Measures asking that restoring be tested, or that backups / continuity be planned and tested."""
    if _matches(m, r"mobile|nomade|ordiphone|smartphone|tablet|media|supports?"):
        return False
    pattern = r"restor|\btest|continuity|continuité"
    return _matches(m, pattern, areas={"backup"})


def _is_backup(m: Measure) -> bool:
    if _matches(m, r"mobile|nomade|ordiphone|smartphone|tablet"):
        return False
    pattern = r"regular|frequent|scheduled|encrypted|régulières|separate site|restor"
    return _matches(m, pattern, areas={"backup"})


# -- the checks ------------------------------------------------------------------------------------


def _names(items: Iterable[str], t: Words) -> str:
    listed = sorted(items)
    shown = ", ".join(listed[:MAX_NAMES])
    if len(listed) <= MAX_NAMES:
        return shown
    return str(t["and_more"].format(names=shown, n=len(listed) - MAX_NAMES))


def _date(at: datetime, t: Words) -> str:
    return at.strftime(str(t["date"]))


def _two_factor(org: Organisation, now: datetime, t: Words) -> tuple[Outcome, str]:
    ref = org.referential
    if not second_factor_required(ref, Sensitivity.SPECIAL):
        return "failed", t["two_factor_off"].format(rid=ref.id)
    everyone = second_factor_required(ref, None)
    health_profiles = {a.id for a in ref.accessors if everyone or a.health_data}
    with org.engine.connect() as conn:
        holders = {
            g.login for g in identity_grants.all_grants_in(conn) if g.active(now) and g.profile in health_profiles
        }
        rows = conn.execute(select(identity_user.c.login, identity_user.c.totp_secret, identity_user.c.status)).all()
        psc = set(
            conn.execute(
                select(identity_user.c.login)
                .join(identity_session, identity_session.c.user_id == identity_user.c.id)
                .where(identity_session.c.method == "psc")
            ).scalars()
        )
    active = {r.login for r in rows if r.status == "active"}
    holders &= active
    totp = {r.login for r in rows if r.totp_secret is not None and r.login in active}
    missing = holders - totp - psc
    text = t["two_factor"].format(
        scope=t["two_factor_scope_all" if everyone else "two_factor_scope_health"],
        rid=ref.id,
        holders=len(holders),
        totp=len(holders & totp),
        psc=len((holders - totp) & psc),
        all_totp=len(totp),
    )
    if missing:
        return "failed", text + t["two_factor_missing"].format(names=_names(missing, t))
    return "passed", text


def _session_lock(org: Organisation, now: datetime, t: Words) -> tuple[Outcome, str]:
    limits = org.config.access.idle_minutes
    public = limits.get("public_area")
    others = ", ".join(
        t["minutes"].format(name=t["workstations"].get(name, name.replace("_", " ")), minutes=minutes)
        for name, minutes in sorted(limits.items())
        if name != "public_area"
    )
    if public is None:
        return "failed", t["session_lock_missing"]
    text = t["session_lock"].format(minutes=public, max=PUBLIC_AREA_MAX_IDLE_MINUTES)
    text += t["session_lock_others"].format(others=others) if others else "."
    return ("passed" if public <= PUBLIC_AREA_MAX_IDLE_MINUTES else "failed"), text


def _family(family: KeyFamily, t: Words) -> str:
    return str(t["families"].get(family.value, family.value.replace("_", " ")))


def _encryption_at_rest(org: Organisation, now: datetime, t: Words) -> tuple[Outcome, str]:
    missing: list[str] = []
    versions: list[str] = []
    for family in AT_REST_FAMILIES:
        try:
            versions.append(f"{_family(family, t)} v{org.keyring.current_version(family)}")
        except KeystoreError:
            missing.append(_family(family, t))
    if missing:
        return "failed", t["no_data_key"].format(families=", ".join(missing))
    status = encryption_at_rest(org.engine)
    if not status.store_present:
        return "failed", t["no_record_store"]
    text = t["encryption"].format(versions=", ".join(versions), total=status.parts)
    if status.not_encrypted:
        return "failed", text + t["encryption_clear"].format(clear=status.not_encrypted)
    return "passed", text + t["encryption_ok"]


def _audit_intact(org: Organisation, now: datetime, t: Words) -> tuple[Outcome, str]:
    result = org.audit.verify()
    if result.intact:
        return "passed", t["audit_ok"].format(entries=result.entries, checkpoints=result.checkpoints)
    return "failed", t["audit_broken"].format(problems=len(result.problems), entries=result.entries)


def _trace_review(org: Organisation, now: datetime, t: Words) -> tuple[Outcome, str]:
    """The last review of the traces (``santegarde audit review``), due at least every two months."""
    with org.audit.engine.connect() as conn:
        overdue = trace_review.overdue_warning(conn, clock=lambda: now) is not None
        last = conn.execute(select(func.max(trace_review_table.c.started_at))).scalar()
    if last is None:
        return "failed", t["trace_review_never"]
    started = aware(last)
    if overdue:
        return "failed", t["trace_review_late"].format(date=_date(started, t))
    return "passed", t["trace_review_ok"].format(date=_date(started, t))


def _authorisation_review(org: Organisation, now: datetime, t: Words) -> tuple[Outcome, str]:
    with org.engine.connect() as conn:
        last = conn.execute(select(func.max(authorisation_review.c.closed_at))).scalar()
    if last is None:
        return "failed", t["authorisation_review_never"]
    closed = aware(last)
    if now - closed > AUTHORISATION_REVIEW_INTERVAL:
        return "failed", t["authorisation_review_late"].format(date=_date(closed, t))
    return "passed", t["authorisation_review_ok"].format(date=_date(closed, t))


def _obsolete_permissions(org: Organisation, now: datetime, t: Words) -> tuple[Outcome, str]:
    with org.engine.connect() as conn:
        all_grants = identity_grants.all_grants_in(conn)
        status = dict(conn.execute(select(identity_user.c.login, identity_user.c.status)).tuples().all())
        open_sessions = conn.execute(
            select(identity_session.c.grant_id, identity_session.c.expires_at).where(
                identity_session.c.ended_at.is_(None), identity_session.c.grant_id.is_not(None)
            )
        ).all()
    by_id = {g.id: g for g in all_grants}
    on_disabled = {g.login for g in all_grants if g.active(now) and status.get(g.login) != "active"}
    ended = [g for g in all_grants if g.revoked_at is None and g.ends_at is not None and g.ends_at <= now]
    stale = [
        s
        for s in open_sessions
        if aware(s.expires_at) > now and s.grant_id in by_id and not by_id[s.grant_id].active(now)
    ]
    text = t["grants"].format(
        active=sum(1 for g in all_grants if g.active(now)), total=len(all_grants), ended=len(ended)
    )
    problems: list[str] = []
    if on_disabled:
        problems.append(t["grants_on_disabled"].format(names=_names(on_disabled, t)))
    if stale:
        problems.append(t["grants_stale"].format(n=len(stale)))
    if problems:
        joined = t["semicolon"].join(problems)
        return "failed", f"{text} {joined[:1].upper()}{joined[1:]}."
    return "passed", text + t["grants_ok"]


def _maintenance_logbook(org: Organisation, now: datetime, t: Words) -> tuple[Outcome, str]:
    entries = maintenance.entries(org.engine)
    if not entries:
        return "not_available", t["logbook_empty"]
    return "passed", t["logbook"].format(n=len(entries), date=_date(aware(entries[-1].at), t))


def _password_policy(org: Organisation, now: datetime, t: Words) -> tuple[Outcome, str]:
    settings = identity_settings(org.config)
    params = settings.hash_params
    with org.engine.connect() as conn:
        hashes = [h for h in conn.execute(select(identity_user.c.password_hash)).scalars() if h]
    other = sum(1 for h in hashes if not h.startswith("$argon2id$"))
    text = t["passwords"].format(
        bits=required_bits(settings.attempts_limited),
        mode=t["passwords_throttled" if settings.attempts_limited else "passwords_alone"],
        t=params.time_cost,
        m=params.memory_cost_kib,
        p=params.parallelism,
        n=len(hashes),
    )
    if other:
        return "failed", text + t["passwords_other"].format(n=other)
    return "passed", text + t["passwords_ok"]


def _last_audited(org: Organisation, operation: str) -> dict[str, Any] | None:
    """The last audit entry of an operation (its content: references only)."""
    last: dict[str, Any] | None = None
    with org.audit.engine.connect() as conn:
        for content in conn.execute(select(audit_entry.c.content).order_by(audit_entry.c.seq)).scalars():
            event = json.loads(content)
            if event.get("operation") == operation:
                last = event
    return last


def _backups(org: Organisation, now: datetime, t: Words) -> tuple[Outcome, str]:
    """The last backup verification recorded in the audit trail (santegarde backup verify)."""
    last = _last_audited(org, "backup.verify")
    if last is None:
        return "not_available", t["backup_none"]
    at = datetime.fromisoformat(str(last["at"]))
    when = at.strftime(str(t["datetime"]))
    backup = last.get("resource_id")
    if last.get("outcome") != "success":
        return "failed", t["backup_failed"].format(backup=backup, when=when)
    if now - at > timedelta(days=7):
        return "failed", t["backup_old"].format(backup=backup, when=when)
    return "passed", t["backup_ok"].format(backup=backup, when=when)


def _restore_drill(org: Organisation, now: datetime, t: Words) -> tuple[Outcome, str]:
    """The last restore drill (santegarde backup drill): its date, backup, author, duration, results."""
    last = _last_audited(org, restore.DRILL_OPERATION)
    if last is None:
        return "not_available", t["drill_none"]
    at = datetime.fromisoformat(str(last["at"]))
    when = t["drill_when"].format(date=_date(at, t), time=f"{at:%H:%M}")
    backup, by = last.get("resource_id"), last.get("actor")
    if last.get("outcome") != "success":
        return "failed", t["drill_failed"].format(when=when, by=by, backup=backup)
    text = t["drill"].format(when=when, by=by, backup=backup)
    directory = org.config.backup_directory
    found = restore.last_drill(Path(directory), str(backup)) if directory else None
    if found:
        seconds = f"{float(str(found.get('duration_seconds', 0))):.1f}"
        text += t["drill_details"].format(
            seconds=seconds.replace(".", ",") if t["decimal_comma"] else seconds,
            tables=found.get("tables"),
            rows=found.get("rows"),
            entries=found.get("audit_entries"),
            records=found.get("sampled_records"),
        )
    else:
        text += t["drill_short"]
    if now - at > RESTORE_DRILL_INTERVAL:
        return "failed", text + t["drill_old"]
    return "passed", text


def _archiving(org: Organisation, now: datetime, t: Words) -> tuple[Outcome, str]:
    """The archive is a separate store under its own key, opened only with a justification; what it holds."""
    try:
        version = org.keyring.current_version(KeyFamily.ARCHIVE)
    except KeystoreError:
        return "failed", t["no_archive_key"]
    status = archive_status(org.engine)
    return "passed", t["archive"].format(
        version=version,
        versions=status.archived_versions,
        accesses=status.justified_accesses,
        counts=status.anonymised_counts,
        method=ANONYMISATION_METHOD,
    )


CHECKS: tuple[Check, ...] = (
    Check("archiving", _is_archiving, _archiving),
    Check("two_factor", _is_two_factor, _two_factor),
    Check("session_lock", _is_session_lock, _session_lock),
    Check("encryption_at_rest", _is_encryption_at_rest, _encryption_at_rest),
    Check("audit_intact", _is_logging, _audit_intact),
    Check("trace_review", _is_trace_review, _trace_review),
    Check("authorisation_review", _is_authorisation_review, _authorisation_review),
    Check("obsolete_permissions", _is_obsolete_permissions, _obsolete_permissions),
    Check("maintenance_logbook", _is_maintenance_logbook, _maintenance_logbook),
    Check("password_policy", _is_password_policy, _password_policy),
    Check("backups", _is_backup, _backups),
    Check("restore_drill", _is_restore_test, _restore_drill),
)


def checks_for(measure: Measure) -> list[Check]:
    """The checks that evidence a measure, by its area, title and text."""
    return [c for c in CHECKS if c.evidences(measure)]


def run_checks(
    org: Organisation, *, clock: Callable[[], datetime] | None = None, lang: str = "fr"
) -> dict[str, Evidence]:
    """Compute every check once against the opened organisation, its evidence in ``lang`` (French by default).

    A check that cannot run is 'not available'.
    """
    t = _words(lang)["evidence"]
    results: dict[str, Evidence] = {}
    for check in CHECKS:
        now = clock() if clock else datetime.now(UTC)
        try:
            outcome, text = check.compute(org, now, t)
        except SQLAlchemyError as exc:
            outcome, text = "not_available", t["not_computed"].format(error=type(exc).__name__)
        results[check.id] = Evidence(check.id, outcome, text, now)
    return results


def build_report(
    config: OrganisationConfig, ref: Referential, evidence: dict[str, Evidence] | None = None, lang: str = "fr"
) -> ConformityReport:
    """Every measure of the référentiel as applied, with its declared status and the evidence of its checks.

    ``lang`` is the language of the report's sentences; the evidence is computed in it (``run_checks``).
    """
    doctext.check_lang(lang)
    evidence = evidence or {}
    declared = {m.code: m for m in config.deviations.measures}
    lines = []
    for measure in ref.measures:
        status = declared.get(measure.code)
        found = tuple(evidence[c.id] for c in checks_for(measure) if c.id in evidence)
        lines.append(
            MeasureLine(
                measure=measure,
                status=status.status if status else NO_STATUS,
                justification=(status.justification.strip() if status else ""),
                justified=bool(status and is_justified(status.justification)),
                evidence=found,
                declared_evidence=(status.evidence or "").strip() if status else "",
                set_by=(status.set_by or "") if status else "",
                set_at=status.set_at if status else None,
            )
        )
    known = {m.code for m in ref.measures}
    unknown = tuple(sorted(code for code in declared if code not in known))
    used = tuple(e for e in evidence.values() if any(e in line.evidence for line in lines))
    found_gaps = tuple(gaps.gaps_for(config, ref, gaps.CONFORMITY))
    return ConformityReport(
        config, ref, tuple(lines), used, unknown, found_gaps, lang, formality=verdict(config, ref, lang)
    )


def conformity_report(
    org: Organisation, *, clock: Callable[[], datetime] | None = None, lang: str = "fr"
) -> ConformityReport:
    """The report for an opened organisation: its configuration, référentiel as applied, and computed evidence."""
    doctext.check_lang(lang)
    report = build_report(org.config, org.referential, run_checks(org, clock=clock, lang=lang), lang)
    at = clock() if clock is not None else datetime.now(UTC)
    return replace(report, ledgers=ledgers.from_database(org.engine, org.referential, at, lang))


# -- output ----------------------------------------------------------------------------------------


def _evidence_data(e: Evidence) -> dict[str, Any]:
    return {"check": e.check, "outcome": e.outcome, "evidence": e.text, "computed_at": e.computed_at.isoformat()}


def to_data(report: ConformityReport) -> dict[str, Any]:
    """The report as plain data (the JSON form), its sentences in the report's language."""
    ref, lang = report.referential, report.lang
    checks = {c.id: c.wording(lang) for c in CHECKS}
    return {
        "document": "conformity_report",
        "lang": lang,
        "organisation": report.config.organisation.name,
        "referential": {
            "id": ref.id,
            "title": label(ref, "referential", ref.id, lang),
            "deliberation": label(ref, "deliberation", ref.id, lang),
            "version": ref.version,
            "status": ref.status.value,
        },
        "generated_at": datetime.now(UTC).isoformat(),
        "summary": report.summary(),
        "formality": (
            {"kind": report.formality.code, "sentence": report.formality.sentence} if report.formality else None
        ),
        "problems": report.problems(),
        "ledgers": report.ledgers.as_data() if report.ledgers else None,
        "checks": [
            {
                **_evidence_data(e),
                "name": checks[e.check]["name"],
                "proves": checks[e.check]["proves"],
                "how": checks[e.check]["how"],
            }
            for e in report.evidence
        ],
        "measures": [
            {
                "code": line.measure.code,
                "title": doctext.measure_title(line.measure, ref, lang),
                "theme": doctext.security_area(line.measure.area, lang)["title"],
                "section": line.measure.section,
                "area": line.measure.area,
                "audience": line.measure.audience.value,
                "mandatory": line.measure.mandatory,
                "status": line.status,
                "justification": line.justification or None,
                "justification_missing": line.needs_justification,
                "declared_evidence": line.declared_evidence or None,
                "set_by": line.set_by or None,
                "set_at": line.set_at.isoformat() if line.set_at else None,
                "evidence": [_evidence_data(e) for e in line.evidence],
                "contradicted": line.contradicted,
                "checklist": checklist(ref, line.measure, lang),
            }
            for line in report.lines
        ],
        "unknown_codes": list(report.unknown_codes),
    }


def checklist(ref: Referential, measure: Measure, lang: str) -> list[str]:
    """The conditions of a measure checked by hand, as boxes to tick in the report (AAC-SEC-ÉCH-3: the fax)."""
    found: dict[str, list[str]] = _words(lang)["checklists"]
    return list(found.get(f"{ref.id} {measure.code}", []))


def render(report: ConformityReport) -> str:
    """The report as an HTML document, in the report's language."""
    ref, lang = report.referential, report.lang
    t = _words(lang)
    deliberation = label(ref, "deliberation", ref.id, lang)
    return render_html(
        "conformity.html.j2",
        title=f"{t['title']} — {report.config.organisation.name}",
        organisation_name=report.config.organisation.name,
        lang=lang,
        t=t,
        colon=doctext.words(lang)["colon"],
        report=report,
        ref=ref,
        ref_title=label(ref, "referential", ref.id, lang),
        deliberation=deliberation,
        summary=report.summary(),
        corrections=report.corrections(),
        checks={c.id: c.wording(lang) for c in CHECKS},
        measures={
            line.measure.code: {
                "name": doctext.measure_title(line.measure, ref, lang),
                "text": doctext.measure_text(line.measure, ref, lang),
                "checklist": checklist(ref, line.measure, lang),
            }
            for line in report.lines
        },
        footer=t["footer"].format(rid=ref.id, deliberation=deliberation, version=ref.version),
    )


def write(report: ConformityReport, path: Path) -> Path:
    """Write the report as .html, .pdf or .json."""
    fmt = path.suffix.lstrip(".").lower()
    if fmt == "json":
        return write_document(path, data=to_data(report))
    return write_document(path, html=render(report))
