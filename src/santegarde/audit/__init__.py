"""The audit trail: append-only, hash-chained, sealed at intervals; references only, never contents."""
