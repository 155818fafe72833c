"""deploy/: the systemd units and timers and the TLS fronts run real santegarde commands with real options.

Every ``ExecStart`` is parsed and walked down the CLI (``santegarde backup create --to … --config …``): each
command, subcommand and option must exist, so that renaming one breaks this test rather than a hospital's night.
``systemd-analyze verify`` then checks the units as systemd reads them (with the installed prefix replaced by this
environment's ``santegarde``), and the proxies' settings are checked against the API's (body limit, TLS versions).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer._click.core import Command, Context
from typer.core import TyperGroup as Group
from typer.core import TyperOption as Option
from typer.main import get_command

from santegarde.cli.main import app
from santegarde.config.model import DEFAULT_MAX_BODY_BYTES

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "deploy" / "systemd"
PREFIX = "/usr/local/lib/santegarde/bin/santegarde"  # where deploy/README.md installs the virtual environment
JOBS = {"retention", "backup", "restore-drill", "audit-review"}


def _directives(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def _resolve(argv: list[str]) -> list[str]:
    """Walk ``argv`` (after the program) down the CLI; the problems found (unknown command or option)."""
    root = get_command(app)
    command: Command = root
    ctx = Context(root, info_name="santegarde")
    problems: list[str] = []
    words = list(argv)
    while words and isinstance(command, Group) and not words[0].startswith("-"):
        name = words.pop(0)
        sub = command.get_command(ctx, name)
        if sub is None:
            return [f"no command '{name}'"]
        command, ctx = sub, Context(sub, info_name=name, parent=ctx)
    if isinstance(command, Group):
        return ["names a group of commands, not a command"]
    options = {opt: param for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    while words:
        word = words.pop(0)
        if not word.startswith("-"):
            continue
        param = options.get(word.split("=", 1)[0])
        if param is None:
            problems.append(f"no option {word} for this command")
        elif isinstance(param, Option) and not param.is_flag and "=" not in word:
            if not words:
                problems.append(f"{word} needs a value")
            else:
                words.pop(0)
    return problems


def test_every_unit_runs_a_real_command_with_real_options() -> None:
    services = sorted(UNITS.glob("*.service"))
    assert {p.stem.removeprefix("santegarde-") for p in services} == JOBS | {"santegarde"}
    for service in services:
        (exec_start,) = _directives(service)["ExecStart"]
        argv = shlex.split(exec_start)
        assert argv[0] == PREFIX, service.name
        assert "--config" in argv, f"{service.name}: every job names the organisation's configuration"
        assert _resolve(argv[1:]) == [], f"{service.name}: {_resolve(argv[1:])}"
        assert _directives(service)["EnvironmentFile"] == ["/etc/santegarde/passphrase.env"]
        assert "SANTEGARDE_PASSPHRASE" not in service.read_text().replace("SANTEGARDE_PASSPHRASE=…", "")
    for timer in UNITS.glob("*.timer"):
        assert (UNITS / f"{timer.stem}.service").is_file(), f"{timer.name} starts no service"
        assert _directives(timer)["Persistent"] == ["true"]
    serve = shlex.split(_directives(UNITS / "santegarde.service")["ExecStart"][0])
    assert serve[serve.index("--host") + 1] == "127.0.0.1"  # only the proxy reaches it


def test_the_walk_catches_a_wrong_command_or_option() -> None:
    assert _resolve(["backup", "create", "--to", "x", "--config", "y"]) == []
    assert _resolve(["backup", "creat", "--config", "y"]) == ["no command 'creat'"]
    assert _resolve(["retention", "run", "--frobnicate", "--config", "y"]) == [
        "no option --frobnicate for this command"
    ]
    assert _resolve(["backup"]) == ["names a group of commands, not a command"]
    assert _resolve(["audit", "status", "--config"]) == ["--config needs a value"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed (bootstrap dev)")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    santegarde = Path(sys.executable).with_name("santegarde")
    assert santegarde.exists()
    for unit in UNITS.iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace(PREFIX, str(santegarde)))
    units = sorted(str(p) for p in tmp_path.iterdir())
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    relevant = [line for line in done.stderr.splitlines() if "santegarde" in line]
    assert done.returncode == 0 and not relevant, done.stderr
    for timer in UNITS.glob("*.timer"):
        (when,) = _directives(timer)["OnCalendar"]
        subprocess.run(["systemd-analyze", "calendar", when], capture_output=True, check=True, timeout=30)


def test_the_tls_fronts_match_the_api() -> None:
    nginx = (ROOT / "deploy" / "nginx" / "santegarde.conf").read_text()
    caddy = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text()
    assert re.search(r"^\s*ssl_protocols TLSv1\.2 TLSv1\.3;", nginx, re.M)
    assert "protocols tls1.2 tls1.3" in caddy
    (body,) = re.findall(r"client_max_body_size (\d+)m;", nginx)
    assert int(body) * 1024 * 1024 == DEFAULT_MAX_BODY_BYTES
    assert "max_size 1MB" in caddy and DEFAULT_MAX_BODY_BYTES == 1024 * 1024
    ciphers = re.search(r"ssl_ciphers ([^;]+);", nginx)
    assert ciphers and all("GCM" in c or "CHACHA20" in c for c in ciphers.group(1).split(":"))
    assert all(c.startswith("ECDHE") for c in ciphers.group(1).split(":"))  # forward secrecy only
    for conf in (nginx, caddy):
        assert "Strict-Transport-Security" in conf and "max-age=63072000" in conf
        assert "127.0.0.1:8000" in conf
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in nginx  # replaced, never appended by the client
