"""santegarde deploy: the systemd units and timers and the TLS fronts, made from the organisation's configuration.

Every ``ExecStart`` written is parsed and walked down the CLI (``santegarde backup create --to … --config …``): each
command, subcommand and option must exist, so that renaming one breaks this test rather than a hospital's night.
``systemd-analyze verify`` then checks the units as systemd reads them, ``nginx -t`` the nginx front (when the
machine has them: scripts/bootstrap dev installs both from Debian), and the fronts are read back with the checks
``santegarde doctor`` runs on the front it finds. Each refusal is tried, including names and paths made to inject
directives into a unit or a proxy configuration.
"""

from __future__ import annotations

import datetime
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer._click.core import Command, Context
from typer.core import TyperGroup as Group
from typer.core import TyperOption as Option
from typer.main import get_command
from typer.testing import CliRunner

from init_answers import init_answers
from santegarde.cli.main import app
from santegarde.config import load, save
from santegarde.config.model import DEFAULT_MAX_BODY_BYTES, ProSanteConnectConfig
from santegarde.lifecycle import deploy
from santegarde.lifecycle.fronts import read_front

PROGRAM = Path(sys.executable).absolute().with_name("santegarde")
JOBS = {"retention", "backup", "restore-drill", "audit-review"}
SITE = "sante.cabinet-exemple.invalid"


@pytest.fixture
def org(runner: CliRunner, tmp_path: Path) -> Path:
    directory = tmp_path / "org"
    made = runner.invoke(
        app,
        ["init", "--profile", "practice", "--dir", str(directory), "--name", "Cabinet Docteur (fictif)",
         "--set", "retention_end_action=delete", *init_answers("practice")],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    config_path = directory / "santegarde.yaml"
    config = load(config_path)
    server = config.server.model_copy(update={"allowed_origins": [f"https://{SITE}"]})
    save(config.model_copy(update={"backup_directory": str(tmp_path / "backups"), "server": server}), config_path)
    return config_path


def deploy_cli(runner: CliRunner, kind: str, org: Path, to: Path, *more: str) -> tuple[int, str]:
    done = runner.invoke(app, ["deploy", kind, "--config", str(org), "--to", str(to), *more])
    return done.exit_code, done.output


def _directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
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


def test_the_walk_catches_a_wrong_command_or_option() -> None:
    assert _resolve(["backup", "create", "--to", "x", "--config", "y"]) == []
    assert _resolve(["backup", "creat", "--config", "y"]) == ["no command 'creat'"]
    assert _resolve(["retention", "run", "--frobnicate", "--config", "y"]) == [
        "no option --frobnicate for this command"
    ]
    assert _resolve(["backup"]) == ["names a group of commands, not a command"]
    assert _resolve(["audit", "status", "--config"]) == ["--config needs a value"]


def test_every_unit_runs_a_real_command_of_this_installation_on_this_organisation(
    runner: CliRunner, org: Path, tmp_path: Path
) -> None:
    code, out = deploy_cli(runner, "systemd", org, tmp_path / "units")
    assert code == 0, out
    assert "9 fichier(s) écrit(s)" in out and "systemctl daemon-reload" in out  # French by default
    units = tmp_path / "units"
    services = sorted(units.glob("*.service"))
    assert {p.stem.removeprefix("santegarde-") for p in services} == JOBS | {"santegarde"}
    config = load(org)
    for service in services:
        text = service.read_text()
        (exec_start,) = _directives(text)["ExecStart"]
        argv = shlex.split(exec_start)
        assert argv[0] == str(PROGRAM), service.name  # the santegarde of this installation
        assert argv[argv.index("--config") + 1] == str(org.resolve())
        assert _resolve(argv[1:]) == [], f"{service.name}: {_resolve(argv[1:])}"
        assert _directives(text)["EnvironmentFile"] == ["/etc/santegarde/passphrase.env"]
        assert _directives(text)["WorkingDirectory"] == [str(org.resolve().parent)]  # relative paths resolve there
        (writable,) = _directives(text)["ReadWritePaths"]
        assert str(tmp_path / "backups") in writable.split() and str(org.resolve().parent) in writable.split()
        assert "Description=santegarde : " in text and "PASSPHRASE=" not in text.replace("PASSPHRASE=…", "")
        if "backup" in service.name or "drill" in service.name:
            assert argv[argv.index("--to") + 1] == config.backup_directory
    for timer in units.glob("*.timer"):
        assert (units / f"{timer.stem}.service").is_file(), f"{timer.name} starts no service"
        assert _directives(timer.read_text())["Persistent"] == ["true"]
    serve = shlex.split(_directives((units / "santegarde.service").read_text())["ExecStart"][0])
    assert serve[serve.index("--host") + 1] == "127.0.0.1"  # only the proxy reaches it
    assert {p.stat().st_mode & 0o777 for p in units.iterdir()} == {0o644}  # no secret in them
    assert not [p for p in units.iterdir() if p.name.endswith(".tmp")]


def test_the_units_follow_the_options_and_a_rerun_replaces_them(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    units = tmp_path / "units"
    assert deploy_cli(runner, "systemd", org, units)[0] == 0
    code, out = deploy_cli(
        runner, "systemd", org, units, "--lang", "en", "--port", "8100", "--workers", "6", "--user", "sg-cabinet",
        "--program", "/usr/local/lib/santegarde/bin/santegarde",
    )  # fmt: skip
    assert code == 0 and "9 file(s) written" in out, out
    text = (units / "santegarde.service").read_text()
    serve = shlex.split(_directives(text)["ExecStart"][0])
    assert serve[0] == "/usr/local/lib/santegarde/bin/santegarde" and serve[serve.index("--port") + 1] == "8100"
    assert serve[serve.index("--workers") + 1] == "6" and _directives(text)["User"] == ["sg-cabinet"]
    assert "Description=santegarde: the API" in text and "postgresql.service" not in text  # SQLite here


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed (bootstrap dev)")
def test_systemd_analyze_verifies_the_units(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    units = tmp_path / "units"
    assert deploy_cli(runner, "systemd", org, units)[0] == 0
    paths = sorted(str(p) for p in units.iterdir())
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *paths], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    relevant = [line for line in done.stderr.splitlines() if "santegarde" in line]
    assert done.returncode == 0 and not relevant, done.stderr
    for _, _, when in deploy.JOBS:
        subprocess.run(["systemd-analyze", "calendar", when], capture_output=True, check=True, timeout=30)


def _fronts(runner: CliRunner, org: Path, to: Path) -> tuple[str, str]:
    assert deploy_cli(runner, "nginx", org, to)[0] == 0
    assert deploy_cli(runner, "caddy", org, to, "--lang", "en")[0] == 0
    return (to / "santegarde.conf").read_text(), (to / "Caddyfile").read_text()


def test_the_tls_fronts_match_the_api(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    nginx, caddy = _fronts(runner, org, tmp_path / "front")
    for name, text in (("santegarde.conf", nginx), ("Caddyfile", caddy)):
        view = read_front(Path(name), text, DEFAULT_MAX_BODY_BYTES)
        assert view.problems == [] and view.port == 8000, view
        assert view.body_bytes == DEFAULT_MAX_BODY_BYTES
        assert SITE in text and "max-age=63072000" in text
    assert re.search(r"^\s*ssl_protocols TLSv1\.2 TLSv1\.3;", nginx, re.M)
    ciphers = re.search(r"ssl_ciphers ([^;]+);", nginx)
    assert ciphers and all("GCM" in c or "CHACHA20" in c for c in ciphers.group(1).split(":"))
    assert all(c.startswith("ECDHE") for c in ciphers.group(1).split(":"))  # forward secrecy only
    assert "access_log off;" in nginx and "Mandataire inverse TLS" in nginx and "TLS reverse proxy" in caddy


def test_the_body_limit_and_the_port_follow_the_configuration(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    config = load(org)
    server = config.server.model_copy(update={"max_body_bytes": 3 * 1_048_576 + 100})
    save(config.model_copy(update={"server": server}), org)
    to = tmp_path / "front"
    assert deploy_cli(runner, "nginx", org, to, "--port", "8100", "--server-name", "autre.exemple.invalid")[0] == 0
    text = (to / "santegarde.conf").read_text()
    view = read_front(to / "santegarde.conf", text, server.max_body_bytes)
    assert view.problems == [] and view.port == 8100 and view.body_bytes == 3 * 1_048_576  # never above the API's
    assert "server_name autre.exemple.invalid;" in text and SITE not in text


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1 TLSv1.2 TLSv1.3;"), "front_tls"),
        (("X-Forwarded-For $remote_addr;", "X-Forwarded-For $proxy_add_x_forwarded_for;"), "front_forwarded_for"),
        (("proxy_set_header X-Forwarded-Proto https;", ""), "front_forwarded_proto"),
        (('add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;', ""), "front_hsts"),
        (("pass http://127.0.0.1:8000;\n        proxy_http", "pass http://10.1.2.3:8000;\n        proxy_http"),
         "front_upstream"),
        (("client_max_body_size 1024k;", "client_max_body_size 20m;"), "front_body"),
    ],
)  # fmt: skip
def test_a_front_changed_by_hand_is_caught(
    runner: CliRunner, org: Path, tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    nginx, _ = _fronts(runner, org, tmp_path / "front")
    assert change[0] in nginx
    view = read_front(Path("santegarde.conf"), nginx.replace(change[0], change[1]), DEFAULT_MAX_BODY_BYTES)
    assert [key for key, _ in view.problems] == [problem]


def test_a_caddyfile_changed_by_hand_is_caught(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    _, caddy = _fronts(runner, org, tmp_path / "front")
    for old, new, problem in [
        ("protocols tls1.2 tls1.3", "protocols tls1.0 tls1.3", "front_tls"),
        ("header_up X-Forwarded-For {remote_host}", "header_up X-Forwarded-For {http.request.header.X-Forwarded-For}",
         "front_forwarded_for"),
        ("max_size 1024KiB", "max_size 2MB", "front_body"),
        ("reverse_proxy 127.0.0.1:8000", "reverse_proxy santegarde.internal:8000", "front_upstream"),
    ]:  # fmt: skip
        assert old in caddy
        view = read_front(Path("Caddyfile"), caddy.replace(old, new), DEFAULT_MAX_BODY_BYTES)
        assert [key for key, _ in view.problems] == [problem], (old, view.problems)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SITE)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    directory.mkdir()
    (directory / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return directory / "fullchain.pem", directory / "privkey.pem"


NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/bootstrap dev installs nginx-light)")
def test_nginx_accepts_the_front(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path / "tls")
    to = tmp_path / "front"
    code, out = deploy_cli(runner, "nginx", org, to, "--certificate", str(cert), "--certificate-key", str(key))
    assert code == 0, out
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"error_log {tmp_path}/error.log;\npid {tmp_path}/nginx.pid;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path}/body;\n  include {to}/santegarde.conf;\n}}\n"
    )
    assert NGINX is not None
    done = subprocess.run([NGINX, "-t", "-q", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    broken = (to / "santegarde.conf").read_text().replace("ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1.2")
    (to / "santegarde.conf").write_text(broken)  # nginx -t fails on what it cannot read: the check is real
    done = subprocess.run([NGINX, "-t", "-q", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed")
def test_caddy_reads_the_caddyfile(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    _, _ = _fronts(runner, org, tmp_path / "front")
    done = subprocess.run(["caddy", "adapt", "--config", str(tmp_path / "front" / "Caddyfile"), "--adapter",
                           "caddyfile"], capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0 and SITE in done.stdout, done.stderr


@pytest.mark.parametrize(
    ("kind", "more", "said"),
    [
        ("nginx", ["--server-name", "evil.invalid; include /etc/shadow"], "n'est pas un nom de site"),
        ("nginx", ["--server-name", "192.168.1.10"], "n'est pas un nom de site"),
        ("nginx", ["--certificate", "/etc/ssl/x.pem; include /etc/shadow"], "seraient lus comme de la syntaxe"),
        ("caddy", ["--server-name", "site.invalid {\n}\n:80"], "n'est pas un nom de site"),
        ("nginx", ["--certificate", "certs/fullchain.pem"], "un chemin relatif"),
        ("systemd", ["--program", "bin/santegarde"], "un chemin relatif"),
        ("systemd", ["--program", "/srv/sante garde/santegarde"], "seraient lus comme de la syntaxe"),
        ("systemd", ["--env-file", "/etc/santegarde/%h.env"], "seraient lus comme de la syntaxe"),
        ("systemd", ["--user", "root\nExecStartPre=/bin/sh"], "n'est pas un nom de compte système"),
        ("systemd", ["--backups", "/var/backups/a b"], "seraient lus comme de la syntaxe"),
    ],
)
def test_names_and_paths_that_would_inject_syntax_are_refused(
    runner: CliRunner, org: Path, tmp_path: Path, kind: str, more: list[str], said: str
) -> None:
    code, out = deploy_cli(runner, kind, org, tmp_path / "out", *more)
    assert code == 2 and said in out, out
    assert not (tmp_path / "out").exists()  # nothing written


def test_what_the_configuration_lacks_is_refused_with_what_to_do(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    config = load(org)
    save(config.model_copy(update={"server": config.server.model_copy(update={"allowed_origins": []})}), org)
    code, out = deploy_cli(runner, "nginx", org, tmp_path / "out")
    assert code == 2 and "--server-name" in out and "server.allowed_origins" in out
    code, out = deploy_cli(runner, "caddy", org, tmp_path / "out", "--lang", "en")
    assert code == 2 and "The name of the site served over https is not known" in out
    save(load(org).model_copy(update={"backup_directory": None}), org)
    code, out = deploy_cli(runner, "systemd", org, tmp_path / "out")
    assert code == 2 and "--backups" in out and "backup_directory" in out
    assert deploy_cli(runner, "systemd", org, tmp_path / "out", "--backups", str(tmp_path / "b"))[0] == 0
    save(load(org).model_copy(update={"database_url": "sqlite:///:memory:"}), org)
    code, out = deploy_cli(runner, "systemd", org, tmp_path / "out2", "--backups", str(tmp_path / "b"))
    assert code == 2 and "database_url désigne une base en mémoire" in out


def test_several_workers_are_refused_with_pro_sante_connect(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    psc = ProSanteConnectConfig(issuer="https://psc.invalid/realm", client_id="cabinet",
                                redirect_uri=f"https://{SITE}/auth/psc/callback")  # fmt: skip
    save(load(org).model_copy(update={"pro_sante_connect": psc}), org)
    code, out = deploy_cli(runner, "systemd", org, tmp_path / "out")
    assert code == 2 and "--workers 1" in out
    assert deploy_cli(runner, "systemd", org, tmp_path / "out", "--workers", "1")[0] == 0
    code, out = deploy_cli(runner, "systemd", org, tmp_path / "out", "--workers", "0")
    assert code == 2


def test_a_postgresql_organisation_waits_for_its_server(org: Path, tmp_path: Path) -> None:
    server = "postgresql+psycopg://santegarde@localhost"
    config = load(org).model_copy(update={"database_url": f"{server}/records", "audit_database_url": f"{server}/audit"})
    units = deploy.units(org, config, program=PROGRAM)
    assert units.postgres and all("postgresql.service" in t for n, t in deploy.systemd(units, _words()).items()
                                  if n.endswith(".service"))  # fmt: skip
    assert tmp_path / "backups" in units.writable


def _words() -> dict[str, object]:
    from santegarde.governance import doctext

    found: dict[str, object] = doctext.words("fr")["deploy_desk"]
    return found
