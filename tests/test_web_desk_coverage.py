"""Done-when of issue 21: every governance, audit and warehouse action that has a CLI command also has its screen,
under the same policy. The commands are listed from ``COMMANDS`` (their Typer apps, every subcommand); each is mapped
here to the console route that does the same (a desk route: it passes the desk's gate, identity → policy → audit),
or given the reason it is not an action a person at a desk does. A new command of these groups fails the test until
it is written in the table; a screen that disappears fails it too.

``GAPS`` are desk actions that have no screen yet: each is reported as an expected failure (xfail) naming what is
missing, listed rather than hidden behind a reason; moving one to ``SCREENS`` is how its screen is checked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from santegarde.cli.main import load_command
from santegarde.rights.execute import RightsService
from santegarde.web import create_console
from warehouse_desk_fixtures import Place, make_place
from web_fixtures import make_practice, organisation_of

GROUPS = (
    "audit", "review", "measure", "dpia", "breach", "processor", "transfer", "retention", "register", "notice",
    "conformity", "rights", "maintenance", "warehouse",
)  # fmt: skip

# command → (method, route path) of its screen
SCREENS: dict[str, tuple[str, str]] = {
    "audit verify": ("POST", "/audit/verification"),
    "audit review": ("POST", "/audit/revue"),
    "audit close": ("POST", "/audit/revue/{number}/anomalies/{anomaly}"),
    "audit status": ("GET", "/audit"),
    "audit justification": ("GET", "/audit/justifications"),
    "review start": ("POST", "/controle/habilitations"),
    "review status": ("GET", "/controle/habilitations"),
    "review decide": ("POST", "/controle/habilitations/{number}/{grant}/{action}"),
    "review close": ("POST", "/controle/habilitations/{number}/cloture"),
    "measure list": ("GET", "/controle"),
    "measure set": ("POST", "/controle/mesures"),
    "dpia generate": ("POST", "/controle/aipd"),
    "dpia check": ("GET", "/controle"),
    "dpia status": ("GET", "/controle"),
    "dpia export-pia": ("GET", "/controle/documents/{key}/fichier/{fmt}"),
    "breach add": ("POST", "/controle/violations"),
    "breach list": ("GET", "/controle/violations"),
    "breach show": ("GET", "/controle/violations/{number}"),
    "breach assess": ("POST", "/controle/violations/{number}/evaluation"),
    "breach notified": ("POST", "/controle/violations/{number}/{kind}/faite"),
    "breach draft-notification": ("GET", "/controle/violations/{number}/{kind}"),
    "breach draft-communication": ("GET", "/controle/violations/{number}/{kind}"),
    "processor add": ("POST", "/controle/sous-traitants"),
    "processor list": ("GET", "/controle/sous-traitants"),
    "processor activate": ("POST", "/controle/sous-traitants/{number}/{action}"),
    "processor end": ("POST", "/controle/sous-traitants/{number}/{action}"),
    "transfer add": ("POST", "/controle/transferts"),
    "transfer list": ("GET", "/controle/transferts"),
    "transfer check": ("GET", "/controle/transferts"),
    "retention plan": ("GET", "/controle/conservation"),
    "retention event": ("POST", "/controle/conservation/evenements"),
    "retention assign": ("POST", "/controle/conservation/regles"),
    "retention hold add": ("POST", "/controle/conservation/gels"),
    "retention hold release": ("POST", "/controle/conservation/gels/{number}/levee"),
    "register": ("GET", "/controle/documents/{key}/fichier/{fmt}"),
    "notice": ("GET", "/controle/documents/{key}/fichier/{fmt}"),
    "conformity": ("GET", "/controle/documents/{key}/fichier/{fmt}"),
    "rights request": ("POST", "/controle/droits"),
    "rights status": ("GET", "/controle/droits"),
    "rights identity-check": ("POST", "/controle/droits/{number}/identite"),
    "rights extend": ("POST", "/controle/droits/{number}/prolongation"),
    "rights execute": ("POST", "/controle/droits/{number}/execution"),
    "rights sent": ("POST", "/controle/droits/{number}/envoi"),
    "rights letter": ("GET", "/controle/droits/{number}/lettre/{fmt}"),
    "warehouse oppose": ("POST", "/entrepot/opposition"),
    "warehouse committee variable-add": ("POST", "/entrepot/comites/variables"),
    "warehouse committee variable-remove": ("POST", "/entrepot/comites/variables/retrait"),
    "warehouse committee data-list": ("GET", "/entrepot/comites"),
    "warehouse committee member-add": ("POST", "/entrepot/comites/membres"),
    "warehouse committee member-remove": ("POST", "/entrepot/comites/membres/{member_id}/retrait"),
    "warehouse committee show": ("GET", "/entrepot/comites"),
    "warehouse committee opinion": ("POST", "/entrepot/comites/avis"),
    "warehouse committee yearly-list": ("GET", "/entrepot/comites/liste/{year}/{fmt}"),
    "warehouse project submit": ("POST", "/entrepot/projets"),
    "warehouse project list": ("GET", "/entrepot/projets"),
    "warehouse project show": ("GET", "/entrepot/projets"),
    "warehouse workspace create": ("POST", "/entrepot/projets/{code}/espace"),
    "warehouse workspace close": ("POST", "/entrepot/projets/{code}/cloture"),
    "warehouse export check": ("POST", "/entrepot/exports/{request_id}/mesure"),
    "warehouse export release": ("POST", "/entrepot/exports/{request_id}/decision"),
    "warehouse export review": ("POST", "/entrepot/exports/{request_id}/decision"),
    "warehouse export reject": ("POST", "/entrepot/exports/{request_id}/decision"),
    "warehouse export training": ("POST", "/entrepot/formations"),
}

# command → why it is not an action a person at a governance desk does
NOT_AT_A_DESK: dict[str, str] = {
    "audit seal-head": "a one-off repair by the administrator after an upgrade, on the server",
    "audit restart-anchor": "the administrator's step after restoring the audit database from a backup",
    "audit export": "a machine-readable FHIR Bundle for another system, run by the administrator or a script",
    "audit purge": "the scheduled deletion of traces past their retention (run by the provided timer)",
    "retention run": "the nightly scheduled run (the provided systemd timer); the desk shows its plan",
    "maintenance log": "written by the administrator who intervenes on the systems, where they intervene",
    "maintenance list": "the administrator's logbook, read with the logbook command",
    "warehouse init": "creates the warehouse's stores: an installation step of the administrator",
    "warehouse feed": "run by the feeding profile's secured collection circuit (scheduled), not at a desk",
    "warehouse retention": "the warehouse's scheduled retention run",
    "warehouse vocabulary": "loads the OMOP vocabularies: an installation step of the administrator",
    "warehouse workspace query": "a project member's SQL inside their own sealed workspace, not a governance act",
    "warehouse indicator": "asked by the requesting team (internal staff, project member); the desk reviews it",
    "warehouse export request": "asked by the requesting team from their session; the desk measures and decides",
    "warehouse export indicator": "asked by the requesting team from their session; the desk measures and decides",
    "warehouse measure anonymity": "an analyst's measurement of a query before asking an export, nothing decided",
    "warehouse measure indicator": "an analyst's measurement of an indicator before asking it, nothing decided",
}

# Desk actions without a screen yet (issue 21): expected failures, strict.
GAPS: dict[str, str] = {
    "warehouse reidentify request": "the re-identification procedures (recontact team, second approver)",
    "warehouse reidentify approve": "the re-identification procedures (recontact team, second approver)",
    "warehouse reidentify reject": "the re-identification procedures (recontact team, second approver)",
    "warehouse reidentify list": "the re-identification procedures (recontact team, second approver)",
    "warehouse reidentify run": "the re-identification procedures (recontact team, second approver)",
    "warehouse identity review": "the warehouse's identity vigilance (candidate links)",
    "warehouse identity link": "the warehouse's identity vigilance (candidate links)",
    "warehouse identity separate": "the warehouse's identity vigilance (candidate links)",
    "warehouse identity undo": "the warehouse's identity vigilance (candidate links)",
}


def commands() -> list[str]:
    """Every command of the governance, audit and warehouse groups, by its full name (``warehouse export check``)."""

    def walk(name: str, command: Any) -> Iterator[str]:
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            yield name
            return
        for sub, found in subcommands.items():
            yield from walk(f"{name} {sub}", found)

    return [name for group in GROUPS for name in walk(group, load_command(group))]


def flat(routes: Any) -> Iterator[Any]:
    """The routes of an app, those of its included routers too (FastAPI keeps them inside their router)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from flat(inner.routes) if inner is not None else (route,)


@pytest.fixture(scope="module")
def desk_routes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[tuple[str, str]]]:
    """(method, path) of every desk route of a practice's console and of a warehouse's console."""
    practice = make_practice(tmp_path_factory.mktemp("practice"))
    org = organisation_of(practice, tmp_path_factory.mktemp("org"))
    rights = RightsService(practice.place.service, config=org.config, audit=practice.place.audit)
    warehouse: Place = make_place(tmp_path_factory.mktemp("warehouse"))
    try:
        apps = (
            create_console(practice.place.identity, records=practice.place.service, rights=rights, organisation=org),
            warehouse.console,
        )
        yield {
            (method, route.path)
            for app in apps
            for route in flat(app.routes)
            if "reach:desk" in (getattr(route, "tags", None) or ())
            for method in getattr(route, "methods", None) or ()
        }
    finally:
        warehouse.close()
        practice.close()


def test_the_table_names_every_command_once() -> None:
    listed = commands()
    assert len(listed) == len(set(listed))
    tables = (SCREENS, NOT_AT_A_DESK, GAPS)
    written = [name for table in tables for name in table]
    assert len(written) == len(set(written)), "a command is in two tables"
    assert set(listed) - set(written) == set(), "commands neither mapped to a screen nor explained"
    assert set(written) - set(listed) == set(), "the table names commands that no longer exist"
    assert all(len(reason) > 30 for reason in NOT_AT_A_DESK.values())


@pytest.mark.parametrize("command", sorted(SCREENS))
def test_each_mapped_command_has_its_desk_screen(command: str, desk_routes: set[tuple[str, str]]) -> None:
    assert SCREENS[command] in desk_routes, f"{command}: no desk route {SCREENS[command]}"


@pytest.mark.parametrize("command", sorted(GAPS))
def test_desk_actions_without_a_screen_yet(command: str, desk_routes: set[tuple[str, str]]) -> None:
    pytest.xfail(f"{command}: no screen yet for {GAPS[command]} (issue 21)")


def test_every_desk_route_is_a_page_of_a_desk(desk_routes: set[tuple[str, str]]) -> None:
    """The warehouse's screens are desk routes (they pass the desk's gate) like the controller's and the auditor's."""
    paths = {path for _, path in desk_routes}
    assert {"/entrepot", "/entrepot/exports", "/controle", "/audit"} <= paths
    assert not [p for p in paths if not p.startswith(("/controle", "/audit", "/entrepot"))]
