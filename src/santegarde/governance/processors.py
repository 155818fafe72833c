"""The processors' register (COM-SUB-1, AAC-2, EDS-11): art. 28 clauses, HDS certificate, location, status.

A processor is recorded as a draft, then activated. Activation is refused when the art. 28 contract lacks
one of the clauses the référentiels list, when a processor hosting health data has no valid HDS
certificate (CSP art. L. 1111-8), and — for a health data warehouse — when the processor does not come
exclusively under the jurisdiction of the EU/EEA or of an adequate country (eds 11.3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update

from santegarde.errors import WordedError
from santegarde.governance import doctext
from santegarde.governance.tables import processors
from santegarde.governance.transfers import country_code, country_name, is_eea_or_adequate
from santegarde.referentials.model import OrganisationProfile, Referential

# The clauses an art. 28 contract must contain, as the référentiels list them (pha 6 / pra / aac 4.3 / eds 11.1).
CLAUSES = {
    "instructions_only": "processes personal data only on the documented instructions of the controller",
    "staff_confidentiality": "ensures that its staff authorised to process the data are bound by confidentiality",
    "security_measures": "takes the security measures required by the security objectives set by the controller",
    "subprocessor_authorisation": "engages no sub-processor without the prior written authorisation of the controller",
    "assistance_with_rights": "helps the controller answer the persons' requests to exercise their rights",
    "deletion_or_return": "deletes or returns all personal data to the controller at the end of the services",
    "audits": "gives the controller the information needed to demonstrate compliance and allows audits",
    "breach_notification": "informs the controller of any incident on the data as soon as possible",
}
STATUSES = ("draft", "active", "ended")
EXPIRY_WARNING = timedelta(days=60)


class ProcessorError(WordedError, ValueError):
    """A processor cannot be recorded or activated as asked (worded in French and English)."""


@dataclass(frozen=True)
class Processor:
    id: int
    name: str
    service: str
    data_categories: tuple[str, ...]
    hosts_health_data: bool
    clauses: tuple[str, ...]
    hds_number: str | None
    hds_certifier: str | None
    hds_expires: date | None
    country: str
    jurisdictions: tuple[str, ...]
    status: str
    recorded_by: str
    recorded_at: datetime
    activated_at: datetime | None
    ended_at: datetime | None

    @property
    def missing_clauses(self) -> tuple[str, ...]:
        return tuple(c for c in CLAUSES if c not in self.clauses)

    def hds_valid(self, today: date) -> bool:
        """A certificate with a number, a certifier and an expiry date not yet passed."""
        return bool(self.hds_number and self.hds_certifier and self.hds_expires and self.hds_expires >= today)


def _row(row: dict[str, Any]) -> Processor:
    return Processor(
        **{
            **row,
            "data_categories": tuple(json.loads(row["data_categories"])),
            "clauses": tuple(json.loads(row["clauses"])),
            "jurisdictions": tuple(j for j in row["jurisdictions"].split(",") if j),
        }
    )


def add(
    engine: Engine,
    *,
    name: str,
    service: str,
    data_categories: list[str],
    hosts_health_data: bool,
    clauses: list[str],
    country: str,
    recorded_by: str,
    jurisdictions: list[str] | None = None,
    hds_number: str | None = None,
    hds_certifier: str | None = None,
    hds_expires: date | None = None,
    now: datetime | None = None,
) -> Processor:
    """Record a processor as a draft; it processes data only once activated."""
    if not name.strip() or not service.strip():
        raise ProcessorError(doctext.refusal("processor_named"))
    unknown = [c for c in clauses if c not in CLAUSES]
    if unknown:
        raise ProcessorError(
            doctext.refusal("processor_clause", unknown=", ".join(unknown), clauses=", ".join(CLAUSES))
        )
    code = country_code(country)
    values: dict[str, Any] = {
        "name": name.strip(),
        "service": service.strip(),
        "data_categories": json.dumps([c.strip() for c in data_categories if c.strip()]),
        "hosts_health_data": hosts_health_data,
        "clauses": json.dumps([c for c in CLAUSES if c in clauses]),
        "hds_number": hds_number or None,
        "hds_certifier": hds_certifier or None,
        "hds_expires": hds_expires,
        "country": code,
        "jurisdictions": ",".join(dict.fromkeys(country_code(j) for j in (jurisdictions or [code]))),
        "status": "draft",
        "recorded_by": recorded_by,
        "recorded_at": now or datetime.now(UTC),
        "activated_at": None,
        "ended_at": None,
    }
    with engine.begin() as conn:
        if conn.execute(select(processors.c.id).where(processors.c.name == values["name"])).first():
            raise ProcessorError(doctext.refusal("processor_exists", name=values["name"]))
        new_id = conn.execute(insert(processors).values(**values).returning(processors.c.id)).scalar_one()
    return _row({"id": new_id, **values})


def get(engine: Engine, name: str) -> Processor:
    with engine.connect() as conn:
        row = conn.execute(select(processors).where(processors.c.name == name.strip())).first()
    if row is None:
        raise ProcessorError(doctext.refusal("processor_not_found", name=name))
    return _row(row._asdict())


def entries(engine: Engine) -> list[Processor]:
    with engine.connect() as conn:
        rows = conn.execute(select(processors).order_by(processors.c.id)).all()
    return [_row(row._asdict()) for row in rows]


def _said(lang: str) -> dict[str, Any]:
    found: dict[str, Any] = doctext.words(lang)["registers"]
    return found


def _day(value: date, lang: str) -> str:
    return value.strftime(str(_said(lang)["date"]))


# Where each référentiel requires a processor hosting health data to be a certified host (CSP art. L. 1111-8): the
# code of its measure, or — for the warehouse, whose text says it in a section and no measure — that section.
HDS_RULE: dict[str, tuple[str, str]] = {
    "pra-2020-081": ("PRA-PRO-40", ""),
    "pra-2020-081-draft": ("PRA-SST-2", ""),
    "pha-2022-067": ("PHA-CSP-2", ""),
    "aac-2022-106": ("GEN-PRO-2", ""),
    "eds-2021-118": ("", "11.4"),
}


def _hds_section(referential: Referential, lang: str) -> str:
    """Where the référentiel requires a certified health data host, by its measure's code, not its wording."""
    said = _said(lang)
    code, section = HDS_RULE.get(referential.id, ("", ""))
    measure = next((m for m in referential.measures if m.code == code), None) if code else None
    if measure is not None:
        return str(said["hds_section"]).format(code=measure.code, section=measure.section)
    if section:
        return str(said["hds_text_section"]).format(section=section)
    return str(said["hds_law"])


def refusals(processor: Processor, referential: Referential, today: date, lang: str = "fr") -> list[str]:
    """Why the processor cannot be activated, as sentences in ``lang`` (empty when it can)."""
    said = _said(lang)
    reasons: list[str] = []
    if processor.missing_clauses:
        reasons.append(
            str(said["missing_clauses"]).format(
                name=processor.name,
                clauses=str(doctext.words(lang)["breach"]["semicolon"]).join(
                    f"{c} ({said['clauses'][c]})" for c in processor.missing_clauses
                ),
            )
        )
    if processor.hosts_health_data and not processor.hds_valid(today):
        if processor.hds_expires and not (processor.hds_number and processor.hds_certifier):
            what = str(said["hds_incomplete"])
        elif processor.hds_expires:
            what = str(said["hds_expired"]).format(date=_day(processor.hds_expires, lang))
        else:
            what = str(said["hds_not_recorded"])
        reasons.append(
            str(said["hds_missing"]).format(name=processor.name, section=_hds_section(referential, lang), what=what)
        )
    if referential.organisation_profile == OrganisationProfile.WAREHOUSE:
        outside = [c for c in dict.fromkeys((processor.country, *processor.jurisdictions)) if not is_eea_or_adequate(c)]
        if outside:
            names = ", ".join(country_name(c, lang) for c in outside)
            reasons.append(str(said["warehouse_jurisdiction"]).format(name=processor.name, countries=names))
    return reasons


def activate(engine: Engine, name: str, *, referential: Referential, today: date | None = None) -> Processor:
    """Activate a draft processor, or ProcessorError with every reason it cannot be."""
    processor = get(engine, name)
    if processor.status != "draft":
        raise ProcessorError(
            {
                lang: doctext.refusal(
                    "processor_not_draft",
                    name=processor.name,
                    status=_said(lang)["processor_statuses"][processor.status],
                )[lang]
                for lang in doctext.LANGS
            }
        )
    now = datetime.now(UTC)
    worded = {lang: refusals(processor, referential, today or now.date(), lang) for lang in doctext.LANGS}
    if worded["fr"]:
        raise ProcessorError({lang: " ".join(reasons) for lang, reasons in worded.items()})
    with engine.begin() as conn:
        conn.execute(
            update(processors).where(processors.c.id == processor.id).values(status="active", activated_at=now)
        )
    return get(engine, name)


def end(engine: Engine, name: str) -> Processor:
    """End the relationship with a processor (the contract's deletion/return clause then applies)."""
    processor = get(engine, name)
    if processor.status == "ended":
        raise ProcessorError(doctext.refusal("processor_ended", name=processor.name))
    with engine.begin() as conn:
        conn.execute(
            update(processors).where(processors.c.id == processor.id).values(status="ended", ended_at=datetime.now(UTC))
        )
    return get(engine, name)


def warnings(processor: Processor, today: date, lang: str = "fr") -> list[str]:
    """Warnings on an active or draft processor, in ``lang``: an HDS certificate expiring within 60 days, or
    expired."""
    if processor.status == "ended" or not processor.hosts_health_data or processor.hds_expires is None:
        return []
    said = _said(lang)
    left = (processor.hds_expires - today).days
    when = _day(processor.hds_expires, lang)
    if left < 0:
        return [str(said["hds_expired_warning"]).format(name=processor.name, date=when)]
    if processor.hds_expires - today < EXPIRY_WARNING:
        return [str(said["hds_expiring"]).format(name=processor.name, date=when, days=left)]
    return []
