"""The warehouse's desk of the console: its governance (``warehouse_desk``) and its export queue (``export_desk``),
over the organisation's warehouse (``warehouse_place``). Imported only for a référentiel with a warehouse."""

from __future__ import annotations

from fastapi import APIRouter

from santegarde.identity.context import IdentityContext
from santegarde.runtime import Organisation
from santegarde.web import export_desk, warehouse_desk
from santegarde.web.desk_gate import DeskGate
from santegarde.web.render import Renderer
from santegarde.web.warehouse_place import WarehousePlace


def routers(org: Organisation, identity: IdentityContext, gate: DeskGate, renderer: Renderer) -> list[APIRouter]:
    place = WarehousePlace(org, identity)
    return [warehouse_desk.router(place, gate, renderer), export_desk.router(place, gate, renderer)]
