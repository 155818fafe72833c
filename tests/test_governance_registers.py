"""Breach register (COM-BRE-1), processors (COM-SUB-1, AAC-2, EDS-11), transfers (COM-TRF-1, AAC-12, EDS-12)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from init_answers import init_answers
from santegarde.cli.main import app
from santegarde.cli.registers import breach_app, processor_app, transfer_app
from santegarde.governance import breaches, processors, transfers
from santegarde.organisation import build_config
from santegarde.referentials import loader
from santegarde.referentials.model import OrganisationProfile
from santegarde.runtime import open_organisation
from santegarde.store.db import make_engine, migrate

PASS = "a long enough test passphrase"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def fixed() -> datetime:
    return NOW


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    migrate(eng, package="santegarde.governance")
    yield eng
    eng.dispose()


def _breach(engine: Engine, discovered: datetime, **extra: object) -> breaches.Breach:
    values: dict[str, object] = {
        "nature": ["confidentiality"],
        "description": "A laptop holding appointment exports was stolen from a car.",
        "data_categories": ["identity", "appointments"],
        "person_categories": ["patients"],
        "likely_consequences": "Disclosure of the fact that the persons are followed by the practice.",
        "measures_taken": "Accounts of the laptop revoked, remote wipe requested.",
        "discovered_at": discovered,
        "reported_by": "staff",
        "recorded_by": "dr.martin",
        "approx_persons": 120,
        "approx_records": 300,
        "clock": fixed,
    }
    values.update(extra)
    return breaches.record(engine, **values)  # type: ignore[arg-type]


# ---- breaches ---------------------------------------------------------------------------------------------------


def test_clock_flags_an_incident_older_than_72_hours(engine: Engine) -> None:
    old = _breach(engine, NOW - timedelta(hours=80))
    status = breaches.clock_status(old, clock=fixed)
    assert status.status == "overdue" and status.flagged
    assert "En retard de 8 h" in status.sentence and "motifs du retard" in status.sentence
    english = breaches.clock_status(old, clock=fixed, lang="en").sentence
    assert "Overdue by 8 h" in english and "reasons for the delay" in english
    soon = _breach(engine, NOW - timedelta(hours=60))
    assert breaches.clock_status(soon, clock=fixed).status == "due_soon"
    fresh = _breach(engine, NOW - timedelta(hours=2))
    assert breaches.clock_status(fresh, clock=fixed).status == "on_time"
    late = breaches.mark(engine, old.id, what="notified", at=NOW)
    assert breaches.clock_status(late, clock=fixed).status == "notified_late"
    on_time = breaches.mark(engine, fresh.id, what="notified", at=NOW)
    assert breaches.clock_status(on_time, clock=fixed).status == "notified"


def test_assessment_decides_notification_and_communication(engine: Engine) -> None:
    assert breaches.decide("negligible", "maximum") == breaches.Decision("unlikely", False, False)
    assert breaches.decide("limited", "limited") == breaches.Decision("risk", True, False)
    assert breaches.decide("significant", "significant") == breaches.Decision("high", True, True)
    assert breaches.decide("limited", "maximum") == breaches.Decision("high", True, True)
    b = _breach(engine, NOW - timedelta(hours=1))
    reasoning = "Unencrypted exports of identities and appointments, laptop stolen: access is likely."
    assessed = breaches.assess(
        engine,
        b.id,
        likelihood="significant",
        severity="significant",
        reasoning=reasoning,
        assessed_by="dr.martin",
        clock=fixed,
    )
    assert assessed.notify_authority and assessed.communicate_persons and assessed.override_justification is None
    with pytest.raises(breaches.BreachError, match="justification écrite"):
        breaches.assess(
            engine,
            b.id,
            likelihood="significant",
            severity="significant",
            reasoning=reasoning,
            assessed_by="dr.martin",
            communicate=False,
        )
    overridden = breaches.assess(
        engine,
        b.id,
        likelihood="significant",
        severity="significant",
        reasoning=reasoning,
        assessed_by="dr.martin",
        communicate=False,
        justification="The disk was encrypted after all: art. 34.3.a applies.",
    )
    assert overridden.communicate_computed and not overridden.communicate_persons
    minor = _breach(engine, NOW - timedelta(hours=100))
    assessed_minor = breaches.assess(
        engine,
        minor.id,
        likelihood="negligible",
        severity="limited",
        reasoning="The file was encrypted with a key kept elsewhere.",
        assessed_by="x",
    )
    assert breaches.clock_status(assessed_minor, clock=fixed).status == "not_required"


def test_breach_refusals(engine: Engine) -> None:
    with pytest.raises(breaches.BreachError, match="nature d'une violation"):
        _breach(engine, NOW, nature=["loss"])
    with pytest.raises(breaches.BreachError, match="nomme ce sous-traitant"):
        _breach(engine, NOW, reported_by="processor")
    with pytest.raises(breaches.BreachError, match="au plus tard maintenant"):
        _breach(engine, NOW + timedelta(hours=1))
    with pytest.raises(breaches.BreachError, match="vraisemblance"):
        breaches.decide("high", "limited")
    with pytest.raises(breaches.BreachError, match="Expliquez"):
        b = _breach(engine, NOW)
        breaches.assess(engine, b.id, likelihood="limited", severity="limited", reasoning="short", assessed_by="x")
    by_processor = _breach(engine, NOW, reported_by="processor", processor_name="HébergeSanté")
    assert by_processor.processor_name == "HébergeSanté"


def test_drafts_say_what_is_missing(engine: Engine, tmp_path: Path) -> None:
    config, ref = build_config(tmp_path / "o", "pharmacy", organisation_name="Pharmacie Test")
    b = _breach(engine, NOW - timedelta(hours=80))
    data = breaches.notification_draft(b, config, ref, clock=fixed)
    assert data["late"] and any("motifs du retard" in m for m in data["missing"])
    assert any("délégué" in m for m in data["missing"]) and any("évaluation" in m for m in data["missing"])
    english = breaches.notification_draft(b, config, ref, clock=fixed, lang="en")
    assert any("reasons for the delay" in m for m in english["missing"])
    assert any("DPO" in m for m in english["missing"]) and any("assessment" in m for m in english["missing"])
    assert any(c["code"] and c["section"] for c in data["citations"])
    b = breaches.assess(
        engine,
        b.id,
        likelihood="maximum",
        severity="significant",
        reasoning="Identities and health data readable by the thief.",
        assessed_by="x",
    )
    letter = breaches.communication_draft(b, config, ref, clock=fixed)
    assert "vues ou obtenues" in letter["plain"]["what_happened"][0]
    html = unescape(breaches.render(data))
    assert "À compléter avant l'envoi" in html and "art. 33" in html and "En retard de" in html
    html = unescape(breaches.render(letter))
    assert "Ce qui s'est passé" in html and "Certaines de vos données" in html
    html = breaches.render(english)
    assert "Missing" in html and "art. 33" in html and "Overdue by" in html
    english_letter = breaches.communication_draft(b, config, ref, clock=fixed, lang="en")
    assert "seen or obtained" in english_letter["plain"]["what_happened"][0]
    assert "What happened" in breaches.render(english_letter)


# ---- processors -------------------------------------------------------------------------------------------------


def _processor(engine: Engine, name: str, **extra: object) -> processors.Processor:
    values: dict[str, object] = {
        "name": name,
        "service": "Hosting of the practice software",
        "data_categories": ["health"],
        "hosts_health_data": True,
        "clauses": list(processors.CLAUSES),
        "country": "FR",
        "recorded_by": "admin",
        "hds_number": "HDS-2024-001",
        "hds_certifier": "Certifier SAS",
        "hds_expires": TODAY + timedelta(days=400),
    }
    values.update(extra)
    return processors.add(engine, **values)  # type: ignore[arg-type]


def test_hosting_processor_without_hds_refused(engine: Engine) -> None:
    ref = loader.for_profile("pharmacy")
    _processor(engine, "NoCert", hds_number=None, hds_certifier=None, hds_expires=None)
    with pytest.raises(processors.ProcessorError, match="hébergeur certifié de données de santé"):
        processors.activate(engine, "NoCert", referential=ref, today=TODAY)
    _processor(engine, "Expired", hds_expires=TODAY - timedelta(days=1))
    with pytest.raises(processors.ProcessorError, match="a expiré le"):
        processors.activate(engine, "Expired", referential=ref, today=TODAY)
    ok = _processor(engine, "Certified", hds_expires=TODAY + timedelta(days=30))
    assert processors.warnings(ok, TODAY) and "expire le" in processors.warnings(ok, TODAY)[0]
    assert "expires on" in processors.warnings(ok, TODAY, "en")[0]
    assert processors.activate(engine, "Certified", referential=ref, today=TODAY).status == "active"
    with pytest.raises(processors.ProcessorError, match="seul un sous-traitant en projet"):
        processors.activate(engine, "Certified", referential=ref, today=TODAY)
    assert processors.end(engine, "Certified").status == "ended"
    with pytest.raises(processors.ProcessorError, match="déjà terminée"):
        processors.end(engine, "Certified")


def test_incomplete_checklist_refused(engine: Engine) -> None:
    ref = loader.for_profile("practice")
    _processor(engine, "Partial", clauses=["instructions_only", "security_measures"], hosts_health_data=False)
    with pytest.raises(processors.ProcessorError, match="ne contient pas") as exc:
        processors.activate(engine, "Partial", referential=ref, today=TODAY)
    assert "breach_notification" in str(exc.value) and "audits" in str(exc.value)
    with pytest.raises(processors.ProcessorError, match=r"Clause\(s\) de l'article 28 inconnue"):
        _processor(engine, "Typo", clauses=["instruction"])
    with pytest.raises(processors.ProcessorError, match="déjà enregistré"):
        _processor(engine, "Partial")


def test_warehouse_refuses_a_us_processor(engine: Engine) -> None:
    warehouse = loader.for_profile("warehouse")
    _processor(engine, "US Cloud", country="US")
    with pytest.raises(processors.ProcessorError, match=r"11\.3"):
        processors.activate(engine, "US Cloud", referential=warehouse, today=TODAY)
    _processor(engine, "EU under US law", country="DE", jurisdictions=["DE", "US"])
    with pytest.raises(processors.ProcessorError, match="États-Unis"):
        processors.activate(engine, "EU under US law", referential=warehouse, today=TODAY)
    _processor(engine, "Swiss host", country="CH")
    assert processors.activate(engine, "Swiss host", referential=warehouse, today=TODAY).status == "active"
    _processor(engine, "US for a practice", country="US")
    practice = loader.for_profile("practice")
    assert processors.activate(engine, "US for a practice", referential=practice, today=TODAY).status == "active"


# ---- transfers --------------------------------------------------------------------------------------------------


def test_every_country_and_adequacy_decision_has_its_french_words() -> None:
    lists = transfers.adequacy()
    assert set(lists.eea) | set(lists.adequate) == set(lists.names_fr)
    for decision in lists.adequate.values():
        title, scope, _ = decision.said("fr")
        assert title.startswith("décision") and "Commission" in title and scope and "whole" not in scope


def test_adequacy_lookup() -> None:
    assert transfers.adequacy().as_of <= date.today()
    japan = transfers.country_status("jp")
    assert japan.kind == "adequate" and japan.decision is not None and "2019/419" in japan.decision.decision
    assert transfers.country_status("Switzerland").code == "CH"
    assert transfers.country_status("NO").kind == "eea"
    us = transfers.country_status("US")
    assert us.decision is not None and us.decision.certified_only and us.decision.date == date(2023, 7, 10)
    india = transfers.country_status("IN")
    assert india.kind == "third" and "ne bénéficie d'aucune décision d'adéquation" in india.sentence
    assert "no adequacy decision" in india.said("en")
    assert transfers.is_eea_or_adequate("GB") and not transfers.is_eea_or_adequate("US")
    assert transfers.is_eea_or_adequate("US", certified=True)
    with pytest.raises(transfers.TransferError, match="code ISO 3166 à deux lettres"):
        transfers.country_code("Atlantis")


def test_warehouse_refuses_every_transfer(engine: Engine) -> None:
    for country in ("CH", "US", "IN"):
        request = transfers.TransferRequest(
            country, "Partner", ("pseudonymised_data",), basis="safeguards", safeguard="scc", remote_access=True
        )
        with pytest.raises(transfers.TransferError, match=r"entrepôt de données de santé ne peut transférer.*12\.2"):
            transfers.record(engine, request, profile=OrganisationProfile.WAREHOUSE, recorded_by="x")
    assert transfers.entries(engine) == []


def test_compassionate_access_transfers(engine: Engine) -> None:
    aac = loader.for_profile("compassionate")
    assert set(transfers.aac_transferable()) <= {c.id for c in aac.categories}
    assert not {"health", "safety", "efficacy"} & set(transfers.aac_transferable())  # 12.1: indirect identity only
    profile = aac.organisation_profile
    direct = transfers.TransferRequest(
        "US",
        "Group affiliate",
        ("patient_direct_identity",),
        basis="safeguards",
        safeguard="scc",
        strictly_necessary=True,
        persons_informed=True,
    )
    with pytest.raises(transfers.TransferError, match=r"12\.1"):
        transfers.record(engine, direct, profile=profile, recorded_by="x")
    nir = transfers.TransferRequest(
        "US",
        "Group affiliate",
        ("nir",),
        basis="safeguards",
        safeguard="scc",
        strictly_necessary=True,
        persons_informed=True,
    )
    with pytest.raises(transfers.TransferError, match="nir ne peuvent pas être transférées"):
        transfers.record(engine, nir, profile=profile, recorded_by="x")
    indirect = transfers.TransferRequest(
        "US",
        "Group affiliate",
        ("patient_indirect_identity", "patient_characteristics", "professional_data"),
        basis="safeguards",
        safeguard="scc",
        strictly_necessary=True,
        persons_informed=True,
        remote_access=True,
    )
    saved = transfers.record(engine, indirect, profile=profile, recorded_by="x")
    assert saved.basis == "safeguards" and saved.safeguard == "scc" and saved.remote_access
    for change, message in (
        ({"strictly_necessary": False}, "strictement nécessaire"),
        ({"persons_informed": False}, "informées au préalable"),
        ({"safeguard": None}, "Nommez la garantie appropriée"),
        ({"basis": "adequacy"}, "certifiés"),
        ({"basis": None}, "aucune décision d'adéquation"),
    ):
        country = "IN" if change == {"basis": None} else "US"
        request = transfers.TransferRequest(**{**indirect.__dict__, "country": country, **change})
        with pytest.raises(transfers.TransferError, match=message):
            transfers.record(engine, request, profile=profile, recorded_by="x")
    assert len(transfers.entries(engine)) == 1


def test_other_profiles_need_a_basis_unless_adequate(engine: Engine) -> None:
    pharmacy = OrganisationProfile.PHARMACY
    adequate = transfers.record(
        engine, transfers.TransferRequest("JP", "Lab", ("identity",)), profile=pharmacy, recorded_by="x"
    )
    assert adequate.basis == "adequacy" and "2019/419" in transfers.basis_sentence(adequate)
    with pytest.raises(transfers.TransferError, match="demande des garanties appropriées"):
        transfers.record(
            engine, transfers.TransferRequest("IN", "Lab", ("identity",)), profile=pharmacy, recorded_by="x"
        )
    with pytest.raises(transfers.TransferError, match=r"dérogation de l'article 49"):
        transfers.record(
            engine,
            transfers.TransferRequest("IN", "Lab", ("identity",), basis="derogation"),
            profile=pharmacy,
            recorded_by="x",
        )
    derog = transfers.record(
        engine,
        transfers.TransferRequest("IN", "Lab", ("identity",), basis="derogation", derogation="vital_interests"),
        profile=pharmacy,
        recorded_by="x",
    )
    assert "49.1 f" in transfers.basis_sentence(derog) and "49.1.f" in transfers.basis_sentence(derog, "en")
    with pytest.raises(transfers.TransferError, match="pas un transfert"):
        transfers.record(
            engine, transfers.TransferRequest("DE", "Lab", ("identity",)), profile=pharmacy, recorded_by="x"
        )


# ---- CLI --------------------------------------------------------------------------------------------------------


@pytest.fixture
def org(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    directory = tmp_path / "org"
    result = runner.invoke(
        app,
        [
            "init",
            "--profile",
            "practice",
            "--dir",
            str(directory),
            "--name",
            "Cabinet Test",
            "--set",
            "retention_end_action=delete",
            *init_answers("practice"),
        ],
    )
    assert result.exit_code == 0, result.output
    config = directory / "santegarde.yaml"
    assert runner.invoke(app, ["keys", "init", "--config", str(config)]).exit_code == 0
    return config


def test_cli_end_to_end(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    c = ["--config", str(org)]
    env = {"COLUMNS": "200"}
    discovered = (datetime.now(UTC) - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M")
    add = runner.invoke(
        breach_app,
        [
            "add",
            "--nature",
            "confidentiality,availability",
            "--description",
            "Ransomware on the reception workstation.",
            "--data-categories",
            "identity,appointments",
            "--persons-categories",
            "patients",
            "--consequences",
            "Appointments unavailable; identities possibly copied.",
            "--measures-taken",
            "Workstation isolated and restored.",
            "--discovered-at",
            discovered,
            "--reported-by",
            "processor",
            "--processor",
            "InfoSanté SARL",
            "--persons",
            "250",
            *c,
            "--by",
            "dr.martin",
        ],
        env=env,
    )
    assert add.exit_code == 0, add.output
    assert "Violation n° 1 inscrite au registre" in add.output and "En retard" in add.output
    listed = runner.invoke(breach_app, ["list", *c], env=env)
    assert listed.exit_code == 0 and "EN RETARD" in listed.output
    refused = runner.invoke(
        breach_app,
        [
            "assess",
            "1",
            "--likelihood",
            "limited",
            "--severity",
            "significant",
            "--reasoning",
            "Identities may have been copied.",
            "--no-notify",
            *c,
        ],
    )
    assert refused.exit_code == 2 and "justification écrite" in refused.output
    assessed = runner.invoke(
        breach_app,
        [
            "assess",
            "1",
            "--likelihood",
            "significant",
            "--severity",
            "significant",
            "--reasoning",
            "Identities may have been copied by the attackers.",
            *c,
        ],
    )
    assert assessed.exit_code == 0 and "informer les personnes : oui" in assessed.output
    shown = runner.invoke(breach_app, ["show", "1", *c], env=env)
    assert shown.exit_code == 0 and "InfoSanté SARL" in shown.output
    out = tmp_path / "notification.json"
    strict = runner.invoke(breach_app, ["draft-notification", "1", "--out", str(out), "--strict", *c])
    assert strict.exit_code == 2 and "À compléter : les motifs du retard" in strict.output
    draft = json.loads(out.read_text())
    assert draft["breach"]["approx_persons"] == 250 and draft["late"]
    html = tmp_path / "notification.html"
    ok = runner.invoke(
        breach_app,
        [
            "draft-notification",
            "1",
            "--out",
            str(html),
            "--delay-reasons",
            "The processor reported the attack three days late.",
            *c,
        ],
    )
    assert ok.exit_code == 0 and "three days late" in html.read_text()
    letter = tmp_path / "letter.html"
    assert runner.invoke(breach_app, ["draft-communication", "1", "--out", str(letter), *c]).exit_code == 0
    assert "Ce qui s&#39;est passé" in letter.read_text()
    english = runner.invoke(breach_app, ["draft-communication", "1", "--out", str(letter), "--lang", "en", *c])
    assert english.exit_code == 0
    assert "What happened" in letter.read_text()
    assert runner.invoke(breach_app, ["notified", "1", *c]).exit_code == 0

    added = runner.invoke(
        processor_app,
        [
            "add",
            "HébergeSanté",
            "--service",
            "Hosting",
            "--country",
            "FR",
            "--hosts-health-data",
            "--clause",
            "all",
            *c,
        ],
    )
    assert added.exit_code == 0 and "son certificat HDS n'est pas enregistré" in added.output
    no_hds = runner.invoke(processor_app, ["activate", "HébergeSanté", *c])
    assert no_hds.exit_code == 2 and "hébergeur certifié de données de santé" in no_hds.output
    expires = (date.today() + timedelta(days=20)).isoformat()
    assert (
        runner.invoke(
            processor_app,
            [
                "add",
                "CertHost",
                "--service",
                "Hosting",
                "--country",
                "FR",
                "--hosts-health-data",
                "--clause",
                "all",
                "--hds-number",
                "N1",
                "--hds-certifier",
                "Certifier",
                "--hds-expires",
                expires,
                *c,
            ],
        ).exit_code
        == 0
    )
    activated = runner.invoke(processor_app, ["activate", "CertHost", *c])
    assert activated.exit_code == 0 and "expire le" in activated.output
    listed = runner.invoke(processor_app, ["list", *c], env=env)
    assert listed.exit_code == 0 and "Attention" in listed.output
    assert runner.invoke(processor_app, ["end", "CertHost", *c]).exit_code == 0

    needs_basis = runner.invoke(
        transfer_app, ["add", "--country", "IN", "--recipient", "Lab", "--data-categories", "identity", *c]
    )
    assert needs_basis.exit_code == 2 and "aucune décision d'adéquation" in needs_basis.output
    recorded = runner.invoke(
        transfer_app,
        ["add", "--country", "CH", "--recipient", "Lab", "--data-categories", "identity", "--remote-access", *c],
    )
    assert recorded.exit_code == 0 and "2000/518/CE" in recorded.output
    assert "Lab" in runner.invoke(transfer_app, ["list", *c], env=env).output
    checked = runner.invoke(transfer_app, ["check", "US"], env=env)
    assert checked.exit_code == 0 and "cadre de protection des données UE–États-Unis" in checked.output
    assert "n'est pas un transfert" in runner.invoke(transfer_app, ["check", "FR", *c], env=env).output

    organisation = open_organisation(org, PASS)
    try:
        with organisation.audit.engine.connect() as conn:
            operations = [e.content.get("operation") for e in organisation.audit.entries(conn)]
    finally:
        organisation.close()
    for op in (
        "breach.add",
        "breach.assess",
        "breach.notified",
        "processor.add",
        "processor.activate",
        "processor.end",
        "transfer.add",
    ):
        assert op in operations


TELL_TALE = (" the ", "must", "is not", "Error:", "Breach ", "Warning", "recorded", " of ")


def _french(output: str) -> str:
    text = " ".join(output.split())
    assert not [w for w in TELL_TALE if w in text], text
    return text


def test_register_commands_speak_french_by_default_and_english_on_request(runner: CliRunner, org: Path) -> None:
    """Each register command, on a refusal and on a success: French by default, English with --lang en."""
    c = ["--config", str(org)]
    env = {"COLUMNS": "200"}
    add = [
        "add", "--nature", "confidentiality", "--description", "Poste de l'accueil chiffré par un rançongiciel.",
        "--data-categories", "identité", "--persons-categories", "patients",
        "--consequences", "Des identités ont pu être copiées.", "--measures-taken", "Poste isolé du réseau.",
    ]
    refused = runner.invoke(breach_app, [*add, "--reported-by", "processor", *c])
    assert refused.exit_code == 2 and "Erreur :" in refused.output
    assert "nomme ce sous-traitant" in _french(refused.output)
    english = runner.invoke(breach_app, [*add, "--reported-by", "processor", "--lang", "en", *c])
    assert english.exit_code == 2
    assert "Error: A breach reported by a processor names" in " ".join(english.output.split())
    done = runner.invoke(breach_app, [*add, *c])
    assert done.exit_code == 0 and "Violation n° 1 inscrite au registre" in _french(done.output)
    assert "Breach 2 recorded" in runner.invoke(breach_app, [*add, "--lang", "en", *c]).output
    assessed = runner.invoke(
        breach_app,
        ["assess", "1", "--likelihood", "limited", "--severity", "maximum", "--reasoning",
         "Des identités et des diagnostics ont pu être copiés.", *c],
    )
    assert "informer les personnes : oui" in _french(assessed.output)
    listed = runner.invoke(breach_app, ["list", *c], env=env)
    assert "confidentialité" in _french(listed.output) and "limitée/maximale" in listed.output
    shown = _french(runner.invoke(breach_app, ["show", "1", *c], env=env).output)
    assert "Évaluation : vraisemblance limitée, gravité maximale" in shown
    assert "Assessment: likelihood limited" in runner.invoke(breach_app, ["show", "1", "--lang", "en", *c]).output
    unknown = runner.invoke(breach_app, ["show", "9", *c])
    assert unknown.exit_code == 2 and "ne contient pas de violation n° 9" in _french(unknown.output)

    p_add = ["add", "Hébergeur", "--service", "Hébergement", "--country", "FR", "--hosts-health-data"]
    p_add += ["--clause", "all"]
    drafted = runner.invoke(processor_app, [*p_add, *c])
    assert drafted.exit_code == 0 and "Avant l'activation" in _french(drafted.output)
    no_hds = runner.invoke(processor_app, ["activate", "Hébergeur", *c])
    assert no_hds.exit_code == 2 and "n'est pas enregistré" in _french(no_hds.output)
    no_hds_en = runner.invoke(processor_app, ["activate", "Hébergeur", "--lang", "en", *c])
    assert "its HDS certificate is not recorded" in " ".join(no_hds_en.output.split())
    assert "en projet" in _french(runner.invoke(processor_app, ["list", *c], env=env).output)
    ended = runner.invoke(processor_app, ["end", "Hébergeur", *c])
    assert ended.exit_code == 0 and "obtenez la suppression" in _french(ended.output)
    again = runner.invoke(processor_app, ["end", "Hébergeur", "--lang", "en", *c])
    assert again.exit_code == 2 and "has already ended" in again.output

    t_add = ["add", "--country", "IN", "--recipient", "Laboratoire", "--data-categories", "identity"]
    needs_basis = runner.invoke(transfer_app, [*t_add, *c])
    assert needs_basis.exit_code == 2 and "Inde" not in needs_basis.output  # no French name known: the ISO code
    assert "ne bénéficie d'aucune décision d'adéquation" in _french(needs_basis.output)
    assert "has no adequacy decision" in runner.invoke(transfer_app, [*t_add, "--lang", "en", *c]).output
    recorded = runner.invoke(transfer_app, [*t_add, "--basis", "derogation", "--derogation", "vital_interests", *c])
    assert recorded.exit_code == 0 and "Transfert n° 1 vers IN inscrit" in _french(recorded.output)
    assert "hors d'état de consentir" in _french(runner.invoke(transfer_app, ["list", *c], env=env).output)
    checked = _french(runner.invoke(transfer_app, ["check", "JP", *c], env=env).output)
    assert "Japon (JP) bénéficie d'une décision d'adéquation" in checked and "23/01/2019" in checked
    assert "Japan (JP) benefits" in runner.invoke(transfer_app, ["check", "JP", "--lang", "en", *c], env=env).output


def test_the_hds_requirement_is_cited_by_its_measure_code_for_every_referential() -> None:
    """Each référentiel's certified-host rule is found by its measure's code (or the text's section), not its
    wording: a référentiel without an entry, or an entry naming a measure it does not have, fails here."""
    everything = loader.load_all()
    assert set(processors.HDS_RULE) == set(everything)
    for ref_id, (code, section) in processors.HDS_RULE.items():
        ref = everything[ref_id]
        measure = next((m for m in ref.measures if m.code == code), None)
        assert (measure is not None) if code else bool(section), ref_id
        cited = processors._hds_section(ref, "fr")
        assert cited == (f"{code}, section {measure.section}" if measure else f"section {section} du référentiel")
        assert processors._hds_section(ref, "en").endswith(measure.section if measure else section)
