"""Start-up of the ``santegarde`` command: whole-process time and peak memory of a few commands.

Run: ``python bench/bench_cli.py [--runs 10] [--before REF]``. Every run launches a fresh process for each command,
interleaved with the baseline ``python -c pass`` so that the machine's load weighs on all of them alike: the figures
are the median wall time of the runs, its ratio to the baseline's, and the highest peak RSS (``ru_maxrss`` of the
child). The commands: ``--help``, ``referential list``, ``policy decide`` (no organisation) and ``audit verify``
on an organisation initialised for the bench, its trail filled to 76 entries (opens the keystore, the audit database
and the anchor; no warehouse). ``--before REF`` times the same commands, in the same run, on the ``src`` tree of git
revision REF (e.g. ``main``), extracted to a temporary directory.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSPHRASE_ENV = "SANTEGARDE_PASSPHRASE"  # noqa: S105 - its name (santegarde.runtime.PASSPHRASE_ENV), no secret
PASSPHRASE = "a long enough bench passphrase"  # noqa: S105 - a throwaway keystore in a temporary directory
TRAIL_ENTRIES = 76
GOAL_HELP_SECONDS = 0.3
GOAL_HELP_MB = 60
# Every measured process writes its peak RSS (VmHWM, which starts afresh at exec) to the pipe PEAK_FD names as it
# exits: the rusage of a child would count the pages it shared with this process before exec.
PEAK = (
    "import atexit, os\n"
    "hwm = lambda: [line for line in open('/proc/self/status') if line.startswith('VmHWM')][0]\n"
    "atexit.register(lambda: os.write(int(os.environ['PEAK_FD']), hwm().encode()))\n"
)
# One launcher for every tree: the tree under test comes first on PYTHONPATH.
LAUNCH = PEAK + "from santegarde.cli.main import app\napp(prog_name='santegarde')"
FILL_TRAIL = """
import sys
from pathlib import Path
from santegarde.audit.trail import AuditEvent
from santegarde.runtime import open_organisation
org = open_organisation(Path(sys.argv[1]), sys.argv[2])
with org.audit.engine.connect() as conn:
    present = len(list(org.audit.entries(conn)))
for i in range(int(sys.argv[3]) - present):
    org.audit.append(AuditEvent("u1", "practitioner", "read", "Observation", f"o{i}", "medical_record", True, "bench",
                                "6", "success"))
org.close()
"""


def _measure(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MiB) of one process; it must succeed."""
    read, write = os.pipe()
    start = time.perf_counter()
    env = {**env, "PEAK_FD": str(write)}
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(write,))  # noqa: S603
    elapsed = time.perf_counter() - start
    os.close(write)
    with os.fdopen(read) as peak:
        hwm = peak.read()  # "VmHWM:    24736 kB"
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[3:])} failed with exit code {done.returncode}: {done.stderr.decode()}")
    return elapsed, int(hwm.split()[1]) / 1024


def _organisation(directory: Path, env: dict[str, str]) -> Path:
    """An initialised practice with its keyring, its trail filled to ``TRAIL_ENTRIES`` entries."""
    init = ["init", "--profile", "practice", "--dir", str(directory), "--name", "Cabinet Bench"]
    init += ["--set", "retention_end_action=delete", "--fact", "grouped_practice_shared_system=false"]
    init += ["--fact", "patients_per_year=4000", "--controller-email", "contact@exemple.invalid"]
    init += ["--controller-address", "1 rue de l'Exemple, Nulle-part", "--dpo-name", "Dominique Exemple"]
    init += ["--dpo-email", "dpo@exemple.invalid"]
    config = directory / "santegarde.yaml"
    for step in (
        [sys.executable, "-c", LAUNCH, *init],
        [sys.executable, "-c", LAUNCH, "keys", "init", "--config", str(config)],
        [sys.executable, "-c", FILL_TRAIL, str(config), PASSPHRASE, str(TRAIL_ENTRIES)],
    ):
        done = subprocess.run(step, env=env, capture_output=True, text=True)  # noqa: S603
        if done.returncode != 0:
            raise SystemExit(f"Setting up the bench's organisation failed:\n{done.stdout}{done.stderr}")
    return config


def _source_tree(ref: str, into: Path) -> Path:
    """The ``src`` directory of git revision ``ref``, extracted under ``into``."""
    archive = subprocess.run(  # noqa: S603
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "src"],  # noqa: S607
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="Processes per command (the median is reported)")
    parser.add_argument("--before", metavar="REF", help="Also time the src tree of this git revision, e.g. main")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="santegarde-bench-cli-") as scratch:
        base_env = {**os.environ, PASSPHRASE_ENV: PASSPHRASE, "COLUMNS": "120"}
        trees = {"after": ROOT / "src"}
        if args.before:
            trees = {"before": _source_tree(args.before, Path(scratch) / "before"), **trees}
        config = _organisation(Path(scratch) / "org", {**base_env, "PYTHONPATH": str(ROOT / "src")})
        commands = {
            "--help": ["--help"],
            "referential list": ["referential", "list"],
            "policy decide": [
                *("policy", "decide", "--referential", "pra-2020-081", "--profile", "practitioner"),
                *("--operation", "read", "--category", "health", "--purpose", "medical_record"),
            ],
            "audit verify": ["audit", "verify", "--config", str(config)],
        }
        runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for run in range(args.runs + 1):  # the first is a warm-up (bytecode caches written), not counted
            samples = {("", "python -c pass"): _measure([sys.executable, "-c", PEAK + "pass"], base_env)}
            for tree, src in trees.items():
                env = {**base_env, "PYTHONPATH": str(src)}
                for label, argv in commands.items():
                    samples[tree, label] = _measure([sys.executable, "-c", LAUNCH, *argv], env)
            if run:
                for key, sample in samples.items():
                    runs.setdefault(key, []).append(sample)

    baseline = statistics.median(t for t, _ in runs[("", "python -c pass")])
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {args.runs} runs per command")
    print()
    print("| tree | command | median s | × python -c pass | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for (tree, label), samples in runs.items():
        median = statistics.median(t for t, _ in samples)
        peak = max(m for _, m in samples)
        print(f"| {tree or '–'} | `{label}` | {median:.3f} | {median / baseline:.1f} | {peak:.0f} |")
    help_after = runs[("after", "--help")]
    median_help = statistics.median(t for t, _ in help_after)
    peak_help = max(m for _, m in help_after)
    print()
    time_goal = "met" if median_help <= GOAL_HELP_SECONDS else "NOT met"
    memory_goal = "met" if peak_help <= GOAL_HELP_MB else "NOT met"
    print(f"`--help`: {median_help:.3f} s (goal ≤ {GOAL_HELP_SECONDS} s: {time_goal}), ", end="")
    print(f"{peak_help:.0f} MiB (goal ≤ {GOAL_HELP_MB} MB: {memory_goal}).")


if __name__ == "__main__":
    main()
