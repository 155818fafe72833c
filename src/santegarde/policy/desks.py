"""Who sits at the console's governance desks (deny by default), decided from the référentiel's data.

- The controller's desk (conformity, DPIA, rights requests, breaches, processors, documents) is for the profiles
  that act for the controller on the persons' rights: those the text lets delete data (``rights_handlers``: the
  practitioner in charge of a practice, the pharmacist, the warehouse's data steward).
- The audit desk (trail search, chain verification, the two-monthly review) is for the profiles the text lets read
  the traces (the warehouse's log reviewer, the laboratory's audit); where the text names none, the controller
  reviews the traces himself (COM-LOG-4), so the controller's profiles.
- The warehouse's desk (the committees' data list and opinions, projects and workspaces, objections, the export
  queue) is for the controller's profiles and the export reviewers: the profiles the text lets read, for no purpose
  of their own and only aggregated, the data sets submitted for export (EDS-SEC-EXP-3). A text without export
  reviewers has no warehouse, so no such desk. Each action at the desk is then decided by the same check as its CLI
  command (the gate's empowered manager, the objection's profiles).

A text that names nobody for a desk leaves it closed to everyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from santegarde.policy.rights import rights_handlers
from santegarde.referentials.model import CategoryKind, Granularity, Operation, Referential


class Desk(StrEnum):
    CONTROLLER = "controller"
    AUDIT = "audit"
    WAREHOUSE = "warehouse"


RULES = {
    Desk.CONTROLLER: "COM-SEC-1.controller",
    Desk.AUDIT: "COM-LOG-4.reviewer",
    Desk.WAREHOUSE: "EDS-SEC-EXP-2.desk",
}


@dataclass(frozen=True)
class DeskDecision:
    desk: Desk
    profile: str | None
    allowed: bool
    rule: str
    profiles: tuple[str, ...]  # who may sit at this desk under the référentiel


def trace_readers(ref: Referential) -> tuple[str, ...]:
    """The profiles the text lets read a category of traces."""
    traces = {c.id for c in ref.categories if c.kind is CategoryKind.TRACES}
    return tuple(
        a.id
        for a in ref.accessors
        if any(Operation.READ in acc.operations and traces & set(acc.categories) for acc in a.access)
    )


def export_reviewers(ref: Referential) -> tuple[str, ...]:
    """The profiles the text lets read only the aggregated data sets submitted for export, for no purpose of their
    own: the operators verifying exports' anonymity (eds-2021-118's ``export_reviewer``)."""
    return tuple(
        a.id
        for a in ref.accessors
        if a.access
        and all(
            not acc.purposes and acc.operations == [Operation.READ] and acc.granularity is Granularity.AGGREGATED
            for acc in a.access
        )
    )


def desk_profiles(ref: Referential, desk: Desk) -> tuple[str, ...]:
    if desk is Desk.CONTROLLER:
        return rights_handlers(ref)
    if desk is Desk.WAREHOUSE:
        reviewers = export_reviewers(ref)
        return (*rights_handlers(ref), *reviewers) if reviewers else ()
    return trace_readers(ref) or rights_handlers(ref)


def decide_desk(ref: Referential, desk: Desk, profile: str | None) -> DeskDecision:
    """Whether ``profile`` may sit at ``desk``; the rule that decides is named in the refusal and the trail."""
    profiles = desk_profiles(ref, desk)
    return DeskDecision(desk, profile, bool(profile) and profile in profiles, RULES[desk], profiles)
