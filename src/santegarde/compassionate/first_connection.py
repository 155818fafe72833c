"""The information shown to a professional at first connection to the platform (§10.6, AAC-10).

The notice is the governance notice generator's ``platform`` format, built from the organisation's configuration,
the référentiel, the registered programmes and the transfer register: the console draws it, in French by default,
before any compassionate-access screen. Its version is a digest of its French text, so that any change of what it
says (a new programme, a recipient, a transfer) asks every person again. Each acknowledgement is recorded per
person and version (table ``aac_notice_acknowledgement``) and traced in the audit trail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from santegarde.audit.trail import AuditEvent
from santegarde.compassionate.registry import Registry
from santegarde.compassionate.tables import aac_notice_acknowledgement
from santegarde.config import OrganisationConfig
from santegarde.governance import notices
from santegarde.governance.transfers import Transfer
from santegarde.identity import sessions
from santegarde.referentials.model import Referential
from santegarde.store.service import RecordService, Request

OPERATION = "aac.notice.acknowledge"
RULE = "AAC-10"
SECTION = "10.6"


@dataclass(frozen=True, slots=True)
class Shown:
    """The notice as a page draws it: its version, its title, its content (an HTML fragment), the words of the
    acknowledgement's box and button."""

    version: str
    title: str
    html: str
    accept: str
    confirm: str


@dataclass(frozen=True, slots=True)
class PlatformNotice:
    """The platform notice of this organisation: ``declared`` reads the transfer register when it is shown."""

    config: OrganisationConfig
    referential: Referential
    registry: Registry
    declared: Callable[[], Sequence[Transfer]] | None = None

    def shown(self, lang: str = "fr") -> Shown:
        """The notice in ``lang``, with the version of its French text (the same version in either language)."""
        french = self._content("fr")
        text = french if lang == "fr" else self._content(lang)
        return Shown(_version(french[1]), *text)

    def _content(self, lang: str) -> tuple[str, str, str, str]:
        built = notices.build_notice(
            self.config,
            self.referential,
            "platform",
            lang,
            programmes=self.registry.notice_facts(),
            declared=list(self.declared()) if self.declared is not None else None,
        )
        t = built.t
        return str(t["title_platform"]), notices.render_notice_content(built), t["platform_accept"], t["platform_ok"]


def _version(french: str) -> str:
    return hashlib.sha256(" ".join(french.split()).encode()).hexdigest()[:16]


def acknowledged(records: RecordService, login: str, version: str) -> bool:
    """Whether this person acknowledged this version of the notice."""
    with records.engine.connect() as conn:
        row = conn.execute(
            select(aac_notice_acknowledgement.c.login).where(
                aac_notice_acknowledgement.c.login == login, aac_notice_acknowledgement.c.version == version
            )
        ).first()
    return row is not None


def acknowledge(records: RecordService, req: Request, version: str) -> sessions.SessionContext:
    """Record that the session's person read this version of the notice (once), and trace it; their session."""
    ctx = sessions.require(records.identity, req.token, sensitivity=None)
    now = records.identity.now()
    try:
        with records.engine.begin() as conn:
            conn.execute(
                insert(aac_notice_acknowledgement).values(login=ctx.login, version=version, acknowledged_at=now)
            )
    except IntegrityError:  # acknowledged already (two tabs): the first time stands
        pass
    records.audit.append(
        AuditEvent(
            actor=ctx.login,
            profile=ctx.profile or "",
            operation=OPERATION,
            resource_type="Notice",
            resource_id=version,
            purpose=req.purpose,
            allowed=True,
            rule=RULE,
            section=SECTION,
            outcome="success",
            source=req.source,
            referential=records.ref.id,
        )
    )
    return ctx
