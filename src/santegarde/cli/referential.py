"""santegarde referential list | show | diff."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from santegarde.cli.common import ReportJson, console, friendly_errors, show_table
from santegarde.referentials import loader
from santegarde.referentials.diff import diff as diff_referentials
from santegarde.referentials.model import Access, Phase, Purpose, Referential

app = typer.Typer(help="The CNIL référentiels shipped as data: list, show and compare them.", no_args_is_help=True)


@app.command("list")
@friendly_errors
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON, for scripts")] = False,
) -> None:
    """List the référentiels santegarde knows."""
    refs = list(loader.load_all().values())
    if as_json:
        fields = ("id", "deliberation", "adopted", "status", "organisation_profile", "title")
        print(json.dumps([{f: str(getattr(r, f)) for f in fields} for r in refs], ensure_ascii=False, indent=2))
        return
    table = Table(title=None)
    table.add_column("id", no_wrap=True, min_width=max(len(r.id) for r in refs))  # an id is never cut
    for column in ("deliberation", "adopted", "status", "profile", "title"):
        table.add_column(column)
    for ref in refs:
        table.add_row(ref.id, ref.deliberation, str(ref.adopted), ref.status, ref.organisation_profile, ref.title)
    show_table(table)


def _in_section(section: str, wanted: str | None) -> bool:
    return wanted is None or section == wanted or section.startswith(wanted + ".")


def _legal(ref: Referential, pid: str) -> str:
    purpose = ref.purpose(pid)
    assert purpose is not None
    bases = " or ".join(f"{b.art6}{' + art. ' + b.art9 if b.art9 else ''}" for b in purpose.legal_bases)
    return bases + (f" (controller choice: {purpose.legal_basis_choice})" if purpose.legal_basis_choice else "")


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    if rows:
        table = Table(*columns, title=title)
        for row in rows:
            table.add_row(*row)
        show_table(table)


def _access_line(x: Access) -> str:
    text = f"{'/'.join(x.operations)} {', '.join(x.categories)}"
    text += f" for {', '.join(x.purposes)}" if x.purposes else ""
    return text + f" [{x.granularity}]" + (f" — {x.condition}" if x.condition else "")


def referential_document(ref: Referential, section: str | None) -> dict[str, Any]:
    """What ``show --json`` prints: the référentiel as its data file holds it (ids, rules, legal articles, sections),
    with ``--section``, only the items citing that section."""
    if section and not any(_in_section(s.number, section) for s in ref.sections):
        known = ", ".join(s.number for s in ref.sections)
        raise typer.BadParameter(f"{ref.id} has no section '{section}'; its sections are: {known}")
    document: dict[str, Any] = ref.model_dump(mode="json")
    for key, value in document.items():
        if isinstance(value, list) and value and all(isinstance(i, dict) and "section" in i for i in value):
            document[key] = [i for i in value if _in_section(str(i["section"]), section)]
    return document


def show_referential(ref: Referential, section: str | None) -> None:
    console.print(
        f"[bold]{ref.title}[/]\n{ref.id} · deliberation {ref.deliberation} · adopted {ref.adopted} · "
        f"{ref.status} · {ref.language} · for {ref.organisation_profile}s"
    )
    if section and not any(_in_section(s.number, section) for s in ref.sections):
        known = ", ".join(s.number for s in ref.sections)
        raise typer.BadParameter(f"{ref.id} has no section '{section}'; its sections are: {known}")

    def keep(items: list[Any]) -> list[Any]:
        return [i for i in items if _in_section(i.section, section)]

    def flag(p: Purpose) -> str:
        return " [red](forbidden)[/]" if p.forbidden else " (out of scope)" if p.out_of_scope else ""

    _table(
        "Purposes",
        ("purpose", "legal basis", "categories", "§"),
        [
            (f"{p.id}{flag(p)}\n{p.name}", _legal(ref, p.id), ", ".join(p.categories), p.section)
            for p in keep(ref.purposes)
        ],
    )
    _table(
        "Data categories",
        ("category", "kind", "sensitivity", "condition", "§"),
        [
            (
                f"{c.id}\n{c.name}",
                c.kind,
                c.sensitivity,
                ("[red]forbidden[/] " if c.forbidden else "")
                + ("consent; " if c.requires_consent else "")
                + (c.condition or ""),
                c.section,
            )
            for c in keep(ref.categories)
        ],
    )
    _table(
        "Accessors (deny by default)",
        ("profile", "may", "§"),
        [
            (
                f"{a.id}\n{a.name}" + ("\n(no health data)" if not a.health_data else ""),
                "\n".join(_access_line(x) for x in a.access) or "nothing",
                a.section,
            )
            for a in keep(ref.accessors)
        ],
    )
    _table(
        "Recipients",
        ("recipient", "receives", "§"),
        [
            (f"{r.id}\n{r.name}", ", ".join(r.categories) + (f"\n{r.condition}" if r.condition else ""), r.section)
            for r in keep(ref.recipients)
        ],
    )
    _table(
        "Retention",
        ("rule", "active", "archive", "then", "§"),
        [
            (
                # the legal article, where the text gives it
                f"{r.id}\n{r.name}" + (f"\n({escape(r.note)})" if r.note else ""),
                _phase(r.active),
                _phase(r.archive) if r.archive else "—",
                r.end_action,
                r.section,
            )
            for r in keep(ref.retention)
        ],
    )
    _table(
        "Rights",
        ("right", "applies", "to", "why / how", "§"),
        [
            (
                r.right,
                "yes" if r.applies else "[red]no[/]",
                ", ".join(r.purposes) or "every purpose",
                r.reason or "",
                r.section,
            )
            for r in keep(ref.rights)
        ],
    )
    _table(
        "Security measures",
        ("code", "measure", "area", "for", "§"),
        [(m.code, m.title, m.area, m.audience, m.section) for m in keep(ref.measures)],
    )
    for name, trig in (("DPIA", ref.dpia), ("DPO", ref.dpo)):
        if _in_section(trig.section, section):
            conds = "; ".join(c.description for c in trig.conditions)
            console.print(f"{name}: {trig.required}{' — ' + conds if conds else ''} (§{trig.section})")
    _table(
        "Left to the controller",
        ("choice", "question", "kind", "§"),
        [
            (c.id, c.question, c.kind + (f": {', '.join(c.options)}" if c.options else ""), c.section)
            for c in keep(ref.choices)
        ],
    )


def _phase(phase: Phase) -> str:
    length = (
        phase.duration.human()
        if phase.duration
        else (f"until {phase.until_event}" if phase.until_event else "set by the controller")
    )
    bounds = []
    if phase.min_duration:
        bounds.append(f"at least {phase.min_duration.human()}")
    if phase.max_duration:
        bounds.append(f"at most {phase.max_duration.human()}")
    return f"{length} from {phase.start_event}" + (f" ({', '.join(bounds)})" if bounds else "")


@app.command()
@friendly_errors
def show(
    ref_id: Annotated[str, typer.Argument(metavar="ID", help="Référentiel id, e.g. pha-2022-067")],
    section: Annotated[str | None, typer.Option("--section", "-s", help="Only the items citing this section")] = None,
    as_json: ReportJson = False,
) -> None:
    """Show a référentiel: purposes, data, access, retention, rights, measures, DPIA/DPO, choices."""
    if as_json:
        print(json.dumps(referential_document(loader.get(ref_id), section), ensure_ascii=False, indent=2))
        return
    show_referential(loader.get(ref_id), section)


@app.command()
@friendly_errors
def diff(
    first: Annotated[str, typer.Argument(metavar="A", help="First référentiel id")],
    second: Annotated[str, typer.Argument(metavar="B", help="Second référentiel id")],
    text: Annotated[
        bool, typer.Option("--text", help="Compare the wording too, not only what has legal effect")
    ] = False,
    lang: Annotated[str, typer.Option("--lang", help="fr (default) or en")] = "fr",
) -> None:
    """Print what differs between two référentiels (e.g. pra-2020-081-draft pra-2020-081)."""
    from santegarde.governance import doctext, refdiff  # the documents' wording, only for this command

    a, b = loader.get(first), loader.get(second)
    found = refdiff.lines(diff_referentials(a, b, include_text=text), a, b, doctext.check_lang(lang))
    console.print(escape(found[0]), style="bold" if len(found) > 1 else None, soft_wrap=True)
    for line in found[1:]:
        console.print(f"  {escape(line)}", soft_wrap=True)
