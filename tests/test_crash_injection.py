"""Crash injection: kill the process at random points of the operations that delete or rewrite data.

One small practice (SQLite) is built once: fictitious patients from ``santegarde.synthetic``, a third of
them 25 years old (due for deletion), a third 7 years old (due for the archive), a third recent (one of
them with an erasure request whose identity is checked). Each trial copies it, forks, runs one operation
in the child — retention run, rights erasure, key rotation (data key or master key), backup, warehouse
feed — and ends the child with SIGKILL after a random delay, or at a named crash point
(:mod:`santegarde.faults`). Then, in the parent: the databases open, every record, archive row and
patient key that disappeared has its audit entry, ``audit verify`` passes, and running the operation
again completes it (the state equals that of an uninterrupted run).

The randomness is seeded; the seed is printed (``-s`` shows it) and ``SANTEGARDE_CRASH_SEED`` replays it.
Fork is used rather than a new interpreter so that ~50 kills stay within a few seconds each on busy cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from santegarde import faults
from santegarde.audit.trail import AuditTrail
from santegarde.cli.main import app
from santegarde.crypto import KeyFamily, ScryptParams, create_keyring, create_keystore, load_keyring, open_keystore
from santegarde.demo import demo_answers
from santegarde.identity import accounts, grants, sessions, totp
from santegarde.identity.context import IdentityContext, IdentitySettings, no_trace
from santegarde.identity.hashing import FAST_TEST_PARAMS
from santegarde.lifecycle import backup
from santegarde.lifecycle import retention as lifecycle
from santegarde.organisation import build_config, init_organisation
from santegarde.referentials import loader
from santegarde.referentials.model import Right
from santegarde.rights import RightsService, Status
from santegarde.runtime import Organisation, audit_tracer, identity_context, identity_settings, open_organisation
from santegarde.store import mapping, vault
from santegarde.store.db import make_engine, migrate
from santegarde.store.schema import archive_record, patient_key, record
from santegarde.store.service import RecordService, Request
from santegarde.synthetic import generate_dataset
from santegarde.warehouse import Warehouse
from santegarde.warehouse.access import Operator, WarehouseGuard
from santegarde.warehouse.feed import DataList
from santegarde.warehouse.omop import OMOP_TABLES
from warehouse_governance_fixtures import staff

PASS = "crash injection passphrase, fictitious"
NEW_PASS = "crash injection passphrase, rotated"
PASSWORD = "Tisane-Violette-7-Horloge!"
PATIENTS = 18
DELETE_OPS = {"retention.delete", "retention.anonymise", "retention.archive", "erase"}
KEY_OPS = {"retention.keys_destroyed", "erase.keys_destroyed"}
FEEDER = Operator("feed.bot", "feeding")
FULL = {f"{t}.{c.name}": "needed by the warehouse purposes" for t, cols in OMOP_TABLES.items() for c in cols}
POINTS = {
    "retention": ["retention.staged", "retention.intent", "retention.committed"],
    "erasure": ["erase.intent", "erase.committed", "rights.erased"],
    "rotation": [
        "keys.rotate.intent",
        "keys.rotate.saved",
        "keys.master.intent",
        "keys.master.pending",
        "keys.master.keystore",
        "keys.master.done",
    ],
    "backup": [],
    "feed": [],
}
TRIALS = {"retention": 12, "erasure": 10, "rotation": 10, "backup": 7, "feed": 5}


# -- the organisation, built once ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    directory: Path
    token: str
    request_id: int
    warehouse: Path


def _config(directory: Path) -> Path:
    return directory / "org" / "santegarde.yaml"


def _person(ctx: IdentityContext) -> str:
    _, temporary = accounts.add(ctx, "dr.crash", "Dr Crash Fictif", person_ref="10001234567", by="admin")
    assert temporary
    grants.give(
        ctx, "dr.crash", "practitioner", validated_by="Responsable", validator_role="governance_body",
        reason="crash tests", by="admin",
    )  # fmt: skip
    result = sessions.login(ctx, "dr.crash", temporary, source="10.0.0.1", workstation_class="office")
    sessions.change_password(ctx, result.token, temporary, PASSWORD)
    sessions.accept_charter(ctx, result.token, ctx.settings.charter_version)
    secret = totp.new_secret()
    sessions.enrol_second_factor(ctx, result.token, secret, pyotp.TOTP(secret).at(ctx.now()))
    return result.token


def _build_practice(directory: Path, seed: int) -> tuple[str, int]:
    ref = loader.for_profile("practice")
    choices, justifications = demo_answers(ref)
    config, ref = build_config(
        directory / "org", "practice", organisation_name="Cabinet Crash (fictif)", choices=choices,
        justifications=justifications,
    )  # fmt: skip
    init_organisation(directory / "org", config, ref)
    keydir = Path(config.keyring_path)
    create_keyring(create_keystore(keydir, PASS, ScryptParams(n=2**10, r=8, p=1)), keydir)
    org = open_organisation(_config(directory), PASS)
    try:
        settings = replace(identity_settings(org.config), hash_params=FAST_TEST_PARAMS)
        ctx = IdentityContext(org.engine, org.referential, org.keyring, audit_tracer(org), settings)
        token = _person(ctx)
        service = RecordService(org.engine, org.referential, org.keyring, org.audit, ctx)
        patients: list[str] = []
        erased = ""  # the third patient, known only to the appointment book: the medical record is never erased
        for resource in generate_dataset(seed, PATIENTS, "practice").resources():
            body = json.loads(resource.model_dump_json(by_alias=True, exclude_none=True))
            if body["resourceType"] == "Patient" and len(patients) == 2:
                erased = body["id"]
                body.pop("identifier", None)  # no INS nor NIR: the appointment book does not need them
            purposes = service.purposes_for("practitioner", body)
            if erased and erased in (body.get("id"), mapping.patient_of(body)):
                purposes = [p for p in purposes if p == "appointments"]
            if purposes:
                service.create(Request(token, purposes[0]), body)
                if body["resourceType"] == "Patient":
                    patients.append(body["id"])
        now = datetime.now(UTC)
        with org.engine.begin() as conn:  # age the files: a third due for deletion, a third for the archive
            for years, group in ((25, patients[0::3]), (7, patients[1::3])):
                conn.execute(
                    update(record)
                    .where(record.c.patient_id.in_(group))
                    .values(created_at=now - timedelta(days=365 * years + 30))
                )
        rights = RightsService(service, config=org.config)
        req = Request(token, "medical_record")
        request = rights.receive(req, Right.ERASURE, erased, "person")
        rights.register.record_identity_check(req, request.id, "carte d'identité présentée, conforme")
        return token, request.id
    finally:
        org.close()


def _build_warehouse(directory: Path, seed: int) -> None:
    keydir = directory / "keyring"
    ring = create_keyring(create_keystore(keydir, PASS, ScryptParams(n=2**10, r=8, p=1)), keydir)
    engine = make_engine(f"sqlite:///{directory / 'identity.db'}")
    migrate(engine, package="santegarde.identity")
    migrate(engine)
    ctx = IdentityContext(engine, loader.get("eds-2021-118"), ring, no_trace, IdentitySettings())
    staff(ctx, FEEDER.login, "feeding")
    engine.dispose()
    audit = make_engine(f"sqlite:///{directory / 'audit.db'}")
    migrate(audit, package="santegarde.audit")
    audit.dispose()
    warehouse, trail = _open_warehouse(directory)  # created once: its encrypted stores take seconds to set up
    warehouse.close()
    trail.engine.dispose()
    (directory / "in").mkdir()
    (directory / "in" / "bundle.json").write_text(
        generate_dataset(seed, 12, profile="warehouse").bundle().json(), encoding="utf-8"
    )


@pytest.fixture(scope="module")
def seed() -> int:
    chosen = int(os.environ.get("SANTEGARDE_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\ncrash injection seed: {chosen} (replay with SANTEGARDE_CRASH_SEED={chosen})")
    return chosen


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, seed: int) -> Template:
    directory = tmp_path_factory.mktemp("crash-template")
    token, request_id = _build_practice(directory, seed % 1000)
    _build_warehouse(directory / "warehouse", seed % 1000)
    return Template(directory, token, request_id, directory / "warehouse")


def _copy(template: Template, target: Path) -> Path:
    shutil.copytree(template.directory, target)
    config = _config(target)
    config.write_text(config.read_text().replace(str(template.directory), str(target)))
    return target


# -- what is there, and what the trail says --------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    live: frozenset[str]
    archived: frozenset[str]
    keyed: frozenset[str]


def _passphrase(directory: Path) -> str:
    keydir = directory / "org" / "keyring"
    for candidate in (NEW_PASS, PASS):
        try:
            open_keystore(keydir, candidate)
            return candidate
        except Exception:
            continue
    raise AssertionError("the keystore opens with neither the old nor the new passphrase")


def _state(org: Organisation) -> State:
    with org.engine.connect() as conn:
        live = frozenset(conn.execute(select(record.c.id)).scalars())
        archived = frozenset(conn.execute(select(archive_record.c.id)).scalars())
        keyed = frozenset(conn.execute(select(patient_key.c.patient_id)).scalars())
    return State(live, archived, keyed)


def _trail(org: Organisation) -> list[dict[str, Any]]:
    with org.audit.engine.connect() as conn:
        return [dict(e.content) for e in org.audit.entries(conn)]


def _check_traced(before: State, org: Organisation, label: str) -> State:
    """Every record, archive row and patient key gone since ``before`` has its entry; the trail verifies."""
    after = _state(org)
    entries = _trail(org)
    traced = {e["resource_id"] for e in entries if e["operation"] in DELETE_OPS}
    keys = {e["resource_id"] for e in entries if e["operation"] in KEY_OPS}
    assert (before.live - after.live) <= traced, f"{label}: records gone untraced"
    assert (before.archived - after.archived) <= traced, f"{label}: archive rows gone untraced"
    assert (before.keyed - after.keyed) <= keys, f"{label}: patient keys destroyed untraced"
    report = org.audit.verify()
    assert report.intact, f"{label}: {[str(p) for p in report.problems]}"
    return after


# -- the operations, as the child runs them and as the parent re-runs them ---------------------------------------


def _retention(directory: Path, template: Template) -> None:
    org = open_organisation(_config(directory), _passphrase(directory))
    try:
        lifecycle.run(org, datetime.now(UTC), batch=5)
    finally:
        org.close()


def _erasure(directory: Path, template: Template) -> None:
    org = open_organisation(_config(directory), _passphrase(directory))
    try:
        service = RecordService(org.engine, org.referential, org.keyring, org.audit, identity_context(org))
        rights = RightsService(service, config=org.config)
        if rights.get(template.request_id).status is not Status.EXECUTED:
            assert rights.execute(Request(template.token, "medical_record"), template.request_id).executed
    finally:
        org.close()


def _rotation(directory: Path, template: Template, master: bool) -> None:
    config = str(_config(directory))
    args = ["keys", "rotate-master"] if master else ["keys", "rotate", "health"]
    old = _passphrase(directory)
    env = {"SANTEGARDE_PASSPHRASE": old, "SANTEGARDE_NEW_PASSPHRASE": NEW_PASS if old == PASS else PASS}
    result = CliRunner().invoke(app, [*args, "--config", config], env=env)
    assert result.exit_code == 0, result.output


def _backup(directory: Path, template: Template) -> None:
    org = open_organisation(_config(directory), _passphrase(directory))
    try:
        backup.create_backup(org, directory / "backups", by="crash-test")
    finally:
        org.close()


def _open_warehouse(directory: Path) -> tuple[Warehouse, AuditTrail]:
    keydir = directory / "keyring"
    ring = load_keyring(open_keystore(keydir, PASS), keydir)
    engine = make_engine(f"sqlite:///{directory / 'identity.db'}")
    ctx = IdentityContext(engine, loader.get("eds-2021-118"), ring, no_trace, IdentitySettings())
    _, seal = ring.key(KeyFamily.AUDIT_SEAL)
    trail = AuditTrail(make_engine(f"sqlite:///{directory / 'audit.db'}"), seal)
    return Warehouse.open(directory / "store", ring, guard=WarehouseGuard(ctx, trail)), trail


def _feed(directory: Path, template: Template) -> None:
    warehouse, trail = _open_warehouse(directory / "warehouse")
    try:
        warehouse.feed_fhir(
            [directory / "warehouse" / "in" / "bundle.json"], DataList.from_mapping(FULL), source="dpi", operator=FEEDER
        )
    finally:
        warehouse.close()
        trail.engine.dispose()


def _persons(directory: Path) -> int:
    warehouse, trail = _open_warehouse(directory / "warehouse")
    try:
        row = warehouse.omop.execute("SELECT count(*) FROM omop.person").fetchone()
        assert trail.verify().intact
        return int(row[0]) if row else 0
    finally:
        warehouse.close()
        trail.engine.dispose()


Operation = Callable[[Path, Template], None]
OPERATIONS: dict[str, Operation] = {
    "retention": _retention,
    "erasure": _erasure,
    "rotation": lambda d, t: _rotation(d, t, master=False),
    "master": lambda d, t: _rotation(d, t, master=True),
    "backup": _backup,
    "feed": _feed,
}


# -- killing ------------------------------------------------------------------------------------------------------


def _child(operation: Operation, directory: Path, template: Template, point: str | None) -> None:
    """In the forked child: arm the crash point, run, and leave without running the parent's clean-up."""
    code = 0
    try:
        faults.armed = point
        operation(directory, template)
    except BaseException:
        traceback.print_exc()
        code = 3
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _killed(operation: Operation, directory: Path, template: Template, point: str | None, delay: float) -> str:
    """Run ``operation`` in a child, killed at ``point`` or with SIGKILL after ``delay`` s; how it ended."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        _child(operation, directory, template, point)
    deadline = time.monotonic() + (delay if point is None else 120.0)
    done, status = os.waitpid(pid, os.WNOHANG)
    while not done and time.monotonic() < deadline:
        time.sleep(0.002)
        done, status = os.waitpid(pid, os.WNOHANG)
    if not done:
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return "killed"
    code = os.WEXITSTATUS(status)
    assert code != 3, f"the operation failed in the child (see its traceback above), crash point {point}"
    return "crash point" if code == faults.CRASH_EXIT else "finished"


def _timed(operation: Operation, directory: Path, template: Template) -> float:
    start = time.monotonic()
    assert _killed(operation, directory, template, None, 60.0) == "finished"
    return time.monotonic() - start


# -- the test -----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _open(directory: Path) -> Iterator[Organisation]:
    org = open_organisation(_config(directory), _passphrase(directory))
    try:
        yield org
    finally:
        org.close()


def test_killed_anywhere_nothing_disappears_untraced_and_a_rerun_completes(
    template: Template, seed: int, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    with _open(template.directory) as org:
        start = _state(org)
    # Uninterrupted runs: the expected end state, and how long each operation takes (the range of the delays).
    expected: dict[str, State] = {}
    duration: dict[str, float] = {}
    for name in ("retention", "erasure", "backup", "feed", "rotation"):
        reference = _copy(template, tmp_path / f"reference-{name}")
        duration[name] = _timed(OPERATIONS[name], reference, template)
        with _open(reference) as org:
            expected[name] = _check_traced(start, org, f"uninterrupted {name}")
    assert start.live - expected["retention"].live and expected["retention"].archived
    assert start.keyed - expected["erasure"].keyed
    persons = _persons(tmp_path / "reference-feed")
    assert persons > 0
    kills = 0
    outcomes: dict[str, int] = {}
    for name, count in TRIALS.items():
        points = POINTS[name]
        for n in range(count):
            point = points[n] if n < len(points) else None  # each crash point once, then random kills
            master = name == "rotation" and (point.startswith("keys.master") if point else n % 2 == 1)
            operation = OPERATIONS["master" if master else name]
            delay = rng.uniform(0.05, 0.85) * duration[name]  # the child's run: shorter than fork, run and exit
            for attempt in range(4):  # a run that beat its kill (the machine got faster) is tried again, sooner
                directory = _copy(template, tmp_path / f"{name}-{n}-{attempt}")
                how = _killed(operation, directory, template, point, delay)
                if how != "finished" or point is not None:
                    break
                delay /= 2
            outcomes[how] = outcomes.get(how, 0) + 1
            kills += how != "finished"
            label = f"{name} #{n} ({how} {point or f'after {delay:.3f} s'}, seed {seed})"
            with _open(directory) as org:  # the databases open
                _check_traced(start, org, label)
            operation(directory, template)  # the re-run completes the interrupted work
            with _open(directory) as org:
                end = _check_traced(start, org, f"{label}, re-run")
                if name in ("retention", "erasure"):
                    assert end == expected[name], f"{label}: the re-run did not complete the work"
                    assert not [e for e in _trail(org) if e.get("outcome") == "error"]
                if name == "erasure":
                    rights = RightsService(
                        RecordService(org.engine, org.referential, org.keyring, org.audit, identity_context(org))
                    )
                    assert rights.get(template.request_id).status is Status.EXECUTED, label
                if name == "rotation":
                    with org.engine.connect() as conn:  # the data keys still unwrap every patient key
                        held = conn.execute(  # the families each patient has a key of (not all have health)
                            select(patient_key.c.patient_id, patient_key.c.family).where(
                                patient_key.c.patient_id.in_(sorted(end.keyed)[:3])
                            )
                        ).all()
                        assert held, label
                        for patient, family in held:
                            vault.PatientKeys(org.keyring).get(
                                conn, patient, KeyFamily(family), datetime.now(UTC), create=False
                            )
                if name == "backup":
                    files = backup.list_backups(directory / "backups")
                    assert files and all(f.tables for f in files), f"{label}: a backup is half-written"
            if name == "feed":
                assert _persons(directory) == persons, label
    print(f"crash injection: {kills} kills, outcomes {outcomes}, seed {seed}")
    assert kills >= 0.7 * sum(TRIALS.values())  # most trials are really interrupted
