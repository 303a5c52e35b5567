"""The S-tier run end to end on the real embedded model: the CLI, a killed run resumed, retraining, bad input.

A small subset keeps this quick: one or two bundled simplexes, 160-prompt pools and 64-prompt holdouts. All runs
share one activation cache, so each unique prompt goes through the model once in this module.
"""
import json, re, shutil, subprocess, sys, textwrap
from pathlib import Path
import numpy as np
import pytest
from conftest import ROOT, VENV_BIN

SMALL = ["--max-samples", "160", "--holdout-size", "64"]

def default_dtype()->str:
    "The dtype a load with none asked for picks on this machine's CPU (bfloat16 where it has bf16 units)."
    from hatcat_stier.activations import resolve_device_dtype
    return str(resolve_device_dtype("cpu")[1]).removeprefix("torch.")
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
    return {str(p.relative_to(run_dir)): stable(json.loads(p.read_text()))
            for p in sorted(Path(run_dir).glob("*/*/results.json"))}

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
    assert (meta["model"], meta["pooling"], meta["pole"]) == ("default", "mean", "negative_pole")
    assert (meta["layer"], meta["reading"]) == ([6, 9, 12, 15, 18, 21], "concat")  # the default: layers joined
    assert (meta["model_id"], meta["dtype"], meta["device"]) == (summary["config"]["model_id"], default_dtype(), "cpu")
    assert default_dtype() in meta["model_id"]
    assert f"extraction in {default_dtype()} on cpu: the CPU " in res.stderr  # which precision, and why

def test_evaluate_scores_the_run_on_public_lexicons(reference_run, cache_dir):
    "`evaluate` on the real model: both mapped lenses on each lexicon set, words of the run's material dropped."
    run_dir, _ = reference_run
    res = cli("evaluate", run_dir, "--cache-dir", cache_dir)
    assert res.returncode == 0, res.stderr
    result = json.loads((run_dir / "transfer.json").read_text())
    assert set(result["sets"]) == {"afinn_valence", "textblob_polarity"}
    for s in result["sets"].values():
        assert s["n_dropped"] > 0 and min(s["n_words"].values()) > 20
        assert {l["pole"] for l in s["lenses"]} == {"positive_pole", "negative_pole"}
        for l in s["lenses"]: assert 0 <= l["auroc_ci"][0] <= l["auroc"] <= l["auroc_ci"][1] <= 1
    assert "Transfer to public lexicons" in res.stdout and "Transfer to public lexicons" in cli("show", run_dir).stdout
    unmapped = cli("evaluate", run_dir.parent / "nothing-here")
    assert unmapped.returncode == 1 and "no run folder" in unmapped.stderr

def test_show_prints_the_run(reference_run):
    run_dir, _ = reference_run
    res = cli("show", run_dir)
    assert res.returncode == 0 and res.stdout.count("| baseline |") >= 6

KILLER = textwrap.dedent("""
    import os, signal, sys
    from hatcat_stier.cli import select_simplexes
    from hatcat_stier.options import RunOptions
    from hatcat_stier.pipeline import train_s_tier_simplexes
    from hatcat_stier.trainer import TrainerCallback
    class KillAtThirdLens(TrainerCallback):
        seen = 0
        def on_train_begin(self, args, state, control):
            self.seen += 1
            if self.seen == 3: os.kill(os.getpid(), signal.SIGKILL)  # as abrupt as a crash or the OOM killer
    options = RunOptions("baseline", max_samples=160, holdout_size=64, cache_dir=sys.argv[2])
    train_s_tier_simplexes(select_simplexes("affect_valence,aspiration/social_mobility"), options, sys.argv[1],
                           callbacks=(KillAtThirdLens(),))
""")

def test_killed_run_resumes_to_the_same_results(reference_run, cache_dir, tmp_path):
    run_dir = tmp_path / "run"
    killed = subprocess.run([sys.executable, "-c", KILLER, str(run_dir), str(cache_dir)],
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert len(list(run_dir.glob("*/*/results.json"))) == 2  # two lenses finished before the kill
    res = cli("train", "--simplexes", "affect_valence,aspiration/social_mobility", "--strategy", "baseline",
              "--run-dir", run_dir, "--cache-dir", cache_dir, *SMALL)
    assert res.returncode == 0, res.stderr
    assert pole_results(run_dir) == pole_results(reference_run[0])
    assert not list(run_dir.rglob("*.tmp"))

def test_retrain_failed_touches_only_lenses_below_the_tier(reference_run, cache_dir, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(reference_run[0], run_dir)
    before = json.loads((run_dir / "results.json").read_text())["poles"]
    below = {(r["dimension"], r["pole"]) for r in before if r["tier"] != "A"}
    assert below, "every lens reached A: nothing to retrain, the test would check nothing"
    stamps = {(r["dimension"], r["pole"]):
              (run_dir / r["dimension"].replace("/", "__") / r["pole"] / "results.json").stat().st_mtime_ns
              for r in before}
    res = cli("retrain-failed", run_dir, "--min-tier", "A", "--cache-dir", cache_dir)
    assert res.returncode == 0, res.stderr
    after = {(r["dimension"], r["pole"]): r for r in json.loads((run_dir / "results.json").read_text())["poles"]}
    for key, stamp in stamps.items():
        path = run_dir / key[0].replace("/", "__") / key[1] / "results.json"
        assert (path.stat().st_mtime_ns != stamp) == (key in below), key  # each records the try
        results = json.loads(path.read_text())
        assert after[key]["strategy"] == results["strategy"] == "baseline"  # the run keeps its strategy
        replaced = "retrained_from" in results
        if key in below: assert replaced != ("retrain_rejected" in results), key
        assert results["made_by"] == after[key]["made_by"] == ("exponential" if replaced else "baseline")
    assert "retrained lenses replaced theirs" in res.stdout

def test_warm_run_loads_no_model_and_fits_nothing(reference_run, cache_dir, tmp_path):
    "Every prompt cached and every draw fitted before: the model is not loaded, no lens is fitted, nothing differs."
    from hatcat_stier.cli import select_simplexes
    from hatcat_stier.options import RunOptions
    from hatcat_stier.pipeline import train_s_tier_simplexes
    from hatcat_stier.source import ModelActivations
    options = RunOptions("baseline", max_samples=160, holdout_size=64, cache_dir=cache_dir)
    source = ModelActivations(options, progress=False)
    train_s_tier_simplexes(select_simplexes("affect_valence,aspiration/social_mobility"), options, tmp_path,
                           source=source, progress=False)
    assert (source.model, source.tokenizer, source.load_seconds, source.extracted) == (None, None, 0.0, 0)
    assert source.fits.misses == 0 and source.fits.hits > 0  # the reference run's fits, from the shared cache
    assert pole_results(tmp_path) == pole_results(reference_run[0])

def test_resume_in_another_dtype_is_refused(reference_run, cache_dir, tmp_path):
    from hatcat_stier.cli import select_simplexes
    from hatcat_stier.options import RunOptions
    from hatcat_stier.pipeline import train_s_tier_simplexes
    run_dir = tmp_path / "run"
    shutil.copytree(reference_run[0], run_dir)
    shutil.rmtree(run_dir / "affect_valence" / "positive_pole")
    other = "float32" if default_dtype() == "bfloat16" else "bfloat16"
    options = RunOptions("baseline", max_samples=160, holdout_size=64, cache_dir=cache_dir, dtype=other)
    with pytest.raises(ValueError, match=f"dtype: run has '{default_dtype()}', asked for '{other}'"):
        train_s_tier_simplexes(select_simplexes("affect_valence,aspiration/social_mobility"), options, run_dir,
                               progress=False)
    assert not (run_dir / "affect_valence" / "positive_pole").exists()  # refused before any training

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
    pole = tmp_path / "run" / design["simplex_dimension"] / "positive_pole"
    assert (pole / "lens.safetensors").exists()
    stamp = (pole / "results.json").stat().st_mtime_ns
    again = train_simplex_pole_exponential(design, "positive_pole", model, tokenizer, "cpu", tmp_path / "run",
                                           cache_dir=cache_dir)
    assert again == json.loads((pole / "results.json").read_text()) \
        and (pole / "results.json").stat().st_mtime_ns == stamp

# Kill points: a run killed by SIGKILL (no cleanup runs) when os.replace is about to put the nth file whose path matches
# a pattern in place, i.e. with that file's temporary copy written. `KILL_POINTS` names each one the tests resume from.
KILL_AT = textwrap.dedent("""
    import os, re, signal, sys
    from functools import partialmethod
    from hatcat_stier.activations import ActivationCache
    from hatcat_stier.cli import main
    pattern, nth, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ActivationCache.fill = partialmethod(ActivationCache.fill, chunk=chunk)  # several chunk writes per run
    real, seen = os.replace, []
    def replace(src, dst):
        if re.search(pattern, str(dst)):
            seen.append(dst)
            if len(seen) == nth: os.kill(os.getpid(), signal.SIGKILL)
        real(src, dst)
    os.replace = replace
    sys.exit(main(sys.argv[4:]))
""")
KILL_POINTS = ("before the third lens (test above)", "during extraction chunk writes", "during the summary write",
               "during retrain-failed, while a retrained lens is trained",
               "during retrain-failed, while a lens is moved in")

def kill_at(pattern, nth, *args, chunk=1024):
    return subprocess.run([sys.executable, "-c", KILL_AT, pattern, str(nth), str(chunk), *map(str, args)],
                          capture_output=True, text=True, timeout=900)

def test_killed_during_extraction_chunk_writes_keeps_the_chunks_written(tmp_path):
    from hatcat_stier.activations import ShardStore
    train = lambda run, cache: ["train", "--simplexes", "affect_valence", "--strategy", "baseline", "--run-dir", run,
                                "--cache-dir", cache, "--layer", "12", *SMALL]  # one layer: one store of shards
    reference = kill_at("^$", 0, *train(tmp_path / "reference", tmp_path / "reference_cache"), chunk=64)
    assert reference.returncode == 0, reference.stderr
    cache = tmp_path / "cache"
    shards = re.escape(str(cache)) + r"/[^/]+/layer\d+-\w+/[^/]+\.safetensors$"  # not models.json, not fits
    killed = kill_at(shards, 3, *train(tmp_path / "run", cache), chunk=64)
    assert killed.returncode == -9, killed.stderr
    (store,) = {p.parent for p in cache.rglob("*.safetensors")}
    assert len(ShardStore(store)) == 2 * 64  # the two chunks written before the kill are kept, whole
    resumed = kill_at("^$", 0, *train(tmp_path / "run", cache), chunk=64)
    assert resumed.returncode == 0, resumed.stderr
    assert pole_results(tmp_path / "run") == pole_results(tmp_path / "reference")
    assert not list((tmp_path / "run").rglob("*.tmp"))  # the cache may keep the killed shard's temporary file

def test_killed_during_the_summary_write_resumes(reference_run, cache_dir, tmp_path):
    run_dir = tmp_path / "run"
    args = ["train", "--simplexes", "affect_valence,aspiration/social_mobility", "--strategy", "baseline",
            "--run-dir", run_dir, "--cache-dir", cache_dir, *SMALL]
    killed = kill_at(re.escape(str(run_dir / "results.json")) + "$", 1, *args)
    assert killed.returncode == -9, killed.stderr
    assert len(list(run_dir.glob("*/*/results.json"))) == 6 and not (run_dir / "results.json").exists()
    assert cli(*args).returncode == 0
    summary = lambda run: stable(json.loads((run / "results.json").read_text()))
    assert summary(run_dir) == summary(reference_run[0]) and pole_results(run_dir) == pole_results(reference_run[0])
    assert not list(run_dir.rglob("*.tmp"))

@pytest.mark.parametrize("where, pattern", [
    ("while a retrained lens is trained", r"/\.retrain/.*/results\.json$"),
    ("while a lens is moved in", r"/run/[^./][^/]*/[^/]+/lens\.json$"),
])
def test_killed_during_retrain_failed_resumes(reference_run, cache_dir, tmp_path, where, pattern):
    runs = {}
    for name in ("whole", "run"):
        shutil.copytree(reference_run[0], tmp_path / name)
        runs[name] = tmp_path / name
        # a record of tier F with test F1 -1 is beaten by any retrained lens, so a lens is moved in
        low = runs[name] / "affect_valence" / "neutral_homeostasis" / "results.json"
        results = json.loads(low.read_text())
        low.write_text(json.dumps({**results, "activation": {**results["activation"], "tier": "F", "test_f1": -1.0}}))
    assert cli("retrain-failed", runs["whole"], "--min-tier", "A", "--cache-dir", cache_dir).returncode == 0
    killed = kill_at(pattern, 1, "retrain-failed", runs["run"], "--min-tier", "A", "--cache-dir", cache_dir)
    assert killed.returncode == -9, (where, killed.stderr)
    res = cli("retrain-failed", runs["run"], "--min-tier", "A", "--cache-dir", cache_dir)
    assert res.returncode == 0, res.stderr
    assert pole_results(runs["run"]) == pole_results(runs["whole"])
    lens = lambda run: {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.glob("*/*/lens.safetensors"))}
    assert lens(runs["run"]) == lens(runs["whole"])
    assert not (runs["run"] / ".retrain").exists() and not list(runs["run"].rglob("*.tmp"))

def test_cli_compare_strict_over_seeds(tmp_path, cache_dir):
    "`compare --validation-mode strict --seeds 0,1`: the mode reaches every run and trainer; paired tables printed."
    run_dir = tmp_path / "cmp"
    res = cli("compare", "--simplexes", "affect_valence", "--validation-mode", "strict", "--seeds", "0,1",
              "--run-dir", run_dir, "--cache-dir", cache_dir, *SMALL)
    assert res.returncode == 0, res.stderr
    for seed in (0, 1):
        for strategy in ("baseline", "exponential", "hybrid"):
            run = run_dir / f"seed-{seed}" / strategy
            config = json.loads((run / "config.json").read_text())
            assert (config["validation_mode"], config["seed"]) == ("strict", seed)
            for path in run.glob("*/*/results.json"):
                r = json.loads(path.read_text())
                tiers = {h["tier"] for a in r.get("attempts", [r["activation"]]) for h in a["history"]}
                assert tiers == {"A"}, (path, tiers)
    assert "| holdout F1 | " in res.stdout and "exponential vs baseline" in res.stdout
    assert "### The design's hypothesis, as measured" in res.stdout
    assert len(json.loads((run_dir / "comparison.json").read_text())["rows"]) == 3 * 3 * 2

def test_cli_device_dtype_batch_size_and_chat_template_reach_the_run(tmp_path, cache_dir):
    "--device, --dtype, --batch-size and --chat-template go into the run's config; another template setting is refused."
    run_dir = tmp_path / "run"
    args = ["train", "--simplexes", "affect_valence", "--strategy", "exponential", "--run-dir", run_dir,
            "--cache-dir", cache_dir, "--device", "cpu", "--dtype", "float32", "--batch-size", "8", *SMALL]
    res = cli(*args, "--chat-template")
    assert res.returncode == 0, res.stderr
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["device"], config["dtype"], config["batch_size"], config["chat_template"]) \
        == ("cpu", "float32", 8, True)
    refused = cli(*args)
    assert refused.returncode == 1 and "chat_template: run has True, asked for False" in refused.stderr, refused.stderr

def test_batch_size_dtype_and_chat_template_reach_extraction_and_the_cache(tmp_path):
    "Batches of the asked size; bfloat16 and chat-wrapped prompts get their own stores, separate from float32 raw text."
    import torch
    from hatcat_stier.options import RunOptions
    from hatcat_stier.source import ModelActivations
    prompts = ["I feel calm.", "The invoice is late.", "We won the match!", "Rain again.", "She smiled."]
    options = RunOptions(layer=12, cache_dir=tmp_path, batch_size=2, dtype="float32")
    plain = ModelActivations(options, progress=False)
    plain._load()
    calls = []
    hook = plain.model.get_input_embeddings().register_forward_hook(lambda m, a, out: calls.append(len(out)))
    raw = plain(prompts)
    wrapped = ModelActivations(RunOptions(layer=12, cache_dir=tmp_path, chat_template=True), plain.model,
                               plain.tokenizer, progress=False)(prompts)
    fresh = plain(prompts, cached=False)  # to time extraction: the model runs again, counted nowhere
    hook.remove()
    # raw in batches of 2; the wrapped prompts are new to the cache; the fresh pass runs the raw ones again
    assert calls == [2, 2, 1] + [5] + [2, 2, 1], calls
    assert np.allclose(fresh, raw, atol=1e-5) and plain.extracted == len(prompts)
    assert not np.allclose(raw, wrapped)
    half = ModelActivations(RunOptions(layer=12, cache_dir=tmp_path, dtype="bfloat16"), progress=False)
    half(prompts)
    assert half.identity()["dtype"] == "bfloat16" and half.model.dtype == torch.bfloat16
    assert half.extracted == len(prompts)  # bfloat16 weights: their own model_id, their own store
    stores = {p.parent.parent.name for p in Path(tmp_path).rglob("*.safetensors")}
    assert len(stores) == 2 and any("bfloat16" in s for s in stores), stores

def test_gemma_3_270m_trains_from_the_command_line(tmp_path, cache_dir):
    "`train --model gemma-3-270m`: the second embedded model, assembled from its chunk packages, trains a simplex."
    run_dir = tmp_path / "gemma"
    res = cli("train", "--model", "gemma-3-270m", "--simplexes", "affect_valence", "--layer", "9", "--run-dir", run_dir,
              "--cache-dir", cache_dir, *SMALL)
    assert res.returncode == 0, res.stderr
    summary = json.loads((run_dir / "results.json").read_text())
    assert summary["config"]["model"] == "gemma-3-270m" and summary["config"]["model_id"].startswith("gemma-3-270m")
    assert len(summary["poles"]) == 3 and all(0 <= r["holdout_f1"] <= 1 for r in summary["poles"])

def test_draft_material_writes_reviewable_material(tmp_path):
    "`draft-material` on HatCat-shaped definitions: valid, deduplicated material that --simplexes then reads."
    out = tmp_path / "material.json"
    res = cli("draft-material", ROOT / "nbs" / "fixtures" / "hatcat_simplexes.json", "--out", out, "--lexicon", "6",
              "--situations", "3", "--max-rounds", "2", "--max-new-tokens", "160")
    assert res.returncode == 0, res.stderr
    assert "review and edit it" in res.stdout
    from hatcat_stier.simplexes import load_simplexes, named_entries
    drafted = load_simplexes(out)  # valid: loads and passes every cross-pole check
    poles = [p for s in drafted for p in s.poles.values()]
    entries = [e.casefold() for p in poles for e in p.lexicon + p.situations]
    assert len(entries) == len(set(entries)) and sum(len(p.lexicon) for p in poles) > 0
    lexicon = [e for p in poles for e in p.lexicon]
    assert not [s for p in poles for s in p.situations if named_entries(s, lexicon)]
