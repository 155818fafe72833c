"""Load référentiel files and report errors that name the file, the path inside it and the fix."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from santegarde import refusals
from santegarde.errors import SantegardeError, WordedError
from santegarde.referentials.model import Referential


class ReferentialError(SantegardeError):
    """A référentiel file cannot be used; the message names the file, the place and the problem."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path} is not a valid référentiel file:\n{listing}")


def location(loc: tuple[int | str, ...]) -> str:
    """pydantic's location of an error as a path in the file ("purposes[2].legal_bases"); "" at the top level."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def format_validation_error(error: ValidationError) -> list[str]:
    """Turn pydantic's errors into sentences: 'at purposes[2].legal_bases: ...'."""
    problems = []
    for err in error.errors():
        where = location(tuple(p for p in err["loc"] if not str(p).startswith("function-"))) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "this key is not part of the référentiel format; remove it or fix its spelling"
        elif err["type"] == "missing":
            msg = "this key is required; add it"
        problems.append(f"at {where}: {msg}")
    return problems


def parse_referential(text: str, path: str) -> Referential:
    """Parse YAML text into a validated Referential; ``path`` is only used in error messages."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise ReferentialError(path, [f"at {where}: the YAML cannot be read ({getattr(exc, 'problem', exc)})"]) from exc
    if not isinstance(raw, dict):
        raise ReferentialError(path, ["at (top level): expected a mapping of keys such as id, purposes, categories"])
    try:
        return Referential.model_validate(raw)
    except ValidationError as exc:
        raise ReferentialError(path, format_validation_error(exc)) from exc


def load_file(path: Path) -> Referential:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReferentialError(str(path), [f"the file cannot be read ({exc.strerror})"]) from exc
    return parse_referential(text, str(path))


@cache
def load_all() -> dict[str, Referential]:
    """Every référentiel shipped with the package, keyed by id."""
    found: dict[str, Referential] = {}
    data = resources.files("santegarde.referentials") / "data"
    for entry in sorted(data.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            ref = parse_referential(entry.read_text(encoding="utf-8"), f"santegarde/referentials/data/{entry.name}")
            if ref.id in found:
                raise ReferentialError(entry.name, [f"at id: '{ref.id}' is already used by another file"])
            found[ref.id] = ref
    return found


class UnknownReferential(WordedError, LookupError):
    """No référentiel has this id (French by default, English as the option)."""

    def __init__(self, ref_id: str, known: list[str]) -> None:
        self.ref_id = ref_id
        super().__init__(refusals.sentences("referentials", "unknown", ref=ref_id, known=", ".join(known)))


def get(ref_id: str) -> Referential:
    refs = load_all()
    if ref_id not in refs:
        raise UnknownReferential(ref_id, sorted(refs))
    return refs[ref_id]


def for_profile(profile: str) -> Referential:
    """The final référentiel that applies to an organisation profile (practice, pharmacy, …)."""
    for ref in load_all().values():
        if ref.organisation_profile == profile and ref.status == "final":
            return ref
    raise UnknownReferential(profile, sorted(load_all()))
