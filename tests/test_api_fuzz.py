"""Schemathesis over the whole OpenAPI of the API, in-process (ASGI): no 5xx, only declared statuses and types.

A practice organisation holds synthetic patients (fixed seed); one pass runs every operation with a
two-factor session and a declared purpose, another without a session. Each pass is bounded
(``MAX_EXAMPLES`` per operation), derandomised, without a Hypothesis database and without deadlines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from santegarde.api import create_app
from santegarde.api.errors import FHIR_JSON
from santegarde.rights import RightsService
from santegarde.store.db import migrate
from santegarde.store.service import Request
from santegarde.synthetic import generate_dataset
from store_fixtures import Workplace, make_workplace

MAX_EXAMPLES = 30
SEED = 2026
PURPOSE = "medical_record"
STORED = ("Patient", "Observation", "Condition", "Encounter")
SEARCHABLE = ("identifier", "family", "given", "name", "birthdate", "gender", "_count", "patient", "code", "date")
CRITERIA = ("urn:oid:1.2.250.1.213.1.4.8|1", "|", "no-bar", "1979-03-21", "1979", "2026-13-45", "", " ")
RIGHTS = ("access", "rectification", "erasure", "restriction", "objection", "portability")
NO_BODY = object()
OTHER_PURPOSES = (
    "appointments",
    "telemedicine",
    "internal_studies",
    "research",
    "health",
    "no_such_purpose",
    "MEDICAL_RECORD",
)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


class Practice:
    """A practice with synthetic patients, a practitioner who follows them, and the rights desk."""

    def __init__(self, tmp_path: Path) -> None:
        self.place: Workplace = make_workplace(f"sqlite:///{tmp_path / 'fuzz.db'}", tmp_path)
        migrate(self.place.service.engine, package="santegarde.rights")
        self.rights = RightsService(self.place.service, organisation="Cabinet Fictif")
        self.token = self.place.person("dr.martin", "practitioner", ref="10001234567")
        self.tokens: dict[str, str] = {}
        self.stored: list[tuple[str, str]] = []  # (resource type, id) of what the practitioner recorded
        self.bodies: dict[str, dict[str, Any]] = {}  # one stored resource of each type, as sent
        for resource in generate_dataset(seed=SEED, patients=2, profile="practice").resources():
            body: dict[str, Any] = json.loads(resource.model_dump_json(by_alias=True, exclude_none=True))
            purposes = self.place.service.purposes_for("practitioner", body)
            if body["resourceType"] in STORED and purposes:
                self.place.service.create(Request(self.token, purposes[0]), body)
                self.stored.append((body["resourceType"], body["id"]))
                self.bodies.setdefault(body["resourceType"], body)
        patients = [rid for kind, rid in self.stored if kind == "Patient"]
        assert patients and len({kind for kind, _ in self.stored}) > 1
        req = Request(self.token, PURPOSE)
        access = self.rights.receive(req, "access", patients[0], "person")
        self.rights.register.record_identity_check(req, access.id, "carte d'identité présentée, conforme")
        rectification = self.rights.receive(req, "rectification", patients[-1], "person")
        self.requests = [access.id, rectification.id]
        self.app = create_app(self.place.identity, records=self.place.service, rights=self.rights)

    def token_for(self, label: str) -> str:
        """The practitioner's session for records and rights; a session of its own for each /auth operation."""
        if " /auth/" not in label:
            return self.token
        if label not in self.tokens:
            n = len(self.tokens)
            self.tokens[label] = self.place.person(f"fuzz.{n}", "practitioner", ref=f"F-{n}")
        return self.tokens[label]

    def targeted(self, operation: APIOperation) -> st.SearchStrategy[tuple[dict[str, Any], Any]]:
        """(path parameters, body) naming what exists, with nearly valid bodies: cases that pass the lookups."""
        parameters = {p.name for p in operation.path_parameters}
        no_body = st.just(NO_BODY)
        if operation.label == "POST /fhir/{resource_type}/_search":
            criteria = st.dictionaries(st.sampled_from(SEARCHABLE), st.one_of(st.sampled_from(CRITERIA), st.text()))
            return st.tuples(st.sampled_from([{"resource_type": k} for k in STORED]), criteria)
        if operation.label == "POST /fhir/{resource_type}":
            return st.sampled_from(sorted(self.bodies)).flatmap(
                lambda kind: st.tuples(st.just({"resource_type": kind}), altered(self.bodies[kind], new_id=True))
            )
        if operation.label == "PUT /fhir/{resource_type}/{rid}":
            return st.sampled_from(sorted(self.bodies)).flatmap(
                lambda kind: st.tuples(
                    st.just({"resource_type": kind, "rid": self.bodies[kind]["id"]}), altered(self.bodies[kind])
                )
            )
        if operation.label == "POST /rights/requests":
            request = st.fixed_dictionaries(
                {
                    "right": st.sampled_from(RIGHTS) | st.text(),
                    "patient_id": st.sampled_from([rid for kind, rid in self.stored if kind == "Patient"]) | st.text(),
                },
                optional={
                    "requester": st.sampled_from(["person", "legal_representative", "related_person"]) | st.text(),
                    "purpose": st.sampled_from([PURPOSE, "appointments"]) | st.text(),
                    "grounds": st.text(),
                    "older_than_five_years": st.booleans(),
                    "received_at": st.sampled_from(["2026-11-24T10:00:00Z", "2026-11-24T10:00:00", "1900-01-01"]),
                },
            )
            return st.tuples(st.just({}), request)
        if {"resource_type", "rid"} <= parameters:
            return st.tuples(st.sampled_from([{"resource_type": k, "rid": r} for k, r in self.stored]), no_body)
        if "rid" in parameters:
            patients = [{"rid": rid} for kind, rid in self.stored if kind == "Patient"]
            return st.tuples(st.sampled_from(patients), no_body)
        if "request_id" in parameters:
            return st.tuples(st.sampled_from([{"request_id": rid} for rid in self.requests]), no_body)
        return st.nothing()


def media_of(operation: APIOperation) -> str:
    """The body's media type of a targeted case: a search sends its parameters as FHIR does, form-encoded."""
    return "application/x-www-form-urlencoded" if operation.label.endswith("/_search") else "application/json"


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3)
    )


def altered(body: dict[str, Any], *, new_id: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """A stored resource with one element replaced by any JSON value (or dropped), and maybe a fresh id."""
    keys = sorted(k for k in body if k != "resourceType")

    def change(key: str, value: Any, drop: bool, rid: str) -> dict[str, Any]:
        changed = {k: v for k, v in body.items() if not (drop and k == key)}
        if not drop:
            changed[key] = value
        if new_id and key != "id":
            changed["id"] = rid
        return changed

    ids = st.from_regex(r"[A-Za-z0-9\-.]{1,64}", fullmatch=True)
    return st.builds(change, st.sampled_from(keys), json_values(), st.booleans(), ids)


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    # Hypothesis keeps no example database here (database=None), and its caches go to the test's folder.
    set_hypothesis_home_dir(tmp_path / "hypothesis")
    p = Practice(tmp_path)
    yield p
    p.place.close()
    set_hypothesis_home_dir(None)


def fuzz(practice: Practice, fixed: Callable[[APIOperation], dict[str, Any]]) -> tuple[list[str], dict[str, set[int]]]:
    """Every operation of the app's OpenAPI, ``MAX_EXAMPLES`` cases each; the failures and the statuses seen.

    Cases are valid and invalid inputs from the schema, and inputs that name what exists (``targeted``);
    ``fixed`` gives the cookies and headers to send. Every distinct failure is kept (operation, check,
    reproduction), so that one run shows all of them rather than the first. The operations are looped
    over here rather than with ``schemathesis.pytest.from_fixture``: its lazy parametrisation rewrites
    ``node._nodeid``, which pytest 9 no longer has.
    """
    failures: dict[str, str] = {}
    statuses: dict[str, set[int]] = {}
    for result in schemathesis.openapi.from_asgi("/openapi.json", practice.app).get_all_operations():
        operation = result.ok()
        kwargs = fixed(operation)
        strategies = [
            operation.as_strategy(mode, **kwargs) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        ]
        if "headers" in kwargs:  # the session pass: other purposes too, declared or not
            strategies.append(
                st.sampled_from(OTHER_PURPOSES).flatmap(
                    lambda purpose, k=kwargs, o=operation: o.as_strategy(**{**k, "headers": {"X-Purpose": purpose}})
                )
            )
        targeted = practice.targeted(operation)
        if not targeted.is_empty:
            strategies.append(
                targeted.flatmap(
                    lambda pb, k=kwargs, o=operation: (
                        o.as_strategy(path_parameters=pb[0], **k)
                        if pb[1] is NO_BODY
                        else o.as_strategy(path_parameters=pb[0], body=pb[1], media_type=media_of(o), **k)
                    )
                )
            )

        @given(case=st.one_of(strategies))
        @FUZZ
        def run(case: Any) -> None:
            label = case.operation.label
            try:
                answer = case.call_and_validate(checks=CHECKS)
                statuses.setdefault(label, set()).add(answer.status_code)
            except FailureGroup as group:
                for failure in group.exceptions:
                    failures.setdefault(f"{label}: {failure.title}: {failure.message}", str(group))
            except requests.RequestException:  # the case could not be sent: the test's fault, not the app's
                raise
            except Exception as exc:  # the app raised: a 500 (the in-process transport re-raises it)
                key = f"{label}: 500 {type(exc).__name__}"
                failures.setdefault(key, f"{key}: {exc}\n    {case.as_curl_command()}")

        run()
    return list(failures.values()), statuses


def test_every_operation_with_a_two_factor_session(practice: Practice) -> None:
    failures, statuses = fuzz(
        practice,
        lambda op: {"cookies": {"sg_session": practice.token_for(op.label)}, "headers": {"X-Purpose": PURPOSE}},
    )
    assert not failures, "\n\n".join(failures)
    # The session and the known ids take the cases past the session, the purpose and the lookups.
    for label in (
        "GET /auth/session",
        "GET /fhir/{resource_type}/{rid}",
        "GET /fhir/{resource_type}/{rid}/_history",
        "GET /rights/requests/{request_id}",
        "GET /rights/requests/{request_id}/letter",
    ):
        assert 200 in statuses[label], (label, statuses[label])


def test_every_operation_without_a_session(practice: Practice) -> None:
    """No cookie, or a made-up one: refusals only (401 for a session that does not exist), never a 5xx."""
    failures, statuses = fuzz(practice, lambda op: {})
    assert not failures, "\n\n".join(failures)
    public = {"GET /auth/charter", "GET /fhir/metadata", "POST /auth/login", "GET /fhir/{resource_type}"}
    for label, seen in statuses.items():
        if label not in public and not label.startswith("GET /auth/psc/"):
            assert 401 in seen and not any(200 <= s < 400 for s in seen), (label, seen)


def test_the_openapi_declares_the_refusals_and_fhir_answers_outcomes(practice: Practice) -> None:
    """What the fuzzing found, pinned: refusals declared, FHIR's media type, OperationOutcomes for FastAPI's 4xx."""
    client = TestClient(practice.app, base_url="https://testserver")
    paths = client.get("/openapi.json").json()["paths"]
    read = paths["/fhir/{resource_type}/{rid}"]["get"]["responses"]
    assert {"200", "400", "401", "403", "404", "409", "422", "423"} <= set(read)
    assert set(read["200"]["content"]) == set(read["404"]["content"]) == {FHIR_JSON}
    assert "201" in paths["/fhir/{resource_type}"]["post"]["responses"]
    assert {"401", "423"} <= set(paths["/auth/session"]["get"]["responses"])
    assert "429" in paths["/auth/login"]["post"]["responses"]
    assert set(paths["/rights/requests/{request_id}/letter"]["get"]["responses"]["200"]["content"]) == {
        "text/html",
        "application/pdf",
    }
    client.cookies.set("sg_session", practice.token)
    purpose = {"X-Purpose": PURPOSE, "Content-Type": "application/json"}
    shape = client.post("/fhir/Patient/_search", content=b"[1]", headers=purpose)
    assert shape.status_code == 400 and shape.headers["content-type"].startswith(FHIR_JSON)
    assert "could not be read" in shape.json()["issue"][0]["diagnostics"]
    unreadable = client.post("/fhir/Patient", content=b"\xff\xfe{", headers=purpose)
    assert unreadable.status_code in (400, 422) and unreadable.json()["resourceType"] == "OperationOutcome"
    assert "is not valid" in client.post("/auth/login", content=b"[1]", headers=purpose).json()["message"]
