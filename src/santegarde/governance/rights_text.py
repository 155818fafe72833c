"""Rights decisions (``santegarde.policy.rights``) in words, for notices, the register, the DPIA and the letters.

The decision is taken once, by ``policy.right_applies``; this module only writes it: the right's name,
the article that governs it, and why it does or does not apply, in French (addressed to the person) or
in English. The French wording of the référentiels' own exclusions is in ``data/rights.fr.yaml``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from santegarde.governance.vocabulary import VocabularyError
from santegarde.policy.rights import ALWAYS, BASIS, TEXT_EXCLUSION, TEXT_GRANT, RightDecision
from santegarde.referentials.model import Art6Basis, Right


@cache
def _data() -> dict[str, Any]:
    text = resources.files("santegarde.governance").joinpath("data/rights.fr.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def right_name(right: Right, lang: str = "fr") -> str:
    """ "Droit d'opposition" / "Right to object"."""
    return str(_data()["names"][lang][right.value])


def article(decision: RightDecision, lang: str = "fr") -> str:
    """The article that governs the right as decided: "art. 21.1 du RGPD" / "GDPR art. 21.1"."""
    if lang == "en":
        return decision.source if decision.source.startswith("GDPR") else decision.article
    source = decision.source if decision.source.startswith("GDPR") else decision.article
    return source.replace("GDPR ", "") + " du RGPD"


def basis_words(basis: Art6Basis, lang: str = "fr") -> str:
    """ "une obligation légale (art. 6.1 c du RGPD)"."""
    return str(_data()["bases"][lang][basis.value])


def reason(decision: RightDecision, lang: str = "fr") -> str:
    """Why the right applies or not, addressed to the person, with the article and the text's section."""
    if lang == "en":
        return f"{decision.reason} ({decision.referential} §{decision.section})"
    if decision.code in (TEXT_EXCLUSION, TEXT_GRANT):
        table = _data()["text"].get(decision.referential, {})
        words = table.get(f"{decision.right.value} {decision.purpose}", table.get(decision.right.value))
        if words is None:
            raise VocabularyError(
                f"The rule of {decision.referential} §{decision.section} on the right of {decision.right.value} has "
                "no French wording; add it under text in src/santegarde/governance/data/rights.fr.yaml."
            )
        return f"{words} (§{decision.section} du référentiel)"
    words = str(_data()["gdpr"][decision.code])
    basis = basis_words(decision.basis) if decision.basis is not None else ""
    if decision.code in (ALWAYS, BASIS):
        return words.format(article=article(decision), basis=basis)
    return words.format(basis=basis)


def resource_name(resource_type: str) -> str:
    """The kind of record a person reads in a copy of their data: "Observation" → "Mesure ou résultat d'examen"."""
    names: dict[str, str] = _data()["resources"]
    if resource_type not in names:
        raise VocabularyError(
            f"The record type '{resource_type}' has no French name; add it under resources in "
            "src/santegarde/governance/data/rights.fr.yaml."
        )
    return names[resource_type]


def element_name(element: str) -> str:
    """The name of a FHIR element in a copy of a person's data: "birthDate" → "Date de naissance".

    An element without a French name is shown as « element » rather than dropped: the copy is complete.
    """
    names: dict[str, str] = _data()["elements"]
    return names.get(element, f"« {element} »")


def element_path(segments: list[tuple[str, int | None]]) -> str:
    """A path of FHIR elements in words: [("name", 0), ("given", 1)] → "Nom › Prénom n° 2".

    ``segments`` are (element, position in its list, or None when it is not a list or the list holds one item).
    """
    return " › ".join(element_name(key) + (f" n° {index + 1}" if index is not None else "") for key, index in segments)
