"""Time for the identity package (the shared clock of santegarde.clock)."""

from santegarde.clock import Clock, aware, utc_now

__all__ = ["Clock", "aware", "utc_now"]
