"""Restore a backup into a new organisation, and the restore drill that proves it yearly (COM-BAK-1, SEC-SAU-1, SAU-4).

``restore_organisation`` rebuilds a complete organisation in an empty or new directory from three things kept
apart: a backup file with the key escrow ``keys.sgk`` beside it, a copy of the organisation's configuration,
and a copy of its keyring (keystore and wrapped data keys, opened with the passphrase). Everything that can
be refused is checked before anything is written: the target is empty, the backup decrypts and is this
organisation's, the key escrow opens, the PostgreSQL targets are empty. The restore is then built in a
temporary sibling of the target directory and renamed into place only once it has verified — table counts
and hashes against the backup header, the restored audit trail, and a sample of records decrypted with the
escrowed patient keys — so a failed restore leaves nothing behind. The restored trail gets one entry
``backup.restore`` (who, which backup: references only).

``run_drill`` restores the latest (or a given) backup into a temporary directory, verifies it the same way,
measures how long it took, removes the copy, and keeps the evidence: a line of the backup log beside the
backups (as ``backup verify`` does) and a ``backup.drill`` entry in the organisation's audit trail. The
conformity report shows the last drill and flags one older than a year.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, func, inspect, select, text

from santegarde import refusals
from santegarde.audit.anchor import NAME as ANCHOR_NAME
from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.config import CONFIG_NAME, OrganisationConfig, effective_referential, save
from santegarde.crypto import DecryptionRefused, KeyFamily, Keyring
from santegarde.crypto.keyring import KEYRING_NAME
from santegarde.crypto.keystore import KEYSTORE_NAME
from santegarde.errors import SantegardeError, WordedError
from santegarde.lifecycle.backup import (
    LOG_NAME,
    RULE,
    SUFFIX,
    BackupRefused,
    Progress,
    TableDump,
    compare_with_header,
    escrow_rows,
    load_backup,
    open_backup,
    restore_key_escrow,
    restored_trail,
)
from santegarde.lifecycle.backup import _log as log_line
from santegarde.organisation import migrate_all
from santegarde.referentials import loader
from santegarde.refusals import Said
from santegarde.runtime import Organisation, audit_anchor_path
from santegarde.store.db import make_engine, normalise_url
from santegarde.store.restore_check import sample_decrypts

RECORDS_FILE = "santegarde.db"
AUDIT_FILE = "audit.db"
KEYRING_DIR = "keyring"
SAMPLE_RECORDS = 5
DRILL_OPERATION = "backup.drill"
RESTORE_OPERATION = "backup.restore"

Steps = Callable[[str, int, int], None]  # (step, index from 1, total): the long steps, for a progress bar


class RestoreRefused(WordedError):
    """A restore cannot start here: the target, the backup, the keys or the databases are not usable (catalogue
    ``backup_file``: French by default, English as the option)."""

    def __init__(self, key: str, /, **facts: object) -> None:
        super().__init__(refusals.sentences("backup_file", key, **facts))
        self.key = key


class RestoreFailed(WordedError):
    """The restored copy did not verify; it was removed and nothing is left behind."""

    def __init__(self, report: RestoreReport) -> None:
        facts = {"backup": report.backup, "problems": refusals.joined(report.problems)}
        super().__init__(refusals.sentences("backup_check", "restore_failed", **facts))
        self.report = report


@dataclass(frozen=True)
class RestoreReport:
    backup: str
    created_at: str
    directory: Path
    tables: int = 0
    rows: int = 0
    hashes_ok: bool = False
    audit_entries: int = 0
    audit_ok: bool = False
    patient_keys: int = 0
    sampled_records: int = 0
    sample_ok: bool = False
    problems: tuple[Said, ...] = ()
    config_path: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Target:
    """Where the restore is built (``build``, the temporary sibling) and where it will live (``final``)."""

    final: Path
    build: Path
    records_url: str
    audit_url: str
    external: bool  # PostgreSQL databases given by URL: emptied again on failure
    engines: list[Engine] = field(default_factory=list)

    def open(self) -> tuple[Engine, Engine]:
        """The records and audit engines; one engine when both live in the same database."""
        records = make_engine(self.records_url)
        audit = records if self.audit_url == self.records_url else make_engine(self.audit_url)
        self.engines = [records, audit]
        return records, audit

    def dispose(self) -> None:
        for engine in self.engines:
            engine.dispose()


# -- checks before anything is written ------------------------------------------------------------


def _check_target(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise RestoreRefused("target_is_file", directory=directory)
    if directory.is_dir() and any(directory.iterdir()):
        raise RestoreRefused("target_not_empty", directory=directory)
    if not directory.parent.is_dir():
        raise RestoreRefused("no_parent", parent=directory.parent)


def _check_empty_database(url: str) -> None:
    engine = make_engine(url)
    try:
        names = inspect(engine).get_table_names()
    except Exception as exc:  # the driver's own error says nothing an operator can act on
        url = engine.url.render_as_string(hide_password=True)
        raise RestoreRefused("database_unreachable", url=url, why=type(exc).__name__) from exc
    finally:
        engine.dispose()
    if names:
        url = engine.url.render_as_string(hide_password=True)
        raise RestoreRefused("database_not_empty", url=url, tables=len(names))


def _database_urls(database_url: str | None, audit_database_url: str | None) -> tuple[str | None, str | None]:
    if audit_database_url and not database_url:
        raise RestoreRefused("audit_url_alone")
    urls = tuple(normalise_url(u) if u else None for u in (database_url, audit_database_url or database_url))
    for url in urls:
        if url and not url.startswith("postgresql"):
            raise RestoreRefused("urls_postgres")
    return urls[0], urls[1]


# -- the restore ----------------------------------------------------------------------------------


def _copy_keyring(source: Path, directory: Path) -> None:
    """Copy the keystore and the wrapped data keys (never a key in clear), 0700/0600."""
    directory.mkdir(mode=0o700)
    for name in (KEYSTORE_NAME, KEYRING_NAME):
        shutil.copyfile(source / name, directory / name)
        os.chmod(directory / name, 0o600)


def _reset_sequences(engine: Engine) -> None:
    """On PostgreSQL, move every serial sequence past the restored ids (rows were inserted with their ids)."""
    if engine.dialect.name != "postgresql":
        return
    meta = MetaData()
    meta.reflect(bind=engine)
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            for column in table.primary_key.columns:
                sequence = conn.execute(
                    text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
                ).scalar()
                if sequence:
                    highest = conn.execute(select(func.max(column))).scalar()
                    conn.execute(text("SELECT setval(:s, :v, false)"), {"s": sequence, "v": (highest or 0) + 1})


@dataclass(frozen=True)
class _Opened:
    """A backup decrypted and checked before anything is written: its header, tables and escrowed patients."""

    path: Path
    header: dict[str, Any]
    dumps: list[TableDump]
    escrowed: set[str]


def _build(
    target: _Target,
    backup: _Opened,
    ring: Keyring,
    config: OrganisationConfig,
    by: str,
    steps: Steps | None,
    tables: Progress | None,
    source_anchor: Path | None = None,
) -> RestoreReport:
    """Restore and verify into ``target.build`` (and the PostgreSQL databases); the report says what failed."""
    total = 5

    def step(name: str, index: int) -> None:
        if steps:
            steps(name, index, total)

    path, header, dumps, escrowed = backup.path, backup.header, backup.dumps, backup.escrowed
    report = RestoreReport(path.name, str(header.get("created_at", "")), target.final)
    records, audit = target.open()

    step("Loading the tables", 1)
    problems = load_backup(records, audit, dumps)
    step("Comparing with the backup header", 2)
    counted, rows = compare_with_header(header, records, audit, problems, progress=tables)
    hashes_ok = not problems
    if not hashes_ok:
        return _with(report, tables=counted, rows=rows, problems=problems)

    step("Migrating to this version's schema and restoring the patient keys", 3)
    migrate_all(records, audit)
    keys = restore_key_escrow(ring, path.parent, records)
    _reset_sequences(records)
    if audit is not records:
        _reset_sequences(audit)

    step("Decrypting a sample of records", 4)
    try:
        ref = effective_referential(config, loader.get(config.referential))
        sampled = sample_decrypts(records, ring, ref, escrowed, SAMPLE_RECORDS)
    except DecryptionRefused:
        problem = Said.of("backup_check", "sample_undecryptable")
        return _with(report, tables=counted, rows=rows, hashes_ok=True, patient_keys=keys, problems=[problem])

    step("Verifying the restored audit trail", 5)
    _, seal_key = ring.key(KeyFamily.AUDIT_SEAL)
    if header.get("audit_head"):  # backups since sealed heads: the copy is the trail that was sealed
        live = AuditTrail(audit, seal_key, anchor=source_anchor)  # only its key and anchor file are read
        copied = live.check_copy(header["audit_head"], AuditTrail(audit, seal_key))
        if copied:
            return _with(report, tables=counted, rows=rows, hashes_ok=True, patient_keys=keys, problems=copied)
    copy = AuditTrail(audit, seal_key).verify()
    if not copy.intact:
        found = restored_trail(copy.problems)
        return _with(report, tables=counted, rows=rows, hashes_ok=True, patient_keys=keys, problems=found)
    # The restored trail starts its own anchor file (the live one goes on with the live trail): its first line
    # is an entry saying so, then the restore itself is traced.
    trail = AuditTrail(audit, seal_key, anchor=target.build / ANCHOR_NAME)
    trail.restart_anchor(by)
    trail.append(
        AuditEvent(by, "", RESTORE_OPERATION, "Backup", path.name, "security", True, RULE, "", "success", "admin",
                   config.referential)
    )  # fmt: skip
    verified = trail.verify()
    trail_problems = restored_trail(verified.problems)
    return _with(
        report,
        tables=counted,
        rows=rows,
        hashes_ok=True,
        audit_entries=verified.entries,
        audit_ok=not trail_problems,
        patient_keys=keys,
        sampled_records=sampled,
        sample_ok=True,
        problems=trail_problems,
    )


def _with(report: RestoreReport, *, problems: list[Said], **values: object) -> RestoreReport:
    return replace(report, problems=tuple(problems), **values)  # type: ignore[arg-type]


def _empty_databases(target: _Target) -> None:
    """Drop what the failed restore created in the (empty before) PostgreSQL databases."""
    for url in {target.records_url, target.audit_url}:
        engine = make_engine(url)
        try:
            meta = MetaData()
            meta.reflect(bind=engine)
            meta.drop_all(bind=engine)
        finally:
            engine.dispose()


def restore_organisation(
    path: Path,
    directory: Path,
    *,
    ring: Keyring,
    keyring_source: Path,
    config: OrganisationConfig,
    config_source: Path | None = None,
    database_url: str | None = None,
    audit_database_url: str | None = None,
    by: str = "",
    steps: Steps | None = None,
    tables: Progress | None = None,
) -> RestoreReport:
    """Restore the backup ``path`` into the new or empty ``directory`` as a complete, verified organisation.

    ``ring`` is the organisation's keyring opened from ``keyring_source`` (copied into ``directory``);
    ``config`` its configuration, rewritten for the new location (``config_source``'s directory gives the
    ``*.anchor`` files to copy). Refusals happen before anything is written; a restore that does not verify
    is removed (``RestoreFailed``) and leaves nothing behind.
    """
    directory = directory.absolute()
    if not path.is_file() or path.suffix != SUFFIX:
        raise RestoreRefused("no_file", path=path, suffix=SUFFIX)
    _check_target(directory)
    header, dumps = open_backup(ring, path)  # refuses an altered file or another organisation's keys
    if header.get("organisation") != config.organisation.name:
        raise RestoreRefused(
            "other_organisation", name=path.name, backup=header.get("organisation"), config=config.organisation.name
        )
    escrow = escrow_rows(ring, path.parent)
    if escrow is None:
        raise RestoreRefused("no_escrow_beside", name=path.name)
    backup = _Opened(path, header, dumps, {str(json.loads(line)["patient_id"]) for line in escrow if line})
    pg_records, pg_audit = _database_urls(database_url, audit_database_url)
    for url in {u for u in (pg_records, pg_audit) if u}:
        _check_empty_database(url)

    build = Path(tempfile.mkdtemp(prefix=f".{directory.name}.restoring-", dir=directory.parent))
    target = _Target(
        directory,
        build,
        pg_records or f"sqlite:///{build / RECORDS_FILE}",
        pg_audit or f"sqlite:///{build / AUDIT_FILE}",
        external=pg_records is not None,
    )
    restored = config.model_copy(
        update={
            "database_url": pg_records or normalise_url(f"sqlite:///{directory / RECORDS_FILE}"),
            "audit_database_url": pg_audit or normalise_url(f"sqlite:///{directory / AUDIT_FILE}"),
            "keyring_path": str(directory / KEYRING_DIR),
            "audit_anchor_path": None,  # the restored trail's own anchor file, beside its configuration
        }
    )
    try:
        os.chmod(build, 0o700)
        _copy_keyring(keyring_source, build / KEYRING_DIR)
        # The organisation's own anchor file, if it is here: the backup's sealed head must agree with it.
        source_anchor = audit_anchor_path(config_source, config) if config_source is not None else None
        report = _build(target, backup, ring, restored, by or getpass.getuser(), steps, tables, source_anchor)
        target.dispose()
        if not report.ok:
            raise RestoreFailed(report)
        save(restored, build / CONFIG_NAME)
        os.replace(build, directory)  # over an empty directory (checked above) or a new name: all or nothing
    except BaseException as exc:
        target.dispose()
        shutil.rmtree(build, ignore_errors=True)
        if target.external:
            _empty_databases(target)
        if isinstance(exc, OSError):
            raise RestoreRefused("write_failed", parent=directory.parent, why=exc.strerror or exc) from exc
        raise
    return replace(report, config_path=directory / CONFIG_NAME)


# -- the drill ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrillReport:
    at: str
    backup: str
    by: str
    duration_seconds: float
    restore: RestoreReport | None
    problems: tuple[Said, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def evidence(self) -> dict[str, object]:
        """The line of the backup log: references, counts and outcomes, never data."""
        r = self.restore
        return {
            "at": self.at,
            "action": "drill",
            "file": self.backup,
            "result": "ok" if self.ok else "problems",
            "by": self.by,
            "duration_seconds": round(self.duration_seconds, 3),
            "tables": r.tables if r else 0,
            "rows": r.rows if r else 0,
            "hashes_ok": bool(r and r.hashes_ok),
            "audit_entries": r.audit_entries if r else 0,
            "audit_ok": bool(r and r.audit_ok),
            "sampled_records": r.sampled_records if r else 0,
            "problems": [str(p) for p in self.problems],  # French, as the DPO reads the log
        }


def latest_backup(directory: Path) -> Path:
    """The most recent backup of a directory (names carry their UTC creation time)."""
    if not directory.is_dir():
        raise BackupRefused("not_directory", directory=directory)
    found = sorted(directory.glob(f"backup-*{SUFFIX}"))
    if not found:
        raise BackupRefused("none_yet", directory=directory)
    return found[-1]


def run_drill(
    org: Organisation,
    path: Path,
    *,
    by: str = "",
    steps: Steps | None = None,
    tables: Progress | None = None,
) -> DrillReport:
    """Restore ``path`` into a temporary directory, verify it, time it, remove it; log and audit the evidence."""
    by = by or getpass.getuser()
    if not path.is_file():
        raise BackupRefused("no_file", path=path, suffix=SUFFIX)
    started_at, start = datetime.now(UTC), time.monotonic()
    restore: RestoreReport | None = None
    with tempfile.TemporaryDirectory(prefix="santegarde-drill-") as scratch:
        keydir = Path(org.config.keyring_path)
        try:
            restore = restore_organisation(
                path, Path(scratch) / "organisation", ring=org.keyring, keyring_source=keydir, config=org.config,
                config_source=org.config_path, by=by, steps=steps, tables=tables,
            )  # fmt: skip
            problems: tuple[Said, ...] = ()
        except RestoreFailed as exc:
            restore, problems = exc.report, exc.report.problems
        except SantegardeError as exc:  # refused (e.g. the escrow is missing) or failed while loading
            problems = (refusals.said_of(exc),)
    report = DrillReport(started_at.isoformat(), path.name, by, time.monotonic() - start, restore, problems)
    log_line(path.parent, report.evidence())
    org.audit.append(
        AuditEvent(by, "", DRILL_OPERATION, "Backup", path.name, "security", True, RULE, "",
                   "success" if report.ok else "error", "admin", org.referential.id)
    )  # fmt: skip
    return report


def last_drill(directory: Path, backup: str) -> dict[str, object] | None:
    """The last drill line of the backup log of ``directory`` for the backup named ``backup``, if any."""
    path = directory / LOG_NAME
    if not path.is_file():
        return None
    found = None
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash: the others still count
        if isinstance(entry, dict) and entry.get("action") == "drill" and entry.get("file") == backup:
            found = entry
    return found
