"""santegarde serve: the organisation's web console at / and its HTTP API (/auth, /fhir, /rights)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from fastapi import FastAPI

from santegarde.api import health
from santegarde.api.ops import METRICS_TOKEN_ENV, configure_logging
from santegarde.cli import serve_workers
from santegarde.cli.common import console, friendly_errors
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.config.check import chosen_bases
from santegarde.identity.oidc import OidcError, OidcSettings, ProSanteConnect
from santegarde.lifecycle.upgrade import refuse_outdated
from santegarde.private import owner_only_umask
from santegarde.referentials.model import OrganisationProfile
from santegarde.rights.execute import RightsService
from santegarde.runtime import Organisation, identity_context
from santegarde.store.service import RecordService
from santegarde.web import create_console


def psc_for(org: Organisation) -> ProSanteConnect | None:
    """Pro Santé Connect as configured, or None; a configured one without its secret is an error."""
    conf = org.config.pro_sante_connect
    if conf is None:
        return None
    secret = os.environ.get(conf.client_secret_env, "")
    if not secret:
        raise OidcError(
            f"Pro Santé Connect is configured but {conf.client_secret_env} is not set: "
            "export the client secret the ANS gave you (it never goes in the configuration file)."
        )
    return ProSanteConnect(OidcSettings(conf.issuer, conf.client_id, secret, conf.redirect_uri))


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def build_app(org: Organisation, *, local_http: bool = False) -> FastAPI:
    identity = identity_context(org)
    records = RecordService(
        org.engine,
        org.referential,
        org.keyring,
        org.audit,
        identity,
        formalities=org.config.formalities,
        legal_bases=chosen_bases(org.config, org.referential),
    )
    rights = RightsService(records, config=org.config, organisation=org.config.organisation.name, audit=org.audit)
    compassionate = None
    if org.referential.organisation_profile is OrganisationProfile.COMPASSIONATE:
        from santegarde.compassionate.registry import Registry
        from santegarde.compassionate.service import CompassionateService

        compassionate = CompassionateService(records, Registry.beside(org.config_path, org.referential))
    latency = health.append_latency()
    org.audit.append_observer = latency.observe  # this application's registry (one per app, as every metric)
    return create_console(
        identity,
        readiness=health.readiness(org),
        metrics_token=os.environ.get(METRICS_TOKEN_ENV) or None,
        collectors=(health.AuditCollector(org), latency),
        records=records,
        rights=rights,
        psc=psc_for(org),
        server=org.config.server,
        compassionate=compassionate,
        local_http=local_http,
        organisation=org,
    )


@friendly_errors
def serve(
    config: ConfigOption = Path(CONFIG_NAME),
    host: Annotated[str, typer.Option(help="Address to listen on (behind a TLS reverse proxy)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    dev: Annotated[
        bool, typer.Option("--dev", help="Local try-out over plain http: a cookie without Secure (127.0.0.1 only)")
    ] = False,
    log_level: Annotated[
        str, typer.Option(help="Level of the JSON log lines on standard error: debug, info, warning or error")
    ] = "info",
    workers: Annotated[
        int,
        typer.Option(help="Worker processes answering requests (more than 1: the passphrase from the environment)"),
    ] = 1,
) -> None:
    """Serve the organisation's HTTP API until interrupted."""
    import uvicorn

    serve_workers.check_count(workers)
    serve_workers.check_passphrase(workers)  # before any prompt: a typed passphrase cannot reach the workers
    if dev and host not in LOCAL_HOSTS:
        raise typer.BadParameter(
            f"--dev serves over plain http with a session cookie any network observer could take: it is refused on "
            f"{host}. Use it with --host 127.0.0.1, or serve behind a TLS reverse proxy without --dev.",
            param_hint="--dev",
        )
    owner_only_umask()
    configure_logging(log_level)  # one JSON line per request (api/ops.py); uvicorn's own access log is off
    with opened(config) as org:
        refuse_outdated(org, config)  # never serve a schema older than the code: the sentence says to upgrade
        serve_workers.check_config(org.config, workers)
        app = build_app(org, local_http=dev)  # built here too: what would stop a worker stops the command first
        console.print(
            f"santegarde for {org.config.organisation.name}: console http://{host}:{port}/ , API /fhir /auth "
            f"({workers} worker{'s' if workers > 1 else ''}; Ctrl-C to stop)"
        )
        with tempfile.TemporaryDirectory(prefix="santegarde-metrics-") as metrics:
            if workers > 1:  # each worker imports the factory and opens the organisation itself
                serve_workers.hand_over(config, dev=dev, log_level=log_level, metrics=Path(metrics))
            uvicorn.run(
                app if workers == 1 else serve_workers.FACTORY,
                factory=workers > 1,
                workers=workers,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                proxy_headers=True,
            )
