"""Lens quality from bfloat16 against float32 activations: every bundled pole, the same pools, paired per pole.

Each pole's pool (seed 0, the demo's sizes) is extracted twice, by the embedded SmolLM2-135M-Instruct loaded in
float32 and in bfloat16; the exponential strategy (falloff) trains a lens on each, and the holdout grades both.
The differences bfloat16 - float32 are paired by pole, with 95 % intervals that resample poles. bfloat16 stays the
CPU default only if the intervals of both holdout F1 and holdout calibration lie inside [-0.01, +0.01].

    .venv/bin/python benchmarks/dtype.py [--cache-dir .cache/activations] [--seed 0]
"""
import argparse, json, os, sys, time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not
from hatcat_stier.activations import dtype_choice
from hatcat_stier.compare import pole_interval
from hatcat_stier.data_pool import pole_pool
from hatcat_stier.pipeline import ModelActivations, pool_arrays, pools_activations, train_arrays
from hatcat_stier.simplexes import POLE_NAMES, load_simplexes

HERE = Path(__file__).resolve().parent
DTYPES, MARGIN = ("float32", "bfloat16"), 0.01
MEASURES = {"holdout F1": "f1", "holdout calibration": "calibration"}

def lenses(poles:list, pools:list, source:ModelActivations, seed:int)->tuple:
    "(activations, per-pole lens results) of the exponential strategy on every pool, from `source`'s activations."
    index, acts = pools_activations(pools, source)
    out = []
    for name, pool in zip(poles, pools):
        results, _ = train_arrays("exponential", name, pool_arrays(pool, index, acts), seed, fit_memo=source.fits)
        act = results["activation"]
        out.append({"pole": name, "tier": act["tier"], "grade": act["holdout"]["grade"],
                    **{m: act["holdout"][k] for m, k in MEASURES.items()}})
    return (index, acts), out

def cosines(a, b)->np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", default=".cache/activations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "dtype.md"))
    a = ap.parse_args()
    start, simplexes = time.perf_counter(), load_simplexes()
    poles = [(s, p) for s in simplexes for p in POLE_NAMES]
    pools = [pole_pool(simplexes, s, p, seed=a.seed) for s, p in poles]
    names = [f"{s.dimension}/{p}" for s, p in poles]
    runs = {d: lenses(names, pools, ModelActivations(cache_dir=a.cache_dir, dtype=d, progress=False), a.seed)
            for d in DTYPES}
    (index, f32), (_, b16) = runs["float32"][0], runs["bfloat16"][0]
    agree = cosines(b16, f32)
    rows32, rows16 = runs["float32"][1], runs["bfloat16"][1]
    paired = {m: pole_interval([r16[m] - r32[m] for r16, r32 in zip(rows16, rows32)]) for m in MEASURES}
    inside = {m: -MARGIN <= p["ci"][0] and p["ci"][1] <= MARGIN for m, p in paired.items()}
    means = {d: {m: float(np.mean([r[m] for r in runs[d][1]])) for m in MEASURES} for d in DTYPES}
    tiers = sum(r16["tier"] != r32["tier"] for r16, r32 in zip(rows16, rows32))
    grades = sum(r16["grade"] != r32["grade"] for r16, r32 in zip(rows16, rows32))
    verdict = ("bfloat16 stays the default on CPUs with bf16 units: both intervals lie inside "
               f"[-{MARGIN}, +{MARGIN}]" if all(inside.values()) else
               f"an interval leaves [-{MARGIN}, +{MARGIN}]: bfloat16 must not be the CPU default")
    lines = [f"## Lens quality, bfloat16 against float32 activations ({len(pools)} poles, seed {a.seed}, exponential, "
             "falloff)", "",
             "| measure | float32, mean | bfloat16, mean | bfloat16 - float32, paired by pole [95 % interval] |",
             "|---|---:|---:|---:|",
             *[f"| {m} | {means['float32'][m]:.4f} | {means['bfloat16'][m]:.4f} | {p['value']:+.4f} "
               f"[{p['ci'][0]:+.4f}, {p['ci'][1]:+.4f}] |" for m, p in paired.items()], "",
             f"Tiers that differ: {tiers} of {len(pools)} lenses; holdout grades that differ: {grades} of "
             f"{len(pools)}. The pooled rows of the {len(index):,} distinct prompts agree to a cosine of "
             f"{agree.min():.5f} at worst (median {np.median(agree):.6f}). Verdict: {verdict}.", "",
             f"Machine: {os.cpu_count()} cores; `dtype=None` here: {dtype_choice('cpu')[1]} "
             f"({dtype_choice('cpu')[2]}). One run, {time.perf_counter() - start:.0f} s."]
    text = "\n".join(lines) + "\n"
    Path(a.out).write_text(text)
    Path(a.out).with_suffix(".json").write_text(json.dumps(
        {"paired": paired, "inside": inside, "means": means, "tiers_differ": tiers, "grades_differ": grades,
         "cosine_min": float(agree.min()), "rows": {"float32": rows32, "bfloat16": rows16}}, indent=1) + "\n")
    print(text)

if __name__ == "__main__":
    main()
