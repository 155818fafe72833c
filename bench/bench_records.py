"""Cost of the record path (identity → policy → encrypted store → audit) against plain Core, SQLite and PostgreSQL.

Run: ``python bench/bench_records.py [--n 100]``. One unit is one Patient and its 10 Observations: written through
``RecordService.create`` (11 calls), then read back through ``RecordService.read`` (11 calls). The baseline, measured
in the same run and the same database, writes the same JSON bodies into a plain table ``(id, resource_type, body)``
and selects them back by id, with the same transaction shape (one transaction per resource). The audit trail lives
in its own database, as in production (a second SQLite file, or a second fresh PostgreSQL database).
A second baseline is what a user who must trace every access would write with plain Core: the same insert (or
select) and one audit row (JSON text) in the same transaction and database, committed before the answer — one
commit per resource for writes and reads alike (the plain read commits nothing).
Audit throughput: ``AuditTrail.append`` of n events and ``AuditTrail.verify()`` over them, on a fresh audit database,
against a plain INSERT of the same JSON (one transaction each) and a plain SELECT of it back.
PostgreSQL is used if it answers at ``SANTEGARDE_BENCH_POSTGRES_URL`` (default
postgresql://postgres@127.0.0.1:5432/postgres): fresh databases are created and dropped; otherwise it is skipped.
``--profile`` prints cProfile's top 15 (cumulative) for one full-path write and one read of a unit.
A unit as one transaction (issue 18): ``RecordService.transaction`` (what ``POST /fhir`` with a transaction Bundle
runs) against plain Core in one transaction (one multi-row insert) and, on PostgreSQL, against what a user could
write instead: psycopg straight into PostgreSQL, each body encrypted by pgcrypto (``pgp_sym_encrypt``) and an audit
row (JSONB) per resource, in the same transaction.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import psycopg
import pyotp
from rich.console import Console
from rich.table import Table
from sqlalchemy import Column, Engine, MetaData, String, Text, event, insert, select, text
from sqlalchemy import Table as SqlTable

from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.crypto import KeyFamily, ScryptParams, create_keyring, create_keystore
from santegarde.identity import accounts, grants, sessions, totp
from santegarde.identity.context import IdentityContext, IdentitySettings, no_trace
from santegarde.identity.hashing import FAST_TEST_PARAMS
from santegarde.referentials import loader
from santegarde.store import bundle, consents
from santegarde.store.db import make_engine, migrate
from santegarde.store.service import RecordService, Request

POSTGRES_URL = os.environ.get("SANTEGARDE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "Tisane-Violette-7-Horloge!"  # noqa: S105 - fictitious, benchmark input
OBSERVATIONS = 10
WARM_UP = 5
PURPOSE = "medical_record"

plain_metadata = MetaData()
plain_resource = SqlTable(
    "bench_plain_resource",
    plain_metadata,
    Column("id", String(64), primary_key=True),
    Column("resource_type", String(64), nullable=False),
    Column("body", Text, nullable=False),
)
plain_audit = SqlTable(
    "bench_plain_audit",
    plain_metadata,
    Column("id", String(64), primary_key=True),
    Column("content", Text, nullable=False),
)


@dataclass(frozen=True)
class Timing:
    """Median and p95 of one operation per unit, in seconds, and the SQL statements one unit sends."""

    name: str
    median: float
    p95: float
    statements: int


@dataclass(frozen=True)
class Throughput:
    """Entries per second of one pass over n entries."""

    name: str
    seconds: float
    entries: int

    @property
    def per_second(self) -> float:
        return self.entries / self.seconds


@dataclass(frozen=True)
class Share:
    """Cumulative time and SQL statements of one component of the path, within one profiled unit."""

    component: str
    seconds: float
    statements: int


@dataclass(frozen=True)
class EngineResult:
    """Everything measured on one engine."""

    label: str
    server: str
    path: list[Timing]
    bundles: list[Timing]
    audit: list[Throughput]
    profiles: dict[str, str]
    breakdown: dict[str, list[Share]]


# -- fictitious resources ----------------------------------------------------------------------------


def patient_body(pid: str) -> dict[str, Any]:
    """A fictitious patient with a test INS."""
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [
            {
                "system": "urn:oid:1.2.250.1.213.1.4.10",
                "value": "279035121518989",
                "type": {
                    "coding": [
                        {"system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203", "code": "INS-NIR-TEST"}
                    ]
                },
            }
        ],
        "name": [{"family": "Fictivé", "given": ["Alix"]}],
        "gender": "female",
        "birthDate": "1979-03-21",
    }


def observation_body(pid: str, oid: str, value: float) -> dict[str, Any]:
    """A fictitious body-weight observation of patient ``pid``."""
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "valueQuantity": {"value": value, "unit": "kg"},
    }


def unit_bodies(index: int, prefix: str) -> list[dict[str, Any]]:
    """One patient and its observations; ids are unique per ``prefix`` and ``index``."""
    pid = f"{prefix}-p-{index}"
    return [patient_body(pid)] + [
        observation_body(pid, f"{prefix}-o-{index}-{k}", 60.0 + k / 10) for k in range(OBSERVATIONS)
    ]


# -- set-up (copied from tests/store_fixtures.py, not imported) ---------------------------------------


@dataclass(frozen=True)
class Place:
    """The record service with its identity context and audit trail, on two engines."""

    service: RecordService
    identity: IdentityContext
    audit: AuditTrail

    def dispose(self) -> None:
        self.service.engine.dispose()
        self.audit.engine.dispose()


def _fixed_clock(moment: datetime) -> Callable[[], datetime]:
    """A clock that always answers ``moment``."""
    return lambda: moment


def _place(url: str, audit_url: str, keyring_dir: Path) -> Place:
    """Migrated record and audit databases, a keyring, fast argon2 parameters and a fixed clock."""
    engine = make_engine(url)
    migrate(engine, package="santegarde.identity")
    migrate(engine)
    master = create_keystore(keyring_dir, "correct horse battery staple", ScryptParams(n=2**10, r=8, p=1))
    ring = create_keyring(master, keyring_dir)
    settings = IdentitySettings(hash_params=FAST_TEST_PARAMS)
    clock = _fixed_clock(datetime.now(UTC).replace(microsecond=0))
    identity = IdentityContext(engine, loader.get("pra-2020-081"), ring, no_trace, settings, clock=clock)
    audit_engine = make_engine(audit_url)
    migrate(audit_engine, package="santegarde.audit")
    _, seal = ring.key(KeyFamily.AUDIT_SEAL)
    audit = AuditTrail(audit_engine, seal, clock=clock)
    return Place(RecordService(engine, identity.referential, ring, audit, identity), identity, audit)


def _practitioner(ctx: IdentityContext) -> str:
    """A practitioner with a grant, a changed password, the charter accepted and TOTP enrolled; their token."""
    _, temporary = accounts.add(ctx, "dr.martin", "Claire Martin", person_ref="10001234567", by="admin")
    assert temporary is not None
    grants.give(
        ctx, "dr.martin", "practitioner", validated_by="Responsable", validator_role="governance_body",
        reason="practice staff", by="admin",
    )  # fmt: skip
    result = sessions.login(ctx, "dr.martin", temporary, source="10.0.0.1", workstation_class="office")
    sessions.change_password(ctx, result.token, temporary, PASSWORD)
    sessions.accept_charter(ctx, result.token, ctx.settings.charter_version)
    secret = totp.new_secret()
    sessions.enrol_second_factor(ctx, result.token, secret, pyotp.TOTP(secret).at(ctx.now()))
    return result.token


# -- measurement ------------------------------------------------------------------------------------


def _statements(engines: list[Engine], action: Callable[[], object]) -> int:
    """How many SQL statements one call of ``action`` sends, over all ``engines``."""
    count = 0

    def counter(*_args: Any) -> None:
        nonlocal count
        count += 1

    for engine in engines:
        event.listen(engine, "before_cursor_execute", counter)
    try:
        action()
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", counter)
    return count


def _summary(name: str, samples: list[float], statements: int) -> Timing:
    """Median and p95 of the samples."""
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[18]
    return Timing(name, statistics.median(samples), p95, statements)


def _timed(action: Callable[[], object]) -> float:
    """Seconds one call of ``action`` takes."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


# Write group, then read group: plain baseline, plain + one audit row committed (the compliant baseline), full path,
# full path without the consent and objection check.
ORDER = ("pw", "aw", "fw", "uw", "pr", "ar", "fr", "ur")
GROUP = 4
UNIT = 1 + OBSERVATIONS  # requests per unit


@contextmanager
def without_ledger_checks() -> Iterator[None]:
    """The full path with the consent and objection lookups switched off (measurement only, never in production):
    no objection is looked up, and no category on consent is covered (the unit holds none)."""
    saved = RecordService._objected, RecordService._consent
    RecordService._objected = lambda *_a, **_k: None  # type: ignore[method-assign]
    RecordService._consent = lambda *_a, **_k: consents.Standing(False)  # type: ignore[method-assign]
    try:
        yield
    finally:
        RecordService._objected, RecordService._consent = saved  # type: ignore[method-assign]


class RecordPath:
    """Writes and reads of a unit through the full path and through plain Core, on one place."""

    def __init__(self, place: Place, token: str) -> None:
        self.place = place
        self.req = Request(token, PURPOSE)
        self.engine = place.service.engine
        plain_metadata.create_all(self.engine, tables=[plain_resource, plain_audit])

    def full_write(self, bodies: list[dict[str, Any]]) -> None:
        for body in bodies:
            self.place.service.create(self.req, body)

    def full_read(self, bodies: list[dict[str, Any]]) -> None:
        for body in bodies:
            got = self.place.service.read(self.req, body["resourceType"], body["id"])
            assert got["id"] == body["id"]

    def unchecked_write(self, bodies: list[dict[str, Any]]) -> None:
        with without_ledger_checks():
            self.full_write(bodies)

    def unchecked_read(self, bodies: list[dict[str, Any]]) -> None:
        with without_ledger_checks():
            self.full_read(bodies)

    def plain_write(self, bodies: list[dict[str, Any]]) -> None:
        for body in bodies:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(plain_resource).values(
                        id=body["id"], resource_type=body["resourceType"], body=json.dumps(body)
                    )
                )

    def plain_read(self, bodies: list[dict[str, Any]]) -> None:
        for body in bodies:
            with self.engine.connect() as conn:
                row = conn.execute(select(plain_resource.c.body).where(plain_resource.c.id == body["id"])).one()
            assert json.loads(row.body)["id"] == body["id"]

    def audited_write(self, bodies: list[dict[str, Any]]) -> None:
        """What a user who must trace every access would write: the record and one audit row in one transaction."""
        for body in bodies:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(plain_resource).values(
                        id=body["id"], resource_type=body["resourceType"], body=json.dumps(body)
                    )
                )
                conn.execute(insert(plain_audit).values(id=uuid.uuid4().hex, content=_plain_entry("create", body)))

    def audited_read(self, bodies: list[dict[str, Any]]) -> None:
        """The plain read, and one audit row committed before the body is handed out."""
        for body in bodies:
            with self.engine.begin() as conn:
                row = conn.execute(select(plain_resource.c.body).where(plain_resource.c.id == body["id"])).one()
                conn.execute(insert(plain_audit).values(id=uuid.uuid4().hex, content=_plain_entry("read", body)))
            assert json.loads(row.body)["id"] == body["id"]

    def measure(self, n: int) -> list[Timing]:
        """Median and p95 per unit of the six operations (baseline, full path, full path without the consent and
        objection check; write, then read), interleaved unit by unit so drift hits all alike."""
        engines = [self.engine, self.place.audit.engine]
        kinds = ("full", "unchecked", "plain", "audited")
        for i in range(WARM_UP):
            self._unit(*(unit_bodies(i, f"warm-{p}") for p in kinds))
        samples: dict[str, list[float]] = {k: [] for k in ORDER}
        for i in range(n):
            for key, value in self._unit(*(unit_bodies(i, p) for p in kinds)).items():
                samples[key].append(value)
        full, unchecked, plain, audited = (unit_bodies(0, f"count-{p}") for p in kinds)
        counts = {
            "pw": _statements(engines, lambda: self.plain_write(plain)),
            "pr": _statements(engines, lambda: self.plain_read(plain)),
            "aw": _statements(engines, lambda: self.audited_write(audited)),
            "ar": _statements(engines, lambda: self.audited_read(audited)),
            "fw": _statements(engines, lambda: self.full_write(full)),
            "fr": _statements(engines, lambda: self.full_read(full)),
            "uw": _statements(engines, lambda: self.unchecked_write(unchecked)),
            "ur": _statements(engines, lambda: self.unchecked_read(unchecked)),
        }
        names = {
            "pw": "plain Core write (baseline)",
            "aw": "plain Core write + audit row, one commit",
            "ar": "plain Core read + audit row committed",
            "fw": "RecordService.create ×11",
            "uw": "  … without consent/objection check",
            "pr": "plain Core read by id (baseline)",
            "fr": "RecordService.read ×11",
            "ur": "  … without consent/objection check",
        }
        return [_summary(names[k], samples[k], counts[k]) for k in ORDER]

    def _unit(
        self,
        full: list[dict[str, Any]],
        unchecked: list[dict[str, Any]],
        plain: list[dict[str, Any]],
        audited: list[dict[str, Any]],
    ) -> dict[str, float]:
        return {
            "pw": _timed(lambda: self.plain_write(plain)),
            "aw": _timed(lambda: self.audited_write(audited)),
            "fw": _timed(lambda: self.full_write(full)),
            "uw": _timed(lambda: self.unchecked_write(unchecked)),
            "pr": _timed(lambda: self.plain_read(plain)),
            "ar": _timed(lambda: self.audited_read(audited)),
            "fr": _timed(lambda: self.full_read(full)),
            "ur": _timed(lambda: self.unchecked_read(unchecked)),
        }

    def profiles(self) -> tuple[dict[str, str], dict[str, list[Share]]]:
        """cProfile top 15 (cumulative) of one full-path write of a unit and one read of it, and the breakdown."""
        bodies, again = unit_bodies(0, "profile"), unit_bodies(0, "profile-again")
        engines = [self.engine, self.place.audit.engine]
        texts, shares = {}, {}
        texts["write"], shares["write"] = _profile(
            engines, lambda: self.full_write(bodies), lambda: self.full_write(again)
        )
        texts["read"], shares["read"] = _profile(engines, lambda: self.full_read(bodies), lambda: self.full_read(again))
        return texts, shares


def _plain_entry(operation: str, body: dict[str, Any]) -> str:
    """The audit row a plain implementation would write: who, what, which record, for what, when (JSON text)."""
    return json.dumps(
        {"actor": "dr.martin", "operation": operation, "resource": f"{body['resourceType']}/{body['id']}",
         "purpose": PURPOSE, "outcome": "success", "at": datetime.now(UTC).isoformat()}
    )  # fmt: skip


PG_KEY = "bench-only fictitious pgcrypto passphrase"  # the psycopg baseline's key (pgcrypto, symmetric)
PG_SCHEMA = (
    "CREATE EXTENSION IF NOT EXISTS pgcrypto",
    "CREATE TABLE bench_pg_resource (id text PRIMARY KEY, resource_type text NOT NULL, patient text, "
    "body bytea NOT NULL)",
    "CREATE TABLE bench_pg_audit (seq bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), "
    "entry jsonb NOT NULL)",
)


def _transaction_bundle(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """The unit as a FHIR transaction Bundle: one POST entry per resource."""
    entries = [{"resource": b, "request": {"method": "POST", "url": b["resourceType"]}} for b in bodies]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


class BundlePath:
    """A unit written as one transaction: through the path (``RecordService.transaction``), plain Core (one
    transaction, one multi-row insert), and on PostgreSQL psycopg + pgcrypto + an audit row per resource."""

    def __init__(self, path: RecordPath, psycopg_url: str | None) -> None:
        self.path = path
        self.pg = psycopg.connect(psycopg_url) if psycopg_url else None
        if self.pg is not None:
            with self.pg.transaction():
                for statement in PG_SCHEMA:
                    self.pg.execute(statement)

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()

    def full(self, bodies: list[dict[str, Any]]) -> None:
        done = self.path.place.service.transaction(self.path.req, bundle.writes(_transaction_bundle(bodies)))
        assert len(done) == len(bodies)

    def plain(self, bodies: list[dict[str, Any]]) -> None:
        rows = [{"id": b["id"], "resource_type": b["resourceType"], "body": json.dumps(b)} for b in bodies]
        with self.path.engine.begin() as conn:
            conn.execute(insert(plain_resource), rows)

    def psycopg(self, bodies: list[dict[str, Any]]) -> None:
        assert self.pg is not None
        now = datetime.now(UTC).isoformat()
        rows = [(b["id"], b["resourceType"], bodies[0]["id"], json.dumps(b), PG_KEY) for b in bodies]
        audit = [
            (json.dumps({"actor": "dr.martin", "operation": "create", "resource": f"{b['resourceType']}/{b['id']}",
                         "purpose": PURPOSE, "outcome": "success", "at": now}),)
            for b in bodies
        ]  # fmt: skip
        with self.pg.transaction(), self.pg.cursor() as cur:
            cur.executemany(
                "INSERT INTO bench_pg_resource (id, resource_type, patient, body) "
                "VALUES (%s, %s, %s, pgp_sym_encrypt(%s, %s))",
                rows,
            )
            cur.executemany("INSERT INTO bench_pg_audit (entry) VALUES (%s::jsonb)", audit)

    def measure(self, n: int) -> list[Timing]:
        """Median and p95 per unit, interleaved unit by unit; statements counted over both SQLAlchemy engines (the
        psycopg baseline sends two executemany of 11 rows each)."""
        actions: dict[str, Callable[[list[dict[str, Any]]], None]] = {"tp": self.plain, "tf": self.full}
        if self.pg is not None:
            actions["tg"] = self.psycopg
        samples: dict[str, list[float]] = {k: [] for k in actions}
        for i in range(-WARM_UP, n):
            for key, action in actions.items():
                bodies = unit_bodies(i + WARM_UP, f"tx-{key}")
                elapsed = _timed(partial(action, bodies))
                if i >= 0:
                    samples[key].append(elapsed)
        engines = [self.path.engine, self.path.place.audit.engine]
        counts = {k: _statements(engines, partial(a, unit_bodies(0, f"count-tx-{k}"))) for k, a in actions.items()}
        names = {
            "tp": "plain Core, one transaction (baseline)",
            "tf": "RecordService.transaction (POST /fhir Bundle)",
            "tg": "psycopg + pgcrypto + audit row, one transaction",
        }
        return [_summary(names[k], samples[k], counts[k]) for k in actions]


# (file, function) → component; the first match walking up from the SQL call names the statement's owner.
COMPONENTS: dict[tuple[str, str], str] = {
    ("sessions.py", "require"): "identity: sessions.require",
    ("trail.py", "append"): "audit: AuditTrail.append (own database)",
    ("service.py", "_validate"): "FHIR validation (fhir.resources)",
    ("service.py", "_decide_all"): "policy: decide per category",
    ("service.py", "_care"): "care relationship lookup",
    ("service.py", "_probe"): "probe: objection, care, patient, freeze, keys",
    ("vault.py", "versions"): "vault: versions lookup",
    ("vault.py", "write_version"): "vault: write_version (incl. key, AES-GCM)",
    ("vault.py", "reindex"): "vault: blind-index reindex",
    ("service.py", "_decode"): "vault: read parts, decrypt, merge",
}
CRYPTO = "  of which AES-GCM calls + envelope (key unwrap)"


def _owner(stack: list[traceback.FrameSummary]) -> str:
    """The component of the innermost matching frame, or 'other'."""
    for frame in reversed(stack):
        component = COMPONENTS.get((Path(frame.filename).name, frame.name))
        if component is not None:
            return component
    return "other"


def _profile(
    engines: list[Engine], action: Callable[[], object], again: Callable[[], object]
) -> tuple[str, list[Share]]:
    """cProfile's top 15 (cumulative) of ``action``, and time per component; statements are counted on ``again``."""
    owners: dict[str, int] = {}

    def counter(*_args: Any) -> None:
        owner = _owner(traceback.extract_stack())
        owners[owner] = owners.get(owner, 0) + 1

    profiler = cProfile.Profile()
    profiler.runcall(action)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", counter)
    try:
        again()  # a second, unprofiled pass of the same shape: walking the stack per statement would skew the profile
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", counter)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(15)
    return out.getvalue(), _shares(stats, owners)


def _shares(stats: pstats.Stats, owners: dict[str, int]) -> list[Share]:
    """Cumulative seconds per component (from the profile) with its statement count."""
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    seconds: dict[str, float] = {}
    crypto = 0.0
    for (filename, _line, name), row in table.items():
        cumulative = float(row[3])
        component = COMPONENTS.get((filename, name))
        if component is not None:
            seconds[component] = seconds.get(component, 0.0) + cumulative
        if ("AESGCM" in name and ("encrypt" in name or "decrypt" in name)) or (
            filename == "envelope.py" and name in ("encrypt", "decrypt")
        ):
            crypto += cumulative if filename == "envelope.py" else 0.0
            crypto += float(row[2]) if filename != "envelope.py" else 0.0
    total = sum(float(row[2]) for row in table.values())
    shares = [Share("whole unit (profiled)", total, sum(owners.values()))]
    shares += [Share(c, seconds.get(c, 0.0), owners.get(c, 0)) for c in dict.fromkeys(COMPONENTS.values())]
    shares.append(Share(CRYPTO, crypto, 0))
    shares.append(Share("other (service glue, mapping, connections)", 0.0, owners.get("other", 0)))
    return [s for s in shares if s.seconds or s.statements]


def _event(i: int) -> AuditEvent:
    """A fictitious read event, by references only."""
    return AuditEvent(
        actor="dr.martin", profile="practitioner", operation="read", resource_type="Observation",
        resource_id=f"o-{i}", purpose=PURPOSE, allowed=True, rule="accessors.practitioner", section="6",
        outcome="success", source="10.0.0.1", referential="pra-2020-081", patient=f"p-{i // 10}",
        care_relationship=True,
    )  # fmt: skip


def measure_audit(url: str, seal: bytes, clock: Callable[[], datetime], n: int) -> list[Throughput]:
    """Append n events and verify them on a fresh audit database, against plain INSERTs and a plain SELECT."""
    engine = make_engine(url)
    try:
        migrate(engine, package="santegarde.audit")
        plain_metadata.create_all(engine, tables=[plain_audit])
        trail = AuditTrail(engine, seal, clock=clock)
        contents = [json.dumps({**asdict(_event(i)), "at": clock().isoformat()}, sort_keys=True) for i in range(n)]

        def plain_insert() -> None:
            for i, content in enumerate(contents):
                with engine.begin() as conn:
                    conn.execute(insert(plain_audit).values(id=str(i), content=content))

        def plain_select() -> None:
            with engine.connect() as conn:
                rows = [json.loads(r.content) for r in conn.execute(select(plain_audit.c.content))]
            assert len(rows) == n

        def append_all() -> None:
            for i in range(n):
                trail.append(_event(i))

        results = [
            Throughput("plain INSERT, one transaction each (baseline)", _timed(plain_insert), n),
            Throughput("AuditTrail.append", _timed(append_all), n),
            Throughput("plain SELECT + json.loads (baseline)", _timed(plain_select), n),
        ]
        report: list[Any] = []
        results.append(Throughput("AuditTrail.verify()", _timed(lambda: report.append(trail.verify())), n))
        assert report[0].intact and report[0].entries == n + 1, report[0]  # the trail's own first entry, then n
        return results
    finally:
        engine.dispose()


# -- databases --------------------------------------------------------------------------------------


@contextmanager
def _sqlite_urls(count: int) -> Iterator[list[str]]:
    """``count`` SQLite databases in temporary files."""
    with tempfile.TemporaryDirectory(prefix="santegarde-bench-") as directory:
        yield [f"sqlite:///{Path(directory) / f'bench-{i}.db'}" for i in range(count)]


def _postgres_answers() -> bool:
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError:
        return False
    return True


@contextmanager
def _postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    name = f"santegarde_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _postgres_urls(count: int) -> Iterator[list[str]]:
    """``count`` fresh PostgreSQL databases, all dropped afterwards."""
    with ExitStack() as stack:
        yield [stack.enter_context(_postgres_database()) for _ in range(count)]


def _server_version(engine: Engine) -> str:
    """The database server's version string, short, with the settings that matter here."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar_one())
        version = str(conn.execute(text("show server_version")).scalar_one())
        autovacuum = conn.execute(text("show autovacuum")).scalar_one()
        synchronous = conn.execute(text("show synchronous_commit")).scalar_one()
        return f"PostgreSQL {version.split()[0]}, autovacuum={autovacuum}, synchronous_commit={synchronous}"


def run_engine(label: str, urls: list[str], n: int, *, profile: bool) -> EngineResult:
    """Record path on urls[0] with its audit in urls[1]; audit throughput on urls[2]; the psycopg baseline (on
    PostgreSQL) in urls[0] too."""
    psycopg_url = (
        urls[0].replace("postgresql+psycopg://", "postgresql://") if urls[0].startswith("postgresql") else None
    )
    with tempfile.TemporaryDirectory(prefix="santegarde-bench-keys-") as keys:
        place = _place(urls[0], urls[1], Path(keys) / "keyring")
        try:
            path = RecordPath(place, _practitioner(place.identity))
            timings = path.measure(n)
            bundles = BundlePath(path, psycopg_url)
            try:
                unit_transactions = bundles.measure(n)
            finally:
                bundles.close()
            profiles, breakdown = path.profiles() if profile else ({}, {})
            server = _server_version(place.service.engine)
            _, seal = place.identity.keyring.key(KeyFamily.AUDIT_SEAL)
            audit = measure_audit(urls[2], seal, place.identity.clock, n)
        finally:
            place.dispose()
    return EngineResult(label, server, timings, unit_transactions, audit, profiles, breakdown)


# -- output -----------------------------------------------------------------------------------------


def _print(result: EngineResult, n: int, console: Console) -> None:
    """The record-path table with ratios, the audit table, then the profiles."""
    table = Table(title=f"{result.label} ({result.server}): one Patient + {OBSERVATIONS} Observations, n={n}")
    for column in ("operation", "median ms", "p95 ms", "× plain", "× plain + audit", "statements"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for i, timing in enumerate(result.path):
        baseline, audited = result.path[i - i % GROUP].median, result.path[i - i % GROUP + 1].median
        table.add_row(
            timing.name,
            f"{timing.median * 1e3:.2f}",
            f"{timing.p95 * 1e3:.2f}",
            f"{timing.median / baseline:.1f}",
            f"{timing.median / audited:.1f}" if i % GROUP else "",
            str(timing.statements),
        )
    console.print(table)
    p = {k: result.path[i] for i, k in enumerate(ORDER)}
    for base, label in (("p", "plain"), ("a", "plain + audit row committed")):
        write, read = p["fw"].median / p[f"{base}w"].median, p["fr"].median / p[f"{base}r"].median
        console.print(
            f"full / {label}: write {write:.1f}× ({'met' if write <= 2 else 'NOT met'}), "
            f"read {read:.1f}× ({'met' if read <= 2 else 'NOT met'}) — goal 'within 2×'"
        )
    added = {k: (p[f"f{k}"].statements - p[f"u{k}"].statements) / UNIT for k in ("w", "r")}
    console.print(
        f"consent/objection check: {added['w']:g} statement(s) per create, {added['r']:g} per read "
        f"(issue 23: at most one indexed lookup per request); time with/without: write "
        f"{p['fw'].median / p['uw'].median:.2f}×, read {p['fr'].median / p['ur'].median:.2f}×"
    )
    per_write, per_read = p["fw"].statements / (OBSERVATIONS + 1), p["fr"].statements / (OBSERVATIONS + 1)
    console.print(
        f"statements per resource: create {per_write:.1f} (goal ≤ 4), read {per_read:.1f} (goal ≤ 3); "
        "plain Core: 1 and 1"
    )
    tx = Table(title=f"{result.label}: the unit (11 resources) as one transaction, n={n}")
    for column in ("operation", "median ms", "p95 ms", "× plain", "× psycopg", "statements", "per resource"):
        tx.add_column(column, justify="left" if column == "operation" else "right")
    by = {t.name.split()[0]: t for t in result.bundles}
    psy = next((t for t in result.bundles if t.name.startswith("psycopg")), None)
    for timing in result.bundles:
        tx.add_row(
            timing.name,
            f"{timing.median * 1e3:.2f}",
            f"{timing.p95 * 1e3:.2f}",
            f"{timing.median / result.bundles[0].median:.1f}",
            f"{timing.median / psy.median:.1f}" if psy else "—",
            str(timing.statements) if not timing.name.startswith("psycopg") else "2 executemany",
            f"{timing.statements / UNIT:.1f}" if not timing.name.startswith("psycopg") else "—",
        )
    console.print(tx)
    full_tx = by["RecordService.transaction"]
    if psy is not None:
        ratio = full_tx.median / psy.median
        verdict = "met" if ratio <= 2 else "NOT met"
        console.print(f"Bundle of 11 / psycopg + pgcrypto + audit row: {ratio:.1f}× — goal '≤ 2×' {verdict}")
    console.print(
        f"Bundle of 11 / 11 single creates (same run): {full_tx.median / p['fw'].median:.2f}× the time, "
        f"{full_tx.statements / UNIT:.1f} statements per resource against {p['fw'].statements / UNIT:.1f}"
    )
    audit = Table(title=f"{result.label}: audit trail, {n} entries, fresh audit database")
    for column in ("operation", "total ms", "entries/s", "× baseline time"):
        audit.add_column(column, justify="left" if column == "operation" else "right")
    for i, item in enumerate(result.audit):
        baseline = result.audit[i - i % 2].seconds
        audit.add_row(
            item.name, f"{item.seconds * 1e3:.1f}", f"{item.per_second:,.0f}", f"{item.seconds / baseline:.1f}"
        )
    console.print(audit)
    for name, shares in result.breakdown.items():
        parts = Table(title=f"{result.label}: where one full-path {name} of a unit spends (cProfile, cumulative)")
        for column in ("component", "ms", "% of unit", "statements"):
            parts.add_column(column, justify="left" if column == "component" else "right")
        whole = shares[0].seconds
        for share in shares:
            parts.add_row(
                share.component, f"{share.seconds * 1e3:.1f}", f"{share.seconds / whole:.0%}", str(share.statements)
            )
        console.print(parts)
    for name, text_ in result.profiles.items():
        console.print(f"[bold]{result.label}: cProfile of one full-path {name} of a unit (top 15, cumulative)[/bold]")
        console.print(text_, markup=False, highlight=False)


def main() -> None:
    """Measure SQLite, then PostgreSQL if it answers."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100, help="units (patients with observations) timed (default 100)")
    parser.add_argument("--profile", action="store_true", help="print cProfile of one full-path write and read")
    args = parser.parse_args()
    if args.n < 20:
        parser.error("--n must be at least 20 to give a p95.")
    console = Console(width=max(Console().width, 110))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; medians and p95 of {args.n} units"
    )
    with _sqlite_urls(3) as urls:
        _print(run_engine("SQLite, temp files", urls, args.n, profile=args.profile), args.n, console)
    if not _postgres_answers():
        console.print(f"PostgreSQL skipped: nothing answers at {POSTGRES_URL}.")
        return
    with _postgres_urls(3) as urls:
        _print(run_engine("PostgreSQL, local TCP", urls, args.n, profile=args.profile), args.n, console)


if __name__ == "__main__":
    main()
