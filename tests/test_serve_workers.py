"""``santegarde serve --workers N``: what cannot work with several processes is refused with a sentence, and a real
two-worker server answers its health checks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from santegarde.api.ops import METRICS_TOKEN_ENV
from santegarde.cli import serve_workers
from santegarde.cli.main import app
from santegarde.config import load
from santegarde.config.model import ProSanteConnectConfig
from santegarde.crypto import ScryptParams, create_keyring, create_keystore
from santegarde.demo import demo_answers
from santegarde.organisation import build_config, init_organisation
from santegarde.referentials import loader
from santegarde.runtime import PASSPHRASE_ENV

PASS = "workers passphrase, fictitious"
TOKEN = "a-fictitious-metrics-token-for-the-workers-0123456789"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("workers") / "org"
    ref = loader.for_profile("practice")
    choices, justifications = demo_answers(ref)
    built, ref = build_config(
        directory, "practice", organisation_name="Cabinet Workers (fictif)", choices=choices,
        justifications=justifications,
    )  # fmt: skip
    init_organisation(directory, built, ref)
    keydir = Path(built.keyring_path)
    create_keyring(create_keystore(keydir, PASS, ScryptParams(n=2**10, r=8, p=1)), keydir)
    return directory / "santegarde.yaml"


@pytest.mark.parametrize("count", ["0", "-1", "65"])
def test_a_number_of_workers_out_of_range_is_refused(runner: CliRunner, config: Path, count: str) -> None:
    done = runner.invoke(app, ["serve", "--config", str(config), "--workers", count], env={PASSPHRASE_ENV: PASS})
    assert done.exit_code != 0 and "de 1 à 64" in done.output


def test_several_workers_need_the_passphrase_in_the_environment_before_any_prompt(
    runner: CliRunner, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    done = runner.invoke(app, ["serve", "--config", str(config), "--workers", "2"], input=f"{PASS}\n")
    assert done.exit_code != 0
    assert PASSPHRASE_ENV in done.output and "--workers 1" in done.output
    assert "passphrase:" not in done.output.lower()  # refused before asking: a typed one could not reach the workers


def test_what_lives_in_one_process_is_refused_with_several_workers(config: Path) -> None:
    loaded = load(config)
    serve_workers.check_config(loaded, 2)  # the organisation of the tests: files on disk, no Pro Santé Connect
    for option in ("database_url", "audit_database_url"):
        memory = loaded.model_copy(update={option: "sqlite:///:memory:"})
        with pytest.raises(serve_workers.WorkersRefused, match=f"{option} désigne une base en mémoire"):
            serve_workers.check_config(memory, 2)
        serve_workers.check_config(memory, 1)  # one process: its own memory is enough
    psc = loaded.model_copy(
        update={"pro_sante_connect": ProSanteConnectConfig(
            issuer="https://psc.invalid/realm", client_id="c", redirect_uri="https://cabinet.invalid/auth/psc/callback"
        )}
    )  # fmt: skip
    with pytest.raises(serve_workers.WorkersRefused, match="Pro Santé Connect"):
        serve_workers.check_config(psc, 3)


def test_a_worker_started_on_its_own_says_how_to_start_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(serve_workers.CONFIG_ENV, raising=False)
    with pytest.raises(serve_workers.WorkersRefused, match="santegarde serve --workers N"):
        serve_workers.worker_app()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


@pytest.fixture
def two_workers(config: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _free_port()
    command = Path(sys.executable).with_name("santegarde")
    server = subprocess.Popen(
        [str(command), "serve", "--config", str(config), "--workers", "2", "--port", str(port)],
        env={**os.environ, PASSPHRASE_ENV: PASS, METRICS_TOKEN_ENV: TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield server, port
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="counts the worker processes through /proc")
def test_two_real_workers_answer_health(two_workers: tuple[subprocess.Popen[str], int]) -> None:
    server, port = two_workers
    deadline, ready = time.monotonic() + 90, None
    while time.monotonic() < deadline and server.poll() is None:
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5)
            break
        except httpx.TransportError:
            time.sleep(0.5)
    assert ready is not None, server.stdout.read() if server.stdout and server.poll() is not None else "no answer"
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    assert len(ready.headers["X-Request-ID"]) == 32
    # The uvicorn supervisor and its two workers: every request is answered by one of them.
    workers = [c for c in _children(server.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]
    assert len(workers) >= 2, workers
    answers = {httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=5).status_code for _ in range(10)}
    assert answers == {200}
    # Whichever worker answers the scrape, it counts the requests of both (summed from the metrics directory).
    line = 'santegarde_http_requests_total{method="GET",route="/health/live",status="200"} 10.0'
    for _ in range(4):
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200 and line in scraped.text, scraped.text
        assert "santegarde_audit_entries " in scraped.text
        assert scraped.text.count("# TYPE santegarde_audit_entries") == 1  # read from the trail once, not per worker
    server.send_signal(signal.SIGINT)
    assert server.wait(timeout=30) == 0
