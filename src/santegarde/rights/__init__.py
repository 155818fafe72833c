"""Data-subject rights executed end to end: register, identity checks, deadlines, execution, letters (COM-RGT-1)."""

from santegarde.rights.execute import Outcome, RightsService, collection
from santegarde.rights.requests import (
    Requester,
    RequestNotFound,
    RightsError,
    RightsRegister,
    RightsRequest,
    Status,
    add_months,
    deadline_for,
)

__all__ = [
    "Outcome",
    "RequestNotFound",
    "Requester",
    "RightsError",
    "RightsRegister",
    "RightsRequest",
    "RightsService",
    "Status",
    "add_months",
    "collection",
    "deadline_for",
]
