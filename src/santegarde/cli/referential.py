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
from santegarde.referentials.model import Access, Phase, Purpose, Referential, Threshold

app = typer.Typer(help="The CNIL référentiels shipped as data: list, show and compare them.", no_args_is_help=True)


OPERATORS = {">": ">", ">=": "≥", "<": "<", "<=": "≤", "==": "="}
LangOption = Annotated[str, typer.Option("--lang", help="fr (default) or en")]


def _words(lang: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The documents' words and the référentiel desk's, in ``lang`` (documents_text.yaml)."""
    from santegarde.governance import doctext  # the documents' wording, only for the commands that print it

    words: dict[str, Any] = doctext.words(doctext.check_lang(lang))
    return words, words["referential_desk"]


@app.command("list")
@friendly_errors
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON, for scripts")] = False,
    lang: LangOption = "fr",
) -> None:
    """List the référentiels santegarde knows."""
    refs = list(loader.load_all().values())
    if as_json:
        fields = ("id", "deliberation", "adopted", "status", "organisation_profile", "title")
        print(json.dumps([{f: str(getattr(r, f)) for f in fields} for r in refs], ensure_ascii=False, indent=2))
        return
    from santegarde.governance import vocabulary

    _, said = _words(lang)
    columns = said["list_columns"]
    table = Table(title=None)
    table.add_column(columns[0], no_wrap=True, min_width=max(len(r.id) for r in refs))  # an id is never cut
    for column in columns[1:]:
        table.add_column(column)
    for ref in refs:
        table.add_row(
            ref.id, vocabulary.label(ref, "deliberation", ref.id, lang), _date(ref.adopted, lang),
            said["status"][ref.status], said["profiles"][ref.organisation_profile],
            vocabulary.label(ref, "referential", ref.id, lang),
        )  # fmt: skip
    show_table(table)


def _date(day: Any, lang: str) -> str:
    return day.strftime("%d/%m/%Y") if lang == "fr" else str(day)


def citation(note: str) -> bool:
    """A note that only cites the law ("art. R. 5132-35 CSP") reads the same in every language."""
    return note.startswith("art. ") and len(note) < 40


def _in_section(section: str, wanted: str | None) -> bool:
    return wanted is None or section == wanted or section.startswith(wanted + ".")


def _table(head: list[str], rows: list[tuple[str, ...]]) -> None:
    if rows:
        table = Table(*head[1:], title=head[0])
        for row in rows:
            table.add_row(*row)
        show_table(table)


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


def show_referential(ref: Referential, section: str | None, lang: str = "fr") -> None:
    """Every part of ``ref`` (or of one section), items by their names in ``lang`` beside the codes a
    configuration uses; the référentiel's own sentences (conditions, reasons) only in the language it is written in."""
    from santegarde.governance import doctext, vocabulary

    words, said = _words(lang)
    own = ref.language == lang  # the référentiel's free text is shown in its own language only

    def name(kind: str, item: str) -> str:
        return vocabulary.label(ref, kind, item, lang)

    def named(kind: str, item: str, extra: str = "") -> str:
        return f"{escape(name(kind, item))}{extra}\n[dim]{said['code'].format(id=item)}[/]"

    def names(kind: str, items: list[str]) -> str:
        return ", ".join(name(kind, i) for i in items)

    console.print(f"[bold]{escape(name('referential', ref.id))}[/]")
    console.print(
        said["header"].format(
            id=ref.id, deliberation=name("deliberation", ref.id), adopted=_date(ref.adopted, lang),
            status=said["status"][ref.status], profile=said["profiles"][ref.organisation_profile],
        ),
        markup=False,
    )  # fmt: skip
    if section and not any(_in_section(s.number, section) for s in ref.sections):
        known = ", ".join(s.number for s in ref.sections)
        raise typer.BadParameter(said["no_section"].format(rid=ref.id, section=section, known=known))

    def keep(items: list[Any]) -> list[Any]:
        return [i for i in items if _in_section(i.section, section)]

    def flag(p: Purpose) -> str:
        if p.forbidden:
            return f" [red]({words['forbidden']})[/]"
        return f" ({words['out_of_scope']})" if p.out_of_scope else ""

    def legal(p: Purpose) -> str:
        bases = said["or"].join(
            words["art6"][b.art6] + (f" + {words['art9'][b.art9]}" if b.art9 else "") for b in p.legal_bases
        )
        if not p.legal_basis_choice:
            return bases
        return bases + said["controller_choice"].format(choice=name("choice", p.legal_basis_choice))

    def access(x: Access) -> str:
        operations = "/".join(words["policy_desk"]["operations"][o] for o in x.operations)
        text = f"{operations} : " if lang == "fr" else f"{operations}: "
        text += names("category", x.categories)
        text += said["for_purposes"].format(purposes=names("purpose", x.purposes)) if x.purposes else ""
        text += f" [{said['granularity'][x.granularity]}]"
        return escape(text) + (f" — {escape(x.condition)}" if x.condition and own else "")

    def phase(p: Phase) -> str:
        if p.duration:
            length = vocabulary.duration(p.duration, lang)
        elif p.until_event:
            length = str(words["until"]).format(event=name("event", p.until_event))
        else:
            length = str(words["set_by_controller"])
        bounds = [str(words["at_least"]).format(d=vocabulary.duration(p.min_duration, lang))] if p.min_duration else []
        if p.max_duration:
            bounds.append(str(words["at_most"]).format(d=vocabulary.duration(p.max_duration, lang)))
        text = f"{length} {vocabulary.since(ref, p.start_event, lang)}"
        return escape(text + (f" ({', '.join(bounds)})" if bounds else ""))

    def condition(c: Threshold) -> str:
        """A trigger's condition: the fact by its name, compared ("Nombre de patients suivis par an ≥ 10 000")."""
        fact = doctext.setting(f"facts.{c.fact}", ref, lang)
        fact = fact[:1].lower() + fact[1:]  # inside the sentence
        if c.op == "is_true":
            return fact
        value = c.value if not isinstance(c.value, float) or not c.value.is_integer() else int(c.value)
        shown = f"{value:,}".replace(",", "\u202f" if lang == "fr" else ",") if isinstance(value, int) else str(value)
        return f"{fact} {OPERATORS[c.op]} {shown}"

    _table(said["purposes"], [
        (named("purpose", p.id, flag(p)), escape(legal(p)), escape(names("category", p.categories)), p.section)
        for p in keep(ref.purposes)
    ])  # fmt: skip
    _table(said["categories"], [
        (named("category", c.id), said["sensitivity"][c.sensitivity],
         (f"[red]{words['forbidden']}[/] " if c.forbidden else "") + (said["consent"] if c.requires_consent else "")
         + (escape(c.condition) if c.condition and own else ""), c.section)
        for c in keep(ref.categories)
    ])  # fmt: skip
    _table(said["accessors"], [
        (named("accessor", a.id, "" if a.health_data else f"\n{said['no_health_data']}"),
         "\n".join(access(x) for x in a.access) or said["nothing"], a.section)
        for a in keep(ref.accessors)
    ])  # fmt: skip
    _table(said["recipients"], [
        (named("recipient", r.id), escape(names("category", r.categories))
         + (f"\n{escape(r.condition)}" if r.condition and own else ""), r.section)
        for r in keep(ref.recipients)
    ])  # fmt: skip
    _table(said["retention"], [
        # the legal article, where the text gives it
        (named("retention", r.id) + (f"\n({escape(r.note)})" if r.note and (own or citation(r.note)) else ""),
         phase(r.active), phase(r.archive) if r.archive else "—", words["end_action"][r.end_action], r.section)
        for r in keep(ref.retention)
    ])  # fmt: skip
    _table(said["rights"], [
        (words["rights"][r.right], words["yes"] if r.applies else f"[red]{words['no']}[/]",
         escape(names("purpose", r.purposes)) or said["every_purpose"], escape(r.reason or "") if own else "",
         r.section)
        for r in keep(ref.rights)
    ])  # fmt: skip
    _table(said["measures"], [
        (m.code, escape(doctext.measure_title(m, ref, lang)), m.section) for m in keep(ref.measures)
    ])  # fmt: skip
    for key, trig in (("DPIA", ref.dpia), ("DPO", ref.dpo)):
        if _in_section(trig.section, section):
            conds = said["and"].join(condition(c) for c in trig.conditions)
            line = said["trigger"].format(
                name=said["triggers"][key], required=said["required"][trig.required],
                conditions=f" {conds}" if conds else "", section=trig.section,
            )  # fmt: skip
            console.print(line, markup=False, soft_wrap=True)
    _table(said["choices"], [(named("choice", c.id), c.section) for c in keep(ref.choices)])


@app.command()
@friendly_errors
def show(
    ref_id: Annotated[str, typer.Argument(metavar="ID", help="Référentiel id, e.g. pha-2022-067")],
    section: Annotated[str | None, typer.Option("--section", "-s", help="Only the items citing this section")] = None,
    lang: LangOption = "fr",
    as_json: ReportJson = False,
) -> None:
    """Show a référentiel: purposes, data, access, retention, rights, measures, DPIA/DPO, choices."""
    if as_json:
        print(json.dumps(referential_document(loader.get(ref_id), section), ensure_ascii=False, indent=2))
        return
    show_referential(loader.get(ref_id), section, lang)


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
