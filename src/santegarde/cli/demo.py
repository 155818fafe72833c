"""santegarde demo — the main job on the embedded default: a demo organisation on SQLite."""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from santegarde.cli.common import LangOption, ReportJson, console, friendly_errors
from santegarde.demo import DemoReport, run_demo
from santegarde.errors import WordedError
from santegarde.governance import doctext, vocabulary
from santegarde.refusals import sentences

if TYPE_CHECKING:
    from santegarde.compassionate.demo import CompassionateDemo
from santegarde.policy import dpia_required, dpo_required
from santegarde.private import owner_only_umask
from santegarde.referentials.model import OrganisationProfile
from santegarde.runtime import PASSPHRASE_ENV


def _check_port(port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: a closing port is free
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise WordedError(sentences("demo", "busy_port", port=port, other=port + 1)) from None


# The workflow's steps the compassionate demo counts (their names: documents_text.yaml, cli.demo.steps).
STEPS = (
    "access_request",
    "granted",
    "refused",
    "initiation",
    "follow_up",
    "adverse_effect",
    "related_person",
    "stop",
)


def _print_compassionate(done: CompassionateDemo, config: Path, said: dict[str, Any]) -> None:
    """Where to look: the programme, the workflow's steps, the report written and approved, commands to try."""
    table = Table(said["step"], said["count"], title=said["programme_title"])
    for step in STEPS:
        table.add_row(said["steps"][step], str(done.steps[step]))
    console.print(table)
    for path in done.report_files:
        console.print(said["report_file"].format(path=path), soft_wrap=True, markup=False)
    console.print(said["approved"], markup=False)
    console.print(said["try"].format(config=config), soft_wrap=True, markup=False)
    if done.example_case is not None:
        pid, code = done.example_case
        console.print(said["case"].format(code=code, pid=pid, config=config), soft_wrap=True, markup=False)


def demo_document(report: DemoReport, profile: str, generated_passphrase: str | None) -> dict[str, Any]:
    """What ``demo --json`` prints: the facts of the human output (what was written and refused, the DPIA and DPO
    decisions, where the configuration is, the demo account and a patient to try), under stable English keys."""
    ref, done = report.referential, report.compassionate
    return {
        "profile": profile,
        "referential": {"id": ref.id, "title": ref.title},
        "stored": dict(sorted(report.stored.items())),
        "refused": dict(sorted(report.refused.items())),
        "compassionate": (
            {
                "steps": {step: done.steps[step] for step in STEPS},
                "report_files": [str(p) for p in done.report_files],
                "example_case": {"patient": done.example_case[0], "code": done.example_case[1]}
                if done.example_case
                else None,
            }
            if done is not None
            else None
        ),
        "decisions": {
            name: {
                "required": d.required,
                "section": d.section,
                "reason": d.reason,
                "missing_facts": list(d.missing_facts),
            }
            for name, d in (("dpia", dpia_required(ref, {})), ("dpo", dpo_required(ref, {})))
        },
        "config": str(report.config_path),
        "passphrase": generated_passphrase,  # None when taken from the environment (never printed back)
        "account": {"login": report.login, "password": report.password, "totp_secret": report.totp_secret},
        "example_patient": (
            {"id": report.example_patient[0], "family": report.example_patient[1]} if report.example_patient else None
        ),
    }


@friendly_errors
def demo(
    profile: Annotated[
        OrganisationProfile, typer.Option("--profile", "-p", help="Kind of organisation")
    ] = OrganisationProfile.PRACTICE,
    directory: Annotated[Path, typer.Option("--dir", "-d", help="Where to create the demo organisation")] = Path(
        "demo-org"
    ),
    patients: Annotated[
        int | None, typer.Option(help="Number of fictitious patients (default 50; 200 for compassionate)")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data (same seed, same data)")] = 2026,
    serve: Annotated[bool, typer.Option(help="Then serve the demo organisation's API until interrupted")] = False,
    port: Annotated[int, typer.Option(help="Port of the API with --serve")] = 8000,
    force: Annotated[bool, typer.Option("--force", help="Replace the demo already in --dir")] = False,
    as_json: ReportJson = False,
    lang: LangOption = "fr",
) -> None:
    """Set up a demo organisation on SQLite and fill it with synthetic data, through the one request path."""
    said = doctext.words(doctext.check_lang(lang))["cli"]["demo"]
    if serve:
        _check_port(port)  # before anything is built
    owner_only_umask()
    passphrase = os.environ.get(PASSPHRASE_ENV) or secrets.token_urlsafe(24)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:

        def track(items: Iterable[Any], total: int) -> Iterator[Any]:
            task = bar.add_task(said["progress"], total=total)
            for item in items:
                yield item
                bar.advance(task)

        if patients is None:
            patients = 200 if profile is OrganisationProfile.COMPASSIONATE else 50
        report = run_demo(directory, profile.value, patients, seed, passphrase, progress=track, force=force)
    if as_json:
        generated = None if os.environ.get(PASSPHRASE_ENV) else passphrase
        print(json.dumps(demo_document(report, profile.value, generated), ensure_ascii=False, indent=2))
    else:
        _print_demo(report, profile, passphrase, port, lang)
    if serve:
        from santegarde.cli.serve import serve as serve_api  # the web server only when asked for

        os.environ[PASSPHRASE_ENV] = passphrase
        serve_api(config=report.config_path, port=port, dev=True)  # the demo listens on 127.0.0.1 only


def _print_demo(report: DemoReport, profile: OrganisationProfile, passphrase: str, port: int, lang: str) -> None:
    """The demo's report for a person, in ``lang``: what was written, the decisions, where to look, how to log in."""
    ref, said = report.referential, doctext.words(lang)["cli"]["demo"]
    title = vocabulary.label(ref, "referential", ref.id, lang)
    console.print(said["set_up"].format(profile=profile.value, rid=ref.id, title=title), soft_wrap=True, markup=False)
    if report.compassionate is not None:
        _print_compassionate(report.compassionate, report.config_path, said)
    else:
        table = Table(said["resource"], said["stored"], title=said["table_title"])
        for resource_type, n in sorted(report.stored.items()):
            table.add_row(resource_type, str(n))
        console.print(table)
    for reason, n in sorted(report.refused.items()):
        shown = reason if lang == "en" else report.refused_fr.get(reason, reason)
        console.print(f"[yellow]{escape(said['refused'].format(n=n))}[/] {escape(shown)}", soft_wrap=True)
    for decision, rule in ((dpia_required(ref, {}), ref.dpia), (dpo_required(ref, {}), ref.dpo)):
        console.print(doctext.trigger(decision, rule, lang), soft_wrap=True, markup=False)
    path = report.config_path
    console.print(
        "\n" + said["configuration"].format(path=path) + "\n" + said["next"].format(path=path),
        soft_wrap=True,
        markup=False,
    )
    if not os.environ.get(PASSPHRASE_ENV):
        console.print(
            said["passphrase"].format(env=PASSPHRASE_ENV, passphrase=passphrase), soft_wrap=True, markup=False
        )
    account = said["account"].format(login=report.login, password=report.password, secret=report.totp_secret)
    console.print(account, soft_wrap=True, markup=False)
    if report.example_patient is not None:
        pid, family = report.example_patient
        console.print(
            said["patient"].format(pid=pid, family=family, port=port, prefix=family[:3]), soft_wrap=True, markup=False
        )
