"""``santegarde doctor``: what an operator checks after installing or upgrading, each check a finding.

A finding names the check and, when it fails, the key of the sentence that says what to do, with its facts (a path
of this machine, a schema's name, a number of minutes: never a datum of a patient). The command words them in French
or English (``documents_text.yaml``, cli → doctor); a passing check may say what it saw (``note``). The checks: the
configuration, the permissions of what holds secrets, the addresses the API trusts forwarded headers from, the TLS
front found on this machine (``fronts.py``), whether an NTP client keeps the clock synchronised (``timedatectl`` or
``chronyc``; when neither answers, it says it cannot tell), the keys, each database's reachability and schema
revisions, the end of the audit chain, free disk, and the clock against the trail.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from santegarde.audit.tables import entry
from santegarde.config import load
from santegarde.config.model import OrganisationConfig
from santegarde.errors import SantegardeError
from santegarde.lifecycle.fronts import KNOWN_PLACES, find_front, read_front
from santegarde.lifecycle.upgrade import outdated
from santegarde.runtime import Organisation, audit_anchor_path, open_organisation
from santegarde.store.reach import MIN_FREE_BYTES, free_bytes, reachable

CLOCK_TOLERANCE = timedelta(minutes=2)
# uvicorn trusts X-Forwarded-For/-Proto only from these addresses (its default: 127.0.0.1); '*' trusts anyone.
FORWARDED_ENV = "FORWARDED_ALLOW_IPS"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Finding:
    check: str  # configuration, permissions, keys, records_database, audit_database, schemas, audit_tail, disk, ...
    problem: str | None = None  # the key of the sentence saying what to do; None: the check passes
    facts: Mapping[str, object] = field(default_factory=dict)
    skipped: bool = False  # not checked, because an earlier check failed or it cannot be told (problem says which)
    note: str | None = None  # for a check that passes: the key of the sentence saying what was seen

    @property
    def ok(self) -> bool:
        return self.problem is None


def _open(path: Path) -> list[Path]:
    """``path`` and, for a directory, the files in it, readable or writable by others than their owner."""
    paths = [path, *sorted(path.iterdir())] if path.is_dir() else [path]
    return [p for p in paths if p.exists() and stat.S_IMODE(p.stat().st_mode) & 0o077]


def permissions(config_path: Path, config: OrganisationConfig) -> Finding:
    """The configuration, the keyring and the audit anchor: readable and writable by the service's account only."""
    keyring = Path(config.keyring_path)
    if not keyring.is_absolute():
        keyring = config_path.resolve().parent / keyring
    for path in (config_path, keyring, audit_anchor_path(config_path, config)):
        exposed = _open(path) if path.exists() else []
        if exposed:
            mode = stat.filemode(exposed[0].stat().st_mode)
            return Finding("permissions", "permissions", {"path": exposed[0], "mode": mode})
    return Finding("permissions")


def proxy(config: OrganisationConfig, environ: Mapping[str, str]) -> Finding:
    """Only the proxy's address may set the client's address and scheme; only https sites may write."""
    trusted = [part.strip() for part in environ.get(FORWARDED_ENV, "127.0.0.1").split(",") if part.strip()]
    for address in trusted:
        if address == "*":
            return Finding("proxy", "proxy_anyone", {"variable": FORWARDED_ENV})
        try:
            network = ipaddress.ip_network(address, strict=False)
        except ValueError:
            return Finding("proxy", "proxy_unreadable", {"variable": FORWARDED_ENV, "value": address})
        if not network.is_private and not network.is_loopback:
            return Finding("proxy", "proxy_public", {"variable": FORWARDED_ENV, "value": address})
    for origin in config.server.allowed_origins:
        parts = urlsplit(origin)
        if parts.scheme != "https" and parts.hostname not in LOCAL_HOSTS:
            return Finding("proxy", "origin_http", {"origin": origin})
    return Finding("proxy", note="proxy_trusted", facts={"variable": FORWARDED_ENV, "addresses": ", ".join(trusted)})


def front(config: OrganisationConfig, places: tuple[Path, ...]) -> Finding:
    """The TLS front this machine runs (the first of ``places`` found), read as the tests read the generated ones."""
    path = find_front(places)
    if path is None:
        return Finding("front", "front_none", {"places": ", ".join(str(p) for p in places)}, skipped=True)
    try:
        view = read_front(path, path.read_text(encoding="utf-8"), config.server.max_body_bytes)
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return Finding("front", "front_unreadable", {"path": path, "why": why})
    if view.problems:
        key, facts = view.problems[0]
        return Finding("front", key, facts)
    kib = "—" if view.body_bytes is None else view.body_bytes // 1024
    return Finding("front", note="front_seen", facts={"path": path, "kind": view.kind, "kib": kib})


# The probes of clock synchronisation, in order: systemd-timesyncd (or any NTP client timedatectl knows of), chrony.
SYNC_PROBES: tuple[tuple[str, ...], ...] = (
    ("timedatectl", "show", "--property=NTPSynchronized", "--value"),
    ("chronyc", "-n", "tracking"),
)


def run_probe(argv: tuple[str, ...]) -> str | None:
    """The output of ``argv``, or None when the program is missing or fails (no systemd, no chrony daemon)."""
    program = shutil.which(argv[0])
    if program is None:
        return None
    try:
        done = subprocess.run([program, *argv[1:]], capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def clock_sync(probe: Callable[[tuple[str, ...]], str | None]) -> Finding:
    """Whether an NTP client keeps this clock synchronised; when no probe answers, says it cannot tell."""
    for argv in SYNC_PROBES:
        said = probe(argv)
        if said is None:
            continue
        if argv[0] == "timedatectl":
            synced = said.strip() == "yes"
        else:
            leap = re.search(r"^Leap status\s*:\s*(.+)$", said, re.M)
            if leap is None:
                continue
            synced = leap.group(1).strip() != "Not synchronised"
        if synced:
            return Finding("clock_sync", note="clock_synced", facts={"tool": argv[0]})
        return Finding("clock_sync", "clock_unsynced", {"tool": argv[0]})
    return Finding("clock_sync", "clock_unknown", {"tools": " / ".join(a[0] for a in SYNC_PROBES)}, skipped=True)


def databases(org: Organisation) -> list[Finding]:
    records_up, audit_up = reachable(org.engine), reachable(org.audit.engine)
    found = [
        Finding("records_database", None if records_up else "records_database"),
        Finding("audit_database", None if audit_up else "audit_database"),
    ]
    if not (records_up and audit_up):
        return [*found, Finding("schemas", "needs_databases", skipped=True)]
    try:
        behind = outdated(org.engine, org.audit.engine)
    except SQLAlchemyError:
        return [*found, Finding("schemas", "schemas_unreadable", {"config": org.config_path})]
    if behind:
        names = ", ".join(state.package.removeprefix("santegarde.") for state in behind)
        return [*found, Finding("schemas", "schemas_behind", {"schemas": names, "config": org.config_path})]
    return [*found, Finding("schemas")]


def audit_tail(org: Organisation) -> Finding:
    try:
        problem = org.audit.tail_problem()
    except SQLAlchemyError:
        return Finding("audit_tail", "needs_databases", skipped=True)
    if problem is None:
        return Finding("audit_tail")
    what, seq = problem
    return Finding("audit_tail", f"tail_{what}", {"seq": seq})


def disk(org: Organisation, min_free_bytes: int) -> Finding:
    for name, engine in (("records", org.engine), ("audit", org.audit.engine)):
        try:
            free = free_bytes(engine)
        except OSError:
            free = 0
        if free is not None and free < min_free_bytes:
            return Finding("disk", f"disk_{name}", {"mib": min_free_bytes // (1024 * 1024), "free": free // 2**20})
    return Finding("disk")


def clock(org: Organisation, now: datetime) -> Finding:
    """This machine's clock is not behind the last entry of the trail (which another machine may have written)."""
    try:
        with org.audit.engine.connect() as conn:
            last = conn.execute(select(entry.c.at).order_by(entry.c.seq.desc()).limit(1)).scalar()
    except SQLAlchemyError:
        return Finding("clock", "needs_databases", skipped=True)
    if last is None:
        return Finding("clock")
    last = last if last.tzinfo else last.replace(tzinfo=UTC)
    if last - now > CLOCK_TOLERANCE:
        return Finding("clock", "clock_behind", {"minutes": int((last - now).total_seconds() // 60)})
    return Finding("clock")


def examine(
    config_path: Path,
    passphrase: Callable[[], str],
    *,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
    min_free_bytes: int = MIN_FREE_BYTES,
    fronts: tuple[Path, ...] = KNOWN_PLACES,
    probe: Callable[[tuple[str, ...]], str | None] | None = None,
    then: Callable[[Organisation, list[Finding]], None] | None = None,
) -> list[Finding]:
    """Every check, in order; a check that needs what an earlier one could not give is skipped with a reason.

    ``then`` is called with the opened organisation and the findings before it is closed (the command journals
    itself there). ``fronts``: where the TLS front's configuration may be; ``probe`` runs a clock-sync probe."""
    if not config_path.is_file():
        return [Finding("configuration", "configuration_missing", {"path": config_path})]
    try:
        config = load(config_path)
    except (SantegardeError, ValueError, OSError) as exc:
        return [Finding("configuration", "configuration", {"path": config_path, "why": str(exc)})]
    found = [Finding("configuration"), permissions(config_path, config), proxy(config, environ or os.environ)]
    found += [front(config, fronts), clock_sync(probe or run_probe)]
    try:
        org = open_organisation(config_path, passphrase())
    except (SantegardeError, ValueError, OSError) as exc:
        later = ("records_database", "audit_database", "schemas", "audit_tail", "disk", "clock")
        return [*found, Finding("keys", "keys", {"why": str(exc).rstrip(".")})] + [
            Finding(check, "needs_keys", skipped=True) for check in later
        ]
    try:
        found += [Finding("keys"), *databases(org), audit_tail(org), disk(org, min_free_bytes)]
        found.append(clock(org, now or datetime.now(UTC)))
        if then is not None:
            then(org, found)
    finally:
        org.close()
    return found
