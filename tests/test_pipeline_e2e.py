"""The S-tier run end to end on the real embedded model: the CLI, a killed run resumed, retraining, bad input.

A small subset keeps this quick: one or two bundled simplexes, 160-prompt pools and 64-prompt holdouts. All runs
share one activation cache, so each unique prompt goes through the model once in this module.
"""
import json, subprocess, sys, textwrap
from pathlib import Path
import pytest
from conftest import ROOT, VENV_BIN

SMALL = ["--max-samples", "160", "--holdout-size", "64"]
VOLATILE = {"wall_seconds", "seconds", "train_seconds"}  # timings differ between runs; nothing else may

@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory): return tmp_path_factory.mktemp("activation_cache")

def cli(*args, cwd=None):
    return subprocess.run([str(VENV_BIN / "hatcat-stier"), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=900)

def stable(obj):
    "`obj` without timings, for comparing two runs."
    if isinstance(obj, dict): return {k: stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list): return [stable(v) for v in obj]
    return obj

def pole_results(run_dir):
    return {str(p.relative_to(run_dir)): stable(json.loads(p.read_text())) for p in sorted(Path(run_dir).glob("*/*/results.json"))}

@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, cache_dir):
    "An uninterrupted baseline run of two simplexes, through the CLI."
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    res = cli("train", "--simplexes", "affect_valence,aspiration/social_mobility", "--strategy", "baseline",
              "--run-dir", run_dir, "--cache-dir", cache_dir, *SMALL)
    assert res.returncode == 0, res.stderr
    return run_dir, res

def test_cli_train_end_to_end(reference_run):
    run_dir, res = reference_run
    summary = json.loads((run_dir / "results.json").read_text())
    assert len(summary["poles"]) == 6 and summary["config"]["model"] == "default"
    assert (run_dir / "aspiration__social_mobility" / "positive_pole" / "lens.safetensors").exists()
    for row in summary["poles"]:
        assert 0.0 <= row["holdout_f1"] <= 1.0 and row["grade"] in ("A", "B+", "B", "C+", "C", "F")
        assert row["holdout_f1_ci"][0] <= row["holdout_f1"] <= row["holdout_f1_ci"][1]
    # the real model separates these poles far better than chance on words it never saw
    assert sum(r["holdout_f1"] for r in summary["poles"]) / 6 > 0.6
    assert "| affect_valence | negative_pole | baseline |" in res.stdout
    meta = json.loads((run_dir / "affect_valence" / "negative_pole" / "lens.json").read_text())
    assert (meta["model"], meta["layer"], meta["pooling"], meta["pole"]) == ("default", 12, "mean", "negative_pole")

def test_show_prints_the_run(reference_run):
    run_dir, _ = reference_run
    res = cli("show", run_dir)
    assert res.returncode == 0 and res.stdout.count("| baseline |") >= 6

KILLER = textwrap.dedent("""
    import os, signal, sys
    from hatcat_stier.pipeline import train_s_tier_simplexes
    from hatcat_stier.cli import select_simplexes
    from hatcat_stier.trainer import TrainerCallback
    class KillAtThirdLens(TrainerCallback):
        seen = 0
        def on_train_begin(self, args, state, control):
            self.seen += 1
            if self.seen == 3: os.kill(os.getpid(), signal.SIGKILL)  # as abrupt as a crash or the OOM killer
    train_s_tier_simplexes(select_simplexes("affect_valence,aspiration/social_mobility"), "baseline", run_dir=sys.argv[1],
                           cache_dir=sys.argv[2], max_samples=160, holdout_size=64, callbacks=(KillAtThirdLens(),))
""")

def test_killed_run_resumes_to_the_same_results(reference_run, cache_dir, tmp_path):
    run_dir = tmp_path / "run"
    killed = subprocess.run([sys.executable, "-c", KILLER, str(run_dir), str(cache_dir)], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert len(list(run_dir.glob("*/*/results.json"))) == 2  # two lenses finished before the kill
    res = cli("train", "--simplexes", "affect_valence,aspiration/social_mobility", "--strategy", "baseline",
              "--run-dir", run_dir, "--cache-dir", cache_dir, *SMALL)
    assert res.returncode == 0, res.stderr
    assert pole_results(run_dir) == pole_results(reference_run[0])
    assert not list(run_dir.rglob("*.tmp"))

def test_retrain_failed_touches_only_lenses_below_the_tier(reference_run, cache_dir, tmp_path):
    import shutil
    run_dir = tmp_path / "run"
    shutil.copytree(reference_run[0], run_dir)
    before = json.loads((run_dir / "results.json").read_text())["poles"]
    below = {(r["dimension"], r["pole"]) for r in before if r["tier"] != "A"}
    assert below, "every lens reached A: nothing to retrain, the test would check nothing"
    stamps = {(r["dimension"], r["pole"]): (run_dir / r["dimension"].replace("/", "__") / r["pole"] / "results.json").stat().st_mtime_ns
              for r in before}
    res = cli("retrain-failed", run_dir, "--min-tier", "A", "--cache-dir", cache_dir)
    assert res.returncode == 0, res.stderr
    after = {(r["dimension"], r["pole"]): r for r in json.loads((run_dir / "results.json").read_text())["poles"]}
    for key, stamp in stamps.items():
        path = run_dir / key[0].replace("/", "__") / key[1] / "results.json"
        assert (path.stat().st_mtime_ns != stamp) == (key in below), key
        assert after[key]["strategy"] == ("exponential" if key in below else "baseline")
        if key in below: assert json.loads(path.read_text())["retrained_from"]["strategy"] == "baseline"

@pytest.mark.parametrize("args, code, message", [
    (["train", "--strategy", "linear"], 2, "invalid choice: 'linear'"),
    (["train", "--simplexes", "no_such_dimension"], 1, "no simplex 'no_such_dimension'"),
    (["train", "--simplexes", "BAD", "--run-dir", "RUN"], 1, "bad.json: "),
    (["show", "RUN"], 1, "not a run directory"),
    (["retrain-failed", "RUN", "--min-tier", "S"], 1, "not a run directory"),
    (["compare", "--strategies", "baseline,quadratic", "--run-dir", "RUN"], 1, "unknown strategy 'quadratic'"),
])
def test_bad_arguments_and_files_exit_non_zero(tmp_path, args, code, message):
    bad = tmp_path / "bad.json"
    bad.write_text('{"simplexes": {"x": {"dimension": "x",\n "negative_pole": }}}')
    args = [str(bad) if a == "BAD" else str(tmp_path / "run") if a == "RUN" else a for a in args]
    res = cli(*args)
    assert res.returncode == code and message in res.stderr, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr

def test_layer_out_of_range_names_the_valid_range(tmp_path, cache_dir):
    res = cli("train", "--simplexes", "affect_valence", "--layer", "99", "--run-dir", tmp_path / "run",
              "--cache-dir", cache_dir, *SMALL)
    assert res.returncode == 1 and "99" in res.stderr and "30" in res.stderr, res.stderr
    assert not (tmp_path / "run" / "config.json").exists()  # a corrected rerun is not refused

def test_design_function_on_a_design_shaped_simplex(tmp_path, cache_dir):
    from hatcat_stier.activations import load_model
    from hatcat_stier.pipeline import train_simplex_pole_exponential
    from hatcat_stier.simplexes import load_simplexes
    s = load_simplexes()[0].to_dict()
    design = {"simplex_dimension": s.pop("dimension"), "description": s.pop("description"), "three_pole_simplex": s}
    model, tokenizer = load_model()
    results = train_simplex_pole_exponential(design, "positive_pole", model, tokenizer, "cpu", tmp_path / "run",
                                             cache_dir=cache_dir)
    assert results["strategy"] == "exponential" and results["activation"]["history"][0]["samples"] == 10
    assert (tmp_path / "run" / design["simplex_dimension"] / "positive_pole" / "lens.safetensors").exists()
