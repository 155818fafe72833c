"""The record of processing activities (COM-REG-1) generated from a demo configuration of each profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from santegarde.cli.governance_docs import register_app
from santegarde.config import OrganisationConfig, save
from santegarde.config.model import Contact, Deviations, RetentionDeviation
from santegarde.demo import demo_answers
from santegarde.governance.documents import DocumentError
from santegarde.governance.register import build_register, render_register, write_register
from santegarde.organisation import build_config
from santegarde.referentials import loader
from santegarde.referentials.model import Duration, Referential

PROFILES = ["practice", "pharmacy", "compassionate", "warehouse"]
KEY_FACTS = {
    "practice": ["5 years", "15 years", "in archive", "3 months"],
    "pharmacy": ["3 years", "10 years", "40 years", "3 months"],
    "compassionate": ["2 years", "ANSM"],
    "warehouse": ["20 years", "patient data retention expired"],
}


def _config(tmp_path: Path, profile: str, **choices: str | bool) -> tuple[OrganisationConfig, Referential]:
    values, justifications = demo_answers(loader.for_profile(profile))
    values.update(choices)
    return build_config(
        tmp_path / "org",
        profile,
        organisation_name=f"Fictitious {profile}",
        choices=values,
        justifications=justifications,
    )


def _with_dpo(config: OrganisationConfig) -> OrganisationConfig:
    organisation = config.organisation.model_copy(
        update={
            "dpo": Contact(name="Jeanne Exemple", email="dpo@example.org"),
            "controller": Contact(name="Dr Fictif", email="contact@example.org", address="1 rue Imaginaire, Paris"),
        }
    )
    return config.model_copy(update={"organisation": organisation})


@pytest.mark.parametrize("profile", PROFILES)
def test_register_states_the_texts_facts(tmp_path: Path, profile: str) -> None:
    config, ref = _config(tmp_path, profile)
    register = build_register(_with_dpo(config), ref)
    html = render_register(register)
    for fact in KEY_FACTS[profile]:
        assert fact in html, fact
    assert "GDPR art. 6.1." in html and "None: no transfer" in html
    assert register.dpo is not None and not register.missing
    active = [p for p in ref.purposes if not p.out_of_scope and not p.forbidden]
    assert [a.id for a in register.activities] == [p.id for p in active]
    for activity in register.activities:
        assert activity.categories and activity.persons


@pytest.mark.parametrize("profile", PROFILES)
def test_xlsx_has_an_organisation_sheet_and_one_sheet_per_activity(tmp_path: Path, profile: str) -> None:
    config, ref = _config(tmp_path, profile)
    register = build_register(config, ref)
    path = write_register(register, tmp_path / "register.xlsx")
    book = load_workbook(path)
    assert book.sheetnames[0] == "Organisation"
    assert len(book.sheetnames) == 1 + len(register.activities)
    labels = [row[0] for row in book.worksheets[1].iter_rows(values_only=True)]
    for row in (
        "Nom / sigle",
        "N° / référence",
        "Date de création",
        "Finalité",
        "Base légale",
        "Catégories de personnes",
        "Catégorie de données",
        "Durée de conservation",
        "Destinataire",
        "Transferts",
        "Mesures de sécurité",
    ):
        assert any(str(label).startswith(row) for label in labels if label), row
    assert not list(tmp_path.glob(".register.xlsx.*"))  # the temporary file was renamed away


def test_xlsx_marks_sensitive_data_and_retention_per_category(tmp_path: Path) -> None:
    config, ref = _config(tmp_path, "practice")
    path = write_register(build_register(config, ref), tmp_path / "r.xlsx")
    sheet = load_workbook(path).worksheets[1]
    values = {str(v) for row in sheet.iter_rows(values_only=True) for v in row if v}
    assert any("Health data — SENSITIVE" in v for v in values)
    assert any("5 years" in v and "15 years" in v for v in values)


def test_missing_dpo_is_said(tmp_path: Path) -> None:
    config, ref = _config(tmp_path, "compassionate")
    register = build_register(config, ref)
    assert any("No data protection officer" in m and "always requires a DPO" in m for m in register.missing)
    assert "Missing: no DPO configured." in render_register(register)


def test_deviation_and_its_justification_appear_on_the_activity(tmp_path: Path) -> None:
    config, ref = _config(tmp_path, "practice")
    reason = "Our malpractice insurer requires six years of active records for every patient."
    config = config.model_copy(
        update={
            "deviations": Deviations(
                retention=[RetentionDeviation(rule="medical_record", active=Duration(years=6), justification=reason)]
            )
        }
    )
    register = build_register(config, ref)
    record = next(a for a in register.activities if a.id == "medical_record")
    assert record.deviations and record.deviations[0].justification == reason
    assert "6 years" in record.retention[0].duration
    assert reason in render_register(register)
    bookkeeping = next(a for a in register.activities if a.id == "bookkeeping")
    assert bookkeeping.deviations  # the same rule covers bookkeeping


def test_chosen_legal_basis_is_the_organisations(tmp_path: Path) -> None:
    config, ref = _config(tmp_path, "pharmacy", dispensing_legal_basis="legal_obligation")
    register = build_register(config, ref)
    dispensing = next(a for a in register.activities if a.id == "dispensing")
    assert [(b.art6, b.source) for b in dispensing.legal_bases] == [("legal_obligation", "organisation's choice")]
    assert dispensing.choices[0].subject == "dispensing_legal_basis"


def test_pdf_and_json(tmp_path: Path) -> None:
    config, ref = _config(tmp_path, "warehouse")
    register = build_register(config, ref)
    assert write_register(register, tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    data = json.loads(write_register(register, tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data["kind"] == "controller" and len(data["activities"]) == len(register.activities)


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    config, ref = _config(tmp_path, "practice")
    with pytest.raises(DocumentError, match=r"\.xlsx"):
        write_register(build_register(config, ref), tmp_path / "r.docx")


def test_cli_register_and_processor_strict(tmp_path: Path) -> None:
    config, _ = _config(tmp_path, "pharmacy")
    config_path = tmp_path / "santegarde.yaml"
    save(config, config_path)
    runner = CliRunner()
    result = runner.invoke(register_app, ["--out", str(tmp_path / "r.xlsx"), "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.xlsx").exists()
    refused = runner.invoke(
        register_app, ["--processor", "--strict", "--out", str(tmp_path / "p.html"), "--config", str(config_path)]
    )
    assert refused.exit_code == 2
    served = runner.invoke(
        register_app,
        [
            "--processor",
            "--controller",
            "Pharmacie Fictive <c@example.org>",
            "--out",
            str(tmp_path / "p2.html"),
            "--config",
            str(config_path),
        ],
    )
    assert served.exit_code == 0, served.output
    html = (tmp_path / "p2.html").read_text(encoding="utf-8")
    assert "art. 30.2" in html and "Pharmacie Fictive" in html
    bad = runner.invoke(register_app, ["--out", str(tmp_path / "r.doc"), "--config", str(config_path)])
    assert bad.exit_code == 2 and "xlsx" in bad.output


@pytest.mark.parametrize(
    ("profile", "facts", "required"),
    [
        ("practice", {"grouped_practice_shared_system": True, "patients_per_year": 12000}, True),
        ("practice", {"grouped_practice_shared_system": True, "patients_per_year": 4000}, False),
        ("pharmacy", {"annual_turnover_eur_excl_tax": 3_000_000}, True),
        ("pharmacy", {"annual_turnover_eur_excl_tax": 900_000}, False),
    ],
)
def test_register_says_whether_a_dpo_is_required(tmp_path: Path, profile: str, facts: dict, required: bool) -> None:
    config, ref = _config(tmp_path, profile)
    register = build_register(config.model_copy(update={"facts": facts}), ref)
    assert register.dpo_decision.startswith("DPO required" if required else "DPO not required")
    assert any(("a DPO is required" if required else "a DPO is not required") in m for m in register.missing)
    sheet = load_workbook(write_register(register, tmp_path / "r.xlsx")).worksheets[0]
    assert any("DPO" in str(row[1]) for row in sheet.iter_rows(values_only=True) if row[1])
