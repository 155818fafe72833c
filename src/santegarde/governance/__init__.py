"""Governance: the registers a controller keeps and files (maintenance logbook today; Art. 30 register,
notices, DPIA, breaches and conformity report come with their issue)."""
