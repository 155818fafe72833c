"""The suite-wide log scan of tests/log_scan.py finds what it must, and only that (issue 25)."""

from __future__ import annotations

import logging

from log_scan import Identifying, SuiteLogs, leaks
from santegarde.synthetic.context import Context
from santegarde.synthetic.people import make_patient


def _patient() -> tuple[Identifying, dict]:
    patient, _ = make_patient(Context(seed=25))
    known = Identifying()
    known.add_patient(patient)
    return known, patient.model_dump(mode="json", exclude_none=True)


def test_each_kind_of_identifying_value_is_found_in_a_log_line() -> None:
    known, body = _patient()
    nir = body["identifier"][0]["value"]
    family = body["name"][0]["family"]
    phone = next(t["value"] for t in body["telecom"] if t["system"] == "phone")
    lines = [
        ("santegarde.api", f"refused: identifier {nir} in the URL"),
        ("santegarde.store", f"patient {family}, read"),
        ("uvicorn.error", f"callback to {phone} failed"),
        ("santegarde.api", "GET /fhir/Patient/p-1 200 (request 6f1c)"),
    ]
    assert leaks(lines, known) == [
        ("santegarde.api", "NIR/INS"),
        ("santegarde.store", "nom de famille"),
        ("uvicorn.error", "téléphone"),
    ]


def test_the_handler_keeps_arguments_extras_and_tracebacks_but_not_the_test_client() -> None:
    known, body = _patient()
    family = body["name"][0]["family"]
    keep = SuiteLogs()
    log = logging.getLogger("santegarde.test_log_scan")
    log.addHandler(keep)
    log.setLevel(logging.INFO)
    log.propagate = False  # this test's deliberate leaks stay out of the whole suite's scan (tests/conftest.py)
    try:
        log.info("opened %s", family)
        log.warning("request", extra={"who": family})
        try:
            raise ValueError(family)
        except ValueError:
            log.exception("failed")
        client = logging.getLogger("httpx")
        client.addHandler(keep)
        client.propagate = False
        try:
            client.warning("GET /fhir/Patient?family=%s", family)
        finally:
            client.removeHandler(keep)
            client.propagate = True
    finally:
        log.removeHandler(keep)
    assert [logger for logger, _ in leaks(keep.lines, known)] == ["santegarde.test_log_scan"] * 3
