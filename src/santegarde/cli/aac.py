"""santegarde aac …: the compassionate-access programmes (aac-2022-106) — protocol files, requests, forms, cases.

Thin: the package ``santegarde.compassionate`` decides; every form goes through the record path under your own
session (santegarde login). Heavy imports stay inside the commands so that ``santegarde --help`` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from santegarde.atomic import write_atomic
from santegarde.cli.common import JsonOption, console, friendly_errors
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.errors import WordedError

if TYPE_CHECKING:
    from santegarde.cli.session import CliSession
    from santegarde.compassionate.registry import Registry
    from santegarde.compassionate.service import CaseState, CompassionateService
    from santegarde.crypto.exchange import Recipient as ExchangeRecipient
    from santegarde.referentials.model import Referential

app = typer.Typer(
    help="Compassionate-access programmes: protocol files, access requests, forms, cases (aac-2022-106).",
    no_args_is_help=True,
)
programme_app = typer.Typer(help="The programmes' protocol files (PUT-SP), one file per version.", no_args_is_help=True)
app.add_typer(programme_app, name="programme")

REFERENTIAL = "aac-2022-106"
DEFAULT_PURPOSE = "access_initiation_follow_up"
ProgrammeArg = Annotated[str, typer.Argument(metavar="PROGRAMME", help="The programme's id, e.g. velmorine-sla")]
PatientArg = Annotated[str, typer.Argument(metavar="PATIENT_ID", help="The patient's record id (given at the request)")]
AnswerOption = Annotated[
    list[str] | None, typer.Option("--answer", "-a", help="FIELD=VALUE (repeatable); numbers and true/false as such")
]
AnswersFile = Annotated[Path | None, typer.Option("--answers", help="A JSON file of field → value")]
ToOption = Annotated[
    str | None,
    typer.Option("--to", help="Encrypt for this recipient: secure health messaging address (….mssante.fr) or RPPS"),
]
PurposeOpt = Annotated[str, typer.Option("--purpose", help="The declared purpose of this access")]
Lang = Annotated[str, typer.Option("--lang", help="The language of what the command prints: fr (default) or en")]


def _refused(key: str, **facts: Any) -> WordedError:
    """A refusal of the compassionate-access commands in French and English (refusals.yaml, aac)."""
    from santegarde import refusals

    return WordedError(refusals.sentences("aac", key, **facts))


def _said(lang: str) -> dict[str, Any]:
    """What the compassionate-access commands print, in ``lang`` (documents_text.yaml, aac_desk)."""
    from santegarde.governance import doctext

    found: dict[str, Any] = doctext.words(lang)["aac_desk"]
    return found


def _referential_of(config: Path) -> Referential:
    from santegarde.config import load
    from santegarde.referentials import loader

    cfg = load(config)
    if cfg.referential != REFERENTIAL:
        raise _refused("wrong_referential", referential=cfg.referential, expected=REFERENTIAL)
    return loader.get(cfg.referential)


def _registry(config: Path) -> Registry:
    from santegarde.compassionate.registry import Registry

    return Registry.beside(config, _referential_of(config))


def parse_answers(pairs: list[str] | None, path: Path | None) -> dict[str, Any]:
    """field → value from --answers FILE (JSON) and --answer FIELD=VALUE (a JSON scalar, else the text)."""
    answers: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise _refused("answers_unreadable", path=path, error=exc) from None
        if not isinstance(loaded, dict):
            raise _refused("answers_not_object", path=path)
        answers.update(loaded)
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise _refused("not_field_value", pair=pair[:40])
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        answers[key.strip()] = value if not isinstance(value, dict | list) else text
    return answers


@programme_app.command("check")
@friendly_errors
def programme_check(
    file: Annotated[Path, typer.Argument(help="A programme's protocol file (YAML)")], lang: Lang = "fr"
) -> None:
    """Validate a protocol file against the format and the référentiel; write nothing."""
    from santegarde.compassionate.programme import parse_programme
    from santegarde.referentials import loader

    said = _said(lang)
    programme = parse_programme(_read(file), str(file), loader.get(REFERENTIAL))
    console.print(said["valid"].format(file=file, key=programme.key, n=len(programme.forms)), markup=False)


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise _refused("protocol_unreadable", file=file, error=exc.strerror) from None


@programme_app.command("add")
@friendly_errors
def programme_add(
    file: Annotated[Path, typer.Argument(help="A programme's protocol file (YAML)")],
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """Register a programme version (validated first; a registered version is never rewritten)."""
    said = _said(lang)
    programme, new = _registry(config).add(_read(file), str(file))
    line = said["registered" if new else "unchanged"].format(key=programme.key, title=programme.title)
    console.print(line, markup=False)


@programme_app.command("list")
@friendly_errors
def programme_list(config: ConfigOption = Path(CONFIG_NAME), lang: Lang = "fr") -> None:
    """The registered programmes (latest version), with the ANSM decision's state today."""
    from datetime import date

    said = _said(lang)
    registry = _registry(config)
    programmes = registry.all()
    if not programmes:
        console.print(said["none_yet"], markup=False)
    for p in programmes:
        d = p.ansm_decision
        line = said["programme_line"].format(
            id=p.id,
            versions=", ".join(registry.versions(p.id)),
            title=p.title,
            number=d.number,
            granted=d.granted.strftime(said["date"]),
            expires=d.expires.strftime(said["date"]) if d.expires else "—",
            status=said["statuses"][p.status(date.today())],
        )
        console.print(line, markup=False, soft_wrap=True)


@programme_app.command("show")
@friendly_errors
def programme_show(
    programme_id: ProgrammeArg,
    version: Annotated[str | None, typer.Option("--version", help="A registered version (default: the latest)")] = None,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """The programme's forms and their coded fields, as the professionals see them."""
    said = _said(lang)
    p = _registry(config).get(programme_id, version)
    console.print(f"[bold]{p.title}[/] — {said['version']} {p.version}", soft_wrap=True)
    for form in p.forms:
        console.print(f"\n[bold]{form.title}[/] ({form.id})")
        for f in form.fields:
            detail = ""
            if f.type == "number":
                detail = said["bounds"].format(unit=f.unit, min=f"{f.min:g}", max=f"{f.max:g}")
            elif f.type in ("choice", "code"):
                shown = list(f.allowed_codes().items())
                detail = (
                    " : " + ", ".join(f"{c} ({label})" for c, label in shown[:8]) + (" …" if len(shown) > 8 else "")
                )
            optional = "" if f.required else said["optional"]
            colon = " : " if lang == "fr" else ": "
            line = f"  {f.id} — {f.label}{optional}{colon}{said['types'][f.type]}{detail}"
            console.print(line, soft_wrap=True, markup=False)


def _service(s: CliSession) -> CompassionateService:
    from santegarde.cli.records import records_of
    from santegarde.compassionate.registry import Registry
    from santegarde.compassionate.service import CompassionateService

    if s.org.referential.id != REFERENTIAL:
        raise _refused("wrong_referential", referential=s.org.referential.id, expected=REFERENTIAL)
    return CompassionateService(records_of(s), Registry.beside(s.org.config_path, s.org.referential))


def _print_case(case: CaseState, lang: str) -> None:
    said = _said(lang)
    who = case.code or said["case_number"].format(number=case.number)  # after a submission, the case's number
    line = said["case"].format(
        who=who,
        record=case.patient_id,
        programme=case.programme,
        version=case.version,
        establishment=case.establishment,
        status=said["case_statuses"].get(case.status, case.status),
    )
    console.print(line, markup=False, soft_wrap=True)
    colon = " : " if lang == "fr" else ": "
    for f in case.forms:
        kind = said["form_kinds"].get(f.kind.value, f.kind.value)
        console.print(f"  {f.authored.strftime(said['moment'])} {f.form}{colon}{kind}", markup=False)


@app.command("request")
@friendly_errors
def request(
    programme_id: ProgrammeArg,
    surname: Annotated[str, typer.Option("--surname", help="The patient's surname (only its initials are kept)")],
    first_name: Annotated[str, typer.Option("--first-name", help="The first name (only its initials are kept)")],
    sex: Annotated[str, typer.Option("--sex", help="female, male, other or unknown")],
    birth: Annotated[str, typer.Option("--birth", help="Year and month of birth, YYYY-MM")],
    establishment: Annotated[str, typer.Option("--establishment", help="The establishment's Organization id")],
    answer: AnswerOption = None,
    answers_file: AnswersFile = None,
    purpose: PurposeOpt = DEFAULT_PURPOSE,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """A prescriber's access request: opens the case, builds the patient's code, stores the request form."""
    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in
    from santegarde.compassionate.service import Patient

    answers = parse_answers(answer, answers_file)
    with logged_in(config) as s:
        case = _service(s).request_access(
            request_for(s, purpose), programme_id, Patient(surname, first_name, sex, birth, establishment), answers
        )
    _print_case(case, lang)


@app.command("submit")
@friendly_errors
def submit(
    patient_id: PatientArg,
    form: Annotated[str, typer.Argument(help="The form's id in the patient's protocol version")],
    answer: AnswerOption = None,
    answers_file: AnswersFile = None,
    purpose: PurposeOpt = DEFAULT_PURPOSE,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """Submit a form of the workflow (decision, initiation, follow-up, stop, adverse effect, related person)."""
    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in

    answers = parse_answers(answer, answers_file)
    with logged_in(config) as s:
        case = _service(s).submit(request_for(s, purpose), patient_id, form, answers)
    _print_case(case, lang)


@app.command("case")
@friendly_errors
def case(
    patient_id: PatientArg,
    purpose: PurposeOpt = DEFAULT_PURPOSE,
    reason: Annotated[
        str | None, typer.Option("--reason", help="The audit service's ad hoc access: its written reason (§8.2)")
    ] = None,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """A patient's case as your profile may read it (each record read is traced; the audit service gives its
    written reason)."""
    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in

    with logged_in(config) as s:
        _print_case(_service(s).state(request_for(s, purpose, reason=reason), patient_id), lang)


@app.command("overdue")
@friendly_errors
def overdue(
    programme_id: ProgrammeArg,
    purpose: PurposeOpt = DEFAULT_PURPOSE,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """The treated patients you may read whose follow-up visit is overdue."""
    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in

    with logged_in(config) as s:
        late = _service(s).overdue(request_for(s, purpose), programme_id)
    said = _said(lang)
    if not late:
        console.print(said["none_overdue"], markup=False)
    for c, due in late:
        console.print(said["overdue"].format(code=c.code, record=c.patient_id, due=due.strftime(said["date"])))


@app.command("report")
@friendly_errors
def report(
    programme_id: Annotated[str, typer.Option("--programme", help="The programme's id")],
    period: Annotated[str, typer.Option("--period", help="START..END, dates as YYYY-MM-DD")],
    out: Annotated[Path, typer.Option("--out", help="The report file: .pdf, .html, .csv or .json")],
    threshold: Annotated[
        int, typer.Option("--threshold", help="Cells counting fewer patients than this are suppressed")
    ] = 11,
    to: ToOption = None,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """The periodic summary report for the ANSM (aggregated only, small cells suppressed), under your session;
    with --to, encrypted for the ANSM's recipient, the secret to give by another channel."""
    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in
    from santegarde.compassionate.report import build, parse_period
    from santegarde.governance.documents import write_document

    said = _said(lang)
    start, end = parse_period(period)
    if out.suffix.lower() not in (".pdf", ".html", ".csv", ".json"):
        raise _refused("report_suffix", name=out.name)
    recipient = _recipient(to)
    with logged_in(config) as s:
        built = build(_service(s), request_for(s, "summary_reports"), programme_id, start, end, threshold)

        def write(path: Path) -> None:
            if path.suffix.lower() == ".csv":
                write_atomic(path, built.csv())
            else:
                write_document(path, html=built.html(), data=built.as_dict())

        written = _deliver(s, out, recipient, write, purpose="summary_reports", said=said)
    hidden = sum(1 for e in built.entries if e.suppressed)
    line = said["report_written"].format(
        programme=built.programme,
        start=start.strftime(said["date"]),
        end=end.strftime(said["date"]),
        out=written,
        hidden=hidden,
    )
    console.print(line, markup=False, soft_wrap=True)


@app.command("event")
@friendly_errors
def event(
    programme_id: ProgrammeArg,
    name: Annotated[
        str,
        typer.Option(
            "--event", help="summary_report_approved, authorisation_expired or authorisation_suspended_or_withdrawn"
        ),
    ],
    at: Annotated[str, typer.Option("--at", help="The date of the ANSM's decision, YYYY-MM-DD")],
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """Record an ANSM decision for every patient of the programme: it sets the retention dates (§9)."""
    from datetime import UTC, datetime

    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in
    from santegarde.compassionate import events

    try:
        when = datetime.fromisoformat(at).replace(tzinfo=UTC)
    except ValueError:
        raise _refused("not_a_day", value=at[:20]) from None
    with logged_in(config) as s:
        patients = events.record(_service(s), request_for(s, "summary_reports"), programme_id, name, when)
    said = _said(lang)
    day = when.strftime(said["date"])
    line = said["event_recorded"].format(name=name, date=day, n=patients, programme=programme_id)
    console.print(line, markup=False, soft_wrap=True)


professional_app = typer.Typer(help="The professionals following the patients (§7.2 c).", no_args_is_help=True)
app.add_typer(professional_app, name="professional")


@professional_app.command("add")
@friendly_errors
def professional_add(
    last_name: Annotated[str, typer.Option("--last-name", help="Last name")],
    first_name: Annotated[str, typer.Option("--first-name", help="First name")],
    profession: Annotated[
        str, typer.Option("--profession", help="TRE-G15 code: 10 médecin, 21 pharmacien, 60 infirmier")
    ],
    rpps: Annotated[str, typer.Option("--rpps", help="The RPPS number (its key is checked)")],
    email: Annotated[str | None, typer.Option("--email", help="Work email")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="Work phone")] = None,
    specialty: Annotated[
        str | None, typer.Option("--specialty", help="TRE-R38 ordinal specialty code, e.g. SM32 (neurologie)")
    ] = None,
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Record a professional (name, profession, specialty, RPPS, work contact) through the record path."""
    from santegarde.cli.records import records_of, request_for
    from santegarde.cli.session import logged_in
    from santegarde.compassionate.professionals import PURPOSE, Professional, add

    with logged_in(config) as s:
        stored = add(
            records_of(s),
            request_for(s, PURPOSE),
            Professional(
                last_name, first_name, profession, rpps, work_email=email, work_phone=phone, specialty=specialty
            ),
        )
    console.print(_said(lang)["professional"].format(id=stored["id"]), markup=False)


@app.command("adverse-effects")
@friendly_errors
def adverse_effects(
    programme_id: ProgrammeArg,
    since: Annotated[str | None, typer.Option("--since", help="Only those reported since YYYY-MM-DD")] = None,
    purpose: PurposeOpt = DEFAULT_PURPOSE,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """The adverse-effect reports of the patients you may read (pharmacovigilance), newest first."""
    from datetime import date

    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in

    try:
        day = date.fromisoformat(since) if since else None
    except ValueError:
        raise _refused("not_a_day", value=since[:20] if since else "") from None
    with logged_in(config) as s:
        found = _service(s).adverse_effects(request_for(s, purpose), programme_id, day)
    said = _said(lang)
    if not found:
        console.print(said["no_adverse"], markup=False)
    for c, f in found:
        coded = ", ".join(f"{k}={v}" for k, v in f.answers.items())
        at = f.authored.strftime(said["moment"])
        console.print(said["adverse"].format(at=at, code=c.code, record=c.patient_id, coded=coded), markup=False)


vigilance_app = typer.Typer(
    help="Pharmacovigilance's inbox: the adverse-effect reports waiting to be acknowledged (§8.2).",
    no_args_is_help=True,
)
app.add_typer(vigilance_app, name="vigilance")


@vigilance_app.command("list")
@friendly_errors
def vigilance_list(
    programme_id: ProgrammeArg,
    purpose: PurposeOpt = DEFAULT_PURPOSE,
    as_json: JsonOption = False,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """The adverse-effect reports no one in pharmacovigilance has acknowledged yet, oldest first (pharmacovigilance
    only; each case read through the record path, traced)."""
    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in
    from santegarde.compassionate import vigilance

    with logged_in(config) as s:
        found = vigilance.pending(_service(s), request_for(s, purpose), programme_id)
    if as_json:
        rows = [
            {"id": a.id, "at": a.report.authored.isoformat(), "code": a.case.code, "patient_id": a.case.patient_id,
             "answers": a.report.answers}
            for a in found
        ]  # fmt: skip
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    said = _said(lang)
    if not found:
        console.print(said["vigilance_none"], markup=False)
    for a in found:
        coded = ", ".join(f"{k}={v}" for k, v in a.report.answers.items())
        at = a.report.authored.strftime(said["moment"])
        line = said["vigilance"].format(id=a.id, at=at, code=a.case.code, record=a.case.patient_id, coded=coded)
        console.print(line, markup=False, soft_wrap=True)


@vigilance_app.command("ack")
@friendly_errors
def vigilance_ack(
    alert_id: Annotated[
        int, typer.Argument(metavar="REPORT", help="The report's number (santegarde aac vigilance list)")
    ],
    purpose: PurposeOpt = DEFAULT_PURPOSE,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """Acknowledge an adverse-effect report: it leaves the inbox, with who took it in hand and when (traced)."""
    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in
    from santegarde.compassionate import vigilance

    with logged_in(config) as s:
        login = vigilance.acknowledge(_service(s), request_for(s, purpose), alert_id)
    console.print(_said(lang)["vigilance_acknowledged"].format(id=alert_id, login=login), markup=False)


extract_app = typer.Typer(
    help="The summary reports' pseudonymised extract (one sealed row per case, refreshed with each form).",
    no_args_is_help=True,
)
app.add_typer(extract_app, name="extract")


@extract_app.command("rebuild")
@friendly_errors
def extract_rebuild(
    programme_id: ProgrammeArg,
    missing_only: Annotated[
        bool, typer.Option("--missing-only", help="Only the cases the extract lacks (opened before it existed)")
    ] = False,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """Rebuild the extract of a programme's cases from their records, read through the path under your session."""
    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in
    from santegarde.compassionate.rebuild import rebuild

    with logged_in(config) as s:
        done = rebuild(_service(s), request_for(s, "summary_reports"), programme_id, only_missing=missing_only)
    said = _said(lang)
    console.print(
        said["extract_rebuilt"].format(programme=programme_id, cases=done.cases, skipped=done.skipped), markup=False
    )


@app.command("export")
@friendly_errors
def export(
    programme_id: ProgrammeArg,
    recipient: Annotated[
        str, typer.Option("--recipient", help="Who receives it, as declared (e.g. the group company)")
    ],
    country: Annotated[str, typer.Option("--country", help="The recipient's country, ISO code (e.g. FR, US)")],
    categories: Annotated[
        str, typer.Option("--categories", help="Comma-separated data categories, e.g. patient_indirect_identity")
    ],
    out: Annotated[Path, typer.Option("--out", help="The export file (.json)")],
    to: ToOption = None,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """Export a programme's cases to a recipient; outside the EU only what §12 allows, to a declared transfer; to
    the ANSM or a regional pharmacovigilance centre only encrypted (--to), the secret by another channel."""
    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in
    from santegarde.compassionate.export import export as export_cases
    from santegarde.compassionate.export import for_authority

    if out.suffix.lower() != ".json":
        raise _refused("export_not_json", name=out.name)
    sealed_for = _recipient(to)
    if sealed_for is None and for_authority(recipient):
        raise _refused("authority_unsealed", recipient=recipient)
    wanted = [c.strip() for c in categories.split(",") if c.strip()]
    said = _said(lang)
    with logged_in(config) as s:
        data = export_cases(_service(s), request_for(s, DEFAULT_PURPOSE), programme_id, recipient, country, wanted)
        body = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        written = _deliver(
            s, out, sealed_for, lambda path: write_atomic(path, body), purpose=DEFAULT_PURPOSE, said=said
        )
    kind = said["export_outside_eu"] if data["transfer_outside_eu"] else said["export_within_eu"]
    n = len(data["cases"])
    text = said["exported"].format(n=n, programme=programme_id, recipient=recipient, kind=kind, out=written)
    console.print(text, markup=False)


def _recipient(to: str | None) -> ExchangeRecipient | None:
    """The verified recipient of --to (an MSSanté address or an RPPS number), refused before anything is read."""
    if to is None:
        return None
    from santegarde.crypto.exchange import parse_recipient

    return parse_recipient(to)


def _deliver(
    s: CliSession,
    out: Path,
    recipient: ExchangeRecipient | None,
    write: Callable[[Path], object],
    *,
    purpose: str,
    said: dict[str, Any],
) -> Path:
    """Write the document at ``out``; for a ``recipient``, only its envelope (a neutral name beside ``out``, the
    document named ``out``'s name inside), the one-time secret printed to be given by another channel."""
    if recipient is None:
        write(out)
        return out
    import tempfile

    from santegarde.cli.exchange import neutral_name, seal_to
    from santegarde.identity import sessions

    with tempfile.TemporaryDirectory(prefix="santegarde-seal-") as folder:
        clear = Path(folder) / out.name
        write(clear)
        document = clear.read_bytes()
    envelope = neutral_name(out.parent)
    actor = sessions.state(s.identity, s.token).login
    rule = "AAC-SEC-ÉCH-2"
    secret = seal_to(s.org, document, out.name, recipient, envelope, actor=actor, purpose=purpose, rule=rule)
    shown = f"{recipient.kind} {recipient.value}"
    sealed = said["sealed"].format(recipient=shown, envelope=envelope, name=out.name)
    console.print(sealed, markup=False, soft_wrap=True)
    console.print(said["secret"].format(secret=secret), markup=False, highlight=False)
    console.print(said["secret_apart"], markup=False, soft_wrap=True)
    return envelope
