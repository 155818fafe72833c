"""santegarde deploy systemd|nginx|caddy: the units and timers, or the TLS front, from the organisation's configuration.

The files are written into ``--to`` (each atomically), for the operator to copy where systemd, nginx or Caddy read
them; ``santegarde doctor`` then reads the front it finds with the same checks as the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from santegarde.cli.common import LangOption, console, friendly_errors
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME, load
from santegarde.lifecycle import deploy

app = typer.Typer(
    help="Write the systemd units and timers, or the TLS reverse proxy's configuration, from the organisation's "
    "configuration.",
    no_args_is_help=True,
)

ToOption = Annotated[
    Path, typer.Option("--to", help="The directory the files are written to (created if needed; files replaced)")
]
PortOption = Annotated[int, typer.Option("--port", min=1, max=65535, help="The port santegarde serve listens on")]
NameOption = Annotated[
    str | None,
    typer.Option("--server-name", help="The site's DNS name (default: the https site of server.allowed_origins)"),
]


def _said(lang: str) -> dict[str, Any]:
    """What the deploy commands print and write, in ``lang`` (documents_text.yaml, deploy_desk)."""
    from santegarde.governance import doctext

    doctext.check_lang(lang)
    found: dict[str, Any] = doctext.words(lang)["deploy_desk"]
    return found


def _installed_program() -> Path:
    """The santegarde program of the environment this command runs in (the one the units should start)."""
    return Path(sys.executable).absolute().with_name("santegarde")


def _written(said: dict[str, Any], directory: Path, files: dict[str, str], then: str) -> None:
    paths = deploy.write(directory, files)
    console.print(said["written"].format(n=len(paths), directory=directory), markup=False)
    for path in paths:
        console.print(f"  {path.name}", markup=False)
    console.print(then, markup=False, soft_wrap=True)


@app.command("systemd")
@friendly_errors
def systemd(
    to: ToOption,
    config: ConfigOption = Path(CONFIG_NAME),
    program: Annotated[
        Path | None,
        typer.Option("--program", help="The santegarde program the units run (default: this installation's)"),
    ] = None,
    user: Annotated[str, typer.Option("--user", help="The system account the services run as")] = deploy.SERVICE,
    env_file: Annotated[
        Path,
        typer.Option("--env-file", help="The root-only file holding SANTEGARDE_PASSPHRASE (and the metrics token)"),
    ] = deploy.DEFAULT_ENV_FILE,
    port: PortOption = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes of the API (about twice the cores)")] = 2,
    backups: Annotated[
        Path | None,
        typer.Option("--backups", help="The backups' directory (default: backup_directory of the configuration)"),
    ] = None,
    lang: LangOption = "fr",
) -> None:
    """The API's service, and a service and timer for retention, backup, restore drill and audit review."""
    said = _said(lang)
    organisation = load(config)
    units = deploy.units(
        config, organisation, program=program or _installed_program(), user=user, env_file=env_file, port=port,
        workers=workers, backups=backups,
    )  # fmt: skip
    from santegarde.cli.serve_workers import check_config, check_count  # (it imports the web server's pieces)

    check_count(workers)  # what santegarde serve --workers would refuse, refused before writing its unit
    check_config(organisation, workers)
    _written(said, to, deploy.systemd(units, said), said["next_systemd"])


@app.command("nginx")
@friendly_errors
def nginx(
    to: ToOption,
    config: ConfigOption = Path(CONFIG_NAME),
    server_name: NameOption = None,
    certificate: Annotated[
        Path | None, typer.Option("--certificate", help="The certificate chain (default: /etc/ssl/santegarde/…)")
    ] = None,
    certificate_key: Annotated[
        Path | None, typer.Option("--certificate-key", help="Its private key (default: /etc/ssl/santegarde/…)")
    ] = None,
    port: PortOption = 8000,
    lang: LangOption = "fr",
) -> None:
    """An nginx server file: TLS 1.2/1.3, the ANSSI's suites, HSTS, the API's body limit, forwarded headers."""
    said = _said(lang)
    front = deploy.front(
        load(config), port=port, server_name=server_name, certificate=certificate, certificate_key=certificate_key
    )
    then = said["next_nginx"].format(certificate=front.certificate, key=front.certificate_key)
    _written(said, to, deploy.nginx(front, said), then)


@app.command("caddy")
@friendly_errors
def caddy(
    to: ToOption,
    config: ConfigOption = Path(CONFIG_NAME),
    server_name: NameOption = None,
    port: PortOption = 8000,
    lang: LangOption = "fr",
) -> None:
    """A Caddyfile: TLS 1.2/1.3, the ANSSI's suites, HSTS, the API's body limit, forwarded headers."""
    said = _said(lang)
    front = deploy.front(load(config), port=port, server_name=server_name)
    _written(said, to, deploy.caddy(front, said), said["next_caddy"])
