"""santegarde doctor: check an installation after installing or upgrading it, and say what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from santegarde.cli.common import EXIT_REFUSED, console, friendly_errors
from santegarde.cli.keys import ask_passphrase, journal_command
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.governance import doctext
from santegarde.lifecycle import doctor as checks
from santegarde.lifecycle.fronts import KNOWN_PLACES
from santegarde.runtime import Organisation, database_present


def _journal(org: Organisation, found: list[checks.Finding]) -> None:
    """Journal the command like every command that opens the keys, when the trail is sound enough to append to."""
    trail = {f.check: f.ok for f in found}
    if trail.get("audit_database") and trail.get("audit_tail") and database_present(org.audit.engine, "audit_entry"):
        journal_command(org, "success" if all(f.ok for f in found) else "error")


@friendly_errors
def doctor(
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Annotated[str, typer.Option("--lang", help="Language of the messages: fr (default) or en")] = "fr",
    proxy_config: Annotated[
        Path | None,
        typer.Option(
            "--proxy-config",
            help="The TLS front's configuration (nginx server file or Caddyfile; default: where nginx and Caddy "
            "read theirs)",
        ),
    ] = None,
) -> None:
    """Check an installation (configuration, permissions, keys, databases, audit chain, disk, clock, proxy)."""
    doctext.check_lang(lang)
    words = doctext.words(lang)["cli"]["doctor"]
    fronts = (proxy_config,) if proxy_config is not None else KNOWN_PLACES
    found = checks.examine(config, ask_passphrase, fronts=fronts, then=_journal)
    colon = doctext.words(lang)["colon"]
    for finding in found:
        label = words["checks"][finding.check]
        if finding.problem is None:
            seen = str(words[finding.note]).format(**finding.facts) if finding.note else words["passed"]
            console.print(f"  ✓ {label}{colon}{seen}", markup=False, soft_wrap=True)
        else:
            mark = "–" if finding.skipped else "✗"
            sentence = str(words[finding.problem]).format(**finding.facts)
            console.print(f"  {mark} {label}{colon}{sentence}", markup=False, soft_wrap=True)
    failing = [f for f in found if not f.ok and not f.skipped]
    if failing:
        console.print(str(words["failed"]).format(count=len(failing)), markup=False)
        raise typer.Exit(EXIT_REFUSED)
    unchecked = [f for f in found if f.skipped]
    if unchecked:
        passed = len(found) - len(unchecked)
        console.print(str(words["passed_unchecked"]).format(count=passed, unchecked=len(unchecked)), markup=False)
        return
    console.print(str(words["all_passed"]).format(count=len(found)), markup=False)
