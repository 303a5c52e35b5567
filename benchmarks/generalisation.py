"""Generalisation benchmark: how well lenses detect their pole in wording they never saw.

Every pole of every bundled simplex is trained with the exponential strategy on the embedded model,
in four configurations, and all are graded on the same holdout: the new material's holdout part
(its own lexicon entries, situations and frames, never used by any training decision).

- new material, layer 12, grouped-CV lens (the defaults);
- new material, `layer="auto"` (chosen per pole on its training split), grouped-CV lens;
- new material, layer 12, the fixed lens of earlier versions (logistic, C=1, standardised on the draw);
- old material (benchmarks/material_v1: 25 words and 12 predicate situations per pole, 10 + 10
  templates), layer 12, grouped-CV lens; its train and test splits come from the old material with
  every entry of the new holdout removed, so no lens sees holdout material.

    .venv/bin/python benchmarks/generalisation.py [--cache-dir .cache/activations] [--simplexes a,b]
"""
import argparse, json, sys, time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not
from hatcat_stier.data_pool import SPLITS, load_frames, pole_pool
from hatcat_stier.options import RunOptions
from hatcat_stier.pipeline import pole_layer, pool_arrays, pools_activations
from hatcat_stier.source import ModelActivations
from hatcat_stier.simplexes import POLE_NAMES, Pole, get_simplex, load_simplexes
from hatcat_stier.trainer import ExponentialAdaptiveTrainer

HERE = Path(__file__).resolve().parent
OLD = HERE / "material_v1"
CONFIGS = {"new material, layer 12, grouped-CV lens": {},
           "new material, layer auto, grouped-CV lens": {},
           "new material, layer 12, fixed lens": {"lens_kind": "logistic", "scale_on": "draw"},
           "old material, layer 12, grouped-CV lens": {}}

def without(pole:Pole, banned:set)->Pole:
    "The pole without the lexicon entries and situations in `banned` (casefolded)."
    keep = lambda items: [e for e in items if e.casefold() not in banned]
    return replace(pole, lexicon=keep(pole.lexicon), situations=keep(pole.situations))

def old_pool(old, generic, frames, dimension, pole, banned, sizes):
    "The old material's train/test pool for one pole, stripped of `banned` entries; None if it cannot be filled."
    stripped = [replace(s, **{n: without(p, banned) for n, p in s.poles.items()}) for s in old]
    try: return pole_pool(stripped, dimension, pole, holdout_size=0, generic=without(generic, banned), frames=frames,
                          **sizes)
    except ValueError as e: print(f"old material, {dimension} {pole}: {e}", file=sys.stderr)

def train(arrays, seed, **kwargs):
    return ExponentialAdaptiveTrainer(seed=seed, **kwargs).train_concept("pole", **arrays)["activation"]

def summary(results):
    "Headline numbers of one configuration's results."
    hold = [r["holdout"] for r in results]
    f1 = np.array([h["f1"] for h in hold])
    return {"lenses": len(results), "holdout_f1_mean": float(f1.mean()), "holdout_f1_worst": float(f1.min()),
            "holdout_calibration_mean": float(np.mean([h["calibration"] for h in hold])),
            "holdout_a_rate": float(np.mean([h["grade"] == "A" for h in hold])),
            "test_f1_mean": float(np.mean([r["test_f1"] for r in results])),
            "tier_a_rate": float(np.mean([r["tier"] == "A" for r in results])),
            "samples_mean": float(np.mean([r["samples_used"] for r in results]))}

def table(stats, layers):
    rows = [("lenses", "lenses", "{:d}"), ("holdout_f1_mean", "mean holdout F1", "{:.3f}"),
            ("holdout_f1_worst", "worst holdout F1", "{:.3f}"),
            ("holdout_calibration_mean", "mean holdout calibration", "{:.3f}"),
            ("holdout_a_rate", "holdout A-grade rate", "{:.1%}"), ("test_f1_mean", "mean test F1", "{:.3f}"),
            ("tier_a_rate", "A-tier rate (graduation)", "{:.1%}"),
            ("samples_mean", "mean training rows used", "{:.0f}")]
    lines = ["| measure | " + " | ".join(stats) + " |", "|---|" + "---:|" * len(stats)]
    lines += [f"| {label} | " + " | ".join(fmt.format(s[key]) for s in stats.values()) + " |"
              for key, label, fmt in rows]
    chosen = " ".join(f"{l}:{n}" for l, n in sorted(layers.items()))
    return "\n".join(lines) + (f"\n\nLayers chosen by `layer=\"auto\"` (layer: poles): {chosen}\n" if layers else "\n")

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", default=".cache/activations")
    ap.add_argument("--simplexes", default=None, help="comma-separated dimensions (default: all bundled)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-samples", type=int, default=640, help="train + test prompts per pole")
    ap.add_argument("--holdout-size", type=int, default=128)
    ap.add_argument("--no-auto", action="store_true", help="skip layer auto (extracts layer 12 only: far cheaper)")
    ap.add_argument("--no-old", action="store_true", help="skip the old material (no extraction of its prompts)")
    ap.add_argument("--out", default=str(HERE / "generalisation.md"))
    a = ap.parse_args()
    start = time.perf_counter()
    new, old = load_simplexes(), load_simplexes(OLD / "s_tier_simplexes.json")
    generic = Pole(**json.loads((OLD / "generic_material.json").read_text()))
    frames = load_frames(OLD / "frames.json")
    dims = a.simplexes.split(",") if a.simplexes else [s.dimension for s in new]
    poles = [(d, p) for d in dims for p in POLE_NAMES]
    sizes = {"seed": a.seed, "max_samples": a.max_samples}
    pools = [pole_pool(new, get_simplex(new, d), p, holdout_size=a.holdout_size, **sizes) for d, p in poles]
    banned = [{e.casefold() for e in pool.holdout_entries} for pool in pools]
    olds = [None if a.no_old else old_pool(old, generic, frames, d, p, b, sizes) for (d, p), b in zip(poles, banned)]
    auto = ModelActivations(RunOptions(layer=12 if a.no_auto else "auto", cache_dir=a.cache_dir))
    index, acts = pools_activations(pools, auto)
    acts = {12: acts} if a.no_auto else acts
    twelve = ModelActivations(RunOptions(layer=12, cache_dir=a.cache_dir), auto.model, auto.tokenizer)
    kept = [p for p in olds if p is not None]
    old_index, old_acts = pools_activations(kept, twelve) if kept else ({}, None)
    results, layers = {name: [] for name in CONFIGS}, {}
    for pool, opool in zip(pools, olds):
        at12 = pool_arrays(pool, index, acts[12])
        runs = {"new material, layer 12, grouped-CV lens": at12, "new material, layer 12, fixed lens": at12}
        if not a.no_auto:
            layer, _ = pole_layer(pool, index, acts, "auto", a.seed)
            layers[layer] = layers.get(layer, 0) + 1
            runs["new material, layer auto, grouped-CV lens"] = pool_arrays(pool, index, acts[layer])
        if opool is not None:
            held = {k: v for k, v in at12.items() if k.startswith("holdout_")}
            runs["old material, layer 12, grouped-CV lens"] = pool_arrays(opool, old_index, old_acts) | held
        for name, arrays in runs.items(): results[name].append(train(arrays, a.seed, **CONFIGS[name]))
    stats = {name: summary(rs) for name, rs in results.items() if rs}
    header = (f"## Generalisation ({len(pools)} poles, embedded SmolLM2-135M-Instruct, exponential strategy, "
              f"mean pooling, seed {a.seed}; every configuration graded on the new material's holdout)\n\n")
    text = header + table(stats, layers) + (f"\nExtraction {auto.seconds + twelve.seconds:.0f} s, "
                                            f"total {time.perf_counter() - start:.0f} s.\n")
    Path(a.out).write_text(text)
    Path(a.out).with_suffix(".json").write_text(json.dumps({"stats": stats, "layers": layers}, indent=1) + "\n")
    print(text)

if __name__ == "__main__":
    main()
