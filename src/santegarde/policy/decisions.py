"""Access decisions: may this profile do this operation on this category for this purpose?

A decision is a value (STYLE.md, example 3): immutable, it names the rule and the section of the
référentiel that decided, and the audit trail records it as is. Everything not explicitly allowed
by the référentiel is denied.
"""

from __future__ import annotations

from dataclasses import dataclass

from santegarde.referentials.model import Granularity, Operation, Referential, Sensitivity


@dataclass(frozen=True, slots=True)
class AccessRequest:
    profile: str
    operation: Operation
    category: str
    purpose: str
    consent_active: bool = False  # the store's consent ledger has an active Consent for it (never a client's word)
    formality: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    referential: str
    rule: str
    section: str
    reason: str
    request: AccessRequest
    granularity: Granularity | None = None
    condition: str | None = None
    elements: tuple[str, ...] = ()  # "Resource.element" the access is limited to; empty: the whole category

    def elements_of(self, resource_type: str) -> frozenset[str] | None:
        """The elements of ``resource_type`` this decision allows; None when it is not limited to some elements."""
        if not self.elements:
            return None
        prefix = f"{resource_type}."
        return frozenset(e.removeprefix(prefix) for e in self.elements if e.startswith(prefix))

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "denied"
        return f"{verdict} by {self.referential} §{self.section} ({self.rule}): {self.reason}"


def _deny(ref: Referential, req: AccessRequest, rule: str, section: str, reason: str) -> Decision:
    return Decision(False, ref.id, rule, section, reason, req)


def decide(ref: Referential, req: AccessRequest) -> Decision:
    """Decide one request under one référentiel. Deny by default."""
    purpose = ref.purpose(req.purpose)
    if purpose is None:
        return _deny(
            ref,
            req,
            "purpose.undeclared",
            "3",
            f"the purpose '{req.purpose}' is not a purpose of {ref.id}; declare one of: "
            + ", ".join(p.id for p in ref.purposes if not (p.forbidden or p.out_of_scope)),
        )
    where = f"purposes.{purpose.id}"
    if purpose.forbidden:
        return _deny(
            ref, req, f"{where}.forbidden", purpose.section, f"the purpose '{purpose.name}' is forbidden by {ref.id}"
        )
    if purpose.out_of_scope:
        return _deny(
            ref,
            req,
            f"{where}.out_of_scope",
            purpose.section,
            f"'{purpose.name}' is outside the scope of {ref.id}; it needs its own framework",
        )
    if purpose.requires_formality and not (req.formality and req.formality.strip()):
        return _deny(
            ref,
            req,
            f"{where}.requires_formality",
            purpose.section,
            f"the purpose '{purpose.name}' needs a recorded formality (reference methodology "
            "declaration or authorisation number); give its reference",
        )

    category = ref.category(req.category)
    if category is None:
        return _deny(
            ref,
            req,
            "category.unknown",
            "5",
            f"'{req.category}' is not a data category of {ref.id}; known categories: "
            + ", ".join(c.id for c in ref.categories),
        )
    if category.forbidden:
        why = f" ({category.condition})" if category.condition else ""
        return _deny(
            ref,
            req,
            f"categories.{category.id}.forbidden",
            category.section,
            f"{ref.id} forbids processing '{category.name}'{why}",
        )
    if category.id not in purpose.categories:
        return _deny(
            ref,
            req,
            f"{where}.categories",
            purpose.section,
            f"the category '{category.name}' is not needed for the purpose '{purpose.name}' "
            "(data minimisation); only: " + ", ".join(purpose.categories),
        )
    if category.requires_consent and req.operation is Operation.WRITE and not req.consent_active:
        return _deny(
            ref,
            req,
            f"categories.{category.id}.requires_consent",
            category.section,
            f"'{category.name}' may only be collected while a stored, active Consent of the person covers it for "
            f"'{purpose.name}'; record the person's Consent first (FHIR Consent, or santegarde consent give)",
        )

    accessor = ref.accessor(req.profile)
    if accessor is None:
        return _deny(
            ref,
            req,
            "profile.unknown",
            "6",
            f"'{req.profile}' is not a profile of {ref.id}; known profiles: " + ", ".join(a.id for a in ref.accessors),
        )
    if not accessor.health_data and category.sensitivity is Sensitivity.SPECIAL:
        return _deny(
            ref,
            req,
            f"accessors.{accessor.id}.no_health_data",
            accessor.section,
            f"the profile '{accessor.name}' may never reach '{category.name}'",
        )
    for i, access in enumerate(accessor.access):
        if (
            category.id in access.categories
            and req.operation in access.operations
            and (not access.purposes or purpose.id in access.purposes)
        ):
            return Decision(
                True,
                ref.id,
                f"accessors.{accessor.id}.access[{i}]",
                accessor.section,
                f"the profile '{accessor.name}' may {req.operation} '{category.name}' for '{purpose.name}'",
                req,
                access.granularity,
                access.condition,
                tuple(access.elements),
            )
    return _deny(
        ref,
        req,
        f"accessors.{accessor.id}.default_deny",
        accessor.section,
        f"the profile '{accessor.name}' is not allowed to {req.operation} '{category.name}' "
        f"for '{purpose.name}' under {ref.id}",
    )
