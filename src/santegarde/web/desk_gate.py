"""The governance desks' one way in: identity → policy → (the governance, audit and rights functions) → audit.

``DeskGate.enter`` checks the session (every sign-in step done, a grant still valid), asks the policy whether the
profile chosen at login may sit at the desk (``policy.desks``), and traces the decision in the audit trail, allowed
or refused, with the rule; a refused profile gets a page that says why and names the rule. Each desk route is
tagged ``reach:desk``: a test walks them all and checks each passes the gate.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.responses import Response

from santegarde.api.auth import COOKIE
from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.errors import SantegardeError, WordedError
from santegarde.identity import sessions
from santegarde.identity.context import IdentityContext
from santegarde.identity.errors import SessionRefused
from santegarde.policy.desks import Desk, DeskDecision, decide_desk
from santegarde.referentials.model import Referential
from santegarde.web.desk import guarded
from santegarde.web.french import Refusal, Said, labels, name, told
from santegarde.web.render import Renderer, say

DESK_PATHS = {Desk.CONTROLLER: "/controle", Desk.AUDIT: "/audit", Desk.WAREHOUSE: "/entrepot"}
DESK_TITLES = labels("console", "desks")  # the navigation's links, in the page's language
DESK_NAMES = labels("console", "desk_names")  # a desk inside a sentence


# A generated document shown in the console's frame: its own styles, no script at all (sandbox), framed by the
# console only.
DOCUMENT_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox",
    "x-frame-options": "SAMEORIGIN",
}


def page_with_frames(response: Response) -> Response:
    """A console page that frames a document of the console (the console's CSP, plus frames from itself)."""
    from santegarde.web.app import CSP  # the console's one policy (app.py imports this module)

    response.headers["content-security-policy"] = f"{CSP}; frame-src 'self'"
    return response


class DeskRefused(SantegardeError):
    """The profile chosen at login may not sit at this desk (traced with the rule)."""

    def __init__(self, decision: DeskDecision, current: sessions.SessionContext) -> None:
        super().__init__(f"The profile '{decision.profile}' may not use the {decision.desk} desk ({decision.rule}).")
        self.decision = decision
        self.current = current  # who was refused (the refused page keeps their session's header)


class DeskGate:
    def __init__(self, identity: IdentityContext, audit: AuditTrail) -> None:
        self.identity = identity
        self.audit = audit

    @property
    def ref(self) -> Referential:
        return self.identity.referential

    def enter(self, request: Request, desk: Desk, operation: str, resource: str = "console") -> sessions.SessionContext:
        """The session behind ``request`` at ``desk``, for ``operation`` (traced); refused otherwise."""
        token = request.cookies.get(COOKIE)
        if not token:
            raise SessionRefused("You are not logged in; log in first.")
        current = sessions.require(self.identity, token, sensitivity=None)
        decision = decide_desk(self.ref, desk, current.profile)
        self.audit.append(
            AuditEvent(
                actor=current.login,
                profile=current.profile or "",
                operation=operation,
                resource_type="GovernanceDesk",
                resource_id=resource,
                purpose="governance",
                allowed=decision.allowed,
                rule=decision.rule,
                section="",
                outcome="success" if decision.allowed else "denied",
                source=request.client.host if request.client else "unknown",
                referential=self.ref.id,
            )
        )
        if not decision.allowed:
            raise DeskRefused(decision, current)
        return current

    def record(
        self,
        request: Request,
        current: sessions.SessionContext,
        operation: str,
        kind: str,
        ident: str,
        rule: str,
        *,
        allowed: bool = True,
        purpose: str = "security",
        patient: str = "",
    ) -> None:
        """Trace what a desk did (as the CLI command doing the same traces it), or what the rule ``rule`` refused
        it (``allowed=False``), by references only (``patient``: the patient's reference the act concerns)."""
        self.audit.append(
            AuditEvent(
                actor=current.login,
                profile=current.profile or "",
                operation=operation,
                resource_type=kind,
                resource_id=ident,
                purpose=purpose,
                allowed=allowed,
                rule=rule,
                section="",
                outcome="success" if allowed else "denied",
                source=request.client.host if request.client else "unknown",
                referential=self.ref.id,
                patient=patient,
            )
        )

    def desks(self, profile: str | None) -> list[tuple[str, str]]:
        """The desks this profile may open: (path, title), for the navigation."""
        return [(DESK_PATHS[d], DESK_TITLES[d.value]) for d in Desk if decide_desk(self.ref, d, profile).allowed]

    def who(self, current: sessions.SessionContext) -> dict[str, object]:
        return {
            "login": current.login,
            "profile": name(self.ref, "accessor", current.profile),
            "desks": self.desks(current.profile),
        }


def desk_refusal(exc: DeskRefused, gate: DeskGate) -> Refusal:
    """Why the profile may not open the desk, and who keeps it, in both languages."""
    d = exc.decision

    def said(lang: str, key: str) -> str:
        allowed = ", ".join(
            say(lang, "desk_refusal.quoted", name=told(name(gate.ref, "accessor", p), lang)) for p in d.profiles
        )
        return say(
            lang,
            f"desk_refusal.{key}",
            profile=told(name(gate.ref, "accessor", d.profile), lang),
            desk=told(DESK_NAMES[d.desk.value], lang),
            allowed=allowed,
        )

    todo = "todo" if d.profiles else "nobody"
    return Refusal(
        Said(say("fr", "desk_refusal.title"), say("en", "desk_refusal.title")),
        Said(said("fr", "what"), said("en", "what")),
        Said(said("fr", todo), said("en", todo)),
        403,
        d.rule,
    )


def worded_refusal(exc: WordedError, status: int = 422) -> Refusal:
    """A refusal of a governance module, in its own sentences (both languages)."""
    return Refusal(
        Said(say("fr", "desk_refusal.request_title"), say("en", "desk_refusal.request_title")),
        Said(exc.in_language("fr"), exc.in_language("en")),
        Said(say("fr", "desk_refusal.request_todo"), say("en", "desk_refusal.request_todo")),
        status,
    )


def desk_page(
    renderer: Renderer, gate: DeskGate, request: Request, draw: Callable[[], Response], *, keep: str | None = None
) -> Response:
    """Run a desk page as every page of the console runs (``desk.guarded``: lock screen, pending step, sign-in), a
    refused profile getting the refused page with the rule."""

    def drawn() -> Response:
        try:
            return draw()
        except DeskRefused as exc:
            return renderer.refused(request, desk_refusal(exc, gate), user=gate.who(exc.current))

    return guarded(renderer, request, drawn, keep=keep)
