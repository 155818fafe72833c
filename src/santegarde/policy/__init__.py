"""Decisions from the référentiel data: access, rights, DPIA/DPO triggers."""

from santegarde.policy.decisions import AccessRequest, Decision, decide
from santegarde.policy.rights import RightDecision, RightsUndecidable, right_applies, rights_for
from santegarde.policy.triggers import TriggerDecision, dpia_required, dpo_required, parse_fact, trigger_facts

__all__ = [
    "AccessRequest",
    "Decision",
    "RightDecision",
    "RightsUndecidable",
    "TriggerDecision",
    "decide",
    "dpia_required",
    "dpo_required",
    "parse_fact",
    "right_applies",
    "rights_for",
    "trigger_facts",
]
