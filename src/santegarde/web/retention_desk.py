"""The retention timeline at the controller's desk (COM-RET-1, COM-ARC-1): what a run would archive and end
(delete or anonymise) at each coming date, rule by rule, drawn as a timeline and given as a table.

Each date's figures are ``lifecycle.retention.plan`` at that date (the CLI's ``santegarde retention plan --at``):
what a run on that day would do if none ran before it; counts only, nothing decrypted. The route passes the desk's
gate (identity → policy → audit) first.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from santegarde.governance import doctext
from santegarde.lifecycle import retention
from santegarde.policy.desks import Desk
from santegarde.referentials.model import Duration
from santegarde.runtime import Organisation
from santegarde.store.retention import add_duration
from santegarde.web.charts import Chart, grouped_bars
from santegarde.web.controller import END_ACTIONS, month_name
from santegarde.web.desk_gate import DeskGate, desk_page
from santegarde.web.french import labels, name
from santegarde.web.render import Renderer, lang_of

TAG = "console"


@dataclass(frozen=True)
class Horizon:
    label: Any  # a Said: the page's language
    steps: int
    step: Duration


WORDS = ("console", "controller_desk", "retention")
_HORIZON_NAMES = labels(*WORDS, "horizons")
HORIZONS = {
    "12-mois": Horizon(_HORIZON_NAMES["12-mois"], 12, Duration(months=1)),
    "25-ans": Horizon(_HORIZON_NAMES["25-ans"], 25, Duration(years=1)),
}


def words(lang: str) -> dict[str, Any]:
    """The retention calendar's wording in ``lang`` (documents_text.yaml, ``console.controller_desk.retention``)."""
    table: dict[str, Any] = doctext.words(lang)["console"]["controller_desk"]["retention"]
    return table


def dates(now: datetime, horizon: Horizon) -> list[datetime]:
    """The next run (now), then one date per step of the horizon."""
    return [now] + [add_duration(now, _times(horizon.step, n)) for n in range(1, horizon.steps + 1)]


def _times(step: Duration, n: int) -> Duration:
    return Duration(years=step.years * n, months=step.months * n, days=step.days * n)


def timeline(org: Organisation, now: datetime, horizon: Horizon) -> list[dict[str, Any]]:
    """Per date: what a run that day would archive, end (by the end action) and keep held, rule by rule; ``changed``
    when that differs from the date before (the table shows the dates where something changes)."""
    found: list[dict[str, Any]] = []
    for at in dates(now, horizon):
        plan = retention.plan(org, at)
        lines = [
            {
                "rule": name(org.referential, "retention", line.rule),
                "archive": line.archive_now,
                "end": line.end_now,
                "end_action": line.end_action,
                "end_words": END_ACTIONS.get(line.end_action, line.end_action),
                "held": line.held,
            }
            for line in plan.lines
            if line.archive_now or line.end_now or line.held
        ]
        changed = not found or lines != found[-1]["lines"]
        since = found[-1]["at"] if found else None  # the change happens between the date before and this one
        found.append({"at": at, "since": since, "lines": lines, "unruled": plan.unruled, "changed": changed})
    return found


def chart(points: list[dict[str, Any]], monthly: bool, lang: str = "fr") -> Chart:
    said = words(lang)
    counted: dict[tuple[str, str], int] = {}
    groups: dict[str, str] = {}
    for index, point in enumerate(points):
        key = f"{index:03d}"
        at = point["at"]
        groups[key] = (
            said["next_run_short"] if index == 0 else (month_name(f"{at:%Y-%m}", lang) if monthly else f"{at.year}")
        )
        for line in point["lines"]:
            for series, value in (
                ("archive", line["archive"]),
                (line["end_action"], line["end"]),
                ("held", line["held"]),
            ):
                if value:
                    counted[(key, series)] = counted.get((key, series), 0) + value
    return grouped_bars(
        "conservation",
        said["chart_title"],
        said["chart_desc"],
        counted,
        dict(said["series"]),
        groups,
    )


def router(org: Organisation, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])

    @web.api_route("/controle/conservation", methods=["GET"], response_class=HTMLResponse, tags=["reach:desk"])
    def calendar(request: Request, horizon: str = "12-mois") -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.retention")
            chosen = HORIZONS.get(horizon)
            if chosen is None:
                return renderer.page(
                    request,
                    "controle/conservation.html",
                    422,
                    user=gate.who(current),
                    horizons=HORIZONS,
                    chosen="",
                    error=words(lang_of(request))["no_period"],
                    points=[],
                    chart=None,
                )
            points = timeline(org, org.audit.now(), chosen)
            drawn = chart(points, monthly=chosen.step.months > 0, lang=lang_of(request))
            return renderer.page(
                request,
                "controle/conservation.html",
                user=gate.who(current),
                horizons=HORIZONS,
                chosen=horizon,
                points=points,
                chart=drawn if drawn.rows else None,
            )

        return desk_page(renderer, gate, request, draw)

    return web
