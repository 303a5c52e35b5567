"""Mutation check: apply each deliberate wrong edit to a scratch copy, run the fast tests, report which edits survived.

    python benchmarks/mutations.py [name ...]     # or: make mutations (all; named ones: mutations_selected.md)

A mutation is (name, file under hatcat_stier/, exact old snippet, replacement, notebooks or test files to run).
The snippet is replaced in the module and in the notebook it is exported from (notebook tests run the notebook's own
cells), and a snippet that is not found exactly once fails the script: the list must follow the code. Each mutation
is tested with `nbdev_test` (no slow flag) on its notebooks, pytest on its test files, and `pytest
tests/test_trust.py`; two at a time. Writes benchmarks/mutations.md. An unmutated copy is tested first: a failure
there would make every mutation "caught".
"""
import json, os, re, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import copy_checkout  # the fresh-clone copy the tests use
BIN = Path(sys.executable).parent
FAST_PYTEST = ["tests/test_trust.py"]

MUTATIONS = [  # the behaviours the notebooks and issues name
    ("graduation ignores the calibration gate", "trainer.py",
     "passed = f1 >= min_f1 and calibration >= min_calibration", "passed = f1 >= min_f1", ["06_trainer"]),
    ("exponential schedule off by one (the reference's bug)", "schedule.py",
     "return min(base << (iteration - 1).bit_length(), max_samples)",
     "return min(base << iteration.bit_length(), max_samples)", ["00_schedule"]),
    ("n_bootstrap not checked in the constructor", "trainer.py",
     '"activation_subsequent_increment", "n_bootstrap"):', '"activation_subsequent_increment"):', ["06_trainer"]),
    ("results files may hold NaN", "storage.py",
     "json.dumps(_finite(obj), indent=1, allow_nan=False, sort_keys=sort_keys)", "json.dumps(obj, indent=1)",
     ["00a_storage", "05_lenses"]),
    ("lens fits use every BLAS thread", "lenses.py", '@_BLAS.wrap(limits=1, user_api="blas")\n', "", ["05_lenses"]),
    ("resume accepts other weights or dtype", "pipeline.py",
     'check_config(run_dir, {**identity, "layers": layers})', "None", ["12_pipeline"]),
    ("a pole without a readable lens counts as finished", "runs.py",
     'try: Lens.load(folder / "lens.safetensors")', "try: pass", ["12_pipeline"]),
    ("retrain-failed keeps a worse lens", "pipeline.py",
     "if better(new, old): _swap_in(", "if True: _swap_in(", ["12_pipeline"]),
    ("retrain-failed judges lenses on the holdout", "runs.py",
     'measure = lambda r: (Tier(r["activation"]["tier"]).rank, r["activation"]["test_f1"])',
     'measure = lambda r: (Tier(r["activation"]["tier"]).rank, r["activation"]["holdout"]["f1"])', ["09_runs"]),
    ("show hides retrained lenses", "runs.py",
     'retrained = sum(r.get("retrained", False) for r in summary["poles"])', "retrained = 0", ["12_pipeline"]),
    ("made_by names the strategy asked for, not the trainer kept", "pipeline.py",
     '"made_by": trainer.strategy}', '"made_by": strategy}', ["12_pipeline"]),
    ("the design's per-pole function always retrains", "pipeline.py",
     "if (done := load_pole(run_dir, s.dimension, pole_name)) is not None: return done", "done = None",
     ["12_pipeline"]),
    ("the pipeline imports the plotting stack at start", "pipeline.py",
     "from tqdm.auto import tqdm\n", "from tqdm.auto import tqdm\nfrom .live import report_html\n", ["18_cli"]),
]

STABILITY = [  # decisions that do not hang on a rounding
    ("lens choice back to the best out-of-fold F1 (the knife edge)", "lenses.py",
     "return scores, one_se_choice(losses, clusters)",
     'return scores, max(range(len(scores)), key=lambda i: (scores[i]["f1"], scores[i]["auroc"], -i))',
     ["05_lenses"]),
    ("a lens's 0.5 leans to the pool's share of positives again", "lenses.py",
     "return _prior_log_odds(y) if self.priors == \"equal\" else 0.0", "return 0.0",
     ["05_lenses"]),
    ("select_lens returns its lens at the rows' priors", "lenses.py",
     "lens = Lens(seed=seed, priors=priors, **params)", "lens = Lens(seed=seed, **params)", ["05_lenses"]),
    ("a fixed lens kind trains at the rows' priors", "trainer.py",
     "Lens(seed=self.seed, priors=TRAINED_PRIORS, **params)", "Lens(seed=self.seed, **params)", ["06_trainer"]),
    ("lens choice by the best Brier score, no standard-error allowance", "lenses.py",
     "return scores, one_se_choice(losses, clusters)", "return scores, best", ["05_lenses"]),
    ("the standard error ignores material entries", "lenses.py",
     "sums = np.bincount(np.unique(np.asarray(clusters), return_inverse=True)[1], weights=d - d.mean())",
     "sums = d - d.mean()", ["05_lenses"]),
    ("a tier one flip from its threshold is not marked marginal", "trainer.py",
     "if passed: marginal = lo < min_f1 or calibration - band < min_calibration",
     "if passed: marginal = calibration - band < min_calibration", ["06_trainer"]),
    ("a near miss under a better tier is not counted", "trainer.py",
     'deciding = [last] + [h for h in history[:-1] if Tier(h["tier"]) > Tier(last["tier"])]',
     "deciding = [last]", ["06_trainer"]),
    ("F1's resolution misses the helpful flips", "lenses.py",
     "better = now + [_f1_counts(tp + 1, fp, fn - 1)] * (fn > 0) + [_f1_counts(tp, fp - 1, fn)] * (fp > 0)",
     "better = now", ["05_lenses"]),
    ("show drops the marginal mark", "runs.py",
     'v = tier_label(row) if column == "tier" else row.get(column)', "v = row.get(column)", ["09_runs"]),
]

HOUSE = [  # one set of options, checked when made; explicit executors; a run that remembers its cache
    ("options are not checked when made", "options.py", "        _check(self)", "        pass", ["08_options"]),
    ("a resumed run forgets its batching", "options.py",
     "if getattr(options, k) is None and k in saved", "if False", ["08_options"]),
    ("a source and an executor are both accepted", "pipeline.py",
     "if executor is not None or model is not None:", "if False:", ["12_pipeline"]),
    ("a run forgets its activation cache", "source.py",
     "self.cache = ActivationCache(options.cache_dir or default_cache_dir())",
     "self.cache = ActivationCache(default_cache_dir())", ["12_pipeline"]),
    ("the command line loads torch before it checks the options", "cli.py",
     "import argparse, sys\n", "import argparse, sys, torch\n", ["18_cli"]),
]

COMPARISON = [  # the comparison: validation mode, paired intervals, the overview
    ("the validation mode does not reach the trainers", "pipeline.py",
     "trainer = cls(seed=seed, callbacks=callbacks, **mode)", "trainer = cls(seed=seed, callbacks=callbacks)",
     ["12_pipeline"]),
    ("paired intervals resample lenses, not poles", "compare.py",
     "out = pole_interval(list(by_pole({k: va[k] - vb[k] for k in both}).values()), **kwargs)",
     "out = pole_interval([va[k] - vb[k] for k in both], **kwargs)", ["13_compare"]),
    ("the report has no overview figures", "live.py",
     "top = {f\"At a glance: {name}\": fig", "top = {} and {f\"At a glance: {name}\": fig", ["07_live"]),
    ("learning curves lose the holdout", "trainer.py",
     'held = {} if holdout is None else {"holdout_f1": _f1(lens, *holdout[:2])}', "held = {}", ["06_trainer"]),
]

AFTER_MERGE = [  # intervals, lens choice and material partitions
    ("bootstrap does not resample", "lenses.py",
     "w[:, idx] = np.bincount(draws.ravel(), minlength=n_resamples * k).reshape(n_resamples, k)[:, inverse]",
     "w[:, idx] = 1.0", ["05_lenses"]),
    ("bootstrap resamples prompts, not material entries", "lenses.py",
     'clusters = np.arange(len(y)) if clusters is None else check_groups(clusters, len(y), "clusters")',
     "clusters = np.arange(len(y))", ["05_lenses"]),
    ("a 90 % interval reported as 95 % (quality_report)", "lenses.py",
     "ci = bootstrap_ci(y, probs, groups, clusters, n_resamples=n_resamples, seed=seed)",
     "ci = bootstrap_ci(y, probs, groups, clusters, n_resamples=n_resamples, seed=seed, level=0.90)", ["05_lenses"]),
    ("a 90 % interval reported as 95 % (bootstrap_ci)", "lenses.py",
     "q = 100 * np.array([(1 - level) / 2, (1 + level) / 2])", "q = 100 * np.array([0.05, 0.95])", ["05_lenses"]),
    ("calibration interval on the mean over groups, not the minimum", "lenses.py",
     "cal = np.min([_weighted_auroc(", "cal = np.mean([_weighted_auroc(", ["05_lenses"]),
    ("cross-validation folds ignore material entries", "lenses.py",
     'entries = np.arange(len(y)) if entries is None else check_groups(entries, len(y), "entries")',
     "entries = np.arange(len(y))", ["05_lenses"]),
    ("other-simplex strip removed", "data_pool.py",
     "others = [_strip(m, own) for m in others if not overlapping(target, m)]",
     "others = [m for m in others if not overlapping(target, m)]", ["02_data_pool"]),
    ("declared overlaps ignored", "data_pool.py",
     "others = [_strip(m, own) for m in others if not overlapping(target, m)]",
     "others = [_strip(m, own) for m in others]", ["02_data_pool"]),
    ("train, test and holdout share their material", "data_pool.py",
     "return {split: material | {key: parts[key][split] for key in parts} for split in SPLITS}",
     "return {split: dict(material) for split in SPLITS}", ["02_data_pool"]),
]

ARCHITECTURES = [  # every model a researcher brings: one layout finder, exact rows, refusals before work
    ("the GPT-2 family's blocks are not looked for", "activations.py",
     '"model.decoder.layers", "transformer.h",', '"model.decoder.layers",', ["tests/test_architectures.py"]),
    ("Mamba's hidden states read as its own tuple numbers them", "activations.py",
     'SHIFTED_HIDDEN_STATES = ("mamba", "falcon_mamba")', "SHIFTED_HIDDEN_STATES = ()",
     ["tests/test_architectures.py"]),
    ("a batch padded on the left", "activations.py",
     "input_ids = torch.nn.utils.rnn.pad_sequence([torch.tensor(i) for i in ids], batch_first=True, "
     "padding_value=pad_id)",
     "input_ids = torch.nn.utils.rnn.pad_sequence([torch.tensor(i) for i in ids], batch_first=True, "
     "padding_value=pad_id, padding_side='left')", ["tests/test_architectures.py"]),
    ("extraction runs the whole model", "activations.py", "        if layer == deepest: raise _Reached",
     "        pass", ["04_activations"]),
    ("GGUF export for an architecture llama.cpp cannot steer", "use.py",
     "    if model_type in LLAMA_CPP_ARCHITECTURES: return LLAMA_CPP_ARCHITECTURES[model_type]",
     "    return LLAMA_CPP_ARCHITECTURES.get(model_type, model_type)", ["tests/test_architectures.py"]),
    ("a long prompt ignores the token budget", "activations.py",
     "fits = token_budget // max(1, lengths[order[start]]) if token_budget else len(order)",
     "fits = len(order)", ["04_activations"]),
]

SPEED = [  # each fit once, a warm run without the model, bfloat16 where the CPU computes in it
    ("the fit memo keys a draw by its size, not its rows", "trainer.py",
     "return self.fit_memo(fit_key(X, y, entries, scale, settings), make)",
     "return self.fit_memo(fit_key(len(y), settings), make)", ["06_trainer"]),
    ("fit keys ignore the draw's content", "fits.py",
     "for part in (FIT_VERSION, sklearn.__version__, np.__version__, *parts):",
     "for part in (FIT_VERSION, sklearn.__version__, np.__version__):", ["05a_fits"]),
    ("a served fit is charged nothing", "trainer.py",
     "return time.perf_counter() + (0.0 if self.fit_memo is None else self.fit_memo.saved_seconds)",
     "return time.perf_counter()", ["06_trainer"]),
    ("a warm run loads the model", "source.py",
     'start, key = time.perf_counter(), cache_key(facts["model_id"], self.device.type)',
     'self._load(); start, key = time.perf_counter(), cache_key(facts["model_id"], self.device.type)',
     ["11_source"]),
    ("the model's identity is never remembered", "source.py",
     "if fingerprint: self.cache.remember(fingerprint, facts)", "pass", ["11_source"]),
    ("the CPU default stays float32 where it has bf16 units", "activations.py",
     '        return torch.bfloat16, "the CPU has bfloat16 units',
     '        return torch.float32, "the CPU has bfloat16 units', ["04_activations"]),
    ("a comparison re-prices a row on every call", "compare.py",
     'return saved if saved and saved.get("identity") == source.identity() else None', "return None",
     ["13_compare"]),
]

READING = [  # where a lens reads a prompt, from extraction to the monitor
    ("the pooled span ignores the reading", "activations.py",
     "out[r][l][rows] = pool(h, read, pooling).cpu().numpy()", "out[r][l][rows] = pool(h, mask, pooling).cpu().numpy()",
     ["04_activations"]),
    ("an over-long passage cuts the template's tail off", "reading.py",
     "passages = [p[:room] for p in passages]", "passages = [p for p in passages]", ["03_reading"]),
    ("a template row answers another reading", "activations.py",
     'name = f"layer{layer:03d}-{pooling}{reading_tag(reading)}"', 'name = f"layer{layer:03d}-{pooling}"',
     ["04_activations"]),
    ("the reading is not part of the run's configuration", "runs.py",
     'if k not in ("cache_dir", "device")}', 'if k not in ("cache_dir", "device", "reading")}', ["12_pipeline"]),
    ("a lens over joined layers records the run's layer", "reading.py",
     "return (candidate_layers(n_layers) if reading in LAYER_READINGS else layer), reading", "return layer, reading",
     ["03_reading"]),
    ("the monitor reads a template lens on the bare text", "use.py",
     "ids, states = read_states(model, tokenizer, text, layers, reading)",
     "ids, states = read_states(model, tokenizer, text, layers)", ["14_use"]),
    ("a last-K lens is read per token", "use.py", 'if readings[0].startswith("last-"):', "if False:", ["14_use"]),
    ("a lens over several layers is read at its deepest only", "use.py",
     "combine_layers(parts, direction.reading))", "parts[direction.layers[-1]])", ["14_use"]),
    ("an average lens's weight is not shared out among its layers", "use.py",
     "return np.tile(w / layers, (layers, 1))", "return np.tile(w, (layers, 1))", ["14_use"]),
    ("steering a lens over several layers adds at its first only", "use.py",
     "else: parts = [d.parts() for d in directions]",
     "else: parts = [{d.layers[0]: d.parts()[d.layers[0]]} for d in directions]", ["14_use"]),
    ("the homeostat over several layers forgets the earlier ones", "use.py",
     "sum(noted.pop(l) for l in frame.layers[:-1])", "0", ["14_use"]),
    ("a run that names nothing reads one layer", "reading.py",
     'DEFAULT_READING = "concat"', 'DEFAULT_READING = "mean"', ["03_reading", "08_options"]),
    ("a layer named alone is read with the default reading", "reading.py",
     'reading = DEFAULT_READING if layer is None else "mean"', "reading = DEFAULT_READING",
     ["03_reading", "18_cli"]),
]

SCALE = [  # memory bounded per pole: rows stay on disk, each pole reads its own
    ("extraction fetches every pole's rows at once", "pipeline.py",
     "source.fill(sorted({p for pool in pools", "source(sorted({p for pool in pools", ["12_pipeline"]),
    ("full shards are merged again (a merge reads the whole store)", "activations.py",
     "small = {p for p, n in self.shards.items() if n < self.full_rows}", "small = set(self.shards)",
     ["04_activations"]),
    ("the driver loads the model a remote executor runs", "source.py",
     "(facts,) = self.executor.map(model_facts, [None], self)", "(facts,) = [model_facts(self)]", ["11_source"]),
]

TRANSFER = [  # lenses judged on public text: unseen words, the declared sides, honest intervals
    ("words seen in the material are kept", "evaluate.py",
     "seen = {e for e in entries if not material.isdisjoint(words_of(e))}", "seen = set()", ["15_evaluate"]),
    ("TextBlob takes a word's first sense, not the mean", "evaluate.py",
     "return {form: float(np.mean(p)) for form, p in senses.items()}",
     "return {form: float(p[0]) for form, p in senses.items()}", ["15_evaluate"]),
    ("the concept side is swapped with the opposite", "evaluate.py",
     "concept, other = entry[\"concept\"], OTHER[entry[\"concept\"]]",
     "other, concept = entry[\"concept\"], OTHER[entry[\"concept\"]]", ["15_evaluate"]),
    ("the word resamples take no seed", "evaluate.py",
     "rng = np.random.default_rng(seed)", "rng = np.random.default_rng()", ["15_evaluate"]),
    ("a run with no mapped lens reads texts anyway", "evaluate.py",
     "lenses = mapped_lenses(run_dir, mapping)  # fails before any text is read",
     "lenses = {}", ["15_evaluate"]),
]

def _replace_once(text:str, old:str, new:str, where:str)->str:
    if text.count(old) != 1: raise SystemExit(f"{where}: the snippet occurs {text.count(old)} times, not once:\n{old}")
    return text.replace(old, new)

def apply(repo:Path, file:str, old:str, new:str):
    "Replace `old` in hatcat_stier/`file` and in the cells of the notebook it is exported from."
    module = repo / "hatcat_stier" / file
    text = module.read_text()
    module.write_text(_replace_once(text, old, new, str(module)))
    nb_path = repo / re.search(r"File to edit: \.\./(\S+?)\.", text).group(1)
    nb_path = nb_path.with_suffix(".ipynb")
    nb = json.loads(nb_path.read_text())
    to_nb = lambda s: re.sub(r"from \.(\w)", r"from hatcat_stier.\1", s)  # notebooks import the package absolutely
    sources = ["".join(c["source"]) for c in nb["cells"]]
    hits = [i for i, s in enumerate(sources) if to_nb(old) in s]
    if len(hits) != 1: raise SystemExit(f"{nb_path}: the snippet is in {len(hits)} cells, not one:\n{old}")
    new_source = _replace_once(sources[hits[0]], to_nb(old), to_nb(new), str(nb_path))
    nb["cells"][hits[0]]["source"] = new_source.splitlines(keepends=True)
    nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")

def run_tests(repo:Path, notebooks:list)->tuple:
    "(passed, the failing commands) of the fast tests in `repo`."
    env = {**os.environ, "PYTHONPATH": str(repo)}
    pytest = [str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    commands = {name: pytest + [name] if name.endswith(".py") else
                [str(BIN / "nbdev_test"), "--path", f"nbs/{name}.ipynb"] for name in notebooks}
    commands[" ".join(FAST_PYTEST)] = pytest + FAST_PYTEST
    failed = [name for name, c in commands.items()
              if subprocess.run(c, cwd=repo, env=env, capture_output=True, timeout=900).returncode != 0]
    return not failed, failed

def trial(mutation)->dict:
    "Apply one mutation (None: none) to a scratch copy and run its tests."
    name, file, old, new, notebooks = mutation or ("(no mutation)", None, None, None, ["00a_storage", "06_trainer"])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        repo = Path(tmp)
        copy_checkout(repo)
        if file: apply(repo, file, old, new)
        passed, failed = run_tests(repo, notebooks)
    return {"name": name, "file": file, "caught": not passed, "by": failed, "seconds": time.perf_counter() - start}

def table(results:list)->list:
    lines = ["| mutation | file | result | failing tests | s |", "|---|---|---|---|---|"]
    return lines + [f"| {r['name']} | {r['file']} | {'caught' if r['caught'] else '**SURVIVED**'} | "
                    f"{'; '.join(r['by']) or '–'} | {r['seconds']:.0f} |" for r in results]

def main(names:list):
    chosen = lambda ms: [m for m in ms if not names or m[0] in names]
    groups = {"Behaviours of this code": chosen(MUTATIONS),
              "Intervals, lens choice and material partitions": chosen(AFTER_MERGE),
              "The comparison: validation mode, paired intervals, overview": chosen(COMPARISON),
              "Stable decisions: lens choice and tier margins": chosen(STABILITY),
              "The house: one set of options, explicit executors, a run's own cache": chosen(HOUSE),
              "Speed: each fit once, a warm run without the model, the CPU's dtype": chosen(SPEED),
              "Every model a researcher brings: layouts, exact rows, refusals": chosen(ARCHITECTURES),
              "Readings: from extraction to the monitor": chosen(READING),
              "Transfer: public lexicon words, never seen, the declared sides": chosen(TRANSFER),
              "Scale: memory bounded per pole, the model only where the executor runs it": chosen(SCALE)}
    every = [m for ms in groups.values() for m in ms]
    for m in every:  # fail before any test runs if a snippet no longer matches
        _replace_once((ROOT / "hatcat_stier" / m[1]).read_text(), m[2], m[3], m[1])
    control = trial(None)
    if control["caught"]: raise SystemExit(f"the unmutated copy fails its tests ({control['by']}): fix that first")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(map(id, every), pool.map(trial, every)))
    survived = [r["name"] for r in results.values() if not r["caught"]]
    report = ["# Mutation check", "", "`make mutations` (benchmarks/mutations.py): each row is a deliberate wrong edit "
              "applied to a scratch copy; *caught* means a fast test failed on it.", ""]
    for title, ms in groups.items(): report += [f"## {title}", "", *table([results[id(m)] for m in ms]), ""]
    report.append(f"{len(results) - len(survived)} of {len(results)} caught"
                  + (f"; survived: {', '.join(survived)}" if survived else "."))
    out = "mutations_selected.md" if names else "mutations.md"  # a partial run leaves the full report alone
    (ROOT / "benchmarks" / out).write_text("\n".join(report) + "\n")
    print("\n".join(report))
    sys.exit(1 if survived else 0)

if __name__ == "__main__": main(sys.argv[1:])
