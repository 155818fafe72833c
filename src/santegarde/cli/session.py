"""santegarde login | logout | whoami | unlock: a professional's own session from the command line.

The CLI follows the API's rules: the password (and the charter, the second factor and the profile
when pending) opens a server-side session; the token lives only in a file the user alone can read
(``$XDG_RUNTIME_DIR/santegarde`` or ``~/.cache/santegarde``, directory 0700, file 0600), one per
organisation configuration. It is never printed, never an argument, never an environment variable.
Data commands take it with ``current_token``; the session keeps its server-side rules (expiry,
inactivity lock, grant validity).
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from santegarde.atomic import write_new_bytes
from santegarde.cli.common import LangOption, console, friendly_errors
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.errors import WordedError
from santegarde.identity import sessions, totp
from santegarde.identity.charter import charter_text
from santegarde.identity.context import IdentityContext
from santegarde.identity.errors import SessionRefused
from santegarde.identity.tables import user
from santegarde.runtime import Organisation, identity_context

SESSION_SUFFIX = ".session"


def _refusal(key: str, **facts: Any) -> dict[str, str]:
    """A refusal of the session commands in French and English (refusals.yaml, session)."""
    from santegarde import refusals

    return refusals.sentences("session", key, **facts)


def _said(lang: str) -> dict[str, Any]:
    """What the session commands print, in ``lang`` (documents_text.yaml, session_desk)."""
    from santegarde.governance import doctext

    found: dict[str, Any] = doctext.words(lang)["session_desk"]
    return found


class NotLoggedIn(WordedError):
    """No usable session file for this organisation."""

    def __init__(self, key: str = "not_logged_in") -> None:
        super().__init__(_refusal(key))


class SessionFileError(WordedError):
    """The session directory or file is not private to the user; nothing is read from it."""


class CharterRefused(WordedError):
    """The user did not accept the confidentiality charter: no session is opened."""

    def __init__(self) -> None:
        super().__init__(_refusal("charter_refused"))


@dataclass(frozen=True)
class CliSession:
    """An opened organisation, its identity context and the user's session token, for one command."""

    org: Organisation
    identity: IdentityContext
    token: str


def cli_source() -> str:
    """Where a CLI request comes from, as the audit trail and the login throttle see it."""
    return f"cli@{socket.gethostname()}"[:64]


def session_directory() -> Path:
    """The private directory of session files (tests monkeypatch this)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path.home() / ".cache"
    return base / "santegarde"


def session_path(config: Path) -> Path:
    """One session file per organisation configuration (by the SHA-256 of its absolute path)."""
    digest = hashlib.sha256(str(config.resolve()).encode()).hexdigest()[:16]
    return session_directory() / f"{digest}{SESSION_SUFFIX}"


def _private_directory() -> Path:
    directory = session_directory()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.stat()
    if info.st_uid != os.getuid():
        raise SessionFileError(_refusal("directory_not_yours", directory=directory))
    if stat.S_IMODE(info.st_mode) != 0o700:
        directory.chmod(0o700)
    return directory


def save_token(config: Path, token: str) -> Path:
    """Store the token in a new file (0600) in the private directory, replacing an older one."""
    _private_directory()
    path = session_path(config)
    path.unlink(missing_ok=True)
    write_new_bytes(path, token.encode(), mode=0o600)
    return path


def current_token(config: Path) -> str:
    """The token of the user's session with this organisation; refused when there is none."""
    path = session_path(config)
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise NotLoggedIn() from None
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        path.unlink(missing_ok=True)
        raise NotLoggedIn("file_exposed")
    token = path.read_text(encoding="ascii").strip()
    if not token:
        raise NotLoggedIn()
    return token


def forget_token(config: Path) -> bool:
    """Delete the session file; True if there was one."""
    path = session_path(config)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


@contextmanager
def logged_in(config: Path) -> Iterator[CliSession]:
    """The organisation opened with its keys and the user's session token (refused first if not logged in)."""
    token = current_token(config)
    with opened(config) as org:
        yield CliSession(org, identity_context(org), token)


# -- the steps of a login ----------------------------------------------------------------------------


def _change_password(ctx: IdentityContext, token: str, password: str, said: dict[str, Any]) -> None:
    console.print(said["password_reset"])
    new = str(typer.prompt(said["ask_new_password"], hide_input=True, confirmation_prompt=True))
    sessions.change_password(ctx, token, password, new)


def _charter(ctx: IdentityContext, token: str, said: dict[str, Any]) -> None:
    version = ctx.settings.charter_version
    console.print(charter_text(version), markup=False, highlight=False)
    if not typer.confirm(said["ask_charter"].format(version=version), default=False):
        raise CharterRefused()
    sessions.accept_charter(ctx, token, version)


def _enrolled(ctx: IdentityContext, login_name: str) -> bool:
    with ctx.engine.connect() as conn:
        secret = conn.execute(select(user.c.totp_secret).where(user.c.login == login_name)).scalar_one_or_none()
    return secret is not None


def _second_factor(ctx: IdentityContext, token: str, said: dict[str, Any]) -> None:
    login_name = sessions.state(ctx, token).login
    if not _enrolled(ctx, login_name):
        if typer.confirm(said["ask_enrol"], default=False):
            _enrol(ctx, token, login_name, said)
        else:
            console.print(said["no_authenticator"])
        return
    code = str(typer.prompt(said["ask_code"], hide_input=True))
    sessions.second_factor(ctx, token, code)


def _enrol(ctx: IdentityContext, token: str, login_name: str, said: dict[str, Any]) -> None:
    """Enrol an authenticator app in the terminal: its QR code drawn in text and its key shown once, a code it
    shows confirmed; the recovery codes shown once (nothing stored until the code is right)."""
    enrolment = totp.start_enrolment(login_name)
    console.print(said["enrol_scan"], markup=False)
    console.print(totp.qr_text(enrolment.uri), markup=False, highlight=False)
    console.print(said["enrol_secret"].format(secret=enrolment.secret), markup=False, highlight=False)
    code = str(typer.prompt(said["ask_enrol_code"]))
    codes = sessions.enrol_second_factor(ctx, token, enrolment.secret, code)
    console.print(said["enrol_done"], markup=False)
    console.print("\n".join(codes), markup=False, highlight=False)


def _profile(
    ctx: IdentityContext, token: str, profiles: tuple[str, ...], chosen: str | None, said: dict[str, Any]
) -> None:
    if chosen is None:
        console.print(said["your_profiles"].format(profiles=", ".join(profiles)))
        chosen = str(typer.prompt(said["ask_profile"]))
    sessions.choose_profile(ctx, token, chosen)


def _complete(
    ctx: IdentityContext, result: sessions.LoginResult, password: str, profile: str | None, said: dict[str, Any]
) -> sessions.SessionContext:
    """Do every pending step in order; the session state afterwards."""
    pending = result.pending
    if "password_change" in pending:
        _change_password(ctx, result.token, password, said)
    if "charter" in pending:
        _charter(ctx, result.token, said)
    if "second_factor" in pending:
        _second_factor(ctx, result.token, said)
    if "profile" in pending:
        _profile(ctx, result.token, result.profiles, profile, said)
    return sessions.state(ctx, result.token)


def _end_quietly(ctx: IdentityContext, token: str) -> None:
    with suppress(SessionRefused):  # already ended or expired server-side
        sessions.logout(ctx, token)


def _print_state(current: sessions.SessionContext, said: dict[str, Any]) -> None:
    profile = current.profile or said["no_profile"]
    console.print(said["logged_in_as"].format(login=current.login, profile=profile), markup=False)
    method = said["methods"].get(current.method, current.method)
    console.print(said["factors"].format(n=current.factors, method=method), markup=False)
    if current.project:
        console.print(said["project"].format(project=current.project), markup=False)
    if current.pending:
        steps = ", ".join(said["steps"].get(p, p) for p in current.pending)
        console.print(said["pending"].format(steps=steps), markup=False)
    else:
        console.print(said["no_pending"])


# -- commands --------------------------------------------------------------------------------------


@friendly_errors
def login(
    login_name: Annotated[str, typer.Argument(metavar="LOGIN", help="Your individual login")],
    workstation: Annotated[
        str, typer.Option("--workstation", help="Where you work: office, or public_area (locks after 5 minutes)")
    ] = "office",
    profile: Annotated[
        str | None, typer.Option("--profile", help="The profile to work under, when your account holds several")
    ] = None,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Open your session: password, then the charter, second factor and profile when pending."""
    said = _said(lang)
    with opened(config) as org:
        ctx = identity_context(org)
        with suppress(NotLoggedIn):
            _end_quietly(ctx, current_token(config))
        forget_token(config)
        password = str(typer.prompt(said["ask_password"], hide_input=True))
        result = sessions.login(ctx, login_name, password, source=cli_source(), workstation_class=workstation)
        try:
            current = _complete(ctx, result, password, profile, said)
            save_token(config, result.token)
        except BaseException:
            _end_quietly(ctx, result.token)  # a half-open session is never left behind
            raise
    _print_state(current, said)


@friendly_errors
def logout(lang: LangOption = "fr", config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """End your session on the server and delete its file."""
    said = _said(lang)
    token = current_token(config)
    try:
        with opened(config) as org:
            _end_quietly(identity_context(org), token)
    finally:
        forget_token(config)
    console.print(said["logged_out"])


@friendly_errors
def whoami(lang: LangOption = "fr", config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Your login, profile, factors and pending steps (counts as activity)."""
    said = _said(lang)
    with logged_in(config) as s:
        _print_state(sessions.state(s.identity, s.token), said)


@friendly_errors
def unlock(lang: LangOption = "fr", config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Unlock a session locked after inactivity, with your password."""
    said = _said(lang)
    with logged_in(config) as s:
        password = str(typer.prompt(said["ask_password"], hide_input=True))
        _print_state(sessions.unlock(s.identity, s.token, password), said)
