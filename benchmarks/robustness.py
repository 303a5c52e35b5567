"""The README's robustness figures, counted from the tests: bad inputs tried (by kind) and kill points resumed.

    python benchmarks/robustness.py     # or: make robustness; writes benchmarks/robustness.md

A bad input is one call a test expects to fail with a message (`test_fail`, `test_warns`, `pytest.raises`, one
parametrized case, or one entry of a list of bad settings); its kind is the notebook or test file it is tried in.
Kill points are the entries of `KILL_POINTS` in tests/test_pipeline_e2e.py: each test kills a run there with SIGKILL
and checks that resuming gives what an uninterrupted run gives.
"""
import ast, json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = {"00_schedule": "schedule and tier arguments", "00a_storage": "files (JSON, atomic writes)",
         "01_simplexes": "simplex definitions", "02_data_pool": "data pool arguments", "03_reading": "readings",
         "04_activations": "models, prompts, cache shards", "05_lenses": "lens inputs and metrics",
         "06_trainer": "trainer settings and data", "07_live": "results shown live", "08_options": "run options",
         "09_runs": "run folders and configurations", "10_executors": "executors", "10a_distributed": "Ray addresses",
         "11_source": "activation sources", "12_pipeline": "runs and resumes",
         "13_compare": "comparisons (seeds, modes, pairs)", "14_use": "lenses in use",
         "15_evaluate": "transfer sets and mappings", "16_draft": "drafting material", "17_doctor": "model checks",
         "18_cli": "command-line arguments", "test_pipeline_e2e": "command line, real model",
         "test_architectures": "architectures", "test_trust": "results files"}
# one expected failure each; `(dict(` is an entry of a list of bad settings tried in a loop
PATTERN = re.compile(r"test_fail\(|test_warns\(|pytest\.raises\(|^\s*\(dict\(", re.M)

def notebook_code(path:Path)->str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")

def parametrized_failures(path:Path)->int:
    "Cases of parametrized tests whose name says they fail or refuse."
    tree = ast.parse(path.read_text())
    return sum(len(d.args[1].elts)
               for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and re.search("bad|refuse", f.name)
               for d in f.decorator_list if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "parametrize")

def bad_inputs()->dict:
    counts = {}
    for nb in sorted((ROOT / "nbs").glob("[0-9]*.ipynb")):
        counts[KINDS.get(nb.stem, nb.stem)] = len(PATTERN.findall(notebook_code(nb)))
    for test in sorted((ROOT / "tests").glob("test_*.py")):
        n = len(PATTERN.findall(test.read_text())) + parametrized_failures(test)
        if n: counts[KINDS.get(test.stem, test.stem)] = counts.get(KINDS.get(test.stem, test.stem), 0) + n
    return {k: v for k, v in counts.items() if v}

def kill_points()->tuple:
    tree = ast.parse((ROOT / "tests" / "test_pipeline_e2e.py").read_text())
    (node,) = [n.value for n in tree.body
               if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "KILL_POINTS"]
    return ast.literal_eval(node)

def report()->str:
    counts, kills = bad_inputs(), kill_points()
    lines = ["## Robustness", "",
             "Counted from the tests by `make robustness` (benchmarks/robustness.py); every bad input must fail with a "
             "message that names the problem, before any work is done, and every kill point must resume to the "
             "results of an uninterrupted run, with nothing lost.", "",
             "| what the tests try | count |", "|---|---|"]
    lines += [f"| bad input: {kind} | {n} |" for kind, n in counts.items()]
    lines += [f"| **bad inputs, all kinds** | **{sum(counts.values())}** |",
              f"| kill points resumed (SIGKILL, real model) | {len(kills)} |"]
    lines += ["", "Kill points: " + "; ".join(kills) + ". In the notebooks, a pole deleted or with its lens missing or "
              "cut short is trained again on resume, and a resume with another dtype is refused."]

    return "\n".join(lines) + "\n"

if __name__ == "__main__":
    text = report()
    (ROOT / "benchmarks" / "robustness.md").write_text(text)
    print(text)
