"""A complete, fictitious organisation configuration for each profile, to build notices from."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from santegarde.config import OrganisationConfig
from santegarde.config.model import ChoiceAnswer, Contact, LegalBasisDeviation
from santegarde.demo import demo_answers
from santegarde.governance.notices import COMPASSIONATE, Notice, ProgrammeFacts, build_notice
from santegarde.organisation import build_config
from santegarde.referentials import loader
from santegarde.referentials.model import Art6Basis, Art9Condition, Referential

PROGRAMME = ProgrammeFacts(
    "Exemplatine 5 mg (fictif)", "Maladie fictive de l'adulte", "AAC-TEST-0042", date(2026, 3, 2)
)
PROFILES = ["practice", "pharmacy", "compassionate", "warehouse"]
INTERNAL_STUDIES = (
    "conduire des études sur la qualité des soins, pour l'usage exclusif de l'équipe qui suit les patients"
)


def complete_config(
    tmp_path: Path, profile: str, referential: str | None = None
) -> tuple[OrganisationConfig, Referential]:
    """Demo answers, a controller and a DPO with contact details, every fact a notice needs.

    ``referential`` applies another référentiel of the profile (e.g. the practices' French draft)."""
    ref = loader.get(referential) if referential else loader.for_profile(profile)
    values, justifications = demo_answers(ref)
    if "objection_notice_period" in values:
        values["objection_notice_period"] = "P1M"
    config, _ = build_config(
        tmp_path / "org",
        profile,
        organisation_name=f"Organisation fictive {profile}",
        choices=values if referential is None else None,
        justifications=justifications if referential is None else None,
    )
    if referential is not None:
        answers = {k: ChoiceAnswer(value=v, justification=justifications[k]) for k, v in values.items()}
        config = config.model_copy(update={"referential": ref.id, "choices": answers})
    organisation = config.organisation.model_copy(
        update={
            "controller": Contact(
                name="Camille Exemple", email="contact@exemple.invalid", address="1 rue de l'Exemple, 00000 Nulle-part"
            ),
            "dpo": Contact(name="Dominique Exemple", email="dpo@exemple.invalid"),
            "data_protection_policy": "https://exemple.invalid/protection-des-donnees",
        }
    )
    bases = [
        LegalBasisDeviation(
            purpose=p.id,
            art6=Art6Basis.LEGITIMATE_INTEREST,
            art9=Art9Condition.RESEARCH if "stud" in p.id or "research" in p.id else Art9Condition.HEALTH_CARE,
            justification=INTERNAL_STUDIES,
        )
        for p in ref.purposes
        if not (p.legal_bases or p.out_of_scope or p.forbidden or p.requires_formality)
    ]
    deviations = config.deviations.model_copy(update={"legal_basis": bases})
    return config.model_copy(update={"organisation": organisation, "deviations": deviations}), ref


def notice(config: OrganisationConfig, ref: Referential, fmt: str = "leaflet", lang: str = "fr", **kw: Any) -> Notice:
    """``build_notice``, naming the fictitious PROGRAMME under compassionate access (unless told otherwise)."""
    if ref.id == COMPASSIONATE:
        kw.setdefault("programmes", [PROGRAMME])
    return build_notice(config, ref, fmt, lang, **kw)
