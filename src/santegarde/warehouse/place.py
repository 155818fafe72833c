"""Where an organisation's warehouse lives beside its configuration file, and the export gate's thresholds there.

The CLI commands and the console's warehouse desk open the same places through these functions: the warehouse
(``warehouse/``), the gate's state and outbox (``warehouse/exports/``) and the thresholds the gate checks exports
against (``warehouse/export-thresholds.yaml``, keys: the fields of ``GateThresholds``; the justified defaults
when the file is absent).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import yaml

from santegarde.warehouse.gate import GateError, GateThresholds

THRESHOLDS_FILE = Path("warehouse") / "export-thresholds.yaml"


def warehouse_directory(config: Path) -> Path:
    """The warehouse of the organisation whose configuration file is ``config``."""
    return config.resolve().parent / "warehouse"


def exports_directory(config: Path) -> Path:
    """The export gate's state and outbox."""
    return warehouse_directory(config) / "exports"


def thresholds_path(config: Path) -> Path:
    """Where the organisation's export thresholds are read from: next to the configuration file."""
    return config.resolve().parent / THRESHOLDS_FILE


def load_thresholds(config: Path) -> GateThresholds:
    """The gate's thresholds from ``warehouse/export-thresholds.yaml`` if present, else the defaults."""
    path = thresholds_path(config)
    if not path.exists():
        return GateThresholds()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise GateError("thresholds_unreadable", path=path, error=type(exc).__name__) from None
    if document is None:
        return GateThresholds()
    if not isinstance(document, dict):
        raise GateError("thresholds_not_mapping", path=path)
    known = {f.name: str(f.type) for f in fields(GateThresholds)}
    unknown = sorted(str(k) for k in document if k not in known)
    if unknown:
        raise GateError("thresholds_unknown", path=path, unknown=", ".join(unknown), known=", ".join(known))
    for key, value in document.items():
        _check_threshold(path, key, known[key], value)
    return GateThresholds(**document)


def _check_threshold(path: Path, key: str, kind: str, value: object) -> None:
    """Refuse a threshold value of the wrong type (the gate itself checks the ranges)."""
    if value is None and "None" in kind:
        return
    integral = kind.startswith("int")
    fits = not isinstance(value, bool) and isinstance(value, int if integral else (int, float))
    if not fits:
        optional = "None" in kind
        wanted = {
            "fr": ("un nombre entier" if integral else "un nombre")
            + (" (ou null pour le désactiver)" if optional else ""),
            "en": ("a whole number" if integral else "a number") + (" (or null to disable it)" if optional else ""),
        }
        raise GateError("threshold_type", key=key, path=path, wanted=wanted, value=repr(value))
