"""The README's FHIR curl examples, run as written against a demo (issue 17): the README cannot drift from the API.

The shell block is read from README.md, each ``curl`` command parsed as the shell and curl would (line
continuations, quotes, comments; ``-d`` without a Content-Type sends a form, as curl does), the placeholders
replaced by the demo's account, TOTP code, patient id and family name, and sent with httpx (Starlette's
TestClient) to the application ``santegarde serve --dev`` builds for the demo.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pyotp
import pytest
from fastapi.testclient import TestClient

from santegarde.cli.serve import build_app
from santegarde.demo import DemoReport, run_demo
from santegarde.runtime import open_organisation

PASSPHRASE = "demo passphrase for the README test"


@dataclass
class Curl:
    """One curl command: what it sends."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    line: str = ""


def readme_curls(readme: str) -> list[str]:
    """The curl commands of the README's shell block that talks to the API (continuations joined)."""
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.DOTALL)
    block = next(b for b in blocks if "curl " in b and "/fhir/" in b)
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("curl ")]


def parse_curl(line: str) -> Curl:
    """The request curl would send for ``line`` (the options the README uses; any other is an error)."""
    words = shlex.split(line, comments=True)
    assert words[0] == "curl"
    method: str | None = None
    url = ""
    headers: dict[str, str] = {}
    data: list[str] = []
    form = False
    it = iter(words[1:])
    for word in it:
        if word in ("-b", "-c"):
            next(it)  # the cookie jar: the client keeps the cookies as a jar would
        elif word == "-i":
            continue  # print the answer's headers: nothing changes in the request
        elif word == "-X":
            method = next(it)
        elif word == "-H":
            name, _, value = next(it).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            data.append(next(it))
            form = True
        elif word == "--data-urlencode":
            name, _, value = next(it).partition("=")
            data.append(f"{name}={quote(value, safe='')}")
            form = True
        elif word.startswith("-"):
            raise AssertionError(f"the README uses a curl option this test does not know: {word}")
        else:
            url = word if "://" in word else f"http://{word}"
    if form and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/x-www-form-urlencoded"  # what curl sends with -d
    body = "&".join(data) if data else None
    return Curl(method or ("POST" if body is not None else "GET"), url, headers, body, line)


def substitute(line: str, report: DemoReport, location: str = "") -> str:
    """The README's placeholders replaced by what the demo printed and the last Content-Location answered (an
    unknown placeholder fails the test)."""
    assert report.example_patient is not None
    pid, family = report.example_patient
    known = {
        "<id>": pid,
        "<the first letters of the family name the demo printed>": family[:3],
        "<the Content-Location it answered>": location,
    }
    for placeholder in re.findall(r"<[^<>]*>", line):
        assert placeholder in known, f"the README has a placeholder this test cannot fill: {placeholder}"
        line = line.replace(placeholder, known[placeholder])
    # the next step's code (accepted: one step of drift): the demo used the current one when it enrolled
    code = pyotp.TOTP(report.totp_secret).at(datetime.now(UTC) + timedelta(seconds=30))
    return line.replace('"…"', f'"{report.password}"').replace('"123456"', f'"{code}"')


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoReport, TestClient]]:
    directory = tmp_path_factory.mktemp("readme") / "demo"
    report = run_demo(directory, "practice", patients=3, seed=17, passphrase=PASSPHRASE)
    org = open_organisation(report.config_path, PASSPHRASE)
    app = build_app(org, local_http=True)  # what the demo serves: santegarde serve --dev
    try:
        with TestClient(app, base_url="http://localhost:8000") as client:
            yield report, client
    finally:
        org.close()


def test_the_readme_parses_as_curl_would_send_it() -> None:
    sent = parse_curl("curl -b jar -X POST localhost:8000/x --data-urlencode 'family=lé n' -d 'a=b'  # note")
    assert (sent.method, sent.url, sent.body) == ("POST", "http://localhost:8000/x", "family=l%C3%A9%20n&a=b")
    assert sent.headers == {"Content-Type": "application/x-www-form-urlencoded"}
    assert parse_curl(r"curl 'localhost:8000/fhir/Patient/p/\$objection'").url.endswith("/p/\\$objection")
    assert parse_curl(r"curl localhost:8000/fhir/Patient/p/\$objection").url.endswith("/p/$objection")


def test_every_fhir_curl_example_of_the_readme_runs_as_written(
    demo: tuple[DemoReport, TestClient], repo_root: Path
) -> None:
    report, client = demo
    lines = readme_curls((repo_root / "README.md").read_text(encoding="utf-8"))
    assert len(lines) >= 6 and any("/auth/login" in line for line in lines)
    assert report.example_patient is not None
    pid = report.example_patient[0]
    location = ""
    for line in lines:
        sent = parse_curl(substitute(line, report, location))
        answer = client.request(sent.method, sent.url, headers=sent.headers, content=sent.body)
        assert answer.is_success, f"{line}\n→ {answer.status_code} {answer.text[:400]}"
        location = answer.headers.get("Content-Location", location)
        if "/_search" in sent.url and "Patient" in sent.url:
            found = [e["resource"]["id"] for e in answer.json()["entry"] if e["search"]["mode"] == "match"]
            assert pid in found, f"{line}\n→ the demo's patient was not found by the README's search"
        if "/fhir/Patient?" in sent.url:
            assert answer.json()["entry"], f"{line}\n→ the page of patients is empty"
