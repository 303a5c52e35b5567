"""The guards `make test` relies on: unexported notebook edits and dirty notebooks must be caught."""
import json, subprocess, sys
from conftest import VENV_BIN

def run(cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)

def edit_first_export_cell(nb_path, old, new):
    nb = json.loads(nb_path.read_text())
    cell = next(c for c in nb["cells"] if old in "".join(c["source"]))
    cell["source"] = [s.replace(old, new) for s in cell["source"]]
    nb_path.write_text(json.dumps(nb, indent=1))

def committed_copy(repo_copy):
    "`repo_copy` as a git repository with everything committed, as a fresh clone is."
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
        assert run(cmd, repo_copy).returncode == 0
    return repo_copy

def check_export(repo):
    "`make check-export` in `repo`, with this checkout's virtual environment standing in for its set-up."
    return run(["make", "-o", ".venv/.installed", "check-export", f"BIN={VENV_BIN}"], repo)

def test_check_export_passes_on_the_committed_package(repo_copy):
    res = check_export(committed_copy(repo_copy))
    assert res.returncode == 0, res.stdout + res.stderr

def test_unexported_notebook_edit_fails_make_test(repo_copy):
    repo = committed_copy(repo_copy)
    edit_first_export_cell(repo / "nbs/00_schedule.ipynb",
                           "return min(base << (iteration - 1).bit_length(), max_samples)",
                           "return min(base << iteration.bit_length(), max_samples)")
    res = check_export(repo)
    assert res.returncode != 0
    assert "differed from what nbs/ exports" in res.stdout + res.stderr

def test_notebook_check_rejects_outputs_and_widget_state(repo_copy):
    check = [sys.executable, ".ci/check_notebooks.py", "nbs"]
    assert run(check, repo_copy).returncode == 0
    nb_path = repo_copy / "nbs/00_schedule.ipynb"
    nb = json.loads(nb_path.read_text())
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["x"]}]
    nb_path.write_text(json.dumps(nb))
    res = run(check, repo_copy)
    assert res.returncode != 0
    assert "saved widget state" in res.stdout and "has outputs" in res.stdout
