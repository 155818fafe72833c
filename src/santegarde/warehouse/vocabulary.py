"""OMOP standardised vocabularies, standard concept mapping, era tables and the CDM description (issue 15, fault 5).

- :func:`load_vocabulary` reads an Athena download (tab-separated ``CONCEPT.csv``, ``CONCEPT_RELATIONSHIP.csv``…,
  dates ``YYYYMMDD``) into the vocabulary tables of the health store, each table replaced whole in one transaction,
  by a feeding profile through the warehouse guard (traced). Public reference data: no person in it.
- :func:`map_concepts` gives the clinical rows still at concept 0 their standard concept: the source value is looked
  up in ``source_to_concept_map``, then as a code of the table's source vocabularies whose concept "Maps to" a
  standard one (ICD-10 → SNOMED where the vocabulary has it); ambiguous or unknown codes stay 0, the source value
  is always kept.
- :func:`derive_eras` rebuilds ``condition_era`` and ``drug_era`` as the OHDSI scripts do: occurrences of the same
  concept (for drugs, of the same ingredient through ``concept_ancestor``) less than 30 days apart form one era;
  a condition lasts until its end date or one day; a drug exposure until its end date, else its start plus its
  days of supply, else one day; ``gap_days`` are the days of the era not covered by an exposure.
- :func:`derive_dose_eras` rebuilds ``dose_era`` from ``drug_strength``: an exposure with a quantity and days of
  supply whose drug has a strength for an ingredient takes a daily dose of that ingredient (the amount per unit
  times the quantity over the days of supply, or for a concentration the numerator over the denominator times the
  quantity over the days of supply) in the strength's unit; exposures of the same person, ingredient, unit and dose
  less than 30 days apart form one era. Exposures without quantity, days of supply or strength have no dose era.
  Until ``drug_strength`` is loaded, the dose eras a source fed (a ``dose_era`` file) are kept as they are.
- :func:`describe` rewrites ``cdm_source`` and appends a ``metadata`` row for the feed.

All of them run after every feed (:func:`refresh`).
"""

# ruff: noqa: S608 - SQL is assembled from the OMOP spec constants of omop.py; values go as $parameters

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from santegarde.warehouse import omop
from santegarde.warehouse.access import Operator, WarehouseGuard
from santegarde.warehouse.core import Warehouse, WarehouseError

PERSISTENCE_DAYS = 30
CDM_VERSION_CONCEPT = 756265  # "OMOP CDM Version 5.4"
# which source vocabularies a table's source values are codes of
SOURCE_VOCABULARIES = {
    ("condition_occurrence", "condition"): ("ICD10", "ICD10CM", "CIM10", "SNOMED"),
    ("drug_exposure", "drug"): ("RxNorm", "RxNorm Extension", "ATC", "BDPM", "UCD", "CIP"),
    ("procedure_occurrence", "procedure"): ("CCAM", "ICD10PCS", "SNOMED", "CPT4"),
    ("measurement", "measurement"): ("LOINC", "SNOMED"),
    ("observation", "observation"): ("LOINC", "SNOMED"),
}


def load_vocabulary(
    warehouse: Warehouse, folder: Path, operator: Operator, guard: WarehouseGuard | None = None
) -> dict[str, int]:
    """Load the Athena files of ``folder`` (``CONCEPT.csv``…); returns the rows per table. Unknown files are refused."""
    operation = "warehouse.vocabulary"
    checker = warehouse.guard_for(operator, operation, guard)
    checker.feed(operator, operation)
    files = {f.stem.lower(): f for f in sorted(folder.glob("*.csv"))}
    unknown = sorted(set(files) - set(omop.VOCABULARY_TABLES))
    if not files or unknown:
        raise WarehouseError(
            f"Le dossier {folder.name} doit contenir les fichiers Athena des vocabulaires (CONCEPT.csv, "
            f"CONCEPT_RELATIONSHIP.csv…){' ; inconnus : ' + ', '.join(unknown) if unknown else ''}."
        )
    con = warehouse.omop
    counts: dict[str, int] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        for table, path in files.items():
            quoted = str(path).replace("'", "''")
            reader = f"read_csv('{quoted}', delim = '\\t', header = true, quote = '', all_varchar = true)"
            present = {str(r[0]).lower(): str(r[0]) for r in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()}
            values = []
            for column in omop.VOCABULARY_TABLES[table]:
                raw = present.get(column.name)
                if raw is None:
                    values.append(f"NULL::{column.type}")
                elif column.type == "DATE":
                    values.append(f'coalesce(try_strptime("{raw}", \'%Y%m%d\')::DATE, TRY_CAST("{raw}" AS DATE))')
                else:
                    values.append(f"TRY_CAST(nullif(\"{raw}\", '') AS {column.type})")
            con.execute(f"DELETE FROM omop.{table}")
            con.execute(f"INSERT INTO omop.{table} SELECT {', '.join(values)} FROM {reader}")
            row = con.execute(f"SELECT count(*) FROM omop.{table}").fetchone()
            counts[table] = int(row[0]) if row else 0
        map_concepts(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        checker.trace(operator, operation, "vocabulary", "error", "EDS-4")
        raise
    checker.trace(operator, operation, "vocabulary", "success", "EDS-4")
    return counts


def map_concepts(con: duckdb.DuckDBPyConnection) -> int:
    """Give the rows still at concept 0 their standard concept (module docstring); returns the rows mapped."""
    mapped = 0
    for (table, prefix), vocabularies in SOURCE_VOCABULARIES.items():
        listed = ", ".join(f"'{v}'" for v in vocabularies)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE concept_map AS
                SELECT code, any_value(source_id) AS source_id, any_value(target) AS target FROM (
                    SELECT source_code AS code, source_concept_id AS source_id, target_concept_id AS target
                    FROM omop.source_to_concept_map WHERE invalid_reason IS NULL AND target_concept_id <> 0
                    UNION ALL
                    SELECT c.concept_code, c.concept_id, r.concept_id_2 FROM omop.concept c
                    JOIN omop.concept_relationship r ON r.concept_id_1 = c.concept_id AND r.relationship_id = 'Maps to'
                         AND r.invalid_reason IS NULL
                    WHERE c.vocabulary_id IN ({listed})
                      AND c.concept_code NOT IN (SELECT source_code FROM omop.source_to_concept_map))
                GROUP BY code HAVING count(DISTINCT target) = 1"""
        )
        row = con.execute(
            f"""UPDATE omop.{table} t SET {prefix}_concept_id = m.target,
                       {prefix}_source_concept_id = coalesce(t.{prefix}_source_concept_id, m.source_id)
                FROM temp.concept_map m
                WHERE t.{prefix}_concept_id = 0 AND t.{prefix}_source_value = m.code"""
        ).fetchone()
        mapped += int(row[0]) if row else 0
    con.execute("DROP TABLE IF EXISTS temp.concept_map")
    return mapped


def _eras(events: str, gap: int) -> str:
    """SQL of the eras (person_id, concept, start, end, n) of ``events`` (person_id, concept, start, end, n)."""
    return f"""
        WITH ordered AS (
            SELECT *, max(stop) OVER (PARTITION BY person_id, concept ORDER BY start, stop
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before FROM ({events})),
        grouped AS (
            SELECT *, sum(CASE WHEN before IS NULL OR start > before + INTERVAL {gap} DAY THEN 1 ELSE 0 END)
                      OVER (PARTITION BY person_id, concept ORDER BY start, stop ROWS UNBOUNDED PRECEDING) AS era
            FROM ordered)
        SELECT person_id, concept, min(start) AS start, max(stop) AS stop, sum(n)::INTEGER AS n,
               sum(covered)::INTEGER AS covered
        FROM grouped GROUP BY person_id, concept, era"""


def derive_eras(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Rebuild ``condition_era`` and ``drug_era`` (module docstring); returns their row counts."""
    conditions = """SELECT person_id, condition_concept_id AS concept, condition_start_date AS start,
                           coalesce(condition_end_date, condition_start_date + INTERVAL 1 DAY)::DATE AS stop,
                           1 AS n, 0 AS covered
                    FROM omop.condition_occurrence WHERE condition_concept_id <> 0"""
    con.execute("DELETE FROM omop.condition_era")
    con.execute(
        f"""INSERT INTO omop.condition_era
            SELECT row_number() OVER (ORDER BY person_id, concept, start), person_id, concept, start, stop, n
            FROM ({_eras(conditions, PERSISTENCE_DAYS)})"""
    )
    exposures = """SELECT d.person_id, a.ancestor_concept_id AS concept, d.drug_exposure_start_date AS start,
                          greatest(coalesce(d.drug_exposure_end_date,
                                            d.drug_exposure_start_date + d.days_supply * INTERVAL 1 DAY,
                                            d.drug_exposure_start_date + INTERVAL 1 DAY),
                                   d.drug_exposure_start_date)::DATE AS stop, 1 AS n
                   FROM omop.drug_exposure d
                   JOIN omop.concept_ancestor a ON a.descendant_concept_id = d.drug_concept_id
                   JOIN omop.concept c ON c.concept_id = a.ancestor_concept_id
                        AND c.concept_class_id = 'Ingredient' AND c.vocabulary_id IN ('RxNorm', 'RxNorm Extension')
                   WHERE d.drug_concept_id <> 0"""
    # exposures overlapping or touching form one stretch of days covered; stretches < 30 days apart one era
    stretches = f"""SELECT person_id, concept, start, stop, n, datediff('day', start, stop) AS covered
                    FROM ({_eras(f"SELECT *, 0 AS covered FROM ({exposures})", 0)})"""
    con.execute("DELETE FROM omop.drug_era")
    con.execute(
        f"""INSERT INTO omop.drug_era
            SELECT row_number() OVER (ORDER BY person_id, concept, start), person_id, concept, start, stop, n,
                   datediff('day', start, stop) - covered
            FROM ({_eras(stretches, PERSISTENCE_DAYS)})"""
    )
    counts = []
    for table in ("condition_era", "drug_era"):
        row = con.execute(f"SELECT count(*) FROM omop.{table}").fetchone()
        counts.append(int(row[0]) if row else 0)
    return counts[0], counts[1]


def derive_dose_eras(con: duckdb.DuckDBPyConnection) -> int:
    """Rebuild ``dose_era`` from ``drug_strength`` (module docstring); returns its row count."""
    exposures = """SELECT d.person_id,
                          {'drug': s.ingredient_concept_id,
                           'unit': CASE WHEN s.amount_value IS NOT NULL THEN s.amount_unit_concept_id
                                        ELSE s.numerator_unit_concept_id END,
                           'dose': CASE WHEN s.amount_value IS NOT NULL
                                        THEN s.amount_value * d.quantity / d.days_supply
                                        ELSE s.numerator_value / coalesce(s.denominator_value, 1) * d.quantity
                                             / d.days_supply END} AS concept,
                          d.drug_exposure_start_date AS start,
                          greatest(coalesce(d.drug_exposure_end_date,
                                            d.drug_exposure_start_date + d.days_supply * INTERVAL 1 DAY),
                                   d.drug_exposure_start_date)::DATE AS stop, 1 AS n, 0 AS covered
                   FROM omop.drug_exposure d
                   JOIN omop.drug_strength s ON s.drug_concept_id = d.drug_concept_id AND s.invalid_reason IS NULL
                        AND d.drug_exposure_start_date BETWEEN s.valid_start_date AND s.valid_end_date
                   WHERE d.drug_concept_id <> 0 AND d.quantity > 0 AND d.days_supply > 0
                     AND (s.amount_value IS NOT NULL OR s.numerator_value IS NOT NULL)"""
    strengths = con.execute("SELECT count(*) FROM omop.drug_strength").fetchone()
    if not strengths or not strengths[0]:
        row = con.execute("SELECT count(*) FROM omop.dose_era").fetchone()
        return int(row[0]) if row else 0
    con.execute("DELETE FROM omop.dose_era")
    con.execute(
        f"""INSERT INTO omop.dose_era
            SELECT row_number() OVER (ORDER BY person_id, concept.drug, start, concept.dose), person_id,
                   concept.drug, coalesce(concept.unit, 0), concept.dose, start, stop
            FROM ({_eras(exposures, PERSISTENCE_DAYS)})"""
    )
    row = con.execute("SELECT count(*) FROM omop.dose_era").fetchone()
    return int(row[0]) if row else 0


def describe(con: duckdb.DuckDBPyConnection, source: str, today: date) -> None:
    """``cdm_source`` rewritten (one row), a ``metadata`` row for this feed."""
    version = con.execute("SELECT vocabulary_version FROM omop.vocabulary WHERE vocabulary_id = 'None'").fetchone()
    con.execute("DELETE FROM omop.cdm_source")
    con.execute(
        """INSERT INTO omop.cdm_source VALUES ('Entrepôt de données de santé santegarde', 'santegarde',
           'Responsable du traitement de l''entrepôt',
           'Données pseudonymisées (CNIL, référentiel entrepôts de données de santé)',
           NULL, 'santegarde', $today, $today, 'v5.4', $concept, $version)""",
        {"today": today, "concept": CDM_VERSION_CONCEPT, "version": version[0] if version and version[0] else "aucun"},
    )
    con.execute(
        """INSERT INTO omop.metadata SELECT coalesce(max(metadata_id), 0) + 1, 0, 0, 'feed', $source, NULL, NULL,
           $today, now()::TIMESTAMP FROM omop.metadata""",
        {"source": source, "today": today},
    )


def refresh(con: duckdb.DuckDBPyConnection, source: str, today: date) -> None:
    """After a feed: standard concepts, eras, the CDM description."""
    map_concepts(con)
    derive_eras(con)
    derive_dose_eras(con)
    describe(con, source, today)
