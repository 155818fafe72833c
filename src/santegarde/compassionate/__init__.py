"""The compassionate-access programme platform (aac-2022-106): programmes as data, coded forms, indirect patient
codes, submissions on the one record path (identity → policy → store → audit)."""
