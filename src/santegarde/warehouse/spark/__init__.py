"""The warehouse on Apache Spark (issue 22): the same feed, pseudonyms and objections as on DuckDB, at scale.

PySpark is imported inside functions only: the CLI starts without it, and the ``spark`` extra is optional.
"""
