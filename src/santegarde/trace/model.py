"""Load the trace file, expand the requirement IDs of REQUIREMENTS.md, check that locations exist.

A location is ``path`` or ``path::name`` relative to the repository root: ``src/santegarde/policy/
decisions.py::decide`` for code, ``tests/test_policy.py::test_secretary_denied_health`` for a test.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from santegarde.errors import SantegardeError
from santegarde.referentials.loader import format_validation_error

# A Python file (optionally ::name inside it), or a data file of the package (a référentiel, a charter).
# deploy/: the operator's guide (deploy/README.md) and anything shipped beside it (any file name there).
Location = Annotated[
    str,
    Field(pattern=r"^((src|tests|bench)/[\w./-]+(\.py(::[\w.\[\]-]+)?|\.yaml|\.md|\.j2)|deploy/[\w./-]+)$"),
]


class TraceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    status: Literal["done", "partial", "planned"]
    code: list[Location] = Field(default_factory=list)
    tests: list[Location] = Field(default_factory=list)
    note: str | None = None


class Trace(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    requirements: list[TraceEntry]

    def ids(self) -> list[str]:
        return [e.id for e in self.requirements]


class TraceError(SantegardeError):
    pass


@cache
def load_trace() -> Trace:
    text = (resources.files("santegarde.trace") / "requirements.yaml").read_text(encoding="utf-8")
    try:
        trace = Trace.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        raise TraceError(
            "santegarde/trace/requirements.yaml is invalid:\n" + "\n".join(format_validation_error(exc))
        ) from exc
    for entry in trace.requirements:
        if entry.status != "planned" and not (entry.code and entry.tests):
            raise TraceError(f"trace entry {entry.id} is '{entry.status}' but lacks code or tests locations")
    return trace


_RANGE = re.compile(r"^(?P<stem>.*-)(?P<first>\d+)(?:\.\.(?P<last>\d+))?$")


def parse_requirement_ids(markdown: str) -> list[str]:
    """Every ID of REQUIREMENTS.md, ranges expanded: 'AAC-SEC-SEN-1..2, AUT-1..5' gives 7 IDs."""
    ids: list[str] = []
    for bold in re.findall(r"^- \*\*(.+?)\*\*", markdown, flags=re.MULTILINE):
        family = ""
        for n, part in enumerate(p.strip() for p in bold.split(",")):
            match = _RANGE.match(part)
            if not match:
                raise ValueError(f"cannot read the requirement ID '{part}' in '{bold}'")
            stem = match["stem"]
            if n == 0:
                family = stem[: stem.index("SEC-") + 4] if "-SEC-" in stem else ""
            else:
                stem = family + stem
            last = int(match["last"] or match["first"])
            ids += [f"{stem}{i}" for i in range(int(match["first"]), last + 1)]
    return ids


def _defined(path: Path, name: str) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    head, _, rest = name.partition(".")
    head = head.split("[")[0]  # pytest parametrisation ids
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == head:
            if not rest:
                return True
            return isinstance(node, ast.ClassDef) and any(
                isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and n.name == rest
                for n in node.body
            )
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == head for t in targets):
                return not rest
    return False


def verify_locations(trace: Trace, root: Path) -> list[str]:
    """Sentences naming every code or test location of the trace that does not exist under ``root``."""
    problems = []
    for entry in trace.requirements:
        for loc in (*entry.code, *entry.tests):
            path_text, _, name = loc.partition("::")
            path = root / path_text
            if not path.is_file():
                problems.append(f"{entry.id}: {path_text} does not exist")
            elif name and not _defined(path, name):
                problems.append(f"{entry.id}: {path_text} defines no '{name}'")
    return problems
