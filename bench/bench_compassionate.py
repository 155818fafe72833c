"""Cost of a compassionate-access follow-up form on the full path, and of the summary report (issue 16), on SQLite.

Run: ``python bench/bench_compassionate.py [--n 30] [--patients 20]``.

1. One follow-up form (``CompassionateService.submit``: the answers checked, the QuestionnaireResponse written through
   ``RecordService`` with the case's workflow-ledger row checked and moved in the same transaction), ``n`` times,
   against a plain INSERT of the same JSON in a plain table of the same database (one transaction each), in the
   same run: median and ratio.
2. The summary report over ``patients`` treated patients with ``visits`` visits each, computed from the
   pseudonymised extract (one sealed row per case, refreshed with each form) against the same report with the
   extract set aside, every case then read record by record through the path (the old way), in the same run:
   times and ratio, with the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import pyotp
from sqlalchemy import Column, MetaData, String, Text, delete, event, insert, select
from sqlalchemy import Table as SqlTable
from sqlalchemy.engine import Engine

from santegarde.audit.trail import AuditTrail
from santegarde.compassionate import extract
from santegarde.compassionate.registry import Registry, example_text
from santegarde.compassionate.report import build
from santegarde.compassionate.service import CompassionateService, Patient
from santegarde.compassionate.tables import aac_case, aac_extract
from santegarde.crypto import KeyFamily, ScryptParams, create_keyring, create_keystore
from santegarde.identity import accounts, grants, sessions, totp
from santegarde.identity.context import IdentityContext, IdentitySettings, no_trace
from santegarde.identity.hashing import FAST_TEST_PARAMS
from santegarde.referentials import loader
from santegarde.store.db import make_engine, migrate
from santegarde.store.service import RecordService, Request

PASSWORD = "Tisane-Violette-7-Horloge!"  # noqa: S105 - fictitious, benchmark input
PURPOSE = "access_initiation_follow_up"
REQUEST = {"poids": 70, "taille": 170, "diagnostic": "G12.2", "date_diagnostic": "2026-01-10",
           "mutation_sod1": True, "score_alsfrs": 40}  # fmt: skip
plain = MetaData()
plain_form = SqlTable("bench_plain_form", plain, Column("id", String(64), primary_key=True), Column("body", Text))


def person(ctx: IdentityContext, login: str, profile: str, ref: str, establishment: str | None = None) -> str:
    _, temporary = accounts.add(ctx, login, login.title(), person_ref=ref, by="admin")
    assert temporary is not None
    grants.give(ctx, login, profile, validated_by="Responsable", validator_role="governance_body",
                reason="benchmark staff", by="admin", ends_at=ctx.now() + timedelta(days=365),
                establishment=establishment)  # fmt: skip
    result = sessions.login(ctx, login, temporary, source="10.0.0.1", workstation_class="office")
    sessions.change_password(ctx, result.token, temporary, PASSWORD)
    sessions.accept_charter(ctx, result.token, ctx.settings.charter_version)
    secret = totp.new_secret()
    sessions.enrol_second_factor(ctx, result.token, secret, pyotp.TOTP(secret).at(ctx.now()))
    return result.token


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30, help="follow-up forms measured")
    parser.add_argument("--patients", type=int, default=20, help="treated patients in the report")
    parser.add_argument("--visits", type=int, default=3, help="follow-up visits per patient")
    parser.add_argument("--scale", type=int, default=0,
                        help="then the report over this many more cases x 20 visits, in the extract")  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engine = make_engine(f"sqlite:///{root / 'records.db'}")
        for package in ("santegarde.identity", "santegarde.store", "santegarde.compassionate"):
            migrate(engine, package=package)
        plain.create_all(engine)
        master = create_keystore(root / "k", "correct horse battery staple", ScryptParams(n=2**10))
        ring = create_keyring(master, root / "k")
        moment = datetime(2026, 11, 25, 9, tzinfo=UTC)
        clock = lambda: moment  # noqa: E731
        identity = IdentityContext(engine, loader.get("aac-2022-106"), ring, no_trace,
                                   IdentitySettings(hash_params=FAST_TEST_PARAMS), clock=clock)  # fmt: skip
        audit_engine = make_engine(f"sqlite:///{root / 'audit.db'}")
        migrate(audit_engine, package="santegarde.audit")
        audit = AuditTrail(audit_engine, ring.key(KeyFamily.AUDIT_SEAL)[1], clock=clock)
        records = RecordService(engine, identity.referential, ring, audit, identity)
        registry = Registry(root / "programmes", identity.referential)
        registry.add(example_text(), "example")
        service = CompassionateService(records, registry)
        doctor = Request(person(identity, "dr.bench", "care_establishment_staff", "10001234567", "h0"), PURPOSE)
        lab = Request(person(identity, "ph.bench", "pharmacist_in_charge", "L-BENCH-1"), PURPOSE)

        def treated(i: int) -> str:
            fictitious = Patient("Exemple", "Alix", "female", "1970-01", "h0")  # the doctor's establishment (AAC-8)
            case = service.request_access(doctor, "velmorine-sla", fictitious, REQUEST)
            service.submit(lab, case.patient_id, "decision_laboratoire", {"decision": "granted"})
            service.submit(doctor, case.patient_id, "initiation",
                           {"date_debut": "2026-11-20", "posologie": 20, "score_alsfrs": 39})  # fmt: skip
            return case.patient_id

        visit = {"date_visite": "2026-11-25", "poids": 69.5, "score_alsfrs": 38, "observance": "complete"}
        patient = treated(0)
        path, baseline = [], []
        statements = {"path": 0, "plain": 0}
        counting: list[str] = []

        @event.listens_for(Engine, "before_cursor_execute")
        def count(*_: object) -> None:  # what each side sends to the databases (both, records and audit)
            if counting:
                statements[counting[0]] += 1

        for _ in range(args.n):
            started = time.perf_counter()
            counting.append("path")
            service.submit(doctor, patient, "suivi", visit)
            counting.clear()
            path.append(time.perf_counter() - started)
            started = time.perf_counter()
            counting.append("plain")
            with engine.begin() as conn:
                conn.execute(insert(plain_form).values(id=str(uuid.uuid4()), body=json.dumps(visit)))
            counting.clear()
            baseline.append(time.perf_counter() - started)
        event.remove(Engine, "before_cursor_execute", count)
        full, bare = statistics.median(path), statistics.median(baseline)
        print(f"follow-up form, full path: median {full * 1000:.1f} ms; plain insert: {bare * 1000:.2f} ms; "
              f"ratio {full / bare:.1f}x (n={args.n}; the turn checked on the workflow ledger); statements per "
              f"form {statements['path'] / args.n:.1f} against {statements['plain'] / args.n:.1f}")  # fmt: skip
        for i in range(1, args.patients):
            pid = treated(i)
            for _ in range(args.visits):
                service.submit(doctor, pid, "suivi", visit)
        period = (date(2026, 11, 1), date(2026, 11, 30))
        build(service, lab, "velmorine-sla", *period)  # warm-up: DuckDB's and Arrow's imports (pandas) paid once
        started = time.perf_counter()
        report = build(service, lab, "velmorine-sla", *period)
        took = time.perf_counter() - started
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with engine.begin() as conn:  # the extract set aside: every case read through the path, as before it
            kept = [dict(r._mapping) for r in conn.execute(select(aac_extract))]
            conn.execute(delete(aac_extract))
        started = time.perf_counter()
        old = build(service, lab, "velmorine-sla", *period)
        took_path = time.perf_counter() - started
        with engine.begin() as conn:
            conn.execute(insert(aac_extract), kept)
        assert [e.value for e in old.entries] == [e.value for e in report.entries], "the two paths disagree"
        print(f"summary report, {args.patients} patients x {args.visits} visits: from the extract {took:.2f} s, "
              f"through the path {took_path:.2f} s, ratio {took_path / took:.0f}x; {len(report.entries)} entries; "
              f"peak RSS {rss:.0f} MB (after the extract's report)")  # fmt: skip
        if args.scale:
            scaled(service, lab, args.scale, period)
        engine.dispose()
        audit_engine.dispose()


def scaled(service: CompassionateService, lab: Request, cases: int, period: tuple[date, date]) -> None:
    """3. The report's own cost at the issue's scale: ``cases`` cases x 20 visits written straight into the extract
    (the rows the forms' transactions would have sealed: submitting 200,000 forms through the path is not part of
    what this measures), then the summary report over all of them, with the peak RSS."""
    records = service.records
    opened = datetime(2026, 11, 2, tzinfo=UTC)
    with records.engine.begin() as conn:
        for i in range(cases):
            patient_id = str(uuid.uuid4())
            number = conn.execute(insert(aac_case).values(
                programme="velmorine-sla", version="1", patient_id=patient_id, establishment=f"h{i % 2}",
                opened_at=opened, opened_by="bench").returning(aac_case.c.number)).scalar_one()  # fmt: skip
            lines = [["demande_acces", "access_request", "2026-11-02", {"poids": 60 + i % 40}],
                     ["decision_laboratoire", "decision", "2026-11-02", {"decision": "granted"}],
                     ["initiation", "initiation", "2026-11-03", {}]]  # fmt: skip
            lines += [
                ["suivi", "follow_up", f"2026-11-{4 + v:02d}", {"poids": 61, "score_alsfrs": 30}] for v in range(20)
            ]
            if i % 5 == 0:
                lines.append(["effet_indesirable", "adverse_effect", "2026-11-20", {"effet": "10028813"}])
            content = {"sex": ("female", "male")[i % 2], "birth": f"19{50 + i % 40}-0{1 + i % 9}", "forms": lines}
            sealed = records.seal_derived(conn, patient_id, extract.label(number), content)
            row = {"number": number, "programme": "velmorine-sla", "sealed": sealed, "versions": 0}  # no record
            conn.execute(insert(aac_extract).values(**row))
    started = time.perf_counter()
    report = build(service, lab, "velmorine-sla", *period)
    took = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    counts = {e.item: e.value for e in report.entries if e.section == "Effectifs"}
    print(f"summary report from the extract, {cases} more cases x 20 visits: {took:.2f} s "
          f"({counts}); peak RSS {rss:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
