"""The organisation's configuration: référentiel applied, controller choices, justified deviations."""

from santegarde.config.check import (
    ConfigurationRefused,
    Finding,
    basis_choice,
    check,
    effective_referential,
    errors,
    is_justified,
)
from santegarde.config.io import CONFIG_NAME, ConfigFileError, dump, load, save
from santegarde.config.model import OrganisationConfig

__all__ = [
    "CONFIG_NAME",
    "ConfigFileError",
    "ConfigurationRefused",
    "Finding",
    "OrganisationConfig",
    "basis_choice",
    "check",
    "dump",
    "effective_referential",
    "errors",
    "is_justified",
    "load",
    "save",
]
