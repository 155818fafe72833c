"""Read and write the organisation's configuration file, atomically, with errors that name the place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from santegarde.atomic import write_atomic
from santegarde.config.model import OrganisationConfig
from santegarde.errors import SantegardeError
from santegarde.referentials.loader import format_validation_error

CONFIG_NAME = "santegarde.yaml"


class ConfigFileError(SantegardeError):
    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path} is not a valid santegarde configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def read_raw(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigFileError(path, ["the file does not exist; create it with 'santegarde init'"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigFileError(path, [f"the YAML cannot be read: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise ConfigFileError(path, ["expected a mapping with keys such as profile, referential, organisation"])
    return raw


def parse(raw: dict[str, Any], path: Path) -> OrganisationConfig:
    try:
        return OrganisationConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigFileError(path, format_validation_error(exc)) from exc


def load(path: Path) -> OrganisationConfig:
    return parse(read_raw(path), path)


def dump(config: OrganisationConfig) -> str:
    data = config.model_dump(mode="json", exclude_defaults=False)
    header = (
        "# santegarde organisation configuration (COM-REF-2).\n"
        "# Choices answer what the référentiel leaves to the controller; every deviation needs a\n"
        "# written justification. Check it with: santegarde config check\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def save(config: OrganisationConfig, path: Path) -> None:
    write_atomic(path, dump(config))
