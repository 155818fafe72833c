"""Every gap a document would report, decided in one place (COM-REF-2).

A gap is something the configuration lacks that a document needs: the controller's contact details,
the facts the DPIA and DPO triggers use, the DPO (or why none is required), a legal basis the text leaves
open, a warehouse's protection policy, a security measure's status. ``gaps`` lists them all; ``config
check`` reports them, ``init`` asks for those it can answer, and the notices, the register, the DPIA and
the conformity report take theirs from here, so that no two of them disagree. Each gap names the documents
that report it and the setting to fill; its sentence, in French (``message``) and English
(``in_language("en")``, from ``data/documents_text.yaml``), says which ``santegarde init`` option answers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from santegarde.config import OrganisationConfig, check, effective_referential, errors, is_justified
from santegarde.governance import doctext, vocabulary
from santegarde.policy import dpia_required, dpo_required
from santegarde.referentials.model import Referential

NOTICES = "notices"
REGISTER = "register"
DPIA = "dpia"
CONFORMITY = "conformity"
DOCUMENTS = (NOTICES, REGISTER, DPIA, CONFORMITY)
WAREHOUSE = "eds-2021-118"
MEASURE_STATUS = "measure_status"


@dataclass(frozen=True, slots=True)
class Gap:
    kind: str  # controller_contact, trigger_fact, dpo_missing, dpo_email, no_dpo_reason, legal_basis, …
    subject: str  # the setting to fill (or the fact, the purpose, the measure code)
    sentences: dict[str, str]  # what is missing and what to do, per language (fr, en)
    documents: tuple[str, ...]  # the documents that report it
    section: str | None = None

    @property
    def message(self) -> str:
        """The sentence in French, the documents' and the commands' default language."""
        return self.sentences["fr"]

    def in_language(self, lang: str) -> str:
        return self.sentences[doctext.check_lang(lang)]

    def concerns(self, document: str) -> bool:
        return document in self.documents


def said(kind: str, **facts: Any) -> dict[str, str]:
    """A gap's sentence in every language; ``facts`` may be a callable of the language (a name, a decision)."""
    out = {}
    for lang in doctext.LANGS:
        values = {k: v(lang) if callable(v) else v for k, v in facts.items()}
        text: str = doctext.words(lang)["gaps"][kind]
        out[lang] = text.format(**values)
    return out


def _contact_gaps(config: OrganisationConfig) -> list[Gap]:
    controller = config.organisation.controller
    if controller.email or controller.address:
        return []
    return [
        Gap(
            "controller_contact",
            "organisation.controller",
            said("controller_contact"),
            (NOTICES, REGISTER, DPIA),
        )
    ]


def _dpo_gaps(config: OrganisationConfig, referential: Referential) -> list[Gap]:
    org = config.organisation
    dpia = dpia_required(referential, config.facts)
    dpo = dpo_required(referential, config.facts)
    found: list[Gap] = []
    for fact in sorted(set(dpia.missing_facts) | set(dpo.missing_facts)):
        for_dpo = fact in dpo.missing_facts and org.dpo is None
        section = dpia.section if fact in dpia.missing_facts else dpo.section
        found.append(
            Gap(
                "trigger_fact",
                f"facts.{fact}",
                said("trigger_fact", fact=fact, rid=referential.id, section=section),
                (NOTICES, REGISTER, DPIA) if for_dpo else (DPIA,),
                section,
            )
        )
    if org.dpo is None and dpo.required and not dpo.missing_facts:
        refused = (lambda lang: doctext.words(lang)["gaps"]["dpo_refused"]) if org.no_dpo_reason else ""
        found.append(
            Gap(
                "dpo_missing",
                "organisation.dpo",
                said("dpo_missing", rid=referential.id, section=dpo.section, refused=refused),
                (NOTICES, REGISTER, DPIA),
                dpo.section,
            )
        )
    elif org.dpo is None and not dpo.required and not is_justified(org.no_dpo_reason):
        found.append(
            Gap(
                "no_dpo_reason",
                "organisation.no_dpo_reason",
                said(
                    "no_dpo_reason",
                    decision=lambda lang: _lower_first(doctext.trigger(dpo, referential.dpo, lang).rstrip(".")),
                ),
                (REGISTER,),
                dpo.section,
            )
        )
    elif org.dpo is not None and not org.dpo.email:
        found.append(
            Gap(
                "dpo_email",
                "organisation.dpo.email",
                said("dpo_email"),
                (NOTICES, DPIA),
                dpo.section,
            )
        )
    return found


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _purpose_name(referential: Referential, purpose_id: str) -> Any:
    """The purpose's name in each language (the vocabulary's French, the référentiel's own English)."""
    return lambda lang: vocabulary.label(referential, "purpose", purpose_id, lang)


def _notice_gaps(config: OrganisationConfig, referential: Referential) -> list[Gap]:
    found: list[Gap] = []
    if not errors(check(config, referential)):
        ref = effective_referential(config, referential)
        for p in ref.purposes:
            if p.out_of_scope or p.forbidden or p.requires_formality:
                continue
            name = _purpose_name(referential, p.id)
            if not p.legal_bases:
                found.append(
                    Gap(
                        "legal_basis",
                        f"deviations.legal_basis.{p.id}",
                        said("legal_basis", name=name, purpose=p.id, section=p.section),
                        (NOTICES,),
                        p.section,
                    )
                )
            elif len(p.legal_bases) > 1:
                found.append(
                    Gap(
                        "legal_basis_choice",
                        f"choices.{p.legal_basis_choice}",
                        said("legal_basis_choice", name=name, purpose=p.id, choice=p.legal_basis_choice),
                        (NOTICES,),
                        p.section,
                    )
                )
    if referential.id == WAREHOUSE:
        if "objection_notice_period" not in config.choices:
            found.append(
                Gap(
                    "objection_notice_period",
                    "choices.objection_notice_period",
                    said("objection_notice_period"),
                    (NOTICES,),
                    "9.1",
                )
            )
        if not config.organisation.data_protection_policy:
            found.append(
                Gap(
                    "data_protection_policy",
                    "organisation.data_protection_policy",
                    said("data_protection_policy"),
                    (NOTICES,),
                    "8.2.3.2",
                )
            )
    return found


def measure_gaps(config: OrganisationConfig, referential: Referential) -> list[Gap]:
    """A security measure of the référentiel with no recorded status: the conformity report cannot say it is met."""
    declared = {m.code for m in config.deviations.measures}
    return [
        Gap(
            MEASURE_STATUS,
            m.code,
            said(
                "measure_status",
                code=m.code,
                title=lambda lang, m=m: doctext.measure_title(m, referential, lang),
                section=m.section,
            ),
            (CONFORMITY,),
            m.section,
        )
        for m in referential.measures
        if m.code not in declared
    ]


def gaps(config: OrganisationConfig, referential: Referential) -> list[Gap]:
    """Every gap of the configuration that a document would report, in a stable order."""
    return (
        _contact_gaps(config)
        + _dpo_gaps(config, referential)
        + _notice_gaps(config, referential)
        + measure_gaps(config, referential)
    )


def gaps_for(config: OrganisationConfig, referential: Referential, document: str) -> list[Gap]:
    """The gaps one document reports."""
    return [g for g in gaps(config, referential) if g.concerns(document)]
