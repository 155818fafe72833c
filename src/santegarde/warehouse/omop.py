"""OMOP CDM 5.4 tables (official OHDSI column names and types) and the warehouse's separate stores.

Three encrypted DuckDB files, each under its own key (EDS-SEC-LOG-2, LOG-3, LOG-5):

- ``omop.duckdb`` (health key): the clinical OMOP tables, persons known only by pseudonym;
- ``vault.duckdb`` (mapping key): the directly identifying data of EDS-4 §5.2.1.1, the mapping
  pseudonym ↔ keyed hash of each source identifier and professionals' identities (objections are in the
  objection ledger of the records database, store/objections.py);
- ``location.duckdb`` (genetic/location key): the OMOP ``location`` table and interpreted genetic results.

Identifiers are BIGINT (warehouse-derived, never a source's internal number); concept ids INTEGER;
the spec's ``float`` fields DOUBLE (a ``NUMERIC`` would round them to 3 decimals; stores written before are
converted when opened, :func:`migrate_types`).
"""

# ruff: noqa: S608 - SQL is assembled from the constants of this module only

from __future__ import annotations

from dataclasses import dataclass

import duckdb

TYPES = {"B": "BIGINT", "I": "INTEGER", "D": "DATE", "T": "TIMESTAMP", "V": "VARCHAR", "F": "DOUBLE"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False


def _cols(spec: str) -> tuple[Column, ...]:
    """Columns from ``name:TYPE[!]`` words (``!`` for NOT NULL)."""
    out = []
    for word in spec.split():
        name, kind = word.split(":")
        out.append(Column(name, TYPES[kind.rstrip("!")], kind.endswith("!")))
    return tuple(out)


OMOP_TABLES: dict[str, tuple[Column, ...]] = {
    "person": _cols(
        "person_id:B! gender_concept_id:I! year_of_birth:I! month_of_birth:I day_of_birth:I birth_datetime:T "
        "race_concept_id:I! ethnicity_concept_id:I! location_id:B provider_id:B care_site_id:B "
        "person_source_value:V gender_source_value:V gender_source_concept_id:I race_source_value:V "
        "race_source_concept_id:I ethnicity_source_value:V ethnicity_source_concept_id:I"
    ),
    "observation_period": _cols(
        "observation_period_id:B! person_id:B! observation_period_start_date:D! observation_period_end_date:D! "
        "period_type_concept_id:I!"
    ),
    "visit_occurrence": _cols(
        "visit_occurrence_id:B! person_id:B! visit_concept_id:I! visit_start_date:D! visit_start_datetime:T "
        "visit_end_date:D! visit_end_datetime:T visit_type_concept_id:I! provider_id:B care_site_id:B "
        "visit_source_value:V visit_source_concept_id:I admitted_from_concept_id:I admitted_from_source_value:V "
        "discharged_to_concept_id:I discharged_to_source_value:V preceding_visit_occurrence_id:B"
    ),
    "condition_occurrence": _cols(
        "condition_occurrence_id:B! person_id:B! condition_concept_id:I! condition_start_date:D! "
        "condition_start_datetime:T condition_end_date:D condition_end_datetime:T condition_type_concept_id:I! "
        "condition_status_concept_id:I stop_reason:V provider_id:B visit_occurrence_id:B visit_detail_id:B "
        "condition_source_value:V condition_source_concept_id:I condition_status_source_value:V"
    ),
    "drug_exposure": _cols(
        "drug_exposure_id:B! person_id:B! drug_concept_id:I! drug_exposure_start_date:D! "
        "drug_exposure_start_datetime:T drug_exposure_end_date:D! drug_exposure_end_datetime:T verbatim_end_date:D "
        "drug_type_concept_id:I! stop_reason:V refills:I quantity:F days_supply:I sig:V route_concept_id:I "
        "lot_number:V provider_id:B visit_occurrence_id:B visit_detail_id:B drug_source_value:V "
        "drug_source_concept_id:I route_source_value:V dose_unit_source_value:V"
    ),
    "procedure_occurrence": _cols(
        "procedure_occurrence_id:B! person_id:B! procedure_concept_id:I! procedure_date:D! procedure_datetime:T "
        "procedure_end_date:D procedure_end_datetime:T procedure_type_concept_id:I! modifier_concept_id:I "
        "quantity:I provider_id:B visit_occurrence_id:B visit_detail_id:B procedure_source_value:V "
        "procedure_source_concept_id:I modifier_source_value:V"
    ),
    "measurement": _cols(
        "measurement_id:B! person_id:B! measurement_concept_id:I! measurement_date:D! measurement_datetime:T "
        "measurement_time:V measurement_type_concept_id:I! operator_concept_id:I value_as_number:F "
        "value_as_concept_id:I unit_concept_id:I range_low:F range_high:F provider_id:B visit_occurrence_id:B "
        "visit_detail_id:B measurement_source_value:V measurement_source_concept_id:I unit_source_value:V "
        "unit_source_concept_id:I value_source_value:V measurement_event_id:B meas_event_field_concept_id:I"
    ),
    "observation": _cols(
        "observation_id:B! person_id:B! observation_concept_id:I! observation_date:D! observation_datetime:T "
        "observation_type_concept_id:I! value_as_number:F value_as_string:V value_as_concept_id:I "
        "qualifier_concept_id:I unit_concept_id:I provider_id:B visit_occurrence_id:B visit_detail_id:B "
        "observation_source_value:V observation_source_concept_id:I unit_source_value:V qualifier_source_value:V "
        "value_source_value:V observation_event_id:B obs_event_field_concept_id:I"
    ),
    "death": _cols(
        "person_id:B! death_date:D! death_datetime:T death_type_concept_id:I cause_concept_id:I "
        "cause_source_value:V cause_source_concept_id:I"
    ),
    "note": _cols(
        "note_id:B! person_id:B! note_date:D! note_datetime:T note_type_concept_id:I! note_class_concept_id:I! "
        "note_title:V note_text:V! encoding_concept_id:I! language_concept_id:I! provider_id:B "
        "visit_occurrence_id:B visit_detail_id:B note_source_value:V note_event_id:B note_event_field_concept_id:I"
    ),
    "location": _cols(
        "location_id:B! address_1:V address_2:V city:V state:V zip:V county:V location_source_value:V "
        "country_concept_id:I country_source_value:V latitude:F longitude:F"
    ),
    "provider": _cols(
        "provider_id:B! provider_name:V npi:V dea:V specialty_concept_id:I care_site_id:B year_of_birth:I "
        "gender_concept_id:I provider_source_value:V specialty_source_value:V specialty_source_concept_id:I "
        "gender_source_value:V gender_source_concept_id:I"
    ),
    "care_site": _cols(
        "care_site_id:B! care_site_name:V place_of_service_concept_id:I location_id:B care_site_source_value:V "
        "place_of_service_source_value:V"
    ),
}

# Derived by the warehouse from the clinical tables after every feed (OHDSI era rules, vocabulary.py); a file of
# them is fed like any OMOP table, then re-derived.
OMOP_TABLES["condition_era"] = _cols(
    "condition_era_id:B! person_id:B! condition_concept_id:I! condition_era_start_date:D! "
    "condition_era_end_date:D! condition_occurrence_count:I"
)
OMOP_TABLES["drug_era"] = _cols(
    "drug_era_id:B! person_id:B! drug_concept_id:I! drug_era_start_date:D! drug_era_end_date:D! "
    "drug_exposure_count:I gap_days:I"
)
DERIVED_TABLES = ("condition_era", "drug_era")

# The standardised vocabularies (public reference data, Athena format) and the description of the CDM instance:
# in the health store, loaded or written by the warehouse, never fed with persons' data.
VOCABULARY_TABLES: dict[str, tuple[Column, ...]] = {
    "concept": _cols(
        "concept_id:I! concept_name:V! domain_id:V! vocabulary_id:V! concept_class_id:V! standard_concept:V "
        "concept_code:V! valid_start_date:D! valid_end_date:D! invalid_reason:V"
    ),
    "vocabulary": _cols(
        "vocabulary_id:V! vocabulary_name:V! vocabulary_reference:V vocabulary_version:V vocabulary_concept_id:I!"
    ),
    "domain": _cols("domain_id:V! domain_name:V! domain_concept_id:I!"),
    "concept_class": _cols("concept_class_id:V! concept_class_name:V! concept_class_concept_id:I!"),
    "concept_relationship": _cols(
        "concept_id_1:I! concept_id_2:I! relationship_id:V! valid_start_date:D! valid_end_date:D! invalid_reason:V"
    ),
    "relationship": _cols(
        "relationship_id:V! relationship_name:V! is_hierarchical:V! defines_ancestry:V! reverse_relationship_id:V! "
        "relationship_concept_id:I!"
    ),
    "concept_synonym": _cols("concept_id:I! concept_synonym_name:V! language_concept_id:I!"),
    "concept_ancestor": _cols(
        "ancestor_concept_id:I! descendant_concept_id:I! min_levels_of_separation:I! max_levels_of_separation:I!"
    ),
    "source_to_concept_map": _cols(
        "source_code:V! source_concept_id:I! source_vocabulary_id:V! source_code_description:V target_concept_id:I! "
        "target_vocabulary_id:V! valid_start_date:D! valid_end_date:D! invalid_reason:V"
    ),
    "drug_strength": _cols(
        "drug_concept_id:I! ingredient_concept_id:I! amount_value:F amount_unit_concept_id:I numerator_value:F "
        "numerator_unit_concept_id:I denominator_value:F denominator_unit_concept_id:I box_size:I "
        "valid_start_date:D! valid_end_date:D! invalid_reason:V"
    ),
}
METADATA_TABLES: dict[str, tuple[Column, ...]] = {
    "cdm_source": _cols(
        "cdm_source_name:V! cdm_source_abbreviation:V! cdm_holder:V! source_description:V "
        "source_documentation_reference:V cdm_etl_reference:V source_release_date:D! cdm_release_date:D! "
        "cdm_version:V cdm_version_concept_id:I! vocabulary_version:V!"
    ),
    "metadata": _cols(
        "metadata_id:I! metadata_concept_id:I! metadata_type_concept_id:I! name:V! value_as_string:V "
        "value_as_concept_id:I value_as_number:F metadata_date:D metadata_datetime:T"
    ),
}
REFERENCE_TABLES = {**VOCABULARY_TABLES, **METADATA_TABLES}

LOCATION_TABLES = ("location",)  # kept in the genetic/location store, under its own key
HEALTH_TABLES = tuple(t for t in OMOP_TABLES if t not in LOCATION_TABLES)
PERSON_TABLES = tuple(t for t in HEALTH_TABLES if any(c.name == "person_id" for c in OMOP_TABLES[t]))

# One row per source record (kind, keyed hash of source|id): a person may have several, none overwrites another.
IDENTITY_DDL = """CREATE TABLE IF NOT EXISTS identity (
        pseudonym VARCHAR NOT NULL, family VARCHAR, given VARCHAR, sex VARCHAR, birth_date DATE,
        birth_place VARCHAR, ins VARCHAR, nir VARCHAR, phone VARCHAR, email VARCHAR, address VARCHAR,
        postal_code VARCHAR, city VARCHAR, death_date DATE, updated_at TIMESTAMP, used_family VARCHAR,
        kind VARCHAR NOT NULL, source_hash VARCHAR NOT NULL, PRIMARY KEY (kind, source_hash))"""

VAULT_DDL = (
    IDENTITY_DDL,
    """CREATE TABLE IF NOT EXISTS mapping (
        pseudonym VARCHAR NOT NULL, kind VARCHAR NOT NULL, source_hash VARCHAR NOT NULL, recorded_at TIMESTAMP,
        PRIMARY KEY (kind, source_hash))""",
    """CREATE TABLE IF NOT EXISTS professional (
        pseudonym VARCHAR PRIMARY KEY, family VARCHAR, given VARCHAR, rpps VARCHAR, adeli VARCHAR, phone VARCHAR,
        email VARCHAR, updated_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS identity_review (
        review_id BIGINT PRIMARY KEY, kind VARCHAR NOT NULL, source_hash VARCHAR NOT NULL, pseudonym VARCHAR NOT NULL,
        candidate VARCHAR NOT NULL, score DOUBLE NOT NULL, reason VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL,
        status VARCHAR NOT NULL, decided_by VARCHAR, decided_at TIMESTAMP)""",
)

def migrate_vault(con: duckdb.DuckDBPyConnection) -> None:
    """Bring a vault written before issue 15 (one identity row per pseudonym, overwritten by each feed) to one row
    per source record, in one transaction: each old row goes to the source record last mapped to its person."""
    columns = {str(r[0]) for r in con.execute("DESCRIBE vault.identity").fetchall()}
    if "source_hash" in columns:
        return
    old = ("pseudonym, family, given, sex, birth_date, birth_place, ins, nir, phone, email, address, postal_code, "
           "city, death_date, updated_at")  # fmt: skip
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(IDENTITY_DDL.replace("EXISTS identity", "EXISTS vault.identity_v2", 1))
        con.execute(
            f"""INSERT INTO vault.identity_v2 ({old}, kind, source_hash)
                SELECT {", ".join("i." + c.strip() for c in old.split(","))}, coalesce(m.kind, 'legacy'),
                       coalesce(m.source_hash, i.pseudonym)
                FROM vault.identity i LEFT JOIN (
                    SELECT pseudonym, kind, source_hash FROM vault.mapping WHERE kind = 'fhir:Patient'
                    QUALIFY row_number() OVER (PARTITION BY pseudonym ORDER BY recorded_at DESC, source_hash) = 1
                ) m USING (pseudonym)"""
        )
        con.execute("DROP TABLE vault.identity")
        con.execute("ALTER TABLE vault.identity_v2 RENAME TO identity")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def migrate_types(con: duckdb.DuckDBPyConnection, table: str, schema: str) -> None:
    """Convert the columns of a stored OMOP table whose type differs from the spec's DOUBLE (issue 15: ``float``
    fields were DECIMAL(18,3)); values are kept, widened to DOUBLE."""
    present = {str(r[0]): str(r[1]).upper() for r in con.execute(f"DESCRIBE {schema}.{table}").fetchall()}
    for column in OMOP_TABLES[table]:
        if column.type == "DOUBLE" and present.get(column.name, "DOUBLE") != "DOUBLE":
            con.execute(f"ALTER TABLE {schema}.{table} ALTER COLUMN {column.name} SET DATA TYPE DOUBLE")


GENETIC_DDL = (
    """CREATE TABLE IF NOT EXISTS genetic_result (
        genetic_result_id BIGINT NOT NULL, person_id BIGINT NOT NULL, result_date DATE, gene VARCHAR,
        variant VARCHAR, interpretation_concept_id INTEGER, interpretation_source_value VARCHAR)""",
)


def create_table_sql(table: str, schema: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for an OMOP table in ``schema`` (an attached database)."""
    spec = OMOP_TABLES.get(table) or REFERENCE_TABLES[table]
    columns = ", ".join(f"{c.name} {c.type}{' NOT NULL' if c.required else ''}" for c in spec)
    return f"CREATE TABLE IF NOT EXISTS {schema}.{table} ({columns})"


def column_names(table: str) -> tuple[str, ...]:
    return tuple(c.name for c in OMOP_TABLES[table])


def column(table: str, name: str) -> Column | None:
    return next((c for c in OMOP_TABLES[table] if c.name == name), None)
