"""The breach register (COM-BRE-1, AAC-SEC-VIO-1..2, EDS-SEC-INC-1..4): every incident, its assessment, the clock.

Every incident compromising, even temporarily, the confidentiality, integrity or availability of personal
data is documented, whatever its seriousness. A documented assessment (likelihood and severity on the
CNIL scale negligible / limited / significant / maximum) decides whether the authority is notified (GDPR
art. 33: unless unlikely to result in a risk) and whether the persons are told (art. 34: high risk). The
authority must be notified within 72 hours of awareness; drafts of both documents are produced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update

from santegarde.config.model import Contact, OrganisationConfig
from santegarde.errors import WordedError
from santegarde.governance import doctext, vocabulary
from santegarde.governance.documents import render_html
from santegarde.governance.tables import breaches
from santegarde.referentials.model import Referential

NATURES = ("confidentiality", "integrity", "availability")
LEVELS = ("negligible", "limited", "significant", "maximum")
REPORTERS = ("staff", "processor", "person", "authority", "other")
DEADLINE = timedelta(hours=72)
_LEVEL_NAMES_FR = {"likelihood": "La vraisemblance", "severity": "La gravité"}
_COUNT_NAMES_FR = {"persons": "de personnes", "records": "d'enregistrements"}
DUE_SOON = timedelta(hours=24)
MIN_TEXT = 10
NOTIFICATION = "breach_notification"
COMMUNICATION = "breach_communication"

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class BreachError(WordedError, ValueError):
    """A breach cannot be recorded, assessed or drafted as asked (worded in French and English)."""


@dataclass(frozen=True)
class Decision:
    """What the assessment decides: notify the authority (art. 33), communicate to the persons (art. 34)."""

    risk: str  # unlikely, risk, high
    notify_authority: bool
    communicate_persons: bool


@dataclass(frozen=True)
class ClockStatus:
    """Where the 72-hour clock stands: on_time, due_soon, overdue, notified, notified_late, not_required."""

    status: str
    deadline: datetime
    sentence: str

    @property
    def flagged(self) -> bool:
        return self.status in ("overdue", "notified_late")


@dataclass(frozen=True)
class Breach:
    id: int
    nature: tuple[str, ...]
    description: str
    data_categories: tuple[str, ...]
    person_categories: tuple[str, ...]
    approx_persons: int | None
    approx_records: int | None
    likely_consequences: str
    measures_taken: str
    measures_planned: str
    occurred_at: datetime | None
    discovered_at: datetime
    reported_by: str
    processor_name: str | None
    recorded_by: str
    recorded_at: datetime
    likelihood: str | None
    severity: str | None
    reasoning: str | None
    assessed_by: str | None
    assessed_at: datetime | None
    notify_computed: bool | None
    communicate_computed: bool | None
    notify_authority: bool | None
    communicate_persons: bool | None
    override_justification: str | None
    notified_at: datetime | None
    communicated_at: datetime | None

    @property
    def assessed(self) -> bool:
        return self.assessed_at is not None

    @property
    def deadline(self) -> datetime:
        return self.discovered_at + DEADLINE


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every time here is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _row(row: dict[str, Any]) -> Breach:
    values: dict[str, Any] = {k: _aware(v) if isinstance(v, datetime) else v for k, v in row.items()}
    values["nature"] = tuple(values["nature"].split(","))
    values["data_categories"] = tuple(json.loads(values["data_categories"]))
    values["person_categories"] = tuple(json.loads(values["person_categories"]))
    return Breach(**values)


def decide(likelihood: str, severity: str) -> Decision:
    """The decision from the CNIL/EDPB scale.

    Unlikely to result in a risk when the likelihood or the severity is negligible (no notification, the
    breach is still documented); high risk when both are at least significant, or the severity is maximum
    with a likelihood at least limited (notification and communication); otherwise a risk (notification).
    """
    for label, value in (("likelihood", likelihood), ("severity", severity)):
        if value not in LEVELS:
            raise BreachError(
                {
                    lang: doctext.refusal("breach_level", what=what, levels=", ".join(LEVELS), value=value)[lang]
                    for lang, what in (("fr", _LEVEL_NAMES_FR[label]), ("en", f"The {label}"))
                }
            )
    lik, sev = LEVELS.index(likelihood), LEVELS.index(severity)
    if lik == 0 or sev == 0:
        return Decision("unlikely", False, False)
    if (lik >= 2 and sev >= 2) or (sev == 3 and lik >= 1):
        return Decision("high", True, True)
    return Decision("risk", True, False)


def _require(**texts: str) -> None:
    missing = [name.replace("_", "-") for name, value in texts.items() if len(value.strip()) < MIN_TEXT]
    if missing:
        raise BreachError(doctext.refusal("breach_describe", fields=", ".join(missing), n=MIN_TEXT))


def record(
    engine: Engine,
    *,
    nature: list[str],
    description: str,
    data_categories: list[str],
    person_categories: list[str],
    likely_consequences: str,
    measures_taken: str,
    discovered_at: datetime,
    reported_by: str,
    recorded_by: str,
    measures_planned: str = "",
    approx_persons: int | None = None,
    approx_records: int | None = None,
    occurred_at: datetime | None = None,
    processor_name: str | None = None,
    clock: Clock = utcnow,
) -> Breach:
    """Document an incident in the register (whatever its seriousness)."""
    natures = [n.strip() for n in nature if n.strip()]
    if not natures or any(n not in NATURES for n in natures):
        raise BreachError(doctext.refusal("breach_nature", natures=", ".join(NATURES)))
    if reported_by not in REPORTERS:
        raise BreachError(doctext.refusal("breach_reporter", reporters=", ".join(REPORTERS), value=reported_by))
    if reported_by == "processor" and not (processor_name or "").strip():
        raise BreachError(doctext.refusal("breach_processor"))
    _require(description=description, likely_consequences=likely_consequences, measures_taken=measures_taken)
    if not [c for c in data_categories if c.strip()] or not [c for c in person_categories if c.strip()]:
        raise BreachError(doctext.refusal("breach_named"))
    now = clock()
    discovered = _aware(discovered_at) or now
    if discovered > now or (occurred_at is not None and (_aware(occurred_at) or now) > discovered):
        raise BreachError(doctext.refusal("breach_dates"))
    for label, number in (("persons", approx_persons), ("records", approx_records)):
        if number is not None and number < 0:
            raise BreachError(
                {
                    "fr": doctext.refusal("breach_negative", what=_COUNT_NAMES_FR[label])["fr"],
                    "en": doctext.refusal("breach_negative", what=label)["en"],
                }
            )
    values: dict[str, Any] = {
        "nature": ",".join(n for n in NATURES if n in natures),
        "description": description.strip(),
        "data_categories": json.dumps([c.strip() for c in data_categories if c.strip()]),
        "person_categories": json.dumps([c.strip() for c in person_categories if c.strip()]),
        "approx_persons": approx_persons,
        "approx_records": approx_records,
        "likely_consequences": likely_consequences.strip(),
        "measures_taken": measures_taken.strip(),
        "measures_planned": measures_planned.strip(),
        "occurred_at": _aware(occurred_at),
        "discovered_at": discovered,
        "reported_by": reported_by,
        "processor_name": (processor_name or "").strip() or None,
        "recorded_by": recorded_by,
        "recorded_at": now,
    }
    with engine.begin() as conn:
        new_id = conn.execute(insert(breaches).values(**values).returning(breaches.c.id)).scalar_one()
    return get(engine, new_id)


def get(engine: Engine, breach_id: int) -> Breach:
    with engine.connect() as conn:
        row = conn.execute(select(breaches).where(breaches.c.id == breach_id)).first()
    if row is None:
        raise BreachError(doctext.refusal("breach_not_found", id=breach_id))
    return _row(row._asdict())


def entries(engine: Engine) -> list[Breach]:
    with engine.connect() as conn:
        rows = conn.execute(select(breaches).order_by(breaches.c.id)).all()
    return [_row(row._asdict()) for row in rows]


def assess(
    engine: Engine,
    breach_id: int,
    *,
    likelihood: str,
    severity: str,
    reasoning: str,
    assessed_by: str,
    notify: bool | None = None,
    communicate: bool | None = None,
    justification: str = "",
    clock: Clock = utcnow,
) -> Breach:
    """Record the seriousness assessment; the computed decision stands unless overridden with a justification."""
    get(engine, breach_id)
    decision = decide(likelihood, severity)
    if len(reasoning.strip()) < 20:
        raise BreachError(doctext.refusal("breach_reasoning"))
    final_notify = decision.notify_authority if notify is None else notify
    final_communicate = decision.communicate_persons if communicate is None else communicate
    overridden = final_notify != decision.notify_authority or final_communicate != decision.communicate_persons
    if overridden and len(justification.strip()) < 20:
        raise BreachError(
            {
                lang: doctext.refusal(
                    "breach_override",
                    notify=yes_no(decision.notify_authority, lang),
                    communicate=yes_no(decision.communicate_persons, lang),
                )[lang]
                for lang in doctext.LANGS
            }
        )
    values = {
        "likelihood": likelihood,
        "severity": severity,
        "reasoning": reasoning.strip(),
        "assessed_by": assessed_by,
        "assessed_at": clock(),
        "notify_computed": decision.notify_authority,
        "communicate_computed": decision.communicate_persons,
        "notify_authority": final_notify,
        "communicate_persons": final_communicate,
        "override_justification": justification.strip() if overridden else None,
    }
    with engine.begin() as conn:
        conn.execute(update(breaches).where(breaches.c.id == breach_id).values(**values))
    return get(engine, breach_id)


def mark(engine: Engine, breach_id: int, *, what: str, at: datetime) -> Breach:
    """Record when the authority was notified (``notified``) or the persons told (``communicated``)."""
    if what not in ("notified", "communicated"):
        raise BreachError(doctext.refusal("breach_mark"))
    breach = get(engine, breach_id)
    at = _aware(at) or at
    if at < breach.discovered_at:
        raise BreachError(doctext.refusal("breach_mark_before"))
    with engine.begin() as conn:
        conn.execute(update(breaches).where(breaches.c.id == breach_id).values({f"{what}_at": at}))
    return get(engine, breach_id)


def yes_no(value: bool | None, lang: str = "fr") -> str:
    """Yes, no or unknown, in ``lang``."""
    said = doctext.words(lang)["registers"]
    return str(said["unknown"] if value is None else said["yes" if value else "no"])


def _words(lang: str) -> dict[str, Any]:
    found: dict[str, Any] = doctext.words(lang)["breach"]
    return found


def _fmt(value: datetime, lang: str = "fr") -> str:
    return value.astimezone(UTC).strftime(str(_words(lang)["datetime"]))


def _left(delta: timedelta, lang: str = "fr") -> str:
    said = _words(lang)["clock"]
    hours = int(abs(delta).total_seconds() // 3600)
    return str(said["hours"].format(h=hours) if hours < 48 else said["days"].format(d=hours // 24, h=hours % 24))


def clock_status(breach: Breach, *, clock: Clock = utcnow, lang: str = "fr") -> ClockStatus:
    """The 72-hour clock of art. 33, from the time the controller became aware of the breach.

    Its sentence is in ``lang``: French by default, the command's --lang, or the draft's language.
    """
    said = _words(lang)["clock"]
    deadline = breach.deadline
    if breach.notify_authority is False:
        return ClockStatus("not_required", deadline, said["not_required"])
    if breach.notified_at is not None:
        if breach.notified_at <= deadline:
            return ClockStatus("notified", deadline, said["notified"].format(at=_fmt(breach.notified_at, lang)))
        return ClockStatus(
            "notified_late",
            deadline,
            said["notified_late"].format(at=_fmt(breach.notified_at, lang), deadline=_fmt(deadline, lang)),
        )
    left = deadline - clock()
    pending = "" if breach.assessed else said["pending"]
    if left <= timedelta(0):
        return ClockStatus(
            "overdue",
            deadline,
            said["overdue"].format(
                left=_left(left, lang),
                deadline=_fmt(deadline, lang),
                discovered=_fmt(breach.discovered_at, lang),
                pending=pending,
            ),
        )
    status = "due_soon" if left < DUE_SOON else "on_time"
    return ClockStatus(
        status, deadline, said["left"].format(left=_left(left, lang), deadline=_fmt(deadline, lang), pending=pending)
    )


def _contact(contact: Contact | None) -> dict[str, Any] | None:
    return None if contact is None else contact.model_dump()


def _citations(referential: Referential, lang: str) -> list[dict[str, str]]:
    """The référentiel's breach measures, cited by code, section and (in the document's language) name."""
    words = ("breach", "violation", "incident")
    return [
        {
            "code": m.code,
            "title": doctext.measure_title(m, referential, lang),
            "section": m.section,
            "text": doctext.measure_text(m, referential, lang),
        }
        for m in referential.measures
        if any(w in f"{m.title} {m.text}".lower() for w in words)
    ]


def _base(
    breach: Breach, config: OrganisationConfig, referential: Referential, now: datetime, lang: str
) -> dict[str, Any]:
    doctext.check_lang(lang)
    org = config.organisation
    return {
        "lang": lang,
        "organisation": {"name": org.name, "siret": org.siret, "finess": org.finess, "address": org.address},
        "controller": _contact(org.controller),
        "dpo": _contact(org.dpo),
        "referential": {
            "id": referential.id,
            "title": vocabulary.label(referential, "referential", referential.id, lang),
            "deliberation": vocabulary.label(referential, "deliberation", referential.id, lang),
        },
        "citations": _citations(referential, lang),
        "breach": {
            "id": breach.id,
            "nature": list(breach.nature),
            "description": breach.description,
            "occurred_at": breach.occurred_at.isoformat() if breach.occurred_at else None,
            "discovered_at": breach.discovered_at.isoformat(),
            "reported_by": breach.reported_by,
            "processor": breach.processor_name,
            "data_categories": list(breach.data_categories),
            "person_categories": list(breach.person_categories),
            "approx_persons": breach.approx_persons,
            "approx_records": breach.approx_records,
            "likely_consequences": breach.likely_consequences,
            "measures_taken": breach.measures_taken,
            "measures_planned": breach.measures_planned,
        },
        "drafted_at": now.isoformat(),
    }


def _missing(data: dict[str, Any]) -> list[str]:
    said = _words(data["lang"])["missing"]
    missing = []
    if data["dpo"] is None:
        missing.append(said["dpo"])
    if data["breach"]["approx_persons"] is None:
        missing.append(said["persons"])
    if data["breach"]["approx_records"] is None:
        missing.append(said["records"])
    return missing


def notification_draft(
    breach: Breach,
    config: OrganisationConfig,
    referential: Referential,
    *,
    delay_reasons: str = "",
    clock: Clock = utcnow,
    lang: str = "fr",
) -> dict[str, Any]:
    """The fields of the CNIL's online notification form (GDPR art. 33.3), filled from the register.

    In French by default (``lang="en"`` for English); ``render`` makes the HTML page of it.
    """
    now = clock()
    data = _base(breach, config, referential, now, lang)
    said = _words(lang)
    status = clock_status(breach, clock=clock, lang=lang)
    late = status.status in ("overdue", "notified_late")
    data["document"] = NOTIFICATION
    data["form"] = said["notification_form"]
    data["clock"] = {"status": status.status, "deadline": status.deadline.isoformat(), "sentence": status.sentence}
    data["assessment"] = _assessment(breach)
    data["late"] = late
    data["delay_reasons"] = delay_reasons.strip() or None
    missing = _missing(data)
    if not breach.assessed:
        missing.append(said["missing"]["assessment"])
    if late and not delay_reasons.strip():
        missing.append(said["missing"]["delay"])
    data["missing"] = missing
    return data


def communication_draft(
    breach: Breach, config: OrganisationConfig, referential: Referential, *, clock: Clock = utcnow, lang: str = "fr"
) -> dict[str, Any]:
    """The communication to the persons (GDPR art. 34.2), in clear and plain language (French by default)."""
    data = _base(breach, config, referential, clock(), lang)
    said = _words(lang)
    data["document"] = COMMUNICATION
    data["form"] = said["communication_form"]
    data["assessment"] = _assessment(breach)
    data["plain"] = {
        "what_happened": [said["plain"][n] for n in breach.nature],
        "contact": _contact(config.organisation.dpo) or _contact(config.organisation.controller),
    }
    missing = _missing(data)
    if not breach.assessed:
        missing.append(said["missing"]["assessment"])
    elif not breach.communicate_persons:
        missing.append(said["missing"]["no_decision"])
    data["missing"] = missing
    return data


def render(data: dict[str, Any]) -> str:
    """A draft (``notification_draft`` or ``communication_draft``) as an HTML page in its language."""
    lang = data["lang"]
    t = _words(lang)
    b = data["breach"]
    assessment = data.get("assessment")

    def when(iso: str | None, key: str = "datetime") -> str:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime(str(t[key])) if iso else t["unknown"]

    natures = [t["natures"][n] for n in b["nature"]]
    conjunction = t["and"]
    shown = {
        "nature": t["nature_line"].format(
            natures=natures[0] if len(natures) == 1 else ", ".join(natures[:-1]) + conjunction + natures[-1]
        ),
        "occurred": when(b["occurred_at"]),
        "discovered": when(b["discovered_at"]),
        "discovered_day": when(b["discovered_at"], "date"),
        "reported": t["reported_by_processor"].format(name=b["processor"])
        if b["processor"]
        else t["reported_by"].format(who=t["reporters"].get(b["reported_by"], b["reported_by"])),
        "assessment": t["assessment"].format(
            by=assessment["assessed_by"],
            likelihood=t["levels"][assessment["likelihood"]],
            severity=t["levels"][assessment["severity"]],
        )
        if assessment
        else None,
    }
    return render_html(
        f"{data['document']}.html.j2",
        title=t["notification_title"].format(id=b["id"])
        if data["document"] == NOTIFICATION
        else t["communication_title"],
        organisation_name=data["organisation"]["name"],
        t=t,
        colon=doctext.words(lang)["colon"],
        shown=shown,
        **data,
    )


def _assessment(breach: Breach) -> dict[str, Any] | None:
    if not breach.assessed:
        return None
    return {
        "likelihood": breach.likelihood,
        "severity": breach.severity,
        "reasoning": breach.reasoning,
        "notify_authority": breach.notify_authority,
        "communicate_persons": breach.communicate_persons,
        "computed": {"notify_authority": breach.notify_computed, "communicate_persons": breach.communicate_computed},
        "override_justification": breach.override_justification,
        "assessed_by": breach.assessed_by,
        "assessed_at": breach.assessed_at.isoformat() if breach.assessed_at else None,
    }
