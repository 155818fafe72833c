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
from santegarde.cli.common import JsonOption, console, friendly_errors, show_table
from santegarde.cli.organisation import ConfigOption
from santegarde.cli.records import PurposeOption, records_of, request_for
from santegarde.cli.session import CliSession, logged_in
from santegarde.config import CONFIG_NAME
from santegarde.errors import WordedError
from santegarde.governance import doctext, rights_text
from santegarde.identity import sessions
from santegarde.referentials.model import Right
from santegarde.rights.execute import RightsService
from santegarde.rights.requests import LETTER_CHANNELS, OPEN, Requester, RightsRequest

app = typer.Typer(help="Data-subject requests: register, check identity, execute, answer.", no_args_is_help=True)

REQUESTERS = {
    "person": Requester.PERSON,
    "representative": Requester.LEGAL_REPRESENTATIVE,
    "legal_representative": Requester.LEGAL_REPRESENTATIVE,
    "related_person": Requester.RELATED_PERSON,
}
WITH_DATA = (Right.ACCESS, Right.PORTABILITY)
IdArg = Annotated[int, typer.Argument(metavar="ID", help="The request number in the register")]
Lang = Annotated[str, typer.Option("--lang", help="The language of what the command prints: fr (default) or en")]


def _said(lang: str) -> dict[str, Any]:
    found: dict[str, Any] = doctext.words(lang)["rights_desk"]
    return found


class DeskRefusal(WordedError, ValueError):
    """A rights command refused before it reaches the desk (an option, a file), worded in French and English."""

    def __init__(self, key: str, **facts: Any) -> None:
        super().__init__({lang: str(_said(lang)[key]).format(**facts) for lang in doctext.LANGS})


def desk(s: CliSession) -> RightsService:
    """The rights service of the organisation, as the API builds it."""
    org = s.org
    return RightsService(records_of(s), config=org.config, organisation=org.config.organisation.name, audit=org.audit)


def _requester(value: str) -> Requester:
    if value not in REQUESTERS:
        raise DeskRefusal("bad_requester", value=value)
    return REQUESTERS[value]


def _show(request: RightsRequest, lang: str) -> None:
    said = _said(lang)
    right = rights_text.right_name(request.right, lang)
    line = said["show"].format(
        id=request.id,
        right=right[0].lower() + right[1:] if lang == "fr" else right,
        patient=request.patient_id,
        requester=said["requesters"][str(request.requester)],
        status=said["statuses"][str(request.status)],
        due=request.deadline.strftime(said["date"]),
        rule=request.deadline_rule,
    )
    console.print(line, soft_wrap=True, markup=False)


def _details(request: RightsRequest, lang: str) -> None:
    """One request in full: its line, then each step it went through, in words."""
    _show(request, lang)
    said = _said(lang)
    t, day = said["details"], said["date"]
    lines = [t["received"].format(at=request.received_at.strftime(day), by=request.received_by)]
    if request.grounds:
        lines.append(t["grounds"].format(text=request.grounds))
    if request.identity_checked_at and request.identity_check:
        lines.append(t["identity"].format(at=request.identity_checked_at.strftime(day), text=request.identity_check))
    if request.extended_due_at and request.extension_reason:
        lines.append(t["extended"].format(due=request.extended_due_at.strftime(day), text=request.extension_reason))
    if request.answered_at:
        answered = t["answered"].format(
            at=request.answered_at.strftime(day), by=request.answered_by or "—", text=request.outcome or "—"
        )
        lines.append(answered)
    if request.rule:
        section = t["section"].format(section=request.section) if request.section else ""
        lines.append(t["rule"].format(rule=request.rule, section=section))
    if request.letter_sent_at:
        channel = t["channels"].get(request.letter_channel or "", request.letter_channel or "—")
        at = request.letter_sent_at.strftime(day)
        lines.append(t["letter"].format(at=at, by=request.letter_sent_by or "—", channel=channel))
    for line in lines:
        console.print(f"  {line}", markup=False, soft_wrap=True)


def _new_file(path: Path, data: bytes, lang: str) -> None:
    write_new_bytes(path, data, mode=0o600)
    console.print(_said(lang)["written"].format(path=path), markup=False, soft_wrap=True)


def _answer_files(out_dir: Path | None, request: RightsRequest) -> tuple[Path, Path] | None:
    """Where an answer carrying data goes; refused before execution when it has nowhere to go."""
    if request.right not in WITH_DATA or request.status not in OPEN:
        return None  # no data to write, or already answered (execute says so)
    if out_dir is None:
        raise WordedError(
            {
                lang: str(_said(lang)["needs_out_dir"]).format(right=_right_words(request.right, lang))
                for lang in doctext.LANGS
            }
        )
    files = (out_dir / f"rights-{request.id}-bundle.json", out_dir / f"rights-{request.id}-summary.html")
    for path in files:
        if path.exists():
            raise AlreadyExists(path)
    return files


def _right_words(right: Right, lang: str) -> str:
    name = rights_text.right_name(right, lang)
    return name[0].lower() + name[1:] if lang == "fr" else str(right)


def _corrected(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DeskRefusal("corrected_unreadable", path=path, error=exc) from None
    if not isinstance(data, dict):
        raise DeskRefusal("corrected_not_one", path=path)
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
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Register a request as received; its deadline is computed."""
    doctext.check_lang(lang)
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
    _show(created, lang)
    console.print(_said(lang)["next_identity"].format(id=created.id), markup=False, soft_wrap=True)


@app.command("identity-check")
@friendly_errors
def identity_check(
    request_id: IdArg,
    how: Annotated[str, typer.Option("--how", help="How the requester's identity (and standing) was checked")],
    purpose: PurposeOption,
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Record how the requester's identity was checked (required before execution)."""
    doctext.check_lang(lang)
    with logged_in(config) as s:
        _show(desk(s).register.record_identity_check(request_for(s, purpose), request_id, how), lang)


@app.command("extend")
@friendly_errors
def extend(
    request_id: IdArg,
    reason: Annotated[str, typer.Option("--reason", help="Why more time is needed (the person is told)")],
    purpose: PurposeOption,
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Extend the deadline once, by two months, with a written reason."""
    doctext.check_lang(lang)
    with logged_in(config) as s:
        _show(desk(s).register.extend(request_for(s, purpose), request_id, reason), lang)


@app.command("sent")
@friendly_errors
def sent(
    request_id: IdArg,
    channel: Annotated[str, typer.Option("--channel", help="How it left: " + ", ".join(LETTER_CHANNELS))],
    purpose: PurposeOption,
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Record that the answer letter of an answered request was sent, and how (once)."""
    doctext.check_lang(lang)
    with logged_in(config) as s:
        _details(desk(s).register.letter_sent(request_for(s, purpose), request_id, channel), lang)


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
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Execute the request (or refuse it, with rule and section); data answers are written to --out-dir."""
    doctext.check_lang(lang)
    said = _said(lang)
    body = _corrected(corrected)
    with logged_in(config) as s:
        rights = desk(s)
        req = request_for(s, purpose)
        rights.register.who(req)
        files = _answer_files(out_dir, rights.get(request_id))
        outcome = rights.execute(req, request_id, corrected=body)
    _show(outcome.request, lang)
    console.print(said["executed" if outcome.executed else "refused"] + outcome.message, soft_wrap=True, markup=False)
    if outcome.affected:
        console.print(said["affected"] + ", ".join(outcome.affected), soft_wrap=True, markup=False)
    if files is not None and outcome.bundle is not None:
        _new_file(files[0], json.dumps(outcome.bundle, ensure_ascii=False, indent=2).encode(), lang)
        if outcome.summary_html is not None:
            _new_file(files[1], outcome.summary_html.encode(), lang)
    console.print(said["next_letter"].format(id=request_id), markup=False)


@app.command("status")
@friendly_errors
def status(
    request_id: Annotated[int | None, typer.Argument(metavar="[ID]", help="One request; all of them otherwise")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open requests past their deadline")] = False,
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: JsonOption = False,
) -> None:
    """The register: one request in full, or every (overdue) request with its deadline."""
    said = _said(doctext.check_lang(lang))
    with logged_in(config) as s:
        rights = desk(s)
        sessions.require(s.identity, s.token, sensitivity=None)
        if request_id is not None:
            _details(rights.get(request_id), lang)
            return
        requests = rights.register.overdue() if overdue else rights.register.all()
        now = rights.register.now()
    if not requests and not as_json:
        console.print(said["none_overdue"] if overdue else said["empty"])
        return
    table = Table(*said["columns"], title=said["title"])
    for r in requests:
        late = f"[red]{said['yes']}[/]" if r.overdue(now) else ""
        table.add_row(
            str(r.id),
            _right_words(r.right, lang),
            r.patient_id,
            said["requesters"][str(r.requester)],
            said["statuses"][str(r.status)],
            r.deadline.strftime(said["date"]),
            late,
        )
    show_table(table, as_json)


@app.command("letter")
@friendly_errors
def letter(
    request_id: IdArg,
    out: Annotated[Path, typer.Option("--out", help="The letter to write: FILE.html or FILE.pdf (a new file)")],
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Write the answer letter, in French (HTML or PDF, by the file's suffix)."""
    doctext.check_lang(lang)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("html", "pdf"):
        raise DeskRefusal("letter_suffix", name=out.name)
    if out.exists():
        raise AlreadyExists(out)
    with logged_in(config) as s:
        rights = desk(s)
        sessions.require(s.identity, s.token, sensitivity=None)
        document = rights.letter(request_id, fmt)
    _new_file(out, document if isinstance(document, bytes) else document.encode(), lang)
