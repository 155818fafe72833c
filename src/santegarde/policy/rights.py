"""Which data-subject rights apply to a purpose, and why not when they do not.

The référentiel's own rules come first (the most specific: a rule naming the purpose beats a rule
for every purpose). Where the text says nothing about a right, the GDPR decides from the
purpose's legal basis: objection only on public interest or legitimate interest (art. 21.1),
portability only on consent or contract (art. 20.1), erasure not where processing is needed for a
legal obligation or a task in the public interest (art. 17.3 b).
"""

from __future__ import annotations

from dataclasses import dataclass

from santegarde.errors import SantegardeError
from santegarde.referentials.model import Art6Basis, Referential, Right


class RightsUndecidable(SantegardeError, ValueError):
    """The purpose has several possible legal bases and the organisation has not chosen one."""


@dataclass(frozen=True, slots=True)
class RightDecision:
    right: Right
    applies: bool
    referential: str
    purpose: str
    source: str  # "référentiel" or the GDPR article used
    section: str
    reason: str

    def __str__(self) -> str:
        verdict = "applies" if self.applies else "does not apply"
        return f"{self.right} {verdict} to {self.purpose} ({self.source} §{self.section}): {self.reason}"


_GDPR_DEFAULTS: dict[Right, tuple[str, set[Art6Basis] | None, str]] = {
    # right: (article, bases under which it applies (None = all), reason when it does not)
    Right.INFORMATION: ("GDPR art. 13-14", None, ""),
    Right.ACCESS: ("GDPR art. 15", None, ""),
    Right.RECTIFICATION: ("GDPR art. 16", None, ""),
    Right.RESTRICTION: ("GDPR art. 18", None, ""),
    Right.ERASURE: (
        "GDPR art. 17.3",
        {Art6Basis.CONSENT, Art6Basis.CONTRACT, Art6Basis.LEGITIMATE_INTEREST, Art6Basis.VITAL_INTEREST},
        "the processing is necessary to comply with a legal obligation or to perform a task in the public "
        "interest (GDPR art. 17.3 b)",
    ),
    Right.OBJECTION: (
        "GDPR art. 21.1",
        {Art6Basis.PUBLIC_INTEREST, Art6Basis.LEGITIMATE_INTEREST},
        "objection only applies to processing based on a public-interest task or a legitimate interest "
        "(GDPR art. 21.1)",
    ),
    Right.PORTABILITY: (
        "GDPR art. 20.1",
        {Art6Basis.CONSENT, Art6Basis.CONTRACT},
        "portability only applies to processing based on consent or a contract (GDPR art. 20.1)",
    ),
}


def _basis(ref: Referential, purpose_id: str, chosen: Art6Basis | None) -> Art6Basis:
    purpose = ref.purpose(purpose_id)
    if purpose is None:
        raise RightsUndecidable(f"'{purpose_id}' is not a purpose of {ref.id}")
    options = {b.art6 for b in purpose.legal_bases}
    if chosen is not None:
        if options and chosen not in options:
            raise RightsUndecidable(
                f"the legal basis '{chosen}' is not admissible for '{purpose_id}' under {ref.id}; "
                f"choose one of: {', '.join(sorted(options))}"
            )
        return chosen
    if len(options) == 1:
        return next(iter(options))
    raise RightsUndecidable(
        f"the purpose '{purpose_id}' admits several legal bases ({', '.join(sorted(options)) or 'none listed'}); "
        f"the organisation must choose one (controller choice '{purpose.legal_basis_choice}')"
    )


def _rights_section(ref: Referential) -> str:
    """The référentiel's own section on rights, cited when the GDPR decides in its silence."""
    for section in ref.sections:
        if "right" in section.title.lower() or "droit" in section.title.lower():
            return section.number
    return ref.sections[0].number


def right_applies(
    ref: Referential, purpose_id: str, right: Right, chosen_basis: Art6Basis | None = None
) -> RightDecision:
    specific = [r for r in ref.rights if r.right == right and purpose_id in r.purposes]
    general = [r for r in ref.rights if r.right == right and not r.purposes]
    for rule in specific or general:
        return RightDecision(
            right,
            rule.applies,
            ref.id,
            purpose_id,
            "référentiel",
            rule.section,
            rule.reason or f"{ref.id} grants the right of {right}",
        )
    article, bases, refusal = _GDPR_DEFAULTS[right]
    section = _rights_section(ref)
    if bases is None:
        return RightDecision(
            right, True, ref.id, purpose_id, article, section, f"{article} applies to every processing"
        )
    basis = _basis(ref, purpose_id, chosen_basis)
    if basis in bases:
        return RightDecision(
            right,
            True,
            ref.id,
            purpose_id,
            article,
            section,
            f"the legal basis is {basis}, under which {article} applies",
        )
    return RightDecision(right, False, ref.id, purpose_id, article, section, refusal)


def rights_for(ref: Referential, purpose_id: str, chosen_basis: Art6Basis | None = None) -> dict[Right, RightDecision]:
    """Every right, decided for one purpose."""
    return {right: right_applies(ref, purpose_id, right, chosen_basis) for right in Right}
