"""The conformity report's verdict on the processing's formality (AAC-1, aac-2022-106 §3.2-3.3).

A controller that declared its conformity to the référentiel may carry out the processing only if it strictly
complies with it; any departure — every deviation ``santegarde config check`` finds in ``santegarde.yaml`` — needs
a specific authorisation (article 66 III of the "Informatique et Libertés" law). The verdict says which case the
organisation is in, from its configuration: the formality it recorded (``cnil_formality``) and its deviations.
"""

from __future__ import annotations

from dataclasses import dataclass

from santegarde.config import OrganisationConfig, check
from santegarde.governance import doctext
from santegarde.referentials.model import OrganisationProfile, Referential

# The profiles whose référentiel is a reference framework one declares conformity to (aac 3.2).
DECLARED = (OrganisationProfile.COMPASSIONATE,)


@dataclass(frozen=True)
class Verdict:
    code: str  # conformity_declared, authorised, authorisation_needed, formality_missing
    sentence: str
    deviations: tuple[str, ...]  # the subjects of the deviations found


def verdict(config: OrganisationConfig, ref: Referential, lang: str = "fr") -> Verdict | None:
    """Where the organisation stands (None for a profile whose référentiel asks no such formality)."""
    if config.profile not in DECLARED:
        return None
    said = doctext.words(lang)["conformity"]["formality"]
    found = tuple(f"{f.kind} {f.subject}" for f in check(config, ref) if f.severity == "deviation")
    formality = config.cnil_formality
    if formality is not None and formality.kind == "specific_authorisation":
        when = formality.granted.strftime(str(doctext.words(lang)["registers"]["date"]))
        return Verdict("authorised", str(said["authorised"]).format(reference=formality.reference, date=when), found)
    if found:
        return Verdict("authorisation_needed", str(said["needed"]).format(n=len(found)), found)
    if formality is None:
        return Verdict("formality_missing", str(said["missing"]), found)
    when = formality.granted.strftime(str(doctext.words(lang)["registers"]["date"]))
    return Verdict("conformity_declared", str(said["declared"]).format(reference=formality.reference, date=when), found)
