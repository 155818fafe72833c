"""The requirement trace: every requirement ID mapped to a status, its code and its tests."""

from santegarde.trace.model import Trace, TraceEntry, load_trace, parse_requirement_ids, verify_locations

__all__ = ["Trace", "TraceEntry", "load_trace", "parse_requirement_ids", "verify_locations"]
