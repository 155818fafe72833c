"""``santegarde deploy``: the systemd units and timers and the TLS fronts, made from the organisation's configuration.

``units`` and ``front`` read what the files need from the configuration (where it is, its databases, keyring, audit
anchor and backups; the API's body limit, the public site of ``server.allowed_origins``) and from the installation
(the ``santegarde`` program that runs), and refuse what would make a unit or a front that cannot work or that could be
made to say something else: a relative program, no backup directory, a database in memory, a site name or a path
holding characters that a unit or a proxy configuration would read as syntax. ``systemd``, ``nginx`` and ``caddy``
give the files' text by name; ``write`` puts them in a directory, each file atomically.

The words of the units (their descriptions, the comments of every file) come from the caller in the operator's
language (``documents_text.yaml``, cli → deploy): this package sits below the documents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from santegarde import refusals
from santegarde.atomic import write_atomic
from santegarde.config.model import OrganisationConfig
from santegarde.errors import WordedError
from santegarde.runtime import audit_anchor_path

# The schedule of the jobs (systemd calendar expressions); every one is Persistent (a run missed while the machine
# was off happens at the next boot). The audit review is due every two months (COM-LOG-4).
JOBS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("retention", ("retention", "run"), "*-*-* 02:30:00"),
    ("backup", ("backup", "create", "--to", "{backups}"), "*-*-* 03:30:00"),
    ("restore-drill", ("backup", "drill", "--to", "{backups}"), "*-*-01 05:00:00"),
    ("audit-review", ("audit", "status"), "*-01,03,05,07,09,11-01 08:00:00"),
)
SERVICE = "santegarde"
# ANSSI, "Recommandations de sécurité relatives à TLS" (v1.2): TLS 1.2 and 1.3 only, forward secrecy, AEAD suites.
NGINX_CIPHERS = (
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
)
CADDY_CIPHERS = (
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 "
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 "
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
)
HSTS = "max-age=63072000; includeSubDomains"
LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){LABEL}(\.{LABEL})*$")
ACCOUNT = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# A path goes into unit lines (space-separated lists, % specifiers) and proxy directives (; { } quotes): only these.
SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/+@=,-]*$")
DEFAULT_ENV_FILE = Path("/etc/santegarde/passphrase.env")


class DeployRefused(WordedError):
    """Files that cannot be made from this configuration and these options; the sentence says what to change."""

    def __init__(self, key: str, **facts: object) -> None:
        super().__init__(refusals.sentences("deploy", key, **facts))


@dataclass(frozen=True)
class Units:
    """What the systemd units are made of: paths are absolute and safe to write in them."""

    config: Path
    program: Path
    user: str
    env_file: Path
    port: int
    workers: int
    backups: Path
    writable: tuple[Path, ...]
    postgres: bool


@dataclass(frozen=True)
class Front:
    """What a TLS front is made of."""

    server_name: str
    port: int
    max_body_bytes: int
    certificate: Path
    certificate_key: Path


def _safe(path: Path, option: str) -> Path:
    if not path.is_absolute():
        raise DeployRefused("relative", option=option, path=path)
    if not SAFE_PATH.match(str(path)):
        raise DeployRefused("path_characters", option=option, path=path)
    return path


def _sqlite_file(url: str, base: Path, option: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database or ""
    if name in ("", ":memory:") or name.startswith("file::memory:"):
        raise DeployRefused("memory", option=option)
    return _safe((base / name).resolve(), option)


def _server_name(config: OrganisationConfig, given: str | None) -> str:
    if given is None:
        sites = [urlsplit(o).hostname for o in config.server.allowed_origins if o.startswith("https://")]
        if not sites or sites[0] is None:
            raise DeployRefused("no_server_name", setting="server.allowed_origins")
        given = sites[0]
    if not HOSTNAME.match(given) or given.replace(".", "").isdigit():
        raise DeployRefused("server_name", name=given)
    return given.lower()


def _outermost(paths: list[Path]) -> tuple[Path, ...]:
    """The paths, without those inside another one of them (systemd makes a whole tree writable)."""
    unique = sorted(set(paths))
    return tuple(p for p in unique if not any(q != p and p.is_relative_to(q) for q in unique))


def units(
    config_path: Path,
    config: OrganisationConfig,
    *,
    program: Path,
    user: str = SERVICE,
    env_file: Path = DEFAULT_ENV_FILE,
    port: int = 8000,
    workers: int = 2,
    backups: Path | None = None,
) -> Units:
    """The units of ``config`` (read from ``config_path``), or ``DeployRefused`` saying what to change."""
    config_path = _safe(config_path.resolve(), "--config")
    base = config_path.parent
    if not ACCOUNT.match(user):
        raise DeployRefused("user", user=user)
    if backups is None:
        if not config.backup_directory:
            raise DeployRefused("no_backups", setting="backup_directory")
        backups = base / config.backup_directory
    backups = _safe(backups.resolve(), "backup_directory")
    files = [
        _sqlite_file(config.database_url, base, "database_url"),
        _sqlite_file(config.audit_database_url, base, "audit_database_url"),
    ]
    keyring = _safe((base / config.keyring_path).resolve(), "keyring_path")
    anchor = _safe(audit_anchor_path(config_path, config), "audit_anchor_path")
    writable = [base, backups, keyring, anchor.parent, *(f.parent for f in files if f is not None)]
    urls = (config.database_url, config.audit_database_url)
    return Units(
        config=config_path,
        program=_safe(program, "--program"),
        user=user,
        env_file=_safe(env_file, "--env-file"),
        port=port,
        workers=workers,
        backups=backups,
        writable=_outermost(writable),
        postgres=any(make_url(url).get_backend_name() == "postgresql" for url in urls),
    )


def front(
    config: OrganisationConfig,
    *,
    port: int = 8000,
    server_name: str | None = None,
    certificate: Path | None = None,
    certificate_key: Path | None = None,
) -> Front:
    """The TLS front of ``config``'s site, or ``DeployRefused`` saying what to change."""
    return Front(
        server_name=_server_name(config, server_name),
        port=port,
        max_body_bytes=config.server.max_body_bytes,
        certificate=_safe(certificate or Path(f"/etc/ssl/{SERVICE}/fullchain.pem"), "--certificate"),
        certificate_key=_safe(certificate_key or Path(f"/etc/ssl/{SERVICE}/privkey.pem"), "--certificate-key"),
    )


def _hardening(s: Units) -> list[str]:
    return [
        f"User={s.user}",
        f"Group={s.user}",
        f"WorkingDirectory={s.config.parent}",
        f"EnvironmentFile={s.env_file}",
        "UMask=0077",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "ReadWritePaths=" + " ".join(str(p) for p in s.writable),
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        "SystemCallArchitectures=native",
        "CapabilityBoundingSet=",
    ]


def _after(s: Units) -> str:
    return "After=network-online.target" + (" postgresql.service" if s.postgres else "")


def _comment(text: str, mark: str = "#") -> list[str]:
    return [f"{mark} {line}" if line else mark for line in text.splitlines()]


def job_argv(s: Units, argv: tuple[str, ...]) -> list[str]:
    """The command line of a job: the program, its subcommand and options, then the organisation's configuration."""
    return [str(s.program), *(a.format(backups=s.backups) for a in argv), "--config", str(s.config)]


def systemd(s: Units, words: Mapping[str, object]) -> dict[str, str]:
    """The API's service and, for each job, its service and its timer: file name → text."""
    said: Mapping[str, str] = words["jobs"]  # type: ignore[assignment]
    serve = [str(s.program), "serve", "--config", str(s.config), "--host", "127.0.0.1", "--port", str(s.port),
             "--workers", str(s.workers), "--log-level", "info"]  # fmt: skip
    files = {
        f"{SERVICE}.service": "\n".join([
            *_comment(str(words["service_comment"]).format(env_file=s.env_file)),
            "[Unit]",
            f"Description={said['api']}",
            _after(s),
            "Wants=network-online.target",
            "",
            "[Service]",
            "Type=exec",
            *_hardening(s),
            "ExecStart=" + " ".join(serve),
            "Restart=on-failure",
            "RestartSec=5",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ])
    }  # fmt: skip
    for name, argv, when in JOBS:
        unit = f"{SERVICE}-{name}"
        files[f"{unit}.service"] = "\n".join([
            *_comment(str(words["job_comment"]).format(what=said[name], unit=unit)),
            "[Unit]",
            f"Description={said[name]}",
            _after(s),
            "",
            "[Service]",
            "Type=oneshot",
            *_hardening(s),
            "ExecStart=" + " ".join(job_argv(s, argv)),
            "",
        ])  # fmt: skip
        files[f"{unit}.timer"] = "\n".join([
            *_comment(str(words["timer_comment"]).format(what=said[name], when=when)),
            "[Unit]",
            f"Description={said[name]}",
            "",
            "[Timer]",
            f"OnCalendar={when}",
            "Persistent=true",
            "RandomizedDelaySec=15min",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ])  # fmt: skip
    return files


def nginx(s: Front, words: Mapping[str, object]) -> dict[str, str]:
    """One server file for /etc/nginx/conf.d (nginx 1.18 and later, Debian's 1.22 included)."""
    upstream = f"http://127.0.0.1:{s.port}"
    limit = f"{s.max_body_bytes // 1024}k"
    text = "\n".join([
        *_comment(str(words["nginx_comment"]).format(port=s.port)),
        "",
        "server {",
        "    listen 80;",
        "    listen [::]:80;",
        f"    server_name {s.server_name};",
        "    return 301 https://$host$request_uri;",
        "}",
        "",
        "server {",
        "    listen 443 ssl http2;",
        "    listen [::]:443 ssl http2;",
        f"    server_name {s.server_name};",
        "",
        f"    ssl_certificate     {s.certificate};",
        f"    ssl_certificate_key {s.certificate_key};",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        f"    ssl_ciphers {NGINX_CIPHERS};",
        "    ssl_prefer_server_ciphers on;",
        "    ssl_ecdh_curve X25519:prime256v1:secp384r1;",
        f"    ssl_session_cache shared:{SERVICE}:10m;",
        "    ssl_session_timeout 1h;",
        "    ssl_session_tickets off;",
        "",
        f'    add_header Strict-Transport-Security "{HSTS}" always;',
        "    add_header X-Content-Type-Options nosniff always;",
        "    add_header Referrer-Policy no-referrer always;",
        "",
        f"    client_max_body_size {limit};",
        "    access_log off;",
        "",
        "    location = /metrics {",
        "        allow 127.0.0.1;",
        "        deny all;",
        f"        proxy_pass {upstream};",
        "    }",
        "",
        "    location / {",
        f"        proxy_pass {upstream};",
        "        proxy_http_version 1.1;",
        "        proxy_set_header Host $host;",
        "        proxy_set_header X-Forwarded-For $remote_addr;",
        "        proxy_set_header X-Forwarded-Proto https;",
        "        proxy_read_timeout 300s;",
        "    }",
        "}",
        "",
    ])  # fmt: skip
    return {f"{SERVICE}.conf": text}


def caddy(s: Front, words: Mapping[str, object]) -> dict[str, str]:
    """A Caddyfile (Caddy 2.6 and later: Debian's included); Caddy obtains and renews the certificate itself."""
    text = "\n".join([
        *_comment(str(words["caddy_comment"]).format(port=s.port)),
        f"{s.server_name} {{",
        "\ttls {",
        "\t\tprotocols tls1.2 tls1.3",
        f"\t\tciphers {CADDY_CIPHERS}",
        "\t}",
        "\theader {",
        f'\t\tStrict-Transport-Security "{HSTS}"',
        "\t\tX-Content-Type-Options nosniff",
        "\t\tReferrer-Policy no-referrer",
        "\t}",
        "\trequest_body {",
        f"\t\tmax_size {s.max_body_bytes // 1024}KiB",
        "\t}",
        "\t@metrics_outside {",
        "\t\tpath /metrics",
        "\t\tnot remote_ip 127.0.0.1",
        "\t}",
        "\trespond @metrics_outside 403",
        f"\treverse_proxy 127.0.0.1:{s.port} {{",
        "\t\theader_up X-Forwarded-For {remote_host}",
        "\t\theader_up X-Forwarded-Proto https",
        "\t}",
        "}",
        "",
    ])  # fmt: skip
    return {"Caddyfile": text}


def write(directory: Path, files: Mapping[str, str]) -> list[Path]:
    """Each file into ``directory`` atomically (readable by all: a unit or a front holds no secret)."""
    written = []
    for name, text in files.items():
        path = directory / name
        write_atomic(path, text, mode=0o644)
        written.append(path)
    return written
