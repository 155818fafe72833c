"""santegarde warehouse identity review | link | separate | undo: the identity-vigilance review queue (issue 15).

Possible matches found by identity matching are never merged silently: they wait here for the identity-vigilance
reviewer (the profile that writes the correspondence tables, chosen at login). Every command goes through the
warehouse guard and the audit trail; see :mod:`santegarde.warehouse.vigilance`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from santegarde.cli.common import ReportJson, console, friendly_errors
from santegarde.cli.organisation import ConfigOption
from santegarde.cli.warehouse_core import _session_warehouse
from santegarde.config import CONFIG_NAME
from santegarde.warehouse.vigilance import IdentityVigilance

app = typer.Typer(
    help="Vigilance d'identité : paires d'identités à examiner, rapprocher, séparer, ou décision à annuler.",
    no_args_is_help=True,
)
STATUSES = ("open", "linked", "separate", "all")
LABELS = {"open": "à examiner", "linked": "rapprochées", "separate": "distinctes"}
# --json: the traits under stable English keys (the table's headers are French).
TRAIT_KEYS = {
    "nom": "family",
    "prénom": "given",
    "naissance": "birth_date",
    "sexe": "sex",
    "lieu de naissance": "birth_place",
    "INS": "ins",
}


@app.command("review")
@friendly_errors
def review(
    status: Annotated[str, typer.Option("--status", help="open, linked, separate ou all")] = "open",
    identities: Annotated[
        bool, typer.Option("--identites", help="Montrer les identités (profils autorisés à les lire seulement)")
    ] = False,
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: ReportJson = False,
) -> None:
    """Les paires d'identités possiblement identiques, trait par trait ; les identités seulement sur demande."""
    if status not in STATUSES:
        raise typer.BadParameter(f"--status vaut {', '.join(STATUSES)} ; pas {status!r}.")
    with _session_warehouse(config) as (_, operator, warehouse):
        items = IdentityVigilance(warehouse).review(operator, status=status, identities=identities)
    if as_json:  # a list (empty when no pair is in this state), the same facts as the table
        pairs = [
            {
                "review": item.review_id,
                "status": item.status,
                "score": round(item.score, 3),
                "traits": {TRAIT_KEYS.get(k, k): v for k, v in item.traits.items()},
                "identities": (
                    dict(zip(("record", "candidate"), item.identities, strict=True))
                    if item.identities is not None
                    else None
                ),
            }
            for item in items
        ]
        print(json.dumps(pairs, ensure_ascii=False, indent=2, default=str))
        return
    if not items:
        console.print("Aucune paire dans cet état.")
        return
    table = Table("N°", "État", "Score", "Nom", "Prénom", "Naissance", "Sexe", "Lieu de naissance", "INS")
    for item in items:
        t = item.traits
        table.add_row(
            str(item.review_id), LABELS.get(item.status, item.status), f"{item.score:.3f}", t["nom"], t["prénom"],
            t["naissance"], t["sexe"], t["lieu de naissance"], t["INS"],
        )  # fmt: skip
    console.print(table)
    for item in items:
        if item.identities is not None:
            for label, identity in zip(("enregistrement", "candidat"), item.identities, strict=True):
                shown = ", ".join(f"{k}: {v}" for k, v in identity.items() if v is not None)
                console.print(f"{item.review_id} {label} — {shown}")


@app.command("link")
@friendly_errors
def link(review_id: int, config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Rapprocher la paire : une seule personne ; toutes ses lignes OMOP suivent, en une transaction."""
    with _session_warehouse(config) as (_, operator, warehouse):
        moved = IdentityVigilance(warehouse).link(review_id, operator)
    console.print(
        f"Paire n°{review_id} rapprochée : {moved} lignes rattachées à la même personne. "
        f"Pour revenir en arrière : santegarde warehouse identity undo {review_id}"
    )


@app.command("separate")
@friendly_errors
def separate(review_id: int, config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Confirmer que la paire désigne deux personnes distinctes."""
    with _session_warehouse(config) as (_, operator, warehouse):
        IdentityVigilance(warehouse).separate(review_id, operator)
    console.print(f"Paire n°{review_id} confirmée comme deux personnes distinctes.")


@app.command("undo")
@friendly_errors
def undo(review_id: int, config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Annuler la décision prise sur la paire ; elle redevient à examiner."""
    with _session_warehouse(config) as (_, operator, warehouse):
        restored = IdentityVigilance(warehouse).undo(review_id, operator)
    console.print(f"Décision annulée sur la paire n°{review_id} ({restored} lignes rendues) ; elle est à examiner.")
