"""Encrypted backups of the records and audit databases, and a restore that proves them (COM-BAK-1, SEC-SAU-1..3).

A backup is one file ``backup-<UTC timestamp>.sgb``: a magic line, a JSON header in clear (format,
organisation, référentiel, creation time, engine of origin, tables with their row counts and the
SHA-256 of their plaintext dump, the wrapped data key) and the AES-256-GCM ciphertext of an
lzma-compressed, portable dump of every table (JSON lines; bytes in base64, times in ISO UTC). The
header is the associated data of the ciphertext, so altering any byte of the file is detected.
Each backup has its own random 256-bit key, wrapped by the keyring's identity family key: the file
is useless without the organisation's keystore and passphrase, which are kept apart from it.
Nothing in clear but the header, and the header holds no personal data (SEC-SAU-3: the file can
travel over any channel; SEC-SAU-2: copy the backup directory to media kept elsewhere).

Patient keys (table ``patient_key``) are NOT in the data backups. They go to a single key-escrow
file ``keys.sgk`` beside them, rewritten atomically at every backup and by ``forget_patient_keys``
when a patient is erased. Each patient's keys are a separate encrypted entry, labelled by a hash of
the patient's (random) id, so forgetting a patient needs no key. Once forgotten, the only copy of
an erased patient's keys is gone and every older data backup still holding their ciphertext stays
unreadable for them (crypto-shredding reaches the backups). Copies of ``keys.sgk`` on other media
must be replaced by the new one after an erasure: this is part of the erasure procedure.

``verify_backup`` decrypts a backup, checks its hashes, restores it into a scratch store (temporary
SQLite databases migrated to the backup's schema revision, then to the current one), compares
counts and hashes, verifies the restored audit trail, and reads one record part's ciphertext length,
never decrypting health data. Restoring a whole organisation into a new directory, and the yearly
restore drill, are in ``restore.py``.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import lzma
import os
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic.util.exc import CommandError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Date, DateTime, Engine, LargeBinary, MetaData, Table, insert, select

from santegarde import refusals
from santegarde.atomic import write_atomic, write_new_bytes
from santegarde.audit import chain
from santegarde.audit.tables import metadata as audit_metadata
from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.crypto import DecryptionRefused, KeyFamily, Keyring, KeystoreError, decrypt, encrypt
from santegarde.errors import WordedError
from santegarde.organisation import SCHEMAS, migrate_all
from santegarde.private import private_directory
from santegarde.refusals import Said
from santegarde.store.db import make_engine, migrate
from santegarde.store.schema import patient_key

if TYPE_CHECKING:
    from santegarde.runtime import Organisation

MAGIC = b"SANTEGARDE-BACKUP/1\n"
FORMAT = "santegarde-backup/1"
ESCROW_NAME = "keys.sgk"
ESCROW_FORMAT = "santegarde-key-escrow/1"
LOG_NAME = "backup-log.jsonl"
SUFFIX = ".sgb"
RULE = "COM-BAK-1"
_LENGTH = struct.Struct(">I")
_EXCLUDED = {"patient_key"}
_AUDIT_TABLES = {*audit_metadata.tables, "audit_alembic_version"}
_VERSION_TABLES = {version_table: (database, package) for database, package, version_table in SCHEMAS}

Progress = Callable[[str, int, int], None]  # (table, index from 1, total)


class BackupRefused(WordedError):
    """A backup cannot be written or read here: wrong file, wrong keys, or a directory that is not usable (catalogue
    ``backup_file``: French by default, English as the option)."""

    def __init__(self, key: str, /, **facts: object) -> None:
        super().__init__(refusals.sentences("backup_file", key, **facts))
        self.key = key


@dataclass(frozen=True)
class TableDump:
    database: str  # "records" or "audit"
    name: str
    lines: tuple[str, ...]  # canonical JSON rows, sorted

    @property
    def sha256(self) -> str:
        return table_hash(self.lines)


@dataclass(frozen=True)
class VerifyReport:
    file: str
    created_at: str
    tables: int
    rows: int
    audit_entries: int
    sample_part_bytes: int | None
    escrow_patients: int | None
    changed_since: tuple[str, ...]
    problems: tuple[Said, ...]
    live: bool = True  # the organisation's databases were there: compared with the backup, the check audited

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    created_at: str
    organisation: str
    tables: int
    rows: int
    size: int
    last_verified: str = ""
    last_result: str = ""


@dataclass
class Scratch:
    """A restored copy: one SQLite database for the records and one for the audit trail."""

    records: Engine
    audit: Engine
    header: dict[str, Any] = field(default_factory=dict)
    problems: list[Said] = field(default_factory=list)

    def close(self) -> None:
        self.records.dispose()
        self.audit.dispose()


# -- portable dump ---------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime):
        utc = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return utc.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def canonical_row(row: Mapping[Any, Any]) -> str:
    """A row as one canonical JSON line: sorted keys, bytes in base64, times in ISO UTC without offset."""
    return json.dumps(
        {k: _encode(v) for k, v in row.items()}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def table_hash(lines: tuple[str, ...] | list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _same_database(a: Engine, b: Engine) -> bool:
    return a.url.render_as_string(hide_password=False) == b.url.render_as_string(hide_password=False)


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One read transaction seeing one state of the database: REPEATABLE READ on PostgreSQL, BEGIN on SQLite."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            try:
                yield conn
            finally:
                conn.rollback()
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN")  # pysqlite would not begin for reads: hold one snapshot for every table
        try:
            yield conn
        finally:
            conn.rollback()


def _dump_table(conn: Connection, table: Table, database: str) -> TableDump:
    lines = sorted(canonical_row(r) for r in conn.execute(select(table)).mappings())
    return TableDump(database, table.name, tuple(lines))


def _tables_of(conn: Connection, database: str, shared: bool) -> list[Table]:
    meta = MetaData()
    meta.reflect(bind=conn)
    names = set(meta.tables)
    if database == "records":
        names -= _EXCLUDED | (_AUDIT_TABLES if shared else set())
    elif shared:
        names &= _AUDIT_TABLES
    return [meta.tables[n] for n in sorted(names)]


def dump_database(engine: Engine, database: str, *, shared: bool, progress: Progress | None = None) -> list[TableDump]:
    """Every table of one database (but patient keys), read in one snapshot."""
    with _snapshot(engine) as conn:
        tables = _tables_of(conn, database, shared)
        dumps = []
        for i, table in enumerate(tables, 1):
            if progress:
                progress(f"{database}.{table.name}", i, len(tables))
            dumps.append(_dump_table(conn, table, database))
        return dumps


def _payload(dumps: list[TableDump]) -> bytes:
    parts: list[str] = []
    for d in dumps:
        parts.append(json.dumps({"database": d.database, "table": d.name, "rows": len(d.lines)}))
        parts.extend(d.lines)
    return lzma.compress("\n".join(parts).encode())


def _parse_payload(data: bytes) -> list[TableDump]:
    lines = lzma.decompress(data).decode().split("\n") if data else []
    dumps, i = [], 0
    while i < len(lines) and lines[i]:
        head = json.loads(lines[i])
        n = int(head["rows"])
        dumps.append(TableDump(head["database"], head["table"], tuple(lines[i + 1 : i + 1 + n])))
        i += 1 + n
    return dumps


# -- file format -----------------------------------------------------------------------------------


def _wrap(ring: Keyring, key: bytes, name: str) -> str:
    token = encrypt(ring, KeyFamily.IDENTITY, key, record=f"backup/{name}", field="backup-key")
    return base64.b64encode(token).decode("ascii")


def _unwrap(ring: Keyring, wrapped: str, name: str) -> bytes:
    try:
        return decrypt(ring, base64.b64decode(wrapped), record=f"backup/{name}", field="backup-key")
    except KeystoreError as exc:
        raise BackupRefused("unwrap", name=name) from exc


def _seal_file(header: dict[str, Any], key: bytes, payload: bytes) -> bytes:
    head = json.dumps(header, sort_keys=True).encode()
    nonce = os.urandom(12)
    return MAGIC + _LENGTH.pack(len(head)) + head + nonce + AESGCM(key).encrypt(nonce, payload, head)


def read_header(path: Path) -> tuple[dict[str, Any], bytes, bytes]:
    """The clear header of a backup, its raw bytes and the encrypted rest; no key needed."""
    data = path.read_bytes()
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _LENGTH.size:
        raise BackupRefused("not_backup", name=path.name)
    start = len(MAGIC) + _LENGTH.size
    (length,) = _LENGTH.unpack_from(data, len(MAGIC))
    raw = data[start : start + length]
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise BackupRefused("header", name=path.name) from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupRefused("format", name=path.name, format=FORMAT)
    return header, raw, data[start + length :]


def open_backup(ring: Keyring, path: Path) -> tuple[dict[str, Any], list[TableDump]]:
    """Decrypt a backup: its header and table dumps. Any altered byte is refused."""
    header, raw, sealed = read_header(path)
    key = _unwrap(ring, str(header.get("key", "")), path.name)
    try:
        payload = AESGCM(key).decrypt(sealed[:12], sealed[12:], raw)
    except (InvalidTag, ValueError) as exc:
        raise BackupRefused("altered", name=path.name) from exc
    return header, _parse_payload(payload)


# -- key escrow ------------------------------------------------------------------------------------


def _patient_label(patient_id: str) -> str:
    return hashlib.sha256(f"santegarde:patient:{patient_id}".encode()).hexdigest()


def _escrow_aad(label: str) -> bytes:
    return f"santegarde:key-escrow:{label}".encode()


def _read_escrow(directory: Path) -> dict[str, Any] | None:
    path = directory / ESCROW_NAME
    if not path.exists():
        return None
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("format") != ESCROW_FORMAT:
        raise BackupRefused("not_escrow", path=path)
    return dict(document)


def write_key_escrow(org: Organisation, directory: Path) -> int:
    """Rewrite ``keys.sgk`` from the live patient keys, atomically; the number of patients escrowed."""
    with _snapshot(org.engine) as conn:
        rows = [dict(r) for r in conn.execute(select(patient_key)).mappings()]
    by_patient: dict[str, list[str]] = {}
    for row in rows:
        by_patient.setdefault(str(row["patient_id"]), []).append(canonical_row(row))
    key = AESGCM.generate_key(bit_length=256)
    entries = {}
    for pid, lines in by_patient.items():
        label, nonce = _patient_label(pid), os.urandom(12)
        sealed = nonce + AESGCM(key).encrypt(nonce, "\n".join(sorted(lines)).encode(), _escrow_aad(label))
        entries[label] = base64.b64encode(sealed).decode("ascii")
    document = {
        "format": ESCROW_FORMAT,
        "organisation": org.config.organisation.name,
        "written_at": datetime.now(UTC).isoformat(),
        "key": _wrap(org.keyring, key, ESCROW_NAME),
        "patients": entries,
    }
    write_atomic(directory / ESCROW_NAME, json.dumps(document, indent=1, sort_keys=True))
    return len(entries)


def forget_patient_keys(backup_dir: Path, patient_id: str) -> int:
    """Remove an erased patient's keys from the key escrow (no key needed); 1 if they were there, else 0.

    Call it whenever a patient is erased: the older data backups then stay unreadable for that patient.
    """
    document = _read_escrow(backup_dir)
    if document is None or document["patients"].pop(_patient_label(patient_id), None) is None:
        return 0
    write_atomic(backup_dir / ESCROW_NAME, json.dumps(document, indent=1, sort_keys=True))
    return 1


def escrow_rows(ring: Keyring, directory: Path) -> list[str] | None:
    """The escrowed patient-key rows of ``directory`` (canonical JSON lines), or None without a key escrow."""
    document = _read_escrow(directory)
    if document is None:
        return None
    key = _unwrap(ring, document["key"], ESCROW_NAME)
    lines: list[str] = []
    for label, blob in document["patients"].items():
        sealed = base64.b64decode(blob)
        try:
            lines.extend(AESGCM(key).decrypt(sealed[:12], sealed[12:], _escrow_aad(label)).decode().split("\n"))
        except InvalidTag as exc:
            raise BackupRefused("escrow_altered", escrow=ESCROW_NAME) from exc
    return lines


def restore_key_escrow(ring: Keyring, backup_dir: Path, engine: Engine) -> int:
    """Insert the escrowed patient keys into a restored records database; the number of keys restored."""
    lines = escrow_rows(ring, backup_dir)
    if lines is None:
        raise BackupRefused("no_escrow", escrow=ESCROW_NAME, directory=backup_dir)
    meta = MetaData()
    meta.reflect(bind=engine, only=["patient_key"])
    table = meta.tables["patient_key"]
    with engine.begin() as conn:
        _insert_rows(conn, table, list(lines))
    return len(lines)


# -- create ----------------------------------------------------------------------------------------


def _log(directory: Path, entry: dict[str, Any]) -> None:
    """Append one line to the backup log and fsync it."""
    fd = os.open(directory / LOG_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _audit(org: Organisation, operation: str, name: str, outcome: str, by: str) -> None:
    org.audit.append(
        AuditEvent(by, "", operation, "Backup", name, "security", True, RULE, "", outcome, "admin", org.referential.id)
    )


def _check_directory(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise BackupRefused("directory_is_file", directory=directory)
    private_directory(directory)


def _audit_head(dumps: list[TableDump]) -> dict[str, Any] | None:
    """The audit trail's sealed head in the snapshot (sequence, hash, seal: no personal data), for the header."""
    rows = [json.loads(line) for d in dumps if (d.database, d.name) == ("audit", "audit_head") for line in d.lines]
    return {k: rows[0].get(k) for k in ("seq", "hash", "seal")} if rows else None


def create_backup(org: Organisation, directory: Path, *, progress: Progress | None = None, by: str = "") -> Path:
    """Write one encrypted backup of the records and audit databases, and rewrite the key escrow."""
    _check_directory(directory)
    now = datetime.now(UTC)
    name = f"backup-{now:%Y%m%dT%H%M%S%fZ}{SUFFIX}"
    shared = _same_database(org.engine, org.audit.engine)
    dumps = dump_database(org.engine, "records", shared=shared, progress=progress)
    dumps += dump_database(org.audit.engine, "audit", shared=shared, progress=progress)
    key = AESGCM.generate_key(bit_length=256)
    header = {
        "format": FORMAT,
        "organisation": org.config.organisation.name,
        "referential": org.referential.id,
        "created_at": now.isoformat(),
        "engine": org.engine.dialect.name,
        "audit_engine": org.audit.engine.dialect.name,
        "compression": "lzma",
        "cipher": "AES-256-GCM",
        "tables": [{"database": d.database, "table": d.name, "rows": len(d.lines), "sha256": d.sha256} for d in dumps],
        "audit_head": _audit_head(dumps),
        "key": _wrap(org.keyring, key, name),
    }
    path = directory / name
    write_new_bytes(path, _seal_file(header, key, _payload(dumps)))
    escrowed = write_key_escrow(org, directory)
    rows = sum(len(d.lines) for d in dumps)
    _log(
        directory,
        {
            "at": now.isoformat(),
            "action": "create",
            "file": name,
            "result": "ok",
            "rows": rows,
            "escrowed_patients": escrowed,
        },
    )
    _audit(org, "backup.create", name, "success", by or getpass.getuser())
    return path


# -- restore into a scratch store and verify -------------------------------------------------------


def _decode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        column_type = table.c[name].type
        if value is None:
            out[name] = None
        elif isinstance(column_type, LargeBinary):
            out[name] = base64.b64decode(value)
        elif isinstance(column_type, DateTime):
            out[name] = datetime.fromisoformat(value)
        elif isinstance(column_type, Date):
            out[name] = date.fromisoformat(value)
        else:
            out[name] = value
    return out


def _insert_rows(conn: Connection, table: Table, lines: list[str]) -> None:
    rows = [_decode(table, json.loads(line)) for line in lines if line]
    for start in range(0, len(rows), 500):
        conn.execute(insert(table), rows[start : start + 500])


def _revisions(dumps: list[TableDump]) -> dict[str, str]:
    found = {}
    for d in dumps:
        if d.name in _VERSION_TABLES:
            # An empty version table is a schema taken back to its base (alembic downgrade base), not one at head.
            found[d.name] = str(json.loads(d.lines[0])["version_num"]) if d.lines else "base"
    return found


def _migrate_scratch(records: Engine, audit: Engine, revisions: dict[str, str]) -> None:
    """Bring the scratch databases to the schema revisions of the backup (head where it has none)."""
    for version_table, (database, package) in _VERSION_TABLES.items():
        revision = revisions.get(version_table, "head")
        try:
            migrate(records if database == "records" else audit, revision, package=package)
        except CommandError as exc:
            raise BackupRefused("unknown_revision", revision=revision, package=package) from exc


def _problem(key: str, /, **facts: Any) -> Said:
    """A problem the verification of a backup found (catalogue area ``backup_check``)."""
    return Said.of("backup_check", key, **facts)


def restored_trail(problems: Iterable[chain.Problem]) -> list[Said]:
    """The problems of a restored audit trail, each introduced as such."""
    return [_problem("restored_trail", what={lang: p.in_language(lang) for lang in refusals.LANGS}) for p in problems]


def _load(engine: Engine, dumps: list[TableDump], problems: list[Said]) -> None:
    meta = MetaData()
    meta.reflect(bind=engine)
    wanted = {d.name: d for d in dumps}
    for name in wanted.keys() - meta.tables.keys():
        problems.append(_problem("table_unknown", table=name))
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            d = wanted.get(table.name)
            if d is None or table.name in _VERSION_TABLES:
                continue
            missing = {k for line in d.lines[:1] for k in json.loads(line)} - set(table.c.keys())
            if missing:
                problems.append(_problem("columns_missing", table=table.name, columns=", ".join(sorted(missing))))
                continue
            conn.execute(table.delete())  # rows seeded by the migrations: the backup's rows are the truth
            _insert_rows(conn, table, list(d.lines))


def load_backup(records: Engine, audit: Engine, dumps: list[TableDump]) -> list[Said]:
    """Migrate two empty databases to the backup's schema revisions and load its rows; the problems found."""
    problems: list[Said] = []
    _migrate_scratch(records, audit, _revisions(dumps))
    _load(records, [d for d in dumps if d.database == "records"], problems)
    _load(audit, [d for d in dumps if d.database == "audit"], problems)
    return problems


def restore_to_scratch(ring: Keyring, path: Path, directory: Path) -> Scratch:
    """Decrypt a backup and restore it into two new SQLite databases under ``directory`` (no patient keys)."""
    header, dumps = open_backup(ring, path)
    private_directory(directory)
    records = make_engine(f"sqlite:///{directory / 'records.db'}")
    audit = make_engine(f"sqlite:///{directory / 'audit.db'}")
    scratch = Scratch(records, audit, header)
    try:
        scratch.problems.extend(load_backup(records, audit, dumps))
    except Exception:
        scratch.close()
        raise
    return scratch


def compare_with_header(
    header: dict[str, Any], records: Engine, audit: Engine, problems: list[Said], *, progress: Progress | None = None
) -> tuple[int, int]:
    """Compare restored tables with the header's counts and hashes; (tables, rows). Mismatches go to ``problems``."""
    tables = rows = 0
    shared = _same_database(records, audit)
    for database, engine in (("records", records), ("audit", audit)):
        restored = {d.name: d for d in dump_database(engine, database, shared=shared, progress=progress)}
        for expected in (t for t in header["tables"] if t["database"] == database):
            got = restored.get(expected["table"])
            tables += 1
            rows += len(got.lines) if got else 0
            if got is None:
                problems.append(_problem("not_restored", table=expected["table"]))
            elif len(got.lines) != expected["rows"]:
                problems.append(
                    _problem("row_count", table=expected["table"], got=len(got.lines), expected=expected["rows"])
                )
            elif got.sha256 != expected["sha256"]:
                problems.append(_problem("content_differs", table=expected["table"]))
    return tables, rows


def _changed_since(org: Organisation, header: dict[str, Any]) -> tuple[str, ...]:
    """Tables of the live source whose content differs from the backup (informative: work went on)."""
    shared = _same_database(org.engine, org.audit.engine)
    live = dump_database(org.engine, "records", shared=shared) + dump_database(org.audit.engine, "audit", shared=shared)
    hashes = {(d.database, d.name): d.sha256 for d in live}
    return tuple(
        f"{t['database']}.{t['table']}"
        for t in header["tables"]
        if hashes.get((t["database"], t["table"])) != t["sha256"]
    )


def _sample_part(engine: Engine) -> int | None:
    with engine.connect() as conn:
        token = conn.exec_driver_sql("SELECT token FROM record_part LIMIT 1").scalar()
    return None if token is None else len(token)


def _verify_restored(org: Organisation, path: Path, scratch: Scratch, *, live: bool) -> VerifyReport:
    header, problems = scratch.header, list(scratch.problems)
    tables, rows = compare_with_header(header, scratch.records, scratch.audit, problems)
    _, seal_key = org.keyring.key(KeyFamily.AUDIT_SEAL)
    restored = AuditTrail(scratch.audit, seal_key)
    trail = restored.verify()
    problems.extend(restored_trail(trail.problems))
    problems.extend(org.audit.check_copy(header.get("audit_head"), restored))
    try:
        migrate_all(scratch.records, scratch.audit)
    except Exception as exc:  # any migration failure is a finding of the verification
        problems.append(_problem("no_migration", error=type(exc).__name__))
    try:
        escrow = escrow_rows(org.keyring, path.parent)
    except (BackupRefused, DecryptionRefused) as exc:
        problems.append(refusals.said_of(exc))
        escrow = None
    return VerifyReport(
        path.name,
        str(header.get("created_at", "")),
        tables,
        rows,
        trail.entries,
        _sample_part(scratch.records),
        None if escrow is None else len({json.loads(line)["patient_id"] for line in escrow if line}),
        _changed_since(org, header) if live else (),
        tuple(problems),
        live,
    )


def _failed(path: Path, problem: Said, *, live: bool) -> VerifyReport:
    return VerifyReport(path.name, "", 0, 0, 0, None, None, (), (problem,), live)


def verify_backup(org: Organisation, path: Path, *, by: str = "") -> VerifyReport:
    """Decrypt, restore into a scratch store and check a backup; the result is logged and audited.

    With only the configuration and the keyring here (no databases, e.g. before a restore), the backup is
    still verified and logged, but nothing is compared with live data or audited, and no database is created.
    """
    if not path.is_file():
        raise BackupRefused("no_file", path=path, suffix=SUFFIX)
    live = org.databases_present()
    with tempfile.TemporaryDirectory(prefix="santegarde-verify-") as scratch_dir:
        try:
            scratch = restore_to_scratch(org.keyring, path, Path(scratch_dir))
        except BackupRefused as exc:
            report = _failed(path, refusals.said_of(exc), live=live)
        else:
            try:
                report = _verify_restored(org, path, scratch, live=live)
            finally:
                scratch.close()
    result = "ok" if report.ok else "problems"
    _log(
        path.parent,
        {
            "at": datetime.now(UTC).isoformat(),
            "action": "verify",
            "file": path.name,
            "result": result,
            "problems": [str(p) for p in report.problems],  # French, as the DPO reads the log
        },
    )
    if live:
        _audit(org, "backup.verify", path.name, "success" if report.ok else "error", by or getpass.getuser())
    return report


# -- list ------------------------------------------------------------------------------------------


def _last_verifications(directory: Path) -> dict[str, tuple[str, str]]:
    path = directory / LOG_NAME
    found: dict[str, tuple[str, str]] = {}
    if not path.exists():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash: the others still count
        if entry.get("action") == "verify":
            found[str(entry.get("file"))] = (str(entry.get("at")), str(entry.get("result")))
    return found


def list_backups(directory: Path) -> list[BackupInfo]:
    """The backups of a directory from their clear headers (no key needed), oldest first, with their last check."""
    if not directory.is_dir():
        raise BackupRefused("not_directory", directory=directory)
    checks = _last_verifications(directory)
    infos = []
    for path in sorted(directory.glob(f"backup-*{SUFFIX}")):
        try:
            header, _, _ = read_header(path)
        except BackupRefused:
            infos.append(BackupInfo(path, "", "", 0, 0, path.stat().st_size, "", "unreadable header"))
            continue
        at, result = checks.get(path.name, ("", ""))
        infos.append(
            BackupInfo(
                path,
                str(header["created_at"]),
                str(header["organisation"]),
                len(header["tables"]),
                sum(int(t["rows"]) for t in header["tables"]),
                path.stat().st_size,
                at,
                result,
            )
        )
    return infos
