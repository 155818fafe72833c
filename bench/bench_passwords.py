"""Cost of one password verification with the production argon2id parameters, against baselines.

Run: ``python bench/bench_passwords.py``. Everything is measured in the same run: one SHA-256 of the
same password and one argon2id verification with FAST_TEST_PARAMS are the baselines. Peak memory is
measured as the growth of the peak RSS across one verification in a fresh subprocess (VmHWM on Linux,
else ``ru_maxrss``), since tracemalloc does not see argon2's C allocations; the configured memory_cost
is printed beside it.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from santegarde.identity.hashing import FAST_TEST_PARAMS, HashParams, PasswordHashing

PASSWORD = "cheval correct agrafe lune verte bateau piano"  # noqa: S105 - fictitious, benchmark input
SHA_REPEAT = 10_000
ARGON_RUNS = 15

# ru_maxrss survives fork + exec (a child starts with its parent's peak), so the peak of this process's
# own address space, VmHWM, is read where Linux provides it; ru_maxrss is the fallback elsewhere.
_RSS_PROBE = """
import json, resource, sys
from argon2 import PasswordHasher, Type

def peak_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

t, m, p, stored, password = sys.argv[1:6]
hasher = PasswordHasher(time_cost=int(t), memory_cost=int(m), parallelism=int(p), type=Type.ID)
before = peak_kib()
hasher.verify(stored, password)
print(json.dumps({"before_kib": before, "after_kib": peak_kib()}))
"""


def _median_seconds(action: Callable[[], object], runs: int, repeat: int = 1) -> float:
    """Median over ``runs`` of the time of one call, each run timing ``repeat`` calls."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(repeat):
            action()
        samples.append((time.perf_counter() - start) / repeat)
    return statistics.median(samples)


def _verification_seconds(params: HashParams) -> float:
    """Median time of one successful verification under ``params``."""
    hashing = PasswordHashing(params)
    stored = hashing.hash(PASSWORD)
    hashing.verify(stored, PASSWORD)  # warm-up
    return _median_seconds(lambda: hashing.verify(stored, PASSWORD), ARGON_RUNS)


def _rss_delta_kib(params: HashParams) -> int:
    """Growth of the maximum RSS, in KiB, across one verification in a fresh interpreter."""
    stored = PasswordHashing(params).hash(PASSWORD)
    args = [str(params.time_cost), str(params.memory_cost_kib), str(params.parallelism), stored, PASSWORD]
    completed = subprocess.run(  # noqa: S603 - our own interpreter and fixed script
        [sys.executable, "-c", _RSS_PROBE, *args], capture_output=True, text=True, check=True
    )
    probe = json.loads(completed.stdout)
    return int(probe["after_kib"]) - int(probe["before_kib"])


def _describe(params: HashParams) -> str:
    """The parameters as t/m/p."""
    return f"t={params.time_cost}, m={params.memory_cost_kib} KiB, p={params.parallelism}"


def main() -> None:
    """Measure and print the table."""
    production = HashParams()
    sha = _median_seconds(lambda: hashlib.sha256(PASSWORD.encode()).digest(), runs=15, repeat=SHA_REPEAT)
    fast = _verification_seconds(FAST_TEST_PARAMS)
    prod = _verification_seconds(production)
    rows = [
        ("sha256 ×1 (baseline)", "-", sha, "-", "-"),
        ("argon2id FAST_TEST_PARAMS", _describe(FAST_TEST_PARAMS), fast, FAST_TEST_PARAMS.memory_cost_kib,
         _rss_delta_kib(FAST_TEST_PARAMS)),
        ("argon2id production", _describe(production), prod, production.memory_cost_kib, _rss_delta_kib(production)),
    ]  # fmt: skip
    print(f"Python {sys.version.split()[0]}, median of {ARGON_RUNS} verifications (sha256: of 15×{SHA_REPEAT})")
    print(f"{'operation':<27} {'params':<30} {'time':>12} {'configured':>12} {'RSS delta':>12}")
    for name, params, seconds, configured, rss in rows:
        configured_text = f"{configured} KiB" if configured != "-" else "-"
        rss_text = f"{rss} KiB" if rss != "-" else "-"
        print(f"{name:<27} {params:<30} {_format_time(seconds):>12} {configured_text:>12} {rss_text:>12}")
    print(f"production / sha256 = {prod / sha:,.0f}×")
    print(f"production / FAST_TEST_PARAMS = {prod / fast:,.1f}×")


def _format_time(seconds: float) -> str:
    """Seconds in a readable unit."""
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e9:.0f} ns"


if __name__ == "__main__":
    main()
