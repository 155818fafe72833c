"""The risks of a DPIA by the CNIL method (COM-DPIA-1): feared events, severity, likelihood, Art. 36.

For each feared event of ``data/dpia_risks.yaml`` (illegitimate access, unwanted modification,
disappearance): its impacts, threats and risk sources, the measures of the référentiel that address it,
and a severity and a likelihood on the CNIL's four-level scale. A level is *proposed* only where the
référentiel and the measures' statuses allow (see the rules in the YAML file); otherwise it is left
to assess (level None). The Art. 36 decision follows: prior consultation of the CNIL when a residual
risk stays high (severity and likelihood both significant or maximum), undecided while a level is
missing.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

DONE = frozenset({"implemented", "equivalent", "not_necessary"})
HIGH = 3  # "importante": from this level on both axes, the residual risk is high (GDPR art. 36.1)

_TEXT = {
    "fr": {
        "severity_special": "Proposée : {level} — le traitement porte sur des données de santé ou d'autres "
        "catégories particulières (art. 9 RGPD) ; à confirmer par le responsable du traitement.",
        "severity_open": "À évaluer par le responsable du traitement : le traitement ne porte pas sur des "
        "catégories particulières de données (art. 9 RGPD).",
        "likelihood_done": "Proposée : {level} — les {count} mesures obligatoires qui traitent ce risque sont "
        "mises en œuvre ; à confirmer par le responsable du traitement.",
        "likelihood_open": "À évaluer : {count} mesure(s) qui traitent ce risque n'ont pas de statut ou ne "
        "sont pas mises en œuvre ; la vraisemblance dépend de leur mise en œuvre.",
        "to_assess": "à évaluer",
        "art36_pending": "À décider : la gravité ou la vraisemblance d'au moins un risque reste à évaluer. "
        "Si un risque résiduel demeure élevé (gravité et vraisemblance importantes ou maximales), le "
        "responsable du traitement consulte la CNIL avant de mettre en œuvre le traitement (art. 36 RGPD).",
        "art36_required": "Consultation préalable de la CNIL requise (art. 36 RGPD) : le risque résiduel "
        "« {risks} » reste élevé malgré les mesures prévues.",
        "art36_not_required": "Consultation préalable de la CNIL non requise (art. 36 RGPD) : aucun risque "
        "résiduel n'est élevé compte tenu des mesures mises en œuvre.",
    },
    "en": {
        "severity_special": "Proposed: {level} — the processing includes health data or other special "
        "categories (GDPR art. 9); to be confirmed by the controller.",
        "severity_open": "To be assessed by the controller: the processing includes no special category of "
        "data (GDPR art. 9).",
        "likelihood_done": "Proposed: {level} — the {count} mandatory measures addressing this risk are "
        "implemented; to be confirmed by the controller.",
        "likelihood_open": "To be assessed: {count} measure(s) addressing this risk have no status or are not "
        "implemented; the likelihood depends on them.",
        "to_assess": "to be assessed",
        "art36_pending": "To be decided: the severity or the likelihood of at least one risk is still to be "
        "assessed. If a residual risk stays high (severity and likelihood significant or maximum), the "
        "controller consults the CNIL before carrying out the processing (GDPR art. 36).",
        "art36_required": "Prior consultation of the CNIL required (GDPR art. 36): the residual risk "
        "“{risks}” stays high despite the measures planned.",
        "art36_not_required": "Prior consultation of the CNIL not required (GDPR art. 36): no residual risk "
        "is high given the measures implemented.",
    },
}


@cache
def definitions() -> dict[str, Any]:
    """The feared events, scales and proposal rules (governance/data/dpia_risks.yaml)."""
    text = (resources.files("santegarde.governance") / "data" / "dpia_risks.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _level(level: int | None, text: str, lang: str) -> dict[str, Any]:
    label = definitions()["scale"][lang][level] if level else _TEXT[lang]["to_assess"]
    return {"level": level, "label": label, "text": text}


def assess(measures: list[dict[str, Any]], special_data: bool, lang: str) -> list[dict[str, Any]]:
    """Each feared event with its impacts, threats, sources, measures, severity and likelihood.

    ``measures`` are the DPIA's measure dicts (code, area, mandatory, status); ``special_data`` says
    whether the processing includes special-category data.
    """
    spec = definitions()
    text = _TEXT[lang]
    mapped = {area for risk in spec["risks"] for area in risk["areas"]}
    out = []
    for risk in spec["risks"]:
        addressing = [m for m in measures if m["area"] in risk["areas"] or m["area"] not in mapped]
        areas: dict[str, list[dict[str, Any]]] = {}
        for m in addressing:
            areas.setdefault(m["area"], []).append(m)
        if special_data:
            level = spec["severity"]["special"]
            severity = _level(level, text["severity_special"].format(level=spec["scale"][lang][level]), lang)
        else:
            severity = _level(None, text["severity_open"], lang)
        mandatory = [m for m in addressing if m["mandatory"]]
        open_ = [m for m in mandatory if m["status"] not in DONE]
        if mandatory and not open_:
            level = spec["likelihood"]["all_done"]
            likelihood = _level(
                level, text["likelihood_done"].format(level=spec["scale"][lang][level], count=len(mandatory)), lang
            )
        else:
            likelihood = _level(None, text["likelihood_open"].format(count=len(open_)), lang)
        out.append(
            {
                "id": risk["id"],
                "title": risk["title"][lang],
                "pia_section": risk["pia_section"],
                "impacts": list(risk["impacts"][lang]),
                "threats": list(risk["threats"][lang]),
                "sources": list(risk["sources"][lang]),
                "measure_codes": [m["code"] for m in addressing],
                "areas": [
                    {"area": a, "measures": ms}
                    for a, ms in sorted(areas.items(), key=lambda item: str(item[1][0].get("theme", item[0])))
                ],
                "severity": severity,
                "likelihood": likelihood,
            }
        )
    return out


def prior_consultation(risks: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    """The Art. 36 decision: required, not required, or undecided (None) while a level is missing."""
    text = _TEXT[lang]
    high = [
        r["title"] for r in risks if (r["severity"]["level"] or 0) >= HIGH and (r["likelihood"]["level"] or 0) >= HIGH
    ]
    if high:
        return {"required": True, "text": text["art36_required"].format(risks=", ".join(high))}
    if any(r["severity"]["level"] is None or r["likelihood"]["level"] is None for r in risks):
        return {"required": None, "text": text["art36_pending"]}
    return {"required": False, "text": text["art36_not_required"]}
