"""The whole suite's log lines, scanned for the identifying values of the synthetic patients it made (issue 25).

``tests/test_log_capture.py`` runs the main flows with every logger at DEBUG and looks for their values; this is
the net under the whole suite: every record that reaches santegarde's loggers (INFO and above) or any library's
(WARNING and above), in every test, is kept, and at the end of the session it is searched for each NIR/INS, each
family name (as the record stores it, in capitals), e-mail address and telephone number of every patient the
synthetic generator made during the run. A leak fails the run, naming the logger and the kind of value found.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# The test's own HTTP client logs the URLs it sends (refused ones included): what the server logs is what counts.
CLIENT_LOGGERS = ("httpx", "httpcore")
TOKEN = re.compile(r"[\w@.+'-]+")
DIGITS = re.compile(r"\D")
# a number as a telephone is written: digits, maybe grouped by spaces, dots, dashes or brackets, maybe after "+"
PHONE_RUN = re.compile(r"\+?\d[\d .()-]*\d")


@dataclass
class Identifying:
    """The values that identify the patients made so far, by kind."""

    values: dict[str, str] = field(default_factory=dict)  # value → kind

    def add_patient(self, patient: Any) -> None:
        """Register a synthetic FHIR Patient's NIR/INS, family names, e-mail and telephone numbers."""
        body = patient.model_dump(mode="json", exclude_none=True) if hasattr(patient, "model_dump") else patient
        for ident in body.get("identifier", []):
            value = str(ident.get("value", ""))
            if len(value) >= 13 and value.isdigit():
                self.values[value] = "NIR/INS"
        for name in body.get("name", []):
            family = str(name.get("family", ""))
            if len(family) >= 4:
                self.values[family.upper()] = "nom de famille"
        for contact in body.get("telecom", []):
            value = str(contact.get("value", ""))
            if contact.get("system") == "email" and "@" in value:
                self.values[value.lower()] = "adresse électronique"
            elif contact.get("system") == "phone" and len(DIGITS.sub("", value)) >= 9:
                self.values[DIGITS.sub("", value)[-9:]] = "téléphone"


def leaks(lines: Iterable[tuple[str, str]], known: Identifying) -> list[tuple[str, str]]:
    """(logger, kind) of every line holding one of the known values: a token equal to a NIR, a family name or an
    e-mail address, or a phone-like run of digits holding a known telephone number's nine last digits."""
    found: list[tuple[str, str]] = []
    phones = {v for v, kind in known.values.items() if kind == "téléphone"}
    for logger, line in lines:
        for token in TOKEN.findall(line):
            token = token.strip(".'-")
            kind = known.values.get(token) or known.values.get(token.lower() if "@" in token else token)
            if kind and kind != "téléphone":
                found.append((logger, kind))
                break
        else:  # each phone-like run alone: a whole line's digits (ids, times, sizes) joined match by chance
            runs = (DIGITS.sub("", run) for run in PHONE_RUN.findall(line))
            if phones and any(len(d) >= 9 and any(p in d for p in phones) for d in runs):
                found.append((logger, "téléphone"))
    return found


class SuiteLogs(logging.Handler):
    """Keeps every record's message, arguments and traceback (the test client's aside) as one line."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in CLIENT_LOGGERS:
            return
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not fit its message: keep both as they are
            text = f"{record.msg} {record.args}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]}"
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        self.lines.append((record.name, f"{text} {extra}" if extra else text))


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
