"""A third witness of the trail's sealed heads: syslog, on this machine or on a remote log server.

The anchor file sits on the same machine as the audit database: someone able to put an older copy
of the database back can also cut the anchor file to the matching prefix. A log server the
machine's administrators cannot rewrite (remote syslog over UDP, or a journald/rsyslog forwarding
what it gets on ``/dev/log``) keeps every sealed head out of their reach, to compare with the
anchor file in an investigation. Sending is best effort and cheap (one datagram per committed
transaction, no wait): the database and the anchor file stay the references ``verify`` checks.
"""

from __future__ import annotations

import socket

# <priority>: facility authpriv (10) × 8 + severity notice (5), as RFC 3164 writes it.
PRIORITY = 10 * 8 + 5
TAG = "santegarde-audit"


class SyslogWitness:
    def __init__(self, address: str):
        """``address``: a Unix socket path (e.g. /dev/log) or host:port of a syslog server (UDP)."""
        host, _, port = address.rpartition(":")
        self._address: str | tuple[str, int] = address
        self._family = socket.AF_UNIX
        if not address.startswith("/") and host and port.isdigit():
            self._address, self._family = (host, int(port)), socket.AF_INET
        self.address = address

    def send(self, lines: list[str]) -> None:
        """One datagram per sealed head (``<seq> <hash> <seal>``); a log server that does not answer is skipped."""
        try:
            with socket.socket(self._family, socket.SOCK_DGRAM) as sock:
                for line in lines:
                    sock.sendto(f"<{PRIORITY}>{TAG}: head {line.strip()}".encode("ascii"), self._address)
        except OSError:
            pass  # best effort by design: the anchor file already holds the line
