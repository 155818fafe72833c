"""Tampering with the audit trail by hand (raw SQL, file operations) is always detected (COM-LOG-2).

A trail of a few hundred entries, checkpoints every 100, on SQLite with its anchor file; each test
does one attack an administrator of the machine could do without the audit-sealing key, and checks
that ``verify`` reports it in a sentence, and that appends refuse a headless trail.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, text, update
from typer.testing import CliRunner

from init_answers import init_answers
from santegarde.audit import chain
from santegarde.audit.tables import checkpoint, entry, head
from santegarde.audit.trail import AuditEvent, AuditTrail, TrailTampered
from santegarde.audit.witness import SyslogWitness
from santegarde.cli.main import app
from santegarde.config import load
from santegarde.crypto import KeyFamily
from santegarde.errors import SantegardeError
from santegarde.lifecycle.backup import create_backup, read_header, verify_backup
from santegarde.runtime import audit_anchor_path, open_organisation
from santegarde.store.db import make_engine, migrate

KEY = b"t" * 32
# What gives away an English sentence or a raw identifier in the French output of 'audit verify'.
TELL_TALE = re.compile(r"\b(the|and|entry|trail|head|anchor file|was|is|not|missing|sealed)\b", re.IGNORECASE)
SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")
EVENTS = 379  # with the trail's first entry: entries 1 to 380, checkpoints at 100, 200 and 300
LAST = EVENTS + 1


class Clock:
    def __init__(self, start: datetime = datetime(2026, 1, 1, 9, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        f"user-{i % 4}", "practitioner", "read", "Observation", f"obs-{i}", "medical_record", True, "r", "6", "success"
    )


def _trail(directory: Path, clock: Clock | None = None) -> AuditTrail:
    engine = make_engine(f"sqlite:///{directory / 'audit.db'}")
    return AuditTrail(engine, KEY, clock=clock or Clock(), checkpoint_every=100, anchor=directory / "audit.anchor")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The untampered trail, built once; each test works on its own copy of the database and the anchor."""
    directory = tmp_path_factory.mktemp("trail")
    trail = _trail(directory)
    migrate(trail.engine, package="santegarde.audit")
    for i in range(EVENTS):
        trail.append(_event(i))
    trail.engine.dispose()
    return directory


@pytest.fixture
def trail(template: Path, tmp_path: Path) -> Iterator[AuditTrail]:
    for name in os.listdir(template):
        shutil.copy2(template / name, tmp_path / name)
    t = _trail(tmp_path, Clock(datetime(2026, 3, 1, tzinfo=UTC)))
    yield t
    t.engine.dispose()


def _problems(trail: AuditTrail) -> str:
    report = trail.verify()
    assert not report.intact, "the tampering went unnoticed"
    return "\n".join(p.in_language("en") for p in report.problems)


def _sql(engine: Engine, *statements: object) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[call-overload]


def _rechain_from(trail: AuditTrail, seq: int) -> None:
    """Edit entry ``seq`` and recompute every later hash, as an attacker without the key can."""
    with trail.engine.begin() as conn:
        rows = list(trail.entries(conn))
        prev = rows[seq - 2].hash
        for e in rows[seq - 1 :]:
            content = {**e.content, "actor": "someone-else"} if e.seq == seq else e.content
            digest = chain.entry_hash(e.seq, prev, content)
            conn.execute(
                update(entry)
                .where(entry.c.seq == e.seq)
                .values(content=chain.canonical(content).decode(), prev_hash=prev, hash=digest)
            )
            prev = digest
        conn.execute(update(head).values(hash=prev))


# -- the untampered trail ----------------------------------------------------------------------------


def test_untampered_trail_is_intact(trail: AuditTrail) -> None:
    report = trail.verify()
    assert report.intact, report.problems
    assert report.entries == LAST and report.checkpoints == 3


def test_purged_trail_stays_intact_and_its_anchor_bounded(trail: AuditTrail) -> None:
    with trail.engine.connect() as conn:
        cutoff = conn.execute(select(entry.c.at).where(entry.c.seq == 251)).scalar_one()
    assert trail.purge(cutoff.replace(tzinfo=UTC)) == 250
    assert trail.verify().intact, trail.verify().problems
    assert trail.anchor is not None and len(trail.anchor.path.read_text().splitlines()) == 2  # entries 300 and 380
    for i in range(25):
        trail.append(_event(i))
    report = trail.verify()
    assert report.intact and report.entries == LAST - 250 + 25


def test_a_trail_purged_of_every_entry_is_intact_but_not_once_emptied(trail: AuditTrail) -> None:
    assert trail.purge(datetime(2027, 1, 1, tzinfo=UTC)) == LAST
    report = trail.verify()
    assert report.intact and report.entries == 0  # its purge anchor is the sealed head's own entry
    trail.append(_event(1))
    assert trail.verify().intact
    _sql(trail.engine, delete(entry), delete(checkpoint))
    assert "no entry" in _problems(trail)


def test_a_rolled_back_append_leaves_no_anchor_line(trail: AuditTrail) -> None:
    with pytest.raises(RuntimeError), trail.engine.begin() as conn:
        trail.append(_event(1), conn)
        raise RuntimeError("the caller's transaction fails")
    trail.append(_event(2))
    assert trail.verify().intact


def test_a_new_trail_starts_with_an_entry_and_an_empty_one_fails(tmp_path: Path) -> None:
    fresh = _trail(tmp_path)
    migrate(fresh.engine, package="santegarde.audit")
    assert "no entry" in _problems(fresh)  # migrated, never initialised: not "empty = fine"
    assert fresh.initialise() and not fresh.initialise()
    assert fresh.verify().intact and fresh.verify().entries == 1
    assert fresh.anchor is not None and stat.S_IMODE(fresh.anchor.path.stat().st_mode) == 0o600
    fresh.engine.dispose()


# -- attacks on the database ---------------------------------------------------------------------------


def test_edited_entry(trail: AuditTrail) -> None:
    _sql(trail.engine, update(entry).where(entry.c.seq == 150).values(content=text("replace(content, 'obs', 'lab')")))
    assert "entry 150: its content was edited" in _problems(trail)


def test_deleted_middle_entry(trail: AuditTrail) -> None:
    _sql(trail.engine, delete(entry).where(entry.c.seq == 123))
    assert "entry 124: missing entries before it (deleted)" in _problems(trail)


def test_deleted_tail(trail: AuditTrail) -> None:
    _sql(trail.engine, delete(entry).where(entry.c.seq > 350))
    assert "the trail's head says entry 380: entries after 350 are missing (truncated)" in _problems(trail)


def test_deleted_tail_after_last_checkpoint_with_head_fixed(trail: AuditTrail) -> None:
    """Today's demo attack: delete entries after the last checkpoint and make the head point at the new end."""
    with trail.engine.connect() as conn:
        new_end = conn.execute(select(entry.c.hash).where(entry.c.seq == 340)).scalar_one()
    _sql(trail.engine, delete(entry).where(entry.c.seq > 340), update(head).values(seq=340, hash=new_end))
    problems = _problems(trail)
    assert "head (entry 340) does not carry a valid seal" in problems
    assert "anchor file records entry 380 but the trail's head is entry 340" in problems


def test_deleted_tail_with_its_checkpoints_and_a_moved_seal(trail: AuditTrail) -> None:
    """Cut back to checkpoint 300, delete later checkpoints, and give the head the checkpoint's own seal."""
    with trail.engine.connect() as conn:
        cp = conn.execute(select(checkpoint).where(checkpoint.c.seq == 300)).one()
    _sql(
        trail.engine,
        delete(entry).where(entry.c.seq > 300),
        delete(checkpoint).where(checkpoint.c.seq > 300),
        update(head).values(seq=300, hash=cp.hash, seal=cp.seal),
    )
    problems = _problems(trail)
    assert "head (entry 300) does not carry a valid seal" in problems
    assert "records entry 380" in problems


def test_rechained_edit_with_later_checkpoints_dropped(trail: AuditTrail) -> None:
    """Edit entry 250, recompute every later hash, drop the checkpoints after it."""
    _rechain_from(trail, 250)
    _sql(trail.engine, delete(checkpoint).where(checkpoint.c.seq > 250))
    problems = _problems(trail)
    assert "entry 300: its sealed checkpoint is missing (deleted)" in problems
    assert "head (entry 380) does not carry a valid seal" in problems
    assert "entry 250: it differs from the anchor file" in problems


def test_deleted_checkpoints_only(trail: AuditTrail) -> None:
    _sql(trail.engine, delete(checkpoint))
    problems = _problems(trail)
    assert all(f"entry {n}: its sealed checkpoint is missing" in problems for n in (100, 200, 300))


def test_emptied_tables(trail: AuditTrail) -> None:
    _sql(trail.engine, delete(entry), delete(checkpoint), delete(head))
    assert "the trail has no head" in _problems(trail)
    with pytest.raises(TrailTampered, match="pas de tête"):
        trail.append(_event(1))
    assert not trail.initialise()  # never re-created


def test_emptied_tables_with_a_new_head_planted(trail: AuditTrail) -> None:
    """Empty everything and plant a 'never used' head: the anchor file knows the trail was in use."""
    _sql(trail.engine, delete(entry), delete(checkpoint), update(head).values(seq=0, hash=chain.GENESIS, seal=None))
    assert "anchor file records entry 380 but the trail's head is entry 0" in _problems(trail)
    assert not trail.initialise()
    with pytest.raises(TrailTampered, match="a été vidée"):
        trail.append(_event(1))


def test_deleted_head_row(trail: AuditTrail) -> None:
    _sql(trail.engine, delete(head))
    assert "the trail has no head: its head row was deleted" in _problems(trail)
    with pytest.raises(TrailTampered, match="lancez « santegarde audit verify »"):  # not an IntegrityError
        trail.append(_event(1))
    with trail.engine.connect() as conn:
        assert conn.execute(select(head)).first() is None  # no head silently re-created at 0


# -- attacks on the files ------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0, 4096])
def test_truncated_database_file(trail: AuditTrail, keep: int) -> None:
    trail.engine.dispose()
    db = trail.anchor.path.with_name("audit.db") if trail.anchor else Path()
    with open(db, "r+b") as handle:
        handle.truncate(keep)
    assert "the audit database cannot be read" in _problems(trail)


def test_older_copy_of_the_database_restored(trail: AuditTrail, tmp_path: Path) -> None:
    trail.engine.dispose()
    shutil.copy2(tmp_path / "audit.db", tmp_path / "older.db")
    for i in range(3):
        trail.append(_event(i))
    trail.engine.dispose()
    os.replace(tmp_path / "older.db", tmp_path / "audit.db")
    assert "anchor file records entry 383 but the trail's head is entry 380" in _problems(trail)


def test_a_deliberate_restore_restarts_the_anchor_file_and_keeps_the_old_one(trail: AuditTrail, tmp_path: Path) -> None:
    assert trail.anchor is not None
    with pytest.raises(SantegardeError, match="rien à faire repartir"):
        trail.restart_anchor("admin")
    trail.engine.dispose()
    shutil.copy2(tmp_path / "audit.db", tmp_path / "older.db")
    trail.append(_event(1))
    trail.engine.dispose()
    os.replace(tmp_path / "older.db", tmp_path / "audit.db")  # the restore of a verified, older backup
    assert not trail.verify().intact
    kept = trail.restart_anchor("admin")
    assert kept.read_text().splitlines()[-1].startswith(f"{LAST + 1} ")  # the evidence of what came before
    assert trail.verify().intact and trail.anchor.path.read_text().startswith(f"{LAST + 1} ")
    with trail.engine.connect() as conn:
        restart = list(trail.entries(conn))[-1].content
    assert (restart["operation"], restart["actor"], restart["resource_id"]) == (
        "audit.anchor.restart",
        "admin",
        kept.name,
    )


def test_the_anchor_file_is_not_restarted_over_a_tampered_trail(trail: AuditTrail) -> None:
    _rechain_from(trail, 250)
    with pytest.raises(SantegardeError, match="ne repart que pour une chaîne intacte"):
        trail.restart_anchor("admin")
    assert trail.anchor is not None and len(list(trail.anchor.path.parent.glob("audit.anchor.replaced-*"))) == 0


def test_forged_anchor_line(trail: AuditTrail) -> None:
    assert trail.anchor is not None
    lines = trail.anchor.path.read_text().splitlines()
    seq, digest, _ = lines[-1].split(" ")
    lines[-1] = f"{seq} {digest} {chain.seal(b'x' * 32, int(seq), digest, 'anchor')}"
    trail.anchor.path.write_text("\n".join([*lines, f"999 {digest} {'0' * 64}"]) + "\n")
    problems = _problems(trail)
    assert f"line {len(lines)} of the anchor file" in problems and "does not carry a valid seal" in problems
    assert f"line {len(lines) + 1} of the anchor file" in problems


def test_anchor_lines_removed(trail: AuditTrail) -> None:
    assert trail.anchor is not None
    lines = trail.anchor.path.read_text().splitlines()
    trail.anchor.path.write_text("\n".join(lines[:-5]) + "\n")
    # Behind the trail is what a process stopped between a commit and its anchor line leaves: a note, not a break.
    report = trail.verify()
    assert report.intact and "anchor file stops at entry 375 but the trail's head is entry 380" in report.notes[
        0
    ].in_language("en")


def test_anchor_file_deleted(trail: AuditTrail) -> None:
    assert trail.anchor is not None
    trail.anchor.path.unlink()
    assert "anchor file" in _problems(trail) and "is missing" in _problems(trail)


def test_a_deleted_anchor_file_is_not_recreated_to_launder_an_older_copy(trail: AuditTrail, tmp_path: Path) -> None:
    """Put an older audit.db back and delete the anchor file: the next appends must not start a clean new file."""
    assert trail.anchor is not None
    trail.engine.dispose()
    shutil.copy2(tmp_path / "audit.db", tmp_path / "older.db")
    trail.append(_event(1))
    trail.engine.dispose()
    os.replace(tmp_path / "older.db", tmp_path / "audit.db")
    trail.anchor.path.unlink()
    with pytest.raises(SantegardeError, match=r"fichier d'ancrage des traces .* est manquant") as missing:
        trail.append(_event(2))
    assert "is missing: it was deleted or moved" in missing.value.in_language("en")  # type: ignore[attr-defined]
    with pytest.raises(SantegardeError, match="est manquant"):
        trail.purge(datetime(2026, 1, 1, 12, tzinfo=UTC))
    assert not trail.anchor.path.exists() and "is missing" in _problems(trail)
    with trail.engine.connect() as conn:  # refused appends and purge left nothing behind
        assert conn.execute(select(head.c.seq)).scalar_one() == LAST
        assert conn.execute(select(entry.c.seq).order_by(entry.c.seq).limit(1)).scalar_one() == 1
    assert trail.restart_anchor("admin") is None  # the operator's decision, itself traced
    assert trail.verify().intact


# -- a trail written before heads were sealed ------------------------------------------------------------


def test_a_trail_from_before_sealed_heads_is_sealed_once_then_goes_on(tmp_path: Path) -> None:
    """Migrated from a001 with its entries: appends refuse the unsealed head until 'audit seal-head'."""
    legacy = _trail(tmp_path)
    migrate(legacy.engine, "a001", package="santegarde.audit")
    entries = chain.chain(1, chain.GENESIS, ({"n": i} for i in range(120)))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with legacy.engine.begin() as conn:
        for e in entries:
            conn.execute(
                text("INSERT INTO audit_entry VALUES (:s, :at, :c, :p, :h)"),
                {"s": e.seq, "at": at, "c": chain.canonical(e.content).decode(), "p": e.prev_hash, "h": e.hash},
            )
        cp = entries[99]
        conn.execute(
            text("INSERT INTO audit_checkpoint VALUES (:s, :h, :m, false, :at)"),
            {"s": cp.seq, "h": cp.hash, "m": chain.seal(KEY, cp.seq, cp.hash), "at": at},
        )
        conn.execute(text("INSERT INTO audit_head VALUES (1, 120, :h)"), {"h": entries[-1].hash})
    migrate(legacy.engine, package="santegarde.audit")
    assert not legacy.initialise()
    with pytest.raises(TrailTampered, match="n'est pas scellée"):
        legacy.append(_event(1))
    assert "seal it once with 'santegarde audit seal-head'" in _problems(legacy)
    assert legacy.seal_head() == 120
    legacy.append(_event(1))
    assert legacy.verify().intact
    with pytest.raises(TrailTampered, match="déjà scellée"):
        legacy.seal_head()
    legacy.engine.dispose()


def test_seal_head_refuses_a_trail_with_another_problem(trail: AuditTrail) -> None:
    """Removing the seal after cutting the tail does not get the cut ratified by 'audit seal-head'."""
    with trail.engine.connect() as conn:
        new_end = conn.execute(select(entry.c.hash).where(entry.c.seq == 340)).scalar_one()
    _sql(trail.engine, delete(entry).where(entry.c.seq > 340), update(head).values(seq=340, hash=new_end, seal=None))
    with pytest.raises(TrailTampered, match="enregistre l'entrée 380"):
        trail.seal_head()


# -- the command line ----------------------------------------------------------------------------------


PASS = "a long enough test passphrase"


def _organisation(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fictitious practice, initialised and given its keys, as a person would set it up."""
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    directory = tmp_path / "org"
    init = ["init", "--profile", "practice", "--dir", str(directory), "--set", "retention_end_action=delete"]
    init += init_answers("practice")
    assert runner.invoke(app, init).exit_code == 0
    config = str(directory / "santegarde.yaml")
    assert runner.invoke(app, ["keys", "init", "--config", config]).exit_code == 0
    return config


def test_audit_verify_command_on_a_tampered_organisation(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _organisation(runner, tmp_path, monkeypatch)
    directory = Path(config).parent.resolve()
    settings = load(Path(config))
    assert audit_anchor_path(Path(config), settings) == directory / "audit.anchor"  # by default, beside the config
    elsewhere = settings.model_copy(update={"audit_anchor_path": "../witness/org.anchor"})
    assert audit_anchor_path(Path(config), elsewhere) == directory.parent / "witness" / "org.anchor"
    for _ in range(3):
        assert runner.invoke(app, ["audit", "status", "--config", config]).exit_code == 0
    ok = runner.invoke(app, ["audit", "verify", "--lang", "en", "--config", config])
    assert ok.exit_code == 0 and "intact: 4 entries" in ok.output, ok.output  # the first entry, then 3 commands
    anchor = directory / "audit.anchor"
    assert stat.S_IMODE(anchor.stat().st_mode) == 0o600 and len(anchor.read_text().splitlines()) == 5

    engine = make_engine(f"sqlite:///{directory / 'audit.db'}")
    with engine.begin() as conn:  # today's demo attack: cut the tail and point the head at the new end
        new_end = conn.execute(select(entry.c.hash).where(entry.c.seq == 3)).scalar_one()
        conn.execute(delete(entry).where(entry.c.seq > 3))
        conn.execute(update(head).values(seq=3, hash=new_end))
    broken = runner.invoke(app, ["audit", "verify", "--config", config])
    assert broken.exit_code == 2 and "La chaîne des traces n'est PAS intacte (2 problème(s))" in broken.output
    said = " ".join(broken.output.split())
    assert "La tête de la chaîne (entrée 3) ne porte pas de sceau valable" in said
    assert "Le fichier d'ancrage enregistre l'entrée 5 mais la tête de la chaîne est l'entrée 3" in said
    assert not TELL_TALE.findall(said) and not SNAKE.findall(said), said  # no English sentence, no identifier
    english = runner.invoke(app, ["audit", "verify", "--lang", "en", "--config", config])
    said = " ".join(english.output.split())
    assert english.exit_code == 2 and "The audit trail is NOT intact (2 problems)" in said
    assert "The trail's head (entry 3) does not carry a valid seal" in said
    assert "The anchor file records entry 5 but the trail's head is entry 3" in said
    assert "Traceback" not in broken.output and isinstance(broken.exception, SystemExit)

    with engine.begin() as conn:  # and the head row deleted: no traceback, no IntegrityError, no head re-created
        conn.execute(delete(head))
    engine.dispose()
    headless = runner.invoke(app, ["audit", "verify", "--config", config])
    said = " ".join(headless.output.split())
    assert headless.exit_code == 2 and "La chaîne n'a pas de tête : sa ligne de tête a été supprimée" in said
    other = runner.invoke(app, ["audit", "status", "--config", config])  # every audited command refuses, politely
    assert other.exit_code == 2 and "lancez « santegarde audit verify »" in " ".join(other.output.split())
    assert "IntegrityError" not in other.output and isinstance(other.exception, SystemExit)


# -- backups -------------------------------------------------------------------------------------------


def test_backup_header_carries_the_sealed_audit_head(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backup names the sealed head it holds; one taken from a forked trail disagrees with the anchor file."""
    config = Path(_organisation(runner, tmp_path, monkeypatch))
    org = open_organisation(config, PASS)
    for i in range(3):
        org.audit.append(_event(i))
    org.audit.engine.dispose()
    shutil.copy2(config.parent / "audit.db", tmp_path / "older.db")
    first = create_backup(org, tmp_path / "backups", by="admin")
    sealed_head = read_header(first)[0]["audit_head"]
    assert sealed_head["seq"] == 4 and chain.is_sealed(
        org.keyring.key(KeyFamily.AUDIT_SEAL)[1], sealed_head["seal"], 4, sealed_head["hash"], "head"
    )
    assert verify_backup(org, first, by="admin").ok

    org.audit.engine.dispose()  # restore an older copy of audit.db, and let the trail go on from it
    os.replace(tmp_path / "older.db", config.parent / "audit.db")
    org.audit.append(_event(9))
    assert "entrée 5 : elle diffère du fichier d'ancrage" in "\n".join(map(str, org.audit.verify().problems))
    forked = create_backup(org, tmp_path / "backups", by="admin")
    report = verify_backup(org, forked, by="admin")
    said = " ".join(str(p) for p in report.problems)
    assert "La chaîne des traces de la sauvegarde diffère à l'entrée 5 du fichier d'ancrage de l'organisme" in said
    assert not TELL_TALE.findall(said) and not SNAKE.findall(said), said  # no English sentence, no identifier
    english = " ".join(p.in_language("en") for p in report.problems)
    assert "The backup's audit trail differs at entry 5 from the organisation's anchor file" in english
    org.close()


# -- the syslog witness --------------------------------------------------------------------------------


def test_every_sealed_head_also_goes_to_a_syslog_server(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)  # a safety net: a datagram to the loopback is there as soon as it is sent
        address = f"127.0.0.1:{server.getsockname()[1]}"
        engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
        witnessed = AuditTrail(engine, KEY, anchor=tmp_path / "audit.anchor", witness=SyslogWitness(address))
        migrate(witnessed.engine, package="santegarde.audit")
        witnessed.append(_event(1))
        received = [server.recv(512).decode() for _ in range(2)]
    assert witnessed.anchor is not None
    anchored = witnessed.anchor.path.read_text().splitlines()
    assert received == [f"<85>santegarde-audit: head {line}" for line in anchored]  # the first entry, then the event
    witnessed.engine.dispose()


def test_an_absent_syslog_does_not_stop_the_trail(tmp_path: Path) -> None:
    trail = AuditTrail(
        make_engine(f"sqlite:///{tmp_path / 'audit.db'}"),
        KEY,
        anchor=tmp_path / "audit.anchor",
        witness=SyslogWitness(str(tmp_path / "no-syslog-here.sock")),
    )
    migrate(trail.engine, package="santegarde.audit")
    trail.append(_event(1))
    assert trail.verify().intact
    trail.engine.dispose()
