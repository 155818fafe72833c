"""The answers ``santegarde init`` needs beyond the choices, as options, for a fictitious organisation."""

from __future__ import annotations

FACTS = {
    "practice": ["grouped_practice_shared_system=false", "patients_per_year=4000"],
    "pharmacy": ["annual_turnover_eur_excl_tax=1200000"],
    "compassionate": [],
    "warehouse": [],
}


def init_answers(profile: str) -> list[str]:
    """Controller contact, a fictitious DPO, the trigger facts (and a warehouse's protection policy)."""
    args = ["--controller-email", "contact@exemple.invalid", "--controller-address", "1 rue de l'Exemple, Nulle-part"]
    args += ["--dpo-name", "Dominique Exemple", "--dpo-email", "dpo@exemple.invalid"]
    args += [arg for fact in FACTS[profile] for arg in ("--fact", fact)]
    if profile == "warehouse":
        args += ["--data-protection-policy", "https://exemple.invalid/protection-des-donnees"]
    return args
