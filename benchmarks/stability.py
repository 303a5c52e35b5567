"""Do lenses and tiers hang on a rounding? Every bundled pole retrained on the demo's cached rows, slightly changed.

The demo's rows (its reading, seed and pools) are read from the activation cache and changed the ways a rounding
changes them: every element times (1 + e z) for e = 0.001 and 0.004 (two draws each), the rows of a bfloat16
extraction of the same prompts, and, as a harsh stress, isotropic noise of 1 % of each row's norm. Each strategy
(falloff) trains every pole on the unchanged rows and on each changed copy, and the lenses are compared pole by pole:
lens choice, training rows, tier, and holdout F1. Where a pole kept its lens choice and draw size, the test F1 and
calibration it was judged on show the noise of the deciding scores, which sets the trainer's `CALIBRATION_BAND`.
bfloat16 is judged by a rule fixed in advance: not worse when, paired over poles, the lower end of the 95 % interval
of (bfloat16 - float32) is above -0.01 for both holdout F1 and holdout calibration.

    .venv/bin/python benchmarks/stability.py [--run runs/demo/falloff] [--cache-dir .cache/activations] [--workers 2]
                                             [--variants rounding,stress,bfloat16] [--device cuda]

The bfloat16 rows come from the model loaded in bfloat16 where the machine computes in it natively (a GPU, or a
CPU with bf16 units), through the activation cache. Elsewhere bfloat16 matrix products run a hundred times slower
than float32 ones, so its rounding is emulated: the weights and every module's output rounded to bfloat16, the
arithmetic in float32 (rows saved under the cache folder). On 256 of the demo's prompts that moves a row by 0.58 %
of its norm (median) where a native bfloat16 pass moves it by 1.0 %: the emulation understates the rounding, and on
2 cores it takes hours. The page's bfloat16 rows are native: extracted on a GPU machine with the demo's run
configuration, and merged in here with its float32 rows (a variant of their own: the same lenses, a different
device):

    benchmarks/stability.py --run RUN --cache-dir /tmp/cache --device cuda --variants bfloat16 --out gpu  # there
    benchmarks/stability.py --resume --merge gpu.json --variants rounding,stress                        # here

`--resume` keeps the variants an earlier run of the same code saved in the output.
"""
import argparse, json, os, platform, sys, time
from dataclasses import replace
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not
from hatcat_stier.activations import cpu_has_bf16, extract_activations, load_model, num_layers
from hatcat_stier.compare import pole_interval
from hatcat_stier.data_pool import pole_pool
from hatcat_stier.pipeline import pool_arrays, pools_activations, train_arrays
from hatcat_stier.reading import LAYER_READINGS, candidate_layers, combine_layers
from hatcat_stier.runs import load_run
from hatcat_stier.source import ModelActivations
from hatcat_stier.simplexes import POLE_NAMES

HERE = Path(__file__).resolve().parent
STRATEGIES = ("baseline", "exponential")
ROUNDINGS = {"x(1 + 0.001 z), draw 1": (0.001, 1), "x(1 + 0.001 z), draw 2": (0.001, 2),
             "x(1 + 0.004 z), draw 1": (0.004, 1), "x(1 + 0.004 z), draw 2": (0.004, 2)}
STRESS, BF16 = "isotropic noise, 1 % of the row norm", "bfloat16 extraction"
MARGIN = 0.01  # the non-inferiority margin of the bfloat16 rule
COMPACT = (",", ":")  # the outcomes JSON holds every lens's history: megabytes when indented

def relative(rows, scale:float, seed:int):
    "Each element times (1 + scale z), z standard normal."
    rng = np.random.default_rng(seed)
    return rows * (1 + scale * rng.standard_normal(rows.shape, np.float32))

def isotropic(rows, share:float=0.01, seed:int=0):
    "Noise of `share` of each row's norm, spread evenly over its features."
    rng = np.random.default_rng(seed)
    norm = np.linalg.norm(rows, axis=1, keepdims=True) / np.sqrt(rows.shape[1])
    return rows + share * norm * rng.standard_normal(rows.shape, np.float32)

def emulate_bfloat16(model):
    "Round the weights, and every module's floating output, to bfloat16: its rounding, at float32's speed."
    rnd = lambda t: t.bfloat16().float() if torch.is_tensor(t) and t.is_floating_point() else t
    with torch.no_grad():
        for p in model.parameters(): p.copy_(rnd(p))
    for m in model.modules():
        m.register_forward_hook(lambda m, args, out: tuple(map(rnd, out)) if isinstance(out, tuple) else rnd(out))
    return model

def emulated_rows(prompts:list, config, folder:Path)->np.ndarray:
    "The run's rows of `prompts` from a float32 model rounded as bfloat16 would round it; saved under `folder`."
    path = folder / f"{config.reading}-{config.layer}-{config.pooling}-{len(prompts)}.npy"
    if path.exists(): return np.load(path)
    model, tokenizer = load_model(None if config.model == "default" else config.model, "cpu", "float32")
    emulate_bfloat16(model)
    joined = config.reading in LAYER_READINGS
    layers = candidate_layers(num_layers(model)) if joined else [config.layer]
    by_layer = extract_activations(model, tokenizer, prompts, layer_idx=layers, pooling=config.pooling,
                                   batch_size=config.batch_size, progress=True)
    rows = combine_layers(by_layer, config.reading) if joined else by_layer[config.layer]
    folder.mkdir(parents=True, exist_ok=True)
    np.save(path, rows)
    return rows

def native(config)->bool:
    "Whether the run's device computes in bfloat16 natively (else bfloat16 is emulated)."
    return torch.device(config.device).type == "cuda" or cpu_has_bf16()

def extracted_on(config)->str:
    "The device a variant's rows came from, in words."
    if torch.device(config.device).type == "cuda": return torch.cuda.get_device_name(config.device)
    cpu = [l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
           if l.startswith("model name")] if Path("/proc/cpuinfo").exists() else [platform.machine()]
    return f"{cpu[0]}, {os.cpu_count()} cores"

def bfloat16_rows(index:dict, pools:list, config)->np.ndarray:
    "The rows of a bfloat16 extraction: native where the machine computes in it, else `emulated_rows`."
    if not native(config): return emulated_rows(list(index), config, Path(config.cache_dir) / "bfloat16-emulated")
    return pools_activations(pools, ModelActivations(replace(config, dtype="bfloat16")))[1]

def outcome(results:dict)->dict:
    "What a pole's lens came to: choice, rows, tier (and whether marked marginal), holdout numbers, its history."
    act = results["activation"]
    keep = ("samples", "lens", "test_f1", "calibration")
    return {"lens": act["lens"], "rows": act["samples_used"], "tier": act["tier"], "marginal": act.get("marginal"),
            "holdout_f1": act["holdout"]["f1"], "holdout_calibration": act["holdout"]["calibration"],
            "history": [{k: h[k] for k in keep} for h in act["history"]]}

def train(job:tuple)->dict:
    "One (strategy, pole) of one variant: its `outcome`."
    strategy, name, arrays, seed, mode = job
    return outcome(train_arrays(strategy, name, arrays, seed, validation_mode=mode)[0])

def variant_outcomes(rows, index, pools, names, config, pool)->dict:
    "strategy -> [outcome per pole] of training every pole on `rows`."
    jobs = [(s, n, pool_arrays(p, index, rows), config.seed, config.validation_mode)
            for s in STRATEGIES for n, p in zip(names, pools)]
    done = list(pool.map(train, jobs))
    return {s: done[i * len(names):(i + 1) * len(names)] for i, s in enumerate(STRATEGIES)}

def deciding_noise(ref:dict, new:dict)->list:
    "|change| of (test F1, calibration) at each iteration where a pole kept its lens choice and draw size."
    kept = lambda a, b: (a["samples"], a["lens"]) == (b["samples"], b["lens"])
    same = [(a, b) for a, b in zip(ref["history"], new["history"]) if kept(a, b)]
    return [(abs(a["test_f1"] - b["test_f1"]), abs(a["calibration"] - b["calibration"])) for a, b in same]

def changes(ref:list, new:list)->dict:
    "Poles whose lens choice, training rows, tier (and unmarked tier) and holdout F1 changed against the reference."
    moves = [abs(a["holdout_f1"] - b["holdout_f1"]) for a, b in zip(ref, new)]
    tiers = [a["tier"] != b["tier"] for a, b in zip(ref, new)]
    noise = [d for a, b in zip(ref, new) for d in deciding_noise(a, b)]
    return {"choice": sum(a["lens"] != b["lens"] for a, b in zip(ref, new)),
            "rows": sum(a["rows"] != b["rows"] for a, b in zip(ref, new)),
            "tiers": sum(tiers), "unmarked_tiers": sum(t and not a["marginal"] for t, a in zip(tiers, ref)),
            "moved_05": sum(m > 0.05 for m in moves), "moved_10": sum(m > 0.10 for m in moves),
            "largest": max(moves), "noise_f1": max((f for f, _ in noise), default=0.0),
            "noise_calibration": max((c for _, c in noise), default=0.0)}

def paired(ref:list, new:list)->dict:
    "new - ref of holdout F1 and calibration, paired by pole, with 95 % intervals over poles."
    return {m: pole_interval([b[m] - a[m] for a, b in zip(ref, new)]) for m in ("holdout_f1", "holdout_calibration")}

def table(report:dict)->list:
    "Markdown lines: one row per variant and strategy."
    head = ["| rows read | strategy | lens choice changed | training rows changed | tiers changed (not marked "
            "marginal) | holdout F1 moved > 0.05 | > 0.10 | largest move |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    return head + [f"| {v} | {s} | {c['choice']} | {c['rows']} | {c['tiers']} ({c['unmarked_tiers']}) | "
                   f"{c['moved_05']} | {c['moved_10']} | {c['largest']:.3f} |"
                   for v, by in report["changes"].items() for s, c in by.items()]

def interval(p:dict)->str: return f"{p['value']:+.4f} [{p['ci'][0]:+.4f}, {p['ci'][1]:+.4f}]"

def markdown(report:dict)->str:
    "The benchmark's page: the table, the deciding scores' noise, the reference's quality, the bfloat16 verdict."
    rounding = [c for v, by in report["changes"].items() if v in ROUNDINGS for c in by.values()]
    lines = [f"## Stability of lenses and tiers ({report['poles']} poles, seed {report['seed']}, falloff, "
             f"reading {report['reading']})", "", *table(report), ""]
    if rounding:
        lines += [f"Noise of the deciding scores under the rounding-shaped changes, at iterations that kept their "
                  f"lens and draw: test F1 up to {max(c['noise_f1'] for c in rounding):.4f}, calibration up to "
                  f"{max(c['noise_calibration'] for c in rounding):.4f}.", ""]
    lines += ["Unchanged rows: " + "; ".join(f"{s} mean holdout F1 {m['holdout_f1']:.4f}, calibration "
                                            f"{m['holdout_calibration']:.4f}, {m['marginal']} tiers marked marginal"
                                            for s, m in report["reference"].items()) + "."]
    if BF16 in report["changes"]:
        verdict = report["bfloat16"]
        lines += ["", f"bfloat16 ({verdict['rows']} rows) against float32, paired by pole: " + "; ".join(
            f"{s} holdout F1 {interval(p['holdout_f1'])}, calibration {interval(p['holdout_calibration'])}"
            for s, p in verdict["paired"].items()) + f". Rule (lower ends above -{MARGIN}): "
            + ("holds" if verdict["holds"] else "does not hold") + "."]
    return "\n".join(lines + ["", "Where each set of rows came from:", ""]
                     + [f"- {v}: {w}" for v, w in report["made"].items()]) + "\n"

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/demo/falloff", help="a comparison folder the demo wrote")
    ap.add_argument("--cache-dir", default=".cache/activations")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--variants", default="rounding,stress,bfloat16",
                    help="which changed rows to train on, besides the unchanged ones (comma-separated)")
    ap.add_argument("--device", default=None, help="extract on this device (default: the run's own)")
    ap.add_argument("--out", default=str(HERE / "stability"))
    ap.add_argument("--resume", action="store_true", help="keep the variants saved in --out's JSON")
    ap.add_argument("--merge", default=None, help="a JSON this script wrote on another machine (a GPU, say): its "
                    "variants join these, and its unchanged rows become one more variant")
    a = ap.parse_args()
    start, run = time.perf_counter(), Path(a.run) / "seed-0" / "exponential"
    config, simplexes = load_run(run)
    config = replace(config, cache_dir=a.cache_dir, device=a.device or config.device)
    poles = [(s, p) for s in simplexes for p in POLE_NAMES]
    pools = [pole_pool(simplexes, s, p, max_samples=config.max_samples, seed=config.seed,
                       holdout_size=config.holdout_size) for s, p in poles]
    names = [f"{s.dimension}_{p.split('_')[0]}" for s, p in poles]
    index, rows = pools_activations(pools, ModelActivations(config))
    groups = {"rounding": {v: (lambda e=e, d=d: relative(rows, e, d)) for v, (e, d) in ROUNDINGS.items()},
              "stress": {STRESS: lambda: isotropic(rows)},
              "bfloat16": {BF16: lambda: bfloat16_rows(index, pools, config)}}
    variants = {"unchanged": lambda: rows}
    for group in a.variants.split(","): variants.update(groups[group])
    saved = Path(a.out).with_suffix(".json")
    kept = json.loads(saved.read_text()) if a.resume and saved.exists() else {"outcomes": {}, "made": {}}
    outcomes, made = kept["outcomes"], kept["made"]
    with ProcessPoolExecutor(a.workers) as pool:
        for v, make in variants.items():
            if v in outcomes: continue
            outcomes[v] = variant_outcomes(make(), index, pools, names, config, pool)
            bf16 = f", {'native' if native(config) else 'emulated'} bfloat16" if v == BF16 else ""
            made[v] = f"{time.strftime('%Y-%m-%d')}, rows from {extracted_on(config)}{bf16}"
            saved.write_text(json.dumps({"outcomes": outcomes, "made": made}, separators=COMPACT))  # kept if stopped
            print(f"{v}: {time.perf_counter() - start:.0f} s", flush=True)
    if a.merge:
        other = json.loads(Path(a.merge).read_text())
        for v, o in other["outcomes"].items():
            key = f"float32, {other['made'][v].split('rows from ')[1]}" if v == "unchanged" else v
            outcomes.setdefault(key, o)
            made.setdefault(key, other["made"][v])
    ref = outcomes.pop("unchanged")
    report = {"poles": len(poles), "seed": config.seed, "reading": config.reading,
              "changes": {v: {s: changes(ref[s], o[s]) for s in STRATEGIES} for v, o in outcomes.items()},
              "reference": {s: {"holdout_f1": float(np.mean([r["holdout_f1"] for r in ref[s]])),
                                "holdout_calibration": float(np.mean([r["holdout_calibration"] for r in ref[s]])),
                                "marginal": sum(bool(r["marginal"]) for r in ref[s])} for s in STRATEGIES}}
    if BF16 in outcomes:
        by = {s: paired(ref[s], outcomes[BF16][s]) for s in STRATEGIES}
        report["bfloat16"] = {"paired": by, "holds": all(p["ci"][0] > -MARGIN for m in by.values() for p in m.values()),
                              "rows": "native" if "native" in made[BF16] else "emulated"}
    report["made"] = made
    everything = {**report, "outcomes": {"unchanged": ref, **outcomes}}
    Path(a.out).with_suffix(".json").write_text(json.dumps(everything, separators=COMPACT))
    Path(a.out).with_suffix(".md").write_text(markdown(report))
    print(markdown(report))

if __name__ == "__main__":
    main()
