"""Which data-subject rights apply to a purpose, computed from the law; the one function every document calls.

Notices, the register, the DPIA, the rights desk and its letters all ask ``right_applies`` (or
``rights_for``), so that a right is never stated in one place and refused in another.

The GDPR decides from the purpose's legal basis (art. 6.1) and health-data condition (art. 9.2):

- access (art. 15), rectification (art. 16), restriction (art. 18): every processing;
- objection (art. 21.1): only processing based on a task in the public interest (6.1 e) or a legitimate
  interest (6.1 f);
- portability (art. 20.1): only automated processing based on consent (6.1 a) or a contract (6.1 b) —
  santegarde's processing is automated by construction;
- erasure (art. 17.3): not where the processing is needed for a legal obligation or a task in the public
  interest (b), nor for public health (c, art. 9.2 i); for research (9.2 j) it applies unless it would
  make the research impossible or seriously impair it (d).

The référentiel then has the last word where it speaks: a rule naming the purpose (the most specific)
or for every purpose that *excludes* a right is applied (the text's own exclusions, e.g. the
pharmacy's registers); a rule that grants a right *beyond* the GDPR (``beyond_gdpr``, e.g. erasure in a
warehouse, eds-2021-118 §9.2) is applied; a rule that only grants "subject to the GDPR's conditions"
leaves the GDPR's answer standing, cited with the text's section.
"""

from __future__ import annotations

from dataclasses import dataclass

from santegarde.errors import SantegardeError
from santegarde.referentials.model import Art6Basis, Art9Condition, Operation, Purpose, Referential, Right, RightRule


class RightsUndecidable(SantegardeError, ValueError):
    """The purpose has several possible legal bases and the organisation has not chosen one (or none is known)."""


# Why a right applies or not: a stable code that documents turn into words (governance.rights_text).
ALWAYS = "always"  # articles 13 to 16 and 18: every processing
BASIS = "basis"  # the legal basis admits the right (art. 20.1, 21.1) or no exception of art. 17.3 applies
ART21 = "art21"  # objection: the basis is neither 6.1 e nor 6.1 f
ART20 = "art20"  # portability: the basis is neither consent nor contract
ART17_3_B = "art17_3_b"  # erasure: legal obligation or task in the public interest
ART17_3_C = "art17_3_c"  # erasure: public health (art. 9.2 i)
ART17_3_D = "art17_3_d"  # erasure applies, unless it makes the research impossible or seriously impairs it
TEXT_EXCLUSION = "text_exclusion"  # the référentiel excludes the right (its reason says why)
TEXT_GRANT = "text_grant"  # the référentiel grants the right beyond what the GDPR requires

ARTICLE: dict[Right, str] = {
    Right.INFORMATION: "GDPR art. 13-14",
    Right.ACCESS: "GDPR art. 15",
    Right.RECTIFICATION: "GDPR art. 16",
    Right.ERASURE: "GDPR art. 17",
    Right.RESTRICTION: "GDPR art. 18",
    Right.OBJECTION: "GDPR art. 21.1",
    Right.PORTABILITY: "GDPR art. 20.1",
}
_EXACT_ARTICLE = {
    ART17_3_B: "GDPR art. 17.3 b",
    ART17_3_C: "GDPR art. 17.3 c",
    ART17_3_D: "GDPR art. 17.3 d",
}
_REASONS = {
    ALWAYS: "{article} applies to every processing",
    BASIS: "the legal basis is {basis}, under which {article} applies",
    ART21: "objection only applies to processing based on a task in the public interest or a legitimate interest "
    "(GDPR art. 21.1); the legal basis is {basis}",
    ART20: "portability only applies to processing based on consent or a contract (GDPR art. 20.1); the legal basis "
    "is {basis}",
    ART17_3_B: "the processing is necessary to comply with a legal obligation or to perform a task in the public "
    "interest (GDPR art. 17.3 b)",
    ART17_3_C: "the processing is necessary for reasons of public interest in the area of public health "
    "(GDPR art. 17.3 c, art. 9.2 i)",
    ART17_3_D: "erasure applies unless it would render impossible or seriously impair the research (GDPR art. 17.3 d)",
}
_OBJECTION_BASES = {Art6Basis.PUBLIC_INTEREST, Art6Basis.LEGITIMATE_INTEREST}
_PORTABILITY_BASES = {Art6Basis.CONSENT, Art6Basis.CONTRACT}


@dataclass(frozen=True, slots=True)
class RightDecision:
    right: Right
    applies: bool
    referential: str
    purpose: str
    source: str  # "référentiel" when the text decides, else the GDPR article used
    section: str  # the référentiel's section cited
    reason: str  # in English; documents write it in their language from ``code``
    code: str = ALWAYS  # why (see the codes above)
    article: str = ""  # the GDPR article that governs the right, e.g. "GDPR art. 21.1"
    basis: Art6Basis | None = None
    art9: Art9Condition | None = None

    def __str__(self) -> str:
        verdict = "applies" if self.applies else "does not apply"
        return f"{self.right} {verdict} to {self.purpose} ({self.source} §{self.section}): {self.reason}"


def _purpose(ref: Referential, purpose_id: str) -> Purpose:
    purpose = ref.purpose(purpose_id)
    if purpose is None:
        raise RightsUndecidable(f"'{purpose_id}' is not a purpose of {ref.id}; check the purpose id.")
    return purpose


def _basis(ref: Referential, purpose: Purpose, chosen: Art6Basis | None) -> Art6Basis:
    options = {b.art6 for b in purpose.legal_bases}
    if chosen is not None:
        if options and chosen not in options:
            raise RightsUndecidable(
                f"The legal basis '{chosen}' is not admissible for '{purpose.id}' under {ref.id}; "
                f"choose one of: {', '.join(sorted(options))}."
            )
        return chosen
    if len(options) == 1:
        return next(iter(options))
    if not options:
        raise RightsUndecidable(
            f"The référentiel {ref.id} states no legal basis for '{purpose.id}' (§{purpose.section}); record the "
            "organisation's own under deviations.legal_basis, with its justification, in santegarde.yaml."
        )
    raise RightsUndecidable(
        f"The purpose '{purpose.id}' admits several legal bases ({', '.join(sorted(options))}); the organisation "
        f"must choose one: set choices.{purpose.legal_basis_choice}.value in santegarde.yaml."
    )


def _art9(purpose: Purpose, basis: Art6Basis) -> Art9Condition | None:
    return next((b.art9 for b in purpose.legal_bases if b.art6 == basis and b.art9), None)


def rights_section(ref: Referential) -> str:
    """The référentiel's own section on rights, cited when the GDPR decides in its silence."""
    for section in ref.sections:
        if "right" in section.title.lower() or "droit" in section.title.lower():
            return section.number
    return ref.sections[0].number


def _gdpr(right: Right, basis: Art6Basis, art9: Art9Condition | None) -> tuple[bool, str]:
    if right is Right.OBJECTION:
        return (True, BASIS) if basis in _OBJECTION_BASES else (False, ART21)
    if right is Right.PORTABILITY:
        return (True, BASIS) if basis in _PORTABILITY_BASES else (False, ART20)
    if right is Right.ERASURE:
        if basis in (Art6Basis.LEGAL_OBLIGATION, Art6Basis.PUBLIC_INTEREST):
            return False, ART17_3_B
        if art9 is Art9Condition.PUBLIC_HEALTH:
            return False, ART17_3_C
        if art9 is Art9Condition.RESEARCH:
            return True, ART17_3_D
        return True, BASIS
    return True, ALWAYS


def _text_rule(ref: Referential, purpose_id: str, right: Right) -> RightRule | None:
    """The text's rule for this right and purpose: a rule naming the purpose first, else one for every purpose."""
    specific = [r for r in ref.rights if r.right == right and purpose_id in r.purposes]
    general = [r for r in ref.rights if r.right == right and not r.purposes]
    return next(iter(specific or general), None)


def right_applies(
    ref: Referential, purpose_id: str, right: Right, chosen_basis: Art6Basis | None = None
) -> RightDecision:
    """Whether ``right`` applies to ``purpose_id`` under ``ref``, with the article, the section and the reason."""
    purpose = _purpose(ref, purpose_id)
    rule = _text_rule(ref, purpose_id, right)
    article = ARTICLE[right]

    def decision(
        applies: bool,
        code: str,
        section: str,
        reason: str,
        basis: Art6Basis | None = None,
        art9: Art9Condition | None = None,
    ) -> RightDecision:
        source = "référentiel" if code in (TEXT_EXCLUSION, TEXT_GRANT) else _EXACT_ARTICLE.get(code, article)
        return RightDecision(right, applies, ref.id, purpose_id, source, section, reason, code, article, basis, art9)

    if rule is not None and not rule.applies:
        return decision(False, TEXT_EXCLUSION, rule.section, str(rule.reason))
    if rule is not None and rule.beyond_gdpr:
        return decision(True, TEXT_GRANT, rule.section, rule.reason or f"{ref.id} grants the right of {right}")
    section = rule.section if rule is not None else rights_section(ref)
    if right in (Right.INFORMATION, Right.ACCESS, Right.RECTIFICATION, Right.RESTRICTION):
        return decision(True, ALWAYS, section, _REASONS[ALWAYS].format(article=article))
    basis = _basis(ref, purpose, chosen_basis)
    gdpr = right_under_gdpr(ref, purpose_id, right, basis, _art9(purpose, basis))
    return decision(gdpr.applies, gdpr.code, section, gdpr.reason, basis, gdpr.art9)


def right_under_gdpr(
    ref: Referential, purpose_id: str, right: Right, basis: Art6Basis, art9: Art9Condition | None = None
) -> RightDecision:
    """The GDPR's answer alone, from a legal basis: for processing the référentiel does not list as a purpose
    (e.g. the security logging every text requires, art. 32), and the second step of ``right_applies``."""
    article = ARTICLE[right]
    applies, code = _gdpr(right, basis, art9)
    reason = _REASONS[code].format(article=article, basis=basis.value.replace("_", " "))
    source = _EXACT_ARTICLE.get(code, article)
    return RightDecision(
        right, applies, ref.id, purpose_id, source, rights_section(ref), reason, code, article, basis, art9
    )


def rights_for(ref: Referential, purpose_id: str, chosen_basis: Art6Basis | None = None) -> dict[Right, RightDecision]:
    """Every right, decided for one purpose."""
    return {right: right_applies(ref, purpose_id, right, chosen_basis) for right in Right}


def rights_handlers(ref: Referential) -> tuple[str, ...]:
    """The profiles that act for the controller on the persons' rights: those the text lets delete data (the
    practitioner in charge of the practice, the pharmacist, the warehouse's data steward — possibly the DPO).

    They register the warehouse's objections (EDS-9), lift an objection and record compelling legitimate grounds
    that override one (GDPR art. 21.1); a text that lets no profile delete data lets nobody do so.
    """
    return tuple(a.id for a in ref.accessors if any(Operation.DELETE in acc.operations for acc in a.access))


def reuse_purposes(ref: Referential) -> tuple[str, ...]:
    """The purposes that re-use data collected for care (``reuse`` in the text's data): studies, research, a
    warehouse. A person's objection to one of them, in force, keeps them out of every feed and export."""
    return tuple(p.id for p in ref.purposes if p.reuse)
