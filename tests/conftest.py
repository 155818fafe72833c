"""Shared fixtures: the repository root, a CLI runner, and real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
POSTGRES_URL = os.environ.get("SANTEGARDE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("SANTEGARDE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed ({CHROMIUM}); scripts/bootstrap dev installs Debian's"
    if not AXE.exists():
        return "axe-core is not installed (node_modules); scripts/bootstrap installs it"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed; scripts/bootstrap dev installs it"
    return None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One Chromium for the whole session, shared by every browser test module (each test opens its own context)."""
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _postgres_or_skip() -> str:
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true and does not answer at {POSTGRES_URL}: {exc}")
        pytest.skip(f"PostgreSQL does not answer at {POSTGRES_URL}")
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each engine; the PostgreSQL one is dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    base = _postgres_or_skip()
    name = f"santegarde_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The authorisation matrix (tests/test_authorisation_matrix.py), when it ran: expected/actual per operation,
    every row with -v or -rA, else the rows that disagree with the text."""
    import sys

    matrix = sys.modules.get("authorisation_oracle")
    full = config.getoption("verbose") > 0 or "A" in (config.getoption("reportchars") or "")
    lines = matrix.table(full=full) if matrix is not None else []
    if lines:
        terminalreporter.section("authorisation matrix" + ("" if full else " (rows that disagree; -rA for all)"))
        for line in lines:
            terminalreporter.write_line(line)
    leaked = config.stash.get(LEAKS, [])
    if leaked:
        terminalreporter.section("identifying values in the logs (tests/log_scan.py)", red=True)
        for (logger, kind), n in sorted(Counter(leaked).items()):
            terminalreporter.write_line(f"{logger}: {n} line(s) holding a synthetic patient's {kind}", red=True)


# -- the whole suite's logs, scanned for the synthetic patients' identifying values (issue 25, tests/log_scan.py) --
SUITE_LOGS: Any = None
IDENTIFYING: Any = None


def pytest_configure(config: pytest.Config) -> None:
    """Keep every log record of the run, and note every patient the synthetic generator makes."""
    import logging

    import santegarde.synthetic as synthetic
    from log_scan import Identifying, SuiteLogs
    from santegarde.synthetic import dataset, people

    global SUITE_LOGS, IDENTIFYING
    SUITE_LOGS, IDENTIFYING = SuiteLogs(), Identifying()
    logging.getLogger().addHandler(SUITE_LOGS)
    if logging.getLogger("santegarde").level == logging.NOTSET:
        logging.getLogger("santegarde").setLevel(logging.INFO)  # what an operator's default level lets through
    original = people.make_patient

    def make_patient(*args: Any, **kwargs: Any) -> Any:
        made = original(*args, **kwargs)
        IDENTIFYING.add_patient(made[0])
        return made

    for module in (people, dataset, synthetic):
        module.make_patient = make_patient  # type: ignore[attr-defined]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any log line of any test holds a synthetic patient's NIR/INS, family name, e-mail or phone."""
    from log_scan import leaks

    if SUITE_LOGS is None or session.config.option.collectonly:
        return
    found = leaks(SUITE_LOGS.lines, IDENTIFYING)
    if found:
        session.config.stash[LEAKS] = found
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


LEAKS = pytest.StashKey[list[tuple[str, str]]]()
