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

# The rest of the CDM 5.4 clinical, health-economics and derived tables (issue 15): fed from OMOP files like the
# tables above. ``cohort`` names its person ``subject_id``; ``note_nlp``, ``episode_event``, ``cost`` and
# ``fact_relationship`` hold no person column: their rows belong to a person through the rows they refer to
# (:func:`person_rows`).
OMOP_TABLES.update(
    visit_detail=_cols(
        "visit_detail_id:B! person_id:B! visit_detail_concept_id:I! visit_detail_start_date:D! "
        "visit_detail_start_datetime:T visit_detail_end_date:D! visit_detail_end_datetime:T "
        "visit_detail_type_concept_id:I! provider_id:B care_site_id:B visit_detail_source_value:V "
        "visit_detail_source_concept_id:I admitted_from_concept_id:I admitted_from_source_value:V "
        "discharged_to_source_value:V discharged_to_concept_id:I preceding_visit_detail_id:B "
        "parent_visit_detail_id:B visit_occurrence_id:B!"
    ),
    device_exposure=_cols(
        "device_exposure_id:B! person_id:B! device_concept_id:I! device_exposure_start_date:D! "
        "device_exposure_start_datetime:T device_exposure_end_date:D device_exposure_end_datetime:T "
        "device_type_concept_id:I! unique_device_id:V production_id:V quantity:I provider_id:B visit_occurrence_id:B "
        "visit_detail_id:B device_source_value:V device_source_concept_id:I unit_concept_id:I unit_source_value:V "
        "unit_source_concept_id:I"
    ),
    specimen=_cols(
        "specimen_id:B! person_id:B! specimen_concept_id:I! specimen_type_concept_id:I! specimen_date:D! "
        "specimen_datetime:T quantity:F unit_concept_id:I anatomic_site_concept_id:I disease_status_concept_id:I "
        "specimen_source_id:V specimen_source_value:V unit_source_value:V anatomic_site_source_value:V "
        "disease_status_source_value:V"
    ),
    note_nlp=_cols(
        "note_nlp_id:B! note_id:B! section_concept_id:I snippet:V offset:V lexical_variant:V! note_nlp_concept_id:I "
        "note_nlp_source_concept_id:I nlp_system:V nlp_date:D! nlp_datetime:T term_exists:V term_temporal:V "
        "term_modifiers:V"
    ),
    payer_plan_period=_cols(
        "payer_plan_period_id:B! person_id:B! payer_plan_period_start_date:D! payer_plan_period_end_date:D! "
        "payer_concept_id:I payer_source_value:V payer_source_concept_id:I plan_concept_id:I plan_source_value:V "
        "plan_source_concept_id:I sponsor_concept_id:I sponsor_source_value:V sponsor_source_concept_id:I "
        "family_source_value:V stop_reason_concept_id:I stop_reason_source_value:V stop_reason_source_concept_id:I"
    ),
    cost=_cols(
        "cost_id:B! cost_event_id:B! cost_domain_id:V! cost_type_concept_id:I! currency_concept_id:I total_charge:F "
        "total_cost:F total_paid:F paid_by_payer:F paid_by_patient:F paid_patient_copay:F "
        "paid_patient_coinsurance:F paid_patient_deductible:F paid_by_primary:F paid_ingredient_cost:F "
        "paid_dispensing_fee:F payer_plan_period_id:B amount_allowed:F revenue_code_concept_id:I "
        "revenue_code_source_value:V drg_concept_id:I drg_source_value:V"
    ),
    episode=_cols(
        "episode_id:B! person_id:B! episode_concept_id:I! episode_start_date:D! episode_start_datetime:T "
        "episode_end_date:D episode_end_datetime:T episode_parent_id:B episode_number:I "
        "episode_object_concept_id:I! episode_type_concept_id:I! episode_source_value:V episode_source_concept_id:I"
    ),
    episode_event=_cols("episode_id:B! event_id:B! episode_event_field_concept_id:I!"),
    fact_relationship=_cols(
        "domain_concept_id_1:I! fact_id_1:B! domain_concept_id_2:I! fact_id_2:B! relationship_concept_id:I!"
    ),
    dose_era=_cols(
        "dose_era_id:B! person_id:B! drug_concept_id:I! unit_concept_id:I! dose_value:F! dose_era_start_date:D! "
        "dose_era_end_date:D!"
    ),
    cohort_definition=_cols(
        "cohort_definition_id:I! cohort_definition_name:V! cohort_definition_description:V "
        "definition_type_concept_id:I! cohort_definition_syntax:V subject_concept_id:I! cohort_initiation_date:D"
    ),
    cohort=_cols("cohort_definition_id:I! subject_id:B! cohort_start_date:D! cohort_end_date:D!"),
)
# Tables without a single-column key: the columns that identify a row (a re-feed replaces the same rows).
KEYS: dict[str, tuple[str, ...]] = {
    "episode_event": ("episode_id", "event_id", "episode_event_field_concept_id"),
    "fact_relationship": ("domain_concept_id_1", "fact_id_1", "domain_concept_id_2", "fact_id_2",
                          "relationship_concept_id"),
    "cohort": ("cohort_definition_id", "subject_id", "cohort_start_date", "cohort_end_date"),
}  # fmt: skip
PERSON_COLUMN = {"cohort": "subject_id"}  # the person of a row, when it is not ``person_id``
# The tables an event id of another table may point to, by the domain of the pointer (OMOP domain concepts and
# ``cost_domain_id`` names, as the OHDSI vocabulary's ``domain`` table lists them).
DOMAIN_TABLES: dict[str, str] = {
    "Visit": "visit_occurrence", "Procedure": "procedure_occurrence", "Drug": "drug_exposure",
    "Device": "device_exposure", "Condition": "condition_occurrence", "Measurement": "measurement",
    "Observation": "observation", "Specimen": "specimen", "Episode": "episode", "Note": "note", "Person": "person",
}  # fmt: skip
DOMAIN_CONCEPTS: dict[int, str] = {8: "Visit", 10: "Procedure", 13: "Drug", 17: "Device", 19: "Condition",
                                   21: "Measurement", 27: "Observation", 36: "Specimen", 32527: "Episode",
                                   5085: "Note", 56: "Person"}  # fmt: skip

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


def person_column(table: str) -> str | None:
    """The column naming the person of a row of ``table`` (``person_id``, ``subject_id``), or None."""
    name = PERSON_COLUMN.get(table, "person_id")
    return name if any(c.name == name for c in OMOP_TABLES[table]) else None


PERSON_TABLES = tuple(t for t in HEALTH_TABLES if person_column(t))
EVENT_TABLES = tuple(sorted(set(DOMAIN_TABLES.values())))


def _event_ids(where: str) -> str:
    """The ids of the events (and persons) ``where`` selects (ids are keyed hashes of table and source id: a table's
    ids never meet another's)."""
    return " UNION ALL ".join(f"SELECT {OMOP_TABLES[t][0].name} FROM omop.{t}{where}" for t in EVENT_TABLES)


def dependent_rows(where: str) -> dict[str, str]:
    """For each table without a person column, the condition on its rows that the rows they refer to are among those
    ``where`` selects in their own tables."""
    conditions = {
        "note_nlp": f"note_id IN (SELECT note_id FROM omop.note{where})",
        "episode_event": f"episode_id IN (SELECT episode_id FROM omop.episode{where})",
        "cost": f"cost_event_id IN ({_event_ids(where)}) OR payer_plan_period_id IN ("
        f"SELECT payer_plan_period_id FROM omop.payer_plan_period{where})",
        "fact_relationship": f"fact_id_1 IN ({_event_ids(where)}) OR fact_id_2 IN ({_event_ids(where)})",
    }
    return {table: f"coalesce({condition}, false)" for table, condition in conditions.items()}  # NULL pointers


# The rows of the tables without a person column that belong to person ``$i``, through the rows they refer to; and
# the condition for such a row to enter: what it refers to is in the warehouse (else it could never be found again
# by person, for an objection or an erasure, and is refused).
DEPENDENT_ROWS = dependent_rows(" WHERE person_id = $i")
ATTACHED_ROWS = dependent_rows("")
# Deleting a person's rows: the dependent rows first (they are found through the person's rows), then the rest.
PURGE_ORDER = (*DEPENDENT_ROWS, *PERSON_TABLES)


def person_rows(table: str) -> str:
    """The SQL condition selecting the rows of person ``$i`` in ``omop.<table>``."""
    if table in DEPENDENT_ROWS:
        return DEPENDENT_ROWS[table]
    return f"{person_column(table)} = $i"


def key_columns(table: str) -> tuple[str, ...]:
    """The columns that identify a row of ``table``."""
    return KEYS.get(table) or (OMOP_TABLES[table][0].name,)


def row_key_sql(table: str, alias: str = "") -> str:
    """A BIGINT naming a row of ``table`` among its person's rows, whoever the person is: its key, or a hash of its key
    columns other than the person column (so a row moved to another person keeps its name)."""
    names = [n for n in key_columns(table) if n != PERSON_COLUMN.get(table)]
    if len(names) == 1:
        return f"{alias}{names[0]}"
    return f"(hash({', '.join(alias + n for n in names)}) >> 1)::BIGINT"

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


LEGACY_REVIEW_ID = 10**9  # review pairs of a vault written before short numbers were ids of 19 digits


def renumber_reviews(con: duckdb.DuckDBPyConnection) -> None:
    """Give the review pairs of an older vault (19-digit ids, hard to type) the short numbers new pairs get: 1, 2, 3…
    in the order they were queued, after any short one. The health store's link bookkeeping is renumbered first, then
    the vault, each in one transaction; the mapping is computed from the vault alone, so a run interrupted between
    the two is completed by the next opening."""
    legacy = con.execute(
        f"SELECT count(*) FROM vault.identity_review WHERE review_id >= {LEGACY_REVIEW_ID}"
    ).fetchone()
    if not legacy or not legacy[0]:
        return
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE review_numbers AS
            SELECT review_id AS old, (SELECT coalesce(max(review_id), 0) FROM vault.identity_review
                                      WHERE review_id < {LEGACY_REVIEW_ID})
                   + row_number() OVER (ORDER BY recorded_at, review_id) AS new
            FROM vault.identity_review WHERE review_id >= {LEGACY_REVIEW_ID}"""
    )
    present = {
        (str(r[0]), str(r[1]))
        for r in con.execute("SELECT database_name, table_name FROM duckdb_tables()").fetchall()
    }
    steps = (
        ("omop", ("identity_link", "linked_person", "linked_death")),
        ("vault", ("identity_link", "identity_review")),
    )
    try:
        for schema, tables in steps:
            con.execute("BEGIN TRANSACTION")
            try:
                for table in tables:
                    if (schema, table) in present:
                        con.execute(
                            f"UPDATE {schema}.{table} t SET review_id = n.new FROM temp.review_numbers n "
                            "WHERE t.review_id = n.old"
                        )
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
    finally:
        con.execute("DROP TABLE IF EXISTS temp.review_numbers")


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
    # the genetic results an identity link moved (vigilance.py): in this store, under its key, so an undo restores them
    """CREATE TABLE IF NOT EXISTS genetic_link (
        review_id BIGINT NOT NULL, kept BIGINT NOT NULL, merged BIGINT NOT NULL, row_key BIGINT NOT NULL)""",
)


def create_table_sql(table: str, schema: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for an OMOP table in ``schema`` (an attached database)."""
    spec = OMOP_TABLES.get(table) or REFERENCE_TABLES[table]
    columns = ", ".join(f"{q(c.name)} {c.type}{' NOT NULL' if c.required else ''}" for c in spec)
    return f"CREATE TABLE IF NOT EXISTS {schema}.{table} ({columns})"


def q(name: str) -> str:
    """A column name quoted (``note_nlp.offset`` is an SQL keyword)."""
    return f'"{name}"'


def column_names(table: str) -> tuple[str, ...]:
    return tuple(c.name for c in OMOP_TABLES[table])


def column(table: str, name: str) -> Column | None:
    return next((c for c in OMOP_TABLES[table] if c.name == name), None)
