"""The console's chart page against the same data read through the JSON API, in the same run.

Run: ``python bench/bench_web.py [--n 200] [--observations 200] [--browser]``. One patient with ``--observations``
fictitious observations is written through ``RecordService``; then, alternating request by request, the chart page
``GET /patients/{id}`` (HTML, rendered through identity → policy → store → audit) and the four API requests that read
the same data (``GET /fhir/Patient/{id}`` and ``POST /fhir/{Observation,Condition,MedicationRequest}/_search`` by
patient) are timed in-process (Starlette's TestClient: no network, the same overhead on both sides). Reported: p50 and
p95 in ms of each side, and the ratio page / API (goal: ≤ 1.5, p95 ≤ 150 ms). ``--browser`` also serves the console
on the loopback and loads the chart once in Debian's Chromium, reporting the navigation timing.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_records import _place, _practitioner, observation_body, patient_body
from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table

from santegarde.identity import sessions
from santegarde.store.service import Request
from santegarde.web import create_console

PURPOSE = {"X-Purpose": "medical_record"}


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _browser_first_load(app: object, token: str, path: str) -> dict[str, float] | None:
    """Serve the console on a free loopback port and load ``path`` once in Chromium: its navigation timing (ms)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        return None
    import uvicorn
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            context = browser.new_context()
            context.add_cookies(
                [{"name": "sg_session", "value": token, "url": f"http://localhost:{port}", "secure": True}]
            )
            page = context.new_page()
            page.goto(f"http://localhost:{port}{path}")
            timing = page.evaluate(
                "() => { const n = performance.getEntriesByType('navigation')[0];"
                " return {ttfb: n.responseStart - n.requestStart, dom: n.domContentLoadedEventEnd,"
                " load: n.loadEventEnd}; }"
            )
            browser.close()
            return {k: float(v) for k, v in timing.items()}
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="requests per side")
    parser.add_argument("--observations", type=int, default=200, help="observations of the patient")
    parser.add_argument("--browser", action="store_true", help="also load the chart once in Chromium")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        place = _place(f"sqlite:///{tmp}/records.db", f"sqlite:///{tmp}/audit.db", Path(tmp) / "keyring")
        token = _practitioner(place.identity)
        write = Request(token, "medical_record")
        place.service.create(write, patient_body("p-1"))
        for k in range(args.observations):
            place.service.create(write, observation_body("p-1", f"o-{k}", 60.0 + k / 10))
        app = create_console(place.identity, records=place.service)
        client = TestClient(app, base_url="https://testserver")
        client.cookies.set("sg_session", token)

        def page() -> None:
            answer = client.get("/patients/p-1")
            assert answer.status_code == 200 and answer.text.count('<tr><td class="date">') == args.observations

        def api() -> None:
            assert client.get("/fhir/Patient/p-1", headers=PURPOSE).status_code == 200
            for kind in ("Observation", "Condition", "MedicationRequest"):
                found = client.post(f"/fhir/{kind}/_search", json={"patient": "p-1"}, headers=PURPOSE)
                assert found.status_code == 200

        page()
        api()  # warm-up
        pages, apis = [], []
        for _ in range(args.n):
            pages.append(_timed(page))
            apis.append(_timed(api))
        table = Table(title=f"Chart of a patient with {args.observations} observations, {args.n} requests per side")
        for column in ("side", "p50 ms", "p95 ms", "mean ms"):
            table.add_column(column, justify="right" if column != "side" else "left")
        for label, samples in (("console page GET /patients/{id}", pages), ("JSON API (4 requests)", apis)):
            table.add_row(
                label,
                f"{_percentile(samples, 0.5) * 1000:.1f}",
                f"{_percentile(samples, 0.95) * 1000:.1f}",
                f"{statistics.fmean(samples) * 1000:.1f}",
            )
        console.print(table)
        console.print(
            f"page / API: p50 × {_percentile(pages, 0.5) / _percentile(apis, 0.5):.2f}, "
            f"p95 × {_percentile(pages, 0.95) / _percentile(apis, 0.95):.2f} (goal ≤ 1.5; p95 ≤ 150 ms)"
        )
        if args.browser:
            timing = _browser_first_load(app, token, "/patients/p-1")
            if timing is None:
                console.print("Chromium not found: no first-load timing")
            else:
                console.print(
                    f"Chromium first load of the chart: time to first byte {timing['ttfb']:.0f} ms, "
                    f"DOMContentLoaded {timing['dom']:.0f} ms, load {timing['load']:.0f} ms"
                )
        sessions.logout(place.identity, token)
        place.dispose()


if __name__ == "__main__":
    main()
