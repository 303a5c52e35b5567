"""Models benchmark: the two embedded models, SmolLM2-135M-Instruct and Gemma 3 270M, on the same pools.

For each model, in one run: cold extraction speed (prompts/s through its deepest candidate layer, on the same sample
of pool prompts, no cache), the layer the grouped-CV choice (`layer="auto"`) picks per pole on its training split,
and the holdout F1 and calibration (mean, worst) of the exponential strategy's lenses at that layer. Both models see
exactly the same pools (seed, splits, prompts); nothing about a model or a layer is decided on the holdout.

    .venv/bin/python benchmarks/models.py [--simplexes a,b] [--sample 256] [--cache-dir .cache/activations]

The default is the first four bundled simplexes (12 poles), in file order.
"""
import argparse, json, os, random, sys, time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not
from hatcat_stier.activations import extract_activations, num_layers
from hatcat_stier.data_pool import SPLITS, pole_pool
from hatcat_stier.options import RunOptions
from hatcat_stier.pipeline import pole_layer, pool_arrays, pools_activations
from hatcat_stier.reading import candidate_layers
from hatcat_stier.source import ModelActivations
from hatcat_stier.simplexes import POLE_NAMES, get_simplex, load_simplexes
from hatcat_stier.trainer import ExponentialAdaptiveTrainer

HERE = Path(__file__).resolve().parent
MODELS = ("smollm2-135m", "gemma-3-270m")

def cold_rate(source, prompts:list)->float:
    "Prompts per second through the deepest candidate layer, without the cache (median of 3)."
    layers = candidate_layers(num_layers(source.model))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        extract_activations(source.model, source.tokenizer, prompts, layer_idx=layers, progress=False)
        times.append(time.perf_counter() - start)
    return len(prompts) / float(np.median(times))

def lenses(pools, index, acts, seed)->list:
    "(layer, activation result) per pool: the layer chosen on the training split, then the exponential trainer."
    out = []
    for pool in pools:
        layer, _ = pole_layer(pool, index, acts, "auto", seed)
        arrays = pool_arrays(pool, index, acts[layer])
        out.append((layer, ExponentialAdaptiveTrainer(seed=seed).train_concept("pole", **arrays)["activation"]))
    return out

def summary(source, rate, trained)->dict:
    f1 = [r["holdout"]["f1"] for _, r in trained]
    cal = [r["holdout"]["calibration"] for _, r in trained]
    return {"model_id": source.identity()["model_id"], "blocks": num_layers(source.model),
            "candidate_layers": candidate_layers(num_layers(source.model)), "prompts_per_s": rate,
            "layers_chosen": dict(sorted(Counter(l for l, _ in trained).items())),
            "holdout_f1_mean": float(np.mean(f1)), "holdout_f1_worst": float(np.min(f1)),
            "holdout_calibration_mean": float(np.mean(cal)), "holdout_calibration_worst": float(np.min(cal)),
            "holdout_a_rate": float(np.mean([r["holdout"]["grade"] == "A" for _, r in trained])),
            "load_seconds": source.load_seconds, "extraction_seconds": source.seconds, "extracted": source.extracted}

ROWS = (("model_id", "weights (model_id)", "{}"), ("blocks", "decoder blocks", "{}"),
        ("candidate_layers", "candidate layers", "{}"), ("prompts_per_s", "cold extraction, prompts/s", "{:.1f}"),
        ("layers_chosen", "layers chosen (layer: poles)", "{}"), ("holdout_f1_mean", "mean holdout F1", "{:.3f}"),
        ("holdout_f1_worst", "worst holdout F1", "{:.3f}"),
        ("holdout_calibration_mean", "mean holdout calibration", "{:.3f}"),
        ("holdout_calibration_worst", "worst holdout calibration", "{:.3f}"),
        ("holdout_a_rate", "holdout A-grade rate", "{:.1%}"))

def table(stats:dict)->str:
    lines = ["| measure | " + " | ".join(stats) + " |", "|---|" + "---:|" * len(stats)]
    return "\n".join(lines + [f"| {label} | " + " | ".join(fmt.format(s[key]) for s in stats.values()) + " |"
                              for key, label, fmt in ROWS])

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simplexes", default=None, help="comma-separated dimensions (default: the first four bundled)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample", type=int, default=256, help="pool prompts timed for the extraction speed")
    ap.add_argument("--cache-dir", default=".cache/activations")
    ap.add_argument("--out", default=str(HERE / "models.md"))
    a = ap.parse_args()
    start, simplexes = time.perf_counter(), load_simplexes()
    dims = a.simplexes.split(",") if a.simplexes else [s.dimension for s in simplexes[:4]]
    pools = [pole_pool(simplexes, get_simplex(simplexes, d), p, seed=a.seed) for d in dims for p in POLE_NAMES]
    prompts = sorted({p for pool in pools for s in SPLITS for p in pool[f"{s}_prompts"]})
    sample = random.Random(a.seed).sample(prompts, a.sample)
    stats = {}
    for name in MODELS:
        source = ModelActivations(RunOptions(model=name or "default", layer="auto", cache_dir=a.cache_dir))
        index, acts = pools_activations(pools, source)
        stats[name] = summary(source, cold_rate(source, sample), lenses(pools, index, acts, a.seed))
    load = os.getloadavg()[0]
    text = (f"## Models ({len(pools)} poles of {', '.join(dims)}; exponential strategy, layer chosen per pole by "
            f"grouped CV on its training split, mean pooling, seed {a.seed}; graded on the holdout)\n\n"
            f"{table(stats)}\n\n"
            f"Extraction speed: {a.sample} pool prompts through each model's deepest candidate layer, float32 on "
            f"{os.cpu_count()} CPU cores, no cache, median of 3; one-minute load average {load:.1f} at the end. "
            f"Total {time.perf_counter() - start:.0f} s.\n")
    Path(a.out).write_text(text)
    Path(a.out).with_suffix(".json").write_text(json.dumps(stats, indent=1) + "\n")
    print(text)

if __name__ == "__main__":
    main()
