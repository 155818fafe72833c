"""Policy core, table-driven per référentiel: access decisions (deny by default), rights, DPIA/DPO."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from santegarde.cli.main import app
from santegarde.policy import AccessRequest, RightsUndecidable, decide, dpia_required, dpo_required, right_applies
from santegarde.referentials import loader
from santegarde.referentials.model import Art6Basis, Operation, Right

R, W = Operation.READ, Operation.WRITE

ACCESS_TABLE = [
    # référentiel, profile, operation, category, purpose, allowed, rule fragment
    ("pra-2020-081", "secretariat", R, "health", "medical_record", False, "secretariat"),
    ("pra-2020-081", "secretariat", R, "appointment", "appointments", True, "accessors.secretariat.access"),
    ("pra-2020-081", "practitioner", R, "health", "medical_record", True, "accessors.practitioner.access"),
    ("pra-2020-081", "practitioner", W, "health", "medical_record", True, "accessors.practitioner.access"),
    ("pra-2020-081", "maintenance", R, "health", "medical_record", False, "maintenance"),
    ("pra-2020-081", "practitioner", R, "health", "no_such_purpose", False, "purpose.undeclared"),
    ("pra-2020-081", "nobody", R, "health", "medical_record", False, "profile.unknown"),
    ("pra-2020-081", "practitioner", R, "genome", "medical_record", False, "category.unknown"),
    ("pra-2020-081", "practitioner", R, "health", "appointments", False, "purposes.appointments.categories"),
    ("pha-2022-067", "pharmacist", W, "health", "dispensing", True, "accessors.pharmacist.access"),
    ("pha-2022-067", "pharmacist", R, "nir", "health_insurance_documents", True, "accessors.pharmacist.access"),
    (
        "aac-2022-106",
        "pharmacist_in_charge",
        W,
        "nir",
        "access_initiation_follow_up",
        False,
        "categories.nir.forbidden",
    ),
    (
        "aac-2022-106",
        "pharmacist_in_charge",
        W,
        "ins",
        "access_initiation_follow_up",
        False,
        "categories.ins.forbidden",
    ),
    (
        "aac-2022-106",
        "pharmacovigilance",
        W,
        "free_text",
        "access_initiation_follow_up",
        False,
        "categories.free_text.forbidden",
    ),
    ("eds-2021-118", "project_member", R, "health", "product_promotion", False, "purposes.product_promotion.forbidden"),
    (
        "eds-2021-118",
        "project_member",
        R,
        "health",
        "insurance_selection",
        False,
        "purposes.insurance_selection.forbidden",
    ),
    ("eds-2021-118", "project_member", R, "direct_identity", "feasibility_studies", False, ""),
]


@pytest.mark.parametrize(("ref_id", "profile", "op", "category", "purpose", "allowed", "rule"), ACCESS_TABLE)
def test_access_table(
    ref_id: str, profile: str, op: Operation, category: str, purpose: str, allowed: bool, rule: str
) -> None:
    ref = loader.get(ref_id)
    decision = decide(ref, AccessRequest(profile, op, category, purpose))
    assert decision.allowed is allowed, str(decision)
    assert rule in decision.rule
    assert decision.referential == ref_id
    cited = decision.section.split(" ")[0]
    assert any(cited == s.number or cited.startswith(s.number + ".") for s in ref.sections) or cited in {"3", "5", "6"}
    assert decision.reason


def test_decision_is_immutable() -> None:
    decision = decide(loader.get("pra-2020-081"), AccessRequest("practitioner", R, "health", "medical_record"))
    with pytest.raises(AttributeError):
        decision.allowed = False  # type: ignore[misc]


@pytest.mark.parametrize(
    "ref_id", ["pra-2020-081", "pha-2022-067", "aac-2022-106", "eds-2021-118", "pra-2020-081-draft"]
)
def test_every_profile_without_health_access_is_denied_health(ref_id: str) -> None:
    ref = loader.get(ref_id)
    for accessor in (a for a in ref.accessors if not a.health_data):
        for category in (c for c in ref.categories if c.sensitivity == "special"):
            for purpose in ref.purposes:
                assert not decide(ref, AccessRequest(accessor.id, R, category.id, purpose.id)).allowed


def test_consent_required_for_lifestyle_data() -> None:
    ref = loader.get("pha-2022-067")
    lifestyle = next(c for c in ref.categories if c.kind == "lifestyle")
    assert lifestyle.requires_consent
    purpose = next(p for p in ref.purposes if lifestyle.id in p.categories)
    profile = next(
        a.id for a in ref.accessors if any(lifestyle.id in x.categories and W in x.operations for x in a.access)
    )
    without = decide(ref, AccessRequest(profile, W, lifestyle.id, purpose.id))
    assert not without.allowed and without.rule.endswith("requires_consent")
    with_consent = decide(ref, AccessRequest(profile, W, lifestyle.id, purpose.id, consent_active=True))
    assert with_consent.rule != without.rule


def test_research_needs_a_recorded_formality() -> None:
    ref = loader.get("pha-2022-067")
    research = next(p for p in ref.purposes if p.requires_formality)
    denied = decide(ref, AccessRequest("pharmacist", R, "health", research.id))
    assert not denied.allowed and denied.rule.endswith("requires_formality")
    later = decide(ref, AccessRequest("pharmacist", R, "health", research.id, formality="MR-004 n° 2219"))
    assert not later.rule.endswith("requires_formality")


@pytest.mark.parametrize("ref_id", ["pha-2022-067", "pra-2020-081"])
def test_out_of_scope_purposes_are_refused(ref_id: str) -> None:
    ref = loader.get(ref_id)
    for purpose in (p for p in ref.purposes if p.out_of_scope or p.forbidden):
        decision = decide(ref, AccessRequest(ref.accessors[0].id, R, ref.categories[0].id, purpose.id))
        assert not decision.allowed and decision.section == purpose.section


RIGHTS_TABLE = [
    ("pha-2022-067", "prescription_book_and_registers", Right.OBJECTION, False),
    ("pra-2020-081", "medical_record", Right.OBJECTION, False),
    ("pra-2020-081", "medical_record", Right.ACCESS, True),
    ("aac-2022-106", "access_initiation_follow_up", Right.ERASURE, False),
    ("aac-2022-106", "access_initiation_follow_up", Right.OBJECTION, False),
    ("aac-2022-106", "access_initiation_follow_up", Right.PORTABILITY, False),
    ("aac-2022-106", "access_initiation_follow_up", Right.ACCESS, True),
    ("aac-2022-106", "access_initiation_follow_up", Right.RECTIFICATION, True),
    ("aac-2022-106", "access_initiation_follow_up", Right.RESTRICTION, True),
    ("eds-2021-118", "feasibility_studies", Right.OBJECTION, True),
    ("eds-2021-118", "feasibility_studies", Right.ERASURE, True),
]


@pytest.mark.parametrize(("ref_id", "purpose", "right", "applies"), RIGHTS_TABLE)
def test_rights_table(ref_id: str, purpose: str, right: Right, applies: bool) -> None:
    decision = right_applies(loader.get(ref_id), purpose, right)
    assert decision.applies is applies, str(decision)
    assert decision.reason and decision.section


def test_gdpr_decides_where_the_text_is_silent() -> None:
    ref = loader.get("pra-2020-081")
    silent = [r for r in Right if not any(rule.right == r for rule in ref.rights)]
    for right in silent:
        decision = right_applies(ref, "appointments", right, Art6Basis.LEGITIMATE_INTEREST)
        assert decision.source.startswith("GDPR") or decision.source == "référentiel"


def test_portability_follows_the_legal_basis_when_the_text_is_silent() -> None:
    ref = loader.get("pha-2022-067")
    if any(r.right == Right.PORTABILITY and not r.purposes for r in ref.rights):
        pytest.skip("the pharmacy text rules on portability itself")
    dispensing = ref.purpose("dispensing")
    assert dispensing is not None and len(dispensing.legal_bases) > 1
    with pytest.raises(RightsUndecidable, match="admits several legal bases"):
        right_applies(ref, "dispensing", Right.PORTABILITY)
    assert right_applies(ref, "dispensing", Right.PORTABILITY, Art6Basis.CONTRACT).applies
    assert not right_applies(ref, "dispensing", Right.PORTABILITY, Art6Basis.LEGAL_OBLIGATION).applies


# Erasure, objection and portability for every in-scope purpose of every référentiel (with each admissible basis
# where the controller chooses), by the reason they apply or not: "basis" (the legal basis opens the right),
# "art21"/"art20" (it does not), "art17_3_b" (legal obligation or public-interest task), "text_exclusion" and
# "text_grant" (the référentiel's own rule, e.g. pharmacy §9, compassionate access §11.3, warehouse §9.2).
LAW = [
    ("aac-2022-106", "access_initiation_follow_up", None, ("text_exclusion", "text_exclusion", "text_exclusion")),
    ("aac-2022-106", "professional_contacts", None, ("text_exclusion", "text_exclusion", "text_exclusion")),
    ("aac-2022-106", "summary_reports", None, ("text_exclusion", "text_exclusion", "text_exclusion")),
    ("eds-2021-118", "warehouse_constitution", None, ("text_grant", "basis", "text_exclusion")),
    ("eds-2021-118", "activity_indicators", None, ("text_grant", "basis", "text_exclusion")),
    ("eds-2021-118", "pmsi_coding_quality", None, ("text_grant", "basis", "text_exclusion")),
    ("eds-2021-118", "decision_support", None, ("text_grant", "basis", "text_exclusion")),
    ("eds-2021-118", "feasibility_studies", None, ("text_grant", "basis", "text_exclusion")),
    ("eds-2021-118", "recontact", None, ("text_grant", "basis", "text_exclusion")),
    ("eds-2021-118", "recontact_genetic_findings", None, ("text_grant", "basis", "text_exclusion")),
    ("eds-2021-118", "recontact_additional_findings", None, ("text_grant", "basis", "text_exclusion")),
    ("eds-2021-118", "health_risk_warning", None, ("text_grant", "basis", "text_exclusion")),
    ("eds-2021-118", "rights_management", None, ("text_grant", "basis", "text_exclusion")),
    ("pha-2022-067", "dispensing", "contract", ("basis", "text_exclusion", "basis")),
    ("pha-2022-067", "dispensing", "legal_obligation", ("art17_3_b", "text_exclusion", "art20")),
    ("pha-2022-067", "prescription_book_and_registers", None, ("art17_3_b", "text_exclusion", "art20")),
    ("pha-2022-067", "patient_follow_up_files", "contract", ("basis", "art21", "basis")),
    ("pha-2022-067", "patient_follow_up_files", "legal_obligation", ("art17_3_b", "art21", "art20")),
    ("pha-2022-067", "professional_communications", "contract", ("basis", "art21", "basis")),
    ("pha-2022-067", "professional_communications", "legal_obligation", ("art17_3_b", "art21", "art20")),
    ("pha-2022-067", "health_insurance_documents", None, ("art17_3_b", "text_exclusion", "art20")),
    ("pha-2022-067", "bookkeeping", "contract", ("basis", "art21", "basis")),
    ("pha-2022-067", "bookkeeping", "legal_obligation", ("art17_3_b", "art21", "art20")),
    ("pha-2022-067", "professional_cooperation", None, ("basis", "basis", "art20")),
    ("pha-2022-067", "health_monitoring", None, ("art17_3_b", "basis", "art20")),
    ("pha-2022-067", "therapeutic_education", None, ("basis", "basis", "art20")),
    ("pha-2022-067", "corresponding_pharmacist", None, ("basis", "basis", "art20")),
    ("pha-2022-067", "advice_and_services", None, ("basis", "basis", "art20")),
    ("pha-2022-067", "vaccination", None, ("art17_3_b", "art21", "art20")),
    ("pha-2022-067", "appointments", None, ("basis", "basis", "art20")),
    ("pra-2020-081", "medical_record", None, ("art17_3_b", "text_exclusion", "art20")),
    ("pra-2020-081", "care_file", None, ("art17_3_b", "art21", "art20")),
    ("pra-2020-081", "appointments", None, ("basis", "basis", "art20")),
    ("pra-2020-081", "telemedicine", None, ("basis", "basis", "art20")),
    ("pra-2020-081", "health_insurance_documents", None, ("art17_3_b", "art21", "art20")),
    ("pra-2020-081", "bookkeeping", None, ("basis", "basis", "art20")),
    ("pra-2020-081-draft", "appointments", None, ("basis", "basis", "art20")),
    ("pra-2020-081-draft", "medical_record", None, ("art17_3_b", "text_exclusion", "art20")),
    ("pra-2020-081-draft", "care_file", None, ("art17_3_b", "art21", "art20")),
    ("pra-2020-081-draft", "health_insurance_documents", None, ("art17_3_b", "art21", "art20")),
    ("pra-2020-081-draft", "professional_communications", None, ("art17_3_b", "basis", "art20")),
    ("pra-2020-081-draft", "bookkeeping", None, ("basis", "basis", "art20")),
]
OPENING = {"basis", "text_grant", "always", "art17_3_d"}


@pytest.mark.parametrize(("ref_id", "purpose", "basis", "codes"), LAW)
def test_rights_computed_from_the_law_for_every_purpose(
    ref_id: str, purpose: str, basis: str | None, codes: tuple[str, str, str]
) -> None:
    ref = loader.get(ref_id)
    chosen = Art6Basis(basis) if basis else None
    for right, code in zip((Right.ERASURE, Right.OBJECTION, Right.PORTABILITY), codes, strict=True):
        decision = right_applies(ref, purpose, right, chosen)
        assert (decision.code, decision.applies) == (code, code in OPENING), str(decision)
        assert decision.section and decision.article.startswith("GDPR art.")
    for right in (Right.ACCESS, Right.RECTIFICATION, Right.RESTRICTION):
        assert right_applies(ref, purpose, right, chosen).applies


def test_the_law_table_covers_every_purpose_of_every_referential() -> None:
    covered = {(r, p) for r, p, _, _ in LAW}
    for ref_id, ref in loader.load_all().items():
        for p in ref.purposes:
            if p.out_of_scope or p.forbidden:
                continue
            if p.legal_bases:
                assert (ref_id, p.id) in covered, (ref_id, p.id)
            else:  # research under its own formality, or a basis the text leaves to the controller
                with pytest.raises(RightsUndecidable, match=r"deviations\.legal_basis"):
                    right_applies(ref, p.id, Right.OBJECTION)


def test_a_text_rule_granting_a_right_subject_to_the_gdpr_does_not_open_it_beyond() -> None:
    pra = loader.get("pra-2020-081")
    assert any(r.right == Right.OBJECTION and r.applies and not r.purposes for r in pra.rights)
    care = right_applies(pra, "care_file", Right.OBJECTION)  # legal obligation: art. 21 does not open objection
    assert not care.applies and care.code == "art21" and care.section == "9"
    pha = loader.get("pha-2022-067")
    prescription = right_applies(pha, "dispensing", Right.OBJECTION, Art6Basis.CONTRACT)
    assert not prescription.applies and prescription.code == "text_exclusion" and "prescription" in prescription.reason


TRIGGERS = [
    ("pha-2022-067", {"annual_turnover_eur_excl_tax": 3_000_000}, True),
    ("pha-2022-067", {"annual_turnover_eur_excl_tax": 2_600_000}, False),
    ("pha-2022-067", {"annual_turnover_eur_excl_tax": 900_000}, False),
    ("pra-2020-081", {"grouped_practice_shared_system": True, "patients_per_year": 12_000}, True),
    ("pra-2020-081", {"grouped_practice_shared_system": True, "patients_per_year": 10_000}, True),
    ("pra-2020-081", {"grouped_practice_shared_system": True, "patients_per_year": 5_000}, False),
    ("pra-2020-081", {"grouped_practice_shared_system": False, "patients_per_year": 50_000}, False),
    ("aac-2022-106", {}, True),
    ("eds-2021-118", {}, True),
]


@pytest.mark.parametrize(("ref_id", "facts", "required"), TRIGGERS)
def test_dpia_triggers(ref_id: str, facts: dict[str, float | bool], required: bool) -> None:
    decision = dpia_required(loader.get(ref_id), facts)
    assert decision.required is required, str(decision)


def test_dpo_for_pharmacy_follows_turnover() -> None:
    ref = loader.get("pha-2022-067")
    assert dpo_required(ref, {"annual_turnover_eur_excl_tax": 3_000_000}).required
    assert not dpo_required(ref, {"annual_turnover_eur_excl_tax": 1_000_000}).required


def test_missing_fact_fails_closed_and_names_it() -> None:
    decision = dpia_required(loader.get("pha-2022-067"), {})
    assert decision.required and decision.missing_facts == ("annual_turnover_eur_excl_tax",)
    assert "annual_turnover_eur_excl_tax" in decision.reason


def test_cli_decide_denies_secretary_with_exit_2(runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        [
            "policy",
            "decide",
            "-r",
            "pra-2020-081",
            "--profile",
            "secretariat",
            "--operation",
            "read",
            "--category",
            "health",
            "--purpose",
            "medical_record",
        ],
    )
    assert result.exit_code == 2 and "REFUSÉ par le référentiel pra-2020-081" in result.output
    said = " ".join(result.output.split())
    assert "le profil « Personnes chargées du secrétariat » veut lire « Données de santé »" in said
    asked = said.split("Demandé :")[1]  # the rule that decided is named by its reference; the request by names
    assert "secretariat" not in asked and "medical_record" not in asked
    ok = runner.invoke(
        app,
        [
            "policy",
            "decide",
            "-r",
            "pra-2020-081",
            "--profile",
            "secretariat",
            "--operation",
            "read",
            "--category",
            "appointment",
            "--purpose",
            "appointments",
        ],
    )
    assert ok.exit_code == 0 and "AUTORISÉ" in ok.output
    english = runner.invoke(
        app,
        ["policy", "decide", "-r", "pra-2020-081", "--profile", "secretariat", "--operation", "read",
         "--category", "health", "--purpose", "medical_record", "--lang", "en"],
    )  # fmt: skip
    assert english.exit_code == 2 and "DENIED by pra-2020-081" in english.output


def test_cli_rights_and_triggers(runner: CliRunner) -> None:
    result = runner.invoke(app, ["policy", "rights", "-r", "aac-2022-106", "--purpose", "access_initiation_follow_up"])
    assert result.exit_code == 0, result.output
    assert "l'effacement" in result.output and "non" in result.output and "erasure" not in result.output
    english = runner.invoke(
        app, ["policy", "rights", "-r", "aac-2022-106", "--purpose", "access_initiation_follow_up", "--lang", "en"]
    )
    assert english.exit_code == 0 and "erasure" in english.output
    trig = runner.invoke(
        app, ["policy", "triggers", "-r", "pha-2022-067", "--fact", "annual_turnover_eur_excl_tax=3e6"]
    )
    assert trig.exit_code == 0 and "DPIA required" in trig.output
    bad = runner.invoke(
        app, ["policy", "triggers", "-r", "pha-2022-067", "--fact", "annual_turnover_eur_excl_tax=lots"]
    )
    assert bad.exit_code == 2 and "must be a number" in bad.output
