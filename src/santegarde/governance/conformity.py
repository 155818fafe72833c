"""The conformity report (COM-SEC-1, PRA-7, PHA-6): every security measure of the référentiel, its status, evidence.

Each measure of the référentiel as applied carries the status the organisation declared in its
configuration (``deviations.measures``) or "no status". Where santegarde can check a measure
itself, an automatic check gives evidence. Checks are one table (``CHECKS``): each says what it
proves, how it is computed, and which measures it evidences as a predicate on the measure's area,
title and text — never a list of one référentiel's codes, since the four texts number differently.
A check never decrypts anything and never pretends: what it cannot see is "not available".
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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
from santegarde.governance import gaps, maintenance
from santegarde.governance.documents import render_html, write_document
from santegarde.governance.gaps import Gap
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
STATUSES = ("implemented", "equivalent", "not_necessary", "not_implemented")
NO_STATUS = "no_status"
AUTHORISATION_REVIEW_INTERVAL = timedelta(days=365)
RESTORE_DRILL_INTERVAL = timedelta(days=365)
PUBLIC_AREA_MAX_IDLE_MINUTES = 5
AT_REST_FAMILIES = (KeyFamily.IDENTITY, KeyFamily.HEALTH, KeyFamily.GENETIC_LOCATION)
MAX_NAMES = 10
NONCE_AND_TAG = 12 + 16


class ConformityError(SantegardeError, ValueError):
    """The conformity report cannot be produced as asked."""


@dataclass(frozen=True)
class Evidence:
    """The result of one automatic check, when it was computed."""

    check: str
    outcome: Outcome
    text: str
    computed_at: datetime


@dataclass(frozen=True)
class Check:
    """One automatic check: what it proves, how, and which measures it evidences (a predicate on the measure)."""

    id: str
    proves: str
    how: str
    evidences: Callable[[Measure], bool]
    compute: Callable[[Organisation, datetime], tuple[Outcome, str]]


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
        return self.status in ("equivalent", "not_necessary", "not_implemented") and not self.justified


@dataclass(frozen=True)
class ConformityReport:
    config: OrganisationConfig
    referential: Referential
    lines: tuple[MeasureLine, ...]
    evidence: tuple[Evidence, ...]
    unknown_codes: tuple[str, ...] = field(default=())
    gaps: tuple[Gap, ...] = field(default=())  # the measures with no status (governance.gaps)

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
        return [gap.message for gap in self.gaps] + self.corrections()

    def corrections(self) -> list[str]:
        """The problems other than a missing status: contradicted, unjustified, unknown codes."""
        found: list[str] = []
        for line in self.lines:
            m = line.measure
            if line.contradicted:
                failed = ", ".join(e.check for e in line.evidence if e.outcome == "failed")
                found.append(f"Measure {m.code} is declared implemented but the automatic check {failed} failed.")
            if line.needs_justification:
                found.append(f"Measure {m.code} is {line.status.replace('_', ' ')} without a written justification.")
        found.extend(
            f"The configuration gives a status to '{code}', which is not a measure of {self.referential.id}."
            for code in self.unknown_codes
        )
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


def _names(items: Iterable[str]) -> str:
    listed = sorted(items)
    shown = ", ".join(listed[:MAX_NAMES])
    return shown + (f" and {len(listed) - MAX_NAMES} more" if len(listed) > MAX_NAMES else "")


def _two_factor(org: Organisation, now: datetime) -> tuple[Outcome, str]:
    ref = org.referential
    if not second_factor_required(ref, Sensitivity.SPECIAL):
        return "failed", f"santegarde's session gate does not require a second factor for health data under {ref.id}."
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
    scope = "every access" if everyone else "every access to a patient's record (identity included)"
    text = (
        f"The session gate requires two factors for {scope} (santegarde.identity.sessions.second_factor_required, "
        f"{ref.id}). {len(holders)} active account(s) hold a profile reaching health data; {len(holders & totp)} of "
        f"them have a TOTP second factor enrolled, {len((holders - totp) & psc)} sign in with Pro Santé Connect "
        f"(CPS/e-CPS card); {len(totp)} active account(s) in all have TOTP enrolled."
    )
    if missing:
        return "failed", text + f" Without a second factor: {_names(missing)} (the gate refuses them health data)."
    return "passed", text


def _session_lock(org: Organisation, now: datetime) -> tuple[Outcome, str]:
    limits = org.config.access.idle_minutes
    public = limits.get("public_area")
    others = ", ".join(f"{name}: {minutes} min" for name, minutes in sorted(limits.items()) if name != "public_area")
    if public is None:
        return "failed", "The configuration sets no inactivity limit for workstations in public areas (public_area)."
    text = (
        f"Sessions lock after {public} minute(s) of inactivity on workstations in areas open to the public "
        f"(config access.idle_minutes.public_area; at most {PUBLIC_AREA_MAX_IDLE_MINUTES})"
        + (f"; other workstation classes: {others}." if others else ".")
    )
    return ("passed" if public <= PUBLIC_AREA_MAX_IDLE_MINUTES else "failed"), text


def _encryption_at_rest(org: Organisation, now: datetime) -> tuple[Outcome, str]:
    missing: list[str] = []
    versions: list[str] = []
    for family in AT_REST_FAMILIES:
        try:
            versions.append(f"{family.value} v{org.keyring.current_version(family)}")
        except KeystoreError:
            missing.append(family.value)
    if missing:
        return "failed", f"The keyring has no data key for: {', '.join(missing)}; run 'santegarde keys init'."
    status = encryption_at_rest(org.engine)
    if not status.store_present:
        return "failed", "The records database has no table record_part: the encrypted record store is not set up."
    total, clear = status.parts, status.not_encrypted
    text = (
        f"Data keys present in the keyring: {', '.join(versions)}. The record store holds {total} record part(s) "
        "in table record_part"
    )
    if clear:
        return "failed", text + f"; {clear} of them do not carry santegarde's encrypted-token header."
    return (
        "passed",
        text + ", every one an encrypted token under a keyring or per-patient key (header checked, nothing decrypted).",
    )


def _audit_intact(org: Organisation, now: datetime) -> tuple[Outcome, str]:
    result = org.audit.verify()
    if result.intact:
        return "passed", (
            f"The audit trail is intact: {result.entries} entries chained, {result.checkpoints} sealed checkpoint(s) "
            "verified."
        )
    first = result.problems[0]
    return "failed", (
        f"The audit trail is NOT intact: {len(result.problems)} problem(s) among {result.entries} entries; "
        f"first: {first}."
    )


def _trace_review(org: Organisation, now: datetime) -> tuple[Outcome, str]:
    with org.audit.engine.connect() as conn:
        warning = trace_review.overdue_warning(conn, clock=lambda: now)
        last = conn.execute(select(func.max(trace_review_table.c.started_at))).scalar()
    if warning:
        return "failed", warning
    assert last is not None
    return "passed", f"The last review of the traces started on {aware(last):%Y-%m-%d}, less than two months ago."


def _authorisation_review(org: Organisation, now: datetime) -> tuple[Outcome, str]:
    with org.engine.connect() as conn:
        last = conn.execute(select(func.max(authorisation_review.c.closed_at))).scalar()
    if last is None:
        return "failed", "No review of authorisations has ever been closed; run 'santegarde review start' (yearly)."
    closed = aware(last)
    if now - closed > AUTHORISATION_REVIEW_INTERVAL:
        return "failed", f"The last review of authorisations was closed on {closed:%Y-%m-%d}, more than a year ago."
    return "passed", f"The last review of authorisations was closed on {closed:%Y-%m-%d}, less than a year ago."


def _obsolete_permissions(org: Organisation, now: datetime) -> tuple[Outcome, str]:
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
    text = (
        f"{sum(1 for g in all_grants if g.active(now))} active grant(s) of {len(all_grants)}; "
        f"{len(ended)} grant(s) past their end date count as ended (a grant's activity is computed at each request "
        f"from its end date and withdrawal)."
    )
    problems: list[str] = []
    if on_disabled:
        problems.append(f"active grants remain on disabled accounts: {_names(on_disabled)}")
    if stale:
        problems.append(f"{len(stale)} open session(s) still rest on a withdrawn or ended grant")
    if problems:
        return "failed", text + " " + "; ".join(problems).capitalize() + "."
    return "passed", text + " No active grant on a disabled account; no open session on a withdrawn or ended grant."


def _maintenance_logbook(org: Organisation, now: datetime) -> tuple[Outcome, str]:
    entries = maintenance.entries(org.engine)
    if not entries:
        return "not_available", (
            "The maintenance logbook exists but holds no entry: nothing shows it is in use yet "
            "('santegarde maintenance log' records an intervention)."
        )
    last = entries[-1]
    return "passed", (
        f"The maintenance logbook holds {len(entries)} intervention(s), each naming who supervised it; the last on "
        f"{aware(last.at):%Y-%m-%d}."
    )


def _password_policy(org: Organisation, now: datetime) -> tuple[Outcome, str]:
    settings = identity_settings(org.config)
    params = settings.hash_params
    bits = required_bits(settings.attempts_limited)
    with org.engine.connect() as conn:
        hashes = [h for h in conn.execute(select(identity_user.c.password_hash)).scalars() if h]
    other = sum(1 for h in hashes if not h.startswith("$argon2id$"))
    text = (
        f"New passwords need at least {bits} bits of entropy as the CNIL computes it (deliberation 2022-100; "
        f"{'attempts are limited by throttling' if settings.attempts_limited else 'password as the only protection'})"
        f"; passwords are hashed with argon2id (t={params.time_cost}, m={params.memory_cost_kib} KiB, "
        f"p={params.parallelism}); {len(hashes)} stored password hash(es)"
    )
    if other:
        return "failed", text + f", {other} of them not argon2id."
    return "passed", text + ", all argon2id."


def _last_audited(org: Organisation, operation: str) -> dict[str, Any] | None:
    """The last audit entry of an operation (its content: references only)."""
    last: dict[str, Any] | None = None
    with org.audit.engine.connect() as conn:
        for content in conn.execute(select(audit_entry.c.content).order_by(audit_entry.c.seq)).scalars():
            event = json.loads(content)
            if event.get("operation") == operation:
                last = event
    return last


def _backups(org: Organisation, now: datetime) -> tuple[Outcome, str]:
    """The last backup verification recorded in the audit trail (santegarde backup verify)."""
    last = _last_audited(org, "backup.verify")
    if last is None:
        return "not_available", "No backup verification is recorded: run santegarde backup create, then backup verify."
    when = str(last.get("at", ""))[:16].replace("T", " ")
    if last.get("outcome") != "success":
        return "failed", f"The last backup verification ({last.get('resource_id')}, {when}) found problems."
    age = now - datetime.fromisoformat(str(last["at"]))
    if age > timedelta(days=7):
        return "failed", f"The last verified backup ({last.get('resource_id')}) dates from {when}: more than a week."
    return "passed", f"Backup {last.get('resource_id')} restored into a scratch store and verified on {when} UTC."


def _restore_drill(org: Organisation, now: datetime) -> tuple[Outcome, str]:
    """The last restore drill (santegarde backup drill), in French: its date, backup, author, duration, results."""
    last = _last_audited(org, restore.DRILL_OPERATION)
    if last is None:
        return "not_available", (
            "Aucun exercice de restauration n'est enregistré : lancez « santegarde backup drill » au moins une fois "
            "par an."
        )
    at = datetime.fromisoformat(str(last["at"]))
    when = f"le {at:%d/%m/%Y} à {at:%H:%M} UTC"
    backup, by = last.get("resource_id"), last.get("actor")
    if last.get("outcome") != "success":
        return "failed", (
            f"Le dernier exercice de restauration ({when}, par {by}, sauvegarde {backup}) a échoué : la sauvegarde "
            "ne se restaure pas ou ne se vérifie pas ; voyez le journal des sauvegardes et refaites l'exercice."
        )
    text = f"Dernier exercice de restauration {when}, par {by} : la sauvegarde {backup} a été restaurée"
    directory = org.config.backup_directory
    found = restore.last_drill(Path(directory), str(backup)) if directory else None
    if found:
        seconds = f"{float(str(found.get('duration_seconds', 0))):.1f}".replace(".", ",")
        text += (
            f" en {seconds} s dans un répertoire temporaire ; {found.get('tables')} tables et {found.get('rows')} "
            f"lignes conformes aux empreintes de l'en-tête, journal d'audit restauré vérifié "
            f"({found.get('audit_entries')} entrées), {found.get('sampled_records')} enregistrement(s) déchiffré(s) ; "
            "copie supprimée ensuite."
        )
    else:
        text += " et vérifiée (empreintes, journal d'audit, échantillon déchiffré), puis supprimée."
    if now - at > RESTORE_DRILL_INTERVAL:
        return "failed", text + " Cet exercice date de plus d'un an : refaites-en un."
    return "passed", text


def _archiving(org: Organisation, now: datetime) -> tuple[Outcome, str]:
    """The archive is a separate store under its own key, opened only with a justification; what it holds."""
    try:
        version = org.keyring.current_version(KeyFamily.ARCHIVE)
    except KeystoreError:
        return "failed", "The keyring has no archive key: run 'santegarde keys rotate archive' to create it."
    status = archive_status(org.engine)
    return "passed", (
        f"Archive key v{version}; {status.archived_versions} archived record version(s), readable only through "
        f"read_archived with a written justification ({status.justified_accesses} justified access(es) recorded); "
        f"{status.anonymised_counts} aggregate count(s) kept after anonymising. Method: {ANONYMISATION_METHOD}"
    )


CHECKS: tuple[Check, ...] = (
    Check(
        "archiving",
        "Archived data sits in a separate store under its own key, reached only with a justification; at the end "
        "it is deleted with its keys or reduced to aggregates.",
        "The keyring's archive key; counts of archive_record, archive_access and retention_aggregate (nothing "
        "decrypted); the anonymisation method of the retention engine.",
        _is_archiving,
        _archiving,
    ),
    Check(
        "two_factor",
        "Two factors are required to reach health data, and the people holding such profiles have one.",
        "second_factor_required(référentiel, special) in the session gate; active grants on profiles reaching health "
        "data (identity_grant) against accounts with TOTP enrolled or Pro Santé Connect sessions (identity_user).",
        _is_two_factor,
        _two_factor,
    ),
    Check(
        "session_lock",
        "Sessions lock after at most five minutes of inactivity on workstations open to the public.",
        "config access.idle_minutes.public_area <= 5 (the session gate locks idle sessions).",
        _is_session_lock,
        _session_lock,
    ),
    Check(
        "encryption_at_rest",
        "Data is encrypted at rest under separate keys for identity, health, and genetic/location data.",
        "The keyring holds data keys for those families; every row of record_part carries an encrypted-token header "
        "or a per-patient-key header (nothing decrypted).",
        _is_encryption_at_rest,
        _encryption_at_rest,
    ),
    Check(
        "audit_intact",
        "Accesses are logged in a hash-chained, sealed audit trail that has not been altered.",
        "AuditTrail.verify(): chain, seals and head checked; entries counted.",
        _is_logging,
        _audit_intact,
    ),
    Check(
        "trace_review",
        "The traces were reviewed for anomalies within the last two months.",
        "santegarde.audit.review.overdue_warning on the audit database's review table.",
        _is_trace_review,
        _trace_review,
    ),
    Check(
        "authorisation_review",
        "A review of authorisations was closed within the last year.",
        "Latest closed_at of identity_review.",
        _is_authorisation_review,
        _authorisation_review,
    ),
    Check(
        "obsolete_permissions",
        "No obsolete permission remains usable.",
        "No active grant on a disabled account; no open session on a withdrawn or ended grant (identity_grant, "
        "identity_user, identity_session).",
        _is_obsolete_permissions,
        _obsolete_permissions,
    ),
    Check(
        "maintenance_logbook",
        "Maintenance interventions are recorded, with who supervised them.",
        "Entries of the maintenance logbook (maintenance_log).",
        _is_maintenance_logbook,
        _maintenance_logbook,
    ),
    Check(
        "password_policy",
        "Passwords follow the CNIL recommendation and are stored hashed with argon2id.",
        "santegarde.identity.passwords.required_bits under the organisation's settings; hashing parameters; prefix of "
        "every stored hash.",
        _is_password_policy,
        _password_policy,
    ),
    Check(
        "backups",
        "Backups are made and verified.",
        "Not computable yet: santegarde records no backup.",
        _is_backup,
        _backups,
    ),
    Check(
        "restore_drill",
        "Restoring a backup is tested at least once a year: a whole organisation is rebuilt from it and verified.",
        "The last backup.drill entry of the audit trail (date, author, backup, outcome) and its line in the backup "
        "log (duration, tables and rows against the header's hashes, audit trail verified, records decrypted).",
        _is_restore_test,
        _restore_drill,
    ),
)


def checks_for(measure: Measure) -> list[Check]:
    """The checks that evidence a measure, by its area, title and text."""
    return [c for c in CHECKS if c.evidences(measure)]


def run_checks(org: Organisation, *, clock: Callable[[], datetime] | None = None) -> dict[str, Evidence]:
    """Compute every check once against the opened organisation; a check that cannot run is 'not available'."""
    results: dict[str, Evidence] = {}
    for check in CHECKS:
        now = clock() if clock else datetime.now(UTC)
        try:
            outcome, text = check.compute(org, now)
        except SQLAlchemyError as exc:
            outcome, text = "not_available", f"Could not be computed from the databases ({type(exc).__name__})."
        results[check.id] = Evidence(check.id, outcome, text, now)
    return results


def build_report(
    config: OrganisationConfig, ref: Referential, evidence: dict[str, Evidence] | None = None
) -> ConformityReport:
    """Every measure of the référentiel as applied, with its declared status and the evidence of its checks."""
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
    return ConformityReport(config, ref, tuple(lines), used, unknown, found_gaps)


def conformity_report(org: Organisation, *, clock: Callable[[], datetime] | None = None) -> ConformityReport:
    """The report for an opened organisation: its configuration, référentiel as applied, and computed evidence."""
    return build_report(org.config, org.referential, run_checks(org, clock=clock))


# -- output ----------------------------------------------------------------------------------------


def _evidence_data(e: Evidence) -> dict[str, Any]:
    return {"check": e.check, "outcome": e.outcome, "evidence": e.text, "computed_at": e.computed_at.isoformat()}


def to_data(report: ConformityReport) -> dict[str, Any]:
    """The report as plain data (the JSON form)."""
    ref = report.referential
    checks = {c.id: c for c in CHECKS}
    return {
        "document": "conformity_report",
        "organisation": report.config.organisation.name,
        "referential": {
            "id": ref.id,
            "title": ref.title,
            "deliberation": ref.deliberation,
            "version": ref.version,
            "status": ref.status.value,
        },
        "generated_at": datetime.now(UTC).isoformat(),
        "summary": report.summary(),
        "problems": report.problems(),
        "checks": [
            {**_evidence_data(e), "proves": checks[e.check].proves, "how": checks[e.check].how} for e in report.evidence
        ],
        "measures": [
            {
                "code": line.measure.code,
                "title": line.measure.title,
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
            }
            for line in report.lines
        ],
        "unknown_codes": list(report.unknown_codes),
    }


def render(report: ConformityReport) -> str:
    """The report as an HTML document."""
    ref = report.referential
    checks = {c.id: c for c in CHECKS}
    return render_html(
        "conformity.html.j2",
        title=f"Security measures — conformity report — {report.config.organisation.name}",
        organisation_name=report.config.organisation.name,
        lang=ref.language,
        report=report,
        ref=ref,
        summary=report.summary(),
        corrections=report.corrections(),
        checks=checks,
        footer=f"Référentiel {ref.id} (deliberation {ref.deliberation}, version {ref.version}).",
    )


def write(report: ConformityReport, path: Path) -> Path:
    """Write the report as .html, .pdf or .json."""
    fmt = path.suffix.lstrip(".").lower()
    if fmt == "json":
        return write_document(path, data=to_data(report))
    return write_document(path, html=render(report))
