"""Warehouse core: encrypted OMOP store, identity vault under another key, SQL pseudonyms, feeds, objection."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import select

from identity_fixtures import make_context
from santegarde.audit.trail import AuditTrail
from santegarde.crypto import Keyring
from santegarde.identity.context import IdentityContext
from santegarde.store.db import make_engine, migrate
from santegarde.store.schema import objection_ledger
from santegarde.synthetic import generate_dataset
from santegarde.warehouse import Warehouse, WarehouseEngineError, engine
from santegarde.warehouse.access import Operator, WarehouseGuard
from santegarde.warehouse.feed import DataList, DataListError, FeedError
from santegarde.warehouse.omop import OMOP_TABLES
from santegarde.warehouse.pseudonym import (
    PseudonymKey,
    hmac_sql,
    identity_message,
    normalise,
    person_id_of,
    pseudonyms,
)
from warehouse_governance_fixtures import staff

FULL = {f"{t}.{c.name}": "needed by the warehouse purposes" for t, cols in OMOP_TABLES.items() for c in cols}
FEEDER = Operator("feed.bot", "feeding")  # feeds, and mobilises the genetic/location key (EDS-SEC-LOG-6)
STEWARD = Operator("rights.desk", "data_steward")  # handles the persons' rights, registers objections (EDS-9)


@pytest.fixture
def identity(tmp_path: Path) -> IdentityContext:
    ctx = make_context(f"sqlite:///{tmp_path / 'identity.db'}", tmp_path, "eds-2021-118")
    migrate(ctx.engine)  # the records database of the organisation: the objection ledger (EDS-9)
    staff(ctx, FEEDER.login, "feeding")
    staff(ctx, STEWARD.login, "data_steward")
    return ctx


@pytest.fixture
def ring(identity: IdentityContext) -> Keyring:
    return identity.keyring


@pytest.fixture
def trail(tmp_path: Path) -> AuditTrail:
    audit = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(audit, package="santegarde.audit")
    return AuditTrail(audit, b"s" * 32)


@pytest.fixture
def wh(tmp_path: Path, identity: IdentityContext, trail: AuditTrail) -> Warehouse:
    warehouse = Warehouse.open(tmp_path / "warehouse", identity.keyring, guard=WarehouseGuard(identity, trail))
    yield warehouse
    warehouse.close()


@pytest.fixture
def dataset():  # type: ignore[no-untyped-def]
    return generate_dataset(7, 12, profile="warehouse")


@pytest.fixture
def bundle(tmp_path: Path, dataset) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "in" / "bundle.json"
    path.parent.mkdir()
    path.write_text(dataset.bundle().json(), encoding="utf-8")
    return path


def identity_of(patient) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"family": patient.name[0].family, "given": patient.name[0].given[0], "birthdate": str(patient.birthDate)}


def raw_identifiers(dataset) -> set[str]:  # type: ignore[no-untyped-def]
    """Names, INS/NIR, RPPS, phone numbers, e-mails and every source id of the dataset."""
    out: set[str] = set()
    for resource in dataset.resources():
        out.add(str(resource.id))
        data = json.loads(resource.json())
        if data["resourceType"] in ("Patient", "Practitioner"):
            for name in data.get("name", []):
                out.add(name["family"])
                out.update(name.get("given", []))
            out.update(i["value"] for i in data.get("identifier", []))
            out.update(t["value"] for t in data.get("telecom", []))
            out.update(line for a in data.get("address", []) for line in a.get("line", []))
    return {v for v in out if len(v) >= 4}


def test_sql_pseudonyms_equal_python_hmac(wh: Warehouse) -> None:
    key = PseudonymKey(bytes(range(32)))
    samples = ["", "a", "person|LÉGER|ÉLOÏSE|1990-01-02", "x" * 200]
    expected_all = [key.hexdigest(m) for m in samples]
    assert pseudonyms(key, samples).to_pylist() == expected_all
    in_sql = wh.omop.execute(
        f"SELECT {hmac_sql('m', 'k')} FROM unnest($ms) WITH ORDINALITY t(m, i) ORDER BY i",
        {"ms": samples, **key.params("k")},
    ).fetchall()
    assert [r[0] for r in in_sql] == expected_all
    identity = {"family": "  Le Cœur-d'Ârgent ", "given": "Anne  Marie", "birthdate": "1980-02-29"}
    expected = wh.pseudonym_key.hexdigest(identity_message(identity["family"], identity["given"], "1980-02-29"))
    assert wh.pseudonym_of(identity) == expected
    assert normalise("  Le Cœur-d'Ârgent ") == "LE COEUR D ARGENT"
    assert wh.person_id_of(identity) == person_id_of(expected) > 0


def test_incomplete_identity_is_refused(wh: Warehouse) -> None:
    with pytest.raises(ValueError, match="birth date"):
        wh.pseudonym_of({"family": "ROYER", "given": "Thomas", "birthdate": ""})


def test_fhir_feed_keeps_no_raw_identifier_in_the_omop_store(
    wh: Warehouse, bundle: Path, dataset, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    report = wh.feed_fhir([bundle], DataList.from_mapping(FULL), source="dpi", operator=FEEDER)
    assert report.rows["person"] == 12 and report.rows["condition_occurrence"] > 0 and report.rows["measurement"] > 0
    assert report.rows["provider"] > 0
    secrets = raw_identifiers(dataset)
    for table in OMOP_TABLES:
        if table == "location":
            continue
        text = " ".join(str(v) for row in wh.omop.execute(f"SELECT * FROM omop.{table}").fetchall() for v in row)
        assert not [s for s in secrets if s in text], table
    wh.close()
    content = (tmp_path / "warehouse" / "omop.duckdb").read_bytes()
    assert not [s for s in secrets if s.encode() in content or s.upper().encode() in content]
    assert b"condition_occurrence" not in content  # even the schema is encrypted


def test_identities_go_only_to_the_vault(wh: Warehouse, bundle: Path, dataset) -> None:  # type: ignore[no-untyped-def]
    wh.feed_fhir([bundle], DataList.from_mapping(FULL), source="dpi", operator=FEEDER)
    patient = dataset.patients[0]
    with wh.vault_connection() as con:
        row = con.execute(
            "SELECT family, pseudonym FROM vault.identity WHERE ins = $i", {"i": patient.identifier[0].value}
        ).fetchone()
    assert row == (patient.name[0].family, wh.pseudonym_of(identity_of(patient)))
    person = wh.omop.execute("SELECT person_id FROM omop.person WHERE person_source_value = $p", {"p": row[1]})
    assert person.fetchone() == (person_id_of(row[1]),)


def test_vault_cannot_be_opened_with_the_health_key(wh: Warehouse, tmp_path: Path) -> None:
    with wh.vault_connection() as con:
        con.execute("SELECT count(*) FROM vault.identity")
    other = engine.connect()
    with pytest.raises(WarehouseEngineError, match="not this database's key"):
        engine.attach_encrypted(other, tmp_path / "warehouse" / "vault.duckdb", "v", wh.keys.health)
    with pytest.raises(duckdb.Error):
        other.execute(f"ATTACH '{tmp_path / 'warehouse' / 'vault.duckdb'}' AS plain")
    other.close()
    assert len({wh.keys.health, wh.keys.mapping, wh.keys.pseudonym, wh.keys.genetic_location}) == 4


def test_objection_is_durable_over_three_feeds(  # type: ignore[no-untyped-def]
    wh: Warehouse, bundle: Path, dataset, identity: IdentityContext
) -> None:
    data_list = DataList.from_mapping(FULL)
    wh.feed_fhir([bundle], data_list, source="dpi", operator=FEEDER)
    objector = identity_of(dataset.patients[3])
    person = wh.person_id_of(objector)
    assert wh.oppose(objector, by=STEWARD) > 1
    for _ in range(3):
        report = wh.feed_fhir([bundle], data_list, source="dpi", operator=FEEDER)
        assert report.objected_skipped == 1 and report.rows["person"] == 11
        for table in ("person", "visit_occurrence", "condition_occurrence", "measurement", "observation_period"):
            found = wh.omop.execute(f"SELECT count(*) FROM omop.{table} WHERE person_id = $i", {"i": person})
            assert found.fetchone() == (0,), table
    with wh.vault_connection() as con:
        assert con.execute("SELECT count(*) FROM vault.identity").fetchone() == (11,)
    assert wh.objected() == {wh.pseudonym_of(objector)}
    with identity.engine.connect() as conn:  # the path's objection ledger, seen from the warehouse
        rows = conn.execute(select(objection_ledger)).all()
    assert [(r.subject, r.patient_id, r.purpose) for r in rows] == [
        ("pseudonym", wh.pseudonym_of(objector), "warehouse_constitution")
    ]


def test_an_older_warehouses_objections_move_into_the_ledger(  # type: ignore[no-untyped-def]
    wh: Warehouse, bundle: Path, dataset, identity: IdentityContext
) -> None:
    objector = identity_of(dataset.patients[2])
    pseudonym = wh.pseudonym_of(objector)
    with wh.vault_connection() as con:  # as a warehouse kept them before the ledger (EDS-9)
        con.execute(
            "CREATE TABLE vault.objection (pseudonym VARCHAR PRIMARY KEY, person_id BIGINT NOT NULL, "
            "registered_at TIMESTAMP NOT NULL)"
        )
        con.execute(
            "INSERT INTO vault.objection VALUES ($p, $i, TIMESTAMP '2025-02-03 10:00:00')",
            {"p": pseudonym, "i": person_id_of(pseudonym)},
        )
    report = wh.feed_fhir([bundle], DataList.from_mapping(FULL), source="dpi", operator=FEEDER)
    assert report.objected_skipped == 1 and report.rows["person"] == 11
    with identity.engine.connect() as conn:
        rows = conn.execute(select(objection_ledger)).all()
    assert [(r.subject, r.patient_id, r.recorded_by, f"{r.recorded_at:%Y-%m-%d %H:%M}") for r in rows] == [
        ("pseudonym", pseudonym, "vault.objection", "2025-02-03 10:00")
    ]
    with wh.vault_connection() as con:  # one list: the old table is gone, nothing was lost
        left = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'objection'").fetchone()
    assert left == (0,)
    assert wh.feed_fhir([bundle], DataList.from_mapping(FULL), source="dpi", operator=FEEDER).objected_skipped == 1


def test_transit_is_purged_on_success_and_on_failure(wh: Warehouse, bundle: Path, tmp_path: Path) -> None:
    seen: list[int] = []
    progress = lambda _d, done, _t: seen.append(done)  # noqa: E731
    wh.feed_fhir([bundle], DataList.from_mapping(FULL), progress=progress, source="dpi", operator=FEEDER)
    transit = tmp_path / "warehouse" / "transit"
    assert seen and list(transit.iterdir()) == []
    bad = tmp_path / "in" / "bad.json"
    bad.write_text('{"resourceType": "Patient"}', encoding="utf-8")
    with pytest.raises(FeedError, match="not FHIR Bundles"):
        wh.feed_fhir([bundle, bad], DataList.from_mapping(FULL), source="dpi", operator=FEEDER)
    assert list(transit.iterdir()) == []
    with pytest.raises(FeedError, match="does not exist"):
        wh.feed_fhir([tmp_path / "missing.json"], DataList.from_mapping(FULL), source="dpi", operator=FEEDER)
    assert list(transit.iterdir()) == []


def test_only_the_data_list_enters(wh: Warehouse, bundle: Path) -> None:
    partial = {k: v for k, v in FULL.items() if k != "condition_occurrence.condition_source_value"}
    partial.pop("measurement.measurement_date")
    report = wh.feed_fhir([bundle], DataList.from_mapping(partial), source="dpi", operator=FEEDER)
    reasons = {r.item: r.reason for r in report.refused}
    assert "data list" in reasons["condition_occurrence.condition_source_value"]
    assert "required" in reasons["measurement"] and "measurement" not in report.rows
    assert wh.omop.execute(
        "SELECT count(*) FROM omop.condition_occurrence WHERE condition_source_value IS NOT NULL"
    ).fetchone() == (0,)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"nope.column": "x"}, "not an OMOP CDM 5.4 column"),
        ({"person.year_of_birth": " "}, "no justification"),
        ([], "non-empty mapping"),
    ],
)
def test_malformed_data_list_is_refused(document: object, message: str) -> None:
    with pytest.raises(DataListError, match=message):
        DataList.from_mapping(document)


def test_data_list_loads_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("person.year_of_birth: age bands for feasibility studies\n", encoding="utf-8")
    assert DataList.load(path).allows("person", "year_of_birth")


def test_text_and_documents_are_refused(wh: Warehouse, tmp_path: Path, bundle: Path) -> None:
    document = json.loads(bundle.read_text(encoding="utf-8"))
    document["entry"].append({"resource": {"resourceType": "DocumentReference", "id": "d1", "status": "current"}})
    bundle.write_text(json.dumps(document), encoding="utf-8")
    report = wh.feed_fhir([bundle], DataList.from_mapping(FULL), source="dpi", operator=FEEDER)
    assert any(r.item.startswith("DocumentReference") and "de-identifier" in r.reason for r in report.refused)
    omop_dir = tmp_path / "omop"
    omop_dir.mkdir()
    (omop_dir / "note.csv").write_text("note_id,person_id,note_date,note_text\n1,1,2024-01-01,Mr DUPONT said\n")
    report = wh.feed_omop(omop_dir, DataList.from_mapping(FULL), source_name="partner", operator=FEEDER)
    assert [(r.item, "de-identifier" in r.reason) for r in report.refused] == [("note", True)]
    assert wh.omop.execute("SELECT count(*) FROM omop.note").fetchone() == (0,)


def test_notes_are_deidentified_before_they_enter(wh: Warehouse, tmp_path: Path) -> None:
    """EDS-SEC-PSE-4: with a de-identifier, notes enter with generic tags; no original name reaches the files."""
    from santegarde.deid.detector import Detector

    omop_dir = tmp_path / "omop-notes"
    write_omop(omop_dir)
    (omop_dir / "note.csv").write_text(
        "note_id,person_id,note_date,note_type_concept_id,note_class_concept_id,encoding_concept_id,"
        "language_concept_id,note_title,note_text\n"
        '1,101,2024-01-01,32817,0,0,0,Courrier Dr Quenardel,"Mme Ysolde Marchetaux, née le 12/03/1954, '
        'tél 06 12 34 56 78, vue par le Dr Quenardel."\n',
        encoding="utf-8",
    )
    notes = {f"note.{c}": "research" for c in ("note_date", "note_title", "note_text", "note_type_concept_id")}
    report = wh.feed_omop(
        omop_dir, DataList.from_mapping({**FULL, **notes}), source_name="dpi", operator=FEEDER,
        deidentify=Detector().deidentify,
    )
    assert "note" not in report.refused_items()
    ((title, text),) = wh.omop.execute("SELECT note_title, note_text FROM omop.note").fetchall()
    assert "<NOM>" in text and "<TEL>" in text and "<DATE_NAISSANCE>" in text and "<NOM>" in title
    for secret in ("Marchetaux", "Ysolde", "Quenardel", "06 12 34 56 78"):
        assert secret not in text + title
        for file in wh.directory.rglob("*"):
            if file.is_file():
                assert secret.encode() not in file.read_bytes(), file.name


def test_free_text_columns_of_results_and_prescriptions_enter_de_identified_or_are_refused(
    wh: Warehouse, tmp_path: Path
) -> None:
    """EDS-SEC-PSE-4 (free-entry comments in the databases): an observation's text, a result's verbatim value and a
    prescription's instructions are refused without a de-identifier; with one, they enter with generic tags and no
    original name or number reaches the warehouse files, while a code-like value is kept as it was."""
    from santegarde.deid.detector import Detector

    omop_dir = tmp_path / "omop-free"
    write_omop(omop_dir)
    (omop_dir / "observation.csv").write_text(
        "observation_id,person_id,observation_concept_id,observation_date,observation_type_concept_id,"
        "value_as_string,value_source_value\n"
        "501,101,0,2024-01-02,32817,Résultat transmis à Mme Ysolde Marchetaux au 06 12 34 56 78,positif\n",
        encoding="utf-8",
    )
    (omop_dir / "measurement.csv").write_text(
        "measurement_id,person_id,measurement_concept_id,measurement_date,measurement_type_concept_id,"
        "value_source_value\n601,101,0,2024-01-02,32817,voir courrier du Dr Quenardel\n",
        encoding="utf-8",
    )
    (omop_dir / "drug_exposure.csv").write_text(
        "drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,drug_exposure_end_date,"
        "drug_type_concept_id,sig,stop_reason\n"
        "701,101,0,2024-01-02,2024-01-09,32817,1 cp le soir; appeler le Dr Quenardel si fièvre,"
        "arrêt par M. Marchetaux\n",
        encoding="utf-8",
    )
    refused = wh.feed_omop(omop_dir, DataList.from_mapping(FULL), source_name="dpi", operator=FEEDER)
    reasons = {r.item: r.reason for r in refused.refused}
    for column in ("observation.value_as_string", "observation.value_source_value", "measurement.value_source_value",
                   "drug_exposure.sig", "drug_exposure.stop_reason"):  # fmt: skip
        assert "de-identifier" in reasons[column], column
    assert wh.omop.execute("SELECT count(*) FROM omop.observation WHERE value_as_string IS NOT NULL").fetchone() == (0,)
    report = wh.feed_omop(
        omop_dir, DataList.from_mapping(FULL), source_name="dpi", operator=FEEDER, deidentify=Detector().deidentify
    )
    assert not [i for i in report.refused_items() if i.endswith(("value_as_string", "value_source_value", "sig"))]
    ((text, value),) = wh.omop.execute("SELECT value_as_string, value_source_value FROM omop.observation").fetchall()
    assert "<NOM>" in text and "<TEL>" in text and value == "positif"
    ((sig, stop),) = wh.omop.execute("SELECT sig, stop_reason FROM omop.drug_exposure").fetchall()
    assert sig.startswith("1 cp le soir") and "<NOM>" in sig and "<NOM>" in stop
    assert "<NOM>" in wh.omop.execute("SELECT value_source_value FROM omop.measurement").fetchone()[0]
    for secret in ("Marchetaux", "Ysolde", "Quenardel", "06 12 34 56 78"):
        for file in wh.directory.rglob("*"):
            if file.is_file():
                assert secret.encode() not in file.read_bytes(), file.name


def test_fhir_plain_text_documents_enter_as_notes_de_identified(wh: Warehouse, bundle: Path) -> None:
    """EDS-SEC-PSE-4: a DocumentReference of inline plain text enters ``note`` de-identified; a PDF, a link or an
    undated document is refused with a count; no original word of the letter reaches the warehouse files."""
    import base64

    from santegarde.deid.detector import Detector

    document = json.loads(bundle.read_text(encoding="utf-8"))
    patient = next(e["resource"]["id"] for e in document["entry"] if e["resource"]["resourceType"] == "Patient")
    letter = "Mme Ysolde Marchetaux, née le 12/03/1954, tél 06 12 34 56 78, vue par le Dr Quenardel."

    def reference(rid: str, content_type: str, data: bytes | None, date: str | None) -> dict[str, object]:
        attachment: dict[str, object] = {"contentType": content_type}
        if data is not None:
            attachment["data"] = base64.b64encode(data).decode()
        resource = {"resourceType": "DocumentReference", "id": rid, "status": "current", "content": [
            {"attachment": attachment}], "subject": {"reference": f"Patient/{patient}"},
            "description": "Courrier du Dr Quenardel"}  # fmt: skip
        if date:
            resource["date"] = date
        return {"resource": resource}

    document["entry"] += [
        reference("d1", "text/plain; charset=utf-8", letter.encode(), "2024-02-01T10:00:00+01:00"),
        reference("d2", "application/pdf", b"%PDF-1.4 Marchetaux", "2024-02-01T10:00:00+01:00"),  # damaged
        reference("d3", "text/plain", letter.encode(), None),
    ]
    bundle.write_text(json.dumps(document), encoding="utf-8")
    notes = {f"note.{c}": "research" for c in ("note_date", "note_title", "note_text", "note_type_concept_id")}
    report = wh.feed_fhir(
        [bundle], DataList.from_mapping({**FULL, **notes}), source="dpi", operator=FEEDER,
        deidentify=Detector().deidentify,
    )  # fmt: skip
    assert report.rows["note"] == 1
    refused = [r.item for r in report.refused if r.item.startswith("DocumentReference")]
    assert refused == ["DocumentReference (1)", "DocumentReference/d2 attachment 1"]
    ((title, text, day),) = wh.omop.execute("SELECT note_title, note_text, note_date FROM omop.note").fetchall()
    assert "<NOM>" in text and "<TEL>" in text and "<NOM>" in title and str(day) == "2024-02-01"
    for secret in ("Marchetaux", "Ysolde", "Quenardel", "06 12 34 56 78"):
        for file in wh.directory.rglob("*"):
            if file.is_file():
                assert secret.encode() not in file.read_bytes(), (secret, file.name)


def test_every_attachment_of_a_document_enters_de_identified_pdf_and_images_included(
    wh: Warehouse, bundle: Path
) -> None:
    """EDS-SEC-PSE-4: every attachment of a DocumentReference is read — plain text in its declared charset, a PDF's
    text layer (its metadata never read), a scanned PDF and a picture through the OCR, a Binary of the bundle — and
    enters ``note`` de-identified; a link, a Word file, a damaged picture are refused by name while the others
    enter; no original word reaches the warehouse files, not even the PDF's author."""
    import base64
    import io

    import pypdf

    from deid_files import letter_png, scanned_pdf, text_pdf
    from santegarde.deid.detector import Detector

    document = json.loads(bundle.read_text(encoding="utf-8"))
    patient = next(e["resource"]["id"] for e in document["entry"] if e["resource"]["resourceType"] == "Patient")
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(text_pdf(["Compte rendu du Dr Quenardel."])))
    writer.add_metadata({"/Author": "Ysolde Marchetaux", "/Title": "CR Marchetaux"})
    writer.write(with_metadata := io.BytesIO())
    latin = "Mme Ysolde Marchetaux, née le 12/03/1954, tél 06 12 34 56 78.".encode("latin-1")

    def inline(content_type: str, data: bytes, title: str = "") -> dict[str, object]:
        attachment = {"contentType": content_type, "data": base64.b64encode(data).decode()}
        return {"attachment": {**attachment, "title": title} if title else attachment}

    contents = [
        inline("text/plain; charset=ISO-8859-1", latin, "Lettre de Mme Marchetaux"),
        inline("application/pdf", with_metadata.getvalue()),
        inline("image/png", letter_png()),
        inline("application/pdf", scanned_pdf(letter_png("Monsieur Hugues QUENARDEL, cardiologie"))),
        {"attachment": {"url": "Binary/b1"}},
        {"attachment": {"contentType": "text/plain", "url": "https://dpi.example/Marchetaux.txt"}},
        inline("application/msword", b"\xd0\xcf\x11\xe0 Marchetaux"),
        inline("image/jpeg", b"not a picture of Marchetaux"),
        inline("text/plain", latin),  # Latin-1 that does not say so: not valid UTF-8
    ]
    binary = {"resourceType": "Binary", "id": "b1", "contentType": "text/plain",
              "data": base64.b64encode(b"Revue par le Dr Quenardel.").decode()}  # fmt: skip
    document["entry"] += [
        {"resource": {"resourceType": "DocumentReference", "id": "d1", "status": "current", "content": contents,
                      "subject": {"reference": f"Patient/{patient}"}, "date": "2024-02-01T10:00:00+01:00",
                      "description": "Dossier de Mme Marchetaux"}},
        {"resource": binary},
        {"resource": {**binary, "id": "b2"}},  # named by no document
    ]  # fmt: skip
    bundle.write_text(json.dumps(document), encoding="utf-8")
    notes = {f"note.{c}": "research" for c in ("note_date", "note_title", "note_text", "note_type_concept_id")}
    report = wh.feed_fhir(
        [bundle], DataList.from_mapping({**FULL, **notes}), source="dpi", operator=FEEDER,
        deidentify=Detector().deidentify,
    )  # fmt: skip
    assert report.rows["note"] == 5
    refused = {r.item: r.reason for r in report.refused if r.item.startswith(("DocumentReference", "Binary"))}
    assert sorted(refused) == ["Binary (1)", *(f"DocumentReference/d1 attachment {k}" for k in (6, 7, 8, 9))]
    assert "application/msword" in refused["DocumentReference/d1 attachment 7"]
    assert "not valid utf-8" in refused["DocumentReference/d1 attachment 9"]
    rows = wh.omop.execute("SELECT note_title, note_text FROM omop.note ORDER BY note_id").fetchall()
    texts = " ".join(f"{title} {text}" for title, text in rows)
    assert texts.count("<NOM>") >= 5 and "<TEL>" in texts and "Lettre de Mme <NOM>" in texts
    assert "Compte rendu du Dr <NOM>" in texts and "cardiologie" in texts and "Revue par le Dr <NOM>" in texts
    for secret in ("Marchetaux", "MARCHETAUX", "Ysolde", "Quenardel", "QUENARDEL", "06 12 34 56 78"):
        for file in wh.directory.rglob("*"):
            if file.is_file():
                assert secret.encode() not in file.read_bytes(), (secret, file.name)


def test_notes_can_enter_with_consistent_surrogates_per_patient(wh: Warehouse, tmp_path: Path) -> None:
    """EDS-SEC-PSE-4, option: the same name becomes the same fictitious name within a patient's notes, the dates
    move by the patient's one offset (intervals kept), under the warehouse key; no original reaches the files."""
    import datetime as dt
    import re
    from functools import partial

    from santegarde.deid.detector import Detector
    from santegarde.deid.surrogates import Surrogates

    omop_dir = tmp_path / "omop-notes"
    write_omop(omop_dir)
    head = (
        "note_id,person_id,note_date,note_type_concept_id,note_class_concept_id,encoding_concept_id,"
        "language_concept_id,note_title,note_text\n"
    )
    (omop_dir / "note.csv").write_text(
        head + '1,101,2024-01-01,32817,0,0,0,Courrier,"Mme Ysolde Marchetaux vue le 12/03/2024, tél 06 12 34 56 78."\n'
        '2,101,2024-01-05,32817,0,0,0,Suivi,"Revue Mme Marchetaux le 15/03/2024."\n'
        '3,102,2024-01-09,32817,0,0,0,Suivi,"Revue Mme Marchetaux le 15/03/2024."\n',
        encoding="utf-8",
    )
    notes = {f"note.{c}": "research" for c in ("note_date", "note_title", "note_text", "note_type_concept_id")}
    detector = Detector()
    surrogates = Surrogates(wh.surrogate_key)
    report = wh.feed_omop(
        omop_dir, DataList.from_mapping({**FULL, **notes}), source_name="dpi", operator=FEEDER,
        deidentify=partial(detector.deidentify, surrogates=surrogates),
    )  # fmt: skip
    assert "note" not in report.refused_items()
    ordered = "SELECT note_text FROM omop.note ORDER BY note_date"
    first, second, other = (t for (t,) in wh.omop.execute(ordered).fetchall())
    name = re.search(r"Mme \w+ (\w+) vue le", first)
    assert name and re.search(rf"Revue Mme {name[1]} le", second) and "<NOM>" not in first + second
    assert "<TEL>" in first  # what has no surrogate keeps its tag
    dates = [dt.datetime.strptime(re.search(r"\d\d/\d\d/\d{4}", t)[0], "%d/%m/%Y") for t in (first, second)]
    assert (dates[1] - dates[0]).days == 3 and dates[0] != dt.datetime(2024, 3, 12)  # shifted, interval kept
    assert other != second  # another patient: another date shift and other fictitious names
    for secret in ("Marchetaux", "Ysolde", "06 12 34 56 78", "12/03/2024", "15/03/2024"):
        for file in wh.directory.rglob("*"):
            if file.is_file():
                assert secret.encode() not in file.read_bytes(), (secret, file.name)


def write_omop(directory: Path) -> None:
    directory.mkdir()
    (directory / "person.csv").write_text(
        "person_id,gender_concept_id,year_of_birth,day_of_birth,race_concept_id,ethnicity_concept_id,"
        "person_source_value,favourite_colour\n"
        "101,8507,1950,12,0,0,SRCPSEUDO-AAA,blue\n102,8532,1962,3,0,0,SRCPSEUDO-BBB,green\n"
    )
    (directory / "condition_occurrence.csv").write_text(
        "condition_occurrence_id,person_id,condition_concept_id,condition_start_date,condition_type_concept_id,"
        "condition_source_value\n9001,101,201826,2023-04-01,32817,E11.9\n9002,102,0,2023-05-02,32817,I10\n"
    )
    (directory / "provider.csv").write_text(
        "provider_id,provider_name,npi,provider_source_value\n77,DR WHO,10101010101,RPPS-10101010101\n"
    )


def test_omop_files_are_re_pseudonymised(wh: Warehouse, tmp_path: Path) -> None:
    write_omop(tmp_path / "omop")
    report = wh.feed_omop(tmp_path / "omop", DataList.from_mapping(FULL), source_name="partner", operator=FEEDER)
    assert report.rows == {"person": 2, "condition_occurrence": 2, "provider": 1, "observation_period": 2}
    reasons = {r.item: r.reason for r in report.refused}
    assert "not an OMOP CDM 5.4 column" in reasons["person.favourite_colour"]
    assert "identity vault" in reasons["person.day_of_birth"] and "identity vault" in reasons["provider.npi"]
    everything = " ".join(
        str(v)
        for t in ("person", "condition_occurrence", "provider")
        for row in wh.omop.execute(f"SELECT * FROM omop.{t}").fetchall()
        for v in row
    )
    for raw in ("SRCPSEUDO", "DR WHO", "10101010101", " 101 ", " 9001 "):
        assert raw not in f" {everything} "
    ids = {r[0] for r in wh.omop.execute("SELECT person_id FROM omop.person").fetchall()}
    assert not ids & {101, 102} and all(i > 0 for i in ids)
    linked = wh.omop.execute("SELECT count(*) FROM omop.condition_occurrence JOIN omop.person USING (person_id)")
    assert linked.fetchone() == (2,)
    again = wh.feed_omop(tmp_path / "omop", DataList.from_mapping(FULL), source_name="partner", operator=FEEDER)
    assert again.rows["person"] == 2 and wh.counts()["person"] == 2  # idempotent: same source, same pseudonyms


def test_professionals_are_pseudonymised(wh: Warehouse, bundle: Path, dataset) -> None:  # type: ignore[no-untyped-def]
    wh.feed_fhir([bundle], DataList.from_mapping(FULL), source="dpi", operator=FEEDER)
    rpps = dataset.practitioners[0].identifier[0].value
    expected = wh.pseudonym_key.hexdigest(f"professional|RPPS|{rpps}")
    assert wh.omop.execute(
        "SELECT count(*) FROM omop.provider WHERE provider_source_value = $p", {"p": expected}
    ).fetchone() == (1,)
    with wh.vault_connection() as con:
        assert con.execute("SELECT rpps FROM vault.professional WHERE pseudonym = $p", {"p": expected}).fetchone() == (
            rpps,
        )


def test_missing_extension_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "platform_name", lambda: "nowhere_arch")
    with pytest.raises(WarehouseEngineError, match="install duckdb-ext-httpfs"):
        engine.connect()


def test_open_without_create_and_init_twice_are_refused(tmp_path: Path, ring: Keyring) -> None:
    from santegarde.warehouse import WarehouseError

    with pytest.raises(WarehouseError, match="warehouse init"):
        Warehouse.open(tmp_path / "none", ring, create=False)
    Warehouse.init(tmp_path / "w", ring).close()
    with pytest.raises(WarehouseError, match="never overwritten"):
        Warehouse.init(tmp_path / "w", ring)


def _omop_rows(directory: Path, persons: int, conditions: int) -> Path:
    """person.csv and condition_occurrence.csv of fictitious rows (the second source's ids start after the first's)."""
    directory.mkdir()
    people = "".join(f"{p},8507,{1940 + p % 60},0,0\n" for p in range(1, persons + 1))
    (directory / "person.csv").write_text(
        "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id\n" + people
    )
    rows = "".join(f"{c},{1 + c % persons},201826,2023-04-{1 + c % 28:02d},32817\n" for c in range(1, conditions + 1))
    (directory / "condition_occurrence.csv").write_text(
        "condition_occurrence_id,person_id,condition_concept_id,condition_start_date,condition_type_concept_id\n"
        + rows
    )
    return directory


def test_the_omop_feed_streams_in_memory_that_does_not_grow_with_the_rows(wh: Warehouse, tmp_path: Path) -> None:
    """Issue 18: the feed never holds a table in Python (the rows go from the file to the store in DuckDB): four
    times the rows, the same Python peak (tracemalloc; a feed that fetched the rows into Python objects grows with
    them, about 0.2 KB a row)."""
    import tracemalloc

    peaks = []
    for source, conditions in (("small", 10_000), ("large", 40_000)):
        files = _omop_rows(tmp_path / source, 1_000, conditions)
        tracemalloc.start()
        try:
            report = wh.feed_omop(files, DataList.from_mapping(FULL), source_name=source, operator=FEEDER)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert report.rows["condition_occurrence"] == conditions
    small, large = peaks
    assert large < small * 1.5 + 2**20, (small, large)  # flat: 30 000 more rows cost under 1 MiB more
    assert large < 16 * 2**20, large
