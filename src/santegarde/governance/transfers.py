"""Transfers outside the EU (COM-TRF-1, AAC-12, EDS-12): the adequacy list, the transfer register and its rules.

A transfer is any communication of personal data to a country outside the EU/EEA, including any remote
access (viewing) from such a country (aac 12.4, eds 12.1). Each is recorded with its basis: an adequacy
decision (GDPR art. 45), appropriate safeguards (art. 46.2) or a derogation (art. 49). The warehouse
référentiel forbids every transfer outside the EU (eds 12.2); the compassionate-access référentiel allows
only indirectly identifying patient data and professionals' data, when strictly necessary (aac 12.1-12.3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import Engine, insert, select

from santegarde.errors import WordedError
from santegarde.governance import doctext
from santegarde.governance.tables import transfers
from santegarde.identifiers import countries
from santegarde.referentials import loader
from santegarde.referentials.model import OrganisationProfile

BASES = ("adequacy", "safeguards", "derogation")
SAFEGUARDS = {
    "scc": "standard contractual clauses adopted by the European Commission (art. 46.2.c)",
    "bcr": "binding corporate rules (art. 46.2.b, art. 47)",
    "code_of_conduct": "an approved code of conduct with binding commitments of the recipient (art. 46.2.e)",
    "certification": "an approved certification mechanism with binding commitments of the recipient (art. 46.2.f)",
}
DEROGATIONS = {
    "explicit_consent": "the person's explicit consent, after being informed of the risks (art. 49.1.a)",
    "contract_with_person": "performance of a contract with the person (art. 49.1.b)",
    "contract_in_person_interest": "a contract concluded in the person's interest (art. 49.1.c)",
    "public_interest": "important reasons of public interest (art. 49.1.d)",
    "legal_claims": "establishment, exercise or defence of legal claims (art. 49.1.e)",
    "vital_interests": "the vital interests of a person unable to consent (art. 49.1.f)",
    "public_register": "a transfer from a public register (art. 49.1.g)",
}


def aac_transferable() -> tuple[str, ...]:
    """aac 12.1: the categories that may leave the EU — the patients' and related persons' indirectly identifying
    data and the professionals' data, as the compassionate-access référentiel's ``transfers`` declare them (its
    health, efficacy and safety categories are not among them)."""
    ref = loader.for_profile(OrganisationProfile.COMPASSIONATE.value)
    return tuple(dict.fromkeys(c for t in ref.transfers for c in t.categories))


# The profiles whose référentiel adds its own transfer rule to GDPR chapter V (worded in documents_text.yaml,
# registers.profile_rules).
PROFILE_RULES = (OrganisationProfile.WAREHOUSE, OrganisationProfile.COMPASSIONATE)


class TransferError(WordedError, ValueError):
    """A transfer is refused or cannot be recorded as given (worded in French and English)."""


@dataclass(frozen=True)
class Decision:
    """An adequacy decision of the European Commission (GDPR art. 45)."""

    country: str
    name: str
    decision: str
    date: date
    scope: str
    certified_only: bool = False
    note: str = ""
    french: tuple[str, str, str] = ("", "", "")  # the decision's title, scope and note in French

    def said(self, lang: str) -> tuple[str, str, str]:
        """Its title, scope and note in ``lang``."""
        return self.french if lang == "fr" else (self.decision, self.scope, self.note)


@dataclass(frozen=True)
class AdequacyList:
    as_of: date
    source: str
    eea: dict[str, str]
    adequate: dict[str, Decision]
    names_fr: dict[str, str]


@dataclass(frozen=True)
class CountryStatus:
    """Where a country stands: in the EU/EEA (no transfer), adequate, or a third country needing a basis."""

    code: str
    name: str
    kind: str  # eea, adequate, third
    decision: Decision | None

    @property
    def sentence(self) -> str:
        """Where the country stands, in French (``said(lang)`` for another language)."""
        return self.said("fr")

    def said(self, lang: str) -> str:
        """Where the country stands, as a sentence in ``lang``."""
        said = doctext.words(lang)["registers"]
        name = country_name(self.code, lang)
        if self.kind == "eea":
            return str(said["eea"]).format(name=name, code=self.code)
        if self.decision is not None:
            title, scope, note = self.decision.said(lang)
            when = self.decision.date.strftime(str(said["date"]))
            text = str(said["adequate"]).format(name=name, code=self.code, decision=title, date=when, scope=scope)
            return text + (f" {note}" if note else "")
        return str(said["third"]).format(name=name, code=self.code)


def country_name(code: str, lang: str) -> str:
    """A country's name in ``lang`` (its ISO code when santegarde does not know it)."""
    lists = adequacy()
    if lang == "fr" and code in lists.names_fr:
        return lists.names_fr[code]
    if code in lists.eea:
        return lists.eea[code]
    return lists.adequate[code].name if code in lists.adequate else code


def profile_rule(profile: OrganisationProfile, lang: str) -> str | None:
    """The transfer rule of a profile's référentiel in ``lang``, when it has one beyond GDPR chapter V."""
    if profile not in PROFILE_RULES:
        return None
    return str(doctext.words(lang)["registers"]["profile_rules"][profile.value])


@dataclass(frozen=True)
class Transfer:
    id: int
    country: str
    recipient: str
    data_categories: tuple[str, ...]
    basis: str
    safeguard: str | None
    derogation: str | None
    remote_access: bool
    purpose: str
    recorded_by: str
    recorded_at: datetime


@cache
def adequacy() -> AdequacyList:
    """The dated list of adequacy decisions (``governance/data/adequacy.yaml``)."""
    raw = yaml.safe_load(resources.files("santegarde.governance").joinpath("data/adequacy.yaml").read_text("utf-8"))
    decisions = {
        code: Decision(
            country=code,
            name=item["name"],
            decision=item["decision"],
            date=item["date"],
            scope=item["scope"],
            certified_only=bool(item.get("certified_only", False)),
            note=item.get("note", ""),
            french=(item["decision_fr"], item["scope_fr"], item.get("note_fr", "")),
        )
        for code, item in raw["adequate"].items()
    }
    return AdequacyList(raw["as_of"], raw["source"], dict(raw["eea"]), decisions, dict(raw["names_fr"]))


def country_code(country: str) -> str:
    """The ISO 3166 two-letter code of ``country`` (an assigned code, or a name from the adequacy file)."""
    text = country.strip()
    code = countries.country_code(text) if len(text) == 2 else None
    if code is not None:
        return code
    lists = adequacy()
    names = {name.casefold(): code for code, name in lists.eea.items()}
    names |= {d.name.casefold(): code for code, d in lists.adequate.items()}
    if text.casefold() in names:
        return names[text.casefold()]
    raise TransferError(doctext.refusal("transfer_country", country=country))


def country_status(country: str) -> CountryStatus:
    """Whether ``country`` is in the EU/EEA, covered by an adequacy decision, or a third country."""
    code = country_code(country)
    lists = adequacy()
    if code in lists.eea:
        return CountryStatus(code, lists.eea[code], "eea", None)
    if code in lists.adequate:
        return CountryStatus(code, lists.adequate[code].name, "adequate", lists.adequate[code])
    return CountryStatus(code, code, "third", None)


def is_eea_or_adequate(country: str, *, certified: bool = False) -> bool:
    """True in the EU/EEA or under an adequacy decision (a 'certified only' one counts only when ``certified``)."""
    status = country_status(country)
    if status.kind == "eea":
        return True
    return status.decision is not None and (certified or not status.decision.certified_only)


def _normalise(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in values if v.strip()))


@dataclass(frozen=True)
class TransferRequest:
    """A transfer as the controller describes it, before it is checked and recorded."""

    country: str
    recipient: str
    data_categories: tuple[str, ...]
    basis: str | None = None
    safeguard: str | None = None
    derogation: str | None = None
    remote_access: bool = False
    strictly_necessary: bool = False
    persons_informed: bool = False
    dpf_certified: bool = False
    purpose: str = ""


def _check_basis(request: TransferRequest, status: CountryStatus) -> str:
    """The basis of the transfer, checked against the country (GDPR chapter V)."""
    basis = request.basis or ("adequacy" if status.kind == "adequate" else None)
    if basis is None:
        raise TransferError(_with_status("transfer_no_basis", status))
    if basis not in BASES:
        raise TransferError(doctext.refusal("transfer_basis", bases=", ".join(BASES), basis=basis))
    if basis == "adequacy":
        decision = status.decision
        if decision is None:
            raise TransferError(_with_status("transfer_no_adequacy", status))
        if decision.certified_only and not request.dpf_certified:
            raise TransferError(
                {
                    lang: doctext.refusal("transfer_certified", name=country_name(status.code, lang))[lang]
                    for lang in doctext.LANGS
                }
            )
    if basis == "safeguards" and request.safeguard not in SAFEGUARDS:
        raise TransferError(doctext.refusal("transfer_safeguard", safeguards=", ".join(SAFEGUARDS)))
    if basis == "derogation" and request.derogation not in DEROGATIONS:
        raise TransferError(doctext.refusal("transfer_derogation", derogations=", ".join(DEROGATIONS)))
    return basis


def check_transfer(request: TransferRequest, profile: OrganisationProfile) -> str:
    """The basis the transfer rests on, or TransferError with the sentence of the rule it breaks."""
    status = country_status(request.country)
    if status.kind == "eea":
        raise TransferError(_with_status("transfer_eea", status))
    if profile == OrganisationProfile.WAREHOUSE:
        raise TransferError(
            {
                lang: doctext.refusal(
                    "transfer_warehouse",
                    name=country_name(status.code, lang),
                    remote=doctext.refusal("transfer_remote")[lang] if request.remote_access else "",
                )[lang]
                for lang in doctext.LANGS
            }
        )
    if profile == OrganisationProfile.COMPASSIONATE:
        _check_compassionate(request, status.code)
    return _check_basis(request, status)


def _with_status(key: str, status: CountryStatus) -> dict[str, str]:
    """A refusal that starts with where the country stands, in each language."""
    return {lang: doctext.refusal(key, status=status.said(lang))[lang] for lang in doctext.LANGS}


def _check_compassionate(request: TransferRequest, code: str) -> None:
    """aac 12.1 and 12.3: which data, only when strictly necessary, persons informed beforehand."""
    allowed = aac_transferable()
    refused = [c for c in request.data_categories if c not in allowed]
    if refused:
        raise TransferError(
            {
                lang: doctext.refusal(
                    "transfer_aac_data",
                    refused=", ".join(refused),
                    name=country_name(code, lang),
                    allowed=", ".join(allowed),
                )[lang]
                for lang in doctext.LANGS
            }
        )
    if not request.strictly_necessary:
        raise TransferError(doctext.refusal("transfer_aac_necessary"))
    if not request.persons_informed:
        raise TransferError(doctext.refusal("transfer_aac_informed"))


def record(
    engine: Engine,
    request: TransferRequest,
    *,
    profile: OrganisationProfile,
    recorded_by: str,
    now: datetime | None = None,
) -> Transfer:
    """Check the transfer against the rules of the profile's référentiel, then record it."""
    request = TransferRequest(**{**request.__dict__, "data_categories": _normalise(request.data_categories)})
    if not request.recipient.strip():
        raise TransferError(doctext.refusal("transfer_recipient"))
    if not request.data_categories:
        raise TransferError(doctext.refusal("transfer_categories"))
    basis = check_transfer(request, profile)
    values: dict[str, Any] = {
        "country": country_code(request.country),
        "recipient": request.recipient.strip(),
        "data_categories": json.dumps(list(request.data_categories)),
        "basis": basis,
        "safeguard": request.safeguard if basis == "safeguards" else None,
        "derogation": request.derogation if basis == "derogation" else None,
        "remote_access": request.remote_access,
        "purpose": request.purpose.strip(),
        "recorded_by": recorded_by,
        "recorded_at": now or datetime.now(UTC),
    }
    with engine.begin() as conn:
        new_id = conn.execute(insert(transfers).values(**values).returning(transfers.c.id)).scalar_one()
    return _transfer({"id": new_id, **values})


def _transfer(row: dict[str, Any]) -> Transfer:
    return Transfer(**{**row, "data_categories": tuple(json.loads(row["data_categories"]))})


def entries(engine: Engine) -> list[Transfer]:
    """The transfer register, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(transfers).order_by(transfers.c.id)).all()
    return [_transfer(row._asdict()) for row in rows]


def basis_sentence(transfer: Transfer, lang: str = "fr") -> str:
    """The basis of a recorded transfer, in words in ``lang``."""
    said = doctext.words(lang)["registers"]
    if transfer.basis == "safeguards" and transfer.safeguard:
        return str(said["safeguards"][transfer.safeguard])
    if transfer.basis == "derogation" and transfer.derogation:
        return str(said["derogations"][transfer.derogation])
    status = country_status(transfer.country)
    return status.decision.said(lang)[0] if status.decision else transfer.basis
