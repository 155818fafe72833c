"""Every gap a document would report, decided in one place (COM-REF-2).

A gap is something the configuration lacks that a document needs: the controller's contact details,
the facts the DPIA and DPO triggers use, the DPO (or why none is required), a legal basis the text leaves
open, a warehouse's protection policy, a security measure's status. ``gaps`` lists them all; ``config
check`` reports them, ``init`` asks for those it can answer, and the notices, the register, the DPIA and
the conformity report take theirs from here, so that no two of them disagree. Each gap names the documents
that report it and the setting to fill; its sentence says which ``santegarde init`` option answers it.
"""

from __future__ import annotations

from dataclasses import dataclass

from santegarde.config import OrganisationConfig, check, effective_referential, errors, is_justified
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
    message: str  # what is missing and what to do, as a sentence (English, for the command line)
    documents: tuple[str, ...]  # the documents that report it
    section: str | None = None

    def concerns(self, document: str) -> bool:
        return document in self.documents


def _contact_gaps(config: OrganisationConfig) -> list[Gap]:
    controller = config.organisation.controller
    if controller.email or controller.address:
        return []
    return [
        Gap(
            "controller_contact",
            "organisation.controller",
            "the controller's contact details (art. 13.1 a GDPR), where the persons write to exercise their rights: "
            "set organisation.controller.email or .address in santegarde.yaml (at init: --controller-email or "
            "--controller-address)",
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
                f"The configuration does not declare the fact '{fact}' that {referential.id} §{section} uses; until "
                f"it is declared (facts.{fact} in the configuration, or --fact {fact}=VALUE at init), the DPIA and "
                "DPO are taken as required.",
                (NOTICES, REGISTER, DPIA) if for_dpo else (DPIA,),
                section,
            )
        )
    if org.dpo is None and dpo.required and not dpo.missing_facts:
        refused = " (organisation.no_dpo_reason cannot stand in for it: remove it)" if org.no_dpo_reason else ""
        found.append(
            Gap(
                "dpo_missing",
                "organisation.dpo",
                f"the data protection officer's contact details (art. 13.1 b GDPR; a DPO is required, "
                f"{referential.id} §{dpo.section}){refused}: set organisation.dpo (name and email) in santegarde.yaml "
                "(at init: --dpo-name and --dpo-email)",
                (NOTICES, REGISTER, DPIA),
                dpo.section,
            )
        )
    elif org.dpo is None and not dpo.required and not is_justified(org.no_dpo_reason):
        found.append(
            Gap(
                "no_dpo_reason",
                "organisation.no_dpo_reason",
                f"no data protection officer is designated and no reason is recorded ({dpo}): name the DPO under "
                "organisation.dpo, or say why none is required in organisation.no_dpo_reason, a sentence of at least "
                "20 characters (at init: --dpo-name and --dpo-email, or --no-dpo-reason)",
                (REGISTER,),
                dpo.section,
            )
        )
    elif org.dpo is not None and not org.dpo.email:
        found.append(
            Gap(
                "dpo_email",
                "organisation.dpo.email",
                "the data protection officer has no email address: set organisation.dpo.email in santegarde.yaml "
                "(at init: --dpo-email)",
                (NOTICES, DPIA),
                dpo.section,
            )
        )
    return found


def _notice_gaps(config: OrganisationConfig, referential: Referential) -> list[Gap]:
    found: list[Gap] = []
    if not errors(check(config, referential)):
        ref = effective_referential(config, referential)
        for p in ref.purposes:
            if p.out_of_scope or p.forbidden or p.requires_formality:
                continue
            if not p.legal_bases:
                found.append(
                    Gap(
                        "legal_basis",
                        f"deviations.legal_basis.{p.id}",
                        f"the legal basis of '{p.name}' ({p.id}), which the référentiel leaves to the controller "
                        f"(§{p.section}; art. 13.1 c GDPR): add it under deviations.legal_basis in santegarde.yaml, "
                        f"with its justification (at init: --set legal_basis.{p.id}=ART6+ART9 --justify "
                        f'legal_basis.{p.id}="…", e.g. legitimate_interest+9.2.h)',
                        (NOTICES,),
                        p.section,
                    )
                )
            elif len(p.legal_bases) > 1:
                found.append(
                    Gap(
                        "legal_basis_choice",
                        f"choices.{p.legal_basis_choice}",
                        f"the legal basis of '{p.id}': set choices.{p.legal_basis_choice}.value in santegarde.yaml",
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
                    "the period between the information and the start of processing (§9.1): set "
                    "choices.objection_notice_period.value (e.g. P1M) in santegarde.yaml",
                    (NOTICES,),
                    "9.1",
                )
            )
        if not config.organisation.data_protection_policy:
            found.append(
                Gap(
                    "data_protection_policy",
                    "organisation.data_protection_policy",
                    "the controller's personal data protection policy, presented in a dedicated section (§8.2.3.2): "
                    "set organisation.data_protection_policy (its address or its text) in santegarde.yaml (at init: "
                    "--data-protection-policy)",
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
            f"Measure {m.code} ({m.title}, §{m.section}) has no status in deviations.measures: record it with "
            f"'santegarde measure set {m.code} --status implemented|partial|equivalent|not_necessary|not_implemented "
            "--evidence TEXT --by NAME'.",
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
