"""The guards `make test` relies on: unexported notebook edits and dirty notebooks must be caught."""
import json, subprocess, sys
from pathlib import Path
from conftest import VENV_BIN

def run(cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)

def edit_first_export_cell(nb_path, old, new):
    nb = json.loads(nb_path.read_text())
    cell = next(c for c in nb["cells"] if old in "".join(c["source"]))
    cell["source"] = [s.replace(old, new) for s in cell["source"]]
    nb_path.write_text(json.dumps(nb, indent=1))

def test_export_matches_committed_package(repo_copy):
    before = (repo_copy / "hatcat_stier/schedule.py").read_text()
    assert run([str(VENV_BIN / "nbdev_export")], repo_copy).returncode == 0
    assert (repo_copy / "hatcat_stier/schedule.py").read_text() == before

def test_unexported_notebook_edit_changes_the_export(repo_copy):
    nb = repo_copy / "nbs/00_schedule.ipynb"
    edit_first_export_cell(nb, "return min(base << (iteration - 1).bit_length(), max_samples)",
                           "return min(base << iteration.bit_length(), max_samples)")
    before = (repo_copy / "hatcat_stier/schedule.py").read_text()
    assert run([str(VENV_BIN / "nbdev_export")], repo_copy).returncode == 0
    assert (repo_copy / "hatcat_stier/schedule.py").read_text() != before

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
