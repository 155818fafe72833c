"""The organisation's programmes, one file per PUT-SP version, never rewritten.

``programmes/<id>/<version>.yaml`` beside ``santegarde.yaml``. Adding a version validates it first (nothing is
written when it is refused) and writes it atomically; a version already registered is never replaced by
different content, so what was collected under it keeps the protocol it was collected under.
"""

from __future__ import annotations

import re
from datetime import date
from importlib import resources
from pathlib import Path

from santegarde import refusals
from santegarde.atomic import AlreadyExists, write_new_bytes
from santegarde.compassionate.programme import Programme, ProgrammeError, parse_programme, problem
from santegarde.errors import WordedError
from santegarde.governance.notices import ProgrammeFacts
from santegarde.referentials.model import Referential

DIRECTORY = "programmes"
EXAMPLE = "velmorine-sla.yaml"


class UnknownProgramme(WordedError, LookupError):
    """No such programme, or no such version of it."""


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def example_text(granted: date | None = None) -> str:
    """The example programme shipped with santegarde (a fictitious medicine).

    With ``granted``, its ANSM decision is dated that day and runs eighteen months, so an example installed by
    ``init`` is in force whatever the year (the shipped file keeps fixed dates for the tests)."""
    text = resources.files("santegarde.compassionate").joinpath(f"data/{EXAMPLE}").read_text(encoding="utf-8")
    if granted is None:
        return text
    month = granted.month - 1 + 18
    expires = date(granted.year + month // 12, month % 12 + 1, min(granted.day, 28))
    text, granted_found = re.subn(r"(?m)^(  granted: )\S+$", rf"\g<1>{granted.isoformat()}", text, count=1)
    text, expires_found = re.subn(r"(?m)^(  expires: )\S+$", rf"\g<1>{expires.isoformat()}", text, count=1)
    assert granted_found == expires_found == 1, "the example programme's ANSM decision has a granted and expires date"
    return text


class Registry:
    def __init__(self, directory: Path, ref: Referential) -> None:
        self.directory = directory
        self.ref = ref
        self._loaded: dict[tuple[str, str], Programme] = {}  # a registered version never changes: parsed once

    @classmethod
    def beside(cls, config_path: Path, ref: Referential) -> Registry:
        return cls(config_path.resolve().parent / DIRECTORY, ref)

    def add(self, text: str, source: str) -> tuple[Programme, bool]:
        """Register a programme version from YAML text; (the programme, whether it was new)."""
        programme = parse_programme(text, source, self.ref)
        target = self.directory / programme.id / f"{programme.version}.yaml"
        if target.exists():
            if target.read_text(encoding="utf-8") == text:
                return programme, False
            refused = problem("version_registered", version=programme.version, programme=programme.id)
            raise ProgrammeError(source, [refused])
        try:
            write_new_bytes(target, text.encode("utf-8"))  # never over a file another add wrote meanwhile
        except AlreadyExists:
            return self.add(text, source)
        return programme, True

    def versions(self, programme_id: str) -> list[str]:
        folder = self.directory / programme_id
        if not folder.is_dir():
            return []
        return sorted((p.stem for p in folder.glob("*.yaml")), key=_version_key)

    def ids(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if p.is_dir() and self.versions(p.name))

    def get(self, programme_id: str, version: str | None = None) -> Programme:
        """A registered version (the latest by default)."""
        versions = self.versions(programme_id)
        if not versions:
            known = {"fr": ", ".join(self.ids()) or "aucun pour l'instant", "en": ", ".join(self.ids()) or "none yet"}
            raise UnknownProgramme(refusals.sentences("aac", "unknown_programme", programme=programme_id, known=known))
        chosen = version or versions[-1]
        if chosen not in versions:
            facts = {"programme": programme_id, "version": chosen, "versions": ", ".join(versions)}
            found = refusals.sentences("aac", "unknown_version", **facts)
            raise UnknownProgramme(found)
        if (programme_id, chosen) not in self._loaded:
            path = self.directory / programme_id / f"{chosen}.yaml"
            text = path.read_text(encoding="utf-8")
            where = str(path.relative_to(self.directory.parent))
            self._loaded[(programme_id, chosen)] = parse_programme(text, where, self.ref)
        return self._loaded[(programme_id, chosen)]

    def notice_facts(self, programme_ids: list[str] | None = None) -> list[ProgrammeFacts]:
        """What the notices name of the programmes asked (every registered one by default), latest versions."""
        return [self.get(i).notice_facts() for i in (programme_ids or self.ids())]

    def all(self) -> list[Programme]:
        """The latest version of every registered programme."""
        return [self.get(i) for i in self.ids()]
