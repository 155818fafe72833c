"""FHIR read and search through the HTTP API, against the same rows through RecordService and through plain SQL.

Run: ``python bench/bench_fhir.py [--patients 2000] [--observations 2] [--repeat 60] [--batch 50]``. SQLite in
temporary files (records and audit in separate databases, as in production). The data: ``--patients`` fictitious
patients, each with a distinct 6-letter family name and ``--observations`` observations, written through the record
path by one practitioner (who thereby has a care relationship with each), ``--batch`` patients and their
observations per ``RecordService.transaction`` (each write decided, encrypted, indexed and traced as a create is; one
transaction and one audit batch for the lot, which is what makes a 100,000-resource store loadable in a run); the
same JSON bodies go into a plain table
``(id, resource_type, patient_id, family, body)`` with indexes on ``(patient_id, resource_type, id)``,
``family`` and ``(resource_type, id)``, in the same database.
Three ways, same run, same rows, measured in turn on randomly chosen patients:

- **http**: the FastAPI application in process (Starlette's TestClient, httpx; no socket), with a session cookie
  and ``X-Purpose``: ``GET /fhir/Patient/<id>``, ``GET /fhir/Observation?patient=Patient/<id>``, ``POST
  /fhir/Patient/_search`` with ``family=<first 4 letters>`` form-encoded;
- **service**: ``RecordService.read`` and ``RecordService.search_page`` with the parsed search (no HTTP);
- **sql**: a plain indexed SELECT of the same rows (``id = ?``, ``patient_id = ?``, a range on ``family`` for the
  prefix), bodies parsed from JSON;
- **sql+audit**: the same SELECT, then one audit row for the request (who, what, when, the ids returned) inserted
  and committed in an audit database of its own with the same durability as the trail's (WAL,
  ``synchronous=FULL``) before the rows are handed back: what a user who must trace every access before answering
  would write by hand, the fair baseline for "audited before the answer leaves".

``--store DIR`` keeps the loaded store in ``DIR`` (the databases, the keyring, the practitioner's session token and
the bench's fixed instant, all fictitious) and reuses it in later runs, whatever ``--patients`` says: a 100,000-resource
store is loaded once, then the search path measured against it as it changes.

Also paging: the first ``--paged`` observations through ``_count=100`` pages (HTTP, following ``next`` links) against
one plain SELECT of as many. Medians and p95s in milliseconds; the ratios are what to compare on a shared, loaded
machine.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_records import Place, _fixed_clock, _place, _practitioner, observation_body
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Column, Index, Integer, MetaData, String, Text, insert, select
from sqlalchemy import Table as SqlTable

from santegarde.api import create_app
from santegarde.audit.trail import AuditTrail
from santegarde.crypto import KeyFamily, load_keyring, open_keystore
from santegarde.identity.context import IdentityContext, IdentitySettings, no_trace
from santegarde.identity.hashing import FAST_TEST_PARAMS
from santegarde.referentials import loader
from santegarde.store import search as fhir_search
from santegarde.store.bundle import Write
from santegarde.store.db import make_engine, migrate
from santegarde.store.service import RecordService, Request

PURPOSE = "medical_record"
WAYS = ("sql", "sql+audit", "service", "http sql+audit", "http")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

plain_metadata = MetaData()
fair_metadata = MetaData()
fair_audit = SqlTable(
    "bench_fair_audit",
    fair_metadata,
    Column("seq", Integer, primary_key=True),
    Column("content", Text, nullable=False),
)
plain = SqlTable(
    "bench_plain_fhir",
    plain_metadata,
    Column("id", String(64), primary_key=True),
    Column("resource_type", String(64), nullable=False),
    Column("patient_id", String(64)),
    Column("family", String(64)),
    Column("body", Text, nullable=False),
)
Index("bench_plain_fhir_patient_type", plain.c.patient_id, plain.c.resource_type, plain.c.id)
Index("bench_plain_fhir_family", plain.c.family)
Index("bench_plain_fhir_type", plain.c.resource_type, plain.c.id)


def family_of(index: int) -> str:
    """A distinct 6-letter family name per patient (fictitious)."""
    n, letters = (index * 7919 + 12345) % 26**6, []
    for _ in range(6):
        n, r = divmod(n, 26)
        letters.append(LETTERS[r])
    return "".join(letters).capitalize()


def patient_body(index: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"p-{index:06d}",
        "name": [{"family": family_of(index), "given": ["Alix"]}],
        "gender": "female",
        "birthDate": f"{1940 + index % 60}-03-21",
    }


STATE = "bench_fhir_state.json"
PASSPHRASE = "correct horse battery staple"  # noqa: S105 - the keystore bench_records._place creates, fictitious


def reopened(directory: Path) -> tuple[Place, dict[str, Any]]:
    """The store an earlier run loaded into ``directory``, at the instant it was loaded (the session still fresh)."""
    saved = json.loads((directory / STATE).read_text(encoding="utf-8"))
    engine = make_engine(f"sqlite:///{directory}/records.db")
    migrate(engine, package="santegarde.identity")
    migrate(engine)
    ring = load_keyring(open_keystore(directory / "keys", PASSPHRASE), directory / "keys")
    clock = _fixed_clock(datetime.fromisoformat(saved["at"]))
    settings = IdentitySettings(hash_params=FAST_TEST_PARAMS)
    identity = IdentityContext(engine, loader.get("pra-2020-081"), ring, no_trace, settings, clock=clock)
    audit_engine = make_engine(f"sqlite:///{directory}/audit.db")
    migrate(audit_engine, package="santegarde.audit")
    _, seal = ring.key(KeyFamily.AUDIT_SEAL)
    audit = AuditTrail(audit_engine, seal, clock=clock)
    return Place(RecordService(engine, identity.referential, ring, audit, identity), identity, audit), saved


def load(place: Place, req: Request, patients: int, observations: int, batch: int) -> None:
    """The fictitious practice through the record path, ``batch`` patients per transaction, and the plain table."""
    plain_metadata.create_all(place.service.engine)
    rows: list[dict[str, Any]] = []
    pending: list[Write] = []
    for i in range(patients):
        bodies = [patient_body(i)] + [
            observation_body(f"p-{i:06d}", f"o-{i:06d}-{k}", 60.0 + k) for k in range(observations)
        ]
        pending += [Write(body, creating=True) for body in bodies]
        if (i + 1) % batch == 0 or i + 1 == patients:
            place.service.transaction(req, pending)
            pending = []
        rows += [
            {
                "id": b["id"],
                "resource_type": b["resourceType"],
                "patient_id": f"p-{i:06d}",
                "family": family_of(i).upper() if b["resourceType"] == "Patient" else None,
                "body": json.dumps(b),
            }
            for b in bodies
        ]
    with place.service.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(plain), rows[start : start + 5000])


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def summary(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples) * 1000, statistics.quantiles(samples, n=20, method="inclusive")[18] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--observations", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--paged", type=int, default=10_000, help="observations to page through (at most)")
    parser.add_argument("--batch", type=int, default=50, help="patients (with their observations) per transaction")
    parser.add_argument("--store", type=Path, help="keep the loaded store in this directory, or reuse it")
    args = parser.parse_args()
    rng = random.Random(17)  # noqa: S311 - which patients to ask for, not a secret
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        tmp = args.store or Path(scratch)
        started = time.perf_counter()
        reused = (tmp / STATE).exists()
        if reused:
            place, saved = reopened(tmp)
            token, args.patients, args.observations = saved["token"], saved["patients"], saved["observations"]
            req = Request(token, PURPOSE)
        else:
            tmp.mkdir(parents=True, exist_ok=True)
            place = _place(f"sqlite:///{tmp}/records.db", f"sqlite:///{tmp}/audit.db", tmp / "keys")
            token = _practitioner(place.identity)
            req = Request(token, PURPOSE)
            load(place, req, args.patients, args.observations, args.batch)
            state = {"at": place.identity.now().isoformat(), "token": token}
            state |= {"patients": args.patients, "observations": args.observations}
            (tmp / STATE).write_text(json.dumps(state), encoding="utf-8")
        loading = time.perf_counter() - started
        app = create_app(place.identity, records=place.service)
        # One client for the run (its event loop started once, as a server's is), not a new loop per request.
        client = stack.enter_context(TestClient(app, base_url="https://testserver"))
        client.cookies.set("sg_session", token)
        headers = {"X-Purpose": PURPOSE}
        form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        engine = place.service.engine
        for index in plain.indexes:  # a store kept by an earlier version of this bench may lack one
            index.create(engine, checkfirst=True)

        def sql_rows(where: Any) -> list[dict[str, Any]]:
            with engine.connect() as conn:
                return [json.loads(b) for b in conn.execute(select(plain.c.body).where(where)).scalars()]

        fair_engine = make_engine(f"sqlite:///{tmp}/fair_audit.db")  # WAL, synchronous=FULL, as the trail's
        fair_metadata.create_all(fair_engine)

        def audited_rows(where: Any) -> list[dict[str, Any]]:
            """The plain SELECT, and one audit row for it committed before the rows are returned."""
            with engine.connect() as conn:
                rows = conn.execute(select(plain.c.id, plain.c.body).where(where)).all()
            line = {"actor": "dr.martin", "operation": "search", "purpose": PURPOSE, "ids": [r.id for r in rows]}
            with fair_engine.begin() as conn:
                conn.execute(insert(fair_audit).values(content=json.dumps(line)))
            return [json.loads(r.body) for r in rows]

        def http_json(answer: Any) -> dict[str, Any]:
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        # The HTTP baseline: the same FastAPI, the same transport (TestClient), a route answering the plain SELECT
        # and its one committed audit row, as a plain JSON list: what the framework itself costs a request.
        plain_app = FastAPI()

        @plain_app.get("/plain/{column}/{value}")
        def plain_route(column: str, value: str) -> list[dict[str, Any]]:
            if column == "family":
                upper = value.upper()
                return audited_rows((plain.c.family >= upper) & (plain.c.family < upper[:-1] + chr(ord(upper[-1]) + 1)))
            if column == "patient":
                return audited_rows((plain.c.patient_id == value) & (plain.c.resource_type == "Observation"))
            return audited_rows(plain.c.id == value)

        plain_client = stack.enter_context(TestClient(plain_app, base_url="https://testserver"))

        def plain_http(column: str, value: str) -> list[Any]:
            answer = plain_client.get(f"/plain/{column}/{value}")
            assert answer.status_code == 200, answer.text
            return list(answer.json())

        def read_ways(i: int) -> dict[str, Callable[[], object]]:
            pid = f"p-{i:06d}"
            return {
                "http": lambda: http_json(client.get(f"/fhir/Patient/{pid}", headers=headers)),
                "service": lambda: place.service.read(req, "Patient", pid),
                "sql": lambda: sql_rows(plain.c.id == pid),
                "sql+audit": lambda: audited_rows(plain.c.id == pid),
                "http sql+audit": lambda: plain_http("id", pid),
            }

        def by_patient_ways(i: int) -> dict[str, Callable[[], object]]:
            pid = f"p-{i:06d}"
            query = fhir_search.parse("Observation", [("patient", f"Patient/{pid}")])

            def check(found: int) -> None:
                assert found == args.observations, found

            return {
                "http": lambda: check(
                    len(http_json(client.get(f"/fhir/Observation?patient=Patient/{pid}", headers=headers))["entry"])
                ),
                "service": lambda: check(len(place.service.search_page(req, query).entries)),
                "sql": lambda: check(
                    len(sql_rows((plain.c.patient_id == pid) & (plain.c.resource_type == "Observation")))
                ),
                "sql+audit": lambda: check(
                    len(audited_rows((plain.c.patient_id == pid) & (plain.c.resource_type == "Observation")))
                ),
                "http sql+audit": lambda: check(len(plain_http("patient", pid))),
            }

        def by_name_ways(i: int) -> dict[str, Callable[[], object]]:
            prefix = family_of(i)[:4]
            upper = prefix.upper()
            following = upper[:-1] + chr(ord(upper[-1]) + 1)
            query = fhir_search.parse("Patient", [("family", prefix)])

            def check(found: int) -> None:
                assert found >= 1, prefix

            return {
                "http": lambda: check(
                    len(
                        http_json(client.post("/fhir/Patient/_search", content=f"family={prefix}", headers=form))[
                            "entry"
                        ]
                    )
                ),
                "service": lambda: check(len(place.service.search_page(req, query).entries)),
                # A range on the index (SQLite's LIKE is case-insensitive and would scan the table instead).
                "sql": lambda: check(len(sql_rows((plain.c.family >= upper) & (plain.c.family < following)))),
                "sql+audit": lambda: check(len(audited_rows((plain.c.family >= upper) & (plain.c.family < following)))),
                "http sql+audit": lambda: check(len(plain_http("family", prefix))),
            }

        results: list[tuple[str, str, float, float]] = []
        for name, ways in (
            ("read Patient by id", read_ways),
            ("search Observation by patient reference", by_patient_ways),
            ("search Patient by family prefix (4 letters)", by_name_ways),
        ):
            samples: dict[str, list[float]] = {w: [] for w in WAYS}
            for n in range(args.repeat + 5):
                chosen = ways(rng.randrange(args.patients))
                for way, action in chosen.items():  # the three ways in turn, on the same patient
                    spent = timed(action)
                    if n >= 5:  # warm-up
                        samples[way].append(spent)
            for way in WAYS:
                results.append((name, way, *summary(samples[way])))

        paged = min(args.paged, args.patients * args.observations)

        def page_all() -> int:
            url: str | None = "/fhir/Observation?_count=100"
            count = 0
            while url and count < paged:
                bundle = http_json(client.get(url, headers=headers))
                count += len(bundle["entry"])
                url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
            return count

        started = time.perf_counter()
        assert page_all() >= paged
        paging_http = time.perf_counter() - started
        with engine.connect() as conn:
            first = select(plain.c.body).where(plain.c.resource_type == "Observation").order_by(plain.c.id)
            paging_sql = timed(lambda: [json.loads(b) for b in conn.execute(first.limit(paged)).scalars()])

        def page_all_audited() -> None:  # the same pages, each traced by one committed audit row
            after = ""
            for _ in range(0, paged, 100):
                where = (plain.c.resource_type == "Observation") & (plain.c.id > after)
                page = select(plain.c.id, plain.c.body).where(where).order_by(plain.c.id).limit(100)
                with engine.connect() as conn:
                    rows = conn.execute(page).all()
                line = {"actor": "dr.martin", "operation": "search", "ids": [r.id for r in rows]}
                with fair_engine.begin() as conn:
                    conn.execute(insert(fair_audit).values(content=json.dumps(line)))
                [json.loads(r.body) for r in rows]
                after = rows[-1].id

        paging_fair = timed(page_all_audited)
        fair_engine.dispose()
        place.dispose()

    total = args.patients * (1 + args.observations)
    how = "reopening the store loaded by an earlier run" if reused else "loading through the path"
    print(f"{args.patients} patients, {total} resources; {how} took {loading:.0f} s\n")
    print("| operation | way | median ms | p95 ms | × sql | × sql+audit (http: × http sql+audit) | per second |")
    print("|---|---|---|---|---|---|---|")
    base = {name: med for name, way, med, _ in results if way == "sql"}
    fair = {name: med for name, way, med, _ in results if way == "sql+audit"}
    fair_http = {name: med for name, way, med, _ in results if way == "http sql+audit"}
    for name, way, med, p95 in results:
        against = fair_http if way.startswith("http") else fair
        print(
            f"| {name} | {way} | {med:.2f} | {p95:.2f} | {med / base[name]:.1f} | {med / against[name]:.1f} "
            f"| {1000 / med:.0f} |"
        )
    print(
        f"\npaging through {paged} observations (_count=100, following next links, http): {paging_http:.1f} s; "
        f"one plain SELECT of them: {paging_sql * 1000:.0f} ms (× {paging_http / paging_sql:.0f}); "
        f"the same pages of 100 by plain SELECTs, each with one audit row committed: {paging_fair:.2f} s "
        f"(× {paging_http / paging_fair:.1f})"
    )


if __name__ == "__main__":
    main()
