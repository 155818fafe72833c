"""Exporting a programme's cases to a recipient, and the rule of transfers outside the EU (§12, AAC-12).

An export names its recipient, the recipient's country and the data categories it carries. Inside the EU/EEA it is
an ordinary communication to a recipient of §8.3. Outside (remote viewing from outside is a transfer too, §12.4) it
is allowed only when
- every category is one the text lets leave the EU (§12.1: the patients' and related persons' indirectly
  identifying data and the professionals' data — the référentiel's ``transfers``), and
- the transfer to that recipient in that country was declared beforehand in the transfer register
  (``santegarde transfer add``: strictly necessary, persons informed, on an adequacy decision, safeguards or an
  Art. 49 derogation — checked there, §12.2-12.3) and covers every category exported.
Anything else is refused with the sentence saying what to declare or remove, traced, and nothing is written. The
cases are read through the record path (each record read traced) and only the answers of the declared categories
are kept, with each case's code; the export itself is traced with its recipient's country. An export for the ANSM
or a regional pharmacovigilance centre (``for_authority``) leaves only encrypted for a named person, the secret by
another channel (SEC-ÉCH-1..2: ``santegarde aac export --to``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from santegarde import refusals
from santegarde.compassionate.service import CompassionateService, transferable
from santegarde.errors import WordedError
from santegarde.governance import transfers
from santegarde.identity import sessions
from santegarde.store.service import AccessDenied, NotFound, Request

PURPOSE = "access_initiation_follow_up"  # §12.1: the provision of the medicinal product and the patients' monitoring
IDENTITY = "patient_indirect_identity"  # the case's code
CHARACTERISTICS = "patient_characteristics"  # sex, year and month of birth


class ExportRefused(WordedError, PermissionError):
    """An export the text does not allow as asked; the sentence (refusals.yaml, aac) says what to declare or remove."""

    def __init__(self, key: str, rule: str, **facts: Any) -> None:
        super().__init__(refusals.sentences("aac", key, **facts))
        self.key = key
        self.rule = rule


@dataclass(frozen=True)
class Destination:
    recipient: str
    country: str  # ISO code
    outside: bool  # outside the EU/EEA: a transfer (§12)


def check(
    service: CompassionateService, req: Request, programme_id: str, recipient: str, country: str, categories: list[str]
) -> Destination:
    """Where the export goes, once allowed; ExportRefused (traced) otherwise."""
    ref = service.records.ref
    known = {c.id for c in ref.categories}
    unknown = sorted(set(categories) - known) or ([] if categories else ["(none)"])
    if unknown:
        _refuse(
            service,
            req,
            programme_id,
            "AAC-12.categories",
            "export_categories",
            referential=ref.id,
            known=", ".join(sorted(known)),
            unknown=", ".join(c[:40] for c in unknown),
        )
    if not recipient.strip():
        _refuse(service, req, programme_id, "AAC-12.recipient", "export_recipient")
    try:
        status = transfers.country_status(country)
    except transfers.TransferError as exc:
        _refuse(service, req, programme_id, "AAC-12.country", "export_country", reason=str(exc))
        raise  # unreachable
    where = Destination(recipient.strip(), status.code, status.kind != "eea")
    if not where.outside:
        return where
    allowed = transferable(service.records.ref)
    beyond = sorted(set(categories) - allowed)
    if beyond:
        _refuse(
            service,
            req,
            programme_id,
            "AAC-12.categories_outside_eu",
            "export_outside_eu",
            beyond=", ".join(beyond),
            allowed=", ".join(sorted(allowed)),
            recipient=recipient.strip(),
            country=status.code,
        )
    declared = [
        t
        for t in transfers.entries(service.engine)
        if t.country == status.code and t.recipient.casefold() == recipient.strip().casefold()
    ]
    covering = [t for t in declared if set(categories) <= set(t.data_categories)]
    if not covering:
        if declared:
            covered = ", ".join(sorted({c for t in declared for c in t.data_categories}))
            key, facts = "export_not_covered", {"covered": covered}
        else:
            key, facts = "export_undeclared", {}
        _refuse(
            service,
            req,
            programme_id,
            "AAC-12.undeclared",
            key,
            recipient=recipient.strip(),
            country=status.code,
            **facts,
        )
    return where


# The référentiel's recipients that are health authorities (§8.3), and the words that name them in a recipient.
AUTHORITIES = ("ansm", "regional_pharmacovigilance_centres")
_AUTHORITY_WORDS = frozenset({"ansm", "crpv", "pharmacovigilance"})


def for_authority(recipient: str) -> bool:
    """Whether ``recipient`` is the ANSM or a regional pharmacovigilance centre (by the référentiel's id, or a name
    holding ANSM, CRPV or pharmacovigilance)."""
    text = recipient.strip().casefold()
    return text in AUTHORITIES or bool(set(re.split(r"[^a-z0-9]+", text)) & _AUTHORITY_WORDS)


def export(
    service: CompassionateService, req: Request, programme_id: str, recipient: str, country: str, categories: list[str]
) -> dict[str, Any]:
    """The programme's cases as the categories allow, for this recipient (checked first: nothing read if refused)."""
    service.registry.get(programme_id)
    req = Request(req.token, PURPOSE, source=req.source)
    ctx = sessions.require(service.records.identity, req.token, sensitivity=None)
    where = check(service, req, programme_id, recipient, country, categories)
    wanted = set(categories)
    cases = []
    for _, patient_id in service.cases(programme_id):
        try:
            case = service.state(req, patient_id)
        except (AccessDenied, NotFound):
            continue  # refused and traced by the record path
        programme = service.registry.get(case.programme, case.version)
        item: dict[str, Any] = {"code": case.code} if IDENTITY in wanted else {"number": case.number}
        if CHARACTERISTICS in wanted:
            item |= {"sex": case.sex, "birth": case.birth}
        forms = []
        for f in case.forms:
            form = programme.form(f.form)
            kept = {
                k: v
                for k, v in f.answers.items()
                if form is not None and (field := form.field(k)) is not None and field.category in wanted
            }
            if kept:
                forms.append({"form": f.form, "kind": f.kind.value, "date": f.authored.date().isoformat(), **kept})
        cases.append({**item, "forms": forms})
    service.trace_programme(
        ctx,
        req,
        f"aac.export.{'transfer' if where.outside else 'eu'}.{where.country}",
        programme_id,
        purpose=PURPOSE,
        rule="AAC-12" if where.outside else "AAC-8",
        section="12" if where.outside else "8.3",
    )
    return {
        "programme": programme_id,
        "recipient": where.recipient,
        "country": where.country,
        "transfer_outside_eu": where.outside,
        "categories": sorted(wanted),
        "cases": cases,
    }


def _refuse(service: CompassionateService, req: Request, programme_id: str, rule: str, key: str, **facts: Any) -> None:
    service.records.trace_refusal(req, "aac.export", ("Programme", programme_id), rule)
    raise ExportRefused(key, rule, **facts)
