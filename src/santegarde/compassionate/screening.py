"""A NIR or an INS anywhere in a submission (§7.2, AAC-5): recognised by shape and key, refused.

Every string and number of the submission is scanned — names, answers, codes — for a run of 13 characters
(S AA MM DD CCC OOO, with 2A/2B for Corsica) followed by its 2-digit key, spaces, dots and hyphens allowed between
groups; a run whose key matches is a NIR (an INS-NIR or INS-NIA has the same shape and key). Its value is never
repeated in the refusal.
"""

from __future__ import annotations

import re
from typing import Any

from santegarde.identifiers import InvalidIdentifier, validate_nir

SEP = r"[ .\-]?"
CANDIDATE = re.compile(
    rf"(?<![0-9A-Za-z])[1-478]{SEP}[0-9]{{2}}{SEP}[0-9]{{2}}{SEP}(?:[0-9]{{2}}|2[AaBb]){SEP}[0-9]{{3}}{SEP}"
    rf"[0-9]{{3}}{SEP}[0-9]{{2}}(?![0-9])"
)


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [found for key, inner in value.items() for found in _strings(inner, f"{path}.{key}" if path else key)]
    if isinstance(value, list | tuple):
        return [found for i, inner in enumerate(value) for found in _strings(inner, f"{path}[{i}]")]
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [(path, str(value))]
    return []


def nir_fields(submission: Any) -> list[str]:
    """The paths of the submission's values that hold a valid NIR or INS (shape and key)."""
    found = []
    for path, text in _strings(submission, ""):
        for match in CANDIDATE.finditer(text):
            try:
                validate_nir(re.sub(r"[ .\-]", "", match.group(0)))
            except InvalidIdentifier:
                continue
            found.append(path)
            break
    return found
