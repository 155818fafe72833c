"""Feeding the warehouse (EDS-4, EDS-9, EDS-SEC-ALI-1, EDS-SEC-PSE-1..4) from FHIR Bundles or OMOP CDM 5.4 files.

Every incoming file is first copied into a private transit directory, read from there, and the transit
directory is purged when the feed ends, whether it succeeded or failed. Parsing, pseudonymisation and
loading run in DuckDB SQL over whole tables (JSON functions, HMAC in SQL): no per-row Python loop.

What enters is bounded by the steering committee's data list (EDS-3): ``table.column: justification``.
Warehouse identifiers (ids, foreign keys, provenance ``*_type_concept_id``, the pseudonym columns) are
structural and always written; any other column must be on the list, otherwise it is refused and the
report names it. Directly identifying data (names, birth day and month, addresses, INS, telecom,
professionals' names and RPPS) goes only to the identity vault. Unstructured text and documents or
images are refused until a de-identifier is configured. Persons who objected are skipped at every feed.

A feed is run by an operator acting under a feeding profile (chosen at login and granted); it writes the
genetic/location store, whose key only such profiles may mobilise (EDS-SEC-LOG-6). Anyone else is refused
before any file is copied, and the refusal is traced.
"""

# ruff: noqa: S608 - SQL is assembled from the OMOP 5.4 spec constants only; values, keys and names go as $parameters

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from santegarde.errors import SantegardeError
from santegarde.warehouse import matching, omop, vocabulary
from santegarde.warehouse.core import TRANSIT
from santegarde.warehouse.pseudonym import bigint_sql, hmac_sql, id_sql
from santegarde.warehouse.retention import feed_cutoff, skip_expired_stage

if TYPE_CHECKING:
    from santegarde.warehouse.access import Operator, WarehouseGuard
    from santegarde.warehouse.core import Warehouse

Progress = Callable[[str, int, int], None]  # (step description, steps done, total steps)
# EDS-SEC-PSE-4: replaces the identifying spans of each text by generic tags or by consistent surrogates, given the
# texts and each one's patient (source|person_id: the surrogates' scope); santegarde.deid.Detector.deidentify
TextDeidentifier = Callable[[list[str], list[str]], list[str]]
DEIDENTIFIED_COLUMNS = ("note_text", "note_title")

# Free text (EDS-SEC-PSE-4: notes, and the "free-entry comments contained in the databases"): refused without a
# de-identifier; with one, notes are de-identified before they are staged (`_deidentified_notes`, `_fhir_documents`)
# and the other columns in the staged rows, before anything is written (`_deidentify_stage`).
TEXT_COLUMNS = {
    ("note", "note_text"),
    ("note", "note_title"),
    ("drug_exposure", "sig"),
    ("drug_exposure", "stop_reason"),
    ("observation", "value_as_string"),
    ("observation", "value_source_value"),
    ("measurement", "value_source_value"),
    ("note_nlp", "snippet"),
    ("note_nlp", "lexical_variant"),
}
IDENTIFYING = {
    ("person", "month_of_birth"): "the birth month",
    ("person", "day_of_birth"): "the birth day",
    ("person", "birth_datetime"): "the birth date",
    ("provider", "provider_name"): "a professional's name",
    ("provider", "npi"): "a professional's identifier",
    ("provider", "dea"): "a professional's identifier",
    ("location", "address_1"): "an address",
    ("location", "address_2"): "an address",
}
PSEUDONYM_COLUMNS = {
    ("person", "person_source_value"),
    ("provider", "provider_source_value"),
    ("care_site", "care_site_source_value"),
    ("location", "location_source_value"),
}
FK_TARGETS = {
    "person_id": "person",
    "provider_id": "provider",
    "care_site_id": "care_site",
    "location_id": "location",
    "visit_occurrence_id": "visit_occurrence",
    "preceding_visit_occurrence_id": "visit_occurrence",
    "visit_detail_id": "visit_detail",
    "preceding_visit_detail_id": "visit_detail",
    "parent_visit_detail_id": "visit_detail",
    "note_id": "note",
    "episode_id": "episode",
    "episode_parent_id": "episode",
    "payer_plan_period_id": "payer_plan_period",
    "subject_id": "person",
}
# Ids pointing to a row of the table their row's domain names (column → the column giving the domain): re-keyed
# as ids of that table, so they meet the rows they point to.
POINTERS = {
    ("cost", "cost_event_id"): "cost_domain_id",
    ("fact_relationship", "fact_id_1"): "domain_concept_id_1",
    ("fact_relationship", "fact_id_2"): "domain_concept_id_2",
}
# Ids pointing to a row of the table their row's CDM field concept names (vocabulary ``CDM``, class ``Field``,
# named ``table.column``: looked up in the warehouse's vocabulary); an id whose table cannot be told stays apart.
FIELD_POINTERS = {
    ("episode_event", "event_id"): "episode_event_field_concept_id",
    ("measurement", "measurement_event_id"): "meas_event_field_concept_id",
    ("observation", "observation_event_id"): "obs_event_field_concept_id",
    ("note", "note_event_id"): "note_event_field_concept_id",
}
# What makes sense of a row's pointers and the cohort a row belongs to: written whatever the data list says.
STRUCTURAL = {
    ("cost", "cost_domain_id"), ("fact_relationship", "domain_concept_id_1"),
    ("fact_relationship", "domain_concept_id_2"), ("fact_relationship", "relationship_concept_id"),
    ("episode_event", "episode_event_field_concept_id"), ("cohort", "cohort_definition_id"),
    ("cohort_definition", "cohort_definition_id"),
}  # fmt: skip
DOCUMENT_TYPES = ("Media", "DocumentReference", "Binary", "ImagingStudy")
FED_TYPES = (
    "Patient", "Practitioner", "PractitionerRole", "Organization", "Encounter", "Condition", "Observation",
    "MedicationRequest", "MedicationDispense", "Procedure",
)  # fmt: skip
EHR = 32817
SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
INS_SYSTEMS = ("urn:oid:1.2.250.1.213.1.4.8", "urn:oid:1.2.250.1.213.1.4.9", "urn:oid:1.2.250.1.213.1.4.10",
               "urn:oid:1.2.250.1.213.1.4.11")  # fmt: skip
ENCOUNTER_REF = "(r->>'$.encounter.reference')"
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
LOINC_CONCEPTS = {"29463-7": 3025315, "8302-2": 3036277, "8480-6": 3004249, "8462-4": 3012888, "8867-4": 3027018,
                  "39156-5": 3038553, "8310-5": 3020891, "2708-6": 3016502}  # fmt: skip
UNIT_CONCEPTS = {"kg": 9529, "cm": 8582, "mm[Hg]": 8876, "/min": 8541, "kg/m2": 9531, "Cel": 586323, "%": 8554}


class FeedError(SantegardeError):
    """A feed cannot run; nothing of it was kept and the transit directory was purged."""


class DataListError(SantegardeError):
    """The steering committee's data list is malformed."""


@dataclass(frozen=True)
class DataList:
    """The steering committee's exhaustive data list: ``table.column`` → justification (EDS-3)."""

    entries: Mapping[str, str]

    @classmethod
    def load(cls, path: Path) -> DataList:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise DataListError(f"The data list {path} cannot be read ({type(exc).__name__}); fix the file.") from None
        return cls.from_mapping(document)

    @classmethod
    def from_mapping(cls, document: object) -> DataList:
        """Validate a mapping of ``table.column`` to a non-empty justification."""
        if not isinstance(document, Mapping) or not document:
            raise DataListError("The data list must be a non-empty mapping of 'table.column: justification'.")
        entries: dict[str, str] = {}
        for key, why in document.items():
            table, _, name = str(key).partition(".")
            if table not in omop.OMOP_TABLES or omop.column(table, name) is None:
                raise DataListError(f"The data list names {key!r}, which is not an OMOP CDM 5.4 column; correct it.")
            if not isinstance(why, str) or not why.strip():
                raise DataListError(f"The data list gives no justification for {key}; every variable needs one.")
            entries[str(key)] = why.strip()
        return cls(entries)

    def allows(self, table: str, name: str) -> bool:
        return f"{table}.{name}" in self.entries


@dataclass(frozen=True)
class Refusal:
    item: str
    reason: str


@dataclass(frozen=True)
class FeedReport:
    """What a feed did: rows written per table, items refused with the reason, objecting persons skipped."""

    rows: Mapping[str, int]
    refused: tuple[Refusal, ...]
    objected_skipped: int
    files: int
    expired_skipped: int = 0  # rows collected on or before the retention cutoff, not integrated (EDS-7, 8.3.2)

    def refused_items(self) -> list[str]:
        return [r.item for r in self.refused]


@dataclass
class _Run:
    warehouse: Warehouse
    data_list: DataList
    source: str
    progress: Progress | None
    rows: dict[str, int] = field(default_factory=dict)
    refused: list[Refusal] = field(default_factory=list)
    objected: int = 0
    steps: int = 0
    total: int = 1
    cutoff: date = field(default_factory=feed_cutoff)  # EDS-7 (8.3.2): rows collected on or before it are skipped
    expired: int = 0
    deidentify: TextDeidentifier | None = None

    def step(self, description: str) -> None:
        self.steps += 1
        if self.progress is not None:
            self.progress(description, min(self.steps, self.total), self.total)

    def refuse(self, item: str, reason: str) -> None:
        if all(r.item != item for r in self.refused):
            self.refused.append(Refusal(item, reason))

    def report(self, files: int) -> FeedReport:
        return FeedReport(dict(self.rows), tuple(self.refused), self.objected, files, self.expired)


def checked_source(name: str) -> str:
    """A source's name, checked: the namespace of its identifiers in every pseudonym and mapping."""
    text = str(name or "").strip()
    if not SOURCE_NAME.fullmatch(text):
        raise FeedError(
            f"The source name {text!r} is not valid: name the system the data comes from with 1 to 64 lower-case "
            "letters, digits, '.', '_' or '-' (for example 'dpi-chu' or 'synthea'); always the same name for the "
            "same system."
        )
    return text


def structural(table: str, name: str) -> bool:
    """Warehouse identifiers and provenance columns, written whatever the data list says."""
    spec = omop.column(table, name)
    is_id = name.endswith("_id") and not name.endswith("concept_id") and spec is not None and spec.type == "BIGINT"
    return (
        is_id
        or name.endswith("_type_concept_id")
        or name in ("race_concept_id", "ethnicity_concept_id")
        or (table, name) in PSEUDONYM_COLUMNS
        or (table, name) in STRUCTURAL
    )


def allowed(run: _Run, table: str, name: str) -> str | None:
    """None if the column may enter, else the reason it is refused."""
    if (table, name) in TEXT_COLUMNS and run.deidentify is None:
        return "unstructured text is refused until a de-identifier is configured"
    if (table, name) in IDENTIFYING:
        return f"{IDENTIFYING[(table, name)]} is directly identifying: it is kept only in the identity vault"
    if structural(table, name) or run.data_list.allows(table, name):
        return None
    return "not on the steering committee's data list"


# -- transit --------------------------------------------------------------------------------------------------
def _transit(warehouse: Warehouse) -> Path:
    root = warehouse.directory / TRANSIT
    root.mkdir(mode=0o700, exist_ok=True)
    path = root / uuid.uuid4().hex
    path.mkdir(mode=0o700)
    return path


def purge_transit(warehouse: Warehouse) -> None:
    """Remove everything in the transit directory (this feed's copies and any left by an interrupted run)."""
    root = warehouse.directory / TRANSIT
    for child in root.iterdir() if root.exists() else ():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _copy_in(paths: Sequence[Path], transit: Path) -> list[Path]:
    copies = []
    for number, path in enumerate(paths):
        if not path.is_file():
            raise FeedError(f"The file {path} does not exist or is not a file; check the path and feed again.")
        target = transit / f"{number:05d}{path.suffix.lower()}"
        shutil.copyfile(path, target)
        target.chmod(0o600)
        copies.append(target)
    return copies


def _run_feed(
    warehouse: Warehouse,
    files: Sequence[Path],
    body: Callable[[list[Path]], None],
    operator: Operator,
    guard: WarehouseGuard | None,
    source: str,
) -> None:
    operation = "warehouse.feed"
    checker = warehouse.guard_for(operator, operation, guard)
    checker.feed(operator, operation)
    transit = _transit(warehouse)
    try:
        with warehouse.vault_connection(), warehouse.location_connection(operator, operation, guard=checker):
            warehouse.load_objections(checker)  # the objection ledger, seen from the warehouse (EDS-9)
            body(_copy_in(files, transit))
            # standard concepts, era tables and the CDM description follow every feed (issue 15, fault 5)
            vocabulary.refresh(warehouse.omop, source, checker.identity.now().date())
    finally:
        purge_transit(warehouse)
        for table in ("fhir_res", "patients", "person_map", "prac_map", "org_map", "stage", "objection"):
            warehouse.omop.execute(f"DROP TABLE IF EXISTS temp.{table}")


# -- loading a staged table -----------------------------------------------------------------------------------
def _load(run: _Run, table: str, select_sql: str, params: Mapping[str, object] | None = None) -> None:
    """Write the rows of ``select_sql`` (columns named as the OMOP table's) that the data list allows."""
    wh = run.warehouse
    wh.omop.execute("DROP TABLE IF EXISTS temp.stage")
    wh.sql(f"CREATE TEMP TABLE stage AS {select_sql}", params)
    run.expired += skip_expired_stage(wh.omop, table, run.cutoff)
    offered = [str(r[0]) for r in wh.omop.execute("DESCRIBE temp.stage").fetchall()]
    count_row = wh.omop.execute("SELECT count(*) FROM temp.stage").fetchone()
    if not count_row or not count_row[0]:
        return
    keep = []
    for name in offered:
        reason = allowed(run, table, name)
        if reason is None:
            keep.append(name)
        else:
            run.refuse(f"{table}.{name}", reason)
    spec = omop.OMOP_TABLES[table]
    missing = [c.name for c in spec if c.required and c.name not in keep]
    if missing:
        run.refuse(
            table, f"{table}.{missing[0]} is required by OMOP CDM 5.4 and may not enter, so the table is refused"
        )
        return
    schema = "geo" if table in omop.LOCATION_TABLES else "omop"
    keys = ", ".join(omop.q(k) for k in omop.key_columns(table))
    where = ""
    person = omop.person_column(table)
    if person in keep:
        where = f"WHERE {person} NOT IN (SELECT person_id FROM temp.objection)"
    elif table in omop.ATTACHED_ROWS:
        where = f"WHERE {omop.ATTACHED_ROWS[table]}"
        _refuse_detached(run, table, where)
    _deidentify_stage(run, table, keep)
    columns = ", ".join(omop.q(k) for k in keep)
    wh.omop.execute(f"DELETE FROM {schema}.{table} WHERE ({keys}) IN (SELECT ({keys}) FROM temp.stage {where})")
    inserted = wh.omop.execute(
        f"INSERT INTO {schema}.{table} ({columns}) SELECT DISTINCT ON ({keys}) {columns} FROM temp.stage {where}"
    ).fetchone()
    run.rows[table] = run.rows.get(table, 0) + (int(inserted[0]) if inserted else 0)


def _deidentify_stage(run: _Run, table: str, keep: Sequence[str]) -> None:
    """The free-text columns of the staged rows (a prescription's instructions, an observation's text, an NLP
    snippet) replaced by their de-identified text, each row scoped by its person; notes arrive already clean."""
    columns = [n for n in keep if (table, n) in TEXT_COLUMNS and table != "note"]
    if not columns:
        return
    assert run.deidentify is not None  # allowed() refused these columns otherwise
    person = omop.person_column(table)
    who = f"CAST({omop.q(person)} AS VARCHAR)" if person is not None and person in keep else "NULL"
    selected = ", ".join(omop.q(c) for c in columns)
    rows = run.warehouse.omop.execute(f"SELECT rowid, {who}, {selected} FROM temp.stage").fetchall()
    patients = [f"{run.source}|{r[1]}" for r in rows]
    for k, name in enumerate(columns, start=2):
        texts = [r[k] if isinstance(r[k], str) else "" for r in rows]
        cleaned = run.deidentify(texts, patients)
        if len(cleaned) != len(texts):
            raise FeedError("The de-identifier returned a different number of texts; nothing was written.")
        changes = [(after, r[0]) for r, before, after in zip(rows, texts, cleaned, strict=True) if after != before]
        if changes:
            run.warehouse.omop.executemany(f"UPDATE temp.stage SET {omop.q(name)} = ? WHERE rowid = ?", changes)


def _refuse_detached(run: _Run, table: str, where: str) -> None:
    """Count in the report the staged rows of a table without a person column whose referent is not in the
    warehouse: they could never be found again by person (objection, erasure), so they are not written."""
    row = run.warehouse.omop.execute(f"SELECT count(*) FROM temp.stage WHERE NOT ({where.removeprefix('WHERE ')})")
    detached = row.fetchone()
    if detached and detached[0]:
        run.refuse(
            f"{table} ({detached[0]})",
            "the rows they refer to are not in the warehouse (not fed, objected or expired): they could not be "
            "attached to a person, so they were not written",
        )


def _observation_periods(run: _Run) -> None:
    """One observation period per fed person, spanning every dated event the warehouse holds for them."""
    events = [
        ("visit_occurrence", "visit_start_date", "visit_end_date"),
        ("condition_occurrence", "condition_start_date", "condition_start_date"),
        ("drug_exposure", "drug_exposure_start_date", "drug_exposure_end_date"),
        ("procedure_occurrence", "procedure_date", "procedure_date"),
        ("measurement", "measurement_date", "measurement_date"),
        ("observation", "observation_date", "observation_date"),
    ]
    union = " UNION ALL ".join(f"SELECT person_id, {a} AS s, {b} AS e FROM omop.{t}" for t, a, b in events)
    _load(
        run,
        "observation_period",
        f"""SELECT {id_sql("'period|' || person_id::VARCHAR")} AS observation_period_id, person_id,
               min(s) AS observation_period_start_date, max(coalesce(e, s)) AS observation_period_end_date,
               {EHR} AS period_type_concept_id
            FROM ({union}) WHERE person_id IN (SELECT person_id FROM temp.person_map) GROUP BY person_id""",
    )


# -- FHIR -----------------------------------------------------------------------------------------------------
def feed_fhir(
    warehouse: Warehouse, paths: Sequence[Path], data_list: DataList | Path, progress: Progress | None = None, *,
    source: str, operator: Operator, guard: WarehouseGuard | None = None, cutoff: date | None = None,
    deidentify: TextDeidentifier | None = None,
) -> FeedReport:  # fmt: skip
    """Feed FHIR R4 Bundle JSON files of the source ``source`` into the warehouse, as ``operator`` (a feeding profile).

    The source is the namespace of the files' identifiers (``Patient/1`` of one source is not ``Patient/1`` of
    another); persons are linked across sources only by identity matching. With ``deidentify``, a
    DocumentReference's attachments (inline plain text, PDF, images) enter the OMOP ``note`` table as de-identified
    text (EDS-SEC-PSE-4, `_fhir_documents`); other document resources stay refused.
    """
    run = _Run(warehouse, _data_list(data_list), checked_source(source), progress, total=14)
    run.cutoff = cutoff or run.cutoff
    run.deidentify = deidentify
    _run_feed(warehouse, list(paths), lambda files: _fhir(run, files), operator, guard, run.source)
    return run.report(len(paths))


def _fhir(run: _Run, files: list[Path]) -> None:
    wh = run.warehouse
    run.step("Copied into transit")
    listing = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
    not_bundles = wh.omop.execute(
        f"SELECT count(*) FROM read_text({listing}) WHERE (TRY_CAST(content AS JSON)->>'resourceType') "
        "IS DISTINCT FROM 'Bundle'"
    ).fetchone()
    if not_bundles and not_bundles[0]:
        raise FeedError(f"{not_bundles[0]} of the files are not FHIR Bundles in JSON; only Bundles can be fed.")
    wh.omop.execute(
        f"""CREATE OR REPLACE TEMP TABLE fhir_res AS
            SELECT r, r->>'resourceType' AS rtype, r->>'id' AS rid
            FROM (SELECT unnest(json_extract(content::JSON, '$.entry[*].resource')) AS r FROM read_text({listing}))"""
    )
    for rtype, count in wh.omop.execute("SELECT rtype, count(*) FROM temp.fhir_res GROUP BY rtype").fetchall():
        if rtype in ("DocumentReference", "Binary") and run.deidentify is not None:
            continue  # _fhir_documents: their attachments enter de-identified, what cannot be read is refused there
        if rtype in DOCUMENT_TYPES:
            run.refuse(f"{rtype} ({count})", "documents and images are refused until a de-identifier is configured")
        elif rtype not in FED_TYPES:
            run.refuse(f"{rtype} ({count})", "this resource type has no OMOP mapping in the warehouse yet")
    run.step("Read the bundles")
    _fhir_patients(run)
    run.step("Pseudonymised the patients")
    _fhir_professionals(run)
    run.step("Pseudonymised the professionals")
    _fhir_events(run)
    _fhir_documents(run)
    run.step("Documents de-identified")
    _observation_periods(run)
    run.step("Observation periods")


def _ref(rtype_sql: str) -> str:
    return f"{rtype_sql} || '/' || rid"


def _event_id(ref_sql: str) -> str:
    return id_sql(f"'event|' || $src || '|' || {ref_sql}")


def _fhir_patients(run: _Run) -> None:
    wh, src = run.warehouse, {"src": run.source}
    name = "coalesce(list_filter(json_extract(r, '$.name[*]'), lambda x: (x->>'use') = 'official')[1], r->'$.name[0]')"
    telecom = "list_filter(json_extract(r, '$.telecom[*]'), lambda x: (x->>'system') = '{}')[1]->>'value'"
    ins = "list_filter(json_extract(r, '$.identifier[*]'), lambda x: (x->>'system') IN {})[1]->>'value'"
    wh.sql(
        f"""CREATE OR REPLACE TEMP TABLE patients AS
            SELECT 'Patient/' || rid AS ref, nm->>'family' AS family, nm->'given'->>0 AS given,
                   list_filter(json_extract(r, '$.name[*]'), lambda x: (x->>'use') = 'usual')[1]->>'family'
                       AS used_family,
                   r->>'birthDate' AS birth, r->>'gender' AS gender, {ins.format(INS_SYSTEMS)} AS ins,
                   {telecom.format("phone")} AS phone, {telecom.format("email")} AS email,
                   array_to_string(json_extract_string(r, '$.address[0].line[*]'), ', ') AS address,
                   r->>'$.address[0].postalCode' AS zip, r->>'$.address[0].city' AS city,
                   r->>'$.address[0].country' AS country,
                   list_filter(json_extract(r, '$.extension[*]'),
                               lambda x: ends_with(x->>'url', 'patient-birthPlace'))[1]
                       ->>'$.valueAddress.city' AS birth_place,
                   TRY_CAST(substr(r->>'deceasedDateTime', 1, 10) AS DATE) AS death_date
            FROM (SELECT r, rid, {name} AS nm FROM temp.fhir_res WHERE rtype = 'Patient')"""
    )
    incomplete = wh.omop.execute(
        "SELECT count(*) FROM temp.patients WHERE family IS NULL OR given IS NULL OR TRY_CAST(birth AS DATE) IS NULL"
    ).fetchone()
    if incomplete and incomplete[0]:
        run.refuse(
            f"Patient ({incomplete[0]})", "no family name, given name or full birth date: cannot be pseudonymised"
        )
    assignments = matching.assign(wh, "fhir:Patient", run.source)
    wh.omop.execute(
        f"""CREATE OR REPLACE TEMP TABLE person_map AS
            SELECT ref, pseudonym, {bigint_sql("pseudonym")} AS person_id, source_hash FROM temp.assigned"""
    )
    # persons fed earlier and referred to by this feed's resources
    wh.sql(
        f"""INSERT INTO temp.person_map
            SELECT DISTINCT s.ref, m.pseudonym, {bigint_sql("m.pseudonym")}, m.source_hash
            FROM (SELECT DISTINCT r->>'$.subject.reference' AS ref FROM temp.fhir_res) s
            JOIN vault.mapping m ON m.kind = 'fhir:Patient'
                 AND m.source_hash = {hmac_sql("$src || '|' || s.ref", "mk")}
            WHERE s.ref NOT IN (SELECT ref FROM temp.person_map)""",
        src,
    )
    skipped = wh.omop.execute(
        "SELECT count(DISTINCT pseudonym) FROM temp.person_map "
        "WHERE pseudonym IN (SELECT pseudonym FROM temp.objection)"
    ).fetchone()
    run.objected += int(skipped[0]) if skipped else 0
    objected = {str(p) for (p,) in wh.omop.execute("SELECT pseudonym FROM temp.objection").fetchall()}
    wh.omop.execute("DELETE FROM temp.person_map WHERE pseudonym IN (SELECT pseudonym FROM temp.objection)")
    # each source record keeps its own identity row: a later record of the same person never overwrites it
    wh.omop.execute(
        """INSERT OR REPLACE INTO vault.identity
           SELECT m.pseudonym, p.family, p.given, p.gender, TRY_CAST(p.birth AS DATE), p.birth_place, p.ins, p.ins,
                  p.phone, p.email, p.address, p.zip, p.city, p.death_date, now()::TIMESTAMP, p.used_family,
                  'fhir:Patient', m.source_hash
           FROM temp.patients p JOIN temp.person_map m USING (ref) WHERE m.ref IN (SELECT ref FROM temp.assigned)"""
    )
    _review(run, [a for a in assignments if a.outcome == "possible" and a.pseudonym not in objected])
    wh.omop.execute(
        """INSERT OR REPLACE INTO vault.mapping
           SELECT pseudonym, 'fhir:Patient', source_hash, now()::TIMESTAMP FROM temp.person_map"""
    )
    location = id_sql("'location|' || coalesce(p.zip, '') || '|' || coalesce(p.city, '')")
    _load(
        run,
        "location",
        f"""SELECT DISTINCT {location} AS location_id, p.city, p.zip, p.country AS country_source_value
            FROM temp.patients p JOIN temp.person_map USING (ref) WHERE p.zip IS NOT NULL OR p.city IS NOT NULL""",
    )
    _load(
        run,
        "person",
        f"""SELECT m.person_id,
                   CASE p.gender WHEN 'male' THEN 8507 WHEN 'female' THEN 8532 ELSE 0 END AS gender_concept_id,
                   year(TRY_CAST(p.birth AS DATE)) AS year_of_birth, 0 AS race_concept_id,
                   0 AS ethnicity_concept_id,
                   CASE WHEN p.zip IS NOT NULL OR p.city IS NOT NULL THEN {location} END AS location_id,
                   m.pseudonym AS person_source_value
            FROM temp.patients p JOIN temp.person_map m USING (ref)""",
    )
    _load(
        run,
        "death",
        f"""SELECT m.person_id, date_trunc('month', p.death_date)::DATE AS death_date,
                   {EHR} AS death_type_concept_id
            FROM temp.patients p JOIN temp.person_map m USING (ref) WHERE p.death_date IS NOT NULL""",
    )


def _review(run: _Run, possible: Sequence[matching.Assignment]) -> None:
    """Queue the possible matches for the identity-vigilance review (never merged silently); counted in the report."""
    if not possible:
        return
    # short numbers a reviewer types (1, 2, 3…: the next after the largest), a pair already queued is not queued again
    run.warehouse.omop.executemany(
        """INSERT INTO vault.identity_review
           SELECT (SELECT coalesce(max(review_id), 0) + 1 FROM vault.identity_review), 'fhir:Patient', $h, $p, $c,
                  $s, $r, now()::TIMESTAMP, 'open', NULL, NULL
           WHERE NOT EXISTS (SELECT 1 FROM vault.identity_review WHERE source_hash = $h AND candidate = $c)""",
        [{"h": a.source_hash, "p": a.pseudonym, "c": a.candidate, "s": a.score, "r": a.reason} for a in possible],
    )
    run.refuse(
        f"Patient, possible match ({len(possible)})",
        "possibly the same person as a patient already known: fed as a distinct person and queued for the "
        "identity-vigilance review, never merged automatically",
    )


def _fhir_professionals(run: _Run) -> None:
    wh, src = run.warehouse, {"src": run.source}
    ident = "list_filter(json_extract(r, '$.identifier[*]'), lambda x: (x->>'system') = '{}')[1]->>'value'"
    wh.sql(
        f"""CREATE OR REPLACE TEMP TABLE org_map AS
            SELECT 'Organization/' || rid AS ref, r->>'name' AS name,
                   r->>'$.type[1].coding[0].code' AS category,
                   {
            hmac_sql(
                "'care_site|' || coalesce('FINESS|' || ("
                + ident.format("https://finess.esante.gouv.fr")
                + "), $src || '|' || rid)"
            )
        } AS pseudonym
            FROM temp.fhir_res WHERE rtype = 'Organization'""",
        src,
    )
    telecom = "list_filter(json_extract(r, '$.telecom[*]'), lambda x: (x->>'system') = '{}')[1]->>'value'"
    wh.sql(
        f"""CREATE OR REPLACE TEMP TABLE prac_map AS
            SELECT ref, family, given, rpps, gender, phone, email,
                   {hmac_sql("'professional|' || coalesce('RPPS|' || rpps, $src || '|' || ref)")} AS pseudonym
            FROM (SELECT 'Practitioner/' || rid AS ref, r->>'$.name[0].family' AS family,
                         r->>'$.name[0].given[0]' AS given, {ident.format(RPPS_SYSTEM)} AS rpps,
                         r->>'gender' AS gender, {telecom.format("phone")} AS phone, {telecom.format("email")} AS email
                  FROM temp.fhir_res WHERE rtype = 'Practitioner')""",
        src,
    )
    wh.omop.execute(
        """INSERT OR REPLACE INTO vault.professional
           SELECT pseudonym, family, given, rpps, NULL, phone, email, now()::TIMESTAMP FROM temp.prac_map"""
    )
    _load(
        run,
        "care_site",
        f"""SELECT {bigint_sql("pseudonym")} AS care_site_id, name AS care_site_name,
                   category AS place_of_service_source_value, pseudonym AS care_site_source_value
            FROM temp.org_map""",
    )
    _load(
        run,
        "provider",
        f"""SELECT {bigint_sql("p.pseudonym")} AS provider_id, p.pseudonym AS provider_source_value,
                   CASE p.gender WHEN 'male' THEN 8507 WHEN 'female' THEN 8532 ELSE 0 END AS gender_concept_id,
                   role.specialty AS specialty_source_value, {bigint_sql("o.pseudonym")} AS care_site_id
            FROM temp.prac_map p
            LEFT JOIN (SELECT r->>'$.practitioner.reference' AS ref, any_value(r->>'$.code[0].coding[0].code')
                              AS specialty, any_value(r->>'$.organization.reference') AS org
                       FROM temp.fhir_res WHERE rtype = 'PractitionerRole' GROUP BY ALL) role USING (ref)
            LEFT JOIN temp.org_map o ON o.ref = role.org""",
    )


def _ts(path: str) -> str:
    return f"TRY_CAST(replace(substr(r->>'{path}', 1, 19), 'T', ' ') AS TIMESTAMP)"


def _events_from(rtype: str) -> str:
    """Resources of a type joined to their person (subject) and, if known, provider."""
    return f"""temp.fhir_res f JOIN temp.person_map m ON m.ref = (f.r->>'$.subject.reference')
               WHERE f.rtype = '{rtype}'"""


def _provider(path: str) -> str:
    return f"(SELECT {bigint_sql('pseudonym')} FROM temp.prac_map WHERE ref = (r->>'{path}'))"


def _code(path: str) -> str:
    return f"r->>'{path}.coding[0].code'"


def _fhir_events(run: _Run) -> None:
    unresolved = run.warehouse.omop.execute(
        """SELECT count(*) FROM temp.fhir_res WHERE rtype IN ('Encounter', 'Condition', 'Observation',
           'MedicationRequest', 'MedicationDispense', 'Procedure')
           AND (r->>'$.subject.reference') NOT IN (SELECT ref FROM temp.person_map)"""
    ).fetchone()
    if unresolved and unresolved[0]:
        run.refuse(
            f"clinical resources ({unresolved[0]})",
            "their patient is unknown, not pseudonymisable or objected: they were not fed",
        )
    src = {"src": run.source}
    visit = f"CASE WHEN r->>'$.encounter.reference' IS NOT NULL THEN {_event_id(ENCOUNTER_REF)} END"
    _load(
        run,
        "visit_occurrence",
        f"""SELECT {_event_id(_ref("'Encounter'"))} AS visit_occurrence_id, m.person_id,
                   CASE r->>'$.class.code' WHEN 'IMP' THEN 9201 WHEN 'AMB' THEN 9202 WHEN 'EMER' THEN 9203
                        ELSE 0 END AS visit_concept_id,
                   {_ts("$.period.start")}::DATE AS visit_start_date, {_ts("$.period.start")} AS visit_start_datetime,
                   coalesce({_ts("$.period.end")}, {_ts("$.period.start")})::DATE AS visit_end_date,
                   {_ts("$.period.end")} AS visit_end_datetime, {EHR} AS visit_type_concept_id,
                   {_provider("$.participant[0].individual.reference")} AS provider_id,
                   (SELECT {bigint_sql("pseudonym")} FROM temp.org_map WHERE ref = (r->>'$.serviceProvider.reference'))
                       AS care_site_id,
                   r->>'$.class.code' AS visit_source_value
            FROM {_events_from("Encounter")}""",
        src,
    )
    run.step("Visits")
    _load(
        run,
        "condition_occurrence",
        f"""SELECT {_event_id(_ref("'Condition'"))} AS condition_occurrence_id, m.person_id,
                   0 AS condition_concept_id,
                   coalesce({_ts("$.onsetDateTime")}, {_ts("$.recordedDate")})::DATE AS condition_start_date,
                   coalesce({_ts("$.onsetDateTime")}, {_ts("$.recordedDate")}) AS condition_start_datetime,
                   {EHR} AS condition_type_concept_id, {_provider("$.recorder.reference")} AS provider_id,
                   {visit} AS visit_occurrence_id, {_code("$.code")} AS condition_source_value,
                   {_code("$.clinicalStatus")} AS condition_status_source_value
            FROM {_events_from("Condition")}""",
        src,
    )
    run.step("Conditions")
    _fhir_measurements(run, visit)
    run.step("Measurements")
    for rtype, when, type_concept, who, quantity in (
        ("MedicationRequest", "$.authoredOn", 32838, "$.requester.reference", "$.dispenseRequest.quantity.value"),
        ("MedicationDispense", "$.whenHandedOver", 32825, "$.performer[0].actor.reference", "$.quantity.value"),
    ):
        _load(
            run,
            "drug_exposure",
            f"""SELECT {_event_id(_ref(repr(rtype)))} AS drug_exposure_id, m.person_id, 0 AS drug_concept_id,
                       {_ts(when)}::DATE AS drug_exposure_start_date, {_ts(when)} AS drug_exposure_start_datetime,
                       {_ts(when)}::DATE AS drug_exposure_end_date, {type_concept} AS drug_type_concept_id,
                       TRY_CAST(r->>'{quantity}' AS DOUBLE) AS quantity, {_provider(who)} AS provider_id,
                       {visit} AS visit_occurrence_id, {_code("$.medicationCodeableConcept")} AS drug_source_value,
                       r->>'$.dosageInstruction[0].text' AS sig
                FROM {_events_from(rtype)}""",
            src,
        )
    run.step("Drugs")
    _load(
        run,
        "procedure_occurrence",
        f"""SELECT {_event_id(_ref("'Procedure'"))} AS procedure_occurrence_id, m.person_id,
                   0 AS procedure_concept_id,
                   coalesce({_ts("$.performedDateTime")}, {_ts("$.performedPeriod.start")})::DATE AS procedure_date,
                   coalesce({_ts("$.performedDateTime")}, {_ts("$.performedPeriod.start")}) AS procedure_datetime,
                   {EHR} AS procedure_type_concept_id, {_provider("$.performer[0].actor.reference")} AS provider_id,
                   {visit} AS visit_occurrence_id, {_code("$.code")} AS procedure_source_value
            FROM {_events_from("Procedure")}""",
        src,
    )
    run.step("Procedures")


def _concepts(mapping: Mapping[str, int], name: str) -> str:
    values = ", ".join(f"('{k}', {v})" for k, v in mapping.items())
    return f"(SELECT * FROM (VALUES {values}) AS v(ccode, {name}))"


BINARY_REF = re.compile(r"Binary/([A-Za-z0-9.-]{1,64})")


def _attachments(
    run: _Run, rid: str, contents: str | None, binaries: Mapping[str, tuple[str, str]]
) -> list[tuple[int, str, str]]:
    """Every attachment of DocumentReference ``rid`` read as text: (its place in ``content``, its title, its text).

    An attachment is its inline ``data``, or the ``Binary/<id>`` of the same bundles its ``url`` names
    (``binaries``: id → content type, data); any other link is never followed. Each one that cannot be read (a
    link, a type the de-identifier cannot read, damaged, without text) is refused in the report by name and left
    out; the others still enter."""
    import base64
    import binascii
    import json

    from santegarde.deid.attachments import attachment_text
    from santegarde.deid.refusal import DeidRefused

    out = []
    for k, content in enumerate(json.loads(contents or "[]") or []):
        attachment = content.get("attachment") if isinstance(content, dict) else None
        attachment = attachment if isinstance(attachment, dict) else {}
        name = f"DocumentReference/{rid} attachment {k + 1}"
        content_type, data = attachment.get("contentType"), attachment.get("data")
        linked = BINARY_REF.fullmatch(str(attachment.get("url") or ""))
        if not data and linked and linked[1] in binaries:
            binary_type, data = binaries[linked[1]]
            content_type = content_type or binary_type
        if not isinstance(data, str) or not data:
            run.refuse(name, "only inline data or a Binary of the same bundles is read (no link is followed)")
            continue
        try:
            text = attachment_text(base64.b64decode(data, validate=True), str(content_type or ""), name)
        except binascii.Error:
            run.refuse(name, "its data is not valid base64: nothing of it entered")
            continue
        except DeidRefused as refused:
            run.refuse(name, refused.in_language("en").rstrip("."))
            continue
        out.append((k, str(attachment.get("title") or ""), text))
    return out


def _fhir_documents(run: _Run) -> None:
    """Every attachment of a dated DocumentReference of a known patient into ``note``, as text de-identified in
    transit: inline plain text, HTML, Word .docx, PDF (text layer; scanned pages read by the OCR; metadata never
    read) and images (the text the OCR reads): `santegarde.deid.attachments`. Each attachment is a note of its own
    (the first keeps the document's note id, the next ones ``#k``), titled by its own title or else the document's
    description; an attachment that cannot be read is refused by name, the others still enter."""
    if run.deidentify is None:
        return
    wh = run.warehouse
    rows = wh.omop.execute(
        f"""SELECT f.rid, f.r->>'$.subject.reference', (f.r->'$.content')::VARCHAR, coalesce(f.r->>'$.description', '')
            FROM temp.fhir_res f WHERE f.rtype = 'DocumentReference'
            AND (f.r->>'$.subject.reference') IN (SELECT ref FROM temp.person_map)
            AND coalesce({_ts("$.date")}, {_ts("$.context.period.start")}) IS NOT NULL"""
    ).fetchall()
    total = wh.omop.execute("SELECT count(*) FROM temp.fhir_res WHERE rtype = 'DocumentReference'").fetchone()
    left = (total[0] if total else 0) - len(rows)
    if left:
        run.refuse(
            f"DocumentReference ({left})",
            "only a dated document of a known patient is de-identified; the others are refused",
        )
    binaries = {
        rid: (str(kind or ""), str(data or ""))
        for rid, kind, data in wh.omop.execute(
            "SELECT rid, r->>'contentType', r->>'data' FROM temp.fhir_res WHERE rtype = 'Binary'"
        ).fetchall()
    }
    kept: list[tuple[str, str, str, str, str]] = []  # document rid, note rid (rid#k), patient scope, title, text
    for rid, subject, contents, description in rows:
        for k, title, text in _attachments(run, rid, contents, binaries):
            kept.append((rid, f"{rid}#{k}" if k else rid, f"{run.source}|{subject}", title or description, text))
    linked = {m[1] for (c,) in wh.omop.execute(
        "SELECT r->>'$.content[*].attachment.url' FROM temp.fhir_res WHERE rtype = 'DocumentReference'"
    ).fetchall() for m in BINARY_REF.finditer(str(c or ""))}  # fmt: skip
    alone = len(set(binaries) - linked)
    if alone:
        run.refuse(f"Binary ({alone})", "a Binary enters only as the attachment of a DocumentReference that names it")
    if not kept:
        return
    patients = [k[2] for k in kept]
    titles = run.deidentify([k[3] for k in kept], patients)
    texts = run.deidentify([k[4] for k in kept], patients)
    if len(titles) != len(kept) or len(texts) != len(kept):
        raise FeedError("The de-identifier returned a different number of notes; nothing was written.")
    wh.omop.execute(
        "CREATE OR REPLACE TEMP TABLE fhir_notes (doc_rid VARCHAR, note_rid VARCHAR, title VARCHAR, body VARCHAR)"
    )
    wh.omop.executemany(
        "INSERT INTO temp.fhir_notes VALUES (?, ?, ?, ?)",
        [(k[0], k[1], t or None, b) for k, t, b in zip(kept, titles, texts, strict=True)],
    )
    _load(
        run,
        "note",
        f"""SELECT {_event_id("'DocumentReference/' || n.note_rid")} AS note_id, m.person_id,
                   coalesce({_ts("$.date")}, {_ts("$.context.period.start")})::DATE AS note_date,
                   coalesce({_ts("$.date")}, {_ts("$.context.period.start")}) AS note_datetime,
                   {EHR} AS note_type_concept_id, 0 AS note_class_concept_id, n.title AS note_title,
                   n.body AS note_text, 0 AS encoding_concept_id, 0 AS language_concept_id,
                   {_provider("$.author[0].reference")} AS provider_id
            FROM temp.fhir_res f JOIN temp.person_map m ON m.ref = (f.r->>'$.subject.reference')
                 JOIN temp.fhir_notes n ON n.doc_rid = f.rid
            WHERE f.rtype = 'DocumentReference'""",
        {"src": run.source},
    )
    wh.omop.execute("DROP TABLE temp.fhir_notes")


def _fhir_measurements(run: _Run, visit: str) -> None:
    parts = f"""
        SELECT f.rid, f.r, m.person_id, 0 AS k, f.r->'$.code' AS code, f.r->'$.valueQuantity' AS q
        FROM {_events_from("Observation")} AND (f.r->'$.valueQuantity') IS NOT NULL
        UNION ALL
        SELECT rid, r, person_id, k, c->'$.code', c->'$.valueQuantity' FROM (
            SELECT f.rid, f.r, m.person_id, unnest(json_extract(f.r, '$.component[*]')) AS c,
                   unnest(generate_series(1, json_array_length(f.r, '$.component')::BIGINT)) AS k
            FROM {_events_from("Observation")} AND json_array_length(f.r, '$.component') > 0)"""
    _load(
        run,
        "measurement",
        f"""SELECT {id_sql("'event|' || $src || '|Observation/' || rid || '#' || k::VARCHAR")} AS measurement_id,
                   person_id, coalesce(lc.concept, 0) AS measurement_concept_id,
                   {_ts("$.effectiveDateTime")}::DATE AS measurement_date,
                   {_ts("$.effectiveDateTime")} AS measurement_datetime, {EHR} AS measurement_type_concept_id,
                   TRY_CAST(q->>'value' AS DOUBLE) AS value_as_number, coalesce(uc.unit, 0) AS unit_concept_id,
                   {visit} AS visit_occurrence_id, code->>'$.coding[0].code' AS measurement_source_value,
                   q->>'code' AS unit_source_value
            FROM ({parts}) p
            LEFT JOIN {_concepts(LOINC_CONCEPTS, "concept")} lc ON lc.ccode = (p.code->>'$.coding[0].code')
            LEFT JOIN {_concepts(UNIT_CONCEPTS, "unit")} uc ON uc.ccode = (p.q->>'code')
            WHERE q IS NOT NULL""",
        {"src": run.source},
    )


# -- OMOP CDM files -------------------------------------------------------------------------------------------
def feed_omop(
    warehouse: Warehouse, source: Path | Sequence[Path], data_list: DataList | Path,
    progress: Progress | None = None, *, source_name: str, operator: Operator,
    guard: WarehouseGuard | None = None, cutoff: date | None = None, deidentify: TextDeidentifier | None = None,
) -> FeedReport:  # fmt: skip
    """Feed OMOP CDM 5.4 tables from ``<table>.csv`` / ``<table>.parquet`` files, re-pseudonymised, as ``operator``.

    ``source_name`` is the namespace of the files' identifiers: a ``person_id`` is pseudonymised within its source,
    so two sources' ``person_id`` 1 are two persons (issue 15: unrelated sources merged patients). The ``note`` table
    is refused unless ``deidentify`` is given; then its text and title are de-identified in transit, before anything
    is written to the warehouse (EDS-SEC-PSE-4).
    """
    name = checked_source(source_name)
    files = (
        sorted(source.glob("*.csv")) + sorted(source.glob("*.parquet")) if isinstance(source, Path) else list(source)
    )
    if not files:
        raise FeedError(f"No OMOP CSV or Parquet file was found in {source}; name files after their table.")
    run = _Run(warehouse, _data_list(data_list), name, progress, total=len(files) + 2)
    run.cutoff = cutoff or run.cutoff
    run.deidentify = deidentify
    names = [f.stem.lower() for f in files]
    _run_feed(
        warehouse, files, lambda copies: _omop(run, list(zip(names, copies, strict=True))), operator, guard, name
    )
    return run.report(len(files))


def _omop(run: _Run, tables: list[tuple[str, Path]]) -> None:
    run.step("Copied into transit")
    run.warehouse.omop.execute("CREATE OR REPLACE TEMP TABLE person_map (person_id BIGINT)")
    order = {name: i for i, name in enumerate(omop.OMOP_TABLES)}
    for name, path in sorted(tables, key=lambda t: order.get(t[0], len(order))):
        if name not in omop.OMOP_TABLES:
            run.refuse(f"{name} ({path.suffix.lstrip('.')})", "not an OMOP CDM 5.4 table fed by the warehouse")
        elif name == "note" and run.deidentify is None:
            run.refuse("note", "unstructured text is refused until a de-identifier is configured")
        elif name == "note":
            _omop_table(run, name, _deidentified_notes(run, path))
        else:
            _omop_table(run, name, path)
        run.step(f"Table {name}")
    _observation_periods(run) if not any(n == "observation_period" for n, _ in tables) else None
    run.step("Observation periods")


def _omop_table(run: _Run, table: str, path: Path) -> None:
    wh = run.warehouse
    quoted = str(path).replace("'", "''")
    reader = (
        f"read_parquet('{quoted}')"
        if path.suffix == ".parquet"
        else f"read_csv('{quoted}', header = true, all_varchar = true)"
    )
    try:
        present = [str(r[0]) for r in wh.omop.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
    except Exception as exc:
        raise FeedError(
            f"The {table} file cannot be read as {path.suffix.lstrip('.')} ({type(exc).__name__})."
        ) from None
    expressions = []
    for name in present:
        spec = omop.column(table, name.lower())
        if spec is None:
            run.refuse(f"{table}.{name}", "not an OMOP CDM 5.4 column")
            continue
        expressions.append(f"{_omop_value(table, spec)} AS {omop.q(spec.name)}")
    if not expressions:
        return
    for own in PSEUDONYM_COLUMNS:
        if own[0] == table and own[1] not in {p.lower() for p in present}:
            expressions.append(f"{_omop_value(table, omop.column(*own) or omop.OMOP_TABLES[table][0])} AS {own[1]}")
    if table == "person":
        wh.sql(
            f"""INSERT OR REPLACE INTO vault.mapping
                SELECT {hmac_sql(_import_message("person", "person_id"))}, 'import:' || $src,
                       {hmac_sql("$src || '|' || person_id::VARCHAR", "mk")}, now()::TIMESTAMP FROM {reader}""",
            {"src": run.source},
        )
    skipped = wh.sql(
        f"""SELECT count(DISTINCT person_id) FROM (SELECT {_omop_value(table, omop.OMOP_TABLES["person"][0])}
            AS person_id FROM {reader}) WHERE person_id IN (SELECT person_id FROM temp.objection)"""
        if table == "person"
        else "SELECT 0",
        {"src": run.source},
    ).fetchone()
    run.objected += int(skipped[0]) if skipped else 0
    _load(run, table, f"SELECT {', '.join(expressions)} FROM {reader}", {"src": run.source})
    if "person_id" in {p.lower() for p in present}:  # a file may name its columns in capitals (Eunomia's do)
        wh.sql(
            f"INSERT INTO temp.person_map SELECT DISTINCT {_omop_value(table, omop.OMOP_TABLES['person'][0])} "
            f"FROM {reader}",
            {"src": run.source},
        )


def _deidentified_notes(run: _Run, path: Path) -> Path:
    """The note file rewritten in transit with its text columns de-identified; the raw copy is removed."""
    assert run.deidentify is not None
    quoted = str(path).replace("'", "''")
    reader = (
        f"read_parquet('{quoted}')"
        if path.suffix == ".parquet"
        else f"read_csv('{quoted}', header = true, all_varchar = true)"
    )
    try:
        table = run.warehouse.omop.execute(f"SELECT * FROM {reader}").arrow()
    except Exception as exc:
        raise FeedError(f"The note file cannot be read as {path.suffix.lstrip('.')} ({type(exc).__name__}).") from None
    import pyarrow as pa
    import pyarrow.parquet as pq

    if hasattr(table, "read_all"):
        table = table.read_all()
    lowered = [c.lower() for c in table.column_names]
    persons = table.column(lowered.index("person_id")).to_pylist() if "person_id" in lowered else [None] * len(table)
    patients = [f"{run.source}|{p}" for p in persons]
    for index, column in enumerate(table.column_names):
        if column.lower() in DEIDENTIFIED_COLUMNS:
            texts = [t if isinstance(t, str) else "" for t in table.column(index).to_pylist()]
            cleaned = run.deidentify(texts, patients)
            if len(cleaned) != len(texts):
                raise FeedError("The de-identifier returned a different number of notes; nothing was written.")
            nulls = table.column(index).is_null().to_pylist()
            values = [None if null else text for text, null in zip(cleaned, nulls, strict=True)]
            table = table.set_column(index, column, pa.array(values, pa.string()))
    target = path.with_name(f"{path.stem}-deid.parquet")
    pq.write_table(table, target)
    target.chmod(0o600)
    path.unlink()
    return target


def _import_message(target: str, column_sql: str) -> str:
    return f"'import|' || $src || '|{target}|' || CAST({column_sql} AS VARCHAR)"


def _omop_value(table: str, spec: omop.Column) -> str:
    """The warehouse value of an incoming OMOP column: re-keyed identifiers and pseudonyms, typed values."""
    name = spec.name
    own_key = name == f"{table}_id" and spec.type == "BIGINT"
    target = table if own_key else FK_TARGETS.get(name)
    if target is not None:
        return f"CASE WHEN {name} IS NOT NULL THEN {id_sql(_import_message(target, name))} END"
    if (table, name) in POINTERS:
        domain = POINTERS[(table, name)]
        return f"CASE WHEN {name} IS NOT NULL THEN {id_sql(_pointer_message(domain, name))} END"
    if (table, name) in FIELD_POINTERS:
        field = FIELD_POINTERS[(table, name)]
        return f"CASE WHEN {name} IS NOT NULL THEN {id_sql(_field_message(field, name))} END"
    if (table, name) in PSEUDONYM_COLUMNS:
        key = omop.OMOP_TABLES[table][0].name
        return hmac_sql(_import_message(table, key))
    return f"CAST({omop.q(name)} AS {spec.type})"


def _field_message(field_column: str, column_sql: str) -> str:
    """The import message of an id whose table is named by its row's CDM field concept (``table.column``)."""
    tables = ", ".join(f"'{t}'" for t in omop.EVENT_TABLES)
    target = (
        f"(SELECT any_value(split_part(c.concept_name, '.', 1)) FROM omop.concept c WHERE c.concept_id = "
        f"TRY_CAST({field_column} AS INTEGER) AND c.vocabulary_id = 'CDM' AND split_part(c.concept_name, '.', 1) "
        f"IN ({tables}))"
    )
    return f"'import|' || $src || '|' || coalesce({target}, 'event') || '|' || CAST({column_sql} AS VARCHAR)"


def _pointer_message(domain_column: str, column_sql: str) -> str:
    """The import message of an id whose table is given by its row's domain (a name, or a domain concept id)."""
    names = dict(omop.DOMAIN_TABLES)
    names.update({str(concept): names[domain] for concept, domain in omop.DOMAIN_CONCEPTS.items()})
    cases = " ".join(f"WHEN '{key}' THEN '{target}'" for key, target in names.items())
    return (
        f"'import|' || $src || '|' || (CASE CAST({domain_column} AS VARCHAR) {cases} ELSE 'event' END) || '|' || "
        f"CAST({column_sql} AS VARCHAR)"
    )


def _data_list(data_list: DataList | Path) -> DataList:
    return data_list if isinstance(data_list, DataList) else DataList.load(data_list)
