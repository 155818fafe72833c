"""AAC-10: the compassionate-access notices name the programme from its protocol file and list the organisation's
declared transfers (its transfer register), not the transfers the référentiel would allow."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notice_fixtures import PROGRAMME, complete_config, notice
from santegarde.cli.governance_docs import notice_app
from santegarde.compassionate.registry import Registry, example_text
from santegarde.config import save
from santegarde.governance import transfers
from santegarde.governance.notices import NAMES_PROGRAMME, NoticeRefused, render_notice
from santegarde.referentials.model import OrganisationProfile
from santegarde.store.db import make_engine, migrate

GROUP = "Filiale fictive Inc."


def _visible(text: str) -> str:
    text = re.sub(r"<style.*?</style>", " ", text, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def _declare(url: str, *categories: str, country: str = "US", remote: bool = False) -> list[transfers.Transfer]:
    engine = make_engine(url)
    try:
        migrate(engine, package="santegarde.governance")
        request = transfers.TransferRequest(
            country,
            GROUP,
            categories,
            basis="safeguards",
            safeguard="scc",
            remote_access=remote,
            strictly_necessary=True,
            persons_informed=True,
        )
        transfers.record(engine, request, profile=OrganisationProfile.COMPASSIONATE, recorded_by="dpo")
        return transfers.entries(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("fmt", NAMES_PROGRAMME)
def test_each_notice_names_the_programme_in_french_and_english(tmp_path: Path, fmt: str) -> None:
    config, ref = complete_config(tmp_path, "compassionate")
    french = _visible(render_notice(notice(config, ref, fmt, "fr")))
    assert "Le médicament concerné" in french
    assert (
        "Exemplatine 5 mg (fictif), dans l'indication « Maladie fictive de l'adulte » — autorisation d'accès "
        "compassionnel de l'ANSM n° AAC-TEST-0042 du 02/03/2026"
    ) in french
    english = _visible(render_notice(notice(config, ref, fmt, "en")))
    assert "ANSM compassionate-access authorisation no. AAC-TEST-0042 of 2026-03-02" in english
    assert "Maladie fictive de l'adulte" in english


@pytest.mark.parametrize("fmt", NAMES_PROGRAMME)
def test_a_notice_that_names_the_programme_is_refused_without_one(tmp_path: Path, fmt: str) -> None:
    config, ref = complete_config(tmp_path, "compassionate")
    with pytest.raises(NoticeRefused) as refused:
        notice(config, ref, fmt, "fr", programmes=[])
    assert "aucun programme n'est enregistré" in str(refused.value) and "santegarde aac programme add" in str(
        refused.value
    )
    assert "no programme is registered" in refused.value.in_language("en")
    assert notice(config, ref, "leaflet", "fr", programmes=[])  # the leaflet speaks of the organisation only


def test_the_programme_is_named_only_under_compassionate_access(tmp_path: Path) -> None:
    config, ref = complete_config(tmp_path, "pharmacy")
    assert notice(config, ref, "web", "fr", programmes=[PROGRAMME]).programmes == []


def test_the_declared_transfers_are_listed_not_the_referentials(tmp_path: Path) -> None:
    config, ref = complete_config(tmp_path, "compassionate")
    declared = _declare(f"sqlite:///{tmp_path / 'r.db'}", "patient_indirect_identity", "professional_data", remote=True)
    text = _visible(render_notice(notice(config, ref, "prescriber", "fr", declared=declared)))
    assert f"{GROUP} (États-Unis)" in text and "clauses contractuelles types" in text
    assert "consultation à distance depuis ce pays" in text
    assert "art. 46.2 du RGPD" not in text  # the grounds the référentiel allows are not a declared transfer
    assert "patient_indirect_identity" not in text and "_" not in re.sub(r"\S+@\S+", "", text)
    english = _visible(render_notice(notice(config, ref, "web", "en", declared=declared)))
    assert f"{GROUP} (United States)" in english and "standard contractual clauses" in english
    nothing = _visible(render_notice(notice(config, ref, "prescriber", "fr", declared=[])))
    assert "Vos données ne sont pas transférées hors de l'Union européenne." in nothing
    assert GROUP not in nothing
    poster = _visible(render_notice(notice(config, ref, "poster", "fr", declared=[])))
    assert "ne sont pas transférées" in poster


def test_the_cli_names_the_registered_programme_and_the_register_of_transfers(tmp_path: Path) -> None:
    config, ref = complete_config(tmp_path, "compassionate")
    url = f"sqlite:///{tmp_path / 'records.db'}"
    config = config.model_copy(update={"database_url": url})
    path = tmp_path / "santegarde.yaml"
    save(config, path)
    runner = CliRunner()
    out = tmp_path / "note.html"
    args = ["--format", "prescriber", "--out", str(out), "--config", str(path)]
    refused = runner.invoke(notice_app, args)
    assert refused.exit_code == 2 and "aucun programme n'est enregistré" in " ".join(refused.output.split())
    assert not out.exists()
    Registry.beside(path, ref).add(example_text(), "exemple")
    _declare(url, "professional_data", country="CA")
    done = runner.invoke(notice_app, args)
    assert done.exit_code == 0, done.output
    text = _visible(out.read_text(encoding="utf-8"))
    assert "Velmorine 20 mg, comprimé (fictif)" in text and "AAC-EX-2026-0001 du 15/01/2026" in text
    assert f"{GROUP} (Canada)" in text and "Données relatives aux professionnels de santé" in text
    unknown = runner.invoke(notice_app, [*args, "--programme", "autre-programme"])
    assert unknown.exit_code != 0 and "autre-programme" in unknown.output
