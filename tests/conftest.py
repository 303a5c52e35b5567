"""Shared fixtures for the end-to-end tests in tests/ (notebook unit tests run under nbdev_test)."""
import shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

def copy_checkout(dest:Path)->Path:
    "Copy the tracked and untracked-but-not-ignored files of this checkout to `dest`, as a fresh clone would have."
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.splitlines()
    for f in files:
        if (ROOT / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
    return dest

@pytest.fixture
def repo_copy(tmp_path):
    "A copy of this checkout, as a fresh clone would have."
    return copy_checkout(tmp_path)
