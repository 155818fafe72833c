"""santegarde rights request | identity-check | extend | execute | status | letter: the rights desk (COM-RGT-1).

The same operations as ``/rights`` over HTTP, under the handling professional's own session
(``santegarde login``) and a declared purpose; execution goes through the record path like every
other access. Answers that carry the person's data (access, portability) are written to new files
readable only by the user, never printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from santegarde.atomic import AlreadyExists, write_new_bytes
from santegarde.cli.common import console, friendly_errors
from santegarde.cli.organisation import ConfigOption
from santegarde.cli.records import PurposeOption, records_of, request_for
from santegarde.cli.session import CliSession, logged_in
from santegarde.config import CONFIG_NAME
from santegarde.identity import sessions
from santegarde.referentials.model import Right
from santegarde.rights.execute import RightsService
from santegarde.rights.requests import OPEN, Requester, RightsError, RightsRequest

app = typer.Typer(help="Data-subject requests: register, check identity, execute, answer.", no_args_is_help=True)

REQUESTERS = {
    "person": Requester.PERSON,
    "representative": Requester.LEGAL_REPRESENTATIVE,
    "legal_representative": Requester.LEGAL_REPRESENTATIVE,
    "related_person": Requester.RELATED_PERSON,
}
WITH_DATA = (Right.ACCESS, Right.PORTABILITY)
IdArg = Annotated[int, typer.Argument(metavar="ID", help="The request number in the register")]


def desk(s: CliSession) -> RightsService:
    """The rights service of the organisation, as the API builds it."""
    org = s.org
    return RightsService(records_of(s), config=org.config, organisation=org.config.organisation.name, audit=org.audit)


def _requester(value: str) -> Requester:
    if value not in REQUESTERS:
        raise RightsError(f"'{value}' is not a kind of requester; use one of: person, representative, related_person.")
    return REQUESTERS[value]


def _show(request: RightsRequest) -> None:
    console.print(
        f"Request {request.id}: {request.right} for patient {request.patient_id} ({request.requester}), "
        f"{request.status}; due {request.deadline:%Y-%m-%d} ({request.deadline_rule}).",
        soft_wrap=True,
    )


def _new_file(path: Path, data: bytes) -> None:
    write_new_bytes(path, data, mode=0o600)
    console.print(f"Written to {path} (readable by you only).")


def _answer_files(out_dir: Path | None, request: RightsRequest) -> tuple[Path, Path] | None:
    """Where an answer carrying data goes; refused before execution when it has nowhere to go."""
    if request.right not in WITH_DATA or request.status not in OPEN:
        return None  # no data to write, or already answered (execute says so)
    if out_dir is None:
        raise RightsError(
            f"The answer to a request of {request.right} carries the person's data: give --out-dir DIR "
            "to write it to files before executing."
        )
    files = (out_dir / f"rights-{request.id}-bundle.json", out_dir / f"rights-{request.id}-summary.html")
    for path in files:
        if path.exists():
            raise AlreadyExists(path)
    return files


def _corrected(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RightsError(f"Cannot read the corrected resource from {path} ({exc}); give a FHIR JSON file.") from None
    if not isinstance(data, dict):
        raise RightsError(f"{path} does not hold one FHIR resource (a JSON object); give the corrected resource.")
    return data


@app.command("request")
@friendly_errors
def request(
    right: Annotated[
        str, typer.Option("--right", help="access, rectification, erasure, restriction, objection, portability")
    ],
    patient: Annotated[str, typer.Option("--patient", help="The patient's id")],
    purpose: PurposeOption,
    requester: Annotated[str, typer.Option("--requester", help="person, representative or related_person")] = "person",
    grounds: Annotated[str | None, typer.Option("--grounds", help="What the person disputes or asks")] = None,
    concerns: Annotated[
        str | None,
        typer.Option("--concerns", help="The purpose the request is about (objection, portability; medical_record)"),
    ] = None,
    older: Annotated[
        bool, typer.Option("--older-than-five-years", help="The information asked is over five years old")
    ] = False,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Register a request as received; its deadline is computed."""
    kind = _requester(requester)
    with logged_in(config) as s:
        created = desk(s).receive(
            request_for(s, purpose),
            right,
            patient,
            kind,
            purpose=concerns,
            grounds=grounds,
            older_than_five_years=older,
        )
    _show(created)
    console.print(f"Next: check the requester's identity, then santegarde rights identity-check {created.id} --how …")


@app.command("identity-check")
@friendly_errors
def identity_check(
    request_id: IdArg,
    how: Annotated[str, typer.Option("--how", help="How the requester's identity (and standing) was checked")],
    purpose: PurposeOption,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Record how the requester's identity was checked (required before execution)."""
    with logged_in(config) as s:
        _show(desk(s).register.record_identity_check(request_for(s, purpose), request_id, how))


@app.command("extend")
@friendly_errors
def extend(
    request_id: IdArg,
    reason: Annotated[str, typer.Option("--reason", help="Why more time is needed (the person is told)")],
    purpose: PurposeOption,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Extend the deadline once, by two months, with a written reason."""
    with logged_in(config) as s:
        _show(desk(s).register.extend(request_for(s, purpose), request_id, reason))


@app.command("execute")
@friendly_errors
def execute(
    request_id: IdArg,
    purpose: PurposeOption,
    corrected: Annotated[
        Path | None, typer.Option("--corrected", help="The corrected FHIR resource (rectification), a JSON file")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Where the answer's data goes (access, portability)")
    ] = None,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Execute the request (or refuse it, with rule and section); data answers are written to --out-dir."""
    body = _corrected(corrected)
    with logged_in(config) as s:
        rights = desk(s)
        req = request_for(s, purpose)
        rights.register.who(req)
        files = _answer_files(out_dir, rights.get(request_id))
        outcome = rights.execute(req, request_id, corrected=body)
    _show(outcome.request)
    console.print(("Executed: " if outcome.executed else "Refused: ") + outcome.message, soft_wrap=True)
    if outcome.affected:
        console.print("Records concerned: " + ", ".join(outcome.affected), soft_wrap=True)
    if files is not None and outcome.bundle is not None:
        _new_file(files[0], json.dumps(outcome.bundle, ensure_ascii=False, indent=2).encode())
        if outcome.summary_html is not None:
            _new_file(files[1], outcome.summary_html.encode())
    console.print(f"Next: santegarde rights letter {request_id} --out FILE.html")


@app.command("status")
@friendly_errors
def status(
    request_id: Annotated[int | None, typer.Argument(metavar="[ID]", help="One request; all of them otherwise")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open requests past their deadline")] = False,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """The register: one request in full, or every (overdue) request with its deadline."""
    with logged_in(config) as s:
        rights = desk(s)
        sessions.require(s.identity, s.token, sensitivity=None)
        if request_id is not None:
            for key, value in rights.get(request_id).as_dict().items():
                console.print(f"{key}: {value if value is not None else '-'}", markup=False, soft_wrap=True)
            return
        requests = rights.register.overdue() if overdue else rights.register.all()
        now = rights.register.now()
    if not requests:
        console.print("No overdue request." if overdue else "The register is empty.")
        return
    table = Table("id", "right", "patient", "requester", "status", "deadline", "overdue", title="Rights requests")
    for r in requests:
        late = "[red]yes[/]" if r.overdue(now) else ""
        table.add_row(
            str(r.id), str(r.right), r.patient_id, str(r.requester), str(r.status), f"{r.deadline:%Y-%m-%d}", late
        )
    console.print(table)


@app.command("letter")
@friendly_errors
def letter(
    request_id: IdArg,
    out: Annotated[Path, typer.Option("--out", help="The letter to write: FILE.html or FILE.pdf (a new file)")],
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Write the answer letter, in French (HTML or PDF, by the file's suffix)."""
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("html", "pdf"):
        raise RightsError(f"Cannot write '{out.name}': a letter is written as .html or .pdf.")
    if out.exists():
        raise AlreadyExists(out)
    with logged_in(config) as s:
        rights = desk(s)
        sessions.require(s.identity, s.token, sensitivity=None)
        document = rights.letter(request_id, fmt)
    _new_file(out, document if isinstance(document, bytes) else document.encode())
