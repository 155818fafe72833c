"""The released package, as a vendor installs it: built, installed outside the checkout, run.

One test, on purpose: building the wheel and sdist is the slow part (a few seconds), and everything else checks what
those two files hold or what the installed wheel does. The fresh virtual environment is made without pip and gets the
dependencies by a ``.pth`` line naming this environment's site-packages (no download, no second copy of FastAPI or
weasyprint), added only after the wheel is installed into it so that pip sees an empty environment; its
``santegarde`` must be the wheel's (the test checks where it is imported from). A blocker installed in that
environment makes the warehouse's modules impossible to import, as on a pharmacy that installed no extra: the demo
and the audit trail's verification run without them, and the warehouse command says which extra to install.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "santegarde"
PASS = "packaging passphrase, fictitious"
HEAVY = ("duckdb", "pyarrow", "anonymeter", "numba")

BLOCKER = f'''"""Installed by tests/test_packaging.py: the warehouse extra is not installed in this environment."""
import importlib.abc
import sys


class _NoExtra(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NoExtra())
'''


def _data_files() -> set[str]:
    """Every file of the package that is not Python source: what the commands read at run time."""
    return {
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    }


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{' '.join(args[:3])}…\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_installs_outside_the_checkout_and_runs_without_the_heavy_extras(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)], tmp_path, env)
    (wheel,) = dist.glob("santegarde-*.whl")
    (sdist,) = dist.glob("santegarde-*.tar.gz")

    data = _data_files()
    assert {"santegarde/referentials/data/pha-2022-067.yaml", "santegarde/store/migrations/script.py.mako"} <= data
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
        metadata = next(n for n in in_wheel if n.endswith(".dist-info/METADATA"))
        requires = [line for line in archive.read(metadata).decode().splitlines() if line.startswith("Requires-Dist")]
    assert data - in_wheel == set(), "package data missing from the wheel"
    assert any(n.startswith("santegarde/store/migrations/versions/") for n in in_wheel)
    for heavy in HEAVY:  # only under an extra: a pharmacy installs none of them
        assert all("extra ==" in line for line in requires if f": {heavy}" in line), requires
    assert any("prometheus-client" in line and "extra" not in line for line in requires)
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {f"src/{name}" for name in data} - in_sdist == set(), "package data missing from the sdist"

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index",
          "--disable-pip-version-check", str(wheel)], tmp_path, env)  # fmt: skip
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env)
                .strip())  # fmt: skip
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (site / "_no_warehouse_extra.py").write_text(BLOCKER)
    (site / "_no_warehouse_extra.pth").write_text("import _no_warehouse_extra\n")

    where = _run([str(python), "-c", "import santegarde; print(santegarde.__file__)"], tmp_path, env)
    assert where.startswith(str(site)), where  # the wheel's copy, not the checkout's
    santegarde = str(venv / "bin" / "santegarde")
    assert "upgrade" in _run([santegarde, "--help"], tmp_path, env)
    run_env = {**env, "SANTEGARDE_PASSPHRASE": PASS, "CI": "true"}
    demo = tmp_path / "pharmacy"
    out = _run([santegarde, "demo", "--profile", "pharmacy", "--patients", "3", "--dir", str(demo)], tmp_path, run_env)
    assert "Traceback" not in out
    verified = _run([santegarde, "audit", "verify", "--config", str(demo / "santegarde.yaml")], tmp_path, run_env)
    assert "La chaîne des traces est intacte" in verified
    refused = subprocess.run([santegarde, "warehouse", "--help"], cwd=tmp_path, env=run_env, capture_output=True,
                             text=True, timeout=120, check=False)  # fmt: skip
    assert refused.returncode != 0 and "pip install 'santegarde[warehouse]'" in refused.stderr, refused.stderr
