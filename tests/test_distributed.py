"""The Ray executor against the local one on the real embedded model: the same lenses, results and tables, bit for
bit; workers killed mid-extraction and mid-training change nothing; an unreachable cluster fails before any work.

One local Ray instance of two CPUs serves the module (`ray.init(num_cpus=2)`), as a CI machine has.
"""
import json, os, signal, subprocess, sys, threading, time
from pathlib import Path
import pytest
from conftest import ROOT, VENV_BIN

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

VOLATILE = {"wall_seconds", "seconds", "train_seconds", "pricing", "extraction", "time per lens (s)",  # timings
            "cache_dir"}  # where rows are kept, never what they are

def valence()->list:
    from hatcat_stier.simplexes import get_simplex, load_simplexes
    return [get_simplex(load_simplexes(), "affect_valence")]

def stable(obj):
    "`obj` without timings, for comparing two runs."
    if isinstance(obj, dict): return {k: stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list): return [stable(v) for v in obj]
    return obj

def run_files(run_dir)->dict:
    "Every results file of a run or comparison (timings dropped) and every lens's bytes, by path."
    run_dir = Path(run_dir)
    out = {str(p.relative_to(run_dir)): stable(json.loads(p.read_text())) for p in sorted(run_dir.rglob("*.json"))
           if p.name not in ("config.json",)}
    out.update({str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("lens.safetensors"))})
    return out

def configs(run_dir)->dict:
    return {str(p.relative_to(run_dir)): stable(json.loads(p.read_text()))
            for p in sorted(Path(run_dir).rglob("config.json"))}

def small(cache, strategy="exponential"):
    from hatcat_stier.options import RunOptions
    return RunOptions(strategy, max_samples=80, holdout_size=32, cache_dir=cache)

@pytest.fixture(scope="module")
def executor():
    from hatcat_stier.executors import executor_for
    ray.init(num_cpus=2, include_dashboard=False)
    yield executor_for("ray")
    ray.shutdown()

@pytest.fixture(scope="module")
def local_comparison(tmp_path_factory):
    "One simplex, every strategy, on the local executor, with its own cache."
    from hatcat_stier.compare import compare_strategies
    root = tmp_path_factory.mktemp("local")
    compare_strategies(valence(), options=small(root / "cache"), run_dir=root / "run", score_transfer=False,
                       progress=False)
    return root / "run"

@pytest.fixture(scope="module")
def ray_comparison(executor, tmp_path_factory):
    "The same comparison on Ray, from an empty cache of its own; (folder, iterations its callback saw)."
    from hatcat_stier.compare import compare_strategies
    from hatcat_stier.trainer import TrainerCallback
    class Iterations(TrainerCallback):
        seen = 0
        def on_iteration_end(self, args, state, control): Iterations.seen += 1
    root = tmp_path_factory.mktemp("ray")
    compare_strategies(valence(), options=small(root / "cache"), run_dir=root / "run", score_transfer=False,
                       executor=executor, callbacks=(Iterations(),), progress=False)
    return root, Iterations.seen

def test_ray_comparison_equals_local(local_comparison, ray_comparison):
    "Lenses, results files, configurations and tables identical, bit for bit; callbacks saw every iteration."
    run, seen = ray_comparison[0] / "run", ray_comparison[1]
    histories = [json.loads(p.read_text()) for p in run.glob("seed-0/*/*/*/results.json")]
    assert seen == sum(len(a["history"]) for r in histories for a in r.get("attempts", [r["activation"]])) > 9
    ours, theirs = run_files(run), run_files(local_comparison)
    assert ours.keys() == theirs.keys() and sum(k.endswith("lens.safetensors") for k in ours) == 9
    assert [k for k in ours if ours[k] != theirs[k]] == []
    assert configs(run) == configs(local_comparison)
    table = lambda d: [l for l in (d / "comparison.md").read_text().splitlines() if "time" not in l and " ms " not in l]
    assert table(run) == table(local_comparison)

def test_a_ray_cache_serves_a_local_run(local_comparison, ray_comparison, tmp_path):
    "Shards written on Ray are the local path's: a local run on the Ray run's cache extracts nothing."
    from hatcat_stier.pipeline import train_s_tier_simplexes
    from hatcat_stier.source import ModelActivations
    options = small(ray_comparison[0] / "cache", "baseline")
    source = ModelActivations(options, progress=False)
    train_s_tier_simplexes(valence(), options, tmp_path / "run", source=source, progress=False)
    assert source.extracted == 0 and source.load_seconds == 0.0  # the model was never loaded
    assert run_files(tmp_path / "run") == run_files(local_comparison / "seed-0" / "baseline")

def ray_workers()->set:
    "Pids of this toolkit's Ray actor processes."
    return {p.pid for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [""])[0].startswith("ray::Worker")}

def kill_new_workers_when(ready, old:set, kills:list, timeout:float=600):
    "Once `ready()` holds, SIGKILL every worker process not in `old`; record how many."
    end = time.time() + timeout
    while time.time() < end and not ready(): time.sleep(0.05)
    victims = ray_workers() - old
    for pid in victims: os.kill(pid, signal.SIGKILL)
    kills.append(len(victims))

def test_killed_workers_lose_nothing(local_comparison, ray_comparison, executor, tmp_path):
    "Workers killed while extracting and while training are restarted, their tasks retried: the same lenses."
    from hatcat_stier.pipeline import train_s_tier_simplexes
    run_dir, cache, kills, old = tmp_path / "run", tmp_path / "cache", [], ray_workers()
    extracting = lambda: (cache / "models.json").exists() and not list(cache.rglob("*.safetensors"))
    def chaos():
        kill_new_workers_when(lambda: extracting() and time.sleep(1.0) is None and extracting(), old, kills)
        kill_new_workers_when(lambda: list(run_dir.glob("*/*/results.json")), old, kills)  # others still training
    watcher = threading.Thread(target=chaos, daemon=True)
    watcher.start()
    train_s_tier_simplexes(valence(), small(cache, "baseline"), run_dir, executor=executor, progress=False)
    watcher.join(60)
    assert len(kills) == 2 and all(kills), kills
    assert run_files(run_dir) == run_files(local_comparison / "seed-0" / "baseline")

def test_unreachable_cluster_fails_before_any_work(tmp_path):
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    res = subprocess.run([str(VENV_BIN / "hatcat-stier"), "train", "--executor", "ray", "--address",
                          f"127.0.0.1:{port}", "--run-dir", tmp_path / "run", "--cache-dir", tmp_path / "cache"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 1 and f"no Ray cluster answers at 127.0.0.1:{port}" in res.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()

def test_local_path_never_imports_ray(tmp_path):
    "The default executor trains a run without Ray in the process."
    code = ("import sys; from hatcat_stier import cli, compare, evaluate, use;"
            "from hatcat_stier.options import RunOptions;"
            "from hatcat_stier.pipeline import train_s_tier_simplexes as t;"
            "from hatcat_stier.simplexes import get_simplex, load_simplexes;"
            "from hatcat_stier.testing import HashedWords;"
            "o = RunOptions(layer=0, max_samples=80, holdout_size=32);"
            f"t([get_simplex(load_simplexes(), 'affect_valence')], o, {str(tmp_path / 'run')!r},"
            "source=HashedWords(), progress=False);"
            "assert 'ray' not in sys.modules, 'ray imported'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
