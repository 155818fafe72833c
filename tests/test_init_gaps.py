"""init asks what the documents need (COM-REF-2); one list of gaps for config check and every document."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from init_answers import init_answers
from santegarde.cli import organisation as init_cli
from santegarde.cli.main import app
from santegarde.compassionate.registry import Registry
from santegarde.config import load, save
from santegarde.demo import demo_answers, demo_legal_bases
from santegarde.governance import conformity, doctext, dpia, gaps, measures, notices
from santegarde.governance.register import build_register, render_register
from santegarde.referentials import loader

WIDE = {"COLUMNS": "400"}
REASON = "Single pharmacist, turnover below the threshold of section 11: no DPO is required."


def _choices(profile: str) -> list[str]:
    values, justifications = demo_answers(loader.for_profile(profile))
    args = [a for k, v in values.items() for a in ("--set", f"{k}={str(v).lower() if isinstance(v, bool) else v}")]
    return args + [a for k, v in justifications.items() for a in ("--justify", f"{k}={v}")]


def _base(tmp_path: Path, profile: str) -> Path:
    """The legal bases the text leaves open, answered in a base file (the only thing init does not ask)."""
    ref = loader.for_profile(profile)
    base = tmp_path / "base.yaml"
    bases = [b.model_dump(mode="json") for b in demo_legal_bases(ref)]
    base.write_text(yaml.safe_dump({"profile": profile, "deviations": {"legal_basis": bases}}, allow_unicode=True))
    return base


def _init(runner: CliRunner, tmp_path: Path, profile: str, *extra: str) -> Path:
    directory = tmp_path / "org"
    args = ["init", "--profile", profile, "--dir", str(directory), "--name", "Organisation fictive"]
    result = runner.invoke(app, [*args, "--from", str(_base(tmp_path, profile)), *_choices(profile), *extra], env=WIDE)
    assert result.exit_code == 0, result.output
    return directory / "santegarde.yaml"


@pytest.mark.parametrize("profile", ["practice", "pharmacy", "compassionate", "warehouse"])
def test_fresh_init_with_everything_answered_has_no_gap_and_every_document_renders(
    runner: CliRunner, tmp_path: Path, profile: str
) -> None:
    path = _init(runner, tmp_path, profile, *init_answers(profile))
    config = load(path)
    ref = loader.get(config.referential)
    # Only the measures' statuses remain, and config check says how to record them.
    assert {g.kind for g in gaps.gaps(config, ref)} == {gaps.MEASURE_STATUS}
    checked = runner.invoke(app, ["config", "check", "--config", str(path)], env=WIDE)
    assert checked.exit_code == 0 and "santegarde measure set" in checked.output
    assert runner.invoke(app, ["config", "check", "--strict", "--config", str(path)]).exit_code == 2
    for m in ref.measures:
        config = measures.statused(config, ref, m.code, "done", evidence="Procedure P-12, binder 3", by="C. Exemple")
    save(config, path)
    checked = runner.invoke(app, ["config", "check", "--strict", "--config", str(path)], env=WIDE)
    assert checked.exit_code == 0, checked.output
    assert "Aucun manque : chaque document" in checked.output
    checked = runner.invoke(app, ["config", "check", "--strict", "--lang", "en", "--config", str(path)], env=WIDE)
    assert "No gap: every document" in checked.output
    # Every document renders, and none reports a gap.
    assert not build_register(config, ref).missing
    assert "Registre" in unescape(render_register(build_register(config, ref)))
    assert dpia.obligations(config, ref).missing == ()
    assert dpia.build(config, ref)["obligations"]["missing"] == []
    named = Registry.beside(path, ref).notice_facts() if profile == "compassionate" else []  # init's example
    for fmt in ("poster", "leaflet", "web"):
        assert notices.render_notice(notices.build_notice(config, ref, fmt, programmes=named))
    report = conformity.build_report(config, ref)
    assert report.problems() == [] and conformity.render(report)


def test_a_missing_fact_is_the_same_gap_in_config_check_and_in_the_documents(runner: CliRunner, tmp_path: Path) -> None:
    path = _init(runner, tmp_path, "pharmacy", *init_answers("pharmacy"))
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    del raw["facts"]["annual_turnover_eur_excl_tax"]
    del raw["organisation"]["dpo"]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    config = load(path)
    ref = loader.get(config.referential)
    [gap] = [g for g in gaps.gaps(config, ref) if g.kind != gaps.MEASURE_STATUS]
    assert gap.kind == "trigger_fact" and gap.subject == "facts.annual_turnover_eur_excl_tax"
    assert set(gap.documents) == {gaps.NOTICES, gaps.REGISTER, gaps.DPIA}
    checked = runner.invoke(app, ["config", "check", "--config", str(path)], env={"COLUMNS": "1000"})
    assert gap.message in checked.output and gap.subject in checked.output
    with pytest.raises(notices.NoticeError) as refused:
        notices.build_notice(config, ref, "leaflet")
    assert gap.message in str(refused.value)
    assert gap.in_language("en") in dpia.obligations(config, ref).missing
    assert any("Aucun délégué" in m for m in build_register(config, ref).missing)
    dpia_check = runner.invoke(app, ["dpia", "check", "--config", str(path)], env=WIDE)
    assert "facts.annual_turnover_eur_excl_tax" in dpia_check.output


def test_init_without_a_terminal_refuses_naming_the_options_and_writes_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    directory = tmp_path / "org"
    args = ["init", "--profile", "pharmacy", "--dir", str(directory), *_choices("pharmacy")]
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 2
    for option in ("--fact annual_turnover_eur_excl_tax=VALEUR", "--controller-email", "--dpo-name", "--no-dpo-reason"):
        assert option in result.output, option
    assert result.output.startswith("Erreur :") and "rien n'a été écrit" in result.output
    english = runner.invoke(app, [*args, "--lang", "en"], env=WIDE)
    assert english.exit_code == 2 and "nothing was written" in english.output
    assert "--fact annual_turnover_eur_excl_tax=VALUE" in english.output
    assert not directory.exists()


def test_no_dpo_reason_only_when_the_triggers_say_none_is_required(runner: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "org"
    common = ["init", "--profile", "pharmacy", "--dir", str(directory), *_choices("pharmacy")]
    contact = ["--controller-email", "contact@exemple.invalid", "--no-dpo-reason", REASON]
    required = runner.invoke(app, [*common, *contact, "--fact", "annual_turnover_eur_excl_tax=3100000"], env=WIDE)
    assert required.exit_code == 2 and "accepted only when" in required.output and "--dpo-name" in required.output
    assert not directory.exists()
    unknown = runner.invoke(app, [*common, *contact, "--fact", "employees=3"], env=WIDE)
    assert unknown.exit_code == 2 and "annual_turnover_eur_excl_tax" in unknown.output and not directory.exists()
    accepted = runner.invoke(app, [*common, *contact, "--fact", "annual_turnover_eur_excl_tax=1200000"], env=WIDE)
    assert accepted.exit_code == 0, accepted.output
    config = load(directory / "santegarde.yaml")
    assert config.organisation.dpo is None and config.organisation.no_dpo_reason == REASON
    assert config.facts == {"annual_turnover_eur_excl_tax": 1200000}
    register = build_register(config, loader.get(config.referential))
    assert not register.missing and REASON in register.dpo_decision


def test_init_asks_at_a_terminal(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(init_cli, "_interactive", lambda: True)
    directory = tmp_path / "org"
    answers = [
        "n",  # grouped practice sharing an information system?
        "4000",  # patients per year
        "cabinet@exemple.invalid",
        "2 place de l'Exemple, Nulle-part",
        "",  # phone: optional
        "n",  # designate a DPO all the same?
        "Single practitioner, 4,000 patients a year: below the thresholds of section 11.",
        # The legal bases the text leaves open (§3), asked last: art. 6.1, the art. 9.2 condition, why.
        "legitimate_interest",
        "9.2.h",
        "Exchanges between the professionals who treat the patient, for the continuity of care.",
        "public_interest",
        "9.2.j",
        "Studies by the staff who follow the patients, for their own use only.",
    ]
    args = ["init", "--profile", "practice", "--dir", str(directory), *_choices("practice")]
    result = runner.invoke(app, args, input="\n".join(answers) + "\n", env=WIDE)
    assert result.exit_code == 0, result.output
    config = load(directory / "santegarde.yaml")
    assert config.facts == {"grouped_practice_shared_system": False, "patients_per_year": 4000}
    assert config.organisation.controller.email == "cabinet@exemple.invalid"
    assert config.organisation.dpo is None and config.organisation.no_dpo_reason
    assert "patients_per_year" in result.output  # each question names the fact it answers
    asked = " ".join(result.output.split())
    assert "cabinet de groupe partageant un système d'information commun" in asked
    assert "Adresse électronique du responsable du traitement" in asked and "En désignez-vous un malgré tout ?" in asked
    assert "Délégué à la protection des données non obligatoire" in asked
    assert "Sa base légale au titre de l'art. 6.1" in asked and "Organisme « " in asked
    ours = asked.split("Vérification de la configuration")[0]
    for answer in [a for a in answers if len(a) > 3]:  # the answers typed (in English here) are not ours
        ours = ours.replace(answer, "")
    assert not [w for w in (" the ", "must", "is not", "Error:", "Controller") if w in ours], ours
    assert "intérêt légitime du responsable du traitement" in asked and "legitimate_interest et" not in asked
    bases = {lb.purpose: (lb.art6.value, lb.art9.value if lb.art9 else None) for lb in config.deviations.legal_basis}
    assert bases == {
        "professional_communications": ("legitimate_interest", "9.2.h"),
        "internal_studies": ("public_interest", "9.2.j"),
    }


OPEN_BASES = [
    "--set", "legal_basis.professional_communications=legitimate_interest+9.2.h",
    "--justify", "legal_basis.professional_communications=Exchanges between the professionals who treat the patient.",
    "--set", "legal_basis.internal_studies=legitimate_interest+9.2.j",
    "--justify", "legal_basis.internal_studies=Studies by the staff who follow the patients, for their own use.",
]  # fmt: skip


def test_init_records_the_legal_bases_the_text_leaves_open_and_the_documents_use_them(
    runner: CliRunner, tmp_path: Path
) -> None:
    directory = tmp_path / "org"
    args = ["init", "--profile", "practice", "--dir", str(directory), *_choices("practice"), *init_answers("practice")]
    result = runner.invoke(app, [*args, *OPEN_BASES], env=WIDE)
    assert result.exit_code == 0, result.output
    config = load(directory / "santegarde.yaml")
    ref = loader.get(config.referential)
    assert {g.kind for g in gaps.gaps(config, ref)} == {gaps.MEASURE_STATUS}
    [chosen] = [lb for lb in config.deviations.legal_basis if lb.purpose == "professional_communications"]
    assert (chosen.art6.value, chosen.art9.value if chosen.art9 else None) == ("legitimate_interest", "9.2.h")
    leaflet = unescape(notices.render_notice(notices.build_notice(config, ref, "leaflet")))
    assert "intérêt légitime" in leaflet
    register = unescape(render_register(build_register(config, ref)))
    assert "Échanges entre professionnels" in register and "intérêt légitime" in register


def test_without_them_config_check_names_the_legal_bases_and_the_init_option(runner: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "org"
    args = ["init", "--profile", "practice", "--dir", str(directory), *_choices("practice"), *init_answers("practice")]
    assert runner.invoke(app, args, env=WIDE).exit_code == 0  # without a terminal, left to config check
    checked = runner.invoke(app, ["config", "check", "--config", str(directory / "santegarde.yaml")], env=WIDE)
    config = load(directory / "santegarde.yaml")
    found = {g.subject: g for g in gaps.gaps(config, loader.get(config.referential)) if g.kind == "legal_basis"}
    assert set(found) == {
        "deviations.legal_basis.professional_communications",
        "deviations.legal_basis.internal_studies",
    }
    assert "--set legal_basis.internal_studies=ART6+ART9" in found["deviations.legal_basis.internal_studies"].message
    assert checked.exit_code == 0 and "internal_studies" in checked.output


@pytest.mark.parametrize(
    ("given", "says", "says_en"),
    [
        (
            ["--set", "legal_basis.medical_record=consent+9.2.a"],
            "n'est pas une finalité du référentiel pra-2020-081 dont la base légale",
            "not a purpose of pra-2020-081 whose legal basis",
        ),
        (
            ["--set", "legal_basis.internal_studies=whim+9.2.j"],
            "« whim » n'est pas une base légale de l'art. 6.1 du RGPD : choisissez parmi consent,",
            "is not a legal basis of GDPR art. 6.1",
        ),
        (
            ["--set", "legal_basis.internal_studies=consent+9.9.z"],
            "n'est pas une condition de l'art. 9.2 du RGPD",
            "is not a condition of GDPR art. 9.2",
        ),
        (
            ["--set", "legal_basis.internal_studies=legitimate_interest"],
            "traite des données de santé",
            "processes health data",
        ),
        (
            ["--set", "legal_basis.internal_studies=legitimate_interest+9.2.j"],
            "doit être justifiée",
            "must be justified",
        ),
    ],
)
def test_a_legal_basis_that_cannot_stand_is_refused_and_nothing_is_written(
    runner: CliRunner, tmp_path: Path, given: list[str], says: str, says_en: str
) -> None:
    directory = tmp_path / "org"
    args = ["init", "--profile", "practice", "--dir", str(directory), *_choices("practice"), *init_answers("practice")]
    result = runner.invoke(app, [*args, *given], env=WIDE)
    assert result.exit_code == 2 and says in " ".join(result.output.split()), result.output
    english = runner.invoke(app, [*args, *given, "--lang", "en"], env=WIDE)
    assert english.exit_code == 2 and says_en in " ".join(english.output.split()), english.output
    assert not directory.exists()


def test_a_mistyped_legal_basis_at_the_terminal_is_asked_again_with_the_valid_choices(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(init_cli, "_interactive", lambda: True)
    directory = tmp_path / "org"
    answers = [
        "legitimate_intrest",  # mistyped: asked again, not the end of the session
        "legitimate_interest",
        "9.2.z",  # not an art. 9.2 condition: asked again
        "9.2.h",
        "because",  # too short a justification: asked again
        "Exchanges between the professionals who treat the patient, for the continuity of care.",
        "public_interest",
        "9.2.j",
        "Studies by the staff who follow the patients, for their own use only.",
    ]
    args = ["init", "--profile", "practice", "--dir", str(directory), *_choices("practice"), *init_answers("practice")]
    result = runner.invoke(app, args, input="\n".join(answers) + "\n", env=WIDE)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "« legitimate_intrest » n'est pas une base légale de l'art. 6.1 du RGPD : choisissez parmi" in said
    valid = "consent, contract, legal_obligation, vital_interest, public_interest, legitimate_interest"
    assert valid in said.split("« legitimate_intrest »")[1]
    assert "« 9.2.z » n'est pas une condition de l'art. 9.2 du RGPD" in said and "doit être justifiée" in said
    chosen = load(directory / "santegarde.yaml").deviations.legal_basis
    bases = {lb.purpose: (lb.art6.value, lb.art9.value if lb.art9 else None) for lb in chosen}
    assert bases == {
        "professional_communications": ("legitimate_interest", "9.2.h"),
        "internal_studies": ("public_interest", "9.2.j"),
    }


def test_the_demo_organisation_is_complete(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["demo", "--profile", "pharmacy", "--dir", str(tmp_path / "demo"), "--patients", "1"],
        env={"SANTEGARDE_PASSPHRASE": "demo passphrase for the tests"},
    )
    assert result.exit_code == 0, result.output
    config = load(tmp_path / "demo" / "santegarde.yaml")
    ref = loader.get(config.referential)
    assert {g.kind for g in gaps.gaps(config, ref)} == {gaps.MEASURE_STATUS}
    assert notices.build_notice(config, ref, "poster")


@pytest.mark.parametrize("profile", ["practice", "warehouse"])
def test_config_check_and_conformity_strict_agree_on_a_fresh_init(
    runner: CliRunner, tmp_path: Path, profile: str
) -> None:
    path = _init(runner, tmp_path, profile, *init_answers(profile))
    config = load(path)
    ref = loader.get(config.referential)
    listed = {g.subject for g in gaps.gaps(config, ref)}
    report = conformity.build_report(config, ref)
    # The same measures, named alike: every --strict problem of the report is a gap of config check, and back.
    assert {g.subject for g in report.gaps} == listed == {m.code for m in ref.measures}
    assert len(report.problems()) == len(listed)
    assert all(f"santegarde measure set {code}" in " ".join(report.problems()) for code in listed)
    checked = runner.invoke(app, ["config", "check", "--strict", "--config", str(path)], env=WIDE)
    assert checked.exit_code == 2 and f"{len(listed)} mesure(s) de sécurité" in " ".join(checked.output.split())


def test_config_check_names_each_setting_by_its_french_label_never_its_key(runner: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "org"
    args = ["init", "--profile", "practice", "--dir", str(directory), *_choices("practice"), *init_answers("practice")]
    assert runner.invoke(app, args, env=WIDE).exit_code == 0
    path = directory / "santegarde.yaml"
    check = ["config", "check", "--config", str(path)]
    gaps_table = runner.invoke(app, check, env=WIDE).output
    assert "│ Base légale de la finalité « " in gaps_table and "│ deviations.legal_basis" not in gaps_table
    assert "│ Legal basis of '" in runner.invoke(app, [*check, "--lang", "en"], env=WIDE).output
    config = load(path)
    config.choices.pop("retention_end_action")  # a missing choice: a finding whose subject is the choice
    save(config, path)
    findings = runner.invoke(app, check, env=WIDE).output
    assert "│ Choix : À l'issue des durées de conservation" in findings and "│ retention_end_action" not in findings
    ref = loader.get(config.referential)
    for subject in ("organisation.controller", "organisation.dpo", "facts.patients_per_year", "PRA-PRO-40"):
        assert not re.search(r"\w\.\w|_", doctext.setting(subject, ref, "fr")), subject
    assert doctext.setting("a setting of its own", ref, "fr") == "a setting of its own"


def test_init_and_config_check_print_their_report_as_json(runner: CliRunner, tmp_path: Path) -> None:
    """--json: the same facts as the report (what was created, the findings, the gaps), under stable English keys
    whatever --lang says; the sentences in --lang."""
    import json

    directory = tmp_path / "org"
    args = ["init", "--profile", "compassionate", "--dir", str(directory), "--name", "Organisation fictive"]
    base = ["--from", str(_base(tmp_path, "compassionate")), *_choices("compassionate")]
    result = runner.invoke(app, [*args, *base, *init_answers("compassionate"), "--json"], env=WIDE)
    assert result.exit_code == 0, result.output
    made = json.loads(result.output)
    assert made["organisation"] == "Organisation fictive" and made["config"] == str(directory / "santegarde.yaml")
    assert made["referential"]["id"] == load(directory / "santegarde.yaml").referential
    assert made["programme"] and made["programme"]["key"]  # the example programme of a compassionate organisation
    assert {g["kind"] for g in made["gaps"]} == {gaps.MEASURE_STATUS}
    for lang, word in (("fr", "mesure"), ("en", "measure")):
        checked = runner.invoke(app, ["config", "check", "--json", "--lang", lang, "--config", made["config"]])
        assert checked.exit_code == 0, checked.output
        found = json.loads(checked.output)
        assert set(found) == {"findings", "gaps"} and all(set(g) == {"kind", "setting", "gap", "documents"}
                                                          for g in found["gaps"])  # fmt: skip
        assert all(word in g["gap"].lower() for g in found["gaps"])
        assert all({"severity", "kind", "setting", "finding", "section", "justification"} == set(f)
                   for f in found["findings"])  # fmt: skip
