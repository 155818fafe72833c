"""The DPIA (COM-DPIA-1, AAC-13, EDS-13): triggers per profile, pre-filled content, PIA tool export, review."""

from __future__ import annotations

import json
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pia_importer import PIA_TOOL, architecture, import_pia
from santegarde.cli.dpia import app
from santegarde.config import OrganisationConfig, save
from santegarde.config.model import Contact, ExtraCategory, MeasureStatus
from santegarde.demo import demo_answers
from santegarde.governance import dpia, dpia_risks
from santegarde.governance.documents import DocumentError
from santegarde.organisation import build_config
from santegarde.referentials import loader
from santegarde.referentials.model import CategoryKind, Referential, Sensitivity

JUSTIFIED = "Justified for the test by the fictitious controller of this organisation."
PROFILES = ["practice", "pharmacy", "compassionate", "warehouse"]


def _config(tmp_path: Path, profile: str, **facts: float | int | bool) -> tuple[OrganisationConfig, Referential]:
    values, justifications = demo_answers(loader.for_profile(profile))
    config, ref = build_config(
        tmp_path / "o", profile, organisation_name="Officine Fictive", choices=values, justifications=justifications
    )
    return config.model_copy(update={"facts": dict(facts)}), ref


def _saved(tmp_path: Path, profile: str, **facts: float | int | bool) -> Path:
    config, _ = _config(tmp_path, profile, **facts)
    path = tmp_path / "o" / "santegarde.yaml"
    save(config, path)
    return path


# -- triggers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "facts", "required"),
    [
        ("pharmacy", {"annual_turnover_eur_excl_tax": 3_100_000}, True),
        ("pharmacy", {"annual_turnover_eur_excl_tax": 2_600_000}, False),
        ("pharmacy", {"annual_turnover_eur_excl_tax": 1_200_000}, False),
        ("practice", {"grouped_practice_shared_system": True, "patients_per_year": 10_000}, True),
        ("practice", {"grouped_practice_shared_system": True, "patients_per_year": 9_999}, False),
        ("practice", {"grouped_practice_shared_system": False, "patients_per_year": 25_000}, False),
        ("compassionate", {}, True),
        ("warehouse", {}, True),
    ],
)
def test_dpia_and_dpo_triggers(tmp_path: Path, profile: str, facts: dict[str, Any], required: bool) -> None:
    config, ref = _config(tmp_path, profile, **facts)
    duty = dpia.obligations(config, ref)
    assert duty.dpia.required is required
    assert duty.dpo.required is required
    assert duty.dpia.section == ref.dpia.section
    assert not duty.dpia.missing_facts
    assert not any("does not declare the fact" in m for m in duty.missing)


@pytest.mark.parametrize(
    ("profile", "facts"),
    [
        ("pharmacy", ["annual_turnover_eur_excl_tax"]),
        ("practice", ["grouped_practice_shared_system", "patients_per_year"]),
    ],
)
def test_missing_facts_are_named_and_fail_closed(tmp_path: Path, profile: str, facts: list[str]) -> None:
    config, ref = _config(tmp_path, profile)
    duty = dpia.obligations(config, ref)
    assert duty.dpia.required and duty.dpia.missing_facts == tuple(facts)
    for fact in facts:
        assert any(f"'{fact}'" in m and f"facts.{fact}" in m for m in duty.missing)


def test_a_required_dpo_without_contact_is_missing(tmp_path: Path) -> None:
    config, ref = _config(tmp_path, "compassionate")
    assert any("add organisation.dpo" in m for m in dpia.obligations(config, ref).missing)
    org = config.organisation.model_copy(
        update={
            "dpo": Contact(name="Délégué Fictif", email="dpo@example.org"),
            "controller": Contact(name="Laboratoire Fictif", email="dpo-requests@example.org"),
        }
    )
    assert dpia.obligations(config.model_copy(update={"organisation": org}), ref).missing == ()


# -- the pre-filled DPIA -----------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_dpia_is_prefilled_from_the_referential(tmp_path: Path, profile: str) -> None:
    config, ref = _config(tmp_path, profile)
    d = dpia.build(config, ref)
    live = [p for p in ref.purposes if not (p.forbidden or p.out_of_scope)]
    assert [p["id"] for p in d["context"]["purposes"]] == [p.id for p in live]
    applied = {p.id: p for p in dpia.applied(config, ref).purposes}
    # As applied: the controller's choice leaves one basis where the text admits several.
    assert [len(p["legal_bases"]) for p in d["context"]["purposes"]] == [len(applied[p.id].legal_bases) for p in live]
    assert all(len(p["legal_bases"]) <= 1 for p in d["context"]["purposes"])
    assert {r["id"] for r in d["context"]["processors"]} == {r.id for r in ref.recipients if r.processor}
    assert len(d["context"]["retention"]) == len(ref.retention)
    assert [r["id"] for r in d["risks"]] == ["illegitimate_access", "unwanted_modification", "disappearance"]
    covered = {m["code"] for r in d["risks"] for a in r["areas"] for m in a["measures"]}
    assert covered == {m.code for m in ref.measures}
    # No measure has a status in the demo configuration: every one is in the action plan.
    assert {m["code"] for m in d["action_plan"]} == {m.code for m in ref.measures}
    assert all(row["rights"] or row["undecided"] for row in d["principles"]["rights"])
    html = unescape(dpia.render(d))
    assert "Analyse d'impact relative à la protection des données" in html
    assert f"{ref.id} §{ref.dpia.section}" in html
    for heading in ("Impacts potentiels", "Menaces", "Sources de risques", "Gravité", "Vraisemblance"):
        assert html.count(heading) >= 3, heading  # once per feared event
    assert "Avis du délégué" in html and "art. 35.9 RGPD" in html and "art. 36 RGPD" in html
    assert d["opinions"]["dpo"] is None and d["opinions"]["persons"] is None
    # Health data: severity proposed at "importante"; no measure has a status: likelihood to assess, Art. 36 open.
    assert {r["severity"]["label"] for r in d["risks"]} == {"importante"}
    assert {r["likelihood"]["label"] for r in d["risks"]} == {"à évaluer"}
    assert d["prior_consultation"]["required"] is None
    english = dpia.render(dpia.build(config, ref, lang="en"))
    assert "Data protection impact assessment" in english and "Severity" in english


def test_action_plan_follows_measure_statuses(tmp_path: Path) -> None:
    config, ref = _config(tmp_path, "pharmacy", annual_turnover_eur_excl_tax=3_000_000)
    first, second, third = ref.measures[:3]
    statuses = [
        MeasureStatus(code=first.code, status="implemented"),
        MeasureStatus(code=second.code, status="not_implemented", justification=JUSTIFIED),
        MeasureStatus(code=third.code, status="equivalent", justification=JUSTIFIED),
    ]
    config = config.model_copy(update={"deviations": config.deviations.model_copy(update={"measures": statuses})})
    d = dpia.build(config, ref)
    plan = {m["code"]: m for m in d["action_plan"]}
    assert first.code not in plan and third.code not in plan
    assert plan[second.code]["status"] == "not_implemented" and plan[second.code]["justification"] == JUSTIFIED
    assert plan[ref.measures[3].code]["status"] == dpia.NO_STATUS
    assert any(x["kind"] == "measure" and x["subject"] == second.code for x in d["deviations"])


def test_likelihood_is_proposed_once_every_measure_is_implemented(tmp_path: Path) -> None:
    config, ref = _config(tmp_path, "practice")
    done = [MeasureStatus(code=m.code, status="implemented") for m in ref.measures]
    config = config.model_copy(update={"deviations": config.deviations.model_copy(update={"measures": done})})
    d = dpia.build(config, ref)
    assert {r["likelihood"]["label"] for r in d["risks"]} == {"limitée"}
    assert all(r["likelihood"]["text"].startswith("Proposée : limitée") for r in d["risks"])
    assert d["prior_consultation"]["required"] is False and d["action_plan"] == []


def test_a_high_residual_risk_calls_for_prior_consultation() -> None:
    def risk(severity: int | None, likelihood: int | None) -> dict[str, Any]:
        return {"title": "Accès illégitime", "severity": {"level": severity}, "likelihood": {"level": likelihood}}

    assert dpia_risks.prior_consultation([risk(3, 3)], "fr")["required"] is True
    assert "Accès illégitime" in dpia_risks.prior_consultation([risk(4, 3)], "fr")["text"]
    assert dpia_risks.prior_consultation([risk(3, 2)], "fr")["required"] is False
    assert dpia_risks.prior_consultation([risk(3, None)], "fr")["required"] is None


def test_every_measure_area_is_classified_under_a_risk() -> None:
    mapped = {area for risk in dpia.risk_areas() for area in risk["areas"]}
    for ref in loader.load_all().values():
        unmapped = {m.area for m in ref.measures} - mapped
        assert not unmapped, f"{ref.id}: add {sorted(unmapped)} to governance/data/dpia_risks.yaml"


@pytest.mark.parametrize("suffix", [".html", ".json", ".pdf"])
def test_generate_writes_the_document_and_the_snapshot(tmp_path: Path, suffix: str) -> None:
    config_path = _saved(tmp_path, "warehouse")
    out = tmp_path / f"dpia{suffix}"
    dpia.generate(config_path, out)
    body = out.read_bytes()
    if suffix == ".pdf":
        assert body.startswith(b"%PDF")
    elif suffix == ".json":
        assert json.loads(body)["document"] == "dpia"
    else:
        assert "Plan d'action" in unescape(body.decode("utf-8"))
    snap = json.loads((config_path.parent / dpia.SNAPSHOT_NAME).read_text(encoding="utf-8"))
    assert snap["referential"] == "eds-2021-118" and snap["purposes"] and snap["processors"]


def test_generate_refuses_an_unknown_format(tmp_path: Path) -> None:
    config_path = _saved(tmp_path, "warehouse")
    with pytest.raises(DocumentError, match=r"\.html, \.pdf ou \.json") as refused:
        dpia.generate(config_path, tmp_path / "dpia.docx")
    assert refused.value.in_language("en") == "Cannot write 'dpia.docx': the output must end in .html, .pdf or .json."


# -- the CNIL PIA tool -------------------------------------------------------------------------

QUESTIONS = architecture()


def _old_export() -> dict[str, Any]:
    """The faults of the export before issue #14: string question ids, measures without id, one 3.1."""
    at = "2026-01-01T00:00:00+00:00"
    return {
        "pia": {"name": "Ancien export", "status": 0, "dpo_status": 0, "created_at": at},
        "answers": [{"reference_to": "111", "data": {"text": "<p>x</p>", "gauge": None, "list": []}, "created_at": at}],
        "measures": [
            {"title": "M1", "content": "", "placeholder": "", "created_at": at},
            {"title": "M2", "content": "", "placeholder": "", "created_at": at},
        ],
        "evaluations": [{"reference_to": "3.1", "status": 0, "gauges": {"x": 0, "y": 0}, "created_at": at}],
        "comments": [{"reference_for": "212", "description": "d", "for_measure": False, "created_at": at}],
    }


def test_the_importer_model_accepts_the_tools_example_and_catches_the_old_faults() -> None:
    example = json.loads((PIA_TOOL / "2018-02-21-pia-example.json").read_text(encoding="utf-8"))
    assert import_pia(example).problems == []
    problems = import_pia(_old_export()).problems
    assert any("'111' is no question id" in p for p in problems)
    assert any("its id undefined is already used" in p for p in problems)
    assert any("'M1' has no evaluation" in p for p in problems)  # 3.1 was moved onto M2 only
    assert any("comments[0].reference_to None" in p for p in problems)
    with pytest.raises(ValueError, match="wrong pia file"):
        import_pia({"answers": []})


@pytest.mark.parametrize("profile", PROFILES)
def test_pia_export_lands_every_answer_and_measure_in_the_tool(tmp_path: Path, profile: str) -> None:
    config_path = _saved(tmp_path, profile)
    out = tmp_path / "pia.json"
    dpia.export_pia(config_path, out)
    data = json.loads(out.read_text(encoding="utf-8"))
    imported = import_pia(data)
    assert imported.problems == []
    # Every question of the tool is answered, each by exactly one answer, found under its numeric id.
    assert sorted(a["reference_to"] for a in data["answers"]) == sorted(QUESTIONS)
    for answer in data["answers"]:
        assert imported.answer(answer["reference_to"]) is answer
    # One measure per measure of the référentiel, each with its own evaluation after the ids are re-mapped.
    ref = loader.for_profile(profile)
    assert len(imported.measures) == len(ref.measures)
    assert all(imported.measure_evaluation(new_id) for new_id in imported.measures)
    assert len([e for e in imported.evaluations if e.startswith("3.1.")]) == len(ref.measures)
    titles = {m["title"] for m in imported.measures.values()}
    for section in (32, 33, 34):
        listed = imported.answer(section * 10 + 4)["data"]["list"]  # type: ignore[index]
        assert listed and set(listed) <= titles  # the tool matches these tags with the measures' titles
        for q in (1, 2, 3):
            assert imported.answer(section * 10 + q)["data"]["list"]  # type: ignore[index]
        for q in (5, 6):
            gauge = imported.answer(section * 10 + q)["data"]  # type: ignore[index]
            assert gauge["gauge"] in (None, 1, 2, 3, 4) and gauge["text"]
    # Health data: the severity is proposed at "importante" (3); no measure has a status: likelihood to assess.
    assert imported.answer(325)["data"]["gauge"] == 3  # type: ignore[index]
    assert imported.answer(326)["data"]["gauge"] is None  # type: ignore[index]
    assert "À évaluer" in imported.answer(326)["data"]["text"]  # type: ignore[index]
    pia = data["pia"]
    assert pia["dpo_status"] is None and pia["concerned_people_status"] is None
    assert "applied_adjustments" in pia and pia["name"].startswith("Officine Fictive")


def test_pia_export_carries_deviations_as_comments(tmp_path: Path) -> None:
    config, _ = _config(tmp_path, "pharmacy")
    extra = ExtraCategory(
        id="loyalty_card",
        name="Loyalty card number",
        kind=CategoryKind.ADMINISTRATIVE,
        sensitivity=Sensitivity.ORDINARY,
        purposes=[loader.for_profile("pharmacy").purposes[0].id],
        justification=JUSTIFIED,
    )
    config = config.model_copy(update={"deviations": config.deviations.model_copy(update={"extra_data": [extra]})})
    save(config, tmp_path / "o" / "santegarde.yaml")
    data = dpia.export_pia(tmp_path / "o" / "santegarde.yaml", tmp_path / "pia.json")
    assert import_pia(data).problems == []
    assert any(c["reference_to"] == 213 and "Loyalty card number" in c["description"] for c in data["comments"])


def test_pia_export_puts_a_measures_status_in_its_own_evaluation(tmp_path: Path) -> None:
    config, ref = _config(tmp_path, "compassionate")
    first, second = ref.measures[:2]
    statuses = [
        MeasureStatus(code=first.code, status="implemented"),
        MeasureStatus(code=second.code, status="not_implemented", justification=JUSTIFIED),
    ]
    config = config.model_copy(update={"deviations": config.deviations.model_copy(update={"measures": statuses})})
    save(config, tmp_path / "o" / "santegarde.yaml")
    imported = import_pia(dpia.export_pia(tmp_path / "o" / "santegarde.yaml", tmp_path / "pia.json"))
    by_code = {m["title"].split()[0]: new_id for new_id, m in imported.measures.items()}
    done = imported.measure_evaluation(by_code[first.code])
    todo = imported.measure_evaluation(by_code[second.code])
    assert done is not None and done["action_plan_comment"] == ""
    assert todo is not None and "non mise en œuvre" in todo["action_plan_comment"]
    assert JUSTIFIED in todo["action_plan_comment"]


def test_pia_export_refuses_another_format(tmp_path: Path) -> None:
    config_path = _saved(tmp_path, "compassionate")
    with pytest.raises(dpia.DpiaError, match=r"se terminant par \.json"):
        dpia.export_pia(config_path, tmp_path / "pia.html")


# -- review on significant change --------------------------------------------------------------


def _add_extra_category(config_path: Path) -> None:
    from santegarde.config import load

    config = load(config_path)
    purpose = loader.get(config.referential).purposes[0].id
    extra = ExtraCategory(
        id="shoe_size",
        name="Shoe size",
        kind=CategoryKind.HEALTH,
        sensitivity=Sensitivity.SPECIAL,
        purposes=[purpose],
        justification=JUSTIFIED,
    )
    save(
        config.model_copy(update={"deviations": config.deviations.model_copy(update={"extra_data": [extra]})}),
        config_path,
    )


def test_review_needed_after_an_extra_data_category(tmp_path: Path) -> None:
    config_path = _saved(tmp_path, "practice", grouped_practice_shared_system=True, patients_per_year=12_000)
    assert "Aucune AIPD n'a encore été générée" in dpia.review_needed(config_path)[0]
    assert "No DPIA has been generated" in dpia.review_needed(config_path, "en")[0]
    dpia.generate(config_path, tmp_path / "dpia.json")
    assert dpia.review_needed(config_path) == []
    _add_extra_category(config_path)
    found = dpia.review_needed(config_path)
    assert len(found) == 1 and "Nouvelle catégorie de données depuis l'AIPD du" in found[0] and "Shoe size" in found[0]
    assert "shoe_size" not in found[0]  # named, never by its identifier
    (english,) = dpia.review_needed(config_path, "en")
    assert "A new data category since the DPIA of" in english
    dpia.generate(config_path, tmp_path / "dpia.json")
    assert dpia.review_needed(config_path) == []


def test_changes_name_purposes_processors_and_legal_bases() -> None:
    before = {
        "taken_at": "2026-01-01T00:00:00+00:00",
        "referential": "pra-2020-081",
        "purposes": {"records": "Records"},
        "legal_bases": {"records": ["legal_obligation+9.2.h"]},
        "data_categories": {"identity": "Identity"},
        "processors": {},
        "recipients": {"insurers": "Insurers"},
    }
    after = {
        **before,
        "purposes": {"records": "Records", "telecare": "Telecare"},
        "legal_bases": {"records": ["public_interest+9.2.h"], "telecare": ["legitimate_interest"]},
        "processors": {"host": "Health data host"},
        "recipients": {},
    }
    found = dpia.changes(before, after, "en")
    assert any("new purpose" in f and "Telecare" in f for f in found)
    assert any("new processor" in f and "Health data host" in f for f in found)
    assert any("recipient was removed" in f and "Insurers" in f for f in found)
    assert any("legal basis of the purpose 'Records' changed" in f for f in found)
    assert all("2026-01-01" in f for f in found)
    french = dpia.changes(before, after)
    assert any(f.startswith("Nouvelle finalité depuis l'AIPD du 01/01/2026 : Telecare") for f in french)
    assert any(f.startswith("Destinataire retiré depuis l'AIPD du 01/01/2026") for f in french)
    basis = next(f for f in french if f.startswith("La base légale de la finalité « Records »"))
    assert "mission d'intérêt public" in basis and "art. 9.2.h RGPD" in basis and "public_interest" not in basis


def test_an_unreadable_snapshot_is_refused(tmp_path: Path) -> None:
    config_path = _saved(tmp_path, "warehouse")
    (config_path.parent / dpia.SNAPSHOT_NAME).write_text("{not json", encoding="utf-8")
    with pytest.raises(dpia.DpiaError, match="régénérez l'analyse d'impact"):
        dpia.review_needed(config_path)


def test_snapshot_accepts_the_referential_as_shipped_or_applied(tmp_path: Path) -> None:
    config_path = _saved(tmp_path, "pharmacy")
    _add_extra_category(config_path)
    from santegarde.config import effective_referential, load

    config = load(config_path)
    shipped = loader.get(config.referential)
    a = dpia.snapshot(config, shipped)
    b = dpia.snapshot(config, effective_referential(config, shipped))
    a.pop("taken_at"), b.pop("taken_at")
    assert a == b and "shoe_size" in a["data_categories"]


# -- CLI ---------------------------------------------------------------------------------------


def test_cli_check_generate_export_status(tmp_path: Path) -> None:
    runner = CliRunner()
    config_path = _saved(tmp_path, "pharmacy", annual_turnover_eur_excl_tax=1_500_000)
    result = runner.invoke(app, ["check", "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    assert "Analyse d'impact (AIPD) non obligatoire : les conditions du §11" in result.output
    assert "Faits déclarés : annual_turnover_eur_excl_tax = 1500000." in result.output
    result = runner.invoke(app, ["check", "--lang", "en", "--config", str(config_path)])
    assert "DPIA not required" in result.output and "annual_turnover_eur_excl_tax = 1500000" in result.output
    result = runner.invoke(app, ["status", "--config", str(config_path)])
    assert result.exit_code == 1 and "Aucune AIPD n'a encore été générée" in result.output
    result = runner.invoke(app, ["status", "--lang", "en", "--config", str(config_path)])
    assert result.exit_code == 1 and "No DPIA has been generated" in result.output
    result = runner.invoke(app, ["generate", "--out", str(tmp_path / "dpia.html"), "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dpia.html").is_file()
    result = runner.invoke(app, ["export-pia", "--out", str(tmp_path / "pia.json"), "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    assert import_pia(json.loads((tmp_path / "pia.json").read_text(encoding="utf-8"))).problems == []
    result = runner.invoke(app, ["status", "--config", str(config_path)])
    assert result.exit_code == 0 and "L'AIPD est à jour" in result.output
    _add_extra_category(config_path)
    result = runner.invoke(app, ["status", "--config", str(config_path)])
    assert result.exit_code == 1 and "L'AIPD doit être revue" in result.output
    assert "Nouvelle catégorie de données" in result.output and "shoe_size" not in result.output


def test_cli_strict_and_refusals(tmp_path: Path) -> None:
    runner = CliRunner()
    config_path = _saved(tmp_path, "practice")
    result = runner.invoke(app, ["check", "--strict", "--config", str(config_path)])
    assert result.exit_code == 2 and "patients_per_year" in result.output
    result = runner.invoke(app, ["generate", "--out", str(tmp_path / "dpia.txt"), "--config", str(config_path)])
    assert result.exit_code == 2 and ".html, .pdf ou .json" in result.output
    result = runner.invoke(app, ["export-pia", "--out", str(tmp_path / "pia.xml"), "--config", str(config_path)])
    assert result.exit_code == 2 and "se terminant par .json" in result.output
    out = tmp_path / "dpia-en.html"
    result = runner.invoke(app, ["generate", "--lang", "en", "--out", str(out), "--config", str(config_path)])
    assert result.exit_code == 0 and "Data protection impact assessment" in out.read_text(encoding="utf-8")
    result = runner.invoke(
        app, ["export-pia", "--lang", "it", "--out", str(tmp_path / "p.json"), "--config", str(config_path)]
    )
    assert result.exit_code == 2 and "en français (fr) ou en anglais (en)" in result.output
    result = runner.invoke(app, ["check", "--config", str(tmp_path / "nowhere.yaml")])
    assert result.exit_code == 2 and "does not exist" in result.output
