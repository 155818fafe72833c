"""Accounts (COM-AUT-1): one individual login per person, technical accounts apart, passwords and TOTP.

Passwords follow the CNIL recommendation (deliberation 2022-100): entropy checked by
``passwords``, argon2id hashing by ``hashing``, change forced after an administrator reset
(AAC-SEC-AUT-4), no forced periodic renewal. The TOTP secret is kept encrypted under the
organisation's identity key.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Row

from santegarde.crypto import KeyFamily
from santegarde.crypto.envelope import decrypt, encrypt
from santegarde.identity import totp
from santegarde.identity.context import IdentityContext
from santegarde.identity.errors import AccountError
from santegarde.identity.passwords import require_strong
from santegarde.identity.tables import grant, session, user

LOGIN = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
Kind = Literal["person", "technical"]


@dataclass(frozen=True)
class Account:
    id: int
    login: str
    display_name: str
    person_ref: str | None
    kind: str
    status: str
    must_change_password: bool
    totp_enrolled: bool

    @classmethod
    def from_row(cls, row: Row) -> Account:
        return cls(
            row.id,
            row.login,
            row.display_name,
            row.person_ref,
            row.kind,
            row.status,
            bool(row.must_change_password),
            row.totp_secret is not None,
        )


def find(conn: Connection, login: str) -> Row | None:
    return conn.execute(select(user).where(user.c.login == login.strip().lower())).first()


def get(conn: Connection, login: str) -> Row:
    row = find(conn, login)
    if row is None:
        raise AccountError("no_account", login=login)
    return row


def password_context(row: Row) -> list[str]:
    """Strings a password must not contain: the login and the parts of the person's name."""
    return [row.login, *row.display_name.split()]


def add(
    ctx: IdentityContext,
    login: str,
    display_name: str,
    *,
    person_ref: str | None,
    kind: Kind = "person",
    by: str,
) -> tuple[Account, str | None]:
    """Create an account. A person gets a one-time password to change at first login; returns it once."""
    login = login.strip().lower()
    if not LOGIN.match(login):
        raise AccountError("login_shape", login=login)
    if not display_name.strip():
        raise AccountError("no_name")
    if kind == "person" and not (person_ref and person_ref.strip()):
        raise AccountError("no_reference")
    if kind == "technical" and person_ref:
        raise AccountError("technical_reference")
    now = ctx.now()
    temporary = _temporary_password() if kind == "person" else None
    with ctx.engine.begin() as conn:
        if find(conn, login) is not None:
            raise AccountError("login_taken", login=login)
        if person_ref and conn.execute(select(user.c.login).where(user.c.person_ref == person_ref)).first():
            raise AccountError("person_has_account", reference=person_ref)
        new_id = conn.execute(
            insert(user)
            .values(
                login=login,
                display_name=display_name.strip(),
                person_ref=person_ref.strip() if person_ref else None,
                kind=kind,
                status="active",
                password_hash=ctx.hashing.hash(temporary) if temporary else None,
                must_change_password=temporary is not None,
                created_at=now,
            )
            .returning(user.c.id)
        ).scalar_one()
        row = conn.execute(select(user).where(user.c.id == new_id)).one()
    ctx.trace("account.add", "success", actor=by, source="admin", rule="COM-AUT-1", detail=f"account {new_id} ({kind})")
    return Account.from_row(row), temporary


def _temporary_password() -> str:
    """A random one-time password (about 95 bits) that the person must change at first login."""
    return "-".join(secrets.token_urlsafe(6) for _ in range(3))


def reset_password(ctx: IdentityContext, login: str, *, by: str) -> str:
    """Administrator reset: a new one-time password, and a change forced at next login (AAC-SEC-AUT-4)."""
    temporary = _temporary_password()
    with ctx.engine.begin() as conn:
        row = get(conn, login)
        if row.kind != "person":
            raise AccountError("technical_password", login=login)
        conn.execute(
            update(user)
            .where(user.c.id == row.id)
            .values(password_hash=ctx.hashing.hash(temporary), must_change_password=True)
        )
        conn.execute(update(session).where(session.c.user_id == row.id).values(ended_at=ctx.now()))
    ctx.trace(
        "account.reset_password", "success", actor=by, source="admin", rule="AAC-SEC-AUT-4", detail=f"account {row.id}"
    )
    return temporary


def change_password(ctx: IdentityContext, conn: Connection, row: Row, current: str, new: str) -> None:
    """Change a password after checking the current one and the new one's strength."""
    if not ctx.hashing.verify(row.password_hash, current).ok:
        raise AccountError("wrong_current")
    if new == current:
        raise AccountError("same_password")
    require_strong(new, attempts_limited=ctx.settings.attempts_limited, context=password_context(row))
    conn.execute(
        update(user)
        .where(user.c.id == row.id)
        .values(password_hash=ctx.hashing.hash(new), must_change_password=False, password_changed_at=ctx.now())
    )


def disable(ctx: IdentityContext, login: str, reason: str, *, by: str) -> int:
    """Departure or suspension: at once, the account is disabled, its grants withdrawn, its sessions ended."""
    if len(reason.strip()) < 5:
        raise AccountError("disable_reason")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        row = get(conn, login)
        conn.execute(
            update(user).where(user.c.id == row.id).values(status="disabled", disabled_at=now, disabled_reason=reason)
        )
        revoked = conn.execute(
            update(grant)
            .where(grant.c.user_id == row.id, grant.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=f"account disabled: {reason}")
        ).rowcount
        conn.execute(
            update(session).where(session.c.user_id == row.id, session.c.ended_at.is_(None)).values(ended_at=now)
        )
    ctx.trace(
        "account.disable",
        "success",
        actor=by,
        source="admin",
        rule="COM-ACC-2",
        detail=f"account {row.id}, {revoked} grant(s) withdrawn",
    )
    return int(revoked)


# -- TOTP ------------------------------------------------------------------------------------------


def _secret_field(user_id: int) -> tuple[str, str]:
    return f"identity_user/{user_id}", "totp_secret"


def store_totp(ctx: IdentityContext, conn: Connection, user_id: int, secret: str, step: int) -> list[str]:
    """Keep a confirmed TOTP secret (encrypted) and return fresh single-use recovery codes, shown once."""
    record, field = _secret_field(user_id)
    token = encrypt(ctx.keyring, KeyFamily.IDENTITY, secret.encode(), record=record, field=field)
    codes = totp.new_recovery_codes()
    conn.execute(
        update(user)
        .where(user.c.id == user_id)
        .values(
            totp_secret=token,
            totp_last_step=step,
            recovery_hashes=json.dumps([totp.hash_recovery_code(c) for c in codes]),
        )
    )
    return codes


def check_second_factor(ctx: IdentityContext, conn: Connection, row: Row, code: str, at: datetime) -> str:
    """Accept a TOTP code (not replayed) or an unused recovery code; returns which was used."""
    if row.totp_secret is None:
        raise AccountError("no_second_factor")
    if "-" in code or len(code.replace(" ", "")) == 10:
        hashes = json.loads(row.recovery_hashes or "[]")
        index = totp.use_recovery_code(code, hashes)
        del hashes[index]
        conn.execute(update(user).where(user.c.id == row.id).values(recovery_hashes=json.dumps(hashes)))
        return "recovery_code"
    record, field = _secret_field(row.id)
    secret = decrypt(ctx.keyring, row.totp_secret, record=record, field=field).decode()
    step = totp.verify(secret, code, last_step=row.totp_last_step, at=at)
    conn.execute(update(user).where(user.c.id == row.id).values(totp_last_step=step))
    return "totp"
