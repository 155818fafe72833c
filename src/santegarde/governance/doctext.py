"""The fixed wording of the documents (register, DPIA, conformity report, breach drafts) in French or English.

``words(lang)`` is ``data/documents_text.yaml`` for a language; ``security_area`` the theme of a measure
(``data/security_areas.yaml``); ``trigger`` says in words whether a DPIA or a DPO is required. The names
of référentiel items come from the vocabulary (``wording``), never from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from santegarde.config.check import Finding
from santegarde.errors import WordedError
from santegarde.governance import vocabulary
from santegarde.policy.triggers import TriggerDecision
from santegarde.referentials.model import Duration, Measure, Referential, Trigger

LANGS: tuple[str, ...] = ("fr", "en")


class LanguageError(WordedError, ValueError):
    """A document was asked for in a language it is not written in."""


def refusal(key: str, **facts: Any) -> dict[str, str]:
    """A document command's refusal in every language (documents_text.yaml, errors), for a ``WordedError``."""
    return {lang: str(_texts()[lang]["errors"][key]).format(**facts) for lang in LANGS}


def _yaml(name: str) -> dict[str, Any]:
    text = resources.files("santegarde.governance").joinpath(f"data/{name}").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


@cache
def _texts() -> dict[str, Any]:
    return _yaml("documents_text.yaml")


@cache
def _areas() -> dict[str, Any]:
    return _yaml("security_areas.yaml")


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise LanguageError(
            {
                "fr": f"Les documents sont rédigés en français (fr) ou en anglais (en), pas en « {lang} » : choisissez "
                "l'une de ces langues.",
                "en": f"Documents are written in French (fr) or English (en), not '{lang}': choose one of these.",
            }
        )
    return lang


def words(lang: str) -> dict[str, Any]:
    """Every fixed phrase of the register and the DPIA in ``lang``."""
    table: dict[str, Any] = _texts()[check_lang(lang)]
    return table


def security_area(area: str, lang: str) -> dict[str, str]:
    """The title and general description of a theme of security measures."""
    entry = _areas().get(area)
    if entry is None:
        return {"title": area.replace("_", " "), "text": ""}
    found: dict[str, str] = entry[check_lang(lang)]
    return found


def measure_title(measure: Measure, ref: Referential, lang: str) -> str:
    """A measure's title in ``lang``: the vocabulary's French title, or the référentiel's own in English."""
    return vocabulary.label(ref, "measure", measure.code, check_lang(lang))


def measure_text(measure: Measure, ref: Referential, lang: str) -> str:
    """A measure's own text when it is written in the document's language, else "" (its French title says it)."""
    return measure.text if lang == "en" or ref.language == lang else ""


def area_names() -> set[str]:
    return set(_areas())


_VERDICT = {
    "fr": {
        "DPIA": ("Analyse d'impact (AIPD) obligatoire", "Analyse d'impact (AIPD) non obligatoire"),
        "DPO": (
            "Délégué à la protection des données obligatoire",
            "Délégué à la protection des données non obligatoire",
        ),
    },
    "en": {
        "DPIA": ("DPIA required", "DPIA not required"),
        "DPO": ("Data protection officer required", "Data protection officer not required"),
    },
}
_TRIGGER = {
    "fr": {
        "always": "le référentiel {rid} l'exige toujours (§{section})",
        "never": "le référentiel {rid} ne l'exige pas (§{section})",
        "missing": "tant que la configuration ne déclare pas les faits dont dépendent les conditions du §{section}, "
        "elle est tenue pour obligatoire",
        "holds": "toutes les conditions du §{section} sont remplies",
        "fails": "les conditions du §{section} ne sont pas toutes remplies",
    },
    "en": {
        "always": "the référentiel {rid} always requires it (§{section})",
        "never": "the référentiel {rid} does not require it (§{section})",
        "missing": "until the configuration declares the facts the conditions of §{section} depend on, it is taken "
        "as required",
        "holds": "every condition of §{section} holds",
        "fails": "not every condition of §{section} holds",
    },
}


def trigger(decision: TriggerDecision, rule: Trigger, lang: str) -> str:
    """Whether a DPIA or a DPO is required, and why, as a sentence in ``lang``."""
    table = _TRIGGER[check_lang(lang)]
    verdict = _VERDICT[lang][decision.what][0 if decision.required else 1]
    if rule.required in ("always", "never"):
        why = table[rule.required]
    elif decision.missing_facts:
        why = table["missing"]
    else:
        why = table["holds" if decision.required else "fails"]
    colon = words(lang)["colon"]
    return f"{verdict}{colon}{why.format(rid=decision.referential, section=decision.section)}."


@dataclass(frozen=True, slots=True)
class EngineMessage:
    """An anonymity-engine message as a document shows it: its sentence, and whether it is in that language."""

    text: str
    known: bool


@cache
def _engine_messages() -> tuple[tuple[re.Pattern[str], dict[str, str]], ...]:
    entries: list[dict[str, str]] = yaml.safe_load(
        resources.files("santegarde.governance").joinpath("data/engine_messages.yaml").read_text(encoding="utf-8")
    )
    patterns = []
    for entry in entries:
        parts = re.split(r"\{(\w+)\}", entry["en"])  # literal, name, literal, name, …, literal
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
        patterns.append((re.compile(f"^{regex}$", re.DOTALL), entry))
    return tuple(patterns)


def engine_message(text: str, lang: str) -> EngineMessage:
    """The anonymity engine's (English) message in ``lang``: its French sentence when it is listed in
    ``data/engine_messages.yaml``; otherwise the message as it is, to be shown as a technical message."""
    if check_lang(lang) == "en":
        return EngineMessage(text, True)
    for pattern, entry in _engine_messages():
        found = pattern.match(text.strip())
        if found:
            return EngineMessage(entry[lang].format(**found.groupdict()), True)
    return EngineMessage(text, False)


def finding(found: Finding, ref: Referential, lang: str) -> str:
    """A finding of ``config check`` as a sentence in ``lang`` (documents_text.yaml, findings), from its facts:
    référentiel items by their names in the vocabulary, durations as a DPO writes them."""
    t = words(lang)["findings"]
    facts: dict[str, Any] = {"section": found.section or "", **found.facts}
    if "choice" in facts:
        facts["choice_name"] = vocabulary.label(ref, "choice", facts["choice"], lang)
    if "purpose" in facts and ref.purpose(facts["purpose"]) is not None:
        facts["purpose_name"] = vocabulary.label(ref, "purpose", facts["purpose"], lang)
    if kind_of(found) == "no_effect" and facts.get("no_effect") == "legal_basis":
        facts["basis"] = words(lang)["art6"].get(facts["basis"], facts["basis"])
    if "rule" in facts and ref.retention_rule(facts["rule"]) is not None:
        facts["rule_name"] = vocabulary.label(ref, "retention", facts["rule"], lang)
    for key in ("value", "bound"):
        if isinstance(facts.get(key), Duration):
            facts[key] = vocabulary.duration(facts[key], lang)
    kind = found.kind.removeprefix("unjustified_")
    if found.severity == "deviation" or found.kind.startswith("unjustified_"):
        what = _deviation_words(kind, facts, ref, lang)
        return what if found.severity == "deviation" else str(t["unjustified"]).format(what=what, min=facts["min"])
    entry = t[kind]
    if isinstance(entry, dict):
        entry = entry[facts["problem"] if kind == "invalid_choice" else facts["no_effect"]]
    return str(entry).format(**facts)


def setting(subject: str, ref: Referential, lang: str) -> str:
    """A setting or item named by ``config check`` (a gap's or a finding's subject), by its name in ``lang``: the
    vocabulary's name for the référentiel's items, ``documents_text.yaml`` (gaps, settings) for the configuration's
    own settings; a subject of the organisation's own making (an extra category, a formality) as it is."""
    t = words(lang)["gaps"]["settings"]
    if subject in t:
        return str(t[subject])
    head, _, rest = subject.partition(".")
    if head == "deviations" and rest.startswith("legal_basis.") and ref.purpose(rest.split(".", 1)[1]):
        return str(t["legal_basis"]).format(name=vocabulary.label(ref, "purpose", rest.split(".", 1)[1], lang))
    if head == "facts" and rest:
        return str(t["fact"]).format(name=rest)
    item = rest if head == "choices" else subject
    for kind, found in (
        ("choice", ref.choice(item)),
        ("purpose", ref.purpose(item)),
        ("retention", ref.retention_rule(item)),
        ("measure", next((m for m in ref.measures if m.code == item), None)),
    ):
        if found is not None:
            return str(t[kind]).format(name=vocabulary.label(ref, kind, item, lang), code=item)
    if subject == ref.id:
        return str(t["referential"]).format(name=vocabulary.label(ref, "referential", ref.id, lang))
    return subject


def kind_of(found: Finding) -> str:
    """The kind of a finding, whether justified or not (``unjustified_retention`` → ``retention``)."""
    return found.kind.removeprefix("unjustified_")


def _deviation_words(kind: str, facts: dict[str, Any], ref: Referential, lang: str) -> str:
    d = words(lang)["findings"]["deviations"]
    if kind == "retention":
        changes = []
        for part, missing in (("active", d["text_event"]), ("archive", d["no_archive"])):
            if part in facts:
                new, before = facts[part]
                changes.append(
                    str(d[part]).format(
                        new=vocabulary.duration(new, lang),
                        before=vocabulary.duration(before, lang) if before else missing,
                    )
                )
        return str(d["retention"]).format(changes=", ".join(changes), **facts)
    if kind == "legal_basis":
        art6 = words(lang)["art6"]
        art9 = str(d["art9"]).format(art9=facts["art9"]) if facts["art9"] else ""
        facts = {
            **facts,
            "basis": art6.get(facts["basis"], facts["basis"]),
            "before": " / ".join(str(art6.get(b, b)) for b in facts["before"].split(" / ") if b),
        }
        key = "legal_basis" if facts["before"] else "legal_basis_open"
        return str(d[key]).format(**{**facts, "art9": art9})
    if kind == "extra_data":
        purposes = ", ".join(vocabulary.label(ref, "purpose", p, lang) for p in facts["purposes"])
        return str(d["extra_data"]).format(name=facts["name"], purposes=purposes)
    status = words(lang)["conformity"]["statuses"][facts["status"]]
    title = vocabulary.label(ref, "measure", facts["code"], lang)
    return str(d["measure"]).format(code=facts["code"], title=title, status=status)
