"""The bundled sample code sets a form's coded fields draw from (MedDRA, ATC, ICD-10).

The sets are small samples (``data/codes.yaml``), enough for the example programme and the tests; an
organisation with a licence for the full terminologies replaces the file. A code outside the set is refused.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import yaml

CodeSystemName = Literal["meddra", "atc", "icd10"]
SYSTEM_URLS: dict[str, str] = {
    "meddra": "https://www.meddra.org",
    "atc": "http://www.whocc.no/atc",
    "icd10": "http://hl7.org/fhir/sid/icd-10",
}
SYSTEM_NAMES = {"meddra": "MedDRA (preferred terms)", "atc": "ATC", "icd10": "ICD-10 (CIM-10)"}


@cache
def code_set(system: str) -> dict[str, str]:
    """code → French display of one bundled code system."""
    text = resources.files("santegarde.compassionate").joinpath("data/codes.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return {str(code): str(label) for code, label in data[system].items()}
