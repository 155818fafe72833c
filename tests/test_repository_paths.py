"""No absolute path of a machine in the repository (issue 17): a clone works wherever it is checked out."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

# Directories that only exist on some machine: a developer's home, a workplace, an install prefix.
MACHINE_PATH = re.compile(r"(?:^|[^\w.~-])/(?:work|home|root|Users|opt)/")


def test_no_file_names_a_path_of_this_machine(repo_root: Path) -> None:
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=repo_root, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    found = []
    for name in filter(None, tracked):
        path = repo_root / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary files (images, fixtures) hold no paths to read
        found += [f"{name}:{n}" for n, line in enumerate(text.splitlines(), 1) if MACHINE_PATH.search(line)]
    assert not found, f"absolute machine paths (use paths relative to the repository): {found}"
    assert MACHINE_PATH.search("data = '/" + "work/shared/data/adult.csv'")  # the pattern does catch one
