"""``santegarde serve --workers N``: what several worker processes need, and the application each of them builds.

Each worker is a process of its own (uvicorn starts them): it opens the organisation itself, with the keystore
passphrase it finds in its environment. What lives only in one process's memory cannot be shared with the others,
so it is refused before anything starts, with a sentence: a passphrase typed at the terminal, a database in memory,
logins to Pro Santé Connect in progress (kept by the worker that started them).
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from santegarde import refusals
from santegarde.api.ops import MULTIPROCESS_ENV
from santegarde.config.model import OrganisationConfig
from santegarde.errors import WordedError
from santegarde.runtime import PASSPHRASE_ENV

MAX_WORKERS = 64
# What the serving process hands to its workers (paths and flags only: never a secret).
CONFIG_ENV = "SANTEGARDE_SERVE_CONFIG"
DEV_ENV = "SANTEGARDE_SERVE_DEV"
LOG_LEVEL_ENV = "SANTEGARDE_SERVE_LOG_LEVEL"
FACTORY = "santegarde.cli.serve_workers:worker_app"


class WorkersRefused(WordedError):
    """Something that cannot work with several worker processes (French by default, English as the option)."""

    def __init__(self, key: str, /, **facts: object) -> None:
        super().__init__(refusals.sentences("workers", key, **facts))
        self.key = key


def check_count(workers: int) -> None:
    if not 1 <= workers <= MAX_WORKERS:
        raise WorkersRefused("count", workers=workers, most=MAX_WORKERS)


def check_passphrase(workers: int) -> None:
    """Before any prompt: several workers each open the keystore, so the passphrase must be in the environment."""
    if workers > 1 and not os.environ.get(PASSPHRASE_ENV):
        raise WorkersRefused("passphrase", workers=workers, env=PASSPHRASE_ENV)


def _in_memory(url: str) -> bool:
    return url.startswith("sqlite") and (
        url.rstrip("/").endswith(":memory:") or url.rstrip("/") in ("sqlite:", "sqlite:/")
    )


def check_config(config: OrganisationConfig, workers: int) -> None:
    """What the organisation's configuration keeps in one process: refused with several workers."""
    if workers == 1:
        return
    for option, url in (("database_url", config.database_url), ("audit_database_url", config.audit_database_url)):
        if _in_memory(url):
            raise WorkersRefused("memory", option=option, workers=workers)
    if config.pro_sante_connect is not None:
        raise WorkersRefused("pro_sante_connect", workers=workers)


def hand_over(config: Path, *, dev: bool, log_level: str, metrics: Path) -> None:
    """What the workers read when uvicorn starts them (the passphrase is already in the environment).

    ``metrics``: an empty private directory where each worker writes its counts, so that a scrape answered by any
    worker sums them all (Prometheus' multiprocess mode, chosen when the worker imports its client)."""
    os.environ[CONFIG_ENV] = str(config.resolve())
    os.environ[DEV_ENV] = "1" if dev else ""
    os.environ[LOG_LEVEL_ENV] = log_level
    os.environ[MULTIPROCESS_ENV] = str(metrics)


def worker_app() -> FastAPI:
    """The application of one worker: the organisation opened in this process, as ``santegarde serve`` does."""
    from santegarde.api.ops import configure_logging
    from santegarde.cli.serve import build_app
    from santegarde.lifecycle.upgrade import refuse_outdated
    from santegarde.private import owner_only_umask
    from santegarde.runtime import open_organisation, passphrase_from_env

    config = os.environ.get(CONFIG_ENV)
    if not config:
        raise WorkersRefused("no_config", env=CONFIG_ENV)
    owner_only_umask()
    configure_logging(os.environ.get(LOG_LEVEL_ENV) or "info")
    org = open_organisation(Path(config), passphrase_from_env())  # open for the life of the worker
    refuse_outdated(org, Path(config))
    return build_app(org, local_http=bool(os.environ.get(DEV_ENV)))
