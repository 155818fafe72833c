"""Access decisions: may this profile do this operation on this category for this purpose?

A decision is a value (STYLE.md, example 3): immutable, it names the rule and the section of the
référentiel that decided, and the audit trail records it as is. Everything not explicitly allowed
by the référentiel is denied.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from santegarde import refusals
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
    # A refusal's reason in each language (data/refusals.yaml, ``access``); ``reason`` is the English one.
    said: dict[str, str] = field(default_factory=dict, compare=False)

    def reason_in(self, lang: str) -> str:
        """The reason in ``lang``, for a refusal (the English ``reason`` when it has no wording in that language)."""
        return self.said.get(lang, self.reason)

    def elements_of(self, resource_type: str) -> frozenset[str] | None:
        """The elements of ``resource_type`` this decision allows; None when it is not limited to some elements."""
        if not self.elements:
            return None
        prefix = f"{resource_type}."
        return frozenset(e.removeprefix(prefix) for e in self.elements if e.startswith(prefix))

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "denied"
        return f"{verdict} by {self.referential} §{self.section} ({self.rule}): {self.reason}"


def _deny(ref: Referential, req: AccessRequest, rule: str, section: str, key: str, **facts: Any) -> Decision:
    said = refusals.sentences("access", key, referential=ref.id, **facts)
    return Decision(False, ref.id, rule, section, said["en"], req, said=said)


def refused(decision: Decision, rule: str, key: str, /, **facts: Any) -> Decision:
    """``decision`` turned into a refusal by a rule of the store (data/refusals.yaml, ``access_store``), worded in
    each language."""
    said = refusals.sentences("access_store", key, **facts)
    return replace(decision, allowed=False, rule=rule, reason=said["en"], said=said)


def reworded(decision: Decision, key: str, /, **facts: Any) -> Decision:
    """A refusal whose reason the store completes (data/refusals.yaml, ``access_store``)."""
    said = refusals.sentences("access_store", key, **facts)
    return replace(decision, reason=said["en"], said=said)


# Below governance the French names of the référentiel's items are not at hand: the French sentence says
# "cette finalité" where the English names the item (the console words it with the names, web/french.py).
def why(name: str) -> dict[str, str]:
    return {"fr": "cette finalité", "en": f"the purpose '{name}'"}


def what(name: str) -> dict[str, str]:
    return {"fr": "cette catégorie de données", "en": f"the category '{name}'"}


def who(name: str) -> dict[str, str]:
    return {"fr": "votre profil", "en": f"the profile '{name}'"}


OPERATION_FR = {
    Operation.READ: "lire",
    Operation.WRITE: "enregistrer",
    Operation.EXPORT: "exporter",
    Operation.TRANSMIT: "transmettre",
    Operation.ARCHIVE: "archiver",
    Operation.DELETE: "supprimer",
}


def decide(ref: Referential, req: AccessRequest) -> Decision:
    """Decide one request under one référentiel. Deny by default."""
    purpose = ref.purpose(req.purpose)
    if purpose is None:
        return _deny(
            ref,
            req,
            "purpose.undeclared",
            "3",
            "purpose_undeclared",
            purpose=req.purpose,
            choices=", ".join(p.id for p in ref.purposes if not (p.forbidden or p.out_of_scope)),
        )
    where = f"purposes.{purpose.id}"
    if purpose.forbidden:
        return _deny(ref, req, f"{where}.forbidden", purpose.section, "purpose_forbidden", why=why(purpose.name))
    if purpose.out_of_scope:
        return _deny(
            ref,
            req,
            f"{where}.out_of_scope",
            purpose.section,
            "out_of_scope",
            why=why(purpose.name),
        )
    if purpose.requires_formality and not (req.formality and req.formality.strip()):
        return _deny(
            ref,
            req,
            f"{where}.requires_formality",
            purpose.section,
            "requires_formality",
            why=why(purpose.name),
        )

    category = ref.category(req.category)
    if category is None:
        return _deny(
            ref,
            req,
            "category.unknown",
            "5",
            "category_unknown",
            category=req.category,
            choices=", ".join(c.id for c in ref.categories),
        )
    if category.forbidden:
        return _deny(
            ref,
            req,
            f"categories.{category.id}.forbidden",
            category.section,
            "category_forbidden",
            what=what(category.name),
            condition={"fr": "", "en": f" ({category.condition})" if category.condition else ""},
        )
    if category.id not in purpose.categories:
        return _deny(
            ref,
            req,
            f"{where}.categories",
            purpose.section,
            "not_needed",
            what=what(category.name),
            why=why(purpose.name),
            only={"fr": "", "en": "; only: " + ", ".join(purpose.categories)},
        )
    if category.requires_consent and req.operation is Operation.WRITE and not req.consent_active:
        return _deny(
            ref,
            req,
            f"categories.{category.id}.requires_consent",
            category.section,
            "requires_consent",
            what=what(category.name),
            why=why(purpose.name),
        )

    accessor = ref.accessor(req.profile)
    if accessor is None:
        return _deny(
            ref,
            req,
            "profile.unknown",
            "6",
            "profile_unknown",
            profile=req.profile,
            choices=", ".join(a.id for a in ref.accessors),
        )
    if not accessor.health_data and category.sensitivity is Sensitivity.SPECIAL:
        return _deny(
            ref,
            req,
            f"accessors.{accessor.id}.no_health_data",
            accessor.section,
            "no_health_data",
            who=who(accessor.name),
            what=what(category.name),
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
        "default_deny",
        who=who(accessor.name),
        operation={"fr": OPERATION_FR[req.operation], "en": str(req.operation)},
        what=what(category.name),
        why=why(purpose.name),
    )
