"""What a TLS front (an nginx server file or a Caddyfile) in front of santegarde does, read from its text.

``santegarde doctor`` reads the front it finds on the machine, and the tests read the fronts ``santegarde deploy``
writes, with the same checks: TLS 1.2 and 1.3 only, HSTS, the client's address replaced (never appended to what the
client sent, which it could forge), the scheme announced, the API reached on this machine, and a request body limit
no larger than the API's. A check is a problem key (``documents_text.yaml``, cli → doctor) with its facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# Where a distribution's nginx and Caddy read their sites from, in the order doctor looks.
KNOWN_PLACES = (
    Path("/etc/nginx/conf.d/santegarde.conf"),
    Path("/etc/nginx/sites-enabled/santegarde.conf"),
    Path("/etc/nginx/sites-enabled/santegarde"),
    Path("/etc/caddy/Caddyfile"),
)
LOCAL_UPSTREAM = re.compile(r"^(https?://)?(127\.0\.0\.1|localhost|\[::1\]):(\d+)/?$")
_SIZE = re.compile(r"^(\d+)\s*([kKmMgG]?)(i?[bB])?$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


@dataclass(frozen=True)
class FrontView:
    path: Path
    kind: str  # nginx or caddy
    problems: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    body_bytes: int | None = None
    port: int | None = None


def _directives(text: str) -> list[list[str]]:
    """Each line without its comment, split into words."""
    return [line.split("#", 1)[0].strip().rstrip(";").split() for line in text.splitlines() if line.strip()]


def _size(value: str, *, caddy: bool) -> int | None:
    """nginx's 1m / 1024k, Caddy's 1MB / 1024KiB (an SI unit in Caddy is a power of 1000)."""
    found = _SIZE.match(value)
    if not found:
        return None
    number, unit, suffix = int(found.group(1)), found.group(2).lower(), found.group(3) or ""
    if caddy and unit and not suffix.lower().startswith("i"):
        return number * {"k": 1000, "m": 1000**2, "g": 1000**3}[unit]
    return number * _UNITS[unit]


def _nginx(path: Path, lines: list[list[str]]) -> FrontView:
    problems: list[tuple[str, dict[str, object]]] = []
    protocols = {w for line in lines if line[:1] == ["ssl_protocols"] for w in line[1:]}
    if not protocols or not protocols <= {"TLSv1.2", "TLSv1.3"}:
        problems.append(("front_tls", {"path": path, "found": " ".join(sorted(protocols)) or "—"}))
    headers = {
        line[1].lower(): " ".join(line[2:]) for line in lines if line[:1] == ["proxy_set_header"] and len(line) > 2
    }
    forwarded = headers.get("x-forwarded-for")
    if forwarded != "$remote_addr":
        problems.append(("front_forwarded_for", {"path": path, "found": forwarded or "—"}))
    if "x-forwarded-proto" not in headers:
        problems.append(("front_forwarded_proto", {"path": path}))
    if not any(line[:1] == ["add_header"] and "Strict-Transport-Security" in line for line in lines):
        problems.append(("front_hsts", {"path": path}))
    upstreams = [line[1] for line in lines if line[:1] == ["proxy_pass"] and len(line) > 1]
    port = _local_port(path, upstreams, problems)
    sizes = [line[1] for line in lines if line[:1] == ["client_max_body_size"] and len(line) > 1]
    body = _size(sizes[-1], caddy=False) if sizes else 1024**2  # nginx's default is 1m
    return FrontView(path, "nginx", problems, body, port)


def _caddy(path: Path, lines: list[list[str]]) -> FrontView:
    problems: list[tuple[str, dict[str, object]]] = []
    protocols = {w for line in lines if line[:1] == ["protocols"] for w in line[1:]}
    if protocols and not protocols <= {"tls1.2", "tls1.3"}:  # Caddy's default is TLS 1.2 and 1.3
        problems.append(("front_tls", {"path": path, "found": " ".join(sorted(protocols))}))
    ups = {line[1].lower(): " ".join(line[2:]) for line in lines if line[:1] == ["header_up"] and len(line) > 2}
    forwarded = ups.get("x-forwarded-for")
    if forwarded is not None and forwarded != "{remote_host}":  # Caddy's own default replaces it
        problems.append(("front_forwarded_for", {"path": path, "found": forwarded}))
    if not any("Strict-Transport-Security" in line for line in lines):
        problems.append(("front_hsts", {"path": path}))
    upstreams = [line[1] for line in lines if line[:1] == ["reverse_proxy"] and len(line) > 1]
    port = _local_port(path, upstreams, problems)
    sizes = [line[1] for line in lines if line[:1] == ["max_size"] and len(line) > 1]
    body = _size(sizes[-1], caddy=True) if sizes else None  # Caddy has no limit of its own
    return FrontView(path, "caddy", problems, body, port)


def _local_port(path: Path, upstreams: list[str], problems: list[tuple[str, dict[str, object]]]) -> int | None:
    ports = set()
    for upstream in upstreams:
        found = LOCAL_UPSTREAM.match(upstream)
        if found is None:
            problems.append(("front_upstream", {"path": path, "found": upstream}))
        else:
            ports.add(int(found.group(3)))
    if not upstreams:
        problems.append(("front_upstream", {"path": path, "found": "—"}))
    return min(ports) if len(ports) == 1 else None


def read_front(path: Path, text: str, max_body_bytes: int) -> FrontView:
    """What the front at ``path`` does, and what in it does not fit an API taking ``max_body_bytes`` at most."""
    lines = _directives(text)
    caddy = path.name == "Caddyfile" or any(line[:1] == ["reverse_proxy"] for line in lines)
    view = _caddy(path, lines) if caddy else _nginx(path, lines)
    if view.body_bytes is None or view.body_bytes > max_body_bytes:
        limit = "—" if view.body_bytes is None else view.body_bytes // 1024
        view.problems.append(("front_body", {"path": path, "found": limit, "api": max_body_bytes // 1024}))
    return view


def _proxies(text: str) -> bool:
    """Whether a Caddyfile proxies somewhere (a ``reverse_proxy`` directive, not a comment: the Caddyfile a
    distribution installs mentions one only in its comments)."""
    return any(line[:1] == ["reverse_proxy"] or line[:2] == ["handle", "reverse_proxy"] for line in _directives(text))


def find_front(places: tuple[Path, ...] = KNOWN_PLACES) -> Path | None:
    """The first front configuration found in ``places`` (a Caddyfile only when it proxies to santegarde)."""
    for place in places:
        try:
            if place.is_file() and (place.name != "Caddyfile" or _proxies(place.read_text())):
                return place
        except OSError:
            continue
    return None
