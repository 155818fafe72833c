"""The compassionate-access demo: a laboratory's programme lived through, with fictitious patients only.

``santegarde demo --profile compassionate`` registers the example programme (a fictitious medicine, its ANSM
decision in force), and two establishments' prescribers walk fictitious patients through the workflow on the one
request path: access request → the laboratory's decision (some refused, with their coded reason) → initiation →
follow-up visits → for some an adverse effect, a related person affected, a stop. The pharmacist in charge then
produces the periodic summary report (HTML, CSV and JSON, small cells suppressed) and records the ANSM's approval
of its summary, which starts the retention clock (§9). Same seed, same patients and same workflow.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from santegarde.atomic import write_atomic
from santegarde.compassionate import events
from santegarde.compassionate.registry import Registry, example_text
from santegarde.compassionate.report import DEFAULT_THRESHOLD, build
from santegarde.compassionate.service import CompassionateService, Patient
from santegarde.governance.documents import write_document
from santegarde.store.service import Request
from santegarde.synthetic import generate_dataset

PROGRAMME = "velmorine-sla"
ESTABLISHMENTS = ("chu-exemple-nord", "ch-exemple-sud")  # two fictitious establishments (their Organization ids)
PURPOSE = "access_initiation_follow_up"
EFFECTS = ("10028813", "10016256", "10019211", "10012735", "10037087")  # nausea, fatigue, headache, diarrhoea, pruritus
REFUSALS = ("criteres_eligibilite", "contre_indication", "alternative_disponible")
STOPS = ("effet_indesirable", "inefficacite", "decision_patient")
REPORTS = "rapports"


@dataclass
class CompassionateDemo:
    """What the demo did, to print where to look."""

    steps: Counter[str] = field(default_factory=Counter)
    example_case: tuple[str, str] | None = None  # (patient record id, code) of a treated patient
    report_files: list[Path] = field(default_factory=list)
    period: tuple[date, date] | None = None


def register_example(registry: Registry, today: date) -> None:
    """The example programme, its ANSM decision granted on the first day of the month four months ago."""
    granted = date(today.year - (today.month <= 4), (today.month - 5) % 12 + 1, 1)
    registry.add(example_text(granted=granted), "the example programme")


def populate(
    service: CompassionateService,
    prescribers: dict[str, Request],
    laboratory: Request,
    patients: int,
    seed: int,
    directory: Path,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
) -> CompassionateDemo:
    """Walk ``patients`` fictitious patients through the workflow, then write and approve the summary report.

    ``prescribers``: a session per establishment (keys of ESTABLISHMENTS); ``laboratory``: the pharmacist in
    charge's, who decides, produces the report and records the ANSM's approval."""
    draw = random.Random(seed)  # noqa: S311 - fictitious data, not a secret
    people = generate_dataset(seed=seed, patients=patients, profile="practice").patients
    today = service.records.identity.now().date()
    done = CompassionateDemo()
    iterable: Iterable[Any] = progress(people, len(people)) if progress else people
    for i, person in enumerate(iterable):
        name = person.name[0]
        where = ESTABLISHMENTS[i % len(ESTABLISHMENTS)]
        prescriber = prescribers[where]
        birth = str(person.birthDate)[:7]
        patient = Patient(str(name.family), str(name.given[0]), str(person.gender), birth, where)
        weight = round(draw.uniform(48, 105), 1)
        score = draw.randint(24, 44)
        request = {
            "poids": weight,
            "taille": draw.randint(150, 195),
            "diagnostic": "G12.2",
            "date_diagnostic": date(today.year - 1, draw.randint(1, 12), draw.randint(1, 28)).isoformat(),
            "mutation_sod1": True,
            "score_alsfrs": score,
        }
        case = service.request_access(prescriber, PROGRAMME, patient, request)
        done.steps["access_request"] += 1
        pid = case.patient_id
        if draw.random() < 0.1:
            service.submit(
                laboratory, pid, "decision_laboratoire", {"decision": "refused", "motif_refus": draw.choice(REFUSALS)}
            )
            done.steps["refused"] += 1
            continue
        service.submit(laboratory, pid, "decision_laboratoire", {"decision": "granted"})
        done.steps["granted"] += 1
        if draw.random() < 0.05:
            continue  # granted, not yet initiated
        day = today.isoformat()
        service.submit(prescriber, pid, "initiation", {"date_debut": day, "posologie": 20, "score_alsfrs": score})
        done.steps["initiation"] += 1
        if done.example_case is None:
            done.example_case = (pid, str(case.code))
        for _ in range(draw.randint(1, 3)):
            score = max(0, score - draw.randint(0, 2))
            weight = round(weight + draw.uniform(-1.5, 1), 1)
            visit = {"date_visite": day, "poids": weight, "score_alsfrs": score, "observance": "complete"}
            service.submit(prescriber, pid, "suivi", visit)
            done.steps["follow_up"] += 1
        if draw.random() < 0.3:
            effect = {"effet": draw.choice(EFFECTS), "date_survenue": day, "grave": draw.random() < 0.1}
            service.submit(prescriber, pid, "effet_indesirable", effect)
            done.steps["adverse_effect"] += 1
        if draw.random() < 0.05:
            related = {"lien": draw.choice(("partenaire", "descendant")), "effet": draw.choice(EFFECTS)}
            service.submit(prescriber, pid, "personne_liee", related)
            done.steps["related_person"] += 1
        if draw.random() < 0.2:
            service.submit(prescriber, pid, "arret", {"date_arret": day, "motif_arret": draw.choice(STOPS)})
            done.steps["stop"] += 1
    done.period = (date(today.year, 1, 1), today)
    report = build(service, laboratory, PROGRAMME, *done.period, DEFAULT_THRESHOLD)
    folder = directory / REPORTS
    folder.mkdir(exist_ok=True)
    stem = folder / f"rapport-synthese-{PROGRAMME}-{today:%Y-%m-%d}"
    write_document(stem.with_suffix(".html"), html=report.html())
    write_document(stem.with_suffix(".json"), data=report.as_dict())
    write_atomic(stem.with_suffix(".csv"), report.csv())
    done.report_files = [stem.with_suffix(s) for s in (".html", ".json", ".csv")]
    events.record(service, laboratory, PROGRAMME, "summary_report_approved", service.records.identity.now())
    return done
