"""FHIR read and search through the HTTP API, against the same rows through RecordService and through plain SQL.

Run: ``python bench/bench_fhir.py [--patients 2000] [--observations 2] [--repeat 60]``. SQLite in temporary files
(records and audit in separate databases, as in production). The data: ``--patients`` fictitious patients, each with
a distinct 6-letter family name and ``--observations`` observations, written through ``RecordService.create`` by one
practitioner (who thereby has a care relationship with each); the same JSON bodies go into a plain table
``(id, resource_type, patient_id, family, body)`` with indexes on ``patient_id`` and ``family``, in the same database.
Three ways, same run, same rows, measured in turn on randomly chosen patients:

- **http**: the FastAPI application in process (Starlette's TestClient, httpx; no socket), with a session cookie
  and ``X-Purpose``: ``GET /fhir/Patient/<id>``, ``GET /fhir/Observation?patient=Patient/<id>``, ``POST
  /fhir/Patient/_search`` with ``family=<first 4 letters>`` form-encoded;
- **service**: ``RecordService.read`` and ``RecordService.search_page`` with the parsed search (no HTTP);
- **sql**: a plain indexed SELECT of the same rows (``id = ?``, ``patient_id = ?``, ``family LIKE 'ABCD%'``),
  bodies parsed from JSON.

Also paging: every observation through ``_count=100`` pages (HTTP, following ``next`` links) against one plain
SELECT of them all. Medians and p95s in milliseconds; the ratios are what to compare on a shared, loaded machine.
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_records import _place, _practitioner, observation_body
from fastapi.testclient import TestClient
from sqlalchemy import Column, Index, MetaData, String, Text, insert, select
from sqlalchemy import Table as SqlTable

from santegarde.api import create_app
from santegarde.store import search as fhir_search
from santegarde.store.service import Request

PURPOSE = "medical_record"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

plain_metadata = MetaData()
plain = SqlTable(
    "bench_plain_fhir",
    plain_metadata,
    Column("id", String(64), primary_key=True),
    Column("resource_type", String(64), nullable=False),
    Column("patient_id", String(64)),
    Column("family", String(64)),
    Column("body", Text, nullable=False),
)
Index("bench_plain_fhir_patient", plain.c.patient_id)
Index("bench_plain_fhir_family", plain.c.family)


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
    args = parser.parse_args()
    rng = random.Random(17)  # noqa: S311 - which patients to ask for, not a secret
    with tempfile.TemporaryDirectory() as tmp:
        place = _place(f"sqlite:///{tmp}/records.db", f"sqlite:///{tmp}/audit.db", Path(tmp) / "keys")
        token = _practitioner(place.identity)
        req = Request(token, PURPOSE)
        plain_metadata.create_all(place.service.engine)
        started = time.perf_counter()
        rows = []
        for i in range(args.patients):
            bodies = [patient_body(i)] + [
                observation_body(f"p-{i:06d}", f"o-{i:06d}-{k}", 60.0 + k) for k in range(args.observations)
            ]
            for body in bodies:
                place.service.create(req, body)
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
            conn.execute(insert(plain), rows)
        loading = time.perf_counter() - started
        app = create_app(place.identity, records=place.service)
        client = TestClient(app, base_url="https://testserver")
        client.cookies.set("sg_session", token)
        headers = {"X-Purpose": PURPOSE}
        form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        engine = place.service.engine

        def sql_rows(where: Any) -> list[dict[str, Any]]:
            with engine.connect() as conn:
                return [json.loads(b) for b in conn.execute(select(plain.c.body).where(where)).scalars()]

        def http_json(answer: Any) -> dict[str, Any]:
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        def read_ways(i: int) -> dict[str, Callable[[], object]]:
            pid = f"p-{i:06d}"
            return {
                "http": lambda: http_json(client.get(f"/fhir/Patient/{pid}", headers=headers)),
                "service": lambda: place.service.read(req, "Patient", pid),
                "sql": lambda: sql_rows(plain.c.id == pid),
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
            }

        def by_name_ways(i: int) -> dict[str, Callable[[], object]]:
            prefix = family_of(i)[:4]
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
                "sql": lambda: check(len(sql_rows(plain.c.family.like(f"{prefix.upper()}%")))),
            }

        results: list[tuple[str, str, float, float]] = []
        for name, ways in (
            ("read Patient by id", read_ways),
            ("search Observation by patient reference", by_patient_ways),
            ("search Patient by family prefix (4 letters)", by_name_ways),
        ):
            samples: dict[str, list[float]] = {"http": [], "service": [], "sql": []}
            for n in range(args.repeat + 5):
                chosen = ways(rng.randrange(args.patients))
                for way, action in chosen.items():  # the three ways in turn, on the same patient
                    spent = timed(action)
                    if n >= 5:  # warm-up
                        samples[way].append(spent)
            for way in ("sql", "service", "http"):
                results.append((name, way, *summary(samples[way])))

        def page_all() -> int:
            url: str | None = "/fhir/Observation?_count=100"
            count = 0
            while url:
                bundle = http_json(client.get(url, headers=headers))
                count += len(bundle["entry"])
                url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
            return count

        paging_http = timed(lambda: page_all())
        paging_sql = timed(lambda: sql_rows(plain.c.resource_type == "Observation"))
        assert page_all() == args.patients * args.observations
        place.dispose()

    total = args.patients * (1 + args.observations)
    print(f"{args.patients} patients, {total} resources; loading through the path took {loading:.0f} s\n")
    print("| operation | way | median ms | p95 ms | × sql | per second |")
    print("|---|---|---|---|---|---|")
    base = {name: med for name, way, med, _ in results if way == "sql"}
    for name, way, med, p95 in results:
        print(f"| {name} | {way} | {med:.2f} | {p95:.2f} | {med / base[name]:.1f} | {1000 / med:.0f} |")
    observations = args.patients * args.observations
    print(
        f"\npaging through {observations} observations (_count=100, following next links, http): {paging_http:.1f} s; "
        f"one plain SELECT of them: {paging_sql * 1000:.0f} ms (× {paging_http / paging_sql:.0f})"
    )


if __name__ == "__main__":
    main()
