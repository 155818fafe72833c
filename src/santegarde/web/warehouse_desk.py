"""The warehouse's governance at the console (EDS-2, EDS-3, EDS-9): the steering committee's data list with its
justifications, the scientific and ethics committee (members, reasoned opinions sent to the project leader, the
yearly list for the DPO), the projects and their workspaces, and the registration of a person's objection.

Every action is done by the same function as its CLI command (``warehouse.governance``, ``Workspaces``,
``Warehouse.oppose_pseudonym``), the session's login standing for ``--by``. The desk is open to the profiles of
``policy.desks`` (``Desk.WAREHOUSE``); its governance acts are the controller's (the profiles handling the persons'
rights, as the objection's guard decides): another profile at the desk reads, and is refused (traced) when it acts.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from santegarde.errors import SantegardeError
from santegarde.policy.desks import Desk, decide_desk
from santegarde.warehouse import governance as gov
from santegarde.warehouse.access import Operator
from santegarde.warehouse.gate import QUARANTINED
from santegarde.warehouse.workspace import Workspaces
from santegarde.web.desk_gate import DOCUMENT_HEADERS, DeskGate, desk_page
from santegarde.web.export_desk import refused, said_error
from santegarde.web.french import Refusal, Said, name, told, worded
from santegarde.web.render import CSRF_FIELD, Renderer, lang_of, say
from santegarde.web.warehouse_place import WarehousePlace

TAG = "console"
GOVERNANCE_RULE = "EDS-3.controller"
LIST_FORMATS = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "json": "application/json"}
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]
Long = Annotated[str, Form(max_length=8000)]
Short = Annotated[str, Form(max_length=200)]


class NotTheController(SantegardeError):
    """A profile at the warehouse desk that may read but not act for the controller (traced)."""


def role_names(lang: str) -> dict[str, str]:
    return {r: say(lang, f"warehouse_desk.roles.{r}") for r in gov.ROLES}


def router(place: WarehousePlace, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])
    org = place.org
    ref = org.referential
    notices = org.config_path.parent / "warehouse" / "notices"

    def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return web.api_route(path, methods=[method], response_class=HTMLResponse, tags=["reach:desk"])

    def acting(request: Request, operation: str, resource: str = "console") -> Any:
        """The session at the desk, allowed to act for the controller; refused (and traced) otherwise."""
        current = gate.enter(request, Desk.WAREHOUSE, operation, resource)
        if not decide_desk(ref, Desk.CONTROLLER, current.profile).allowed:
            gate.record(request, current, operation, "WarehouseGovernance", resource, GOVERNANCE_RULE, allowed=False)
            raise NotTheController(current)
        return current

    def run(request: Request, draw: Callable[[], Response], keep: str) -> Response:
        def guarded() -> Response:
            try:
                return draw()
            except NotTheController as exc:
                current = exc.args[0]
                profile = name(ref, "accessor", current.profile)
                refusal = Refusal(
                    Said(say("fr", "warehouse_desk.refused"), say("en", "warehouse_desk.refused")),
                    Said(
                        say("fr", "warehouse_desk.not_controller", profile=told(profile, "fr")),
                        say("en", "warehouse_desk.not_controller", profile=told(profile, "en")),
                    ),
                    Said(
                        say("fr", "warehouse_desk.not_controller_todo"),
                        say("en", "warehouse_desk.not_controller_todo"),
                    ),
                    403,
                    GOVERNANCE_RULE,
                )
                return renderer.refused(request, refusal, user=gate.who(current))

        return desk_page(renderer, gate, request, guarded, keep=keep)

    def failed(request: Request, current: Any, exc: SantegardeError, status: int = 422) -> Response:
        return renderer.refused(request, refused(exc, status), user=gate.who(current))

    # -- the desk's home ---------------------------------------------------------------------------------------
    @route("GET", "/entrepot")
    def home(request: Request) -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.WAREHOUSE, "desk.warehouse.open")
            projects = gov.list_projects(org.engine)
            exports = place.gate().requests()
            comp = gov.composition(org.engine)
            return renderer.page(
                request,
                "entrepot/bureau.html",
                user=gate.who(current),
                variables=len(gov.data_list(org.engine)),
                complete=comp.complete,
                missing=[role_names(lang_of(request))[r] for r in comp.missing],
                submitted=sum(1 for p in projects if p.status == "submitted"),
                running=sum(1 for p in projects if p.status == "favourable"),
                exports=len(exports),
                quarantined=sum(1 for e in exports if e.status == QUARANTINED),
                waiting=sum(1 for e in exports if e.status in ("requested", "awaiting_validation")),
            )

        return desk_page(renderer, gate, request, draw)

    # -- committees ----------------------------------------------------------------------------------------------
    def committees(request: Request, current: Any, status: int = 200, **values: Any) -> Response:
        lang = lang_of(request)
        comp = gov.composition(org.engine)
        found = gov.opinions(org.engine)
        years = sorted({o.decided_on.year for o in found} | {org.audit.now().year}, reverse=True)
        values.setdefault("form", {})
        values.setdefault("errors", {})
        return renderer.page(
            request,
            "entrepot/comites.html",
            status,
            user=gate.who(current),
            data_list=gov.data_list(org.engine),
            members=comp.members,
            missing=[role_names(lang)[r] for r in comp.missing],
            roles=role_names(lang),
            opinions=list(reversed(found)),
            submitted=[p for p in gov.list_projects(org.engine) if p.status == "submitted"],
            years=years,
            minimum=gov.MIN_REASONING,
            **values,
        )

    @route("GET", "/entrepot/comites")
    def committees_page(request: Request) -> Response:
        return desk_page(
            renderer,
            gate,
            request,
            lambda: committees(request, gate.enter(request, Desk.WAREHOUSE, "desk.warehouse.committees")),
        )

    @route("POST", "/entrepot/comites/variables")
    def variable_add(request: Request, csrf: Csrf, variable: Short = "", justification: Long = "") -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = acting(request, "desk.warehouse.committee.variable_add", variable[:60])
            lang = lang_of(request)
            form = {"variable": variable, "justification": justification}
            errors = {}
            if len(justification.strip()) < gov.MIN_JUSTIFICATION:
                errors["justification"] = say(lang, "warehouse_desk.justification_short", min=gov.MIN_JUSTIFICATION)
            if not errors:
                try:
                    gov.declare_variable(org.engine, variable.strip(), justification, by=current.login)
                except SantegardeError as exc:
                    errors["variable"] = said_error(exc)
            if errors:
                return committees(request, current, 422, form=form, errors=errors)
            return RedirectResponse("/entrepot/comites#liste", status_code=303)

        return run(request, draw, "/entrepot/comites")

    @route("POST", "/entrepot/comites/variables/retrait")
    def variable_remove(request: Request, csrf: Csrf, variable: Short = "") -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = acting(request, "desk.warehouse.committee.variable_remove", variable[:60])
            try:
                gov.remove_variable(org.engine, variable)
            except SantegardeError as exc:
                return failed(request, current, exc)
            return RedirectResponse("/entrepot/comites#liste", status_code=303)

        return run(request, draw, "/entrepot/comites")

    @route("POST", "/entrepot/comites/membres")
    async def member_add(request: Request) -> Response:
        sent = await request.form()
        renderer.check_csrf(request, str(sent.get(CSRF_FIELD, "")))
        member = str(sent.get("nom", ""))[:200]
        roles = [str(r) for r in sent.getlist("roles") if str(r) in gov.ROLES]

        def draw() -> Response:
            current = acting(request, "desk.warehouse.committee.member_add")
            lang = lang_of(request)
            errors = {}
            if not member.strip():
                errors["nom"] = say(lang, "warehouse_desk.member_name")
            if not roles:
                errors["roles"] = say(lang, "warehouse_desk.member_roles")
            if not errors:
                try:
                    gov.add_member(org.engine, member, roles, by=current.login)
                except SantegardeError as exc:
                    errors["nom"] = said_error(exc)
            if errors:
                return committees(request, current, 422, form={"nom": member, "roles": roles}, errors=errors)
            return RedirectResponse("/entrepot/comites#membres", status_code=303)

        return run(request, draw, "/entrepot/comites")

    @route("POST", "/entrepot/comites/membres/{member_id}/retrait")
    def member_remove(request: Request, member_id: int, csrf: Csrf) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = acting(request, "desk.warehouse.committee.member_remove", str(member_id))
            try:
                gov.remove_member(org.engine, member_id)
            except SantegardeError as exc:
                return failed(request, current, exc)
            return RedirectResponse("/entrepot/comites#membres", status_code=303)

        return run(request, draw, "/entrepot/comites")

    @route("POST", "/entrepot/comites/avis")
    async def opinion(request: Request) -> Response:
        sent = await request.form()
        renderer.check_csrf(request, str(sent.get(CSRF_FIELD, "")))
        form: dict[str, Any] = {
            k: str(sent.get(k, ""))[:8000] for k in ("projet", "decision", "motifs", "date", "cohorte")
        }
        form["approuvees"] = [str(v)[:200] for v in sent.getlist("approuvees")]

        def draw() -> Response:
            current = acting(request, "desk.warehouse.committee.opinion", form["projet"][:60])
            lang = lang_of(request)
            errors = {}
            if form["decision"] not in gov.DECISIONS:
                errors["decision"] = say(lang, "warehouse_desk.choose_opinion")
            if len(form["motifs"].strip()) < gov.MIN_REASONING:
                errors["motifs"] = say(lang, "warehouse_desk.reasoning_short", min=gov.MIN_REASONING)
            try:
                day = date.fromisoformat(form["date"]) if form["date"].strip() else org.audit.now().date()
            except ValueError:
                errors["date"] = say(lang, "warehouse_desk.bad_date")
            if errors:
                return committees(request, current, 422, form=form, errors=errors)
            try:
                recorded = gov.record_opinion(
                    org.engine,
                    ref,
                    form["projet"],
                    decision=form["decision"],
                    reasoning=form["motifs"],
                    decided_on=day,
                    by=current.login,
                    notices_dir=notices,
                    organisation_name=org.config.organisation.name,
                    cohort_sql=form["cohorte"].strip() or None,
                    approved_variables=form["approuvees"] or None,
                    lang=lang,
                )
            except SantegardeError as exc:
                return committees(request, current, 422, form=form, errors={"projet": said_error(exc)})
            return RedirectResponse(f"/entrepot/comites#avis-{recorded.id}", status_code=303)

        return run(request, draw, "/entrepot/comites")

    @route("GET", "/entrepot/comites/avis/{opinion_id}/lettre")
    def letter(request: Request, opinion_id: int) -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.WAREHOUSE, "desk.warehouse.opinion.letter", str(opinion_id))
            found = next((o for o in gov.opinions(org.engine) if o.id == opinion_id), None)
            if found is None:
                return renderer.refused(request, worded("page_not_found", 404), user=gate.who(current))
            project = gov.get_project(org.engine, found.project)
            html = gov.opinion_letter(ref, project, found, org.config.organisation.name, lang_of(request))
            return HTMLResponse(html, headers={"content-disposition": "inline", **DOCUMENT_HEADERS})

        return desk_page(renderer, gate, request, draw)

    @route("GET", "/entrepot/comites/liste/{year}/{fmt}")
    def yearly(request: Request, year: int, fmt: str) -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.WAREHOUSE, "desk.warehouse.yearly_list", f"{year}.{fmt[:8]}")
            if fmt not in LIST_FORMATS or not 2000 <= year <= 2100:
                return renderer.refused(request, worded("page_not_found", 404), user=gate.who(current))
            with tempfile.TemporaryDirectory() as directory:
                path = Path(directory) / f"avis-{year}.{fmt}"
                gov.write_yearly_list(org.engine, ref, year, path, org.config.organisation.name, lang_of(request))
                content = path.read_bytes()
            headers = {"content-disposition": f'attachment; filename="avis-{year}.{fmt}"'}
            if fmt == "html":
                headers.update(DOCUMENT_HEADERS)
            return Response(content, media_type=LIST_FORMATS[fmt], headers=headers)

        return desk_page(renderer, gate, request, draw)

    # -- projects and workspaces -------------------------------------------------------------------------------
    def projects(request: Request, current: Any, status: int = 200, **values: Any) -> Response:
        lang = lang_of(request)
        with place.warehouse() as warehouse:
            spaces = Workspaces(warehouse, org.engine, org.audit, identity=place.identity)
            found = [(p, spaces.path(p.code).exists()) for p in gov.list_projects(org.engine)]
        values.setdefault("form", {})
        values.setdefault("errors", {})
        return renderer.page(
            request,
            "entrepot/projets.html",
            status,
            user=gate.who(current),
            projects=[
                {
                    "p": p,
                    "purpose": name(ref, "purpose", p.purpose),
                    "workspace": has_space,
                    "status": say(lang, f"warehouse_desk.project_status.{p.status}"),
                }
                for p, has_space in found
            ],
            purposes=[(p.id, name(ref, "purpose", p.id)) for p in gov.project_purposes(ref)],
            data_list=gov.data_list(org.engine),
            **values,
        )

    @route("GET", "/entrepot/projets")
    def projects_page(request: Request) -> Response:
        return desk_page(
            renderer,
            gate,
            request,
            lambda: projects(request, gate.enter(request, Desk.WAREHOUSE, "desk.warehouse.projects")),
        )

    @route("POST", "/entrepot/projets")
    async def submit(request: Request) -> Response:
        sent = await request.form()
        renderer.check_csrf(request, str(sent.get(CSRF_FIELD, "")))
        form: dict[str, Any] = {
            k: str(sent.get(k, ""))[:4000]
            for k in ("code", "titre", "responsable", "contact", "finalite", "variables", "formalite")
        }
        form["suivi"] = bool(sent.get("suivi"))

        def draw() -> Response:
            current = acting(request, "desk.warehouse.project.submit", form["code"][:40])
            lang = lang_of(request)
            variables: dict[str, str] = {}
            for line in form["variables"].splitlines():
                if line.strip():
                    variable, _, why = line.partition("=")
                    variables[variable.strip()] = why.strip()
            errors = {
                key: say(lang, f"warehouse_desk.required.{key}")
                for key in ("code", "titre", "responsable", "contact", "finalite")
                if not form[key].strip()
            }
            if not variables:
                errors["variables"] = say(lang, "warehouse_desk.required.variables")
            if not errors:
                try:
                    gov.submit_project(
                        org.engine,
                        ref,
                        code=form["code"].strip(),
                        title=form["titre"].strip(),
                        leader=form["responsable"].strip(),
                        leader_contact=form["contact"].strip(),
                        purpose=form["finalite"],
                        variables=variables,
                        by=current.login,
                        formality_reference=form["formalite"].strip() or None,
                        cohort_follow_up=form["suivi"],
                    )
                except SantegardeError as exc:
                    errors["code"] = said_error(exc)
            if errors:
                return projects(request, current, 422, form=form, errors=errors)
            return RedirectResponse(f"/entrepot/projets#projet-{form['code'].strip()}", status_code=303)

        return run(request, draw, "/entrepot/projets")

    @route("POST", "/entrepot/projets/{code}/espace")
    def workspace_create(request: Request, code: str, csrf: Csrf) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = acting(request, "desk.warehouse.workspace.create", code[:40])
            try:
                with place.warehouse() as warehouse:
                    Workspaces(warehouse, org.engine, org.audit, identity=place.identity).create(code, by=current.login)
            except SantegardeError as exc:
                return failed(request, current, exc)
            return RedirectResponse(f"/entrepot/projets#projet-{code}", status_code=303)

        return run(request, draw, "/entrepot/projets")

    @route("POST", "/entrepot/projets/{code}/cloture")
    def workspace_close(request: Request, code: str, csrf: Csrf) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = acting(request, "desk.warehouse.project.close", code[:40])
            try:
                with place.warehouse() as warehouse:
                    spaces = Workspaces(warehouse, org.engine, org.audit, identity=place.identity)
                    spaces.close_project(code, by=current.login)
            except SantegardeError as exc:
                return failed(request, current, exc)
            return RedirectResponse(f"/entrepot/projets#projet-{code}", status_code=303)

        return run(request, draw, "/entrepot/projets")

    # -- objection (EDS-9) -------------------------------------------------------------------------------------
    def objection(request: Request, current: Any, status: int = 200, **values: Any) -> Response:
        values.setdefault("form", {})
        values.setdefault("errors", {})
        return renderer.page(request, "entrepot/opposition.html", status, user=gate.who(current), **values)

    @route("GET", "/entrepot/opposition")
    def objection_page(request: Request) -> Response:
        return desk_page(
            renderer,
            gate,
            request,
            lambda: objection(request, gate.enter(request, Desk.WAREHOUSE, "desk.warehouse.objection")),
        )

    @route("POST", "/entrepot/opposition")
    async def oppose(request: Request) -> Response:
        sent = await request.form()
        renderer.check_csrf(request, str(sent.get(CSRF_FIELD, "")))
        form: dict[str, Any] = {k: str(sent.get(k, ""))[:200] for k in ("nom", "prenom", "naissance", "ins", "lieu")}
        form["oppose"] = bool(sent.get("oppose"))

        def draw() -> Response:
            current = gate.enter(request, Desk.WAREHOUSE, "desk.warehouse.objection.record")
            lang = lang_of(request)
            errors = {k: say(lang, f"warehouse_desk.required.{k}") for k in ("nom", "prenom") if not form[k].strip()}
            try:
                date.fromisoformat(form["naissance"])
            except ValueError:
                errors["naissance"] = say(lang, "warehouse_desk.bad_date")
            if not form["oppose"]:
                errors["oppose"] = say(lang, "warehouse_desk.tick_objection")
            if errors:
                return objection(request, current, 422, form=form, errors=errors)
            operator = Operator(current.login, current.profile)
            try:
                with place.warehouse() as warehouse:
                    pseudonym = warehouse.person_of(
                        {"family": form["nom"], "given": form["prenom"], "birthdate": form["naissance"]},
                        ins=form["ins"].strip() or None,
                        birth_place=form["lieu"].strip() or None,
                    )
                    deleted = warehouse.oppose_pseudonym(pseudonym, by=operator)
            except SantegardeError as exc:
                return failed(request, current, exc, 403)
            # nothing of the person is kept in the page: the form comes back empty, with the count only
            return objection(request, current, message=say(lang, "warehouse_desk.objected", n=deleted))

        return desk_page(renderer, gate, request, draw, keep="/entrepot/opposition")

    return web
